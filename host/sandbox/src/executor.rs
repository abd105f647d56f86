//! The in-process backend: N dedicated threads, each owning the live runs pinned to it (boa
//! contexts are `!Send`), reached over channels with tokio oneshot replies. No memory or CPU cap
//! beyond the engine's own limits: that is what the worker pool adds.

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::limits::SandboxLimits;
use crate::live::LocalRuns;
use crate::model::{Delivery, RunId, SegmentOutcome, SegmentRequest};

/// Stack size of JavaScript threads: boa recurses natively for some builtins and deep parse trees.
pub(crate) const JS_THREAD_STACK_BYTES: usize = 64 * 1024 * 1024;

enum Command {
    StartOrReplay(Box<SegmentRequest>, oneshot::Sender<Result<SegmentOutcome>>),
    ResumeLive(
        RunId,
        Box<Delivery>,
        oneshot::Sender<Result<Option<SegmentOutcome>>>,
    ),
    Drop(RunId),
    CountLive(oneshot::Sender<usize>),
}

/// Handle to the executor threads; dropping it stops them.
#[derive(Debug)]
pub(crate) struct InProcess {
    senders: Vec<mpsc::Sender<Command>>,
    /// Runs started here and not forgotten since: a superset of the live ones (a thread may
    /// have evicted some), enough to tell the engine where a resume is worth trying.
    started: Mutex<HashSet<RunId>>,
}

impl InProcess {
    /// Starts `threads` executor threads sharing `max_live` live contexts.
    pub(crate) fn new(threads: usize, max_live: usize, limits: SandboxLimits) -> Result<Self> {
        let threads = threads.max(1);
        let per_thread = max_live.div_ceil(threads);
        let limits = Arc::new(limits);
        let mut senders = Vec::with_capacity(threads);
        for index in 0..threads {
            let (sender, receiver) = mpsc::channel();
            let limits = limits.clone();
            thread::Builder::new()
                .name(format!("tasker-sandbox-{index}"))
                .stack_size(JS_THREAD_STACK_BYTES)
                // Built on the thread: live contexts are `!Send`.
                .spawn(move || serve(LocalRuns::new(limits, per_thread), receiver))
                .map_err(|source| Error::SpawnExecutor { index, source })?;
            senders.push(sender);
        }
        Ok(Self {
            senders,
            started: Mutex::new(HashSet::new()),
        })
    }

    pub(crate) async fn start_or_replay(&self, request: SegmentRequest) -> Result<SegmentOutcome> {
        let run_id = request.run_id;
        let (reply, answer) = oneshot::channel();
        self.send(run_id, Command::StartOrReplay(Box::new(request), reply))?;
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run_id);
        answer.await.map_err(|_| Error::ExecutorGone { run_id })?
    }

    pub(crate) async fn resume_live(
        &self,
        run_id: RunId,
        delivery: Delivery,
    ) -> Result<Option<SegmentOutcome>> {
        let (reply, answer) = oneshot::channel();
        self.send(
            run_id,
            Command::ResumeLive(run_id, Box::new(delivery), reply),
        )?;
        answer.await.map_err(|_| Error::ExecutorGone { run_id })?
    }

    /// False when the run certainly has no live context here.
    pub(crate) fn may_be_live(&self, run_id: RunId) -> bool {
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&run_id)
    }

    pub(crate) fn forget(&self, run_id: RunId) {
        self.started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&run_id);
        // A missing thread has no live context to drop.
        let _ = self.send(run_id, Command::Drop(run_id));
    }

    pub(crate) async fn live_count(&self) -> usize {
        let mut total = 0;
        for sender in &self.senders {
            let (reply, answer) = oneshot::channel();
            if sender.send(Command::CountLive(reply)).is_ok() {
                total += answer.await.unwrap_or(0);
            }
        }
        total
    }

    fn send(&self, run_id: RunId, command: Command) -> Result<()> {
        let mut hasher = DefaultHasher::new();
        run_id.hash(&mut hasher);
        let index = (hasher.finish() % self.senders.len() as u64) as usize;
        self.senders[index]
            .send(command)
            .map_err(|_| Error::ExecutorGone { run_id })
    }
}

fn serve(mut runs: LocalRuns, commands: mpsc::Receiver<Command>) {
    loop {
        // Idle: build the next run's context now rather than when it starts.
        let command = match commands.try_recv() {
            Ok(command) => command,
            Err(mpsc::TryRecvError::Disconnected) => return,
            Err(mpsc::TryRecvError::Empty) => {
                runs.prepare_spare();
                match commands.recv() {
                    Ok(command) => command,
                    Err(_) => return,
                }
            }
        };
        match command {
            Command::StartOrReplay(request, reply) => {
                let _ = reply.send(runs.start_or_replay(&request));
            }
            Command::ResumeLive(run_id, delivery, reply) => {
                let _ = reply.send(runs.resume_live(run_id, &delivery));
            }
            Command::Drop(run_id) => runs.forget(run_id),
            Command::CountLive(reply) => {
                let _ = reply.send(runs.live_count());
            }
        }
    }
}
