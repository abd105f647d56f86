//! Operating-system limits a worker process puts on itself (`RLIMIT_AS`, `RLIMIT_CPU`,
//! `RLIMIT_CORE`) and the process facts they are computed from. Linux only; safe `nix` wrappers,
//! no `unsafe` here. The host never calls these on itself.

use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage, setrlimit};

const MIB: u64 = 1024 * 1024;

/// No core files: a worker killed by a limit would otherwise write hundreds of megabytes.
pub(crate) fn disable_core_dumps() -> nix::Result<()> {
    setrlimit(Resource::RLIMIT_CORE, 0, 0)
}

/// Caps the address space at the current size plus `extra_mb`; returns the current size in bytes.
/// Measured after start-up so the executable, thread stacks and allocator arenas are not charged
/// to the task.
pub(crate) fn cap_address_space(extra_mb: u64) -> std::io::Result<u64> {
    let baseline = address_space_bytes()?;
    let cap = baseline.saturating_add(extra_mb.saturating_mul(MIB));
    let (_, hard) = getrlimit(Resource::RLIMIT_AS)?;
    setrlimit(Resource::RLIMIT_AS, cap.min(hard), cap.min(hard))?;
    Ok(baseline)
}

/// Lets the coming segment use `secs` more CPU seconds: the soft `RLIMIT_CPU` becomes the CPU
/// time used so far plus `secs` (the kernel sends SIGXCPU when it is reached). The hard limit is
/// left alone so later segments can raise the soft one again.
pub(crate) fn allow_cpu_seconds(secs: u64) -> nix::Result<()> {
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let used = usage.user_time().tv_sec() + usage.system_time().tv_sec();
    // +1: the partial second already under way.
    let soft = u64::try_from(used)
        .unwrap_or(0)
        .saturating_add(secs)
        .saturating_add(1);
    let (_, hard) = getrlimit(Resource::RLIMIT_CPU)?;
    setrlimit(Resource::RLIMIT_CPU, soft.min(hard), hard)
}

/// The process's virtual size (`VmSize` in `/proc/self/status`), in bytes.
fn address_space_bytes() -> std::io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib * 1024)
        .ok_or_else(|| std::io::Error::other("no VmSize in /proc/self/status"))
}
