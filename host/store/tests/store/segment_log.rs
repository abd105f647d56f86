//! The segment log (migration 0005): segment start times live in `run_segments`, one row per
//! segment, and a database written by an older version keeps its runs' times when migrated.

use tasker_store::testing::TestDatabase;
use tasker_store::{Backend, RunPage, StoreOptions};

/// A database migrated up to 0004 (segment times as a JSON array in the run row), with one run
/// that had three segments and one that never ran, is migrated to the segment log with the
/// same times; the log then grows from there.
async fn json_segment_times_migrate_to_the_log(backend: Backend) -> anyhow::Result<()> {
    let db = TestDatabase::create(backend)
        .await
        .map_err(|e| anyhow::anyhow!("creating the test database: {e}"))?;
    sqlx::any::install_default_drivers();
    let (url, migrator) = match backend {
        Backend::Sqlite => (
            format!("{}?mode=rwc", db.url()),
            sqlx::migrate!("migrations/sqlite"),
        ),
        Backend::Postgres => (db.url().to_owned(), sqlx::migrate!("migrations/postgres")),
    };
    let pool = sqlx::AnyPool::connect(&url).await?;
    migrator.run_to(4, &pool).await?;
    for (name, times) in [("ran", "[5,7,9]"), ("queued", "[]")] {
        sqlx::query(
            "INSERT INTO task_runs (task_name, code_hash, input, status, ready_at, created_at, \
             updated_at, segment_times) VALUES ($1, 'h', '{}', 'suspended', 1, 1, 1, $2)",
        )
        .bind(name)
        .bind(times)
        .execute(&pool)
        .await?;
    }
    pool.close().await;

    let store = db
        .connect(StoreOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("connecting: {e}"))?;
    let runs = store
        .list_runs(RunPage {
            before_id: None,
            limit: 10,
        })
        .await?;
    let by_name = |name: &str| runs.iter().find(|r| r.task_name == name).cloned();
    let ran = by_name("ran").expect("run kept");
    let queued = by_name("queued").expect("run kept");
    assert_eq!((ran.segment_count, ran.last_segment_at), (3, Some(9)));
    assert_eq!(store.segment_times(ran.id).await?, vec![5, 7, 9]);
    assert_eq!((queued.segment_count, queued.last_segment_at), (0, None));
    assert!(store.segment_times(queued.id).await?.is_empty());

    store.append_segment_time(ran.id, 11).await?;
    store.append_segment_time(queued.id, 3).await?;
    assert_eq!(store.segment_times(ran.id).await?, vec![5, 7, 9, 11]);
    assert_eq!(store.segment_times(queued.id).await?, vec![3]);
    let ran = store.get_run(ran.id).await?.expect("run");
    assert_eq!((ran.segment_count, ran.last_segment_at), (4, Some(11)));
    store.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_json_segment_times_migrate_to_the_log() -> anyhow::Result<()> {
    json_segment_times_migrate_to_the_log(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_json_segment_times_migrate_to_the_log() -> anyhow::Result<()> {
    json_segment_times_migrate_to_the_log(Backend::Postgres).await
}
