//! The tables of mutation chains (insert, upsert, update, delete, rollback, maxAffected)
//! and of refusals and injection attempts, with their expected rows or errors.

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use tasker_e2e::{Backend, TestHost};

use super::{Expect, check, fixture, host, ids, ok, same, send};

// ---------------------------------------------------------------- mutations

fn todo_ids(h: &TestHost) -> Result<Vec<i64>> {
    let data = ok(
        h,
        &steps![["from", "todos"], ["select", "id"], ["order", "id"]],
    )?;
    Ok(data["data"]
        .as_array()
        .context("rows")?
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect())
}

pub fn mutations_follow_postgrest_rules(backend: Backend) -> Result<()> {
    let db = fixture(backend)?;
    let (h, _cfg) = host(&db, None)?;
    let cases: Vec<(&str, Vec<Value>, Expect)> = vec![
        (
            "insert without select returns no rows",
            steps![["from", "todos"], ["insert", {"id": 6, "title": "zeta"}]],
            Expect::Full(Value::Null, None, 201),
        ),
        (
            "bulk insert: missing column becomes NULL",
            steps![["from", "todos"], ["insert", [{"id": 10, "title": "k"}, {"id": 11, "title": "l", "done": true}]], ["select", "id,title,done"]],
            Expect::Error(400, "VALIDATION_ERROR", "23502"),
        ),
        (
            "bulk insert with defaults",
            steps![["from", "todos"], ["insert", [{"id": 10, "title": "k"}, {"id": 11, "title": "l", "done": true}], {"defaultToNull": false}], ["select", "id,title,done"]],
            Expect::Full(
                json!([{"id": 10, "title": "k", "done": false}, {"id": 11, "title": "l", "done": true}]),
                None,
                201,
            ),
        ),
        (
            "insert duplicate",
            steps![["from", "todos"], ["insert", {"id": 10, "title": "again"}]],
            Expect::Error(409, "CONFLICT_ERROR", "23505"),
        ),
        (
            "insert unknown column",
            steps![["from", "todos"], ["insert", {"id": 12, "nope": 1}]],
            Expect::Error(400, "VALIDATION_ERROR", "PGRST204"),
        ),
        (
            "insert bad integer",
            steps![["from", "todos"], ["insert", {"id": "twelve", "title": "x"}]],
            Expect::Error(400, "VALIDATION_ERROR", "22P02"),
        ),
        (
            "upsert merges",
            steps![["from", "todos"], ["upsert", {"id": 10, "title": "k2"}], ["select", "id,title"]],
            Expect::Full(json!([{"id": 10, "title": "k2"}]), None, 201),
        ),
        (
            "upsert ignoreDuplicates",
            steps![["from", "todos"], ["upsert", [{"id": 10, "title": "zzz"}, {"id": 12, "title": "m"}], {"ignoreDuplicates": true}], ["select", "id,title"]],
            Expect::Data(json!([{"id": 12, "title": "m"}])),
        ),
        (
            "upsert kept the merged title",
            steps![
                ["from", "todos"],
                ["select", "title"],
                ["eq", "id", 10],
                ["single"]
            ],
            Expect::Data(json!({"title": "k2"})),
        ),
        (
            "upsert composite key 1",
            steps![["from", "pairs"], ["upsert", {"a": 1, "b": 2, "label": "x"}, {"onConflict": "a,b"}]],
            Expect::Full(Value::Null, None, 201),
        ),
        (
            "upsert composite key 2",
            steps![["from", "pairs"], ["upsert", {"a": 1, "b": 2, "label": "y"}, {"onConflict": "a,b"}], ["select", "a,b,label"]],
            Expect::Data(json!([{"a": 1, "b": 2, "label": "y"}])),
        ),
        (
            "one pair only",
            steps![["from", "pairs"], ["select", "*", {"count": "exact", "head": true}]],
            Expect::Full(Value::Null, Some(1), 200),
        ),
        (
            "upsert without a usable constraint",
            steps![["from", "pairs"], ["upsert", {"a": 1, "b": 3}, {"onConflict": "label"}]],
            Expect::Error(400, "VALIDATION_ERROR", "42P10"),
        ),
        (
            "update without select",
            steps![["from", "todos"], ["update", {"priority": 9}], ["eq", "id", 11]],
            Expect::Full(Value::Null, None, 204),
        ),
        (
            "update with select single",
            steps![["from", "todos"], ["update", {"title": "l2"}], ["eq", "id", 11], ["select", "id,title,priority"], ["single"]],
            Expect::Full(json!({"id": 11, "title": "l2", "priority": 9}), None, 200),
        ),
        (
            "update count",
            steps![["from", "todos"], ["update", {"score": 1}, {"count": "exact"}], ["in", "id", [10, 11]]],
            Expect::Full(Value::Null, Some(2), 204),
        ),
        (
            "json and timestamp round trip",
            steps![["from", "todos"], ["insert", {"id": 20, "title": "j", "tags": {"a": [1, 2]}, "created_at": "2024-05-06T07:08:09"}], ["select", "tags,created_at"]],
            Expect::Data(json!([{"tags": {"a": [1, 2]}, "created_at": "2024-05-06T07:08:09"}])),
        ),
        (
            "rollback returns but does not keep",
            steps![["from", "todos"], ["insert", {"id": 30, "title": "ghost"}], ["select", "id"], ["rollback"]],
            Expect::Data(ids(&[30])),
        ),
        (
            "ghost is gone",
            steps![["from", "todos"], ["select", "id"], ["eq", "id", 30]],
            Expect::Data(json!([])),
        ),
        (
            "maxAffected exceeded",
            steps![["from", "todos"], ["update", {"priority": 0}], ["in", "id", [10, 11]], ["maxAffected", 1]],
            Expect::Error(400, "VALIDATION_ERROR", "PGRST124"),
        ),
        (
            "single on a delete of two rows",
            steps![
                ["from", "todos"],
                ["delete"],
                ["in", "id", [10, 11]],
                ["select", "id"],
                ["single"]
            ],
            Expect::Error(400, "VALIDATION_ERROR", "PGRST116"),
        ),
        (
            "both rows survived",
            steps![
                ["from", "todos"],
                ["select", "id,priority"],
                ["in", "id", [10, 11]],
                ["order", "id"]
            ],
            Expect::Data(json!([{"id": 10, "priority": null}, {"id": 11, "priority": 9}])),
        ),
        (
            "bulk delete refused",
            steps![["from", "todos"], ["delete"]],
            Expect::Error(400, "VALIDATION_ERROR", "21000"),
        ),
        (
            "bulk update refused",
            steps![["from", "todos"], ["update", {"done": true}]],
            Expect::Error(400, "VALIDATION_ERROR", "21000"),
        ),
        (
            "delete without select",
            steps![["from", "todos"], ["delete"], ["eq", "id", 12]],
            Expect::Full(Value::Null, None, 204),
        ),
        (
            "delete with select",
            steps![["from", "todos"], ["delete", {"count": "exact"}], ["in", "id", [10, 11]], ["select", "id"]],
            Expect::Full(ids(&[10, 11]), Some(2), 200),
        ),
    ];
    for (name, steps, expect) in &cases {
        check(&h, name, steps, expect)?;
    }
    ensure!(
        todo_ids(&h)? == [1, 2, 3, 4, 5, 6, 20],
        "{:?}",
        todo_ids(&h)?
    );
    Ok(())
}

// ---------------------------------------------------------------- refusals and injection

pub fn refusals_and_injection(backend: Backend) -> Result<()> {
    let db = fixture(backend)?;
    let (h, _cfg) = host(&db, None)?;
    let cases: Vec<(&str, Vec<Value>, Expect)> = vec![
        (
            "unknown column in select",
            steps![["from", "todos"], ["select", "id,nope"]],
            Expect::Error(400, "VALIDATION_ERROR", "42703"),
        ),
        (
            "unknown column in filter",
            steps![["from", "todos"], ["select", "id"], ["eq", "nope", 1]],
            Expect::Error(400, "VALIDATION_ERROR", "42703"),
        ),
        (
            "unknown column in order",
            steps![["from", "todos"], ["select", "id"], ["order", "nope"]],
            Expect::Error(400, "VALIDATION_ERROR", "42703"),
        ),
        (
            "unknown table",
            steps![["from", "nope"], ["select", "*"]],
            Expect::Error(404, "NOT_FOUND_ERROR", "PGRST205"),
        ),
        (
            "internal table",
            steps![["from", "task_runs"], ["select", "*"]],
            Expect::Error(403, "AUTHORIZATION_ERROR", "42501"),
        ),
        (
            "internal table, other case",
            steps![["from", "Stack_Runs"], ["select", "*"]],
            Expect::Error(403, "AUTHORIZATION_ERROR", "42501"),
        ),
        (
            "migrations table",
            steps![["from", "_sqlx_migrations"], ["select", "*"]],
            Expect::Error(403, "AUTHORIZATION_ERROR", "42501"),
        ),
        (
            "unknown chain method",
            steps![["from", "todos"], ["constructor"]],
            Expect::Error(400, "VALIDATION_ERROR", "METHOD_NOT_FOUND"),
        ),
        (
            "chain must start with from",
            steps![["select", "*"]],
            Expect::Error(400, "VALIDATION_ERROR", "INVALID_CHAIN_FORMAT"),
        ),
        (
            "bad or string",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["or", "id.eq.1) OR (1=1"]
            ],
            Expect::Error(400, "VALIDATION_ERROR", "PGRST100"),
        ),
        (
            "injection through a column name",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["eq", "id = 1 OR 1=1 --", 1]
            ],
            Expect::Error(400, "VALIDATION_ERROR", "42703"),
        ),
        (
            "injection through a quoted column name",
            steps![
                ["from", "todos"],
                ["select", "\"id\"\" FROM todos; DROP TABLE todos; --\""]
            ],
            Expect::Error(400, "VALIDATION_ERROR", "42703"),
        ),
        (
            "injection through a table name",
            steps![["from", "todos; DROP TABLE todos"], ["select", "*"]],
            Expect::Error(404, "NOT_FOUND_ERROR", "PGRST205"),
        ),
        (
            "injection through a text value",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["eq", "title", "alpha' OR '1'='1"]
            ],
            Expect::Data(json!([])),
        ),
        (
            "injection through an integer value",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["eq", "id", "1 OR 1=1"]
            ],
            Expect::Error(400, "VALIDATION_ERROR", "22P02"),
        ),
        (
            "injection through an or value",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["or", "title.eq.\"x') OR 1=1 --\""]
            ],
            Expect::Data(json!([])),
        ),
        (
            "injection through a like pattern",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["like", "title", "%' OR '1'='1"]
            ],
            Expect::Data(json!([])),
        ),
    ];
    for (name, steps, expect) in &cases {
        check(&h, name, steps, expect)?;
    }
    // The table is intact and the stored value is exactly what was sent.
    ensure!(todo_ids(&h)? == [1, 2, 3, 4, 5]);
    let nasty = "'); DROP TABLE todos; --";
    ok(
        &h,
        &steps![["from", "todos"], ["insert", {"id": 7, "title": nasty}]],
    )?;
    let back = ok(
        &h,
        &steps![
            ["from", "todos"],
            ["select", "title"],
            ["eq", "id", 7],
            ["single"]
        ],
    )?;
    ensure!(back["data"]["title"] == nasty, "{back}");
    ensure!(todo_ids(&h)?.len() == 6);
    // Backend-specific operators: PostgreSQL runs them, SQLite says clearly it cannot.
    let regex = send(
        &h,
        &steps![
            ["from", "todos"],
            ["select", "id"],
            ["regexMatch", "title", "^[ab]"],
            ["order", "id"]
        ],
    )?;
    let fts = send(
        &h,
        &steps![
            ["from", "todos"],
            ["select", "id"],
            ["textSearch", "title", "gamma"]
        ],
    )?;
    match backend {
        Backend::Sqlite => {
            regex.expect_error(501, "NOT_IMPLEMENTED")?;
            fts.expect_error(501, "NOT_IMPLEMENTED")?;
        }
        Backend::Postgres => {
            ensure!(
                same(&regex.expect_data(200)?["data"], &ids(&[1, 2])),
                "{}",
                regex.text
            );
            ensure!(
                same(&fts.expect_data(200)?["data"], &ids(&[3])),
                "{}",
                fts.text
            );
        }
    }
    Ok(())
}
