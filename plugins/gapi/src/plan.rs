//! Turns one call's arguments into the HTTP request Google expects: the path with its
//! parameters substituted and encoded, the query (repeated parameters sent repeated), the
//! impersonated subject, and the body of `messages.send`. Pure: no I/O, no credentials.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::endpoints::{Endpoint, Loc, Subject, Ty, Verb};
use crate::error::{Error, Result};

/// One request, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// HTTP verb.
    pub verb: Verb,
    /// Path under the family root, encoded.
    pub path: String,
    /// Query parameters in order; a repeated parameter appears once per value.
    pub query: Vec<(String, String)>,
    /// The user the token impersonates.
    pub subject: String,
    /// JSON body (only `messages.send`).
    pub body: Option<Value>,
}

const ME: &str = "me";
const MY_CUSTOMER: &str = "my_customer";

/// Plans `endpoint` with `args` (an object); `admin` is the admin e-mail, needed when the
/// call impersonates the admin.
pub fn plan(endpoint: &Endpoint, args: &Map<String, Value>, admin: Option<&str>) -> Result<Plan> {
    let mut args = args.clone();
    apply_defaults(endpoint, &mut args, admin);
    let mut path = endpoint.path.to_owned();
    let mut query = Vec::new();
    for param in endpoint.params {
        let value = args.get(param.name).filter(|v| !v.is_null());
        let Some(value) = value else {
            if param.required {
                return Err(Error::InvalidArgs(format!(
                    "{}: \"{}\" is required",
                    endpoint.name, param.name
                )));
            }
            continue;
        };
        let texts = texts(endpoint, param.name, param.ty, value)?;
        match param.loc {
            Loc::Path => {
                let text = texts.first().filter(|t| !t.is_empty()).ok_or_else(|| {
                    Error::InvalidArgs(format!(
                        "{}: \"{}\" must not be empty",
                        endpoint.name, param.name
                    ))
                })?;
                path = path.replace(&format!("{{{}}}", param.name), &encode_segment(text));
            }
            Loc::Query => {
                if let Some(text) = texts.into_iter().next() {
                    query.push((param.name.to_owned(), text));
                }
            }
            Loc::Repeated => query.extend(texts.into_iter().map(|t| (param.name.to_owned(), t))),
            Loc::Local => {}
        }
    }
    let subject = subject(endpoint, &args, admin)?;
    let body = match endpoint.verb {
        Verb::Post => Some(send_body(&args)?),
        Verb::Get => None,
    };
    Ok(Plan {
        verb: endpoint.verb,
        path,
        query,
        subject,
        body,
    })
}

/// The original's defaults: `my_customer` for the customer (the admin's own e-mail means
/// the same), `me` for Gmail, `primary` for calendars, 100 users per page.
fn apply_defaults(endpoint: &Endpoint, args: &mut Map<String, Value>, admin: Option<&str>) {
    let has = |args: &Map<String, Value>, k: &str| args.get(k).is_some_and(|v| !v.is_null());
    match endpoint.name {
        "admin.domains.list" => {
            let customer = args
                .get("customer")
                .and_then(Value::as_str)
                .unwrap_or(MY_CUSTOMER);
            let customer = if customer.is_empty() || Some(customer) == admin {
                MY_CUSTOMER
            } else {
                customer
            };
            args.insert("customer".into(), json!(customer));
        }
        "admin.users.list" | "admin.groups.list" => {
            if !has(args, "customer") && !has(args, "domain") && !has(args, "userKey") {
                args.insert("customer".into(), json!(MY_CUSTOMER));
            }
            if endpoint.name == "admin.users.list" && !has(args, "maxResults") {
                args.insert("maxResults".into(), json!(100));
            }
        }
        "calendar.events.list" if !has(args, "calendarId") => {
            args.insert("calendarId".into(), json!("primary"));
        }
        _ => {}
    }
    if endpoint.family == crate::endpoints::Family::Gmail && !has(args, "userId") {
        args.insert("userId".into(), json!(ME));
    }
}

/// A value as the text(s) it is sent as.
fn texts(endpoint: &Endpoint, name: &str, ty: Ty, value: &Value) -> Result<Vec<String>> {
    let bad = |want: &str| {
        Error::InvalidArgs(format!(
            "{}: \"{name}\" must be {want}, got {value}",
            endpoint.name
        ))
    };
    Ok(match (ty, value) {
        (Ty::Str, Value::String(s)) => vec![s.clone()],
        (Ty::Str, Value::Number(n)) => vec![n.to_string()],
        (Ty::Str, _) => return Err(bad("a string")),
        (Ty::Int, Value::Number(n)) if n.is_u64() => vec![n.to_string()],
        (Ty::Int, Value::String(s)) if s.parse::<u64>().is_ok() => vec![s.clone()],
        (Ty::Int, _) => return Err(bad("a whole number")),
        (Ty::Bool, Value::Bool(b)) => vec![b.to_string()],
        (Ty::Bool, _) => return Err(bad("true or false")),
        (Ty::StrList, Value::String(s)) => vec![s.clone()],
        (Ty::StrList, Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad("an array of strings"))
            })
            .collect::<Result<_>>()?,
        (Ty::StrList, _) => return Err(bad("an array of strings")),
        (Ty::Object, Value::Object(_)) => Vec::new(),
        (Ty::Object, _) => return Err(bad("an object")),
    })
}

/// Percent-encodes one path segment (RFC 3986 unreserved characters and `@` stay).
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn subject(endpoint: &Endpoint, args: &Map<String, Value>, admin: Option<&str>) -> Result<String> {
    let named = |key: &str| {
        args.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && *s != ME)
    };
    let chosen = match endpoint.subject {
        Subject::Admin => None,
        Subject::User => named("userId"),
        Subject::CalendarOwner => {
            named("userId").or_else(|| named("calendarId").filter(|c| c.contains('@')))
        }
    };
    match chosen.or(admin) {
        Some(s) => Ok(s.to_owned()),
        None => Err(Error::NotConfigured(format!(
            "{} impersonates the admin, but no admin e-mail is set (keystore or env GAPI_ADMIN_EMAIL)",
            endpoint.name
        ))),
    }
}

/// The Message resource to send: `requestBody`/`resource`, or `raw`/`threadId`, or a
/// plain-text message composed from `to`, `subject`, `text`.
fn send_body(args: &Map<String, Value>) -> Result<Value> {
    for key in ["requestBody", "resource"] {
        if let Some(Value::Object(body)) = args.get(key) {
            if body
                .get("raw")
                .and_then(Value::as_str)
                .is_some_and(|r| !r.is_empty())
            {
                return Ok(Value::Object(body.clone()));
            }
            return Err(Error::InvalidArgs(format!(
                "gmail.users.messages.send: {key}.raw is required"
            )));
        }
    }
    let raw = match args
        .get("raw")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        Some(raw) => raw.to_owned(),
        None => compose(args)?,
    };
    let mut body = json!({ "raw": raw });
    if let Some(thread) = args.get("threadId").and_then(Value::as_str) {
        body["threadId"] = json!(thread);
    }
    Ok(body)
}

fn compose(args: &Map<String, Value>) -> Result<String> {
    let field = |k: &str| {
        args.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    field("to").ok_or_else(|| {
        Error::InvalidArgs(
            "gmail.users.messages.send needs raw, requestBody.raw, or to/subject/text".into(),
        )
    })?;
    let mut message = String::new();
    for (name, key) in [("From", "from"), ("To", "to"), ("Cc", "cc"), ("Bcc", "bcc")] {
        if let Some(value) = field(key) {
            message.push_str(&header_line(name, value)?);
        }
    }
    let subject = field("subject").unwrap_or_default();
    let subject = if subject.is_ascii() {
        subject.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(subject)
        )
    };
    message.push_str(&header_line("Subject", &subject)?);
    message.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n");
    message.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    message.push_str(
        &base64::engine::general_purpose::STANDARD.encode(field("text").unwrap_or_default()),
    );
    Ok(URL_SAFE_NO_PAD.encode(message))
}

/// A header line; CR or LF in a value would inject headers, so they are refused.
fn header_line(name: &str, value: &str) -> Result<String> {
    if value.contains(['\r', '\n']) {
        return Err(Error::InvalidArgs(format!(
            "gmail.users.messages.send: {name} must be one line"
        )));
    }
    Ok(format!("{name}: {value}\r\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::find;

    fn plan_of(name: &str, args: Value, admin: Option<&str>) -> Result<Plan> {
        plan(find(name).unwrap(), args.as_object().unwrap(), admin)
    }

    #[test]
    fn domains_default_to_my_customer_and_impersonate_the_admin() {
        let p = plan_of(
            "admin.domains.list",
            json!({ "customer": "admin@x.test" }),
            Some("admin@x.test"),
        )
        .unwrap();
        assert_eq!(p.path, "/admin/directory/v1/customer/my_customer/domains");
        assert_eq!(p.subject, "admin@x.test");
        assert!(matches!(
            plan_of("admin.domains.list", json!({}), None),
            Err(Error::NotConfigured(_))
        ));
    }

    #[test]
    fn users_list_sends_the_originals_query() {
        let args = json!({ "customer": "my_customer", "domain": "x.test", "maxResults": 5, "orderBy": "email" });
        let p = plan_of("admin.users.list", args, Some("a@x.test")).unwrap();
        assert_eq!(p.path, "/admin/directory/v1/users");
        let q: Vec<(&str, &str)> = p
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            q,
            [
                ("customer", "my_customer"),
                ("domain", "x.test"),
                ("maxResults", "5"),
                ("orderBy", "email")
            ]
        );
        let p = plan_of(
            "admin.users.list",
            json!({ "domain": "x.test" }),
            Some("a@x.test"),
        )
        .unwrap();
        assert!(!p.query.iter().any(|(k, _)| k == "customer"), "{p:?}");
    }

    #[test]
    fn gmail_impersonates_the_user_and_repeats_metadata_headers() {
        let args = json!({ "userId": "ada@x.test", "id": "m/1", "format": "metadata", "metadataHeaders": ["Subject", "From"] });
        let p = plan_of("gmail.users.messages.get", args, None).unwrap();
        assert_eq!(p.path, "/gmail/v1/users/ada@x.test/messages/m%2F1");
        assert_eq!(p.subject, "ada@x.test");
        let headers: Vec<&str> = p
            .query
            .iter()
            .filter(|(k, _)| k == "metadataHeaders")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(headers, ["Subject", "From"]);
        let me = plan_of("gmail.users.messages.list", json!({}), Some("admin@x.test")).unwrap();
        assert_eq!(
            (me.path.as_str(), me.subject.as_str()),
            ("/gmail/v1/users/me/messages", "admin@x.test")
        );
        assert!(matches!(
            plan_of("gmail.users.messages.get", json!({ "userId": "a@x" }), None),
            Err(Error::InvalidArgs(_))
        ));
    }

    #[test]
    fn calendar_impersonates_an_email_calendar_id() {
        let p = plan_of(
            "calendar.events.list",
            json!({ "calendarId": "bo@x.test" }),
            Some("a@x.test"),
        )
        .unwrap();
        assert_eq!(
            (p.path.as_str(), p.subject.as_str()),
            ("/calendar/v3/calendars/bo@x.test/events", "bo@x.test")
        );
        let p = plan_of("calendar.events.list", json!({}), Some("a@x.test")).unwrap();
        assert_eq!(
            (p.path.as_str(), p.subject.as_str()),
            ("/calendar/v3/calendars/primary/events", "a@x.test")
        );
    }

    #[test]
    fn send_composes_a_message_and_refuses_header_injection() {
        let p = plan_of(
            "gmail.users.messages.send",
            json!({ "userId": "a@x", "to": "b@x", "subject": "Hi", "text": "Hello" }),
            None,
        )
        .unwrap();
        let raw = p.body.unwrap()["raw"].as_str().unwrap().to_owned();
        let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).unwrap()).unwrap();
        assert!(
            decoded.starts_with("To: b@x\r\nSubject: Hi\r\n"),
            "{decoded}"
        );
        let bad = plan_of(
            "gmail.users.messages.send",
            json!({ "userId": "a@x", "to": "b@x\r\nBcc: evil@x" }),
            None,
        );
        assert!(matches!(bad, Err(Error::InvalidArgs(_))));
        let p = plan_of(
            "gmail.users.messages.send",
            json!({ "requestBody": { "raw": "abc" } }),
            Some("a@x"),
        )
        .unwrap();
        assert_eq!(p.body, Some(json!({ "raw": "abc" })));
    }
}
