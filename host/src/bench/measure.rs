//! Before/after readings around one measured stretch: wall time, the hosts' CPU time
//! (utime + stime of every host process), their peak resident memory (VmHWM) and the
//! database's growth on disk. Reads only; the workload runs between `start` and `finish`.

use std::time::{Duration, Instant};

use super::database::BenchDb;
use super::host::BenchHost;
use super::proc::{ProcSample, sample, ticks_to_seconds};

/// Readings taken before the measured stretch.
#[derive(Debug)]
pub struct Probe {
    started: Instant,
    before: Vec<ProcSample>,
    db_before: Option<u64>,
}

/// What changed during the measured stretch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    /// Wall time.
    pub wall: Duration,
    /// CPU seconds used by all hosts together.
    pub cpu_secs: Option<f64>,
    /// Largest peak resident memory among the hosts, KiB.
    pub peak_rss_kb: Option<u64>,
    /// Current resident memory summed over the hosts at the end, KiB.
    pub rss_kb: Option<u64>,
    /// Database growth in bytes (negative when a checkpoint shrank it).
    pub db_growth: Option<i64>,
}

impl Probe {
    /// Reads the hosts and the database now.
    pub async fn start(hosts: &[&BenchHost], db: Option<&BenchDb>) -> Self {
        let db_before = match db {
            Some(db) => db.size_bytes().await.ok(),
            None => None,
        };
        Self {
            before: hosts
                .iter()
                .map(|h| sample(h.pid()).unwrap_or_default())
                .collect(),
            db_before,
            started: Instant::now(),
        }
    }

    /// Reads them again and returns the differences.
    pub async fn finish(self, hosts: &[&BenchHost], db: Option<&BenchDb>) -> Measured {
        let wall = self.started.elapsed();
        let after: Vec<Option<ProcSample>> = hosts.iter().map(|h| sample(h.pid())).collect();
        let readable = after.iter().all(Option::is_some) && !after.is_empty();
        let after: Vec<ProcSample> = after.into_iter().flatten().collect();
        let cpu_ticks: u64 = after
            .iter()
            .zip(&self.before)
            .map(|(a, b)| a.cpu_ticks.saturating_sub(b.cpu_ticks))
            .sum();
        let db_growth = match (db, self.db_before) {
            (Some(db), Some(before)) => db
                .size_bytes()
                .await
                .ok()
                .map(|now| now as i64 - before as i64),
            _ => None,
        };
        Measured {
            wall,
            cpu_secs: readable.then(|| ticks_to_seconds(cpu_ticks)),
            peak_rss_kb: readable.then(|| after.iter().map(|a| a.hwm_kb).max().unwrap_or(0)),
            rss_kb: readable.then(|| after.iter().map(|a| a.rss_kb).sum()),
            db_growth,
        }
    }
}
