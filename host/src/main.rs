//! The `tasker-host` binary: parses the command line, sets up logging and hands over to
//! the library. No logic lives here.

use anyhow::Context;
use clap::Parser;
use tasker_host::config::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tasker_host::logging::init(cli.serve.log_format, cli.serve.debug);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    match cli.command {
        None => runtime.block_on(async {
            tasker_host::server::run(cli.serve, tasker_host::shutdown_signal()).await.map_err(|e| {
                tracing::error!("start-up failed: {e}");
                anyhow::anyhow!("{e}")
            })
        }),
        Some(Command::New(_)) => anyhow::bail!("`tasker-host new` is not wired in yet"),
        Some(Command::Openapi(_)) => anyhow::bail!("`tasker-host openapi` is not wired in yet"),
    }
}
