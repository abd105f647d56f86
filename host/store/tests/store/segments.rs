//! Segment boundaries in one transaction: `suspend_with_calls` (new calls + suspend, claimed
//! or pending by service) and `deliver_settled` (take the waiting results once, with the
//! segment's time).

use tasker_store::queue::SuspendWithCalls;
use tasker_store::testing::TestDatabase;
use tasker_store::{SegmentEnd, StackRunStatus, Store, SuspendOutcome, on_both_backends};

use crate::{call, lease, manual_clock, running_run};

async fn suspend_with_calls_records_both_kinds(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    let local = vec![call(0, "echo-service"), call(1, "echo-service")];
    let remote = vec![call(2, "gapi")];
    let suspended = store
        .suspend_with_calls(&SuspendWithCalls {
            run_id: run.id,
            end: SegmentEnd {
                owner: "host-a",
                segment_ms: Some(5),
            },
            calls_seen: run.calls_completed,
            pending: &remote,
            claimed: &local,
            lease: lease("host-a"),
        })
        .await?;
    assert_eq!(suspended.outcome, SuspendOutcome::Suspended);
    let claimed: Vec<i64> = suspended.inserted_claimed.iter().map(|c| c.seq).collect();
    assert_eq!(claimed, vec![0, 1]);
    let journal = store.journal(run.id).await?;
    let statuses: Vec<(i64, StackRunStatus)> = journal.iter().map(|c| (c.seq, c.status)).collect();
    assert_eq!(
        statuses,
        vec![
            (0, StackRunStatus::Processing),
            (1, StackRunStatus::Processing),
            (2, StackRunStatus::Pending)
        ]
    );

    // A host that lost the run writes nothing.
    let other = running_run(&store, "host-b").await?;
    let lost = store
        .suspend_with_calls(&SuspendWithCalls {
            run_id: other.id,
            end: SegmentEnd {
                owner: "host-a",
                segment_ms: None,
            },
            calls_seen: 0,
            pending: &remote,
            claimed: &local,
            lease: lease("host-a"),
        })
        .await?;
    assert_eq!(lost.outcome, SuspendOutcome::NotOwner);
    assert!(store.journal(other.id).await?.is_empty(), "rolled back");
    Ok(())
}
on_both_backends!(
    suspend_with_calls,
    suspend_with_calls_records_both_kinds,
    manual_clock()
);

async fn deliver_settled_takes_results_once(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    let calls = vec![call(0, "echo-service"), call(1, "echo-service")];
    let suspended = store
        .suspend_with_calls(&SuspendWithCalls {
            run_id: run.id,
            end: SegmentEnd {
                owner: "host-a",
                segment_ms: Some(1),
            },
            calls_seen: 0,
            pending: &[],
            claimed: &calls,
            lease: lease("host-a"),
        })
        .await?;
    assert!(
        store.deliver_settled(run.id, 1, 10).await?.is_empty(),
        "nothing settled yet"
    );
    let first = &suspended.inserted_claimed[1];
    store.complete_call(first.id, "host-a", "{\"v\":1}").await?;
    let delivered = store.deliver_settled(run.id, 1, 20).await?;
    assert_eq!(delivered.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![1]);
    assert_eq!(delivered[0].delivered_segment, Some(1));
    assert!(
        store.deliver_settled(run.id, 2, 30).await?.is_empty(),
        "delivered once"
    );
    let after = store.get_run(run.id).await?.unwrap();
    assert_eq!(
        store.segment_times(after.id).await?,
        vec![1, 20],
        "only the delivering segment's time"
    );
    Ok(())
}
on_both_backends!(
    deliver_settled,
    deliver_settled_takes_results_once,
    manual_clock()
);
