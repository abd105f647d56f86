//! The `supabase` plugin (aliases `database`, `wrappedsupabase`) end to end: one table of
//! supabase-js chains run against SQLite and PostgreSQL through the real host and compared
//! with expected rows (every operator and modifier, single/maybeSingle, range bounds,
//! upsert conflicts, mutations with and without `.select()`, refusals, injection attempts),
//! the access configuration, rpc, a task using the service through the engine, and forward
//! mode against a fake PostgREST on 127.0.0.1 that checks the query string.

// `steps!` builds a Vec so that table rows and one-off calls share one macro.
#![allow(clippy::useless_vec)]

#[macro_use]
mod supabase_cases;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use tasker_e2e::{Backend, on_both_backends};

use supabase_cases::mutations::{mutations_follow_postgrest_rules, refusals_and_injection};
use supabase_cases::reads::reads_match_expected_rows;
use supabase_cases::{Expect, chain, check, fixture, host, ids, ok, same};

on_both_backends!(
    reads_match_expected_rows,
    mutations_follow_postgrest_rules,
    refusals_and_injection,
    access_configuration,
    rpc_calls_functions,
    request_forms_and_aliases,
    task_writes_and_queries_rows
);

// ---------------------------------------------------------------- configuration

fn access_configuration(backend: Backend) -> Result<()> {
    let db = fixture(backend)?;
    {
        let config = json!({ "readOnly": true, "tables": { "allow": ["task_functions"], "deny": ["pairs"] } });
        let (h, _cfg) = host(&db, Some(config))?;
        // Only PostgreSQL shares the engine's tables with the plugin; on SQLite the plugin's
        // tables live in their own file, where there is no task_functions to allow.
        if backend == Backend::Postgres {
            check(
                &h,
                "allowed internal table",
                &steps![["from", "task_functions"], ["select", "*", {"count": "exact", "head": true}]],
                &Expect::Full(Value::Null, Some(0), 200),
            )?;
        }
        check(
            &h,
            "other internal table",
            &steps![["from", "task_runs"], ["select", "*"]],
            &Expect::Error(403, "AUTHORIZATION_ERROR", "42501"),
        )?;
        check(
            &h,
            "denied table",
            &steps![["from", "pairs"], ["select", "*"]],
            &Expect::Error(403, "AUTHORIZATION_ERROR", "42501"),
        )?;
        check(
            &h,
            "read-only insert",
            &steps![["from", "todos"], ["insert", {"id": 9, "title": "x"}]],
            &Expect::Error(403, "AUTHORIZATION_ERROR", "25006"),
        )?;
        check(
            &h,
            "reads still work",
            &steps![["from", "todos"], ["select", "id"], ["eq", "id", 1]],
            &Expect::Data(ids(&[1])),
        )?;
    }
    {
        let (h, _cfg) = host(
            &db,
            Some(json!({ "allowUnfilteredMutations": true, "maxRows": 2 })),
        )?;
        check(
            &h,
            "maxRows caps selects",
            &steps![["from", "todos"], ["select", "id"], ["order", "id"]],
            &Expect::Data(ids(&[1, 2])),
        )?;
        check(
            &h,
            "bulk delete allowed",
            &steps![["from", "pairs"], ["delete", {"count": "exact"}]],
            &Expect::Full(Value::Null, Some(0), 204),
        )?;
        check(
            &h,
            "bulk update allowed",
            &steps![["from", "todos"], ["update", {"done": true}, {"count": "exact"}]],
            &Expect::Full(Value::Null, Some(5), 204),
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------- rpc

fn rpc_calls_functions(backend: Backend) -> Result<()> {
    let db = fixture(backend)?;
    let (h, _cfg) = host(&db, None)?;
    match backend {
        Backend::Sqlite => {
            check(
                &h,
                "rpc on SQLite",
                &steps![["rpc", "add_numbers", {"a": 2, "b": 3}]],
                &Expect::Error(501, "NOT_IMPLEMENTED", "0A000"),
            )?;
        }
        Backend::Postgres => {
            check(
                &h,
                "scalar function",
                &steps![["rpc", "add_numbers", {"a": 2, "b": 3}]],
                &Expect::Data(json!(5)),
            )?;
            check(
                &h,
                "set-returning function with filters",
                &steps![["rpc", "todos_by_done", {"flag": true}], ["select", "id"], ["order", "id", {"ascending": false}]],
                &Expect::Data(ids(&[4, 2])),
            )?;
            check(
                &h,
                "filter on its columns",
                &steps![["rpc", "todos_by_done", {"flag": false}], ["select", "id"], ["gt", "id", 1], ["order", "id"]],
                &Expect::Data(ids(&[3, 5])),
            )?;
            check(
                &h,
                "unknown function",
                &steps![["rpc", "nope", {}]],
                &Expect::Error(404, "NOT_FOUND_ERROR", "PGRST202"),
            )?;
            check(
                &h,
                "wrong argument names",
                &steps![["rpc", "add_numbers", {"x": 1}]],
                &Expect::Error(404, "NOT_FOUND_ERROR", "PGRST202"),
            )?;
            let data = h
                .call_method(
                    "supabase",
                    "rpc",
                    &json!({"function": "add_numbers", "args": {"a": 40, "b": 2}}),
                )?
                .expect_data(200)?;
            ensure!(data["data"] == 42, "{data}");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- request forms

fn request_forms_and_aliases(backend: Backend) -> Result<()> {
    let db = fixture(backend)?;
    let (h, _cfg) = host(&db, None)?;
    let c = chain(&steps![
        ["from", "todos"],
        ["select", "id"],
        ["eq", "id", 2]
    ]);
    let expected = ids(&[2]);
    let forms = [
        ("root chain", h.call("supabase", &json!({ "chain": c }))?),
        (
            "method query",
            h.call(
                "supabase",
                &json!({ "method": "query", "args": { "chain": c } }),
            )?,
        ),
        (
            "POST /query",
            h.call_method("supabase", "query", &json!({ "chain": c }))?,
        ),
        (
            "positional",
            h.call("supabase", &json!({ "method": "query", "args": [c] }))?,
        ),
        (
            "gateway alias",
            h.post_json(
                &format!("{}/", h.gateway_service_url("database")),
                &json!({ "chain": c }),
            )?,
        ),
        (
            "gateway wrappedsupabase",
            h.post_json(
                &format!("{}/", h.gateway_service_url("wrappedsupabase")),
                &json!({ "chain": c }),
            )?,
        ),
    ];
    for (name, reply) in forms {
        let data = reply.expect_data(200).with_context(|| name.to_owned())?;
        ensure!(same(&data["data"], &expected), "{name}: {data}");
        ensure!(
            data["error"].is_null() && data["status"] == 200 && data["statusText"] == "OK",
            "{name}: {data}"
        );
    }
    // Convenience methods, including the original registry's positional form.
    let sel = h
        .call(
            "supabase",
            &json!({ "method": "select", "args": ["todos", "id"] }),
        )?
        .expect_data(200)?;
    ensure!(sel["data"].as_array().map(Vec::len) == Some(5), "{sel}");
    let ins = h
        .call_method(
            "supabase",
            "insert",
            &json!({ "table": "todos", "values": {"id": 8, "title": "eta"}, "select": "id,title" }),
        )?
        .expect_data(200)?;
    ensure!(
        ins["data"] == json!([{"id": 8, "title": "eta"}]) && ins["status"] == 201,
        "{ins}"
    );
    let upd = h.call_method("supabase", "update", &json!({ "table": "todos", "values": {"title": "eta2"}, "match": {"id": 8}, "select": true }))?.expect_data(200)?;
    ensure!(upd["data"][0]["title"] == "eta2", "{upd}");
    h.call_method("supabase", "delete", &json!({ "table": "todos" }))?
        .expect_error(400, "VALIDATION_ERROR")?;
    let del = h
        .call_method(
            "supabase",
            "delete",
            &json!({ "table": "todos", "match": {"id": 8}, "select": "id" }),
        )?
        .expect_data(200)?;
    ensure!(del["data"] == ids(&[8]), "{del}");
    let health = h
        .get(&format!("{}/health", h.service_url("supabase")?))?
        .expect_data(200)?;
    ensure!(health["status"] == "healthy", "{health}");
    Ok(())
}

// ---------------------------------------------------------------- through the engine

fn task_writes_and_queries_rows(backend: Backend) -> Result<()> {
    let db = fixture(backend)?;
    let (h, _cfg) = host(&db, None)?;
    let tasks = h.service_url("task-executor")?;
    let code = r#"module.exports = async function({ title }) {
        const q = (chain) => __callHostTool__("database", "query", { chain });
        const inserted = await q([
            { property: "from", args: ["todos"] },
            { property: "insert", args: [{ id: 100, title }] },
            { property: "select", args: ["id,title,done"] },
            { property: "single" },
        ]);
        const open = await q([
            { property: "from", args: ["todos"] },
            { property: "select", args: ["id", { count: "exact" }] },
            { property: "eq", args: ["done", false] },
            { property: "order", args: ["id", { ascending: false }] },
            { property: "limit", args: [2] },
        ]);
        let refused = null;
        try {
            await q([{ property: "from", args: ["task_runs"] }, { property: "select" }]);
        } catch (e) {
            refused = String(e.message || e);
        }
        const viaAlias = await __callHostTool__("wrappedsupabase", "select", ["todos", "title"]);
        return { inserted: inserted.data, status: inserted.status, open: open.data, count: open.count, refused, titles: viaAlias.data.length };
    }"#;
    h.post_json(
        &format!("{tasks}/tasks"),
        &json!({ "name": "db-task", "code": code }),
    )?
    .expect_data(200)?;
    let run = h
        .post_json(
            &format!("{tasks}/execute?wait=60"),
            &json!({ "task_identifier": "db-task", "input": { "title": "from a task" } }),
        )
        .and_then(|reply| reply.expect_data(200))
        .with_context(|| {
            let tree = h
                .get(&format!("{tasks}/runs/1"))
                .map(|r| r.text)
                .unwrap_or_default();
            format!("run 1: {tree}\nhost logs:\n{}", h.logs().text())
        })?;
    ensure!(run["status"] == "completed", "{run:#}");
    let result = &run["result"];
    ensure!(
        result["inserted"] == json!({"id": 100, "title": "from a task", "done": false}),
        "{result}"
    );
    ensure!(
        result["status"] == 201 && result["count"] == 4 && result["titles"] == 6,
        "{result}"
    );
    ensure!(same(&result["open"], &ids(&[100, 5])), "{result}");
    let refused = result["refused"].as_str().unwrap_or_default();
    ensure!(
        refused.contains("permission denied"),
        "the internal table was not refused: {result}"
    );
    // The row is really in the database.
    let back = ok(
        &h,
        &steps![
            ["from", "todos"],
            ["select", "title"],
            ["eq", "id", 100],
            ["single"]
        ],
    )?;
    ensure!(back["data"]["title"] == "from a task", "{back}");
    Ok(())
}
