//! The Google REST methods gapi serves, as data: for each dotted method name its API
//! family, HTTP verb, path template, OAuth scopes, whom it impersonates, its parameters
//! (path, query, repeated query) and the list it paginates. The manifest's argument
//! schemas are generated from the same table, so docs and behaviour cannot drift apart.

use serde_json::{Map, Value, json};

/// Which API root serves the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Admin SDK Directory API.
    Admin,
    /// Gmail API.
    Gmail,
    /// Calendar API.
    Calendar,
    /// Drive API.
    Drive,
}

/// HTTP verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// GET (reads).
    Get,
    /// POST (Gmail send).
    Post,
}

/// Whom the access token impersonates (the JWT `sub`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// Always the admin e-mail (Admin SDK).
    Admin,
    /// The `userId` the call is about (`me` or absent: the admin).
    User,
    /// `userId` when given, else a `calendarId` that is an e-mail, else the admin.
    CalendarOwner,
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// Substituted into the path template (`{name}`), percent-encoded.
    Path,
    /// One query parameter.
    Query,
    /// One query parameter per array item (`metadataHeaders=A&metadataHeaders=B`).
    Repeated,
    /// Not sent: chooses the subject, or builds the body.
    Local,
}

/// A parameter's JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A string.
    Str,
    /// A whole number.
    Int,
    /// true/false.
    Bool,
    /// An array of strings (a single string is accepted too).
    StrList,
    /// A JSON object.
    Object,
}

/// One parameter of a method.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name, as Google spells it.
    pub name: &'static str,
    /// Where it goes.
    pub loc: Loc,
    /// Its type.
    pub ty: Ty,
    /// Must be given.
    pub required: bool,
    /// One line for the docs.
    pub doc: &'static str,
}

const fn p(name: &'static str, loc: Loc, ty: Ty, doc: &'static str) -> Param {
    Param {
        name,
        loc,
        ty,
        required: false,
        doc,
    }
}

const fn req(name: &'static str, loc: Loc, ty: Ty, doc: &'static str) -> Param {
    Param {
        name,
        loc,
        ty,
        required: true,
        doc,
    }
}

/// One Google method.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The dotted name tasks call (`admin.users.list`).
    pub name: &'static str,
    /// One line for the docs.
    pub summary: &'static str,
    /// API family.
    pub family: Family,
    /// HTTP verb.
    pub verb: Verb,
    /// Path template under the family root.
    pub path: &'static str,
    /// OAuth scopes requested.
    pub scopes: &'static [&'static str],
    /// Whom it impersonates.
    pub subject: Subject,
    /// Its parameters.
    pub params: &'static [Param],
    /// The array a page holds, for `autoPaginate` (None: not paginated).
    pub list_key: Option<&'static str>,
}

const SCOPE_DOMAIN: &str = "https://www.googleapis.com/auth/admin.directory.domain.readonly";
const SCOPE_USER: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly";
const SCOPE_GROUP: &str = "https://www.googleapis.com/auth/admin.directory.group.readonly";
const SCOPE_MEMBER: &str = "https://www.googleapis.com/auth/admin.directory.group.member.readonly";
const SCOPE_GMAIL_READ: &str = "https://www.googleapis.com/auth/gmail.readonly";
const SCOPE_GMAIL_SEND: &str = "https://www.googleapis.com/auth/gmail.send";
const SCOPE_CALENDAR: &str = "https://www.googleapis.com/auth/calendar.readonly";
const SCOPE_DRIVE: &str = "https://www.googleapis.com/auth/drive.readonly";

use Loc::{Local, Path, Query, Repeated};
use Ty::{Bool, Int, Object, Str, StrList};

const FIELDS: Param = p(
    "fields",
    Query,
    Str,
    "Partial response selector (Google's `fields`)",
);
const PAGE_TOKEN: Param = p(
    "pageToken",
    Query,
    Str,
    "Page to fetch (from a previous nextPageToken)",
);
const GMAIL_USER: Param = p(
    "userId",
    Path,
    Str,
    "The mailbox (e-mail address; `me` = the admin). Also the impersonated user",
);

/// Every method gapi serves, in documentation order.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        name: "admin.domains.list",
        summary: "List the customer's domains (Admin SDK domains.list)",
        family: Family::Admin,
        verb: Verb::Get,
        path: "/admin/directory/v1/customer/{customer}/domains",
        scopes: &[SCOPE_DOMAIN],
        subject: Subject::Admin,
        params: &[
            p(
                "customer",
                Path,
                Str,
                "Customer id (default `my_customer`; the admin e-mail means `my_customer`)",
            ),
            FIELDS,
        ],
        list_key: None,
    },
    Endpoint {
        name: "admin.users.list",
        summary: "List users (Admin SDK users.list)",
        family: Family::Admin,
        verb: Verb::Get,
        path: "/admin/directory/v1/users",
        scopes: &[SCOPE_USER],
        subject: Subject::Admin,
        params: &[
            p(
                "customer",
                Query,
                Str,
                "Customer id (default `my_customer` unless `domain` is given)",
            ),
            p("domain", Query, Str, "Only users of this domain"),
            p("maxResults", Query, Int, "Page size, 1-500 (default 100)"),
            p("orderBy", Query, Str, "email, familyName or givenName"),
            p("sortOrder", Query, Str, "ASCENDING or DESCENDING"),
            p("query", Query, Str, "Search query (`email:ada*`)"),
            p("showDeleted", Query, Bool, "List deleted users instead"),
            p("viewType", Query, Str, "admin_view or domain_public"),
            p("projection", Query, Str, "basic, custom or full"),
            p(
                "customFieldMask",
                Query,
                Str,
                "Schemas to include with projection=custom",
            ),
            PAGE_TOKEN,
            FIELDS,
        ],
        list_key: Some("users"),
    },
    Endpoint {
        name: "admin.users.get",
        summary: "Get one user (Admin SDK users.get)",
        family: Family::Admin,
        verb: Verb::Get,
        path: "/admin/directory/v1/users/{userKey}",
        scopes: &[SCOPE_USER],
        subject: Subject::Admin,
        params: &[
            req("userKey", Path, Str, "Primary e-mail, alias or user id"),
            p("projection", Query, Str, "basic, custom or full"),
            p("viewType", Query, Str, "admin_view or domain_public"),
            p(
                "customFieldMask",
                Query,
                Str,
                "Schemas to include with projection=custom",
            ),
            FIELDS,
        ],
        list_key: None,
    },
    Endpoint {
        name: "admin.groups.list",
        summary: "List groups (Admin SDK groups.list)",
        family: Family::Admin,
        verb: Verb::Get,
        path: "/admin/directory/v1/groups",
        scopes: &[SCOPE_GROUP],
        subject: Subject::Admin,
        params: &[
            p(
                "customer",
                Query,
                Str,
                "Customer id (default `my_customer` unless `domain` or `userKey` is given)",
            ),
            p("domain", Query, Str, "Only groups of this domain"),
            p("userKey", Query, Str, "Only groups this user belongs to"),
            p("maxResults", Query, Int, "Page size, 1-200"),
            p("orderBy", Query, Str, "email"),
            p("sortOrder", Query, Str, "ASCENDING or DESCENDING"),
            p("query", Query, Str, "Search query"),
            PAGE_TOKEN,
            FIELDS,
        ],
        list_key: Some("groups"),
    },
    Endpoint {
        name: "admin.members.list",
        summary: "List a group's members (Admin SDK members.list)",
        family: Family::Admin,
        verb: Verb::Get,
        path: "/admin/directory/v1/groups/{groupKey}/members",
        scopes: &[SCOPE_MEMBER],
        subject: Subject::Admin,
        params: &[
            req("groupKey", Path, Str, "Group e-mail, alias or id"),
            p(
                "includeDerivedMembership",
                Query,
                Bool,
                "Include indirect members",
            ),
            p("maxResults", Query, Int, "Page size, 1-200"),
            p(
                "roles",
                Query,
                Str,
                "OWNER, MANAGER, MEMBER (comma-separated, as Google defines it)",
            ),
            PAGE_TOKEN,
            FIELDS,
        ],
        list_key: Some("members"),
    },
    Endpoint {
        name: "gmail.users.messages.list",
        summary: "List a mailbox's messages (Gmail users.messages.list)",
        family: Family::Gmail,
        verb: Verb::Get,
        path: "/gmail/v1/users/{userId}/messages",
        scopes: &[SCOPE_GMAIL_READ],
        subject: Subject::User,
        params: &[
            GMAIL_USER,
            p(
                "q",
                Query,
                Str,
                "Gmail search query (`from:ada newer_than:7d`)",
            ),
            p("maxResults", Query, Int, "Page size, 1-500"),
            p(
                "labelIds",
                Repeated,
                StrList,
                "Only messages with all these labels (sent as repeated parameters)",
            ),
            p("includeSpamTrash", Query, Bool, "Include SPAM and TRASH"),
            PAGE_TOKEN,
            FIELDS,
        ],
        list_key: Some("messages"),
    },
    Endpoint {
        name: "gmail.users.messages.get",
        summary: "Get one message (Gmail users.messages.get)",
        family: Family::Gmail,
        verb: Verb::Get,
        path: "/gmail/v1/users/{userId}/messages/{id}",
        scopes: &[SCOPE_GMAIL_READ],
        subject: Subject::User,
        params: &[
            GMAIL_USER,
            req("id", Path, Str, "Message id"),
            p("format", Query, Str, "minimal, full, raw or metadata"),
            p(
                "metadataHeaders",
                Repeated,
                StrList,
                "Headers to return with format=metadata (sent as repeated parameters)",
            ),
            FIELDS,
        ],
        list_key: None,
    },
    Endpoint {
        name: "gmail.users.messages.send",
        summary: "Send a message (Gmail users.messages.send)",
        family: Family::Gmail,
        verb: Verb::Post,
        path: "/gmail/v1/users/{userId}/messages/send",
        scopes: &[SCOPE_GMAIL_SEND],
        subject: Subject::User,
        params: &[
            GMAIL_USER,
            p("raw", Local, Str, "The RFC 2822 message, base64url-encoded"),
            p("threadId", Local, Str, "Thread to add the message to"),
            p(
                "requestBody",
                Local,
                Object,
                "Gmail's Message resource ({raw, threadId}), googleapis style",
            ),
            p(
                "resource",
                Local,
                Object,
                "Same as requestBody (older googleapis name)",
            ),
            p(
                "to",
                Local,
                Str,
                "Recipients, when composing a plain-text message instead of `raw`",
            ),
            p("cc", Local, Str, "Cc recipients (composing)"),
            p("bcc", Local, Str, "Bcc recipients (composing)"),
            p(
                "from",
                Local,
                Str,
                "From header (composing; default: the sender's address)",
            ),
            p("subject", Local, Str, "Subject (composing)"),
            p("text", Local, Str, "Plain-text body (composing)"),
        ],
        list_key: None,
    },
    Endpoint {
        name: "gmail.users.labels.list",
        summary: "List a mailbox's labels (Gmail users.labels.list)",
        family: Family::Gmail,
        verb: Verb::Get,
        path: "/gmail/v1/users/{userId}/labels",
        scopes: &[SCOPE_GMAIL_READ],
        subject: Subject::User,
        params: &[GMAIL_USER, FIELDS],
        list_key: None,
    },
    Endpoint {
        name: "calendar.events.list",
        summary: "List a calendar's events (Calendar events.list)",
        family: Family::Calendar,
        verb: Verb::Get,
        path: "/calendar/v3/calendars/{calendarId}/events",
        scopes: &[SCOPE_CALENDAR],
        subject: Subject::CalendarOwner,
        params: &[
            p("calendarId", Path, Str, "Calendar id (default `primary`)"),
            p(
                "userId",
                Local,
                Str,
                "User to impersonate (default: the calendarId if it is an e-mail, else the admin)",
            ),
            p("timeMin", Query, Str, "RFC 3339 lower bound on end time"),
            p("timeMax", Query, Str, "RFC 3339 upper bound on start time"),
            p("q", Query, Str, "Free-text search"),
            p("maxResults", Query, Int, "Page size, up to 2500"),
            p("singleEvents", Query, Bool, "Expand recurring events"),
            p(
                "orderBy",
                Query,
                Str,
                "startTime (needs singleEvents) or updated",
            ),
            p("showDeleted", Query, Bool, "Include cancelled events"),
            p("timeZone", Query, Str, "Time zone of the response"),
            p(
                "updatedMin",
                Query,
                Str,
                "RFC 3339 lower bound on last modification",
            ),
            p("syncToken", Query, Str, "Incremental sync token"),
            p(
                "iCalUID",
                Query,
                Str,
                "Only the event with this iCalendar UID",
            ),
            PAGE_TOKEN,
            FIELDS,
        ],
        list_key: Some("items"),
    },
    Endpoint {
        name: "drive.files.list",
        summary: "List files (Drive files.list)",
        family: Family::Drive,
        verb: Verb::Get,
        path: "/drive/v3/files",
        scopes: &[SCOPE_DRIVE],
        subject: Subject::User,
        params: &[
            p(
                "userId",
                Local,
                Str,
                "User to impersonate (default: the admin)",
            ),
            p("q", Query, Str, "Drive search query"),
            p("pageSize", Query, Int, "Page size, 1-1000"),
            p("orderBy", Query, Str, "Sort keys (`modifiedTime desc`)"),
            p("corpora", Query, Str, "user, drive, domain or allDrives"),
            p("driveId", Query, Str, "Shared drive to search"),
            p(
                "includeItemsFromAllDrives",
                Query,
                Bool,
                "Include shared-drive items",
            ),
            p(
                "supportsAllDrives",
                Query,
                Bool,
                "The caller supports shared drives",
            ),
            p("spaces", Query, Str, "drive or appDataFolder"),
            PAGE_TOKEN,
            FIELDS,
        ],
        list_key: Some("files"),
    },
];

/// The endpoint called `name`, if any.
pub fn find(name: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.name == name)
}

impl Endpoint {
    /// JSON Schema of the arguments, generated from the parameter table.
    pub fn params_schema(&self) -> Value {
        let mut properties = Map::new();
        for param in self.params {
            let mut schema = match param.ty {
                Str => json!({ "type": "string" }),
                Int => json!({ "type": "integer", "minimum": 1 }),
                Bool => json!({ "type": "boolean" }),
                StrList => json!({ "type": ["array", "string"], "items": { "type": "string" } }),
                Object => json!({ "type": "object" }),
            };
            schema["description"] = json!(param.doc);
            properties.insert(param.name.to_owned(), schema);
        }
        if self.list_key.is_some() {
            properties.insert(
                "autoPaginate".into(),
                json!({ "type": "boolean", "description": "Follow nextPageToken and merge every page into one result" }),
            );
        }
        let required: Vec<&str> = self
            .params
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name)
            .collect();
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }

    /// JSON Schema of the result: Google's JSON, with the list documented when there is one.
    pub fn result_schema(&self) -> Value {
        match self.list_key {
            Some(key) => json!({
                "type": "object",
                "description": "Google's response body, unchanged (all pages merged with autoPaginate)",
                "properties": {
                    key: { "type": "array", "items": { "type": "object" } },
                    "nextPageToken": { "type": "string" },
                },
            }),
            None => json!({ "type": "object", "description": "Google's response body, unchanged" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_path_params_exist() {
        for (i, e) in ENDPOINTS.iter().enumerate() {
            assert!(
                ENDPOINTS[..i].iter().all(|o| o.name != e.name),
                "{} twice",
                e.name
            );
            for param in e.params.iter().filter(|p| p.loc == Loc::Path) {
                assert!(
                    e.path.contains(&format!("{{{}}}", param.name)),
                    "{}: {}",
                    e.name,
                    param.name
                );
            }
            if e.list_key.is_some() {
                assert!(
                    e.params.iter().any(|p| p.name == "pageToken"),
                    "{} paginates",
                    e.name
                );
            }
        }
    }

    #[test]
    fn schemas_list_required_params() {
        let schema = find("gmail.users.messages.get").unwrap().params_schema();
        assert_eq!(schema["required"], json!(["id"]));
        assert_eq!(schema["additionalProperties"], false);
        assert!(
            find("admin.users.list").unwrap().params_schema()["properties"]["autoPaginate"]
                .is_object()
        );
    }
}
