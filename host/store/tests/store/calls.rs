//! Stack-run transitions: enqueue idempotency, enqueue-and-claim, FIFO claims, capability-aware
//! claims, complete / fail / retry, and refusal of stale owners.

use tasker_store::testing::TestDatabase;
use tasker_store::{
    CallClaim, CallOutcome, RetryOutcome, SegmentEnd, StackRunStatus, Store, SuspendOutcome,
    TaskRunStatus, on_both_backends,
};

use crate::{T0, call, calls, lease, manual_clock, running_run};

fn claim<'a>(owner: &'a str, limit: i64, services: Option<&'a [String]>) -> CallClaim<'a> {
    CallClaim {
        lease: lease(owner),
        limit,
        services,
    }
}

async fn enqueue_is_idempotent_on_seq(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    let first = store.enqueue_calls(run.id, &calls(0..3, "echo")).await?;
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|entry| entry.inserted));
    for (seq, entry) in (0..).zip(&first) {
        assert_eq!(entry.call.seq, seq);
        assert_eq!(entry.call.status, StackRunStatus::Pending);
        assert_eq!(entry.call.attempts, 0);
        assert_eq!(entry.call.args, format!("[{seq}]"));
        assert_eq!(
            entry.call.idempotency_key,
            format!("run-{}-call-{seq}", run.id)
        );
    }

    // Re-enqueue 1 and 2 (with different args!) plus a new 3, and a duplicate inside the batch.
    let mut again = calls(1..4, "echo");
    again[0].args = "[\"changed\"]".to_owned();
    again.push(call(3, "echo"));
    let second = store.enqueue_calls(run.id, &again).await?;
    let summary: Vec<(i64, bool)> = second.iter().map(|e| (e.call.seq, e.inserted)).collect();
    assert_eq!(summary, vec![(1, false), (2, false), (3, true)]);
    assert_eq!(
        second[0].call, first[1].call,
        "existing row comes back unchanged"
    );

    let journal = store.journal(run.id).await?;
    assert_eq!(
        journal.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert_eq!(journal[1].args, "[1]");
    Ok(())
}
on_both_backends!(enqueue_is_idempotent, enqueue_is_idempotent_on_seq);

async fn large_batches_are_split_and_stay_idempotent(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    let entries = store.enqueue_calls(run.id, &calls(0..1200, "echo")).await?;
    assert_eq!(entries.len(), 1200);
    assert!(entries.iter().all(|entry| entry.inserted));
    let entries = store
        .enqueue_calls(run.id, &calls(1100..1300, "echo"))
        .await?;
    assert_eq!(entries.iter().filter(|entry| entry.inserted).count(), 100);
    assert_eq!(store.journal(run.id).await?.len(), 1300);
    Ok(())
}
on_both_backends!(large_batches, large_batches_are_split_and_stay_idempotent);

async fn enqueue_claimed_is_leased_at_once(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    let entries = store
        .enqueue_claimed(run.id, &calls(0..2, "echo"), lease("host-a"))
        .await?;
    let now = store.clock().now_ms();
    for entry in &entries {
        assert!(entry.inserted);
        assert_eq!(entry.call.status, StackRunStatus::Processing);
        assert_eq!(entry.call.attempts, 1);
        assert_eq!(entry.call.lease_owner.as_deref(), Some("host-a"));
        assert!(entry.call.lease_expires_at.unwrap() >= now + 29_000);
        assert!(entry.call.started_at.is_some());
    }
    assert!(
        store
            .claim_calls(&claim("host-b", 10, None))
            .await?
            .is_empty()
    );

    let outcome = store
        .complete_call(entries[0].call.id, "host-a", "\"done\"")
        .await?;
    assert!(matches!(outcome, CallOutcome::Settled(_)));

    // Re-issuing the same seq after completion returns the journal entry, not a new lease.
    let again = store
        .enqueue_claimed(run.id, &[call(0, "echo")], lease("host-c"))
        .await?;
    assert!(!again[0].inserted);
    assert_eq!(again[0].call.status, StackRunStatus::Completed);
    assert_eq!(again[0].call.result.as_deref(), Some("\"done\""));
    Ok(())
}
on_both_backends!(enqueue_claimed, enqueue_claimed_is_leased_at_once);

async fn claims_are_fifo_with_lease(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let clock = store.clock().clone();
    let run_a = running_run(&store, "host-a").await?;
    let run_b = running_run(&store, "host-a").await?;
    store.enqueue_calls(run_a.id, &calls(0..2, "echo")).await?; // ready at T0
    clock.advance(10);
    store.enqueue_calls(run_b.id, &calls(0..2, "echo")).await?; // ready at T0 + 10
    clock.advance(10);
    store.enqueue_calls(run_a.id, &calls(2..3, "echo")).await?; // ready at T0 + 20

    let first = store.claim_calls(&claim("w1", 3, None)).await?;
    let order: Vec<(i64, i64)> = first.iter().map(|c| (c.task_run_id, c.seq)).collect();
    assert_eq!(order, vec![(run_a.id, 0), (run_a.id, 1), (run_b.id, 0)]);
    for claimed in &first {
        assert_eq!(claimed.status, StackRunStatus::Processing);
        assert_eq!(claimed.attempts, 1);
        assert_eq!(claimed.lease_owner.as_deref(), Some("w1"));
        assert_eq!(claimed.lease_expires_at, Some(T0 + 20 + 30_000));
    }
    let rest = store.claim_calls(&claim("w2", 10, None)).await?;
    let order: Vec<(i64, i64)> = rest.iter().map(|c| (c.task_run_id, c.seq)).collect();
    assert_eq!(order, vec![(run_b.id, 1), (run_a.id, 2)]);
    assert!(store.claim_calls(&claim("w3", 10, None)).await?.is_empty());
    Ok(())
}
on_both_backends!(fifo_claims, claims_are_fifo_with_lease, manual_clock());

async fn claims_respect_services(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    let mut batch = vec![call(0, "gapi"), call(1, "echo"), call(2, "keystore")];
    batch.push(call(3, "echo"));
    store.enqueue_calls(run.id, &batch).await?;

    let echo_only = ["echo".to_owned()];
    let claimed = store
        .claim_calls(&claim("h1", 10, Some(&echo_only)))
        .await?;
    assert_eq!(
        claimed.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![1, 3]
    );

    let nothing: [String; 0] = [];
    assert!(
        store
            .claim_calls(&claim("h2", 10, Some(&nothing)))
            .await?
            .is_empty()
    );
    let unknown = ["nobody".to_owned()];
    assert!(
        store
            .claim_calls(&claim("h2", 10, Some(&unknown)))
            .await?
            .is_empty()
    );

    let two = ["keystore".to_owned(), "gapi".to_owned()];
    let claimed = store.claim_calls(&claim("h2", 10, Some(&two))).await?;
    assert_eq!(
        claimed.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![0, 2]
    );
    assert!(
        claimed
            .iter()
            .all(|c| c.lease_owner.as_deref() == Some("h2"))
    );
    Ok(())
}
on_both_backends!(capability_aware_claims, claims_respect_services);

async fn completing_a_call_wakes_the_suspended_run(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    store.enqueue_calls(run.id, &calls(0..2, "echo")).await?;
    let end = SegmentEnd {
        owner: "host-a",
        segment_ms: Some(3),
    };
    assert_eq!(
        store.suspend_run(run.id, end, 0).await?,
        SuspendOutcome::Suspended
    );
    let suspended = store.get_run(run.id).await?.unwrap();
    assert_eq!(suspended.status, TaskRunStatus::Suspended);
    assert!(suspended.suspended_at.is_some());

    let claimed = store.claim_calls(&claim("worker", 10, None)).await?;
    let outcome = store
        .complete_call(claimed[0].id, "worker", "{\"ok\":1}")
        .await?;
    let CallOutcome::Settled(wake) = outcome else {
        anyhow::bail!("completion refused: {outcome:?}")
    };
    assert_eq!(wake.task_run_id, run.id);
    assert_eq!(wake.run_status, TaskRunStatus::Resumable);
    assert_eq!(wake.calls_completed, 1);

    // The second settlement counts but does not change the (already resumable) status.
    let outcome = store.fail_call(claimed[1].id, "worker", "boom").await?;
    let CallOutcome::Settled(wake) = outcome else {
        anyhow::bail!("failure refused: {outcome:?}")
    };
    assert_eq!(wake.run_status, TaskRunStatus::Resumable);
    assert_eq!(wake.calls_completed, 2);

    let journal = store.journal(run.id).await?;
    assert_eq!(journal[0].status, StackRunStatus::Completed);
    assert_eq!(journal[0].result.as_deref(), Some("{\"ok\":1}"));
    assert!(journal[0].ended_at.is_some());
    assert_eq!(journal[0].lease_expires_at, None);
    assert_eq!(
        journal[0].lease_owner.as_deref(),
        Some("worker"),
        "executor kept"
    );
    assert_eq!(journal[1].status, StackRunStatus::Failed);
    assert_eq!(journal[1].error.as_deref(), Some("boom"));
    assert!(
        store
            .claim_calls(&claim("worker", 10, None))
            .await?
            .is_empty()
    );
    Ok(())
}
on_both_backends!(
    complete_wakes_run,
    completing_a_call_wakes_the_suspended_run
);

async fn stale_owner_cannot_settle(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let clock = store.clock().clone();
    let run = running_run(&store, "host-a").await?;
    store.enqueue_calls(run.id, &[call(0, "echo")]).await?;
    let short = tasker_store::Lease {
        owner: "old",
        duration_ms: 1_000,
    };
    let claimed = store
        .claim_calls(&CallClaim {
            lease: short,
            limit: 1,
            services: None,
        })
        .await?;
    let id = claimed[0].id;
    clock.advance(1_001);
    assert_eq!(store.reclaim_expired().await?.calls, 1);
    let again = store.claim_calls(&claim("new", 1, None)).await?;
    assert_eq!(again[0].id, id);
    assert_eq!(again[0].attempts, 2);

    assert_eq!(
        store.complete_call(id, "old", "\"old\"").await?,
        CallOutcome::NotOwner
    );
    assert_eq!(
        store.fail_call(id, "old", "old").await?,
        CallOutcome::NotOwner
    );
    assert_eq!(
        store.retry_call(id, "old", "old", 0).await?,
        RetryOutcome::NotOwner
    );
    assert!(matches!(
        store.complete_call(id, "new", "\"new\"").await?,
        CallOutcome::Settled(_)
    ));
    // Already settled: even the owner cannot write a second result.
    assert_eq!(
        store.complete_call(id, "new", "\"twice\"").await?,
        CallOutcome::NotOwner
    );

    let entry = store.get_call(id).await?.unwrap();
    assert_eq!(entry.result.as_deref(), Some("\"new\""));
    assert_eq!(store.get_run(run.id).await?.unwrap().calls_completed, 1);
    Ok(())
}
on_both_backends!(stale_owner, stale_owner_cannot_settle, manual_clock());

async fn retry_puts_the_call_back_later(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let clock = store.clock().clone();
    let run = running_run(&store, "host-a").await?;
    store.enqueue_calls(run.id, &[call(0, "echo")]).await?;
    let claimed = store.claim_calls(&claim("w", 1, None)).await?;
    let outcome = store
        .retry_call(claimed[0].id, "w", "HTTP 503", 500)
        .await?;
    assert_eq!(outcome, RetryOutcome::Scheduled { ready_at: T0 + 500 });
    let entry = store.get_call(claimed[0].id).await?.unwrap();
    assert_eq!(entry.status, StackRunStatus::Pending);
    assert_eq!(entry.error.as_deref(), Some("HTTP 503"));
    assert_eq!(entry.lease_owner, None);

    assert!(
        store.claim_calls(&claim("w", 1, None)).await?.is_empty(),
        "not ready yet"
    );
    assert_eq!(store.oldest_ready_age_ms().await?, None);
    clock.advance(500);
    let again = store.claim_calls(&claim("w", 1, None)).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(store.get_run(run.id).await?.unwrap().calls_completed, 0);
    Ok(())
}
on_both_backends!(retry_call, retry_puts_the_call_back_later, manual_clock());

async fn batch_completion_settles_each_call(
    store: Store,
    _db: &TestDatabase,
) -> anyhow::Result<()> {
    let run = running_run(&store, "host-a").await?;
    let entries = store
        .enqueue_claimed(run.id, &calls(0..3, "echo"), lease("host-a"))
        .await?;
    store
        .suspend_run(
            run.id,
            SegmentEnd {
                owner: "host-a",
                segment_ms: None,
            },
            0,
        )
        .await?;
    let ids: Vec<i64> = entries.iter().map(|e| e.call.id).collect();
    // A stale entry in the middle is refused without spoiling the others.
    store.complete_call(ids[1], "host-a", "\"first\"").await?;
    let outcomes = store
        .complete_calls(
            "host-a",
            &[(ids[0], "0"), (ids[1], "\"second\""), (ids[2], "2")],
        )
        .await?;
    // Each outcome shows the run as the whole batch left it.
    assert!(matches!(outcomes[0], CallOutcome::Settled(w) if w.calls_completed == 3));
    assert_eq!(outcomes[1], CallOutcome::NotOwner);
    let CallOutcome::Settled(last) = outcomes[2] else {
        anyhow::bail!("refused: {:?}", outcomes[2])
    };
    assert_eq!(last.calls_completed, 3);
    assert_eq!(last.run_status, TaskRunStatus::Resumable);
    let results: Vec<Option<String>> = store
        .journal(run.id)
        .await?
        .into_iter()
        .map(|c| c.result)
        .collect();
    assert_eq!(
        results,
        vec![Some("0".into()), Some("\"first\"".into()), Some("2".into())]
    );
    Ok(())
}
on_both_backends!(batch_completion, batch_completion_settles_each_call);
