use std::sync::Arc;
use tasker_sandbox::*;
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let code = std::env::args().nth(1).unwrap();
    let sandbox = Sandbox::new(SandboxConfig { threads: 1, ..SandboxConfig::default() }).unwrap();
    let t = std::time::Instant::now();
    let out = sandbox.start_or_replay(SegmentRequest { run_id: 1, task_name: "x".into(), code: Arc::from(code.as_str()), input: serde_json::json!({}), seed: 1, start_time_ms: 0, issued: vec![], deliveries: vec![] }).await.unwrap();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss: Vec<_> = status.lines().filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM") || l.starts_with("VmSize")).collect();
    println!("{:?} {:?} {:?}", t.elapsed(), out.outcome, rss);
}
