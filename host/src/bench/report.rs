//! The bench's results: one [`Row`] per measured workload variant, printed as a fixed-width
//! table as rows arrive, and written as a JSON document (rows plus the machine they ran
//! on). Formatting only; no measuring here.

use serde::Serialize;
use serde_json::Value;

use super::measure::Measured;
use super::stats::{Percentiles, percentiles};

/// One measured workload variant.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// Scenario name (`calls-n`, `throughput`...).
    pub scenario: String,
    /// Variant within the scenario (`n=10 live`, `2 hosts`...).
    pub variant: String,
    /// `sqlite`, `postgres`, or `-` when no database is involved.
    pub backend: String,
    /// Runs completed (or calls made, for `plugin-call`).
    pub runs: u64,
    /// Durable host calls made.
    pub calls: u64,
    /// Wall time of the measured stretch, seconds.
    pub wall_secs: f64,
    /// Runs per second.
    pub runs_per_sec: Option<f64>,
    /// Host calls per second.
    pub calls_per_sec: Option<f64>,
    /// Submit-to-result latency (per call for `plugin-call`), ms.
    pub latency_ms: Option<Percentiles>,
    /// Wall time per call, ms (see BENCHMARKS.md for each scenario's definition).
    pub per_call_ms: Option<f64>,
    /// Largest RSS sum of a host's process tree (host + worker children) sampled every
    /// 100 ms during the row (the largest among several hosts), MiB.
    pub tree_rss_mib: Option<f64>,
    /// Peak RSS (`VmHWM`) of the host process alone, worker children left out, MiB.
    pub host_peak_rss_mib: Option<f64>,
    /// CPU time of the hosts' process trees (hosts + worker children) per durable call,
    /// microseconds.
    pub cpu_us_per_call: Option<f64>,
    /// Database growth, KiB.
    pub db_growth_kib: Option<f64>,
    /// Scenario-specific figures (`n`, `mode`, `perSuspendedRunKib`...).
    pub params: Value,
    /// Short remark shown at the end of the table row.
    pub note: String,
}

impl Row {
    /// A row with its identity; figures are filled in with [`Row::measured`] and setters.
    pub fn new(scenario: &str, variant: impl Into<String>, backend: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            variant: variant.into(),
            backend: backend.to_owned(),
            params: Value::Object(Default::default()),
            ..Self::default()
        }
    }

    /// Fills throughput, CPU, memory and database figures from counts and readings.
    pub fn measured(mut self, runs: u64, calls: u64, m: &Measured, latencies: &[f64]) -> Self {
        let secs = m.wall.as_secs_f64().max(1e-9);
        self.runs = runs;
        self.calls = calls;
        self.wall_secs = secs;
        self.runs_per_sec = Some(runs as f64 / secs);
        self.calls_per_sec = (calls > 0).then(|| calls as f64 / secs);
        self.latency_ms = percentiles(latencies);
        self.tree_rss_mib = m.peak_tree_rss_kb.map(|kb| kb as f64 / 1024.0);
        self.host_peak_rss_mib = m.host_hwm_kb.map(|kb| kb as f64 / 1024.0);
        self.cpu_us_per_call = m
            .cpu_secs
            .filter(|_| calls > 0)
            .map(|cpu| cpu * 1e6 / calls as f64);
        self.db_growth_kib = m.db_growth.map(|b| b as f64 / 1024.0);
        self
    }

    /// Sets a scenario-specific figure.
    pub fn param(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(map) = &mut self.params {
            map.insert(key.to_owned(), value.into());
        }
        self
    }

    /// Sets the remark.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

/// The table header.
pub fn header() -> String {
    format!(
        "{:<16} {:<20} {:<8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  note",
        "scenario",
        "variant",
        "backend",
        "runs/s",
        "calls/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "ms/call",
        "tree MiB",
        "CPU us/c",
        "DB +KiB"
    )
}

/// One table line.
pub fn line(row: &Row) -> String {
    let latency = row.latency_ms;
    format!(
        "{:<16} {:<20} {:<8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {}",
        row.scenario,
        row.variant,
        row.backend,
        figure(row.runs_per_sec),
        figure(row.calls_per_sec),
        figure(latency.map(|l| l.p50)),
        figure(latency.map(|l| l.p90)),
        figure(latency.map(|l| l.p99)),
        figure(row.per_call_ms),
        figure(row.tree_rss_mib),
        figure(row.cpu_us_per_call),
        figure(row.db_growth_kib),
        row.note
    )
}

/// A number with about three significant digits, `-` when absent.
pub fn figure(value: Option<f64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) if !v.is_finite() => "-".to_owned(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) if v.abs() >= 1.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// The JSON document: the machine, the build, the options and every row.
pub fn document(rows: &[Row], options: Value, failures: &[String]) -> Value {
    serde_json::json!({
        "machine": machine(),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "version": env!("CARGO_PKG_VERSION"),
        "options": options,
        "rows": rows,
        "failures": failures,
    })
}

/// Cores and CPU model of this machine.
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    serde_json::json!({ "cores": cores, "cpu": cpu, "os": std::env::consts::OS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_keep_about_three_digits() {
        assert_eq!(figure(Some(12345.6)), "12346");
        assert_eq!(figure(Some(12.345)), "12.3");
        assert_eq!(figure(Some(1.2345)), "1.23");
        assert_eq!(figure(Some(0.012345)), "0.012");
        assert_eq!(figure(None), "-");
    }

    #[test]
    fn lines_align_with_the_header() {
        let row = Row::new("calls-n", "n=10 live", "sqlite");
        // Same widths: only the header's "note" differs from the empty note.
        assert_eq!(header().len(), line(&row).len() + "note".len());
    }
}
