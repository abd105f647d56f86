//! A stand-alone sandbox worker process (the same loop as `tasker-host worker`), so the sandbox
//! crate's own tests can exercise the worker mode without the host binary. Serves stdin/stdout only.

fn main() {
    if let Err(error) = tasker_sandbox::serve_worker_process() {
        eprintln!("tasker sandbox worker: {error}");
        std::process::exit(1);
    }
}
