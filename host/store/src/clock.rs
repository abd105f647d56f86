//! The one source of "now" (unix milliseconds) for every timestamp and lease the store writes.
//!
//! Tests use a manual clock to expire leases without sleeping; production uses the system clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A cheaply clonable clock; clones of a manual clock share its time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system wall clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands still at `start_ms` until [`Clock::advance`] or [`Clock::set`] moves it.
    pub fn manual(start_ms: i64) -> Self {
        Self {
            manual: Some(Arc::new(AtomicI64::new(start_ms))),
        }
    }

    /// Current time in unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(time) => time.load(Ordering::SeqCst),
            None => system_now_ms(),
        }
    }

    /// Moves a manual clock forward by `ms`; returns false (and does nothing) for the system clock.
    pub fn advance(&self, ms: i64) -> bool {
        match &self.manual {
            Some(time) => {
                time.fetch_add(ms, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Sets a manual clock to `ms`; returns false (and does nothing) for the system clock.
    pub fn set(&self, ms: i64) -> bool {
        match &self.manual {
            Some(time) => {
                time.store(ms, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}

fn system_now_ms() -> i64 {
    // A clock before 1970 is a broken machine; 0 keeps ordering sane instead of panicking.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
