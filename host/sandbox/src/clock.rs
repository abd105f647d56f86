//! The deterministic clock and host hooks: `Date` reads the current segment's time (set by the run
//! before each segment) and the local time zone is UTC everywhere. Never reads the system clock.

use std::cell::Cell;
use std::rc::Rc;

use boa_engine::context::{Clock, HostHooks, time::JsInstant};

/// Shared segment time; the run moves it forward before applying each delivery.
#[derive(Debug, Default)]
pub(crate) struct SegmentClock {
    millis: Cell<i64>,
}

impl SegmentClock {
    pub(crate) fn new(millis: i64) -> Rc<Self> {
        Rc::new(Self {
            millis: Cell::new(millis),
        })
    }

    /// Sets the segment time; never moves backwards, because boa assumes a monotonic `now()`.
    pub(crate) fn set(&self, millis: i64) {
        if millis > self.millis.get() {
            self.millis.set(millis);
        }
    }
}

impl Clock for SegmentClock {
    fn now(&self) -> JsInstant {
        let millis = u64::try_from(self.millis.get()).unwrap_or(0);
        JsInstant::new(millis / 1000, ((millis % 1000) * 1_000_000) as u32)
    }

    fn system_time_millis(&self) -> i64 {
        self.millis.get()
    }
}

/// Host hooks that pin the local time zone to UTC so `getHours()` and friends agree on every host.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SandboxHooks;

impl HostHooks for SandboxHooks {
    fn local_timezone_offset_seconds(&self, _unix_time_seconds: i64) -> i32 {
        0
    }
}
