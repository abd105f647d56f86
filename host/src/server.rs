//! Start-up and shutdown of the HTTP host: discovers plugins, assembles the registry, binds
//! every listener (one per service plus the gateway) before anything is served so a busy
//! port is a clear start-up error, publishes the registry file, prints the start-up table,
//! serves until SIGINT/SIGTERM, then drains and shuts plugins down.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use poem::listener::TcpAcceptor;
use poem::{EndpointExt, Server};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::config::ServeArgs;
use crate::config::{SandboxMode, SyncArg};
use crate::engine::{Engine, EngineConfig};
use crate::http::docs::service_docs;
use crate::http::gateway::gateway_routes;
use crate::http::guard::{Guard, GuardConfig};
use crate::http::middleware::RequestContext;
use crate::http::rate_limit::RateLimiter;
use crate::http::service_routes::{ServiceCtx, service_routes};
use crate::http::slow_client::DeadlineAcceptor;
use crate::plugins::{loader, supervisor};
use crate::registry::{Registry, ServiceEntry};
use crate::registry_file::{self, GatewayListing, ServiceListing};
use crate::services::assemble::{Sources, assemble};
use crate::services::core::CoreService;
use crate::services::names::{SEED_ORDER, seed_offset};
use crate::services::seed_compat::{DirectExecutor, StackProcessor};
use crate::services::tasks::TaskService;
use tasker_sandbox::{Isolation, Sandbox, SandboxConfig, WorkerCommand};
use tasker_store::{Store, StoreOptions, SyncMode};

/// Largest accepted request body by default (8 MiB; `--max-body-bytes`).
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Why the host could not start; every message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Reading the plugins directory failed.
    #[error(transparent)]
    Discovery(#[from] loader::DiscoveryError),
    /// The registry could not be assembled.
    #[error(transparent)]
    Assemble(#[from] crate::services::assemble::AssembleError),
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
    /// A listener could not bind.
    #[error("cannot listen on {addr} for {what}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The service or "the gateway".
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Database(#[from] tasker_store::Error),
    /// The sandbox could not start.
    #[error("cannot start the task sandbox: {0}")]
    Sandbox(#[from] tasker_sandbox::Error),
    /// The registry file could not be written.
    #[error("cannot write the registry file {path}: {source}")]
    RegistryFile {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Runs the host until `shutdown` resolves.
pub async fn run(
    args: ServeArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    if let Some(flag) = args.runtime_flag() {
        tracing::info!(
            "{flag} is accepted for compatibility with the original CLI and ignored: plugins are native libraries"
        );
    }
    // Before anything starts: a host that must not run unprotected does not run at all.
    let tokens = crate::auth::startup::load_tokens(&args).map_err(StartError::Config)?;
    crate::auth::startup::check_bind(args.bind, &tokens, args.insecure_no_auth)
        .map_err(StartError::Config)?;
    let guard_cfg = Arc::new(GuardConfig {
        tokens,
        max_body_bytes: args.max_body_bytes,
        body_timeout: Duration::from_secs(args.body_timeout_secs.max(1)),
        submit_limiter: RateLimiter::new(args.submit_rate_per_sec, args.submit_burst),
    });
    let (registry, engine) = build_host(&args).await?;

    let bound = bind_all(&args, &registry).await?;
    let listing = Arc::new(listings(&args, &registry, &bound));
    registry_file::write(&args.registry_file, &bound.gateway_listing(), &listing).map_err(
        |source| StartError::RegistryFile {
            path: args.registry_file.display().to_string(),
            source,
        },
    )?;
    print_startup_table(&bound, &listing);
    engine.announce(&bound.gateway_listing().url).await;
    crate::auth::startup::announce(args.bind, &guard_cfg.tokens);
    let header_timeout = Duration::from_secs(args.header_timeout_secs.max(1));

    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let grace = Some(Duration::from_secs(args.shutdown_grace_secs));
    let mut servers = tokio::task::JoinSet::new();
    let gateway_acceptor = DeadlineAcceptor::new(bound.gateway.1, header_timeout);
    let gateway_app = gateway_routes(
        registry.clone(),
        engine.clone(),
        listing.clone(),
        args.max_body_bytes,
    )
    .with(Guard::new(
        guard_cfg.clone(),
        Some(gateway_acceptor.table()),
    ))
    .with(RequestContext::new(&args.cors_origin, "gateway"));
    let mut rx = stop_tx.subscribe();
    servers.spawn(
        Server::new_with_acceptor(gateway_acceptor)
            .name("gateway")
            .run_with_graceful_shutdown(
                gateway_app,
                async move {
                    let _ = rx.recv().await;
                },
                grace,
            ),
    );
    for (entry, acceptor) in bound.services {
        let ctx = ServiceCtx {
            docs: Arc::new(service_docs(&entry, "")),
            entry: entry.clone(),
            body_limit: args.max_body_bytes,
        };
        let acceptor = DeadlineAcceptor::new(acceptor, header_timeout);
        let app = service_routes(ctx)
            .with(Guard::new(guard_cfg.clone(), Some(acceptor.table())))
            .with(RequestContext::new(&args.cors_origin, &entry.name));
        let mut rx = stop_tx.subscribe();
        servers.spawn(
            Server::new_with_acceptor(acceptor)
                .name(entry.name.clone())
                .run_with_graceful_shutdown(
                    app,
                    async move {
                        let _ = rx.recv().await;
                    },
                    grace,
                ),
        );
    }

    tokio::select! {
        () = shutdown => tracing::info!("shutdown requested: draining in-flight requests"),
        Some(res) = servers.join_next() => tracing::error!("a listener stopped unexpectedly: {res:?}"),
    }
    let _ = stop_tx.send(());
    while servers.join_next().await.is_some() {}
    engine
        .drain(Duration::from_secs(args.shutdown_grace_secs))
        .await;
    for entry in registry.services() {
        entry.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Discovers plugins, opens the database, assembles the registry and starts the engine:
/// everything but the HTTP listeners (also used by `tasker-host run`).
pub async fn build_host(args: &ServeArgs) -> Result<(Arc<Registry>, Arc<Engine>), StartError> {
    let discovery = if args.isolate_plugins {
        tracing::info!("plugin isolation on: each plugin runs in its own worker process");
        supervisor::discover(&args.plugins, args.max_result_bytes).await?
    } else {
        loader::discover(&args.plugins)?
    };
    for skipped in &discovery.skipped {
        tracing::warn!(file = %skipped.path.display(), "skipping {}: {}", skipped.path.display(), skipped.reason);
    }
    if discovery.plugins.is_empty() {
        tracing::warn!("no plugins found in {}", args.plugins.display());
    }
    let slot = Arc::new(OnceLock::new());
    let engine = start_engine(args).await?;
    let tasks = Arc::new(TaskService::new(engine.clone()));
    let core: Vec<Arc<dyn CoreService>> = vec![
        Arc::new(DirectExecutor::new(engine.clone(), tasks.clone())),
        Arc::new(StackProcessor::new(engine.clone())),
        tasks,
    ];
    let sources = Sources {
        plugins: discovery.plugins,
        core,
        remotes: args.parsed_remotes().map_err(StartError::Config)?,
        selection: args.services.clone(),
        plugin_config: load_plugin_config(args)?,
        default_concurrency: args.plugin_concurrency,
        call_timeout: Duration::from_secs(args.call_timeout_secs.max(1)),
        service_timeouts: service_timeouts(args)?,
        host_facts: serde_json::json!({
            "databaseUrl": args.database_url,
            "version": env!("CARGO_PKG_VERSION"),
        }),
        isolate_plugins: args.isolate_plugins,
        max_result_bytes: args.max_result_bytes,
        max_stuck_calls: args.max_stuck_calls,
    };
    let entries = assemble(sources, slot.clone()).await?;
    let registry = Arc::new(Registry::new(entries));
    let _ = slot.set(Arc::downgrade(&registry));
    engine.start(&registry).await;
    Ok((registry, engine))
}

/// Opens the database (creating and migrating it) and builds the engine.
async fn start_engine(args: &ServeArgs) -> Result<Arc<Engine>, StartError> {
    let sync = match args.sync {
        SyncArg::Normal => SyncMode::Normal,
        SyncArg::Full => SyncMode::Full,
    };
    let options = StoreOptions {
        sync,
        ..StoreOptions::default()
    };
    let store = Store::connect(&args.database_url, options).await?;
    tracing::info!(backend = store.backend().as_str(), "database ready");
    let mut sandbox_cfg = SandboxConfig {
        max_live: args.max_live_tasks.max(1),
        ..SandboxConfig::default()
    };
    sandbox_cfg.limits.max_loop_iterations = args.max_loop_iterations.max(1);
    sandbox_cfg.limits.instruction_budget =
        (args.instruction_budget > 0).then_some(args.instruction_budget);
    sandbox_cfg.limits.max_host_calls = args.max_calls_per_run.max(1);
    if let Some(threads) = args.js_threads {
        sandbox_cfg.threads = threads.max(1);
    }
    sandbox_cfg.limits.task_memory_mb = (args.task_memory_mb > 0).then_some(args.task_memory_mb);
    sandbox_cfg.limits.segment_cpu_secs =
        (args.segment_cpu_secs > 0).then_some(args.segment_cpu_secs);
    if args.sandbox == SandboxMode::Workers {
        let program = std::env::current_exe().map_err(|e| {
            StartError::Config(format!(
                "cannot find this executable for sandbox workers: {e}"
            ))
        })?;
        sandbox_cfg.isolation = Isolation::Workers(WorkerCommand {
            program,
            args: vec!["worker".into()],
        });
        if let Some(workers) = args.sandbox_workers {
            sandbox_cfg.threads = workers.max(1);
        }
    }
    tracing::info!(
        sandbox = ?args.sandbox,
        segments_at_once = sandbox_cfg.threads,
        task_memory_mb = args.task_memory_mb,
        segment_cpu_secs = args.segment_cpu_secs,
        "task sandbox"
    );
    let sandbox = Sandbox::new(sandbox_cfg)?;
    let cfg = EngineConfig {
        lease: Duration::from_secs(args.lease_secs.max(1)),
        renew_interval: args.lease_renew_ms.map_or_else(
            || Duration::from_secs(args.lease_secs.max(1)) / 3,
            Duration::from_millis,
        ),
        poll_interval: Duration::from_millis(args.poll_ms.max(10)),
        unserved_deadline: Duration::from_secs(args.unserved_deadline_secs),
        call_concurrency: args.workers.max(1),
        call_timeout: Duration::from_secs(args.call_timeout_secs.max(1)),
        service_timeouts: service_timeouts(args)?,
        max_attempts: args.max_attempts.max(1),
        retry_base: Duration::from_millis(args.retry_base_ms),
        live_cache: !args.replay_only,
        enforce_run_scopes: args.api_tokens_configured(),
        ..EngineConfig::default()
    };
    let cfg = match &args.host_id {
        Some(id) => EngineConfig {
            owner: id.clone(),
            ..cfg
        },
        None => cfg,
    };
    Ok(Engine::new(store, sandbox, cfg))
}

fn service_timeouts(
    args: &ServeArgs,
) -> Result<std::collections::HashMap<String, Duration>, StartError> {
    Ok(args
        .parsed_service_timeouts()
        .map_err(StartError::Config)?
        .into_iter()
        .map(|(name, secs)| (name, Duration::from_secs(secs)))
        .collect())
}

fn load_plugin_config(args: &ServeArgs) -> Result<BTreeMap<String, Value>, StartError> {
    let Some(path) = &args.plugin_config else {
        return Ok(BTreeMap::new());
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        StartError::Config(format!(
            "cannot read plugin configuration {}: {e}",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        StartError::Config(format!(
            "plugin configuration {} must be a JSON object of objects: {e}",
            path.display()
        ))
    })
}

/// Every listener, bound but not yet serving.
struct Bound {
    ip: IpAddr,
    gateway: (u16, TcpAcceptor),
    services: Vec<(Arc<ServiceEntry>, TcpAcceptor)>,
    ports: BTreeMap<String, u16>,
}

impl Bound {
    fn gateway_listing(&self) -> GatewayListing {
        GatewayListing {
            port: self.gateway.0,
            url: format!("http://{}", SocketAddr::new(self.ip, self.gateway.0)),
        }
    }
}

/// The port a service asks for: the seed's offset for the nine known names, then other
/// services in name order after them; 0 everywhere with `--port 0`.
fn requested_port(base: u16, name: &str, extra_index: usize) -> Result<u16, StartError> {
    if base == 0 {
        return Ok(0);
    }
    let offset = seed_offset(name)
        .map(usize::from)
        .unwrap_or(SEED_ORDER.len() + extra_index);
    u16::try_from(usize::from(base) + offset).map_err(|_| {
        StartError::Config(format!(
            "base port {base} leaves no port for service '{name}'"
        ))
    })
}

async fn bind_one(ip: IpAddr, port: u16, what: &str) -> Result<(u16, TcpAcceptor), StartError> {
    let addr = SocketAddr::new(ip, port);
    let bind_err = |source| StartError::Bind {
        addr,
        what: what.to_owned(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    let actual = listener.local_addr().map_err(bind_err)?.port();
    let acceptor = TcpAcceptor::from_tokio(listener).map_err(bind_err)?;
    Ok((actual, acceptor))
}

async fn bind_all(args: &ServeArgs, registry: &Registry) -> Result<Bound, StartError> {
    let gateway = bind_one(args.bind, args.effective_gateway_port(), "the gateway").await?;
    let mut services = Vec::new();
    let mut ports = BTreeMap::new();
    if !args.single_port {
        let mut extra = 0;
        for entry in registry.services() {
            let port = requested_port(args.port, &entry.name, extra)?;
            if seed_offset(&entry.name).is_none() {
                extra += 1;
            }
            let (actual, acceptor) =
                bind_one(args.bind, port, &format!("service '{}'", entry.name)).await?;
            ports.insert(entry.name.clone(), actual);
            services.push((entry.clone(), acceptor));
        }
    }
    Ok(Bound {
        ip: args.bind,
        gateway,
        services,
        ports,
    })
}

fn listings(args: &ServeArgs, registry: &Registry, bound: &Bound) -> Vec<ServiceListing> {
    let gateway_url = bound.gateway_listing().url;
    registry
        .services()
        .iter()
        .map(|entry| {
            let port = bound.ports.get(&entry.name).copied();
            let url = match port {
                Some(p) => format!("http://{}", SocketAddr::new(args.bind, p)),
                None => format!("{gateway_url}/services/{}", entry.name),
            };
            ServiceListing {
                name: entry.name.clone(),
                port,
                openapi: format!("{url}/openapi.json"),
                url,
                kind: entry.kind,
                version: entry.version().to_owned(),
                file: entry.file.clone(),
                aliases: entry.aliases.clone(),
                methods: entry.manifest.methods.len(),
            }
        })
        .collect()
}

fn print_startup_table(bound: &Bound, listing: &[ServiceListing]) {
    let gateway = bound.gateway_listing();
    let mut table = String::from("\n  SERVICE                  KIND     PORT   FILE\n");
    for s in listing {
        let port = s.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        let file = s
            .file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "(built in)".into());
        let kind = serde_json::to_value(s.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        table.push_str(&format!(
            "  {:<24} {:<8} {:<6} {}\n",
            s.name, kind, port, file
        ));
    }
    table.push_str(&format!(
        "\n  gateway: {}   docs: {}/docs\n",
        gateway.url, gateway.url
    ));
    tracing::info!(
        "tasker-host {} ready with {} services:{table}",
        env!("CARGO_PKG_VERSION"),
        listing.len()
    );
}
