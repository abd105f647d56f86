//! The engine's journal batch (`write_journal`): segment ends and completions in one
//! transaction, hand-off of the runs the results wake, and runs created already started.

use tasker_store::queue::{Completion, JournalWrite, JournalWritten, SuspendWithCalls};
use tasker_store::testing::TestDatabase;
use tasker_store::{
    CallOutcome, NewRun, SegmentEnd, StackRunStatus, Store, SuspendOutcome, TaskRunStatus,
    on_both_backends,
};

use crate::{T0, call, lease, manual_clock, running_run};

fn end(owner: &str) -> SegmentEnd<'_> {
    SegmentEnd {
        owner,
        segment_ms: None,
    }
}

/// A run suspends on two claimed calls in one batch; a later batch completes both asking for
/// hand-off: the run is taken over once, with both results delivered in one new segment.
async fn results_that_wake_a_run_hand_it_over(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    let other = running_run(&store, "host-a").await?;
    let new_calls = vec![call(0, "echo"), call(1, "echo")];
    let other_calls = vec![call(0, "echo")];
    let suspend = |run_id, claimed| {
        JournalWrite::Suspend(SuspendWithCalls {
            run_id,
            end: end("host-a"),
            calls_seen: 0,
            pending: &[],
            claimed,
            lease: lease("host-a"),
        })
    };
    let written = store
        .write_journal(
            "host-a",
            30_000,
            &[suspend(run.id, &new_calls), suspend(other.id, &other_calls)],
        )
        .await?;
    let mut ids = Vec::new();
    for w in &written {
        let JournalWritten::Suspended(s) = w else {
            anyhow::bail!("expected a segment end, got {w:?}");
        };
        assert_eq!(s.outcome, SuspendOutcome::Suspended);
        assert!(
            s.inserted_claimed
                .iter()
                .all(|c| c.status == StackRunStatus::Processing)
        );
        ids.push(s.inserted_claimed.iter().map(|c| c.id).collect::<Vec<_>>());
    }
    assert_eq!(ids[0].len(), 2);
    assert_eq!(ids[1].len(), 1);

    let complete = |call_id, result, hand_off| {
        JournalWrite::Complete(Completion {
            call_id,
            result,
            hand_off,
            segment_at: None,
        })
    };
    let written = store
        .write_journal(
            "host-a",
            30_000,
            &[
                complete(ids[0][1], "\"b\"", true),
                complete(ids[1][0], "\"x\"", false),
                complete(ids[0][0], "\"a\"", true),
                // The same call twice: the first result counts, the second is refused.
                complete(ids[0][0], "\"again\"", true),
            ],
        )
        .await?;
    let done: Vec<_> = written
        .into_iter()
        .map(|w| match w {
            JournalWritten::Completed(c) => Ok(c),
            other => Err(anyhow::anyhow!("unexpected {other:?}")),
        })
        .collect::<anyhow::Result<_>>()?;
    // The first completion of the run carries the hand-off, with both calls delivered.
    let hand_off = done[0].handed_off.clone().expect("the run was taken over");
    assert_eq!(hand_off.run.id, run.id);
    assert_eq!(hand_off.run.status, TaskRunStatus::Running);
    assert_eq!(hand_off.run.lease_owner.as_deref(), Some("host-a"));
    assert_eq!(hand_off.run.calls_completed, 2);
    assert_eq!(hand_off.run.calls_seen, 2);
    assert_eq!(hand_off.calls, vec![ids[0][1], ids[0][0]]);
    assert!(done[2].handed_off.is_none());
    // Without hand-off the other run is only woken.
    assert!(done[1].handed_off.is_none());
    assert!(matches!(done[1].outcome, CallOutcome::Settled(w)
        if w.run_status == TaskRunStatus::Resumable));
    // A second result for a settled call is refused (the journal keeps the first).
    assert_eq!(done[3].outcome, CallOutcome::NotOwner);

    // The journal shows both deliveries in the run's new segment, and the first result.
    let segment = hand_off.run.segment_count - 1;
    let journal = store.journal(run.id).await?;
    assert_eq!(journal.len(), 2);
    for c in &journal {
        assert_eq!(c.delivered_segment, Some(segment));
    }
    assert_eq!(journal[0].result.as_deref(), Some("\"a\""));
    // A taken-over run is no longer in the ready queue.
    let current = store.get_run(run.id).await?.expect("run exists");
    assert_eq!(current.status, TaskRunStatus::Running);
    Ok(())
}
on_both_backends!(
    hand_off,
    results_that_wake_a_run_hand_it_over,
    manual_clock()
);

/// A result that arrives while its run's segment is still running only counts: the segment's
/// end then makes the run resumable, nothing is lost or delivered twice.
async fn results_for_a_running_run_are_not_handed_over(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    let entries = store
        .enqueue_claimed(run.id, &[call(0, "echo")], lease("host-a"))
        .await?;
    let done = store
        .complete_calls_handing_off(
            "host-a",
            30_000,
            &[Completion {
                call_id: entries[0].call.id,
                result: "1",
                hand_off: true,
                segment_at: None,
            }],
        )
        .await?;
    assert!(done[0].handed_off.is_none());
    let outcome = store.suspend_run(run.id, end("host-a"), 0).await?;
    assert_eq!(outcome, SuspendOutcome::Resumable);
    let journal = store.journal(run.id).await?;
    assert_eq!(journal[0].delivered_segment, None);
    Ok(())
}
on_both_backends!(
    running_runs,
    results_for_a_running_run_are_not_handed_over,
    manual_clock()
);

/// A run created already started belongs to its creator, with its first segment time set.
async fn a_started_run_is_claimed_by_its_creator(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let run = store
        .create_started_run(&NewRun::new("task", "hash", "{}"), lease("host-a"))
        .await?;
    assert_eq!(run.status, TaskRunStatus::Running);
    assert_eq!(run.lease_owner.as_deref(), Some("host-a"));
    assert_eq!(store.segment_times(run.id).await?, vec![T0]);
    assert_eq!(run.last_segment_at, Some(T0));
    assert_eq!(run.started_at, Some(T0));
    // Nobody else can claim it while the lease holds.
    let claimed = store
        .claim_runs(&tasker_store::RunClaim {
            lease: lease("host-b"),
            limit: 10,
        })
        .await?;
    assert!(claimed.is_empty());
    let queued = store.create_run(&NewRun::new("task", "hash", "{}")).await?;
    assert_eq!(queued.status, TaskRunStatus::Pending);
    assert_eq!(queued.segment_count, 0);
    assert!(store.segment_times(queued.id).await?.is_empty());
    Ok(())
}
on_both_backends!(
    started_run,
    a_started_run_is_claimed_by_its_creator,
    manual_clock()
);
