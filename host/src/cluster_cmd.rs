//! `tasker-host cluster status`: the cluster report read straight from the shared database,
//! so it works when no host answers HTTP (all crashed, or firewalled). Read-only: it never
//! registers itself, claims work or changes a row.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;
use tasker_store::{Store, StoreOptions};

/// Options of `tasker-host cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// What to show.
    #[command(subcommand)]
    pub action: ClusterAction,
}

/// Cluster actions.
#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// Live hosts, their services and leases, queue depth per service, oldest ready item.
    Status(StatusArgs),
}

/// Options of `tasker-host cluster status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The shared database.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://tasker.db")]
    pub database_url: String,
    /// The hosts' lease length: a host silent for longer counts as dead.
    #[arg(long, env = "TASKER_LEASE_SECS", default_value_t = 10)]
    pub lease_secs: u64,
    /// Print the JSON report instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Errors of the command.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The database could not be opened or read.
    #[error("{0}")]
    Store(#[from] tasker_store::Error),
}

/// Prints the report.
pub async fn run(args: &ClusterArgs) -> Result<(), ClusterError> {
    let ClusterAction::Status(status) = &args.action;
    let store = Store::connect(&status.database_url, StoreOptions::default()).await?;
    let report =
        crate::engine::cluster_report(&store, Duration::from_secs(status.lease_secs.max(1)), None)
            .await?;
    store.close().await;
    if status.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// The human-readable form of the report.
pub fn render(report: &Value) -> String {
    let mut out = String::new();
    let empty = Vec::new();
    let hosts = report["hosts"].as_array().unwrap_or(&empty);
    out.push_str(&format!(
        "{} host(s) registered ({} backend)\n",
        hosts.len(),
        report["backend"].as_str().unwrap_or("?")
    ));
    out.push_str(&format!(
        "{:<28} {:<5} {:>9} {:>6} {:>6}  {:<26} services\n",
        "HOST", "LIVE", "HEARTBEAT", "RUNS", "CALLS", "ADDRESS"
    ));
    for h in hosts {
        let services: Vec<&str> = h["services"]
            .as_array()
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<28} {:<5} {:>7}ms {:>6} {:>6}  {:<26} {}\n",
            h["id"].as_str().unwrap_or("?"),
            if h["live"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
            h["heartbeatAgeMs"].as_i64().unwrap_or(0),
            h["leases"]["runs"].as_i64().unwrap_or(0),
            h["leases"]["calls"].as_i64().unwrap_or(0),
            h["address"].as_str().unwrap_or(""),
            services.join(","),
        ));
    }
    if let Some(orphans) = report["orphanedLeases"]
        .as_array()
        .filter(|o| !o.is_empty())
    {
        out.push_str(&format!("leases of unregistered owners: {orphans:?}\n"));
    }
    let queue = &report["queue"];
    out.push_str(&format!(
        "queue: runs {}  calls {}\n",
        queue["runs"], queue["calls"]
    ));
    out.push_str(&format!(
        "pending calls by service: {}  oldest ready: {} ms\n",
        queue["pendingByService"], queue["oldestReadyAgeMs"]
    ));
    if let Some(unserved) = report["unservedServices"]
        .as_array()
        .filter(|u| !u.is_empty())
    {
        out.push_str(&format!(
            "WARNING: no live host serves {}\n",
            unserved
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}
