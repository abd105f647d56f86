//! Property tests for the JSDoc schema parser: any text (task code is user input) parses
//! without panicking into schemas of the documented shape, written `@param` tags come back
//! with their name, type, optionality and default, and deeply nested type expressions do
//! not exhaust the stack. Tests only; `PROPTEST_CASES` raises the case count.

use proptest::prelude::*;
use serde_json::{Value, json};
use tasker_openapi::jsdoc::type_schema;
use tasker_openapi::{SchemaFormat, parse_task_doc, task_schema};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text made of the characters the parser cares about, plus anything else.
fn jsdoc_like_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/**".to_owned()),
        Just("*/".to_owned()),
        Just("\n * ".to_owned()),
        Just("@param ".to_owned()),
        Just("@returns ".to_owned()),
        Just("@throws ".to_owned()),
        Just("@description ".to_owned()),
        Just("input.".to_owned()),
        Just("[]".to_owned()),
        Just(".0".to_owned()),
        "[{}\\[\\]<>()|?!=.,:'\"` -]{1,4}",
        "[a-zA-Z0-9]{1,6}",
        "\\PC{1,3}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|parts| parts.concat())
}

fn type_expr() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        "string", "number", "integer", "boolean", "Object", "Array", "Date", "*", "null", "'a'",
        "42", "Foo",
    ])
    .prop_map(str::to_owned);
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| format!("{t}[]")),
            inner.clone().prop_map(|t| format!("Array<{t}>")),
            inner.clone().prop_map(|t| format!("?{t}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}|{b}")),
            inner.clone().prop_map(|t| format!("Object<string, {t}>")),
            inner
                .clone()
                .prop_map(|t| format!("{{a: {t}, b?: number}}")),
            inner.prop_map(|t| format!("({t})")),
        ]
    })
}

/// A parameter as a task author writes it.
#[derive(Debug, Clone)]
struct WrittenParam {
    name: String,
    type_expr: String,
    optional: bool,
    default: Option<Value>,
    description: String,
}

fn written_param() -> impl Strategy<Value = WrittenParam> {
    let name = prop::collection::vec("[a-zA-Z_][a-zA-Z0-9_]{0,6}", 1..3)
        .prop_map(|segments| format!("input.{}", segments.join(".")));
    let default = prop::option::of(prop_oneof![
        Just(json!("")),
        Just(json!(10)),
        Just(json!(false)),
        Just(json!([1, 2])),
        Just(json!({"a": "b"})),
        "[a-z]{1,5}".prop_map(Value::String),
    ]);
    (
        name,
        type_expr(),
        any::<bool>(),
        default,
        "[a-zA-Z][a-zA-Z ]{0,12}[a-zA-Z]",
    )
        .prop_map(
            |(name, type_expr, optional, default, description)| WrittenParam {
                optional: optional || default.is_some(),
                name,
                type_expr,
                default,
                description,
            },
        )
}

fn render(param: &WrittenParam) -> String {
    let name = match (&param.default, param.optional) {
        (Some(Value::String(s)), _) => format!("[{}='{s}']", param.name),
        (Some(default), _) => format!("[{}={default}]", param.name),
        (None, true) => format!("[{}]", param.name),
        (None, false) => param.name.clone(),
    };
    format!(
        " * @param {{{}}} {name} - {}\n",
        param.type_expr, param.description
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_gives_schemas_of_the_documented_shape(code in jsdoc_like_text(), name in "[a-z]{1,8}") {
        let doc = parse_task_doc(&code);
        let json = task_schema(&doc, &name, SchemaFormat::Json);
        prop_assert_eq!(json["name"].as_str(), Some(name.as_str()));
        prop_assert_eq!(json["input"]["type"].as_str(), Some("object"));
        let openai = task_schema(&doc, &name, SchemaFormat::OpenAi);
        prop_assert_eq!(openai["parameters"]["type"].as_str(), Some("object"));
        let openapi = task_schema(&doc, &name, SchemaFormat::OpenApi);
        prop_assert!(openapi["openapi"].is_string(), "{}", openapi);
        prop_assert!(serde_json::to_string(&openapi).is_ok());
    }

    #[test]
    fn any_type_expression_maps_to_a_schema_object(expr in jsdoc_like_text()) {
        prop_assert!(type_schema(&expr).is_object());
    }

    #[test]
    fn written_params_come_back(params in prop::collection::vec(written_param(), 1..5)) {
        let mut code = String::from("/**\n * A task.\n * @param {Object} input\n");
        for param in &params {
            code.push_str(&render(param));
        }
        code.push_str(" */\nmodule.exports = async (input) => input;\n");
        let doc = parse_task_doc(&code);
        prop_assert_eq!(doc.description.as_str(), "A task.");
        prop_assert_eq!(doc.params.len(), params.len() + 1);
        for (parsed, written) in doc.params[1..].iter().zip(&params) {
            prop_assert_eq!(&parsed.name, &written.name);
            prop_assert_eq!(&parsed.type_expr, &written.type_expr);
            prop_assert_eq!(parsed.optional, written.optional);
            prop_assert_eq!(&parsed.default, &written.default);
            prop_assert_eq!(&parsed.description, &written.description);
        }
        let schema = task_schema(&doc, "t", SchemaFormat::Json);
        prop_assert_eq!(schema["input"]["type"].as_str(), Some("object"));
    }
}

/// Type expressions nested far deeper than any author writes must still give a schema (a
/// task registration must never crash the host through its JSDoc).
#[test]
fn deeply_nested_type_expressions_do_not_exhaust_the_stack() {
    // Run on a thread with a small stack, like a tokio worker's, so the test fails for real.
    let worker = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let depth = 50_000;
            let expressions = [
                "?".repeat(depth) + "string",
                format!("{}string{}", "Array<".repeat(depth), ">".repeat(depth)),
                format!("{}string{}", "(".repeat(depth), ")".repeat(depth)),
                "string".to_owned() + &"[]".repeat(depth),
                format!("{}a: string{}", "{a: ".repeat(depth), "}".repeat(depth)),
                "...".repeat(depth) + "number",
            ];
            for expr in &expressions {
                assert!(type_schema(expr).is_object());
                let code = format!("/**\n * @param {{{expr}}} input.x - deep\n */");
                let doc = parse_task_doc(&code);
                for format in [
                    SchemaFormat::Json,
                    SchemaFormat::OpenApi,
                    SchemaFormat::OpenAi,
                ] {
                    let _ = task_schema(&doc, "deep", format);
                }
            }
            let deep_name = format!("input{}", ".a".repeat(depth));
            let doc = parse_task_doc(&format!("/** @param {{string}} {deep_name} */"));
            let _ = task_schema(&doc, "deep", SchemaFormat::OpenApi);
        })
        .expect("thread starts");
    assert!(worker.join().is_ok(), "deep nesting crashed the parser");
}
