//! Scratch probe (temporary).
use serde_json::json;
use std::sync::Arc;
use tasker_sandbox::*;
#[tokio::main]
async fn main() {
    let limits = SandboxLimits { instruction_budget: Some(2_000_000), ..SandboxLimits::default() };
    let sb = Sandbox::new(SandboxConfig { threads: 1, max_live: 10, limits }).unwrap();
    for code in [
        "module.exports = async () => { let x = 0; for (let i = 0; i < 1e7; i++) x += i; return x; };",
        "module.exports = async () => { await tools.svc.echo(1); let x = 0; for (let i = 0; i < 1e7; i++) x += i; return x; };",
    ] {
        let req = SegmentRequest { run_id: 1, task_name: "t".into(), code: Arc::from(code), input: json!({}), seed: 1, start_time_ms: 0, issued: vec![], deliveries: vec![] };
        let out = sb.start_or_replay(req).await.unwrap();
        println!("{:?}", out.outcome);
        if let RunOutcome::Suspended { .. } = out.outcome {
            let d = Delivery { segment_time_ms: 1, results: vec![DeliveredResult { seq: 0, result: CallResult::Ok(json!(1)) }] };
            println!("{:?}", sb.resume_live(1, d).await);
        }
    }
}
