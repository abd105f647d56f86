//! Reads JSDoc comments: finds the task's header block, splits it into description and tags,
//! and parses `@param` / `@returns` / `@throws`. Pure text handling; no schema building.

use serde_json::Value;

use super::{ParamDoc, ReturnsDoc, TaskDoc, ThrowsDoc};

/// Parses a task's JSDoc. The description comes from the first `/** */` block; the tags come
/// from the first block that has any `@param`/`@returns`/`@throws` (usually the same block;
/// this skips a leading file comment without tags but ignores helper functions' docs below).
pub fn parse_task_doc(code: &str) -> TaskDoc {
    let blocks = doc_blocks(code);
    let Some(first) = blocks.first() else {
        return TaskDoc::default();
    };
    let mut doc = TaskDoc {
        description: split_block(first).0,
        ..TaskDoc::default()
    };
    let tagged = blocks
        .iter()
        .map(|block| split_block(block).1)
        .find(|tags| tags.iter().any(|t| is_schema_tag(&t.name)));
    for tag in tagged.unwrap_or_default() {
        match tag.name.as_str() {
            "param" | "arg" | "argument" => doc.params.extend(parse_param(&tag.body)),
            "returns" | "return" => {
                let (type_expr, description) = split_type(&tag.body);
                doc.returns = Some(ReturnsDoc {
                    type_expr,
                    description: strip_dash(&description),
                });
            }
            "throws" | "throw" | "exception" => {
                let (type_expr, description) = split_type(&tag.body);
                doc.throws.push(ThrowsDoc {
                    type_expr,
                    description: strip_dash(&description),
                });
            }
            "description" | "desc" if doc.description.is_empty() => {
                doc.description = tag.body.clone()
            }
            _ => {}
        }
    }
    doc
}

fn is_schema_tag(name: &str) -> bool {
    matches!(
        name,
        "param" | "arg" | "argument" | "returns" | "return" | "throws" | "throw" | "exception"
    )
}

/// The inner text of every `/** ... */` block, in order.
fn doc_blocks(code: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = code;
    while let Some(start) = rest.find("/**") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("*/") else { break };
        blocks.push(&after[..end]);
        rest = &after[end + 2..];
    }
    blocks
}

/// One `@name body` tag; continuation lines are joined into the body.
#[derive(Debug)]
struct Tag {
    name: String,
    body: String,
}

/// Splits a block into its description (lines before the first tag) and its tags.
fn split_block(block: &str) -> (String, Vec<Tag>) {
    let mut description: Vec<String> = Vec::new();
    let mut tags: Vec<Tag> = Vec::new();
    for raw in block.lines() {
        let line = clean_line(raw);
        if let Some(tagged) = line.strip_prefix('@') {
            let (name, body) = tagged
                .split_once(char::is_whitespace)
                .unwrap_or((tagged, ""));
            tags.push(Tag {
                name: name.to_owned(),
                body: body.trim().to_owned(),
            });
        } else if let Some(tag) = tags.last_mut() {
            if !line.is_empty() {
                tag.body = format!("{} {line}", tag.body).trim().to_owned();
            }
        } else {
            description.push(line.to_owned());
        }
    }
    (join_paragraphs(&description), tags)
}

/// Strips the comment decoration: indentation and one leading `*`.
fn clean_line(raw: &str) -> &str {
    let line = raw.trim();
    let line = line.strip_prefix('*').unwrap_or(line);
    line.trim()
}

/// Lines joined with spaces; blank lines separate paragraphs.
fn join_paragraphs(lines: &[String]) -> String {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in lines {
        if line.is_empty() {
            if !current.is_empty() {
                paragraphs.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        paragraphs.push(current.join(" "));
    }
    paragraphs.join("\n\n")
}

/// `{type} rest` → (type, rest); no braces → ("", body).
fn split_type(body: &str) -> (String, String) {
    let body = body.trim_start();
    if !body.starts_with('{') {
        return (String::new(), body.to_owned());
    }
    match balanced_end(body, '{', '}') {
        Some(end) => (
            body[1..end].trim().to_owned(),
            body[end + 1..].trim().to_owned(),
        ),
        None => (body[1..].trim().to_owned(), String::new()),
    }
}

/// The index of the bracket closing the one at index 0, skipping quoted text.
fn balanced_end(text: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            c if c == open => depth += 1,
            c if c == close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
    }
    None
}

fn strip_dash(text: &str) -> String {
    let text = text.trim();
    match text.strip_prefix('-') {
        Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
            rest.trim().to_owned()
        }
        _ => text.to_owned(),
    }
}

/// `{type} name - desc`, `{type} [name=default] desc`, `{type=} name`.
fn parse_param(body: &str) -> Option<ParamDoc> {
    let (mut type_expr, rest) = split_type(body);
    let mut optional = false;
    if let Some(stripped) = type_expr.strip_suffix('=') {
        type_expr = stripped.trim().to_owned();
        optional = true;
    }
    let rest = rest.trim_start();
    let (name_part, description) = if rest.starts_with('[') {
        // An unbalanced quote in a default (`[name=it's]`) falls back to the first `]`.
        let end = balanced_end(rest, '[', ']').or_else(|| rest.find(']'))?;
        optional = true;
        (&rest[1..end], &rest[end + 1..])
    } else {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        (&rest[..end], &rest[end..])
    };
    let (name, default) = match split_default(name_part) {
        Some((name, default)) => (name, Some(default)),
        None => (name_part.trim(), None),
    };
    if name.is_empty() {
        return None;
    }
    Some(ParamDoc {
        name: name.to_owned(),
        type_expr,
        optional,
        default: default.and_then(parse_default),
        description: strip_dash(description),
    })
}

/// `name=default` → (name, default text); names cannot contain `=`, so the first one splits.
fn split_default(text: &str) -> Option<(&str, &str)> {
    let index = text.find('=')?;
    Some((text[..index].trim(), text[index + 1..].trim()))
}

/// JSON when it parses (`""`, `10`, `false`, `[]`, `{"a":1}`), a single-quoted JS string
/// unquoted, anything else as the literal text; an empty default is no default.
fn parse_default(text: &str) -> Option<Value> {
    if text.is_empty() {
        return None;
    }
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Some(value);
    }
    let unquoted = text
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .or_else(|| text.strip_prefix('`').and_then(|t| t.strip_suffix('`')));
    Some(Value::String(unquoted.unwrap_or(text).to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn param_forms() {
        let p = parse_param("{string} [input.query=\"\"] - Gmail search query").unwrap();
        assert_eq!(
            (p.name.as_str(), p.optional, p.default.clone()),
            ("input.query", true, Some(json!("")))
        );
        assert_eq!(p.description, "Gmail search query");
        let p = parse_param("{number} limit how many").unwrap();
        assert_eq!(
            (p.name.as_str(), p.optional, p.description.as_str()),
            ("limit", false, "how many")
        );
        let p = parse_param("{string=} [mode='fast']").unwrap();
        assert_eq!((p.optional, p.default), (true, Some(json!("fast"))));
        let p = parse_param("{Object} [opts={\"a\": [1, 2]}] - nested").unwrap();
        assert_eq!(p.default, Some(json!({ "a": [1, 2] })));
        let p = parse_param("{string} [name=John Smith] - plain text default").unwrap();
        assert_eq!(p.default, Some(json!("John Smith")));
        let p = parse_param("{{a: string}} shape - record type").unwrap();
        assert_eq!(p.type_expr, "{a: string}");
    }

    #[test]
    fn returns_keeps_the_whole_description() {
        let doc = parse_task_doc(
            "/**\n * Does it\n * @returns {Object} Comprehensive search results\n */",
        );
        let returns = doc.returns.unwrap();
        assert_eq!(returns.type_expr, "Object");
        assert_eq!(returns.description, "Comprehensive search results");
    }

    #[test]
    fn description_skips_tags_and_joins_continuations() {
        let code = "/** First line\n * second line\n *\n * Next paragraph\n * @param {string} q - the query\n *   that continues\n */\nfunction x() {}\n/** helper\n * @param {number} n */";
        let doc = parse_task_doc(code);
        assert_eq!(doc.description, "First line second line\n\nNext paragraph");
        assert_eq!(doc.params.len(), 1);
        assert_eq!(doc.params[0].description, "the query that continues");
    }

    #[test]
    fn no_comment_gives_empty_doc() {
        assert_eq!(
            parse_task_doc("module.exports = async () => 1;"),
            TaskDoc::default()
        );
    }
}
