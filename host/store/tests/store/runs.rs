//! Task-run transitions: lifecycle, FIFO claims, wake-up during a segment, fail / cancel, segment
//! bookkeeping.

use tasker_store::testing::TestDatabase;
use tasker_store::{
    CallClaim, CallOutcome, EndOutcome, NewRun, SegmentEnd, StackRunStatus, Store, SuspendOutcome,
    TaskRunStatus, on_both_backends,
};

use crate::{T0, call, calls, claim_all_runs, lease, manual_clock, running_run};

fn end(owner: &str, segment_ms: Option<i64>) -> SegmentEnd<'_> {
    SegmentEnd { owner, segment_ms }
}

async fn run_lifecycle(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let mut new_run = NewRun::new("sum", "abc123", "{\"a\":1}");
    new_run.parent_stack_run_id = Some(42);
    let run = store.create_run(&new_run).await?;
    assert_eq!(run.status, TaskRunStatus::Pending);
    assert_eq!(run.input, "{\"a\":1}");
    assert_eq!(run.parent_stack_run_id, Some(42));
    assert_eq!(run.created_at, T0);
    assert_eq!(run.segment_count, 0);
    assert!(store.segment_times(run.id).await?.is_empty());
    assert_eq!(store.child_run(42).await?.map(|r| r.id), Some(run.id));

    let claimed = claim_all_runs(&store, "host-a").await?;
    assert_eq!(claimed.len(), 1);
    let claimed = &claimed[0];
    assert_eq!(claimed.status, TaskRunStatus::Running);
    assert_eq!(claimed.lease_owner.as_deref(), Some("host-a"));
    assert_eq!(claimed.lease_expires_at, Some(T0 + 30_000));
    assert_eq!(claimed.started_at, Some(T0));
    assert!(claim_all_runs(&store, "host-b").await?.is_empty());

    assert_eq!(
        store.complete_run(run.id, end("host-b", None), "1").await?,
        EndOutcome::NotOwner
    );
    assert_eq!(
        store
            .complete_run(run.id, end("host-a", Some(7)), "{\"sum\":3}")
            .await?,
        EndOutcome::Ended
    );
    let done = store.get_run(run.id).await?.unwrap();
    assert_eq!(done.status, TaskRunStatus::Completed);
    assert_eq!(done.result.as_deref(), Some("{\"sum\":3}"));
    assert_eq!(store.segment_times(done.id).await?, vec![7]);
    assert_eq!((done.segment_count, done.last_segment_at), (1, Some(7)));
    assert_eq!(done.ended_at, Some(T0));
    assert_eq!(done.lease_expires_at, None);
    assert_eq!(
        store.complete_run(run.id, end("host-a", None), "2").await?,
        EndOutcome::NotOwner,
        "terminal runs do not change"
    );
    assert!(!store.cancel_run(run.id).await?);
    Ok(())
}
on_both_backends!(lifecycle, run_lifecycle, manual_clock());

async fn wake_up_during_a_segment_is_not_lost(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    let seen = run.calls_completed;
    assert_eq!(seen, 0);
    let entries = store
        .enqueue_claimed(run.id, &[call(0, "echo")], lease("host-a"))
        .await?;
    // The call finishes while the segment is still running: the run is not suspended yet.
    let outcome = store
        .complete_call(entries[0].call.id, "host-a", "1")
        .await?;
    let CallOutcome::Settled(wake) = outcome else {
        anyhow::bail!("completion refused")
    };
    assert_eq!(wake.run_status, TaskRunStatus::Running);

    // The segment ends having seen 0 results: it must come back as resumable, not suspended.
    assert_eq!(
        store
            .suspend_run(run.id, end("host-a", Some(1)), seen)
            .await?,
        SuspendOutcome::Resumable
    );
    let resumed = claim_all_runs(&store, "host-b").await?;
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].calls_completed, 1);
    assert_eq!(resumed[0].calls_seen, 1);
    assert_eq!(store.segment_times(run.id).await?, vec![1]);
    assert_eq!(
        store.suspend_run(run.id, end("host-a", None), 1).await?,
        SuspendOutcome::NotOwner,
        "host-a lost the run to host-b"
    );
    store.enqueue_calls(run.id, &[call(1, "echo")]).await?;
    assert_eq!(
        store.suspend_run(run.id, end("host-b", Some(2)), 1).await?,
        SuspendOutcome::Suspended
    );
    let run = store.get_run(run.id).await?.unwrap();
    assert_eq!(store.segment_times(run.id).await?, vec![1, 2]);
    assert_eq!((run.segment_count, run.last_segment_at), (2, Some(2)));
    assert_eq!(
        run.lease_owner.as_deref(),
        Some("host-b"),
        "sticky hint kept"
    );
    assert_eq!(run.lease_expires_at, None);
    Ok(())
}
on_both_backends!(wake_up_not_lost, wake_up_during_a_segment_is_not_lost);

async fn run_claims_are_fifo(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let clock = store.clock().clone();
    let first = store.create_run(&NewRun::new("t", "h", "1")).await?;
    clock.advance(1);
    let second = store.create_run(&NewRun::new("t", "h", "2")).await?;
    clock.advance(1);
    let third = store.create_run(&NewRun::new("t", "h", "3")).await?;
    clock.advance(1);

    // `first` runs, suspends and wakes up after the others were created: it queues behind them.
    let claimed = store
        .claim_runs(&tasker_store::RunClaim {
            lease: lease("a"),
            limit: 1,
        })
        .await?;
    assert_eq!(claimed[0].id, first.id);
    store.enqueue_calls(first.id, &[call(0, "echo")]).await?;
    store.suspend_run(first.id, end("a", None), 0).await?;
    let call = store
        .claim_calls(&CallClaim {
            lease: lease("w"),
            limit: 1,
            services: None,
        })
        .await?;
    clock.advance(1);
    store.complete_call(call[0].id, "w", "null").await?;

    let order: Vec<i64> = claim_all_runs(&store, "b")
        .await?
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(order, vec![second.id, third.id, first.id]);
    Ok(())
}
on_both_backends!(fifo_runs, run_claims_are_fifo, manual_clock());

async fn failing_a_run_abandons_its_pending_calls(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    store.enqueue_calls(run.id, &calls(0..3, "echo")).await?;
    let processing = store
        .claim_calls(&CallClaim {
            lease: lease("w"),
            limit: 1,
            services: None,
        })
        .await?;
    assert_eq!(
        store.fail_run(run.id, end("intruder", None), "x").await?,
        EndOutcome::NotOwner
    );
    assert_eq!(
        store
            .fail_run(run.id, end("host-a", Some(4)), "TypeError: x")
            .await?,
        EndOutcome::Ended
    );
    let failed = store.get_run(run.id).await?.unwrap();
    assert_eq!(failed.status, TaskRunStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("TypeError: x"));
    assert_eq!(store.segment_times(failed.id).await?, vec![4]);

    let journal = store.journal(run.id).await?;
    assert_eq!(
        journal[0].status,
        StackRunStatus::Processing,
        "in flight: left alone"
    );
    for abandoned in &journal[1..] {
        assert_eq!(abandoned.status, StackRunStatus::Failed);
        assert_eq!(abandoned.error.as_deref(), Some("run failed"));
    }
    // The in-flight call still journals its result, but the run stays failed.
    let outcome = store.complete_call(processing[0].id, "w", "1").await?;
    let CallOutcome::Settled(wake) = outcome else {
        anyhow::bail!("completion refused")
    };
    assert_eq!(wake.run_status, TaskRunStatus::Failed);
    Ok(())
}
on_both_backends!(fail_run, failing_a_run_abandons_its_pending_calls);

async fn cancelling_stops_a_run_anywhere(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let pending = store.create_run(&NewRun::new("t", "h", "{}")).await?;
    assert!(store.cancel_run(pending.id).await?);
    assert_eq!(
        store.get_run(pending.id).await?.unwrap().status,
        TaskRunStatus::Cancelled
    );

    let run = running_run(&store, "host-a").await?;
    store.enqueue_calls(run.id, &calls(0..2, "echo")).await?;
    assert!(store.cancel_run(run.id).await?);
    assert!(!store.cancel_run(run.id).await?, "already cancelled");
    assert_eq!(
        store.suspend_run(run.id, end("host-a", None), 0).await?,
        SuspendOutcome::NotOwner,
        "the segment of a cancelled run cannot suspend it"
    );
    let journal = store.journal(run.id).await?;
    assert!(
        journal
            .iter()
            .all(|c| c.status == StackRunStatus::Failed
                && c.error.as_deref() == Some("run cancelled"))
    );
    assert!(claim_all_runs(&store, "host-b").await?.is_empty());
    let cancelled = store.get_run(run.id).await?.unwrap();
    assert_eq!(cancelled.status, TaskRunStatus::Cancelled);
    assert!(cancelled.ended_at.is_some());
    Ok(())
}
on_both_backends!(cancel_run, cancelling_stops_a_run_anywhere);

async fn segment_bookkeeping(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    store.enqueue_calls(run.id, &calls(0..3, "echo")).await?;
    store.append_segment_time(run.id, 12).await?;
    store.append_segment_time(run.id, 5).await?;
    assert_eq!(store.segment_times(run.id).await?, vec![12, 5]);

    assert_eq!(store.mark_delivered(run.id, &[0, 1], 1).await?, 2);
    assert_eq!(
        store.mark_delivered(run.id, &[1, 2], 2).await?,
        1,
        "first delivery wins"
    );
    let delivered: Vec<Option<i64>> = store
        .journal(run.id)
        .await?
        .iter()
        .map(|c| c.delivered_segment)
        .collect();
    assert_eq!(delivered, vec![Some(1), Some(1), Some(2)]);
    Ok(())
}
on_both_backends!(segments, segment_bookkeeping);

async fn sticky_claim_of_one_run(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    assert!(
        store.claim_run(run.id, lease("host-b")).await?.is_none(),
        "running"
    );
    store.enqueue_calls(run.id, &[call(0, "echo")]).await?;
    store.suspend_run(run.id, end("host-a", None), 0).await?;
    assert!(
        store.claim_run(run.id, lease("host-a")).await?.is_none(),
        "suspended"
    );
    let claimed = store
        .claim_calls(&CallClaim {
            lease: lease("w"),
            limit: 1,
            services: None,
        })
        .await?;
    store.complete_call(claimed[0].id, "w", "1").await?;
    let again = store.claim_run(run.id, lease("host-a")).await?;
    assert_eq!(
        again.map(|r| (r.status, r.calls_seen)),
        Some((TaskRunStatus::Running, 1))
    );
    Ok(())
}
on_both_backends!(sticky_claim, sticky_claim_of_one_run);

async fn runs_keep_their_scope_and_children_inherit_it(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let mut parent = NewRun::new("parent", "hash", "{}");
    parent.scope = Some("execute".into());
    let parent = store.create_run(&parent).await?;
    assert_eq!(
        store.run_scope(parent.id).await?.as_deref(),
        Some("execute")
    );
    let entries = store
        .enqueue_calls(parent.id, &calls(0..1, "tasks"))
        .await?;
    let parent_call = entries[0].call.id;

    let mut child = NewRun::new("child", "hash", "{}");
    child.parent_stack_run_id = Some(parent_call);
    let child = store.create_run(&child).await?;
    assert_eq!(
        store.run_scope(child.id).await?.as_deref(),
        Some("execute"),
        "a child run acts with its ancestor's scope"
    );

    let unscoped = store.create_run(&NewRun::new("open", "hash", "{}")).await?;
    assert_eq!(store.run_scope(unscoped.id).await?, None);
    assert_eq!(store.run_scope(999_999).await?, None);
    Ok(())
}
on_both_backends!(run_scope, runs_keep_their_scope_and_children_inherit_it);
