//! `tasker-host plugin-worker --plugin FILE` (hidden): the child side of `--isolate-plugins`.
//! Loads one plugin file exactly as the host would, then serves the host's requests from
//! stdin and answers on stdout (see [`super::wire`]); each request runs on its own thread
//! so calls overlap. The plugin's own stdout is redirected to stderr first, so nothing it
//! prints can corrupt the frames. The worker exits when the host closes its stdin.
//! It must not enforce concurrency (the host does) and must not outlive its host.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr, RString};
use serde_json::Value;
use tasker_plugin_api::{
    HostApi, HostApi_TO, LogLevel, PluginError, PluginModuleRef, RPluginError,
};

use super::limits::{self, DEFAULT_MAX_RESULT_BYTES};
use super::loader;
use super::wire::{self, ToHost, ToWorker, WireResult};

/// Longest log line forwarded to the host.
const MAX_LOG_BYTES: usize = 64 * 1024;
/// Largest frame accepted from the host (arguments of one call).
const MAX_REQUEST_BYTES: usize = 512 * 1024 * 1024;

/// Options of the hidden `plugin-worker` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct PluginWorkerArgs {
    /// The plugin file to load and serve.
    #[arg(long)]
    pub plugin: PathBuf,
    /// Largest result accepted from the plugin, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_RESULT_BYTES)]
    pub max_result_bytes: usize,
}

/// Why the worker stopped before serving.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// stdin/stdout could not be set up as the protocol pipes.
    #[error("setting up the worker pipes: {0}")]
    Pipes(std::io::Error),
    /// The first frame could not be written.
    #[error("writing to the host: {0}")]
    Write(std::io::Error),
}

/// The frame writer shared by every thread of the worker.
struct Link {
    out: Mutex<BufWriter<File>>,
    next_host_call: AtomicU64,
    host_calls: Mutex<HashMap<u64, mpsc::Sender<WireResult>>>,
}

impl Link {
    /// Sends one frame. A failed write means the host is gone: exit, as with a closed stdin.
    fn send(&self, message: &ToHost) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if wire::write_frame(&mut *out, message).is_err() {
            std::process::exit(0);
        }
    }
}

/// Runs the worker until the host closes stdin or asks it to shut down.
pub fn run(args: &PluginWorkerArgs) -> Result<(), WorkerError> {
    let (input, output) = take_protocol_pipes().map_err(WorkerError::Pipes)?;
    let link = Arc::new(Link {
        out: Mutex::new(BufWriter::new(output)),
        next_host_call: AtomicU64::new(1),
        host_calls: Mutex::new(HashMap::new()),
    });
    let plugin = match loader::load_plugin(&args.plugin) {
        Ok(plugin) => plugin,
        Err(reason) => {
            let mut out = link.out.lock().unwrap_or_else(|p| p.into_inner());
            return wire::write_frame(&mut *out, &ToHost::Refused { reason })
                .map_err(WorkerError::Write);
        }
    };
    let Some(module) = plugin.module else {
        return Ok(()); // the loader always returns a module in-process
    };
    link.send(&ToHost::Hello {
        manifest: plugin.manifest.clone(),
        pid: std::process::id(),
    });
    let server = Server {
        name: plugin.manifest.name.clone(),
        module,
        link,
        max_result_bytes: args.max_result_bytes,
    };
    server.serve(BufReader::new(input));
    Ok(())
}

/// Moves the protocol onto private copies of stdin/stdout and points the process's own
/// stdout at stderr and its stdin at an empty stream, so plugin code that prints or reads
/// cannot touch the frames.
fn take_protocol_pipes() -> std::io::Result<(File, File)> {
    use std::os::fd::AsFd;
    let input = File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let output = File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    rustix::stdio::dup2_stdout(std::io::stderr())?;
    rustix::stdio::dup2_stdin(File::open("/dev/null")?)?;
    Ok((input, output))
}

struct Server {
    name: String,
    module: PluginModuleRef,
    link: Arc<Link>,
    max_result_bytes: usize,
}

impl Server {
    fn serve(&self, mut input: BufReader<File>) {
        loop {
            let message = match wire::read_frame::<ToWorker>(&mut input, MAX_REQUEST_BYTES) {
                Ok(Some(message)) => message,
                Ok(None) => std::process::exit(0), // the host closed the pipe: it is gone
                Err(e) => {
                    eprintln!("plugin-worker {}: bad frame from the host: {e}", self.name);
                    std::process::exit(2);
                }
            };
            match message {
                ToWorker::HostReply { id, result } => {
                    let waiter = self
                        .link
                        .host_calls
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&id);
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(result);
                    }
                }
                ToWorker::Shutdown { id } => {
                    (self.module.shutdown())();
                    self.link.send(&ToHost::Reply {
                        id,
                        result: Ok(Value::Null),
                    });
                    std::process::exit(0);
                }
                request => self.spawn(request),
            }
        }
    }

    /// Runs one request on its own thread and sends the reply from there.
    fn spawn(&self, request: ToWorker) {
        let module = self.module;
        let link = self.link.clone();
        let name = self.name.clone();
        let max_result_bytes = self.max_result_bytes;
        let spawned = std::thread::Builder::new()
            .name(format!("plugin-{name}"))
            .spawn(move || {
                let (id, result) = handle(&name, module, &link, request, max_result_bytes);
                link.send(&ToHost::Reply {
                    id,
                    result: wire::to_wire(result),
                });
            });
        if let Err(e) = spawned {
            eprintln!("plugin-worker {}: cannot start a thread: {e}", self.name);
        }
    }
}

fn handle(
    name: &str,
    module: PluginModuleRef,
    link: &Arc<Link>,
    request: ToWorker,
    max_result_bytes: usize,
) -> (u64, Result<Value, PluginError>) {
    match request {
        ToWorker::Init { id, config } => {
            let config_text = config.to_string();
            let host = HostApi_TO::from_value(
                WorkerHost {
                    link: link.clone(),
                    config: config_text.clone(),
                },
                TD_Opaque,
            );
            let result = match (module.init())(host, config_text.as_str().into()) {
                RResult::ROk(()) => Ok(Value::Null),
                RResult::RErr(e) => Err(e.into()),
            };
            (id, result)
        }
        ToWorker::Call {
            id,
            method,
            args,
            ctx,
        } => {
            let args = args.to_string();
            let ctx = serde_json::to_string(&ctx).unwrap_or_default();
            let answer = (module.call())(
                method.as_str().into(),
                args.as_str().into(),
                ctx.as_str().into(),
            );
            let result = match answer {
                RResult::ROk(text) => {
                    limits::parse_result(name, &method, text.as_str(), max_result_bytes)
                }
                RResult::RErr(e) => Err(e.into()),
            };
            (id, result)
        }
        ToWorker::Health { id } => {
            let result = match (module.health())() {
                RResult::ROk(text) => Ok(serde_json::from_str(text.as_str())
                    .unwrap_or(Value::String(text.into_string()))),
                RResult::RErr(e) => Err(e.into()),
            };
            (id, result)
        }
        ToWorker::Shutdown { id } | ToWorker::HostReply { id, .. } => (
            id,
            Err(PluginError::internal(
                "request handled by the reader thread",
            )),
        ),
    }
}

/// The `HostApi` a plugin sees inside the worker: forwards over the pipe. Never panics
/// (a panic here would unwind into plugin code).
struct WorkerHost {
    link: Arc<Link>,
    config: String,
}

impl HostApi for WorkerHost {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let mut message = message.as_str();
        if message.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message = &message[..cut];
        }
        self.link.send(&ToHost::Log {
            level: level.into(),
            message: message.to_owned(),
        });
    }

    fn call_service(
        &self,
        service: RStr<'_>,
        method: RStr<'_>,
        args_json: RStr<'_>,
    ) -> RResult<RString, RPluginError> {
        let args: Value = match serde_json::from_str(args_json.as_str()) {
            Ok(args) => args,
            Err(e) => {
                return RResult::RErr(
                    PluginError::validation(format!("call_service arguments are not JSON: {e}"))
                        .into(),
                );
            }
        };
        let id = self.link.next_host_call.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        self.link
            .host_calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        self.link.send(&ToHost::CallService {
            id,
            service: service.as_str().to_owned(),
            method: method.as_str().to_owned(),
            args,
        });
        match rx.recv() {
            Ok(Ok(value)) => RResult::ROk(value.to_string().into()),
            Ok(Err(e)) => RResult::RErr(PluginError::from(e).into()),
            Err(_) => RResult::RErr(PluginError::internal("the host did not answer").into()),
        }
    }

    fn config_json(&self) -> RString {
        // Answered locally: the worker received the configuration with `init`.
        self.config.as_str().into()
    }
}
