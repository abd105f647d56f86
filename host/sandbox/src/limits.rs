//! Sandbox limits: their defaults, their names in error messages, and how they map onto boa's
//! `RuntimeLimits`. Pure configuration; enforcement lives in the run and host-call modules.

use serde::{Deserialize, Serialize};

/// Bounds applied to every run. See the crate docs for what each one does and does not bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxLimits {
    /// Maximum JavaScript call depth (boa recursion limit).
    pub max_recursion_depth: usize,
    /// Maximum VM value-stack size in slots (boa stack size limit).
    pub max_stack_size: usize,
    /// Maximum iterations of loops within one call frame (boa counts per frame, cumulatively).
    pub max_loop_iterations: u64,
    /// Instruction budget for the whole run (all segments together, replay included: a replay executes
    /// exactly the same instructions). `None` = unbounded. Needs the `instruction-budget` feature.
    pub instruction_budget: Option<u64>,
    /// Maximum host calls per run.
    pub max_host_calls: u64,
    /// Maximum size of one host call result, in bytes of compact JSON, checked on delivery.
    pub max_call_result_bytes: usize,
    /// Maximum journal size per run: the JSON bytes of all call arguments plus all delivered results.
    pub max_journal_bytes: u64,
    /// Maximum console lines per run (replayed segments count too); one more fails the run.
    pub max_log_lines: u64,
    /// Maximum bytes of one console line; longer lines are cut and marked.
    pub max_log_line_bytes: usize,
    /// Maximum console bytes per run (after per-line truncation); more fails the run.
    pub max_log_bytes: u64,
    /// Memory of one worker process in MiB (its live contexts plus the running segment), enforced
    /// with `RLIMIT_AS` above the worker's start-up size. Worker mode only; `None` = unbounded.
    pub task_memory_mb: Option<u64>,
    /// CPU seconds one segment may use, enforced with `RLIMIT_CPU` in the worker and a wall-clock
    /// deadline (twice this plus 5 s) in the host. Worker mode only; `None` = unbounded.
    pub segment_cpu_secs: Option<u64>,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            max_recursion_depth: 512,
            max_stack_size: 10 * 1024,
            max_loop_iterations: 100_000_000,
            instruction_budget: Some(2_000_000_000),
            max_host_calls: 10_000,
            max_call_result_bytes: 4 * 1024 * 1024,
            max_journal_bytes: 32 * 1024 * 1024,
            max_log_lines: 10_000,
            max_log_line_bytes: 16 * 1024,
            max_log_bytes: 4 * 1024 * 1024,
            task_memory_mb: Some(512),
            segment_cpu_secs: Some(20),
        }
    }
}

/// Which limit a run exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// [`SandboxLimits::max_recursion_depth`].
    RecursionDepth,
    /// [`SandboxLimits::max_stack_size`].
    StackSize,
    /// [`SandboxLimits::max_loop_iterations`].
    LoopIterations,
    /// [`SandboxLimits::instruction_budget`].
    InstructionBudget,
    /// [`SandboxLimits::max_host_calls`].
    HostCalls,
    /// [`SandboxLimits::max_call_result_bytes`].
    CallResultBytes,
    /// [`SandboxLimits::max_journal_bytes`].
    JournalBytes,
    /// [`SandboxLimits::max_log_lines`].
    LogLines,
    /// [`SandboxLimits::max_log_bytes`].
    LogBytes,
    /// [`SandboxLimits::task_memory_mb`] (worker mode).
    Memory,
    /// [`SandboxLimits::segment_cpu_secs`] (worker mode).
    SegmentTime,
}

impl LimitKind {
    /// The limit's configuration name, used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::RecursionDepth => "max_recursion_depth",
            LimitKind::StackSize => "max_stack_size",
            LimitKind::LoopIterations => "max_loop_iterations",
            LimitKind::InstructionBudget => "instruction_budget",
            LimitKind::HostCalls => "max_host_calls",
            LimitKind::CallResultBytes => "max_call_result_bytes",
            LimitKind::JournalBytes => "max_journal_bytes",
            LimitKind::LogLines => "max_log_lines",
            LimitKind::LogBytes => "max_log_bytes",
            LimitKind::Memory => "task_memory_mb",
            LimitKind::SegmentTime => "segment_cpu_secs",
        }
    }

    /// The configured value of this limit, for messages.
    pub fn value_in(self, limits: &SandboxLimits) -> String {
        match self {
            LimitKind::RecursionDepth => limits.max_recursion_depth.to_string(),
            LimitKind::StackSize => limits.max_stack_size.to_string(),
            LimitKind::LoopIterations => limits.max_loop_iterations.to_string(),
            LimitKind::InstructionBudget => optional(limits.instruction_budget),
            LimitKind::HostCalls => limits.max_host_calls.to_string(),
            LimitKind::CallResultBytes => limits.max_call_result_bytes.to_string(),
            LimitKind::JournalBytes => limits.max_journal_bytes.to_string(),
            LimitKind::LogLines => limits.max_log_lines.to_string(),
            LimitKind::LogBytes => limits.max_log_bytes.to_string(),
            LimitKind::Memory => optional(limits.task_memory_mb),
            LimitKind::SegmentTime => optional(limits.segment_cpu_secs),
        }
    }
}

fn optional(value: Option<u64>) -> String {
    value.map_or_else(|| "unbounded".to_owned(), |v| v.to_string())
}

impl SandboxLimits {
    /// boa's runtime limits for these settings.
    pub(crate) fn runtime_limits(&self) -> boa_engine::vm::RuntimeLimits {
        let mut limits = boa_engine::vm::RuntimeLimits::default();
        limits.set_recursion_limit(self.max_recursion_depth);
        limits.set_stack_size_limit(self.max_stack_size);
        limits.set_loop_iteration_limit(self.max_loop_iterations);
        limits
    }
}
