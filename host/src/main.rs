//! The `tasker-host` binary: parses the command line, sets up logging and hands over to
//! the library. No logic lives here.

use anyhow::Context;
use clap::Parser;
use tasker_host::config::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::Worker)) {
        // Before logging and the async runtime: a worker is one JavaScript thread and its pipes.
        return Ok(tasker_sandbox::serve_worker_process()?);
    }
    if let Some(Command::PluginWorker(args)) = &cli.command {
        tasker_host::logging::init(cli.serve.log_format, cli.serve.debug);
        // A plugin worker needs no async runtime: it serves its pipes with plain threads.
        return Ok(tasker_host::plugins::worker::run(args)?);
    }
    // The bench prints a table; its own log lines (echo server, in-process plugin) would
    // only interleave with it. Its hosts log to their own files.
    if !matches!(cli.command, Some(Command::Bench(_))) || cli.serve.debug {
        tasker_host::logging::init(cli.serve.log_format, cli.serve.debug);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = match cli.command {
        None => runtime.block_on(async {
            tasker_host::server::run(cli.serve, tasker_host::shutdown_signal())
                .await
                .map_err(|e| {
                    tracing::error!("start-up failed: {e}");
                    anyhow::anyhow!("{e}")
                })
        }),
        Some(Command::New(args)) => new_plugin(&args),
        Some(Command::Openapi(args)) => Ok(tasker_host::openapi_cmd::run(&args)?),
        Some(Command::Run(args)) => {
            let completed = runtime.block_on(tasker_host::run_cmd::run(&args))?;
            if !completed {
                std::process::exit(1);
            }
            Ok(())
        }
        Some(Command::Keys(keys)) => runtime.block_on(rotate_keys(keys)),
        Some(Command::Bench(args)) => runtime.block_on(tasker_host::bench::run(&args)),
        Some(Command::Cluster(args)) => Ok(runtime.block_on(tasker_host::cluster_cmd::run(&args))?),
        Some(Command::Worker) => Ok(()), // handled above
        Some(Command::Publish(args)) => runtime
            .block_on(tasker_host::publish_cmd::run(&args))
            .map(|_| ()),
        Some(Command::PluginWorker(_)) => Ok(()), // handled above
    };
    // A plugin call abandoned after its timeout may still block a thread of the runtime's
    // blocking pool; dropping the runtime would wait for it forever.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    outcome
}

/// `tasker-host new`: scaffolds a plugin crate and says how to build and load it.
fn new_plugin(args: &tasker_host::config::NewArgs) -> anyhow::Result<()> {
    use tasker_host::scaffold::{PluginApiSource, ScaffoldOptions, library_file_name, scaffold};
    let template = args.template.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let plugin_api = match &args.plugin_api {
        Some(path) => PluginApiSource::Path(path.clone()),
        None => PluginApiSource::for_this_host(),
    };
    let opts = ScaffoldOptions {
        name: args.name.clone(),
        template,
        dir: args.dir.clone(),
        plugin_api,
    };
    let dir = scaffold(&opts)?;
    println!("created {}", dir.display());
    println!("build it:  (cd {} && cargo build --release)", dir.display());
    println!(
        "load it:   cp {}/target/release/{} ./plugins/ && tasker-host --plugins ./plugins",
        dir.display(),
        library_file_name(&args.name)
    );
    Ok(())
}

/// `tasker-host keys rotate`.
async fn rotate_keys(keys: tasker_host::config::KeysArgs) -> anyhow::Result<()> {
    use tasker_host::config::KeysAction;
    use tasker_host::keys_cmd::{KeySource, rotate};
    let KeysAction::Rotate(args) = keys.action;
    let old = match (&args.old_key_file, &args.old_key_text) {
        (Some(file), _) => KeySource::File(file.clone()),
        (None, Some(text)) => KeySource::Text {
            text: text.clone(),
            origin: "TASKER_MASTER_KEY".into(),
        },
        (None, None) => KeySource::File(keystore_vault::default_key_file(&args.database_url)),
    };
    let new = match (&args.new_key_file, &args.generate_new_key_file) {
        (Some(file), _) => KeySource::File(file.clone()),
        (None, Some(file)) => KeySource::NewFile(file.clone()),
        (None, None) => anyhow::bail!("give --new-key-file FILE or --generate-new-key-file FILE"),
    };
    let report = rotate(&args.database_url, &old, &new).await?;
    println!("{report}");
    Ok(())
}
