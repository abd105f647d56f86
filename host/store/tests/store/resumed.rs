//! Resumed writes (`JournalWrite::Resumed`): a result already delivered to the live context,
//! journaled with what its segment did, in one transaction; recorded only when the result
//! takes the run over.

use tasker_store::queue::{
    JournalWrite, JournalWritten, Resumed, ResumedWritten, SegmentDid, SuspendWithCalls,
};
use tasker_store::testing::TestDatabase;
use tasker_store::{
    CallOutcome, NewLog, SegmentEnd, StackRunStatus, Store, SuspendOutcome, TaskRun, TaskRunStatus,
    on_both_backends,
};

use crate::{call, lease, running_run};

/// A run suspended on one claimed call; returns the run and the call's id.
async fn waiting_on_one_call(store: &Store) -> anyhow::Result<(TaskRun, i64)> {
    let run = running_run(store, "host-a").await?;
    let first = vec![call(0, "echo")];
    let written = store
        .write_journal(
            "host-a",
            30_000,
            &[JournalWrite::Suspend(SuspendWithCalls {
                run_id: run.id,
                end: SegmentEnd {
                    owner: "host-a",
                    segment_ms: None,
                },
                calls_seen: 0,
                pending: &[],
                claimed: &first,
                lease: lease("host-a"),
            })],
        )
        .await?;
    let [JournalWritten::Suspended(s)] = written.as_slice() else {
        anyhow::bail!("expected one segment end, got {written:?}");
    };
    Ok((run, s.inserted_claimed[0].id))
}

async fn resume(
    store: &Store,
    call_id: i64,
    segment_at: i64,
    then: SegmentDid<'_>,
) -> anyhow::Result<ResumedWritten> {
    let logs = [NewLog {
        level: "info".into(),
        message: format!("segment at {segment_at}"),
        at_ms: segment_at,
    }];
    let write = JournalWrite::Resumed(Resumed {
        call_id,
        result: "{\"n\":1}",
        segment_at,
        then,
        logs: &logs,
    });
    match store.write_journal("host-a", 30_000, &[write]).await?.pop() {
        Some(JournalWritten::Resumed(r)) => Ok(r),
        other => anyhow::bail!("expected a resumed outcome, got {other:?}"),
    }
}

/// The result, the new segment (at the given time, not the commit's) and its new call are
/// recorded together; the run is suspended again on the new call, which is ours to run.
async fn resumed_segment_is_recorded_with_its_calls(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let (run, first) = waiting_on_one_call(&store).await?;
    let next = vec![call(1, "echo")];
    let segment_at = 123_456;
    let then = SegmentDid::Suspended {
        pending: &[],
        claimed: &next,
        lease: lease("host-a"),
    };
    let ResumedWritten::Applied { suspended: Some(s) } =
        resume(&store, first, segment_at, then).await?
    else {
        anyhow::bail!("the resumed segment was not applied");
    };
    assert_eq!(s.outcome, SuspendOutcome::Suspended);
    assert_eq!(s.inserted_claimed.len(), 1);
    assert_eq!(s.inserted_claimed[0].seq, 1);
    assert_eq!(s.inserted_claimed[0].status, StackRunStatus::Processing);

    let after = store.get_run(run.id).await?.expect("run");
    assert_eq!(after.status, TaskRunStatus::Suspended);
    assert_eq!((after.calls_completed, after.calls_seen), (1, 1));
    assert_eq!(after.last_segment_at, Some(segment_at));
    let times = store.segment_times(run.id).await?;
    assert_eq!(times.last(), Some(&segment_at));
    let journal = store.journal(run.id).await?;
    assert_eq!(journal[0].status, StackRunStatus::Completed);
    assert_eq!(journal[0].result.as_deref(), Some("{\"n\":1}"));
    assert_eq!(journal[0].delivered_segment, Some(times.len() as i64 - 1));
    assert_eq!(journal[1].delivered_segment, None);
    // The segment's console line is stored with it.
    let lines = store.read_logs(run.id, 0, 10).await?;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].message, format!("segment at {segment_at}"));
    Ok(())
}

/// A segment that ends the run: result, segment and the run's end in one commit.
async fn resumed_segment_can_end_the_run(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let (run, first) = waiting_on_one_call(&store).await?;
    let written = resume(&store, first, 7, SegmentDid::Completed { result: "42" }).await?;
    assert!(matches!(
        written,
        ResumedWritten::Applied { suspended: None }
    ));
    let after = store.get_run(run.id).await?.expect("run");
    assert_eq!(after.status, TaskRunStatus::Completed);
    assert_eq!(after.result.as_deref(), Some("42"));
    assert_eq!(after.lease_owner.as_deref(), Some("host-a"));

    let (failing, call_id) = waiting_on_one_call(&store).await?;
    resume(
        &store,
        call_id,
        8,
        SegmentDid::Failed {
            error: "{\"kind\":\"x\"}",
        },
    )
    .await?;
    let after = store.get_run(failing.id).await?.expect("run");
    assert_eq!(after.status, TaskRunStatus::Failed);
    Ok(())
}

/// A run cancelled while its call ran: the result is kept (the call did run) but the segment
/// is not recorded, its calls are not inserted, and the caller is told to drop the context.
async fn resumed_segment_of_a_cancelled_run_is_discarded(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let (run, first) = waiting_on_one_call(&store).await?;
    let before = store.get_run(run.id).await?.expect("run");
    assert!(store.cancel_run(run.id).await?);
    let next = vec![call(1, "echo")];
    let then = SegmentDid::Suspended {
        pending: &[],
        claimed: &next,
        lease: lease("host-a"),
    };
    let written = resume(&store, first, 99, then).await?;
    let ResumedWritten::Discarded { outcome } = written else {
        anyhow::bail!("a cancelled run's segment was applied: {written:?}");
    };
    assert!(matches!(outcome, CallOutcome::Settled(w) if w.run_status == TaskRunStatus::Cancelled));
    let after = store.get_run(run.id).await?.expect("run");
    assert_eq!(after.status, TaskRunStatus::Cancelled);
    assert_eq!(after.segment_count, before.segment_count);
    let journal = store.journal(run.id).await?;
    assert_eq!(
        journal.len(),
        1,
        "no call of the discarded segment: {journal:?}"
    );
    assert_eq!(journal[0].status, StackRunStatus::Completed);
    assert_eq!(journal[0].delivered_segment, None);
    assert!(
        store.read_logs(run.id, 0, 10).await?.is_empty(),
        "a discarded segment's console lines are not stored"
    );

    // A result whose call lease was lost is refused outright.
    let (_, lost) = waiting_on_one_call(&store).await?;
    let write = JournalWrite::Resumed(Resumed {
        call_id: lost,
        result: "1",
        segment_at: 1,
        then: SegmentDid::Completed { result: "1" },
        logs: &[],
    });
    let written = store.write_journal("host-b", 30_000, &[write]).await?;
    assert!(matches!(
        written.as_slice(),
        [JournalWritten::Resumed(ResumedWritten::Discarded {
            outcome: CallOutcome::NotOwner
        })]
    ));
    Ok(())
}

on_both_backends!(resumed_applied, resumed_segment_is_recorded_with_its_calls);
on_both_backends!(resumed_ends_run, resumed_segment_can_end_the_run);
on_both_backends!(
    resumed_discarded,
    resumed_segment_of_a_cancelled_run_is_discarded
);
