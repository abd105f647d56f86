//! Behavioural tests of tasker-store; every test body runs on SQLite (fresh file) and PostgreSQL
//! (fresh database on a real server) through `on_both_backends!`.

mod bench;
mod calls;
mod concurrency;
mod journal_batch;
mod leases;
mod reads;
mod resumed;
mod runs;
mod segment_log;
mod segments;

use tasker_store::{Clock, Lease, NewCall, NewRun, RunClaim, Store, StoreOptions, TaskRun};

/// Start of the manual clock used by tests that move time.
pub const T0: i64 = 1_700_000_000_000;

/// Options with a manual clock at [`T0`].
pub fn manual_clock() -> StoreOptions {
    StoreOptions {
        clock: Clock::manual(T0),
        ..StoreOptions::default()
    }
}

/// Call `seq` to `service.echo` with small JSON args.
pub fn call(seq: i64, service: &str) -> NewCall {
    NewCall {
        seq,
        service: service.to_owned(),
        method: "echo".to_owned(),
        args: format!("[{seq}]"),
        args_hash: format!("hash-{seq}"),
        max_attempts: 3,
        parent_stack_run_id: None,
    }
}

pub fn calls(seqs: std::ops::Range<i64>, service: &str) -> Vec<NewCall> {
    seqs.map(|seq| call(seq, service)).collect()
}

pub fn lease(owner: &str) -> Lease<'_> {
    Lease {
        owner,
        duration_ms: 30_000,
    }
}

/// A new run, claimed by `owner` (status running).
pub async fn running_run(store: &Store, owner: &str) -> anyhow::Result<TaskRun> {
    let run = store
        .create_run(&NewRun::new("task", "code-hash", "{}"))
        .await?;
    let claimed = store
        .claim_run(run.id, lease(owner))
        .await?
        .ok_or_else(|| anyhow::anyhow!("run {} was not claimable", run.id))?;
    Ok(claimed)
}

/// Claims runs until one with `id` comes back (other tests' runs are not in this database).
pub async fn claim_all_runs(store: &Store, owner: &str) -> anyhow::Result<Vec<TaskRun>> {
    Ok(store
        .claim_runs(&RunClaim {
            lease: lease(owner),
            limit: 100,
        })
        .await?)
}
