//! Property tests for the chain-to-SQL translator: random supabase-js chains (valid and
//! hostile table names, column names, operators, values and builder steps) are either
//! refused with a client error or planned into SQL whose identifiers come from the schema
//! and whose values are all bound parameters (no value text ever appears in the SQL, for
//! SQLite and PostgreSQL); planned chains are then run on a real SQLite file and must not
//! hit a SQL error. Tests only; `PROPTEST_CASES` raises the case count for longer runs.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use supabase::chain::parse_chain;
use supabase::config::Config;
use supabase::query::{Query, QueryTarget};
use supabase::response::Failure;
use supabase::runner::Database;
use supabase::schema::{Column, Kind, Table};
use supabase::sql::{self, Dialect};

/// Every value string the generator makes carries this; SQL text must never contain it.
const MARKER: &str = "QZX";

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const CREATE: &str = r#"CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    score REAL,
    done BOOLEAN,
    meta JSON,
    created TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    "na""me" TEXT
)"#;

/// The `items` table as the planner sees it (kinds as the SQLite loader classifies them).
fn items_table(dialect: Dialect) -> Table {
    let column = |name: &str, kind: Kind, pg: &str| Column {
        name: name.to_owned(),
        kind,
        pg_cast: match dialect {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres => format!("\"pg_catalog\".\"{pg}\""),
        },
    };
    Table {
        name: "items".into(),
        schema: match dialect {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres => "public".into(),
        },
        columns: vec![
            column("id", Kind::Integer, "int8"),
            column("name", Kind::Text, "text"),
            column("score", Kind::Float, "float8"),
            column("done", Kind::Boolean, "bool"),
            column("meta", Kind::Json, "jsonb"),
            column("created", Kind::Timestamp, "timestamptz"),
            column("na\"me", Kind::Text, "text"),
        ],
        primary_key: vec!["id".into()],
    }
}

fn table_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just("items".to_owned()),
        1 => Just("ITEMS".to_owned()),
        1 => Just("missing".to_owned()),
        1 => Just("task_runs".to_owned()),
        1 => Just("items\"; DROP TABLE items; --".to_owned()),
        1 => Just(String::new()),
    ]
}

fn column_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(vec!["id", "name", "score", "done", "meta", "created", "na\"me"])
            .prop_map(str::to_owned),
        1 => Just("nope".to_owned()),
        1 => Just("\"id\"".to_owned()),
        1 => Just("id) OR 1=1 --".to_owned()),
        1 => Just("*".to_owned()),
    ]
}

/// A string value: always marked, sometimes shaped like a number, date or SQL.
fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z %_*.,()']{0,6}".prop_map(|s| format!("{MARKER}{s}")),
        (0u32..1000).prop_map(|n| format!("{n}{MARKER}")),
        Just(format!("'; DROP TABLE items; -- {MARKER}")),
        Just(format!("2024-01-02 03:04:05{MARKER}")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        text_value().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,3}", inner), 0..3)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn row() -> impl Strategy<Value = Value> {
    prop::collection::vec((column_name(), json_value()), 0..4)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>()))
}

fn select_list() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("*")),
        Just(json!("id,name")),
        Just(json!(" id , label : score")),
        Just(json!("\"na\"\"me\", done")),
        Just(json!("author(name)")),
        Just(json!("meta->a")),
        Just(json!("nope")),
        "[a-z*,:\" ()]{0,10}".prop_map(Value::String),
        Just(json!(7)),
    ]
}

fn operator() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "eq",
        "neq",
        "gt",
        "gte",
        "lt",
        "lte",
        "like",
        "ilike",
        "is",
        "in",
        "cs",
        "cd",
        "ov",
        "fts",
        "plfts",
        "match",
        "imatch",
        "isdistinct",
        "not.eq",
        "bogus",
        "",
    ])
    .prop_map(str::to_owned)
}

/// A PostgREST logic string for `or()`: `col.op.value` terms, sometimes nested.
fn logic_string() -> impl Strategy<Value = String> {
    let term =
        (column_name(), operator(), text_value()).prop_map(|(c, o, v)| format!("{c}.{o}.{v}"));
    prop::collection::vec(term, 0..4).prop_flat_map(|terms| {
        let joined = terms.join(",");
        prop_oneof![
            Just(joined.clone()),
            Just(format!("and({joined}),id.eq.1")),
            Just(format!("not.and({joined})")),
            Just(format!("{joined})(")),
        ]
    })
}

fn step(property: &str, args: Vec<Value>) -> Value {
    json!({"property": property, "args": args})
}

/// One builder step after `from()`.
fn later_step() -> impl Strategy<Value = Value> {
    let filter_name = prop::sample::select(vec![
        "eq",
        "neq",
        "gt",
        "gte",
        "lt",
        "lte",
        "like",
        "ilike",
        "isDistinct",
        "contains",
        "containedBy",
        "overlaps",
    ]);
    let count = prop::sample::select(vec![json!(null), json!("exact"), json!("bogus")]);
    prop_oneof![
        (select_list(), count.clone(), any::<bool>()).prop_map(|(list, count, head)| {
            step("select", vec![list, json!({"count": count, "head": head})])
        }),
        (prop::collection::vec(row(), 0..3), any::<bool>()).prop_map(|(rows, one)| step(
            "insert",
            vec![if one && !rows.is_empty() {
                rows[0].clone()
            } else {
                Value::Array(rows)
            }]
        )),
        (
            prop::collection::vec(row(), 1..3),
            prop::sample::select(vec![json!(null), json!("id"), json!("name"), json!("nope")]),
            any::<bool>()
        )
            .prop_map(|(rows, on, ignore)| step(
                "upsert",
                vec![
                    Value::Array(rows),
                    json!({"onConflict": on, "ignoreDuplicates": ignore})
                ]
            )),
        row().prop_map(|values| step("update", vec![values])),
        count.prop_map(|count| step("delete", vec![json!({"count": count})])),
        (filter_name, column_name(), json_value())
            .prop_map(|(name, col, value)| step(name, vec![json!(col), value])),
        (column_name(), prop::collection::vec(json_value(), 0..4))
            .prop_map(|(col, values)| step("in", vec![json!(col), Value::Array(values)])),
        (
            column_name(),
            prop::sample::select(vec![
                json!(null),
                json!(true),
                json!("not_null"),
                json!("unknown"),
                json!(3)
            ])
        )
            .prop_map(|(col, v)| step("is", vec![json!(col), v])),
        (column_name(), prop::collection::vec(text_value(), 0..3))
            .prop_map(|(col, p)| step("likeAnyOf", vec![json!(col), json!(p)])),
        (column_name(), text_value())
            .prop_map(|(col, p)| step("regexMatch", vec![json!(col), json!(p)])),
        (column_name(), text_value()).prop_map(|(col, q)| step(
            "textSearch",
            vec![json!(col), json!(q), json!({"type": "websearch"})]
        )),
        prop::collection::vec((column_name(), json_value()), 0..3)
            .prop_map(|pairs| step("match", vec![Value::Object(pairs.into_iter().collect())])),
        (any::<bool>(), column_name(), operator(), json_value()).prop_map(
            |(not, col, op, v)| step(
                if not { "not" } else { "filter" },
                vec![json!(col), json!(op), v]
            )
        ),
        logic_string().prop_map(|text| step("or", vec![json!(text)])),
        (
            column_name(),
            any::<bool>(),
            prop::option::of(any::<bool>())
        )
            .prop_map(|(col, asc, nulls)| step(
                "order",
                vec![json!(col), json!({"ascending": asc, "nullsFirst": nulls})]
            )),
        prop_oneof![
            Just(json!(0)),
            Just(json!(5)),
            Just(json!(-1)),
            Just(json!("3")),
            Just(json!(1.5)),
            Just(json!(u64::MAX))
        ]
        .prop_map(|n| step("limit", vec![n])),
        (0u64..5, 0u64..5).prop_map(|(a, b)| step("range", vec![json!(a), json!(b)])),
        (any::<u64>(), prop_oneof![Just(u64::MAX), any::<u64>()])
            .prop_map(|(a, b)| step("range", vec![json!(a), json!(b.to_string())])),
        prop::sample::select(vec![
            "single",
            "maybeSingle",
            "rollback",
            "csv",
            "constructor",
            "__proto__",
            "from"
        ])
        .prop_map(|name| step(name, vec![])),
        (0u64..3).prop_map(|n| step("maxAffected", vec![json!(n)])),
    ]
}

fn chain() -> impl Strategy<Value = Value> {
    let first = prop_oneof![
        8 => table_name().prop_map(|t| step("from", vec![json!(t)])),
        1 => Just(step("rpc", vec![json!("fn"), json!({"a": 1})])),
        1 => later_step(),
    ];
    (first, prop::collection::vec(later_step(), 0..6)).prop_map(|(first, rest)| {
        let mut steps = vec![first];
        steps.extend(rest);
        Value::Array(steps)
    })
}

/// A refusal must be a client error (or "not supported"), never a server error.
fn assert_client_error(stage: &str, chain: &Value, failure: &Failure) -> Result<(), TestCaseError> {
    prop_assert!(
        failure.status < 500 || failure.status == 501,
        "{} answered {} {} ({}) for {}",
        stage,
        failure.status,
        failure.code,
        failure.message,
        chain
    );
    Ok(())
}

/// Plans `query` for both dialects; every value must be a parameter.
fn check_plans(chain: &Value, query: &Query) -> Result<(), TestCaseError> {
    if !matches!(query.target, QueryTarget::Table(ref t) if t.eq_ignore_ascii_case("items")) {
        return Ok(());
    }
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let table = items_table(dialect);
        match sql::plan(dialect, query, &table, Some(1000)) {
            Ok(plan) => {
                for statement in plan.statements.iter().chain(plan.count.iter()) {
                    prop_assert!(
                        !statement.sql.contains(MARKER),
                        "value text in SQL for {}: {}",
                        chain,
                        statement.sql
                    );
                    let highest = (1..=statement.binds.len())
                        .rev()
                        .find(|n| statement.sql.contains(&format!("${n}")));
                    prop_assert_eq!(
                        highest.unwrap_or(0),
                        statement.binds.len(),
                        "placeholders and binds differ in {}",
                        statement.sql
                    );
                }
            }
            Err(failure) => assert_client_error("plan", chain, &failure)?,
        }
    }
    Ok(())
}

struct Fixture {
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    database: Database,
    config: Config,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("data.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let database = {
        let _guard = runtime.enter();
        Database::connect_lazy(&url).expect("pool")
    };
    let Database::Sqlite(pool) = &database else {
        unreachable!("a sqlite URL gives a SQLite pool")
    };
    runtime.block_on(async {
        sqlx::query(CREATE).execute(pool).await.expect("create");
        sqlx::query("CREATE TABLE task_runs (id INTEGER PRIMARY KEY)")
            .execute(pool)
            .await
            .expect("create internal");
        sqlx::query(r#"INSERT INTO items (name, score, done, meta) VALUES ('a', 1.5, 1, '{"k":1}'), ('b', NULL, 0, '[1,2]'), ('c', 3, NULL, NULL)"#)
            .execute(pool)
            .await
            .expect("seed rows");
    });
    let config = Config::parse(&json!({ "databaseUrl": url })).expect("config");
    Fixture {
        _dir: dir,
        runtime,
        database,
        config,
    }
}

fn items_exists(fixture: &Fixture) -> bool {
    let Database::Sqlite(pool) = &fixture.database else {
        return false;
    };
    fixture.runtime.block_on(async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sqlite_master WHERE name = 'items'")
            .fetch_one(pool)
            .await
            .map(|n| n == 1)
            .unwrap_or(false)
    })
}

#[test]
fn random_chains_are_refused_or_run_as_parameterised_sql() {
    let fixture = fixture();
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&chain(), |chain| {
            let query = match parse_chain(&chain) {
                Ok(query) => query,
                Err(failure) => return assert_client_error("parse", &chain, &failure),
            };
            check_plans(&chain, &query)?;
            let run = fixture
                .runtime
                .block_on(fixture.database.run(&fixture.config, &query));
            if let Err(failure) = run {
                prop_assert!(
                    !failure.code.starts_with("SQLITE_") && failure.code != "XX000",
                    "SQL error {} ({}) for {}",
                    failure.code,
                    failure.message,
                    chain
                );
                assert_client_error("run", &chain, &failure)?;
            }
            prop_assert!(
                items_exists(&fixture),
                "items table vanished after {}",
                chain
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_json_chains_never_panic() {
    let any_json = json_value().prop_recursive(3, 32, 5, |inner| {
        prop::collection::vec(
            (prop::sample::select(vec!["property", "args", "x"]), inner),
            0..3,
        )
        .prop_map(|pairs| {
            Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        })
    });
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&prop::collection::vec(any_json, 0..5), |steps| {
            if let Err(failure) = parse_chain(&Value::Array(steps.clone())) {
                assert_client_error("parse", &Value::Array(steps), &failure)?;
            }
            Ok(())
        })
        .unwrap();
}

/// Regressions found by the properties above, kept as plain tests.
mod found {
    use super::*;

    fn run(fixture: &Fixture, chain: Value) -> Result<supabase::response::Success, Failure> {
        let query = parse_chain(&chain)?;
        fixture
            .runtime
            .block_on(fixture.database.run(&fixture.config, &query))
    }

    #[test]
    fn containment_on_a_column_named_like_a_json_each_column_runs_on_sqlite() {
        // `overlaps("id", [])` was "ambiguous column name: id" (500): json_each has an `id`
        // column of its own, which shadowed the table's inside the containment subquery.
        let fixture = fixture();
        for op in ["overlaps", "contains", "containedBy"] {
            let done = run(
                &fixture,
                json!([{"property": "from", "args": ["items"]}, {"property": op, "args": ["id", []]}]),
            );
            assert!(
                !matches!(&done, Err(f) if f.status >= 500),
                "{op}: {done:?}"
            );
        }
    }

    #[test]
    fn upsert_of_an_empty_row_runs_on_sqlite() {
        // Was `INSERT ... DEFAULT VALUES ON CONFLICT ...`: a SQLite syntax error (500).
        let fixture = fixture();
        let done = run(
            &fixture,
            json!([{"property": "from", "args": ["items"]}, {"property": "upsert", "args": [[{}]]}]),
        );
        assert!(done.is_ok(), "{done:?}");
    }

    #[test]
    fn huge_limit_and_range_are_all_rows() {
        // `limit(u64::MAX)` was a SQLite "datatype mismatch" (500); `range(0, u64::MAX)`
        // overflowed computing the row count.
        let fixture = fixture();
        for step in [
            json!({"property": "limit", "args": [u64::MAX]}),
            json!({"property": "range", "args": [0, u64::MAX.to_string()]}),
            json!({"property": "range", "args": [u64::MAX.to_string(), u64::MAX.to_string()]}),
        ] {
            let done = run(
                &fixture,
                json!([{"property": "from", "args": ["items"]}, step]),
            );
            assert!(done.is_ok(), "{step}: {done:?}");
        }
    }

    #[test]
    fn a_missing_sqlite_data_file_is_created() {
        // The default data file (`<host db>-data.db`) did not exist on a fresh start and
        // every query failed with "unable to open database file".
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("fresh-data.db").display());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let database = {
            let _guard = runtime.enter();
            Database::connect_lazy(&url).expect("pool")
        };
        runtime
            .block_on(database.ping())
            .expect("the file is created");
    }
}
