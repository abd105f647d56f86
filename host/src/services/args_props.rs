//! Property tests for the request normaliser (`args.rs`) and the body reader in front of it:
//! any JSON body is either a validation error or a request with a non-empty method, the
//! three request forms agree, and argument shaping and validation never panic. Tests only;
//! `PROPTEST_CASES` raises the case count for longer runs.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tasker_plugin_api::{ErrorCode, MethodSpec};

use super::args::{ArgsValidator, method_path, normalise_request, shape_args};

/// Case count: small by default so `cargo test` stays fast, `PROPTEST_CASES` for long runs.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, biased towards the keys the normaliser looks at.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("method".to_owned()),
        Just("action".to_owned()),
        Just("chain".to_owned()),
        Just("args".to_owned()),
        Just("property".to_owned()),
        Just("trigger".to_owned()),
        Just("stackRunId".to_owned()),
        Just("taskCode".to_owned()),
        "[a-z.]{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,8}".prop_map(Value::String),
        Just(Value::String(" ".into())),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A method path segment as a caller would write it.
fn segment() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_-]{0,8}"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_body_is_a_request_or_a_validation_error(body in json_value()) {
        match normalise_request(body) {
            Ok(request) => prop_assert!(!request.method.trim().is_empty()),
            Err(e) => prop_assert_eq!(e.code, ErrorCode::Validation),
        }
    }

    #[test]
    fn method_and_chain_forms_agree(path in prop::collection::vec(segment(), 1..5), args in json_value()) {
        let by_method = normalise_request(json!({"method": path.join("."), "args": args.clone()}));
        let mut steps: Vec<Value> = path.iter().map(|p| json!({"property": p})).collect();
        if let Some(Value::Object(last)) = steps.last_mut() {
            last.insert("args".into(), args.clone());
        }
        let by_chain = normalise_request(json!({"chain": steps}));
        let by_method = by_method.expect("method form is valid");
        prop_assert_eq!(&by_method, &by_chain.expect("chain form is valid"));
        prop_assert_eq!(by_method.method, path.join("."));
        prop_assert_eq!(by_method.args, args);
        let by_array_path = method_path(&json!(path));
        prop_assert_eq!(by_array_path, Some(path.join(".")));
    }

    #[test]
    fn action_form_passes_the_other_fields_as_arguments(
        action in segment(),
        fields in prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..5),
    ) {
        let fields: Map<String, Value> = fields
            .into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "method" | "chain" | "args" | "action"))
            .collect();
        let mut body = fields.clone();
        body.insert("action".into(), json!(action));
        let request = normalise_request(Value::Object(body)).expect("action form is valid");
        prop_assert_eq!(request.method, action);
        prop_assert_eq!(request.args, Value::Object(fields));
    }

    #[test]
    fn positional_arguments_map_onto_declared_names(
        names in prop::collection::btree_set("[a-z]{1,6}", 1..4),
        args in prop::collection::vec(json_value(), 0..6),
    ) {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let properties: Map<String, Value> =
            names.iter().map(|n| ((*n).to_owned(), json!({"type": "string"}))).collect();
        let spec = MethodSpec::new("m", "")
            .params(json!({"type": "object", "properties": properties}))
            .positional(&names);
        let shaped = shape_args(&spec, Value::Array(args.clone()));
        let single_object = args.len() == 1 && args[0].is_object();
        if single_object {
            prop_assert_eq!(&shaped, &args[0]);
        } else {
            let Value::Object(obj) = &shaped else {
                return Err(TestCaseError::fail(format!("positional args became {shaped}")));
            };
            for (key, value) in obj {
                let index = names.iter().position(|n| n == key);
                prop_assert!(index.is_some(), "unexpected key {}", key);
                prop_assert_eq!(Some(value), args.get(index.unwrap_or(usize::MAX)));
            }
        }
        // Validation of whatever came out never panics and only reports validation errors.
        let validator = ArgsValidator::compile(&spec).expect("schema compiles");
        if let Err(e) = validator.check("svc", "m", &shaped) {
            prop_assert_eq!(e.code, ErrorCode::Validation);
        }
    }

    #[test]
    fn shaping_any_arguments_never_panics(args in json_value(), wants_object in any::<bool>()) {
        let schema = if wants_object { json!({"type": "object"}) } else { json!({}) };
        let spec = MethodSpec::new("m", "").params(schema);
        let shaped = shape_args(&spec, args.clone());
        if !wants_object {
            prop_assert_eq!(shaped, args);
        }
    }

    #[test]
    fn any_body_bytes_are_json_or_a_validation_error(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let read = runtime.block_on(crate::http::service_routes::read_json(
            poem::Body::from(bytes.clone()),
            32,
        ));
        match read {
            Ok(value) => prop_assert!(bytes.len() <= 32 && (value.is_null() || serde_json::from_slice::<Value>(&bytes).is_ok())),
            Err(e) => prop_assert!(e.status.is_none() || bytes.len() > 32),
        }
    }
}
