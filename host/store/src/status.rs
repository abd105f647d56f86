//! Status enums of task runs and stack runs, and their state machines. The strings are what the
//! `status` columns hold; only the functions in [`crate::queue`] move a row from one status to another.
//!
//! # Task run (`task_runs.status`)
//!
//! ```text
//!  from               to          by
//!  pending            running     claim_runs / claim_run (lease taken, calls_seen = calls_completed)
//!  resumable          running     claim_runs / claim_run
//!  running            suspended   suspend_run, no call settled during the segment
//!  running            resumable   suspend_run, calls_completed > the calls_seen the segment passes
//!  suspended          resumable   complete_call / fail_call of one of its calls
//!  running            completed   complete_run
//!  running            failed      fail_run (its pending calls fail with "run failed")
//!  running            pending     reclaim_expired / release_leases, never suspended before
//!  running            resumable   reclaim_expired / release_leases, had suspended before
//!  any non-terminal   cancelled   cancel_run (its pending calls fail with "run cancelled")
//! ```
//!
//! * `pending`: created, ready for its first segment. Ready runs (`pending`, `resumable`) are claimed
//!   FIFO by `ready_at`, the moment they became ready.
//! * `running`: one segment executes under a lease (`lease_owner`, `lease_expires_at`). When it is
//!   claimed, `calls_seen` records `calls_completed`; the segment passes the value it saw to
//!   `suspend_run`, which goes to `resumable` instead of `suspended` if a call settled meanwhile, so a
//!   wake-up during a segment is never lost.
//! * `suspended`: waiting on host calls. `lease_owner` keeps the host that ran the last segment (it may
//!   hold the live context: sticky routing); `lease_expires_at` is cleared.
//! * `resumable`: a call it waits on settled; ready for the next segment.
//! * `completed`, `failed`, `cancelled`: terminal.
//!
//! # Stack run (`stack_runs.status`): one host call, the journal entry of call number `seq`
//!
//! ```text
//!  from          to           by
//!  pending       processing   claim_calls (attempts + 1, lease); enqueue_claimed inserts straight here
//!  processing    completed    complete_call (owner only)
//!  processing    failed       fail_call (owner only; terminal)
//!  processing    pending      retry_call (owner only; ready_at = now + backoff, error kept)
//!  processing    pending      reclaim_expired (lease expired) / release_leases (graceful drain)
//!  pending       failed       cancel_run / fail_run of its run
//! ```
//!
//! Completing or failing a call requires `status = processing` and `lease_owner = owner`; a stale
//! owner is refused, so the journal never holds two results for one call. Settling a call bumps its
//! run's `calls_completed` and moves a `suspended` run to `resumable` in the same transaction.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// Status of a task run; see the module documentation for the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskRunStatus {
    Pending,
    Running,
    Suspended,
    Resumable,
    Completed,
    Failed,
    Cancelled,
}

impl TaskRunStatus {
    /// Every status, in state-machine order.
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::Running,
        Self::Suspended,
        Self::Resumable,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The value stored in `task_runs.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Suspended => "suspended",
            Self::Resumable => "resumable",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// True for `completed`, `failed` and `cancelled`: no transition leaves these.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl FromStr for TaskRunStatus {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
            .ok_or_else(|| Error::UnknownStatus {
                kind: "task run",
                value: value.to_owned(),
            })
    }
}

impl fmt::Display for TaskRunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Status of a stack run (one host call); see the module documentation for the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StackRunStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl StackRunStatus {
    /// Every status, in state-machine order.
    pub const ALL: [Self; 4] = [
        Self::Pending,
        Self::Processing,
        Self::Completed,
        Self::Failed,
    ];

    /// The value stored in `stack_runs.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// True for `completed` and `failed`: the call has its journal entry.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

impl FromStr for StackRunStatus {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
            .ok_or_else(|| Error::UnknownStatus {
                kind: "stack run",
                value: value.to_owned(),
            })
    }
}

impl fmt::Display for StackRunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_strings() {
        for status in TaskRunStatus::ALL {
            assert_eq!(status.as_str().parse::<TaskRunStatus>().unwrap(), status);
        }
        for status in StackRunStatus::ALL {
            assert_eq!(status.as_str().parse::<StackRunStatus>().unwrap(), status);
        }
        assert!("paused".parse::<TaskRunStatus>().is_err());
    }
}
