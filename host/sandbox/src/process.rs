//! One sandbox worker process seen from the host: spawning it (empty environment, piped stdio,
//! killed when dropped), the start-up handshake, one request/reply exchange under a wall-clock
//! deadline, and collecting what is known when it dies. Knows nothing of runs or routing.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

use crate::death::Death;
use crate::wire::{Reply, ToWorker, WorkerInit, encode, receive_frame, send_frame};

/// Stderr lines kept to explain a death.
const STDERR_TAIL_LINES: usize = 8;
/// How long a worker may take to start and apply its limits.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for a dead (or killed) worker to be reaped and its stderr to close.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// How to start a worker: `program args...` must end up calling
/// [`crate::serve_worker_process`] (e.g. `tasker-host worker`).
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

/// A running worker process.
pub(crate) struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    stderr_reader: JoinHandle<()>,
    /// Live contexts it reported last.
    pub(crate) live: usize,
}

/// The outcome of an exchange that did not produce a reply.
pub(crate) enum Failed {
    /// The worker is dead (crashed, hit a limit, or was killed on the deadline).
    Died(Death),
    /// The pipe carried something that is not a reply; the worker was killed.
    Protocol(std::io::Error),
}

impl WorkerProcess {
    /// Starts a worker and waits until its limits are in force.
    pub(crate) async fn start(
        command: &WorkerCommand,
        label: String,
        init: &WorkerInit,
    ) -> Result<Self, String> {
        let mut child = Command::new(&command.program)
            .args(&command.args)
            // Nothing secret leaks into the process that runs untrusted code.
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| e.to_string())?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("the worker's pipes are missing".to_owned());
        };
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = stderr_tail.clone();
        let stderr_reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // Worker diagnostics belong in the host's log stream.
                eprintln!("[{label}] {line}");
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                if tail.len() == STDERR_TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let mut process = Self {
            child,
            stdin,
            stdout,
            stderr_tail,
            stderr_reader,
            live: 0,
        };
        let frame = encode(&ToWorker::Init(clone_init(init))).map_err(|e| e.to_string())?;
        match process.exchange(&frame, Some(START_TIMEOUT)).await {
            Ok(Reply { result: Ok(_), .. }) => Ok(process),
            Ok(Reply { result: Err(e), .. }) => Err(crate::Error::from(e).to_string()),
            Err(Failed::Protocol(e)) => Err(e.to_string()),
            Err(Failed::Died(death)) => Err(format!(
                "it died during start-up ({:?}): {}",
                death.status,
                death.stderr_tail.join(" | ")
            )),
        }
    }

    /// Tells the worker to drop ended runs' live contexts (no reply is sent for this).
    pub(crate) async fn forget(&mut self, runs: &[crate::RunId]) -> std::io::Result<()> {
        send_frame(&mut self.stdin, &encode(&ToWorker::Forget(runs.to_vec()))?).await
    }

    /// True when the process has exited (e.g. killed from outside while idle).
    pub(crate) fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends one frame and waits for the reply, killing the worker if `deadline` passes.
    pub(crate) async fn exchange(
        &mut self,
        frame: &[u8],
        deadline: Option<Duration>,
    ) -> Result<Reply, Failed> {
        let round_trip = async {
            send_frame(&mut self.stdin, frame).await?;
            receive_frame::<Reply>(&mut self.stdout).await
        };
        let answer = match deadline {
            Some(limit) => match tokio::time::timeout(limit, round_trip).await {
                Ok(answer) => answer,
                Err(_) => return Err(Failed::Died(self.bury(Some(limit)).await)),
            },
            None => round_trip.await,
        };
        match answer {
            Ok(reply) => {
                self.live = reply.live;
                Ok(reply)
            }
            Err(e) if is_disconnect(&e) => Err(Failed::Died(self.bury(None).await)),
            Err(e) => {
                let _ = self.bury(None).await;
                Err(Failed::Protocol(e))
            }
        }
    }

    /// Kills (if still running) and reaps the worker, then collects its last stderr lines.
    async fn bury(&mut self, deadline: Option<Duration>) -> Death {
        let _ = self.child.start_kill();
        let status = tokio::time::timeout(REAP_TIMEOUT, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        // The reader ends at EOF once the process is gone; its tail then holds the last words.
        let _ = tokio::time::timeout(REAP_TIMEOUT, &mut self.stderr_reader).await;
        let stderr_tail = self
            .stderr_tail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        Death {
            status,
            deadline,
            stderr_tail,
        }
    }
}

fn is_disconnect(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionReset
    )
}

fn clone_init(init: &WorkerInit) -> WorkerInit {
    WorkerInit {
        limits: init.limits.clone(),
        max_live: init.max_live,
    }
}
