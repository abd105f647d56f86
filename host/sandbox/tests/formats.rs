//! Every accepted task format runs and receives its input; real tasks from the original run unmodified.

mod common;

use common::{Resume, all, completed, drive, echo_host, failed, request, sandbox};
use serde_json::json;
use tasker_sandbox::{FailureKind, RunOutcome};

async fn run(code: &str) -> serde_json::Value {
    let sandbox = sandbox();
    let driven = drive(
        &sandbox,
        request(1, code, json!({"name": "Oslo"})),
        Resume::Live,
        all,
        echo_host,
    )
    .await;
    completed(&driven.outcome).clone()
}

#[tokio::test]
async fn each_format_runs_with_its_input() {
    let cases = [
        "module.exports = async function (input) { return 'cjs ' + input.name; };",
        "module.exports = async ({ name, missing = 'dflt' }) => 'arrow ' + name + ' ' + missing;",
        "exports.main = async function (input) { return 'exports.main ' + input.name; };",
        "module.exports = { version: 2, async run(input) { return 'object ' + input.name; }, helper() { return 1; } };",
        "module.exports = { async run(input) { return 'this ' + this.suffix(input.name); }, suffix(n) { return n; } };",
        "export default async function (input) { return 'esm default ' + input.name; }",
        "export async function main(input) { return 'esm main ' + input.name; }",
        "async function main(input) { return 'script ' + input.name; }",
        "module.exports = function (input) { return 'sync ' + input.name; };",
    ];
    let expected = [
        "cjs Oslo",
        "arrow Oslo dflt",
        "exports.main Oslo",
        "object Oslo",
        "this Oslo",
        "esm default Oslo",
        "esm main Oslo",
        "script Oslo",
        "sync Oslo",
    ];
    for (code, expected) in cases.iter().zip(expected) {
        assert_eq!(run(code).await, json!(expected), "task: {code}");
    }
}

#[tokio::test]
async fn esm_with_host_calls_and_helpers_declared_after_exports() {
    let value = run(r#"
        export default async function (input) { return await twice(input.name); }
        async function twice(x) { const a = await tools.svc.echo(x); const b = await tools.svc.echo(a); return a + b; }
    "#)
    .await;
    assert_eq!(value, json!("OsloOslo"));
    let value = run(r#"
        module.exports = async function (input) { return helper(await __callHostTool__("svc", "echo", [input.name])); };
        function helper(v) { return v.toUpperCase(); }
    "#)
    .await;
    assert_eq!(value, json!("OSLO"));
}

/// The original's comprehensive-gmail-search shape: CommonJS, destructured defaults, console.log,
/// nested loops of awaited `__callHostTool__` calls with array method paths.
const GMAIL_SEARCH: &str = r#"
/**
 * Searches mail across domains.
 * @param {string} [input.gmailSearchQuery=""] - query
 */
module.exports = async function({ gmailSearchQuery = "", maxResultsPerUser = 10, maxUsersPerDomain = 500 }) {
  console.log("Starting search", { gmailSearchQuery, maxResultsPerUser });
  maxUsersPerDomain = Math.min(Math.max(1, maxUsersPerDomain), 500);
  const domainsResponse = await __callHostTool__("gapi", ["admin", "domains", "list"], [{ customer: "my_customer" }]);
  if (!domainsResponse || !domainsResponse.domains) {
    return { success: false, error: "bad domains response", debug: domainsResponse };
  }
  const domainResults = [];
  let totalApiCalls = 1, totalMessagesFound = 0;
  const sampleMessages = [];
  for (const domain of domainsResponse.domains) {
    const usersResponse = await __callHostTool__("gapi", ["admin", "users", "list"],
      [{ customer: "my_customer", domain: domain.domainName, maxResults: maxUsersPerDomain, orderBy: "email" }]);
    totalApiCalls++;
    const users = usersResponse.users || [];
    for (const user of users) {
      const list = await __callHostTool__("gapi", ["gmail", "users", "messages", "list"],
        [{ userId: user.primaryEmail, q: gmailSearchQuery, maxResults: maxResultsPerUser }]);
      totalApiCalls++;
      for (const message of list.messages || []) {
        const details = await __callHostTool__("gapi", ["gmail", "users", "messages", "get"],
          [{ userId: user.primaryEmail, id: message.id, format: "metadata", metadataHeaders: ["Subject", "From", "Date"] }]);
        totalApiCalls++;
        totalMessagesFound++;
        if (sampleMessages.length < 10) sampleMessages.push({ user: user.primaryEmail, subject: getHeader(details, "Subject") });
      }
    }
    domainResults.push({ domain: domain.domainName, users: users.length });
    console.log(`Domain ${domain.domainName} done`);
  }
  return {
    summary: { totalDomains: domainsResponse.domains.length, totalMessagesFound, searchQuery: gmailSearchQuery },
    domainResults, sampleMessages,
    executionInfo: { totalApiCalls, description: "Comprehensive Gmail search" },
  };
};
function getHeader(details, name) {
  const header = (details.payload.headers || []).find(h => h.name === name);
  return header ? header.value : null;
}
"#;

fn gmail_host(call: &tasker_sandbox::ParkedCall) -> tasker_sandbox::CallResult {
    let arg = &call.args[0];
    let value = match call.method.as_str() {
        "admin.domains.list" => {
            json!({"domains": [{"domainName": "a.example"}, {"domainName": "b.example"}]})
        }
        "admin.users.list" => {
            let domain = arg["domain"].as_str().unwrap_or_default();
            json!({"users": [{"primaryEmail": format!("x@{domain}")}, {"primaryEmail": format!("y@{domain}")}]})
        }
        "gmail.users.messages.list" => json!({"messages": [{"id": "m1"}, {"id": "m2"}]}),
        "gmail.users.messages.get" => json!({"payload": {"headers": [
            {"name": "Subject", "value": format!("{} for {}", arg["id"].as_str().unwrap_or_default(), arg["userId"].as_str().unwrap_or_default())}
        ]}}),
        other => panic!("unexpected method {other}"),
    };
    tasker_sandbox::CallResult::Ok(value)
}

#[tokio::test]
async fn original_gmail_search_task_runs_unmodified_live_and_by_replay() {
    let sandbox = sandbox();
    let input = json!({"gmailSearchQuery": "invoice", "maxUsersPerDomain": 2});
    let live = drive(
        &sandbox,
        request(10, GMAIL_SEARCH, input.clone()),
        Resume::Live,
        common::one,
        gmail_host,
    )
    .await;
    let result = completed(&live.outcome).clone();
    assert_eq!(result["summary"]["totalMessagesFound"], json!(8));
    assert_eq!(
        result["executionInfo"]["totalApiCalls"],
        json!(1 + 2 + 4 + 8)
    );
    assert_eq!(
        result["sampleMessages"][0]["subject"],
        json!("m1 for x@a.example")
    );
    assert_eq!(live.issued.len(), 15);
    assert_eq!(live.issued[1].method, "admin.users.list");
    assert_eq!(live.logs.len(), 3);
    assert_eq!(
        live.logs[0].message,
        r#"Starting search {"gmailSearchQuery":"invoice","maxResultsPerUser":10}"#
    );

    let replayed = drive(
        &sandbox,
        request(11, GMAIL_SEARCH, input),
        Resume::Replay,
        common::one,
        gmail_host,
    )
    .await;
    assert_eq!(completed(&replayed.outcome), &result);
    let messages =
        |d: &common::Driven| d.logs.iter().map(|l| l.message.clone()).collect::<Vec<_>>();
    assert_eq!(
        messages(&replayed),
        messages(&live),
        "replay reports each console line exactly once"
    );
}

#[tokio::test]
async fn tasks_without_a_handler_or_with_syntax_errors_fail_clearly() {
    let sandbox = sandbox();
    for (code, expected) in [
        ("const x = 1;", "no task handler found"),
        ("module.exports = async function ( {", "does not compile"),
        (
            "import fs from 'fs'; export default async function () {}",
            "test-task-1",
        ),
        ("throw new Error('top level boom');", "top level boom"),
    ] {
        let outcome = sandbox
            .start_or_replay(request(1, code, json!({})))
            .await
            .unwrap()
            .outcome;
        let failure = failed(&outcome);
        assert_eq!(
            failure.kind,
            FailureKind::InvalidTask,
            "{code}: {failure:?}"
        );
        assert!(
            failure.message.contains(expected),
            "{code}: {}",
            failure.message
        );
    }
}

#[tokio::test]
async fn sandbox_exposes_only_ecmascript_and_task_globals() {
    let sandbox = sandbox();
    let code = r#"module.exports = async () => ({
        weakRef: typeof WeakRef, finalization: typeof FinalizationRegistry, timeout: typeof setTimeout,
        fetch: typeof fetch, process: typeof process, require: typeof require, temporal: typeof Temporal,
        tools: typeof tools, call: typeof __callHostTool__, uuid: typeof crypto.randomUUID,
        console: typeof console.debug,
    });"#;
    let outcome = sandbox
        .start_or_replay(request(1, code, json!({})))
        .await
        .unwrap()
        .outcome;
    assert_eq!(
        completed(&outcome),
        &json!({"weakRef": "undefined", "finalization": "undefined", "timeout": "undefined", "fetch": "undefined",
                "process": "undefined", "require": "undefined", "temporal": "undefined", "tools": "object",
                "call": "function", "uuid": "function", "console": "function"})
    );
    assert!(matches!(outcome, RunOutcome::Completed { .. }));
}
