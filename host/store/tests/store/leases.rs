//! Leases: expiry reclaim (calls and runs), renewal, graceful release.

use tasker_store::testing::TestDatabase;
use tasker_store::{
    CallClaim, Lease, LeaseScope, NewRun, Reclaimed, RunClaim, SegmentEnd, StackRunStatus, Store,
    TaskRunStatus, on_both_backends,
};

use crate::{T0, call, lease, manual_clock};

const SHORT: i64 = 1_000;

fn short(owner: &str) -> Lease<'_> {
    Lease {
        owner,
        duration_ms: SHORT,
    }
}

async fn expired_leases_are_reclaimed(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let clock = store.clock().clone();
    // Run 1: first segment in progress on "dead". Run 2: had suspended, now in its second segment.
    let run1 = store.create_run(&NewRun::new("t", "h", "1")).await?;
    store.claim_run(run1.id, short("dead")).await?;
    let run2 = store.create_run(&NewRun::new("t", "h", "2")).await?;
    store.claim_run(run2.id, lease("other")).await?;
    let waiting_on = store
        .enqueue_claimed(run2.id, &[call(0, "echo")], lease("other"))
        .await?;
    store
        .suspend_run(
            run2.id,
            SegmentEnd {
                owner: "other",
                segment_ms: None,
            },
            0,
        )
        .await?;
    store
        .complete_call(waiting_on[0].call.id, "other", "1")
        .await?;
    store.claim_run(run2.id, short("dead")).await?;
    store.enqueue_calls(run1.id, &[call(0, "echo")]).await?;
    let call = store
        .claim_calls(&CallClaim {
            lease: short("dead"),
            limit: 1,
            services: None,
        })
        .await?;

    clock.advance(SHORT / 2);
    assert_eq!(store.reclaim_expired().await?, Reclaimed::default());
    assert_eq!(
        store
            .renew_call_leases("dead", LeaseScope::All, SHORT)
            .await?,
        1
    );
    assert_eq!(
        store
            .renew_run_leases("dead", LeaseScope::Ids(&[run1.id]), SHORT)
            .await?,
        1
    );
    assert_eq!(
        store
            .renew_run_leases("nobody", LeaseScope::All, SHORT)
            .await?,
        0
    );

    clock.advance(SHORT / 2 + 1); // past the first expiry: only run2 (not renewed) is stale
    assert_eq!(
        store.reclaim_expired().await?,
        Reclaimed { calls: 0, runs: 1 }
    );
    let run2_now = store.get_run(run2.id).await?.unwrap();
    assert_eq!(
        run2_now.status,
        TaskRunStatus::Resumable,
        "had suspended before"
    );
    assert_eq!(run2_now.lease_owner, None);

    clock.advance(SHORT);
    assert_eq!(
        store.reclaim_expired().await?,
        Reclaimed { calls: 1, runs: 1 }
    );
    let run1_now = store.get_run(run1.id).await?.unwrap();
    assert_eq!(
        run1_now.status,
        TaskRunStatus::Pending,
        "never suspended: first segment again"
    );
    let call_now = store.get_call(call[0].id).await?.unwrap();
    assert_eq!(call_now.status, StackRunStatus::Pending);
    assert_eq!(
        call_now.attempts, 1,
        "the lost attempt may have run: it stays counted"
    );
    assert_eq!(call_now.error.as_deref(), Some("lease of dead expired"));
    assert_eq!(call_now.ready_at, T0 + 2 * SHORT + 1);

    let runs = store
        .claim_runs(&RunClaim {
            lease: lease("alive"),
            limit: 10,
        })
        .await?;
    assert_eq!(runs.len(), 2);
    Ok(())
}
on_both_backends!(reclaim, expired_leases_are_reclaimed, manual_clock());

async fn release_hands_work_back(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let run = store.create_run(&NewRun::new("t", "h", "1")).await?;
    store.claim_run(run.id, lease("draining")).await?;
    store
        .enqueue_claimed(
            run.id,
            &[call(0, "echo"), call(1, "echo")],
            lease("draining"),
        )
        .await?;
    let other = store.create_run(&NewRun::new("t", "h", "2")).await?;
    store.claim_run(other.id, lease("staying")).await?;

    assert_eq!(
        store.release_leases("draining").await?,
        Reclaimed { calls: 2, runs: 1 }
    );
    for released in store.journal(run.id).await? {
        assert_eq!(released.status, StackRunStatus::Pending);
        assert_eq!(released.attempts, 0, "never executed: attempt given back");
        assert_eq!(released.lease_owner, None);
    }
    assert_eq!(
        store.get_run(run.id).await?.unwrap().status,
        TaskRunStatus::Pending
    );
    assert_eq!(
        store.get_run(other.id).await?.unwrap().status,
        TaskRunStatus::Running
    );
    Ok(())
}
on_both_backends!(release, release_hands_work_back);
