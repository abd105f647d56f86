//! Several claimers on separate connections race for the same ready calls: each call is claimed
//! exactly once and all are claimed.

use std::collections::HashSet;

use tasker_store::testing::TestDatabase;
use tasker_store::{CallClaim, CallOutcome, Lease, Store, StoreOptions, on_both_backends};

use crate::{calls, running_run};

const CALLS: i64 = 500;
const CLAIMERS: usize = 8;

async fn no_call_is_claimed_twice(store: Store, db: &TestDatabase) -> anyhow::Result<()> {
    let mut run_ids = Vec::new();
    for _ in 0..5 {
        let run = running_run(&store, "issuer").await?;
        store
            .enqueue_calls(run.id, &calls(0..CALLS / 5, "echo"))
            .await?;
        run_ids.push(run.id);
    }

    let mut claimers = Vec::new();
    for index in 0..CLAIMERS {
        // Each claimer has its own pool (its own connections), like separate hosts.
        let own = Store::connect(
            db.url(),
            StoreOptions {
                max_connections: 1,
                ..StoreOptions::default()
            },
        )
        .await?;
        claimers.push(tokio::spawn(async move {
            let owner = format!("claimer-{index}");
            let mut claimed = Vec::new();
            loop {
                let batch = own
                    .claim_calls(&CallClaim {
                        lease: Lease {
                            owner: &owner,
                            duration_ms: 60_000,
                        },
                        limit: 7,
                        services: None,
                    })
                    .await?;
                if batch.is_empty() {
                    break;
                }
                for call in batch {
                    let outcome = own.complete_call(call.id, &owner, "true").await?;
                    anyhow::ensure!(matches!(outcome, CallOutcome::Settled(_)), "{outcome:?}");
                    claimed.push(call.id);
                }
            }
            own.close().await;
            anyhow::Ok(claimed)
        }));
    }

    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await??);
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "some call was claimed twice");
    assert_eq!(all.len() as i64, CALLS, "every call claimed");
    let mut settled = 0;
    for run_id in run_ids {
        settled += store.get_run(run_id).await?.unwrap().calls_completed;
    }
    assert_eq!(settled, CALLS);
    Ok(())
}
on_both_backends!(concurrent_claims, no_call_is_claimed_twice);
