//! JSDoc → task schema: parses a task's header comment (`@param`, `@returns`, `@throws`) into a
//! [`TaskDoc`] and renders it as a JSON, OpenAPI or OpenAI function-tool schema, fixing the
//! original's parser bugs (defaults kept in names, the first word of `@returns` taken as a
//! property). It never runs the task code and never fails: odd comments give looser schemas.

mod parse;
mod render;
mod tree;
mod types;

use std::str::FromStr;

pub use parse::parse_task_doc;
pub use render::task_schema;
pub use types::type_schema;

/// What a task's header comment says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskDoc {
    /// The first `/** */` block's text without its tag lines.
    pub description: String,
    /// The `@param` tags, in order.
    pub params: Vec<ParamDoc>,
    /// The `@returns` tag.
    pub returns: Option<ReturnsDoc>,
    /// The `@throws` tags.
    pub throws: Vec<ThrowsDoc>,
}

/// One `@param {type} [name=default] - description`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDoc {
    /// The name as written, without brackets and default (`input.options.limit`).
    pub name: String,
    /// The type expression between the braces (`string`, `Array<string>`, `?number`).
    pub type_expr: String,
    /// Written in brackets, or with a type ending in `=`.
    pub optional: bool,
    /// The default after `=`, parsed as JSON when possible, else kept as a string.
    pub default: Option<serde_json::Value>,
    /// The text after the name (a leading ` - ` removed).
    pub description: String,
}

/// `@returns {type} description`: the description is never split into property names.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnsDoc {
    /// The type expression (`Object`, `Promise<string[]>`).
    pub type_expr: String,
    /// The text after the type.
    pub description: String,
}

/// `@throws {type} description`.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrowsDoc {
    /// The error type (`Error`); empty when the tag has no braces.
    pub type_expr: String,
    /// When it is thrown.
    pub description: String,
}

/// The shapes `GET /schema?task=NAME&format=...` can answer with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SchemaFormat {
    /// `{name, description, input, returns, throws}` with a JSON Schema as `input`.
    #[default]
    Json,
    /// An OpenAPI 3.0.3 document with `POST /execute`.
    OpenApi,
    /// An OpenAI function tool `{name, description, parameters}`.
    OpenAi,
}

/// A `format` that is not `json`, `openapi` or `openai`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown schema format `{0}` (expected json, openapi or openai)")]
pub struct UnknownSchemaFormat(pub String);

impl FromStr for SchemaFormat {
    type Err = UnknownSchemaFormat;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "json" => Ok(Self::Json),
            "openapi" => Ok(Self::OpenApi),
            "openai" => Ok(Self::OpenAi),
            _ => Err(UnknownSchemaFormat(text.to_owned())),
        }
    }
}
