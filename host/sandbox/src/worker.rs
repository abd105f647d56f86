//! The worker-process side of the worker mode (`tasker-host worker`): reads requests from stdin,
//! runs them on one JavaScript thread that keeps this worker's live contexts, writes replies to
//! stdout. Applies its own OS limits (memory, CPU per segment, no core files) once configured.
//! Must never write anything but frames to stdout; diagnostics go to stderr.

use std::io::{BufReader, BufWriter};
use std::sync::Arc;
use std::thread;

use crate::error::{Error, Result};
use crate::executor::JS_THREAD_STACK_BYTES;
use crate::live::LocalRuns;
use crate::model::SegmentRequest;
use crate::os_limits;
use crate::wire::{Op, Reply, ToWorker, WireError, WorkerInit, read_frame, write_frame};

/// Serves the host over stdin/stdout until stdin closes. The entry point of `tasker-host worker`.
pub fn serve_worker_process() -> Result<()> {
    let js_thread = thread::Builder::new()
        .name("tasker-sandbox-worker".into())
        .stack_size(JS_THREAD_STACK_BYTES)
        .spawn(serve_stdio)
        .map_err(|source| Error::WorkerPipe {
            step: "starting the JavaScript thread",
            source,
        })?;
    js_thread
        .join()
        .map_err(|_| Error::Worker("the worker's JavaScript thread panicked".into()))?
}

fn serve_stdio() -> Result<()> {
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = BufWriter::new(std::io::stdout().lock());
    let pipe = |step| move |source| Error::WorkerPipe { step, source };
    let Some(ToWorker::Init(init)) = read_frame(&mut input).map_err(pipe("reading init"))? else {
        return Err(Error::Worker("the first message was not Init".into()));
    };
    let (mut runs, started) = start(init);
    let ready = Reply {
        live: 0,
        result: started.map(|()| None).map_err(WireError::from),
    };
    write_frame(&mut output, &ready).map_err(pipe("writing ready"))?;
    while let Some(message) = read_frame::<ToWorker>(&mut input).map_err(pipe("reading"))? {
        let op = match message {
            ToWorker::Run(op) => op,
            ToWorker::Forget(ended) => {
                for run_id in ended {
                    runs.forget(run_id);
                }
                continue;
            }
            ToWorker::Init(_) => return Err(Error::Worker("Init sent twice".into())),
        };
        let result = match op {
            Op::StartOrReplay(request) => {
                runs.allow_segment_cpu();
                runs.inner.start_or_replay(&request).map(Some)
            }
            Op::ResumeLive { run_id, delivery } => {
                runs.allow_segment_cpu();
                runs.inner.resume_live(run_id, &delivery)
            }
            Op::CountLive => Ok(None),
        };
        let reply = Reply {
            live: runs.inner.live_count(),
            result: result.map_err(WireError::from),
        };
        write_frame(&mut output, &reply).map_err(pipe("writing a reply"))?;
        // Between requests (the host is busy with the reply): build the next run's context.
        // Skipped while another request is already buffered, so it does not wait for this.
        if input.buffer().is_empty() {
            runs.inner.prepare_spare();
        }
    }
    Ok(())
}

/// The worker's runs plus the CPU allowance per segment.
struct WorkerRuns {
    inner: LocalRuns,
    segment_cpu_secs: Option<u64>,
}

impl WorkerRuns {
    fn forget(&mut self, run_id: crate::RunId) {
        self.inner.forget(run_id);
    }

    fn allow_segment_cpu(&self) {
        if let Some(secs) = self.segment_cpu_secs
            && let Err(error) = os_limits::allow_cpu_seconds(secs)
        {
            eprintln!("tasker sandbox worker: cannot set the CPU limit: {error}");
        }
    }
}

/// Warms up, then applies the OS limits. The warm-up runs one tiny task first so that lazily
/// created state (allocator arena, engine statics) counts as start-up size, not as task memory.
fn start(init: WorkerInit) -> (WorkerRuns, Result<()>) {
    let limits = Arc::new(init.limits);
    let mut runs = WorkerRuns {
        inner: LocalRuns::new(limits.clone(), init.max_live),
        segment_cpu_secs: limits.segment_cpu_secs,
    };
    let warm_up = SegmentRequest {
        run_id: -1,
        task_name: "worker-warm-up".into(),
        code: Arc::from(
            "module.exports = async (x) => JSON.stringify([x, Date.now(), Math.random()]);",
        ),
        input: serde_json::Value::Null,
        seed: 0,
        start_time_ms: 0,
        issued: Vec::new(),
        deliveries: Vec::new(),
    };
    if let Err(error) = runs.inner.start_or_replay(&warm_up) {
        return (runs, Err(error));
    }
    if let Err(error) = os_limits::disable_core_dumps() {
        eprintln!("tasker sandbox worker: cannot disable core dumps: {error}");
    }
    if let Some(mb) = limits.task_memory_mb
        && let Err(error) = os_limits::cap_address_space(mb)
    {
        let message = format!("cannot apply the {mb} MB memory limit (RLIMIT_AS): {error}");
        return (runs, Err(Error::Worker(message)));
    }
    (runs, Ok(()))
}
