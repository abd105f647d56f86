//! Read helpers, task functions, logs, hosts, and connection behaviour (migrations, in-memory).

use tasker_store::testing::TestDatabase;
use tasker_store::{
    NewFunction, NewHost, NewLog, NewRun, RunPage, StackRunStatus, Store, StoreOptions,
    TaskRunStatus, on_both_backends,
};

use crate::{T0, call, calls, manual_clock, running_run};

async fn task_functions_crud(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let clock = store.clock().clone();
    let mut function = NewFunction {
        name: "hello".to_owned(),
        code: "module.exports = async () => 1".to_owned(),
        description: Some("says hello".to_owned()),
        schema: Some("{\"type\":\"object\"}".to_owned()),
        code_hash: "h1".to_owned(),
    };
    let created = store.upsert_function(&function).await?;
    assert_eq!((created.created_at, created.updated_at), (T0, T0));

    clock.advance(5);
    function.code = "module.exports = async () => 2".to_owned();
    function.code_hash = "h2".to_owned();
    function.description = None;
    let updated = store.upsert_function(&function).await?;
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.created_at, T0);
    assert_eq!(updated.updated_at, T0 + 5);
    assert_eq!(updated.code_hash, "h2");
    assert_eq!(updated.description, None);
    assert_eq!(store.get_function("hello").await?, Some(updated.clone()));

    function.name = "another".to_owned();
    store.upsert_function(&function).await?;
    let names: Vec<String> = store
        .list_functions()
        .await?
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, vec!["another", "hello"]);

    assert!(store.delete_function("hello").await?);
    assert!(!store.delete_function("hello").await?);
    assert_eq!(store.get_function("hello").await?, None);
    Ok(())
}
on_both_backends!(functions, task_functions_crud, manual_clock());

async fn logs_are_numbered_per_run(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let run = running_run(&store, "h").await?;
    let other = running_run(&store, "h").await?;
    let line = |level: &str, message: &str| NewLog {
        level: level.to_owned(),
        message: message.to_owned(),
        at_ms: T0,
    };
    assert_eq!(
        store
            .append_logs(run.id, &[line("log", "a"), line("warn", "b")])
            .await?,
        2
    );
    assert_eq!(store.append_logs(other.id, &[line("log", "x")]).await?, 1);
    assert_eq!(store.append_logs(run.id, &[line("error", "c")]).await?, 3);
    assert_eq!(store.append_logs(run.id, &[]).await?, 3);

    let all = store.read_logs(run.id, 0, 100).await?;
    let seen: Vec<(i64, &str, &str)> = all
        .iter()
        .map(|l| (l.seq, l.level.as_str(), l.message.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![(1, "log", "a"), (2, "warn", "b"), (3, "error", "c")]
    );
    let tail = store.read_logs(run.id, 1, 1).await?;
    assert_eq!(tail.iter().map(|l| l.seq).collect::<Vec<_>>(), vec![2]);
    Ok(())
}
on_both_backends!(logs, logs_are_numbered_per_run, manual_clock());

async fn listing_and_counting(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let clock = store.clock().clone();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            store
                .create_run(&NewRun::new("t", "h", &n.to_string()))
                .await?
                .id,
        );
    }
    let page1 = store
        .list_runs(RunPage {
            limit: 2,
            before_id: None,
        })
        .await?;
    assert_eq!(
        page1.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]]
    );
    let page2 = store
        .list_runs(RunPage {
            limit: 2,
            before_id: Some(page1[1].id),
        })
        .await?;
    assert_eq!(
        page2.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );

    let run = running_run(&store, "h").await?;
    store.enqueue_calls(run.id, &calls(0..3, "echo")).await?;
    store.enqueue_calls(run.id, &[call(3, "gapi")]).await?;
    clock.advance(250);
    assert_eq!(store.oldest_ready_age_ms().await?, Some(250));
    assert_eq!(
        store.pending_calls_by_service().await?,
        vec![("echo".to_owned(), 3), ("gapi".to_owned(), 1)]
    );
    let runs = store.run_counts().await?;
    assert_eq!(runs[&TaskRunStatus::Pending], 5);
    assert_eq!(runs[&TaskRunStatus::Running], 1);
    assert_eq!(runs[&TaskRunStatus::Completed], 0);
    let calls = store.call_counts().await?;
    assert_eq!(calls[&StackRunStatus::Pending], 4);
    assert_eq!(calls[&StackRunStatus::Failed], 0);
    assert_eq!(store.get_run(i64::MAX).await?, None);
    assert!(store.journal(ids[0]).await?.is_empty());
    Ok(())
}
on_both_backends!(listing, listing_and_counting, manual_clock());

async fn hosts_register_and_heartbeat(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    let clock = store.clock().clone();
    let host = NewHost {
        id: "host-1".to_owned(),
        address: "http://127.0.0.1:3000".to_owned(),
        services: vec!["echo".to_owned(), "gapi".to_owned()],
        version: "0.1.0".to_owned(),
    };
    let registered = store.register_host(&host).await?;
    assert_eq!(registered.services, host.services);
    assert_eq!(registered.heartbeat_at, T0);
    store
        .register_host(&NewHost {
            id: "host-2".to_owned(),
            ..host.clone()
        })
        .await?;

    clock.advance(10_000);
    assert!(store.heartbeat_host("host-1").await?);
    assert!(
        store
            .set_host_services("host-1", &["echo".to_owned()])
            .await?
    );
    let alive = store.list_hosts(Some(5_000)).await?;
    assert_eq!(alive.len(), 1);
    assert_eq!(alive[0].services, vec!["echo".to_owned()]);
    assert_eq!(store.list_hosts(None).await?.len(), 2);

    assert!(store.deregister_host("host-2").await?);
    assert!(!store.heartbeat_host("host-2").await?);
    Ok(())
}
on_both_backends!(hosts, hosts_register_and_heartbeat, manual_clock());

async fn reconnecting_keeps_data(store: Store, db: &TestDatabase) -> anyhow::Result<()> {
    let run = store.create_run(&NewRun::new("t", "h", "{}")).await?;
    let second = Store::connect(db.url(), StoreOptions::default()).await?;
    assert_eq!(second.get_run(run.id).await?.map(|r| r.id), Some(run.id));
    second.close().await;
    Ok(())
}
on_both_backends!(reconnect, reconnecting_keeps_data);

#[tokio::test]
async fn in_memory_sqlite_is_one_shared_database() -> anyhow::Result<()> {
    let options = StoreOptions {
        max_connections: 8,
        ..StoreOptions::default()
    };
    let store = Store::connect("sqlite::memory:", options).await?;
    let run = store.create_run(&NewRun::new("t", "h", "{}")).await?;
    // Several concurrent reads would each get their own empty database if the pool had >1 connection.
    let reads = (0..4).map(|_| store.get_run(run.id));
    for read in futures_join(reads).await {
        assert_eq!(read?.map(|r| r.id), Some(run.id));
    }
    Ok(())
}

async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut outputs = Vec::new();
    for future in futures {
        outputs.push(future.await);
    }
    outputs
}

#[tokio::test]
async fn a_new_sqlite_file_is_created_with_wal() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fresh.db");
    let options = StoreOptions {
        sync: tasker_store::SyncMode::Full,
        ..StoreOptions::default()
    };
    let store = Store::connect(&format!("sqlite://{}", path.display()), options).await?;
    assert!(path.exists());
    let mode: String = sqlx_scalar(&store, "PRAGMA journal_mode").await?;
    assert_eq!(mode, "wal");
    let sync: i64 = sqlx_scalar(&store, "PRAGMA synchronous").await?;
    assert_eq!(sync, 2, "FULL");
    let foreign_keys: i64 = sqlx_scalar(&store, "PRAGMA foreign_keys").await?;
    assert_eq!(foreign_keys, 1);
    Ok(())
}

async fn sqlx_scalar<T>(store: &Store, sql: &'static str) -> anyhow::Result<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + Unpin,
{
    Ok(sqlx::query_scalar(sql).fetch_one(store.pool()).await?)
}

async fn notify_reaches_a_listener(store: Store, db: &TestDatabase) -> anyhow::Result<()> {
    if store.backend() == tasker_store::Backend::Sqlite {
        store.notify("tasker_wake", "1").await?; // a no-op that must not fail
        return Ok(());
    }
    let mut listener = sqlx::postgres::PgListener::connect(db.url()).await?;
    listener.listen("tasker_wake").await?;
    store.notify("tasker_wake", "run-7").await?;
    let notification =
        tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv()).await??;
    assert_eq!(notification.payload(), "run-7");
    Ok(())
}
on_both_backends!(notify, notify_reaches_a_listener);

/// PostgreSQL sessions never fall back to scanning a whole table where an index serves (a
/// plan cached while the tables were small would otherwise scan them as they grow).
async fn postgres_sessions_prefer_indexes(store: Store, _db: &TestDatabase) -> anyhow::Result<()> {
    if store.backend() == tasker_store::Backend::Sqlite {
        return Ok(());
    }
    for _ in 0..3 {
        let setting: String = sqlx_scalar(&store, "SHOW enable_seqscan").await?;
        assert_eq!(setting, "off");
    }
    Ok(())
}
on_both_backends!(session_settings, postgres_sessions_prefer_indexes);
