//! Sequential-latency scenarios, one host per backend (and mode) driven one run at a time:
//! `calls-n` (n sequential echo calls, live cache vs replay-only, so linear vs quadratic
//! growth shows), `submit-latency` (0-call and 1-call tasks) and `fanout` (Promise.all of
//! 100 × 50 ms sleeps against the 50 ms floor).

use serde_json::json;

use super::Ctx;
use super::driver::sequential;
use super::host::HostOptions;
use super::measure::Probe;
use super::report::Row;
use super::stats::percentiles;

const CALLS_TASK: &str = r#"module.exports = async function({ n }) {
  let sum = 0;
  for (let i = 0; i < n; i++) { const r = await __callHostTool__("echo-service", "echo", { i }); sum += r.i; }
  return { sum };
};"#;

const ZERO_CALL_TASK: &str = "module.exports = async function(input) { return { ok: true }; };";

const ONE_CALL_TASK: &str = r#"module.exports = async function(input) {
  return await __callHostTool__("echo-service", "echo", { ok: true });
};"#;

const FANOUT_TASK: &str = r#"module.exports = async function({ width, ms }) {
  const calls = [];
  for (let i = 0; i < width; i++) calls.push(__callHostTool__("echo-service", "sleep", { ms }));
  const slept = await Promise.all(calls);
  return { calls: slept.length };
};"#;

/// Repetitions of one calls-n size: fewer for the long ones (replay-only is quadratic).
fn repetitions(quick: bool, n: u32, replay: bool) -> usize {
    match (quick, n, replay) {
        (true, ..) => 3,
        (false, 0..=10, _) => 20,
        (false, 11..=100, false) => 10,
        (false, 11..=100, true) => 5,
        (false, _, false) => 3,
        (false, _, true) => 1,
    }
}

/// `calls-n`: per backend, a live host and a `--replay-only` host; per n, repeated runs.
pub async fn calls_n(ctx: &mut Ctx) -> anyhow::Result<()> {
    for kind in ctx.backends.clone() {
        for (mode, replay_only) in [("live", false), ("replay", true)] {
            let options = HostOptions {
                replay_only,
                ..HostOptions::default()
            };
            let (db, host, api) = ctx.host_on(kind, &options).await?;
            api.register("calls-n", CALLS_TASK).await?;
            api.run("calls-n", &json!({ "n": 1 })).await?; // warm-up
            let mut per_call_at_10 = None;
            for n in ctx.ns.clone() {
                let reps = repetitions(ctx.quick, n, replay_only);
                let probe = Probe::start(&[&host], Some(&db)).await;
                let latencies = sequential(&api, "calls-n", &json!({ "n": n }), reps).await?;
                let measured = probe.finish(&[&host], Some(&db)).await;
                let p50 = percentiles(&latencies).map_or(0.0, |p| p.p50);
                let per_call = p50 / f64::from(n.max(1));
                if n == 10 {
                    per_call_at_10 = Some(per_call);
                }
                let note = match per_call_at_10 {
                    Some(base) if n > 10 && base > 0.0 => {
                        format!("{:.2}x the per-call time at n=10", per_call / base)
                    }
                    _ => String::new(),
                };
                let mut row = Row::new("calls-n", format!("n={n} {mode}"), kind.label())
                    .measured(
                        reps as u64,
                        reps as u64 * u64::from(n),
                        &measured,
                        &latencies,
                    )
                    .param("n", n)
                    .param("mode", mode)
                    .note(note);
                row.per_call_ms = Some(per_call);
                ctx.push(row);
            }
            drop(host);
            ctx.release(db).await;
        }
    }
    Ok(())
}

/// `submit-latency`: 0-call and 1-call tasks, one at a time; the 1-call row's ms/call is
/// the p50 difference (the price of one durable call on the submit path).
pub async fn submit_latency(ctx: &mut Ctx) -> anyhow::Result<()> {
    let times = if ctx.quick { 20 } else { 300 };
    for kind in ctx.backends.clone() {
        let (db, host, api) = ctx.host_on(kind, &HostOptions::default()).await?;
        api.register("zero-calls", ZERO_CALL_TASK).await?;
        api.register("one-call", ONE_CALL_TASK).await?;
        sequential(&api, "zero-calls", &json!({}), 5).await?;
        sequential(&api, "one-call", &json!({}), 5).await?;
        let mut zero_p50 = None;
        for (variant, task, calls) in [("0 calls", "zero-calls", 0), ("1 call", "one-call", 1)] {
            let probe = Probe::start(&[&host], Some(&db)).await;
            let latencies = sequential(&api, task, &json!({}), times).await?;
            let measured = probe.finish(&[&host], Some(&db)).await;
            let p50 = percentiles(&latencies).map(|p| p.p50);
            let mut row = Row::new("submit-latency", variant, kind.label()).measured(
                times as u64,
                times as u64 * calls,
                &measured,
                &latencies,
            );
            if calls == 0 {
                zero_p50 = p50;
            } else {
                row.per_call_ms = p50.zip(zero_p50).map(|(one, zero)| one - zero);
                row = row.note("target: p50 < 3 ms on SQLite");
            }
            ctx.push(row);
        }
        drop(host);
        ctx.release(db).await;
    }
    Ok(())
}

/// `fanout`: one task awaiting Promise.all of 100 sleeps of 50 ms, against the 50 ms floor.
pub async fn fanout(ctx: &mut Ctx) -> anyhow::Result<()> {
    let (width, ms) = (100u64, 50u64);
    let reps = if ctx.quick { 3 } else { 10 };
    for kind in ctx.backends.clone() {
        let (db, host, api) = ctx.host_on(kind, &HostOptions::default()).await?;
        api.register("fanout", FANOUT_TASK).await?;
        let input = json!({ "width": width, "ms": ms });
        sequential(&api, "fanout", &input, 1).await?; // warm-up
        let probe = Probe::start(&[&host], Some(&db)).await;
        let latencies = sequential(&api, "fanout", &input, reps).await?;
        let measured = probe.finish(&[&host], Some(&db)).await;
        let p50 = percentiles(&latencies).map_or(0.0, |p| p.p50);
        let row = Row::new("fanout", format!("{width} x sleep {ms}ms"), kind.label())
            .measured(reps as u64, reps as u64 * width, &measured, &latencies)
            .param("floorMs", ms)
            .note(format!(
                "{:.2}x the {ms} ms floor (target: < 150 ms)",
                p50 / ms as f64
            ));
        ctx.push(row);
        drop(host);
        ctx.release(db).await;
    }
    Ok(())
}
