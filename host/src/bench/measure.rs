//! Before/after readings around one measured stretch: wall time, the CPU time of every
//! host's whole process tree (host + sandbox and plugin worker children, exited ones
//! included), the largest tree RSS sampled during the stretch, and the database's growth
//! on disk. Reads only; the workload runs between `start` and `finish`.

use std::time::{Duration, Instant};

use super::database::BenchDb;
use super::host::BenchHost;
use super::proc::ticks_to_seconds;
use super::tree::{PeakSampler, TreeSample, sample_tree};

/// Readings taken before the measured stretch, and the RSS sampler running through it.
#[derive(Debug)]
pub struct Probe {
    started: Instant,
    before: Vec<TreeSample>,
    db_before: Option<u64>,
    sampler: PeakSampler,
}

/// What changed during the measured stretch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    /// Wall time.
    pub wall: Duration,
    /// CPU seconds used by all hosts' process trees together.
    pub cpu_secs: Option<f64>,
    /// Largest RSS sum of one host's process tree sampled during the stretch (the largest
    /// among several hosts), KiB.
    pub peak_tree_rss_kb: Option<u64>,
    /// Largest peak RSS (`VmHWM`) of a host process alone, children left out, KiB.
    pub host_hwm_kb: Option<u64>,
    /// Database growth in bytes (negative when a checkpoint shrank it).
    pub db_growth: Option<i64>,
}

impl Probe {
    /// Reads the hosts and the database now and starts sampling the hosts' trees.
    pub async fn start(hosts: &[&BenchHost], db: Option<&BenchDb>) -> Self {
        let db_before = match db {
            Some(db) => db.size_bytes().await.ok(),
            None => None,
        };
        Self {
            before: hosts
                .iter()
                .map(|h| sample_tree(h.pid()).unwrap_or_default())
                .collect(),
            db_before,
            sampler: PeakSampler::start(hosts.iter().map(|h| h.pid()).collect()),
            started: Instant::now(),
        }
    }

    /// Reads them again and returns the differences.
    pub async fn finish(self, hosts: &[&BenchHost], db: Option<&BenchDb>) -> Measured {
        let wall = self.started.elapsed();
        let after: Vec<Option<TreeSample>> = hosts.iter().map(|h| sample_tree(h.pid())).collect();
        let peaks = self.sampler.finish();
        let readable = after.iter().all(Option::is_some) && !after.is_empty();
        let after: Vec<TreeSample> = after.into_iter().flatten().collect();
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
            peak_tree_rss_kb: peaks.into_iter().flatten().max().filter(|_| readable),
            host_hwm_kb: readable.then(|| after.iter().map(|a| a.root_hwm_kb).max().unwrap_or(0)),
            db_growth,
        }
    }
}
