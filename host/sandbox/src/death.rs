//! Why a worker process died while running a segment, and the task failure that reports it:
//! killed on the wall-clock deadline or by the CPU limit (time), out of memory under its address
//! space cap (memory), or another crash (engine). Reads the exit status and the worker's last
//! stderr lines; never touches processes itself.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use crate::limits::{LimitKind, SandboxLimits};
use crate::model::{FailureKind, TaskFailure};

const SIGKILL: i32 = 9;
const SIGXCPU: i32 = 24;

/// What is known about a dead worker.
#[derive(Debug, Clone)]
pub(crate) struct Death {
    /// Exit status, if the process could be reaped.
    pub(crate) status: Option<ExitStatus>,
    /// The host killed it because the segment passed its wall-clock deadline.
    pub(crate) deadline: Option<Duration>,
    /// Its last stderr lines (Rust prints allocation failures and stack overflows there).
    pub(crate) stderr_tail: Vec<String>,
}

/// The cause, as far as it matters to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    Time,
    Memory,
    Crash,
}

impl Death {
    pub(crate) fn cause(&self) -> Cause {
        if self.deadline.is_some() || self.signal() == Some(SIGXCPU) {
            return Cause::Time;
        }
        if self.stderr_mentions("memory allocation of") || self.stderr_mentions("out of memory") {
            return Cause::Memory;
        }
        Cause::Crash
    }

    /// The failure of the segment that was running.
    pub(crate) fn failure(&self, limits: &SandboxLimits) -> TaskFailure {
        let limit = |kind: LimitKind, detail: String| TaskFailure {
            kind: FailureKind::Limit(kind),
            message: format!(
                "sandbox limit {} ({}) exceeded: {detail}",
                kind.name(),
                kind.value_in(limits)
            ),
            stack: None,
        };
        match self.cause() {
            Cause::Time => {
                let detail = match self.deadline {
                    Some(wall) => format!(
                        "the segment was still running after {} s of wall-clock time, so its worker \
                         process was killed",
                        wall.as_secs()
                    ),
                    None => "the segment used up its CPU time, so its worker process was stopped \
                             (SIGXCPU)"
                        .to_owned(),
                };
                limit(LimitKind::SegmentTime, detail)
            }
            Cause::Memory => {
                let mb = limits
                    .task_memory_mb
                    .map_or_else(|| "its".to_owned(), |mb| format!("the {mb} MB"));
                let what = self
                    .stderr_line_with("memory allocation of")
                    .unwrap_or_else(|| "an allocation failed".to_owned());
                limit(
                    LimitKind::Memory,
                    format!(
                        "the task exceeded {mb} memory limit ({what}), so its worker process was stopped"
                    ),
                )
            }
            Cause::Crash => TaskFailure {
                kind: FailureKind::Engine,
                message: self.crash_message(),
                stack: None,
            },
        }
    }

    fn crash_message(&self) -> String {
        if self.stderr_mentions("overflowed its stack") {
            return "the JavaScript engine overflowed its native stack (deeply nested code or data), \
                    so its worker process was stopped"
                .to_owned();
        }
        let how = match (self.status, self.signal()) {
            (_, Some(SIGKILL)) => {
                "was killed (SIGKILL, e.g. by the system's out-of-memory killer)".to_owned()
            }
            (_, Some(signal)) => format!("was stopped by signal {signal}"),
            (Some(status), None) => format!("exited ({status})"),
            (None, None) => "vanished".to_owned(),
        };
        let last = self
            .stderr_tail
            .last()
            .map(|line| format!("; its last output: {line}"))
            .unwrap_or_default();
        format!("the sandbox worker process running this segment {how}{last}")
    }

    fn signal(&self) -> Option<i32> {
        self.status.and_then(|s| s.signal())
    }

    fn stderr_mentions(&self, needle: &str) -> bool {
        self.stderr_tail.iter().any(|line| line.contains(needle))
    }

    fn stderr_line_with(&self, needle: &str) -> Option<String> {
        self.stderr_tail
            .iter()
            .find(|line| line.contains(needle))
            .map(|line| line.trim().to_owned())
    }
}
