//! Shared pieces of the supabase end-to-end tests: fixture tables created directly in the
//! test database (never through the plugin), a host with the plugin configured, chain
//! helpers and the expectation checker the case tables use. Holds no test cases itself.

macro_rules! steps {
    ($([$($x:tt)*]),* $(,)?) => { vec![$(json!([$($x)*])),*] };
}

pub mod forward;
pub mod mutations;
pub mod reads;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use sqlx::Connection;
use tasker_e2e::{Backend, TestDatabase, TestHost};

// ---------------------------------------------------------------- fixtures

const SQLITE_FIXTURE: &[&str] = &[
    "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT NOT NULL, done BOOLEAN NOT NULL DEFAULT 0, priority INTEGER, score REAL, tags JSON, created_at TIMESTAMP)",
    "CREATE TABLE pairs (a INTEGER NOT NULL, b INTEGER NOT NULL, label TEXT, PRIMARY KEY (a, b))",
    "INSERT INTO todos VALUES (1, 'alpha', 0, 3, 1.5, '[\"red\",\"blue\"]', '2024-01-01 10:00:00')",
    "INSERT INTO todos VALUES (2, 'beta', 1, 1, 2.25, '[\"blue\"]', '2024-01-02 11:30:00')",
    "INSERT INTO todos VALUES (3, 'gamma', 0, NULL, NULL, '{\"kind\":\"x\",\"n\":1}', '2024-01-03 00:00:00')",
    "INSERT INTO todos VALUES (4, 'delta', 1, 2, 0.5, '[]', '2024-01-04 00:00:00')",
    "INSERT INTO todos VALUES (5, 'Epsilon', 0, 5, 10, '[\"red\"]', NULL)",
];

const POSTGRES_FIXTURE: &[&str] = &[
    "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT NOT NULL, done BOOLEAN NOT NULL DEFAULT false, priority INTEGER, score DOUBLE PRECISION, tags JSONB, created_at TIMESTAMP)",
    "CREATE TABLE pairs (a INTEGER NOT NULL, b INTEGER NOT NULL, label TEXT, PRIMARY KEY (a, b))",
    "INSERT INTO todos VALUES (1, 'alpha', false, 3, 1.5, '[\"red\",\"blue\"]', '2024-01-01 10:00:00')",
    "INSERT INTO todos VALUES (2, 'beta', true, 1, 2.25, '[\"blue\"]', '2024-01-02 11:30:00')",
    "INSERT INTO todos VALUES (3, 'gamma', false, NULL, NULL, '{\"kind\":\"x\",\"n\":1}', '2024-01-03 00:00:00')",
    "INSERT INTO todos VALUES (4, 'delta', true, 2, 0.5, '[]', '2024-01-04 00:00:00')",
    "INSERT INTO todos VALUES (5, 'Epsilon', false, 5, 10, '[\"red\"]', NULL)",
    "CREATE FUNCTION add_numbers(a integer, b integer) RETURNS integer LANGUAGE sql AS 'SELECT a + b'",
    "CREATE FUNCTION todos_by_done(flag boolean) RETURNS SETOF todos LANGUAGE sql AS 'SELECT * FROM todos WHERE done = flag'",
];

/// Runs SQL directly on the test database (fixtures and raw checks; never through the plugin).
pub fn raw_sql(db: &TestDatabase, backend: Backend, statements: &[&str]) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match backend {
            Backend::Sqlite => {
                let mut conn =
                    sqlx::SqliteConnection::connect(&format!("{}?mode=rwc", db.url())).await?;
                for s in statements {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(s.to_string()))
                        .execute(&mut conn)
                        .await?;
                }
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(db.url()).await?;
                for s in statements {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(s.to_string()))
                        .execute(&mut conn)
                        .await?;
                }
            }
        }
        anyhow::Ok(())
    })
}

pub fn fixture(backend: Backend) -> Result<TestDatabase> {
    let db = TestDatabase::create(backend)?;
    let statements = match backend {
        Backend::Sqlite => SQLITE_FIXTURE,
        Backend::Postgres => POSTGRES_FIXTURE,
    };
    raw_sql(&db, backend, statements).context("creating the fixture tables")?;
    Ok(db)
}

pub fn host(db: &TestDatabase, config: Option<Value>) -> Result<(TestHost, tempfile::TempDir)> {
    // The plugin's database is the fixture database. On SQLite the host keeps its own
    // file: a plugin's copy of SQLite must never share a file with the host's.
    let mut config = config.unwrap_or_else(|| json!({}));
    if config.get("url").is_none() {
        config["databaseUrl"] = json!(db.url());
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("plugins.json");
    std::fs::write(&path, serde_json::to_vec(&json!({ "supabase": config }))?)?;
    let mut builder = TestHost::builder().plugins(&["supabase", "echo_service"]);
    if !db.url().starts_with("sqlite:") {
        builder = builder.database_url(db.url());
    }
    let h = builder
        .args(&["--plugin-config", path.to_str().context("utf-8 path")?])
        .start()?;
    Ok((h, dir))
}

// ---------------------------------------------------------------- chain helpers

/// `[["from", "todos"], ["eq", "id", 1]]` → the chain form.
pub fn chain(steps: &[Value]) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .map(|s| {
            let parts = s.as_array().expect("a step is [property, ...args]");
            json!({ "property": parts[0], "args": parts[1..].to_vec() })
        })
        .collect();
    Value::Array(steps)
}

/// Sends a chain in the original's form (`POST / {"chain": [...]}`).
pub fn send(h: &TestHost, steps: &[Value]) -> Result<tasker_e2e::Reply> {
    h.call("supabase", &json!({ "chain": chain(steps) }))
}

/// The supabase-js response of a successful chain.
pub fn ok(h: &TestHost, steps: &[Value]) -> Result<Value> {
    send(h, steps)?
        .expect_data(200)
        .with_context(|| format!("chain {}", chain(steps)))
}

/// Numbers compare by value (SQLite REAL 10.0 and PostgreSQL 10 are the same row).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

pub fn ids(list: &[i64]) -> Value {
    Value::Array(list.iter().map(|i| json!({ "id": i })).collect())
}

pub enum Expect {
    /// `data` equals this.
    Data(Value),
    /// `data`, `count` and `status`.
    Full(Value, Option<i64>, u16),
    /// HTTP status, host error code, PostgREST/SQLSTATE code in `details.error.code`.
    Error(u16, &'static str, &'static str),
}

pub fn check(h: &TestHost, name: &str, steps: &[Value], expect: &Expect) -> Result<()> {
    let reply = send(h, steps)?;
    match expect {
        Expect::Data(want) => {
            let got = reply.expect_data(200).with_context(|| name.to_owned())?;
            ensure!(got["error"].is_null(), "{name}: error in {got}");
            ensure!(
                same(&got["data"], want),
                "{name}: expected data {want}, got {}",
                got["data"]
            );
        }
        Expect::Full(want, count, status) => {
            let got = reply.expect_data(200).with_context(|| name.to_owned())?;
            ensure!(
                same(&got["data"], want),
                "{name}: expected data {want}, got {}",
                got["data"]
            );
            ensure!(
                got["count"] == json!(count),
                "{name}: expected count {count:?}, got {}",
                got["count"]
            );
            ensure!(
                got["status"] == json!(status),
                "{name}: expected status {status}, got {}",
                got["status"]
            );
        }
        Expect::Error(http, code, pg) => {
            let body = reply
                .expect_error(*http, code)
                .with_context(|| name.to_owned())?;
            let details = &body["details"];
            ensure!(
                details["error"]["code"] == json!(pg),
                "{name}: expected error code {pg}, got {body}"
            );
            ensure!(
                details["data"].is_null() && details["status"].is_u64(),
                "{name}: details are not a supabase-js response: {body}"
            );
        }
    }
    Ok(())
}
