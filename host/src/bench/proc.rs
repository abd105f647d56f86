//! Resource figures of a host process read from Linux `/proc`: CPU time (utime + stime
//! from `/proc/PID/stat`), current and peak resident memory (`VmRSS`, `VmHWM` from
//! `/proc/PID/status`) of one process (whole process trees: `tree.rs`). Read-only;
//! elsewhere than Linux every figure is unavailable.

use std::sync::OnceLock;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcSample {
    /// User + system CPU time so far, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident memory now, KiB.
    pub rss_kb: u64,
    /// Peak resident memory so far (high-water mark), KiB.
    pub hwm_kb: u64,
}

/// Reads `/proc/PID/stat` and `/proc/PID/status`; None when the process is gone or this
/// is not Linux.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(ProcSample {
        cpu_ticks: parse_cpu_ticks(&stat)?,
        rss_kb: parse_status_kb(&status, "VmRSS:")?,
        hwm_kb: parse_status_kb(&status, "VmHWM:")?,
    })
}

/// utime + stime (fields 14 and 15). The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub(super) fn parse_status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 when it cannot be asked, the value on
/// every common Linux configuration).
pub fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// CPU seconds for a number of clock ticks.
pub fn ticks_to_seconds(ticks: u64) -> f64 {
    ticks as f64 / ticks_per_second() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_a_name_with_spaces_and_parens() {
        let stat = "1234 (tasker (x) host) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
    }

    #[test]
    fn status_fields_in_kib() {
        let status = "Name:\ttasker-host\nVmHWM:\t  51200 kB\nVmRSS:\t  40960 kB\n";
        assert_eq!(parse_status_kb(status, "VmHWM:"), Some(51200));
        assert_eq!(parse_status_kb(status, "VmRSS:"), Some(40960));
        assert_eq!(parse_status_kb(status, "VmSwap:"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let me = sample(std::process::id()).expect("/proc is readable on Linux");
        assert!(me.rss_kb > 0 && me.hwm_kb >= me.rss_kb);
    }
}
