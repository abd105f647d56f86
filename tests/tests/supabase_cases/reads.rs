//! The table of read chains (every filter operator and modifier, single/maybeSingle,
//! range bounds, counts) with the rows each must return on both backends.

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use tasker_e2e::Backend;

use super::{Expect, check, fixture, host, ids, send};

// ---------------------------------------------------------------- the table of reads

pub fn reads_match_expected_rows(backend: Backend) -> Result<()> {
    let db = fixture(backend)?;
    let (h, _cfg) = host(&db, None)?;
    let row1 = json!({"id": 1, "title": "alpha", "done": false, "priority": 3, "score": 1.5, "tags": ["red", "blue"], "created_at": "2024-01-01T10:00:00"});
    let cases: Vec<(&str, Vec<Value>, Expect)> = vec![
        (
            "issue example",
            steps![["from", "todos"], ["select", "id,title"], ["eq", "done", false], ["order", "id", {"ascending": false}], ["limit", 10]],
            Expect::Data(
                json!([{"id": 5, "title": "Epsilon"}, {"id": 3, "title": "gamma"}, {"id": 1, "title": "alpha"}]),
            ),
        ),
        (
            "typed row",
            steps![
                ["from", "todos"],
                ["select", "*"],
                ["eq", "id", 1],
                ["single"]
            ],
            Expect::Data(row1),
        ),
        (
            "eq numeric text",
            steps![["from", "todos"], ["select", "id"], ["eq", "id", "2"]],
            Expect::Data(ids(&[2])),
        ),
        (
            "neq",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["neq", "id", 1],
                ["order", "id"]
            ],
            Expect::Data(ids(&[2, 3, 4, 5])),
        ),
        (
            "gt",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["gt", "id", 3],
                ["order", "id"]
            ],
            Expect::Data(ids(&[4, 5])),
        ),
        (
            "gte",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["gte", "score", 2.25],
                ["order", "id"]
            ],
            Expect::Data(ids(&[2, 5])),
        ),
        (
            "lt",
            steps![["from", "todos"], ["select", "id"], ["lt", "id", 2]],
            Expect::Data(ids(&[1])),
        ),
        (
            "lte timestamp",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["lte", "created_at", "2024-01-02 11:30:00"],
                ["order", "id"]
            ],
            Expect::Data(ids(&[1, 2])),
        ),
        (
            "like is case-sensitive",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["like", "title", "%ta"],
                ["order", "id"]
            ],
            Expect::Data(ids(&[2, 4])),
        ),
        (
            "like star",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["like", "title", "*mm*"]
            ],
            Expect::Data(ids(&[3])),
        ),
        (
            "like lowercase e",
            steps![["from", "todos"], ["select", "id"], ["like", "title", "e%"]],
            Expect::Data(json!([])),
        ),
        (
            "ilike",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["ilike", "title", "e%"]
            ],
            Expect::Data(ids(&[5])),
        ),
        (
            "likeAnyOf",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["likeAnyOf", "title", ["a%", "b%"]],
                ["order", "id"]
            ],
            Expect::Data(ids(&[1, 2])),
        ),
        (
            "ilikeAllOf",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["ilikeAllOf", "title", ["%E%", "%a"]],
                ["order", "id"]
            ],
            Expect::Data(ids(&[2, 4])),
        ),
        (
            "in",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["in", "id", [1, 3, 9]],
                ["order", "id"]
            ],
            Expect::Data(ids(&[1, 3])),
        ),
        (
            "in text values",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["in", "title", ["beta", "delta", "a,b"]],
                ["order", "id"]
            ],
            Expect::Data(ids(&[2, 4])),
        ),
        (
            "in empty",
            steps![["from", "todos"], ["select", "id"], ["in", "id", []]],
            Expect::Data(json!([])),
        ),
        (
            "is null",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["is", "priority", null]
            ],
            Expect::Data(ids(&[3])),
        ),
        (
            "is true",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["is", "done", true],
                ["order", "id"]
            ],
            Expect::Data(ids(&[2, 4])),
        ),
        (
            "is false",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["is", "done", false],
                ["order", "id"]
            ],
            Expect::Data(ids(&[1, 3, 5])),
        ),
        (
            "isDistinct",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["isDistinct", "priority", 3],
                ["order", "id"]
            ],
            Expect::Data(ids(&[2, 3, 4, 5])),
        ),
        (
            "not is null",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["not", "priority", "is", null],
                ["order", "id"]
            ],
            Expect::Data(ids(&[1, 2, 4, 5])),
        ),
        (
            "not in",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["not", "id", "in", "(1,2)"],
                ["order", "id"]
            ],
            Expect::Data(ids(&[3, 4, 5])),
        ),
        (
            "not like",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["not", "title", "like", "*a"]
            ],
            Expect::Data(ids(&[5])),
        ),
        (
            "or",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["or", "id.eq.1,priority.gte.5"],
                ["order", "id"]
            ],
            Expect::Data(ids(&[1, 5])),
        ),
        (
            "or with and",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["or", "and(done.is.true,priority.lt.2),id.eq.5"],
                ["order", "id"]
            ],
            Expect::Data(ids(&[2, 5])),
        ),
        (
            "or ANDed with eq",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["or", "id.eq.1,id.eq.2"],
                ["eq", "done", true]
            ],
            Expect::Data(ids(&[2])),
        ),
        (
            "match",
            steps![["from", "todos"], ["select", "id"], ["match", {"done": true, "priority": 2}]],
            Expect::Data(ids(&[4])),
        ),
        (
            "filter",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["filter", "id", "gte", "4"],
                ["order", "id"]
            ],
            Expect::Data(ids(&[4, 5])),
        ),
        (
            "contains array",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["contains", "tags", ["red"]],
                ["order", "id"]
            ],
            Expect::Data(ids(&[1, 5])),
        ),
        (
            "contains object",
            steps![["from", "todos"], ["select", "id"], ["contains", "tags", {"kind": "x"}]],
            Expect::Data(ids(&[3])),
        ),
        (
            "containedBy",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["containedBy", "tags", ["red", "blue"]],
                ["order", "id"]
            ],
            Expect::Data(ids(&[1, 2, 4, 5])),
        ),
        (
            "aliases",
            steps![
                ["from", "todos"],
                ["select", "key:id, name:title"],
                ["eq", "id", 2]
            ],
            Expect::Data(json!([{"key": 2, "name": "beta"}])),
        ),
        (
            "count head",
            steps![["from", "todos"], ["select", "*", {"count": "exact", "head": true}], ["eq", "done", false]],
            Expect::Full(Value::Null, Some(3), 200),
        ),
        (
            "count whole",
            steps![["from", "todos"], ["select", "id", {"count": "exact"}], ["gt", "id", 3], ["order", "id"]],
            Expect::Full(ids(&[4, 5]), Some(2), 200),
        ),
        (
            "count partial range",
            steps![["from", "todos"], ["select", "id", {"count": "exact"}], ["order", "id"], ["range", 1, 2]],
            Expect::Full(ids(&[2, 3]), Some(5), 206),
        ),
        (
            "order nullsFirst",
            steps![["from", "todos"], ["select", "id"], ["order", "priority", {"nullsFirst": true}]],
            Expect::Data(ids(&[3, 2, 4, 1, 5])),
        ),
        (
            "order desc default nulls",
            steps![["from", "todos"], ["select", "id"], ["order", "priority", {"ascending": false}]],
            Expect::Data(ids(&[3, 5, 1, 4, 2])),
        ),
        (
            "order asc default nulls last",
            steps![["from", "todos"], ["select", "id"], ["order", "score"]],
            Expect::Data(ids(&[4, 1, 2, 5, 3])),
        ),
        (
            "order several",
            steps![["from", "todos"], ["select", "id"], ["order", "done"], ["order", "id", {"ascending": false}]],
            Expect::Data(ids(&[5, 3, 1, 4, 2])),
        ),
        (
            "range first",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["order", "id"],
                ["range", 0, 0]
            ],
            Expect::Data(ids(&[1])),
        ),
        (
            "range past end",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["order", "id"],
                ["range", 3, 10]
            ],
            Expect::Data(ids(&[4, 5])),
        ),
        (
            "range beyond",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["order", "id"],
                ["range", 10, 12]
            ],
            Expect::Data(json!([])),
        ),
        (
            "range reversed",
            steps![["from", "todos"], ["select", "id"], ["range", 2, 1]],
            Expect::Error(400, "VALIDATION_ERROR", "PGRST103"),
        ),
        (
            "limit 0",
            steps![["from", "todos"], ["select", "id"], ["limit", 0]],
            Expect::Data(json!([])),
        ),
        (
            "single none",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["eq", "id", 99],
                ["single"]
            ],
            Expect::Error(404, "NOT_FOUND_ERROR", "PGRST116"),
        ),
        (
            "single many",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["gt", "id", 3],
                ["single"]
            ],
            Expect::Error(400, "VALIDATION_ERROR", "PGRST116"),
        ),
        (
            "maybeSingle none",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["eq", "id", 99],
                ["maybeSingle"]
            ],
            Expect::Data(Value::Null),
        ),
        (
            "maybeSingle one",
            steps![
                ["from", "todos"],
                ["select", "id"],
                ["eq", "id", 4],
                ["maybeSingle"]
            ],
            Expect::Data(json!({"id": 4})),
        ),
        (
            "maybeSingle many",
            steps![["from", "todos"], ["select", "id"], ["maybeSingle"]],
            Expect::Error(400, "VALIDATION_ERROR", "PGRST116"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, steps, expect) in &cases {
        if let Err(e) = check(&h, name, steps, expect) {
            failures.push(format!("{e:#}"));
        }
    }
    ensure!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // single() 406 keeps its exact PostgREST status in details.
    let body = send(
        &h,
        &steps![
            ["from", "todos"],
            ["select", "id"],
            ["eq", "id", 99],
            ["single"]
        ],
    )?
    .json()?;
    ensure!(
        body["details"]["status"] == 406 && body["details"]["statusText"] == "Not Acceptable",
        "{body}"
    );
    Ok(())
}
