//! 1,000 sequential host calls with live resume: prints timings (no timing assertions) and checks the
//! result, and that a replay from the final journal agrees.

mod common;

use std::time::Instant;

use common::{Resume, completed, drive, echo_host, one, request, sandbox};
use serde_json::json;

#[tokio::test]
async fn thousand_sequential_calls_with_live_resume() {
    let sandbox = sandbox();
    let code = "module.exports = async ({ n }) => { let t = 0; for (let i = 0; i < n; i++) t += await tools.svc.echo(i); return t; };";
    let started = Instant::now();
    let live = drive(
        &sandbox,
        request(1, code, json!({"n": 1000})),
        Resume::Live,
        one,
        echo_host,
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(completed(&live.outcome), &json!(499_500));
    assert_eq!(live.issued.len(), 1000);
    println!(
        "1,000 sequential calls, live resume: {elapsed:?} total, {:?} per call",
        elapsed / 1000
    );

    let mut replay = request(2, code, json!({"n": 1000}));
    replay.issued = live.issued.clone();
    replay.deliveries = live.deliveries.clone();
    let started = Instant::now();
    let replayed = sandbox.start_or_replay(replay).await.unwrap();
    println!("replay of 1,000 journaled calls: {:?}", started.elapsed());
    assert_eq!(replayed.outcome, live.outcome);
}
