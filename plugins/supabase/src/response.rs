//! The answer as supabase-js shows it (`{data, error, count, status, statusText}`) and
//! PostgREST-style failures (`{code, message, details, hint}` plus an HTTP status), with
//! their mapping onto the host's error codes. Pure data; no database or HTTP here.

use serde_json::{Value, json};
use tasker_plugin_api::{ErrorCode, PluginError};

/// A PostgREST-style failure: HTTP status plus the error object supabase-js shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The HTTP status PostgREST would answer with (e.g. 406 for PGRST116).
    pub status: u16,
    /// PostgREST (`PGRST116`) or SQLSTATE (`23505`) code.
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// More detail, when known.
    pub details: Option<String>,
    /// How to fix it, when known.
    pub hint: Option<String>,
}

/// Results inside the plugin.
pub type Result<T, E = Failure> = std::result::Result<T, E>;

impl Failure {
    /// A failure with status, code and message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            details: None,
            hint: None,
        }
    }
    /// Adds details.
    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }
    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// PGRST100: the chain or a filter string cannot be parsed.
    pub fn parse(message: impl Into<String>) -> Self {
        Self::new(400, "PGRST100", message)
    }
    /// 42703: a column that the table does not have.
    pub fn unknown_column(table: &str, column: &str) -> Self {
        Self::new(
            400,
            "42703",
            format!("column {table}.{column} does not exist"),
        )
    }
    /// PGRST205: a table that does not exist.
    pub fn unknown_table(schema: &str, table: &str) -> Self {
        Self::new(
            404,
            "PGRST205",
            format!("Could not find the table '{schema}.{table}' in the schema cache"),
        )
    }
    /// 42501: a table the configuration does not let the caller reach.
    pub fn forbidden_table(table: &str) -> Self {
        Self::new(403, "42501", format!("permission denied for table {table}")).hint(
            "internal tables are reachable only when listed in the plugin config \"tables.allow\"",
        )
    }
    /// 0A000: something the backend cannot do.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(501, "0A000", message)
    }

    /// The supabase-js error object.
    pub fn error_object(&self) -> Value {
        json!({
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "hint": self.hint,
        })
    }

    /// The whole supabase-js response for this failure.
    pub fn response(&self) -> Value {
        json!({
            "data": null,
            "error": self.error_object(),
            "count": null,
            "status": self.status,
            "statusText": status_text(self.status),
        })
    }

    /// The host error: the closest error code for the status, the supabase-js response in
    /// `details`. 406 (PGRST116) becomes NOT_FOUND when no row matched and VALIDATION when
    /// several did; 405 and 416 become AUTHORIZATION and VALIDATION; `details.status`
    /// keeps the exact PostgREST status.
    pub fn into_plugin_error(self) -> PluginError {
        let code = match self.status {
            400 | 416 | 422 => ErrorCode::Validation,
            401 => ErrorCode::Authentication,
            403 | 405 => ErrorCode::Authorization,
            404 => ErrorCode::NotFound,
            406 if self
                .details
                .as_deref()
                .is_some_and(|d| d.contains(" 0 rows")) =>
            {
                ErrorCode::NotFound
            }
            406 => ErrorCode::Validation,
            409 => ErrorCode::Conflict,
            429 => ErrorCode::RateLimit,
            501 => ErrorCode::NotImplemented,
            502 => ErrorCode::ExternalService,
            503 => ErrorCode::Configuration,
            504 => ErrorCode::Timeout,
            s if (400..500).contains(&s) => ErrorCode::Validation,
            _ => ErrorCode::Internal,
        };
        let message = if self.code.is_empty() {
            self.message.clone()
        } else {
            format!("{} ({})", self.message, self.code)
        };
        PluginError::new(code, message).with_details(self.response())
    }
}

/// The reason phrase supabase-js reports as `statusText`.
pub fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Success {
    /// Rows, one row, a scalar or null.
    pub data: Value,
    /// The exact count when asked for.
    pub count: Option<i64>,
    /// 200, 201, 204 or 206.
    pub status: u16,
}

impl Success {
    /// The supabase-js response object.
    pub fn response(&self) -> Value {
        json!({
            "data": self.data,
            "error": null,
            "count": self.count,
            "status": self.status,
            "statusText": status_text(self.status),
        })
    }
}

/// What `single()` / `maybeSingle()` return for a row count that is not allowed.
pub fn not_one_row(rows: usize) -> Failure {
    Failure::new(
        406,
        "PGRST116",
        "JSON object requested, multiple (or no) rows returned",
    )
    .details(format!("The result contains {rows} rows"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_with_no_rows_is_not_found_and_keeps_406() {
        let e = not_one_row(0).into_plugin_error();
        assert_eq!(e.code, ErrorCode::NotFound);
        let details = e.details.unwrap();
        assert_eq!(details["status"], 406);
        assert_eq!(details["error"]["code"], "PGRST116");
        assert_eq!(
            not_one_row(2).into_plugin_error().code,
            ErrorCode::Validation
        );
    }

    #[test]
    fn conflicts_map_to_conflict() {
        let e = Failure::new(409, "23505", "duplicate key").into_plugin_error();
        assert_eq!(e.code, ErrorCode::Conflict);
        assert!(e.message.contains("23505"));
    }
}
