//! CPU time and resident memory of a host's whole process tree (the host plus every
//! descendant: its `tasker-host worker` sandbox children and `plugin-worker` children),
//! read from Linux `/proc`, and a background sampler keeping the largest tree RSS seen
//! during a measured stretch (the kernel keeps a peak, `VmHWM`, per process only, never
//! for a tree). Read-only: never signals a process. Elsewhere than Linux: unavailable.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::proc::parse_status_kb;

/// How often [`PeakSampler`] reads the trees.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// One reading of a process tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeSample {
    /// CPU time of the tree so far, clock ticks: utime + stime of every live member plus
    /// cutime + cstime (children that exited and were reaped) of every live member.
    pub cpu_ticks: u64,
    /// Current resident memory (`VmRSS`) summed over the live members, KiB.
    pub rss_kb: u64,
    /// Peak resident memory (`VmHWM`) of the root process alone, KiB.
    pub root_hwm_kb: u64,
    /// Live members, the root included.
    pub processes: usize,
}

/// The `/proc/PID/stat` fields a tree reading needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatLine {
    pid: u32,
    ppid: u32,
    /// utime + stime.
    own_ticks: u64,
    /// cutime + cstime: reaped children (and, through them, their reaped descendants).
    reaped_ticks: u64,
}

/// Reads the tree rooted at `root` now; None when the root is gone or this is not Linux.
///
/// Every `/proc/*/stat` is read to follow the ppid links, so workers started or replaced
/// since the last reading are included. A member that exits between the readings of its
/// own and its parent's stat may be missed or counted twice for that one reading; a
/// descendant whose parent died is re-parented away and leaves the tree.
pub fn sample_tree(root: u32) -> Option<TreeSample> {
    let root_status = std::fs::read_to_string(format!("/proc/{root}/status")).ok()?;
    let root_stat = parse_stat(&std::fs::read_to_string(format!("/proc/{root}/stat")).ok()?)?;
    let mut all: Vec<StatLine> = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != root)
        .filter_map(|pid| parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?))
        .collect();
    all.push(root_stat);
    let members = tree_members(root, &all);
    let cpu_ticks = members.iter().map(|m| m.own_ticks + m.reaped_ticks).sum();
    // A zombie has no VmRSS line: it holds no memory any more.
    let rss_kb = members
        .iter()
        .filter_map(|m| std::fs::read_to_string(format!("/proc/{}/status", m.pid)).ok())
        .filter_map(|status| parse_status_kb(&status, "VmRSS:"))
        .sum();
    Some(TreeSample {
        cpu_ticks,
        rss_kb,
        root_hwm_kb: parse_status_kb(&root_status, "VmHWM:").unwrap_or(0),
        processes: members.len(),
    })
}

/// `root` and every process reachable from it through ppid links.
fn tree_members(root: u32, all: &[StatLine]) -> Vec<StatLine> {
    let mut children: HashMap<u32, Vec<&StatLine>> = HashMap::new();
    for line in all {
        children.entry(line.ppid).or_default().push(line);
    }
    let mut members: Vec<StatLine> = all.iter().filter(|l| l.pid == root).copied().collect();
    let mut next = 0;
    while let Some(member) = members.get(next).copied() {
        next += 1;
        // pid 0 parents the first processes; a tree never loops otherwise.
        if member.pid == 0 {
            continue;
        }
        members.extend(children.get(&member.pid).into_iter().flatten().copied());
    }
    members
}

/// pid, ppid (field 4), utime + stime (14, 15), cutime + cstime (16, 17). The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after its last
/// `)`.
fn parse_stat(stat: &str) -> Option<StatLine> {
    let pid = stat.split_whitespace().next()?.parse().ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    let number = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    // cutime and cstime are signed in the kernel's format; never negative in practice.
    let signed = |n: usize| -> Option<u64> {
        fields
            .get(n - 3)?
            .parse::<i64>()
            .ok()
            .map(|v| v.max(0) as u64)
    };
    Some(StatLine {
        pid,
        ppid: number(4)? as u32,
        own_ticks: number(14)? + number(15)?,
        reaped_ticks: signed(16)? + signed(17)?,
    })
}

/// Samples the RSS of some process trees every [`SAMPLE_EVERY`] on a thread of its own
/// until finished (or dropped) and keeps each tree's largest sum.
#[derive(Debug)]
pub struct PeakSampler {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<Vec<Option<u64>>>>,
}

impl PeakSampler {
    /// Starts sampling the trees rooted at `roots` (first reading at once).
    pub fn start(roots: Vec<u32>) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bench-rss-sampler".to_owned())
            .spawn(move || {
                let mut peaks: Vec<Option<u64>> = vec![None; roots.len()];
                let read = |peaks: &mut Vec<Option<u64>>| {
                    for (peak, &root) in peaks.iter_mut().zip(&roots) {
                        if let Some(now) = sample_tree(root) {
                            *peak = Some(peak.map_or(now.rss_kb, |p| p.max(now.rss_kb)));
                        }
                    }
                };
                read(&mut peaks);
                // The interval doubles as the stop signal's wait: finishing is immediate.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(SAMPLE_EVERY)
                {
                    read(&mut peaks);
                }
                read(&mut peaks);
                peaks
            })
            .ok();
        Self {
            stop: Some(stop),
            thread,
        }
    }

    /// Takes a last reading and returns each tree's largest sampled RSS sum, KiB (None
    /// for a tree never readable, or when the sampler thread could not start).
    pub fn finish(mut self) -> Vec<Option<u64>> {
        self.stop.take();
        self.thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for PeakSampler {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pid: u32, ppid: u32, own: u64, reaped: u64) -> StatLine {
        StatLine {
            pid,
            ppid,
            own_ticks: own,
            reaped_ticks: reaped,
        }
    }

    #[test]
    fn stat_fields_after_a_name_with_spaces_and_parens() {
        let stat = "1234 (tasker (x) host) S 77 2 3 4 5 6 7 8 9 10 250 50 30 -0 20 0 9 0";
        assert_eq!(parse_stat(stat), Some(line(1234, 77, 300, 30)));
    }

    #[test]
    fn the_tree_follows_ppid_links_and_leaves_others_out() {
        let all = [
            line(1, 0, 1000, 0),
            line(10, 1, 5, 7),
            line(11, 10, 3, 0),
            line(12, 11, 2, 1),
            line(13, 1, 900, 0),
        ];
        let members = tree_members(10, &all);
        let pids: Vec<u32> = members.iter().map(|m| m.pid).collect();
        assert_eq!(pids, [10, 11, 12]);
        let ticks: u64 = members.iter().map(|m| m.own_ticks + m.reaped_ticks).sum();
        assert_eq!(ticks, 18);
    }

    #[test]
    fn a_live_child_is_part_of_this_process_tree() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawning sleep");
        let tree = sample_tree(std::process::id()).expect("/proc is readable on Linux");
        let _ = child.kill();
        let _ = child.wait();
        assert!(tree.processes >= 2, "{tree:?}");
        assert!(tree.rss_kb > 0 && tree.root_hwm_kb > 0, "{tree:?}");
    }

    #[test]
    fn a_reaped_child_keeps_its_cpu_in_the_tree() {
        let me = std::process::id();
        let before = sample_tree(me).expect("readable");
        let own_before = super::super::proc::sample(me).expect("readable");
        // Busy work in a shell: far more than one clock tick of CPU.
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .expect("running sh");
        assert!(status.success());
        let own_after = super::super::proc::sample(me).expect("readable");
        let after = sample_tree(me).expect("readable");
        // The tree grew by more than this process's own CPU: the child's, via cutime.
        let own = own_after.cpu_ticks - own_before.cpu_ticks;
        assert!(
            after.cpu_ticks - before.cpu_ticks > own,
            "{before:?} {after:?} own +{own}"
        );
    }

    #[test]
    fn the_sampler_returns_one_peak_per_root() {
        let sampler = PeakSampler::start(vec![std::process::id(), u32::MAX]);
        let peaks = sampler.finish();
        assert_eq!(peaks.len(), 2);
        assert!(peaks[0].is_some_and(|kb| kb > 0));
        assert_eq!(peaks[1], None);
    }
}
