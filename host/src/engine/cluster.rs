//! Membership in a cluster of hosts sharing one database: registration and heartbeat in the
//! `hosts` table, cross-host wake-ups from PostgreSQL NOTIFY, the deadline for calls no live
//! host serves, the "why is this run waiting" explanation, and the `/cluster` report.
//!
//! Must not claim or settle work itself beyond failing unserved calls at their deadline: the
//! run and call loops own claiming; this module only wakes them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use tasker_plugin_api::ErrorCode;
use tasker_store::cluster::{CALLS_CHANNEL, ENDED_CHANNEL, Notification, RUNS_CHANNEL};
use tasker_store::{Backend, NewHost, StackRun, StackRunStatus, Store};

use super::journal::error_text;
use super::{Causes, Engine, EngineError};

/// How many unserved calls one deadline check looks at.
const UNSERVED_BATCH: i64 = 200;

impl Engine {
    /// Whether calls are claimed only for the services this host serves. On PostgreSQL several
    /// hosts with different plugin sets share the queue; SQLite has one host, which takes every
    /// call (an unknown service then fails at once instead of waiting for a host).
    pub(super) fn capability_filter(&self) -> bool {
        self.store.backend() == Backend::Postgres
    }

    /// The names (canonical and aliases) this host serves; empty before `start`.
    pub fn served(&self) -> &[String] {
        self.served.get().map_or(&[], |s| s.as_slice())
    }

    pub(super) fn serves(&self, service: &str) -> bool {
        self.served().iter().any(|s| s == service)
    }

    /// This host's registration row.
    fn host_row(&self) -> NewHost {
        NewHost {
            id: self.cfg.owner.clone(),
            address: self
                .address
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            services: self.served().to_vec(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// Registers this host (again, if its row was removed while it was cut off).
    pub(super) async fn register(&self) {
        if let Err(e) = self.store.register_host(&self.host_row()).await {
            tracing::warn!("registering the host failed (will retry): {}", Causes(&e));
        }
    }

    /// Records the gateway address once the listeners are bound.
    pub async fn announce(&self, address: &str) {
        *self.address.lock().unwrap_or_else(|p| p.into_inner()) = address.to_owned();
        if let Err(e) = self.store.set_host_address(&self.cfg.owner, address).await {
            tracing::warn!("recording the host address failed: {}", Causes(&e));
        }
    }

    /// One heartbeat; re-registers when the row is gone.
    pub(super) async fn heartbeat(&self) {
        match self.store.heartbeat_host(&self.cfg.owner).await {
            Ok(true) => {}
            Ok(false) => self.register().await,
            Err(e) => tracing::warn!("host heartbeat failed: {}", Causes(&e)),
        }
    }

    /// Hosts whose heartbeat is within one lease: the live ones (also remembered, so a
    /// wake-up addressed to a dead host is taken by the others).
    async fn live_hosts(&self) -> Result<Vec<tasker_store::HostInfo>, EngineError> {
        let hosts = self
            .store
            .list_hosts(Some(self.cfg.lease.as_millis() as i64))
            .await?;
        *self.live_hosts.lock().unwrap_or_else(|p| p.into_inner()) =
            hosts.iter().map(|h| h.id.clone()).collect();
        Ok(hosts)
    }

    /// Whether `host` was live at the last look (unknown hosts count as dead).
    fn seems_live(&self, host: &str) -> bool {
        self.live_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(host)
    }

    /// Every service name some live host serves (this host's included).
    async fn live_services(&self) -> Result<BTreeSet<String>, EngineError> {
        let mut served: BTreeSet<String> = self.served().iter().cloned().collect();
        for host in self.live_hosts().await? {
            served.extend(host.services);
        }
        Ok(served)
    }

    /// Fails calls that waited longer than the deadline for a host that serves their service.
    pub(super) async fn fail_unserved_calls(&self) -> Result<(), EngineError> {
        if !self.capability_filter() {
            return Ok(());
        }
        let served: Vec<String> = self.live_services().await?.into_iter().collect();
        let waiting = self
            .store
            .pending_calls_outside(&served, UNSERVED_BATCH)
            .await?;
        let now = self.store.clock().now_ms();
        let deadline_ms = self.cfg.unserved_deadline.as_millis() as i64;
        for call in waiting.iter().filter(|c| now - c.created_at >= deadline_ms) {
            // The claim makes exactly one host fail it, even when several check at once.
            let Some(claimed) = self.store.claim_call(call.id, self.lease()).await? else {
                continue;
            };
            let message = format!(
                "no live host serves '{}': the call waited {} s (--unserved-deadline-secs)",
                claimed.service,
                self.cfg.unserved_deadline.as_secs()
            );
            tracing::warn!(
                call_id = claimed.id,
                run_id = claimed.task_run_id,
                "{message}"
            );
            let text = error_text(
                ErrorCode::Configuration.as_str(),
                &message,
                &claimed.service,
                &claimed.method,
            );
            if let tasker_store::CallOutcome::Settled(wake) = self
                .store
                .fail_call(claimed.id, &self.cfg.owner, &text)
                .await?
                && wake.run_status == tasker_store::TaskRunStatus::Resumable
            {
                self.wake_runs.notify_one();
            }
        }
        Ok(())
    }

    /// Why a run is not moving, when the reason is the cluster: its pending calls name services
    /// no live host serves. None when every pending call can be taken.
    pub async fn waiting_reason(&self, calls: &[StackRun]) -> Option<String> {
        if !self.capability_filter() {
            return None;
        }
        let pending: BTreeSet<&str> = calls
            .iter()
            .filter(|c| c.status == StackRunStatus::Pending)
            .map(|c| c.service.as_str())
            .collect();
        if pending.is_empty() {
            return None;
        }
        let served = self.live_services().await.ok()?;
        let missing: Vec<&str> = pending
            .into_iter()
            .filter(|s| !served.contains(*s))
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "waiting for a host that serves {} (fails {} s after the call was made)",
                missing.join(", "),
                self.cfg.unserved_deadline.as_secs()
            )
        })
    }

    /// Listens for NOTIFYs from other hosts (PostgreSQL) and wakes the matching loop; returns at
    /// once on SQLite. Reconnects forever; after a reconnect it wakes everything once, since
    /// notifications may have been missed meanwhile.
    pub(super) async fn listen_loop(self: Arc<Self>) {
        let channels = [CALLS_CHANNEL, RUNS_CHANNEL, ENDED_CHANNEL];
        loop {
            if self.draining.load(Ordering::Relaxed) {
                return;
            }
            let listen =
                tokio::time::timeout(Duration::from_secs(10), self.store.listen(&channels));
            let mut listener = match listen.await {
                Ok(Ok(Some(listener))) => listener,
                Ok(Ok(None)) => return,
                Err(_) => {
                    tracing::warn!("listening for wake-ups timed out (will retry)");
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::warn!("listening for wake-ups failed (will retry): {}", Causes(&e));
                    tokio::time::sleep(self.cfg.poll_interval).await;
                    continue;
                }
            };
            self.wake();
            loop {
                match listener.recv().await {
                    Ok(Some(n)) => self.on_notification(&n),
                    Ok(None) => {
                        tracing::info!("wake-up connection re-established");
                        self.wake();
                    }
                    Err(e) => {
                        tracing::warn!("wake-up connection failed (reconnecting): {}", Causes(&e));
                        break;
                    }
                }
            }
        }
    }

    fn on_notification(&self, n: &Notification) {
        match n.channel.as_str() {
            CALLS_CHANNEL if !self.capability_filter() || self.serves(&n.payload) => {
                self.wake_calls.notify_one();
            }
            // Sticky routing: only the host holding the live context wakes (anyone for '', or
            // when that host is gone: its runs are free to claim).
            RUNS_CHANNEL
                if n.payload.is_empty()
                    || n.payload == self.cfg.owner
                    || !self.seems_live(&n.payload) =>
            {
                self.wake_runs.notify_one();
            }
            ENDED_CHANNEL => {
                if let Ok(run_id) = n.payload.parse::<i64>() {
                    self.notify_ended(run_id);
                }
            }
            _ => {}
        }
    }

    /// The `/cluster` report, seen from this host.
    pub async fn cluster_report(&self) -> Result<Value, EngineError> {
        Ok(cluster_report(&self.store, self.cfg.lease, Some(&self.cfg.owner)).await?)
    }
}

/// The cluster report from the database alone (also used by `tasker-host cluster status`):
/// hosts with their services and leases, hosts counted live when their heartbeat is within
/// `lease`, queue depth per service, the oldest ready item and services no live host serves.
pub async fn cluster_report(
    store: &Store,
    lease: Duration,
    self_id: Option<&str>,
) -> Result<Value, tasker_store::Error> {
    let now = store.clock().now_ms();
    let hosts = store.list_hosts(None).await?;
    let leases = store.held_leases().await?;
    let live_ms = lease.as_millis() as i64;
    let mut served = BTreeSet::new();
    let host_views: Vec<Value> = hosts
        .iter()
        .map(|h| {
            let live = now - h.heartbeat_at <= live_ms;
            if live {
                served.extend(h.services.iter().cloned());
            }
            let held = leases.iter().find(|l| l.owner == h.id);
            json!({
                "id": h.id,
                "self": Some(h.id.as_str()) == self_id,
                "address": h.address,
                "version": h.version,
                "live": live,
                "startedAt": crate::services::views::iso(h.started_at),
                "heartbeatAgeMs": now - h.heartbeat_at,
                "services": h.services,
                "leases": {
                    "runs": held.map_or(0, |l| l.runs),
                    "calls": held.map_or(0, |l| l.calls),
                },
            })
        })
        .collect();
    // Leases of owners missing from the table (a crashed host that was removed) still count.
    let orphaned: Vec<Value> = leases
        .iter()
        .filter(|l| !hosts.iter().any(|h| h.id == l.owner))
        .map(|l| json!({ "owner": l.owner, "runs": l.runs, "calls": l.calls }))
        .collect();
    let queue = queue_report(store).await?;
    let unserved: Vec<String> = queue
        .get("pendingByService")
        .and_then(Value::as_object)
        .map(|m| m.keys().filter(|s| !served.contains(*s)).cloned().collect())
        .unwrap_or_default();
    Ok(json!({
        "self": self_id,
        "backend": store.backend().as_str(),
        "leaseMs": live_ms,
        "hosts": host_views,
        "orphanedLeases": orphaned,
        "queue": queue,
        "unservedServices": unserved,
    }))
}

/// Counts of runs and calls by status, pending calls per service, the oldest ready call's age.
pub async fn queue_report(store: &Store) -> Result<Value, tasker_store::Error> {
    let runs = store.run_counts().await?;
    let calls = store.call_counts().await?;
    let by_service = store.pending_calls_by_service().await?;
    let oldest = store.oldest_ready_age_ms().await?;
    let counts = |pairs: Vec<(&str, i64)>| {
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect::<serde_json::Map<_, _>>()
    };
    Ok(json!({
        "runs": counts(runs.iter().map(|(k, v)| (k.as_str(), *v)).collect()),
        "calls": counts(calls.iter().map(|(k, v)| (k.as_str(), *v)).collect()),
        "pendingByService": counts(by_service.iter().map(|(k, v)| (k.as_str(), *v)).collect()),
        "oldestReadyAgeMs": oldest,
    }))
}
