//! The `keystore` plugin end to end, on SQLite and on PostgreSQL: every operation through
//! every request form and the `wrappedkeystore` alias, real namespaces, values encrypted in
//! the database (the plaintext is not in the raw bytes), a wrong master key as a clear error,
//! key files created with 0600, persistence across a restart, concurrent `setKey` from tasks,
//! and no secret in the host's logs, errors or the run's call tree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use tasker_e2e::{Backend, TestDatabase, TestHost, on_both_backends};

/// Two master keys: hex (64 digits) and base64 of 32 bytes, the two accepted encodings.
const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "H4sIAAAAAAAAA+3BMQEAAADCoPVPbQwfoAAAAAAAAAA=";

/// Where the keystore keeps its table for a host database: the same PostgreSQL database, or
/// a SQLite file next to the host's (`tasker.db` → `tasker-keystore.db`), because two SQLite
/// libraries in one process (the host's and the plugin's) must not open one file.
fn keystore_url(db: &TestDatabase) -> String {
    db.url().replace("/tasker.db", "/tasker-keystore.db")
}

/// The plugin configuration file for a host: `{"keystore": {...}}`.
fn plugin_config(dir: &Path, keystore: Value) -> Result<String> {
    let path = dir.join("plugins.json");
    std::fs::write(&path, json!({ "keystore": keystore }).to_string())?;
    Ok(path.to_str().context("utf-8 path")?.to_owned())
}

/// A host with the keystore (database given explicitly) and echo-service, logging at debug.
fn host_with(db: &TestDatabase, master_key: &str) -> Result<TestHost> {
    let config_dir = tempfile::tempdir()?;
    let config = plugin_config(
        config_dir.path(),
        json!({ "databaseUrl": keystore_url(db) }),
    )?;
    TestHost::builder()
        .plugins(&["keystore", "echo_service"])
        .database_url(db.url())
        .env("TASKER_MASTER_KEY", master_key)
        .args(&["--debug", "--plugin-config", &config])
        .start()
}

/// `POST <keystore>/` with `{"method", "args"}`; returns the data of a success.
fn call(h: &TestHost, method: &str, args: Value) -> Result<Value> {
    h.call("keystore", &json!({ "method": method, "args": args }))?
        .expect_data(200)
        .with_context(|| format!("keystore.{method}"))
}

/// Runs a task to its end (long poll) and returns the run view; it must have completed.
fn run_completed(h: &TestHost, name: &str, input: Value) -> Result<Value> {
    let url = format!("{}/execute?wait=60", h.tasks_url()?);
    let data = h
        .post_json(&url, &json!({ "task_identifier": name, "input": input }))?
        .expect_data(200)
        .with_context(|| format!("running {name}"))?;
    ensure!(
        data["status"] == "completed",
        "run of {name} did not complete: {data:#}"
    );
    Ok(data)
}

/// A value no test output contains by accident.
fn secret(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(7);
    format!("s3cr3t-{label}-{nanos}-Zq9")
}

on_both_backends!(
    every_operation_works,
    every_request_form_and_the_alias_reach_it,
    namespaces_isolate_keys,
    values_are_encrypted_at_rest,
    wrong_master_key_is_a_clear_error,
    values_survive_a_restart,
    key_file_is_created_private_and_reused,
    concurrent_set_key_from_tasks_loses_nothing,
    tasks_read_keys_without_leaking_them,
    the_host_database_is_used_by_default,
);

fn every_operation_works(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host_with(&db, KEY_A)?;
    let value = secret("ops");
    ensure!(call(&h, "listKeys", json!([]))? == json!([]));
    ensure!(call(&h, "listNamespaces", json!([]))? == json!([]));
    ensure!(call(&h, "setKey", json!(["API_TOKEN", value]))? == json!(true));
    ensure!(call(&h, "getKey", json!(["API_TOKEN"]))? == json!(value));
    ensure!(call(&h, "getKey", json!(["API_TOKEN", "global"]))? == json!(value));
    ensure!(call(&h, "hasKey", json!(["API_TOKEN"]))? == json!(true));
    ensure!(call(&h, "hasKey", json!(["NOPE"]))? == json!(false));
    ensure!(call(&h, "setKey", json!(["OTHER", "x", "global"]))? == json!(true));
    ensure!(call(&h, "listKeys", json!([]))? == json!(["API_TOKEN", "OTHER"]));
    ensure!(call(&h, "listKeys", json!(["global"]))? == json!(["API_TOKEN", "OTHER"]));
    ensure!(call(&h, "listNamespaces", json!([]))? == json!(["global"]));

    // Replacing a value keeps one key.
    ensure!(call(&h, "setKey", json!(["OTHER", "y"]))? == json!(true));
    ensure!(call(&h, "getKey", json!(["OTHER"]))? == json!("y"));
    ensure!(call(&h, "listKeys", json!([]))?.as_array().map(Vec::len) == Some(2));

    ensure!(call(&h, "deleteKey", json!(["OTHER"]))? == json!(true));
    ensure!(call(&h, "deleteKey", json!(["OTHER"]))? == json!(false));
    ensure!(call(&h, "listKeys", json!([]))? == json!(["API_TOKEN"]));

    let missing = h.call(
        "keystore",
        &json!({ "method": "getKey", "args": ["OTHER", "global"] }),
    )?;
    missing.expect_error(404, "NOT_FOUND_ERROR")?;
    let message = missing.error_message();
    ensure!(
        message.contains("OTHER") && message.contains("global"),
        "names key and namespace: {message}"
    );

    let time = call(&h, "getServerTime", json!([]))?;
    let iso = time["timestamp"].as_str().context("timestamp")?;
    ensure!(
        iso.len() == 24 && iso.ends_with('Z') && iso.as_bytes()[10] == b'T',
        "{time}"
    );
    let unix_ms = time["unixMs"].as_i64().context("unixMs")?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    ensure!(
        (now_ms - unix_ms).abs() < 600_000,
        "server time is the machine's time: {time}"
    );
    ensure!(time["source"] == "keystore", "{time}");
    Ok(())
}

fn every_request_form_and_the_alias_reach_it(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host_with(&db, KEY_A)?;
    let base = h.service_url("keystore")?;
    // The original's action form, with `key` for the name.
    let set = json!({ "action": "setKey", "namespace": "openai", "key": "OPENAI_API_KEY", "value": "sk-action" });
    ensure!(h.post_json(&format!("{base}/"), &set)?.expect_data(200)? == json!(true));
    let get = json!({ "action": "getKey", "namespace": "openai", "key": "OPENAI_API_KEY" });
    ensure!(h.post_json(&format!("{base}/"), &get)?.expect_data(200)? == json!("sk-action"));
    // The chain form and the direct method route.
    let chain =
        json!({ "chain": [{ "property": "getKey", "args": ["OPENAI_API_KEY", "openai"] }] });
    ensure!(h.post_json(&format!("{base}/"), &chain)?.expect_data(200)? == json!("sk-action"));
    let direct = h.post_json(
        &format!("{base}/hasKey"),
        &json!({ "name": "OPENAI_API_KEY", "namespace": "openai" }),
    )?;
    ensure!(direct.expect_data(200)? == json!(true));
    // The alias, on its own port and through the gateway.
    let via_alias = h.call(
        "wrappedkeystore",
        &json!({ "method": "listKeys", "args": ["openai"] }),
    )?;
    ensure!(via_alias.expect_data(200)? == json!(["OPENAI_API_KEY"]));
    let gateway = h.post_json(
        &format!("{}/", h.gateway_service_url("wrappedkeystore")),
        &get,
    )?;
    ensure!(gateway.expect_data(200)? == json!("sk-action"));

    // A chain reaches only the listed operations (the original let it call anything).
    for chain in [
        json!({ "chain": [{ "property": "callWrappedSupabase", "args": [] }] }),
        json!({ "chain": [{ "property": "vault" }, { "property": "pool", "args": [] }] }),
    ] {
        h.post_json(&format!("{base}/"), &chain)?
            .expect_error(404, "NOT_FOUND_ERROR")?;
    }
    // Rejected arguments never quote the secret back.
    let leaked = "987654321012";
    let bad_value = h.call(
        "keystore",
        &json!({ "method": "setKey", "args": { "name": "PIN", "value": 987654321012u64 } }),
    )?;
    bad_value.expect_error(400, "VALIDATION_ERROR")?;
    ensure!(!bad_value.text.contains(leaked), "{}", bad_value.text);
    let no_name = h.call(
        "keystore",
        &json!({ "method": "setKey", "args": { "value": "hidden-987654321012" } }),
    )?;
    no_name.expect_error(400, "VALIDATION_ERROR")?;
    ensure!(!no_name.text.contains(leaked), "{}", no_name.text);
    Ok(())
}

fn namespaces_isolate_keys(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host_with(&db, KEY_A)?;
    call(&h, "setKey", json!(["TOKEN", "value-in-global"]))?;
    call(&h, "setKey", json!(["TOKEN", "value-in-gapi", "gapi"]))?;
    call(&h, "setKey", json!(["ONLY_GAPI", "g", "gapi"]))?;
    ensure!(call(&h, "getKey", json!(["TOKEN"]))? == json!("value-in-global"));
    ensure!(call(&h, "getKey", json!(["TOKEN", "gapi"]))? == json!("value-in-gapi"));
    ensure!(call(&h, "listKeys", json!(["gapi"]))? == json!(["ONLY_GAPI", "TOKEN"]));
    ensure!(call(&h, "listKeys", json!([]))? == json!(["TOKEN"]));
    ensure!(call(&h, "hasKey", json!(["ONLY_GAPI"]))? == json!(false));
    h.call(
        "keystore",
        &json!({ "method": "getKey", "args": ["ONLY_GAPI"] }),
    )?
    .expect_error(404, "NOT_FOUND_ERROR")?;
    ensure!(call(&h, "listNamespaces", json!([]))? == json!(["gapi", "global"]));
    ensure!(call(&h, "deleteKey", json!(["TOKEN", "gapi"]))? == json!(true));
    ensure!(
        call(&h, "getKey", json!(["TOKEN"]))? == json!("value-in-global"),
        "deleting in gapi left global alone"
    );
    ensure!(call(&h, "deleteKey", json!(["ONLY_GAPI", "gapi"]))? == json!(true));
    ensure!(call(&h, "listNamespaces", json!([]))? == json!(["global"]));
    Ok(())
}

/// Every byte of the SQLite files (the host's and the keystore's, with their write-ahead logs).
fn sqlite_bytes(db: &TestDatabase) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for url in [db.url().to_owned(), keystore_url(db)] {
        let path = PathBuf::from(url.trim_start_matches("sqlite://"));
        bytes.extend(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
        for suffix in ["-wal", "-journal"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            if let Ok(more) = std::fs::read(&side) {
                bytes.extend(more);
            }
        }
    }
    Ok(bytes)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The keystore table of a PostgreSQL database, each row rendered as text (bytea as hex).
fn postgres_rows(db: &TestDatabase) -> Result<Vec<(String, Vec<u8>, String)>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::PgConnection::connect(db.url()).await?;
        let rows =
            sqlx::query("SELECT name, ciphertext, CAST(k AS TEXT) FROM keystore k ORDER BY name")
                .fetch_all(&mut conn)
                .await?;
        let rows = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        conn.close().await?;
        Ok(rows)
    })
}

fn values_are_encrypted_at_rest(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host_with(&db, KEY_A)?;
    let value = secret("at-rest");
    // Stored over HTTP, not from a task: a task's journal keeps call arguments for replay.
    call(&h, "setKey", json!(["AT_REST_PROBE_NAME", value]))?;
    ensure!(call(&h, "getKey", json!(["AT_REST_PROBE_NAME"]))? == json!(value));
    match backend {
        Backend::Sqlite => {
            let bytes = sqlite_bytes(&db)?;
            ensure!(
                contains(&bytes, b"AT_REST_PROBE_NAME"),
                "the row is in the file (names are not secret)"
            );
            ensure!(
                !contains(&bytes, value.as_bytes()),
                "the plaintext value is in the SQLite file"
            );
            h.stop()?;
            let bytes = sqlite_bytes(&db)?;
            ensure!(
                !contains(&bytes, value.as_bytes()),
                "the plaintext value is in the SQLite file after shutdown"
            );
        }
        Backend::Postgres => {
            let rows = postgres_rows(&db)?;
            ensure!(
                rows.len() == 1 && rows[0].0 == "AT_REST_PROBE_NAME",
                "{rows:?}"
            );
            let (_, ciphertext, row_text) = &rows[0];
            ensure!(
                !contains(ciphertext, value.as_bytes()),
                "plaintext in the ciphertext column"
            );
            ensure!(
                !row_text.contains(&value),
                "plaintext in the row: {row_text}"
            );
            let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
            ensure!(
                !row_text.contains(&hex),
                "plaintext (as hex) in the row: {row_text}"
            );
            ensure!(
                ciphertext.len() == value.len() + 16,
                "ciphertext = plaintext length + 16-byte tag"
            );
        }
    }
    Ok(())
}

fn wrong_master_key_is_a_clear_error(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let value = secret("wrong-key");
    let first = host_with(&db, KEY_A)?;
    call(&first, "setKey", json!(["SEALED", value, "vault"]))?;
    first.stop()?;

    let second = host_with(&db, KEY_B)?;
    second.logs().wait_for_line(
        &["1 keystore value(s)", "another master key"],
        std::time::Duration::from_secs(30),
    )?;
    let reply = second.call(
        "keystore",
        &json!({ "method": "getKey", "args": ["SEALED", "vault"] }),
    )?;
    reply.expect_error(503, "CONFIGURATION_ERROR")?;
    let message = reply.error_message();
    ensure!(message.contains("master key does not match"), "{message}");
    ensure!(
        message.contains("SEALED") && message.contains("vault"),
        "{message}"
    );
    ensure!(
        !reply.text.contains(&value),
        "the error never carries the value: {}",
        reply.text
    );
    // Names stay readable; the new key works for new values.
    ensure!(call(&second, "hasKey", json!(["SEALED", "vault"]))? == json!(true));
    ensure!(call(&second, "listKeys", json!(["vault"]))? == json!(["SEALED"]));
    call(
        &second,
        "setKey",
        json!(["FRESH", "new-key-value", "vault"]),
    )?;
    ensure!(call(&second, "getKey", json!(["FRESH", "vault"]))? == json!("new-key-value"));
    ensure!(
        !second.logs().text().contains(&value),
        "no secret in the logs"
    );

    // A master key that is not 32 bytes stops the host at start-up with a clear message.
    let config_dir = tempfile::tempdir()?;
    let config = plugin_config(
        config_dir.path(),
        json!({ "databaseUrl": keystore_url(&db) }),
    )?;
    let failure = TestHost::builder()
        .plugins(&["keystore"])
        .database_url(db.url())
        .env("TASKER_MASTER_KEY", "too-short-to-be-a-key")
        .args(&["--plugin-config", &config])
        .start_expect_failure()?;
    let output = format!("{}{}", failure.stderr, failure.stdout);
    ensure!(output.contains("TASKER_MASTER_KEY"), "{output}");
    ensure!(
        !output.contains("too-short-to-be-a-key"),
        "the bad key is not echoed: {output}"
    );
    Ok(())
}

fn values_survive_a_restart(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let value = secret("restart");
    let first = host_with(&db, KEY_B)?;
    call(&first, "setKey", json!(["KEEP", value, "persist"]))?;
    first.stop()?;
    let second = host_with(&db, KEY_B)?;
    ensure!(call(&second, "getKey", json!(["KEEP", "persist"]))? == json!(value));
    ensure!(call(&second, "listNamespaces", json!([]))? == json!(["persist"]));
    Ok(())
}

/// A host that uses a key file (no `TASKER_MASTER_KEY`): the configured one, or the default.
fn host_with_key_file(
    db: &TestDatabase,
    key_file: Option<&Path>,
    config_dir: &Path,
) -> Result<TestHost> {
    let mut keystore = json!({ "databaseUrl": keystore_url(db) });
    if let Some(key_file) = key_file {
        keystore["masterKeyFile"] = json!(key_file);
    }
    let config = plugin_config(config_dir, keystore)?;
    TestHost::builder()
        .plugins(&["keystore"])
        .database_url(db.url())
        .args(&["--plugin-config", &config])
        .start()
}

fn key_file_is_created_private_and_reused(backend: Backend) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDatabase::create(backend)?;
    let keys = tempfile::tempdir()?;
    // SQLite: the default file next to the database; PostgreSQL: a configured path (the
    // default there is the working directory, which is per test host).
    let (configured, key_file) = match backend {
        Backend::Sqlite => {
            let db_file = PathBuf::from(db.url().trim_start_matches("sqlite://"));
            (
                None,
                db_file
                    .parent()
                    .context("db dir")?
                    .join(".tasker-master-key"),
            )
        }
        Backend::Postgres => {
            let path = keys.path().join("master.key");
            (Some(path.clone()), path)
        }
    };
    let value = secret("key-file");
    let first = host_with_key_file(&db, configured.as_deref(), keys.path())?;
    let mode = std::fs::metadata(&key_file)
        .with_context(|| format!("{} was created", key_file.display()))?
        .permissions()
        .mode();
    ensure!(mode & 0o777 == 0o600, "key file mode is {:o}", mode & 0o777);
    first.logs().wait_for_line(
        &["keystore ready", "created now"],
        std::time::Duration::from_secs(10),
    )?;
    call(&first, "setKey", json!(["FILE_KEYED", value]))?;
    let key_text = std::fs::read_to_string(&key_file)?;
    first.stop()?;

    let second = host_with_key_file(&db, configured.as_deref(), keys.path())?;
    ensure!(call(&second, "getKey", json!(["FILE_KEYED"]))? == json!(value));
    ensure!(
        std::fs::read_to_string(&key_file)? == key_text,
        "the key file is reused, not replaced"
    );
    let encoded = key_text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<String>();
    ensure!(
        !second.logs().text().contains(encoded.trim()),
        "the master key is never logged"
    );
    Ok(())
}

fn concurrent_set_key_from_tasks_loses_nothing(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host_with(&db, KEY_A)?;
    h.register_task(
        "store-mine",
        r#"module.exports = async function({ i }) {
            await __callHostTool__("keystore", "setKey", [`KEY_${i}`, `value-${i}`, "concurrent"]);
            await __callHostTool__("wrappedkeystore", "setKey", ["SHARED", `shared-${i}`, "concurrent"]);
            return await __callHostTool__("keystore", "hasKey", [`KEY_${i}`, "concurrent"]);
        }"#,
    )?;
    const WRITERS: usize = 10;
    let results: Vec<Result<Value>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|i| {
                let h = &h;
                scope.spawn(move || run_completed(h, "store-mine", json!({ "i": i })))
            })
            .collect();
        handles
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| bail!("a writer thread panicked"))
            })
            .collect()
    });
    for result in results {
        let run = result?;
        ensure!(run["result"] == json!(true), "{run:#}");
    }
    let names: BTreeSet<String> =
        serde_json::from_value(call(&h, "listKeys", json!(["concurrent"]))?)?;
    let mut expected: BTreeSet<String> = (0..WRITERS).map(|i| format!("KEY_{i}")).collect();
    expected.insert("SHARED".into());
    ensure!(names == expected, "{names:?}");
    for i in 0..WRITERS {
        ensure!(
            call(&h, "getKey", json!([format!("KEY_{i}"), "concurrent"]))?
                == json!(format!("value-{i}"))
        );
    }
    let shared = call(&h, "getKey", json!(["SHARED", "concurrent"]))?;
    let shared = shared.as_str().context("shared value")?;
    ensure!(
        (0..WRITERS).any(|i| shared == format!("shared-{i}")),
        "{shared}"
    );

    // The same through plain HTTP, many writers of one key at once: no call fails.
    let outcomes: Vec<Result<Value>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let h = &h;
                scope.spawn(move || {
                    call(
                        h,
                        "setKey",
                        json!(["HOT", format!("hot-{i}"), "concurrent"]),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| bail!("a writer thread panicked"))
            })
            .collect()
    });
    for outcome in outcomes {
        ensure!(outcome? == json!(true));
    }
    let hot = call(&h, "getKey", json!(["HOT", "concurrent"]))?;
    ensure!(hot.as_str().is_some_and(|v| v.starts_with("hot-")), "{hot}");
    Ok(())
}

fn tasks_read_keys_without_leaking_them(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = host_with(&db, KEY_A)?;
    let value = secret("task");
    call(&h, "setKey", json!(["OPENAI_API_KEY", value]))?;
    h.register_task(
        "reads-a-secret",
        r#"module.exports = async function() {
            const key = await __callHostTool__("keystore", "getKey", ["OPENAI_API_KEY"]);
            const again = await __callHostTool__("wrappedkeystore", "getKey", ["OPENAI_API_KEY", "global"]);
            const viaTools = await tools.keystore.hasKey({ name: "OPENAI_API_KEY" });
            let missing;
            try { await __callHostTool__("keystore", "getKey", ["NOT_THERE", "global"]); }
            catch (e) { missing = { code: e.code, message: e.message }; }
            console.log("read a key of length", key.length);
            return { length: key.length, same: key === again, has: viaTools, missing };
        }"#,
    )?;
    let run = run_completed(&h, "reads-a-secret", json!({}))?;
    let result = &run["result"];
    ensure!(
        result["length"] == value.len() && result["same"] == true,
        "{run:#}"
    );
    ensure!(
        result["has"] == true || result["has"] == json!([true]),
        "{run:#}"
    );
    ensure!(result["missing"]["code"] == "NOT_FOUND_ERROR", "{run:#}");
    ensure!(
        result["missing"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("NOT_THERE"),
        "{run:#}"
    );

    // The call tree shows the keystore calls with "***" instead of arguments and results.
    let id = run["id"].as_i64().context("run id")?;
    let tree = h
        .get(&format!("{}/runs/{id}", h.tasks_url()?))?
        .expect_data(200)?;
    let calls = tree["calls"].as_array().context("calls")?;
    ensure!(calls.len() >= 3, "{tree:#}");
    ensure!(
        !tree.to_string().contains(&value),
        "the call tree shows the secret: {tree:#}"
    );
    ensure!(calls.iter().any(|c| c["result"] == "***"), "{tree:#}");
    let logs = h
        .get(&format!("{}/logs?task_id={id}", h.tasks_url()?))?
        .expect_data(200)?;
    ensure!(
        logs.to_string().contains("read a key of length"),
        "{logs:#}"
    );

    // The task and its calls are in the debug log, the secret is not (also after shutdown).
    let mut h = h;
    h.terminate()?;
    h.wait_exit(std::time::Duration::from_secs(20))?;
    let text = h.logs().text();
    ensure!(
        text.contains("keystore ready"),
        "the log holds the keystore's lines:\n{text}"
    );
    ensure!(text.contains("DEBUG"), "the host ran with --debug:\n{text}");
    ensure!(
        !text.contains(&value),
        "the secret is in the host's logs:\n{text}"
    );
    Ok(())
}

/// No plugin configuration at all: the keystore finds its database through the host's
/// `--database-url` (passed as `host.databaseUrl`), and its key file next to a SQLite database.
fn the_host_database_is_used_by_default(backend: Backend) -> Result<()> {
    let db = TestDatabase::create(backend)?;
    let h = TestHost::builder()
        .plugins(&["keystore"])
        .database_url(db.url())
        .start()?;
    call(&h, "setKey", json!(["DEFAULTS", "v"]))?;
    h.stop()?;
    match backend {
        Backend::Sqlite => {
            let keystore_file = PathBuf::from(keystore_url(&db).trim_start_matches("sqlite://"));
            ensure!(
                keystore_file.exists(),
                "{} was created",
                keystore_file.display()
            );
            let key_file = keystore_file
                .parent()
                .context("dir")?
                .join(".tasker-master-key");
            ensure!(key_file.exists(), "{} was created", key_file.display());
        }
        Backend::Postgres => {
            let rows = postgres_rows(&db)?;
            ensure!(rows.len() == 1 && rows[0].0 == "DEFAULTS", "{rows:?}");
        }
    }
    Ok(())
}
