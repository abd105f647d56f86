//! Rough throughput of the hot queue path (ignored by default: a benchmark, not a test). Run with
//! `cargo test -p tasker-store --release --test store bench -- --ignored --nocapture`.

use std::time::Instant;

use tasker_store::testing::TestDatabase;
use tasker_store::{Backend, CallOutcome, NewRun, SegmentEnd, Store, StoreOptions, SyncMode};

use crate::{call, calls, lease};

const CALLS: i64 = 2_000;
const WORKERS: i64 = 4;

async fn bench(backend: Backend, sync: SyncMode) -> anyhow::Result<()> {
    let db = TestDatabase::create(backend)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let store = Store::connect(
        db.url(),
        StoreOptions {
            sync,
            ..StoreOptions::default()
        },
    )
    .await?;
    let label = format!("{backend} sync={sync:?}");

    // (a) enqueue_claimed + complete_call, one call at a time.
    let run = crate::running_run(&store, "bench").await?;
    let started = Instant::now();
    for seq in 0..CALLS {
        let entry = store
            .enqueue_claimed(run.id, &[call(seq, "echo")], lease("bench"))
            .await?;
        let outcome = store.complete_call(entry[0].call.id, "bench", "1").await?;
        anyhow::ensure!(matches!(outcome, CallOutcome::Settled(_)));
    }
    report(&label, "enqueue_claimed+complete (1 call)", CALLS, started);

    // (b) batches of 10 calls: one enqueue_claimed, 10 completes.
    let run = crate::running_run(&store, "bench").await?;
    let started = Instant::now();
    for batch in 0..CALLS / 10 {
        let entries = store
            .enqueue_claimed(
                run.id,
                &calls(batch * 10..batch * 10 + 10, "echo"),
                lease("bench"),
            )
            .await?;
        for entry in entries {
            store.complete_call(entry.call.id, "bench", "1").await?;
        }
    }
    report(&label, "enqueue_claimed(10)+10 complete", CALLS, started);

    // (b2) batches of 10 calls: one enqueue_claimed, one complete_calls.
    let run = crate::running_run(&store, "bench").await?;
    let started = Instant::now();
    for batch in 0..CALLS / 10 {
        let entries = store
            .enqueue_claimed(
                run.id,
                &calls(batch * 10..batch * 10 + 10, "echo"),
                lease("bench"),
            )
            .await?;
        let results: Vec<(i64, &str)> = entries.iter().map(|e| (e.call.id, "1")).collect();
        store.complete_calls("bench", &results).await?;
    }
    report(
        &label,
        "enqueue_claimed(10)+complete_calls(10)",
        CALLS,
        started,
    );

    // (c) the durable cycle of one awaited call: enqueue_claimed → suspend → complete → claim_run.
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let owner = format!("w{worker}");
            let run = store.create_run(&NewRun::new("t", "h", "{}")).await?;
            let mut run = store.claim_run(run.id, lease(&owner)).await?.unwrap();
            for seq in 0..CALLS / WORKERS {
                let entry = store
                    .enqueue_claimed(run.id, &[call(seq, "echo")], lease(&owner))
                    .await?;
                let end = SegmentEnd {
                    owner: &owner,
                    segment_ms: Some(0),
                };
                store.suspend_run(run.id, end, run.calls_completed).await?;
                store.complete_call(entry[0].call.id, &owner, "1").await?;
                run = store.claim_run(run.id, lease(&owner)).await?.unwrap();
            }
            anyhow::Ok(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    report(
        &label,
        &format!("full cycle, {WORKERS} workers"),
        CALLS,
        started,
    );
    store.close().await;
    Ok(())
}

fn report(label: &str, what: &str, calls: i64, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{label:<28} {what:<36} {:>8.0} calls/s  {:>7.1} µs/call",
        calls as f64 / seconds,
        seconds * 1e6 / calls as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn throughput() -> anyhow::Result<()> {
    bench(Backend::Sqlite, SyncMode::Normal).await?;
    bench(Backend::Sqlite, SyncMode::Full).await?;
    bench(Backend::Postgres, SyncMode::Normal).await?;
    Ok(())
}
