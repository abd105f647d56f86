//! A task that uses both bundled database plugins through the engine: reads a secret from
//! the keystore, writes rows through the database plugin and queries them back. On SQLite
//! the database plugin's default file is the host database's sibling (`tasker-data.db`).

use anyhow::{Context, Result, ensure};
use serde_json::json;
use sqlx::Connection;
use tasker_e2e::{Backend, TestDatabase, TestHost};

const MASTER_KEY: &str = "7f1c2b3a4d5e6f708192a3b4c5d6e7f80112233445566778899aabbccddeeff0";

fn create_table(url: &str, backend: Backend) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let ddl =
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, body TEXT NOT NULL)";
        match backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc")).await?;
                sqlx::raw_sql(ddl).execute(&mut conn).await?;
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(url).await?;
                sqlx::raw_sql(ddl).execute(&mut conn).await?;
            }
        }
        anyhow::Ok(())
    })
}

fn task_uses_keystore_and_database(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let data_url = match backend {
        Backend::Sqlite => db.url().replace("tasker.db", "tasker-data.db"),
        Backend::Postgres => db.url().to_owned(),
    };
    create_table(&data_url, backend)?;
    let h = TestHost::builder()
        .plugins(&["keystore", "supabase"])
        .database_url(db.url())
        .env("TASKER_MASTER_KEY", MASTER_KEY)
        .start()?;
    h.call_method(
        "keystore",
        "setKey",
        &json!({ "name": "OWNER", "value": "ada", "namespace": "app" }),
    )?
    .expect_data(200)?;
    let tasks = h.service_url("task-executor")?;
    let code = r#"module.exports = async function({ notes }) {
        const owner = await __callHostTool__("keystore", "getKey", ["OWNER", "app"]);
        for (let i = 0; i < notes.length; i++) {
            await __callHostTool__("database", "query", { chain: [
                { property: "from", args: ["notes"] },
                { property: "insert", args: [{ id: i + 1, owner, body: notes[i] }] },
            ] });
        }
        const read = await __callHostTool__("database", "query", { chain: [
            { property: "from", args: ["notes"] },
            { property: "select", args: ["body"] },
            { property: "eq", args: ["owner", owner] },
            { property: "order", args: ["id", { ascending: true }] },
        ] });
        return { owner, bodies: read.data.map(r => r.body) };
    }"#;
    h.post_json(
        &format!("{tasks}/tasks"),
        &json!({ "name": "notes", "code": code }),
    )?
    .expect_data(200)?;
    let run = h
        .post_json(
            &format!("{tasks}/execute?wait=60"),
            &json!({ "task_identifier": "notes", "input": { "notes": ["one", "two"] } }),
        )?
        .expect_data(200)?;
    ensure!(run["status"] == "completed", "{run:#}");
    ensure!(
        run["result"] == json!({ "owner": "ada", "bodies": ["one", "two"] }),
        "{run:#}"
    );
    // The secret shows as *** in the call tree.
    let tree = h
        .get(&format!(
            "{tasks}/runs/{}",
            run["id"].as_i64().context("id")?
        ))?
        .expect_data(200)?;
    ensure!(tree["calls"][0]["result"] == "***", "{tree:#}");
    Ok(())
}

#[test]
fn sqlite_task_uses_keystore_and_database() -> Result<()> {
    task_uses_keystore_and_database(Backend::Sqlite)
}

#[test]
fn postgres_task_uses_keystore_and_database() -> Result<()> {
    task_uses_keystore_and_database(Backend::Postgres)
}
