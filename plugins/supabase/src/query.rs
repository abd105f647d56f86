//! The query a chain describes, independent of where it runs: target, action, filters
//! and modifiers. Built by `chain`, turned into SQL by `sql` or into a PostgREST request by
//! `forward`. Holds names exactly as the caller wrote them; nothing here is validated
//! against a schema.

use serde_json::{Map, Value};

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// `from(table)` or `rpc(fn, args)`.
    pub target: QueryTarget,
    /// What to do with the rows.
    pub action: Action,
    /// The `select(...)` column list; `None` means no `select()` call at all.
    pub columns: Option<Vec<SelectItem>>,
    /// Count rows (`{count: "exact" | "planned" | "estimated"}`, all counted exactly).
    pub count: bool,
    /// `{head: true}`: no rows, only the count.
    pub head: bool,
    /// ANDed conditions.
    pub filters: Vec<Condition>,
    /// Sort keys, in call order.
    pub order: Vec<OrderTerm>,
    /// `limit(n)` or the size of `range(from, to)`.
    pub limit: Option<u64>,
    /// The start of `range(from, to)`.
    pub offset: Option<u64>,
    /// `single()` / `maybeSingle()`.
    pub cardinality: Cardinality,
    /// `rollback()`: run, answer, but do not commit.
    pub rollback: bool,
    /// `maxAffected(n)`: fail and roll back when more rows change.
    pub max_affected: Option<u64>,
}

/// What the chain starts from.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum QueryTarget {
    /// No `from` or `rpc` yet.
    #[default]
    None,
    /// `from(table)`.
    Table(String),
    /// `rpc(function, args)`.
    Rpc {
        /// Function name.
        function: String,
        /// Named arguments.
        args: Map<String, Value>,
    },
}

/// The operation.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Action {
    /// Read rows (also: call a function).
    #[default]
    Select,
    /// `insert(rows, {defaultToNull})`.
    Insert {
        /// The rows, each an object.
        rows: Vec<Map<String, Value>>,
        /// Missing columns become NULL (true, the default for arrays) or take defaults.
        default_to_null: bool,
    },
    /// `upsert(rows, {onConflict, ignoreDuplicates, defaultToNull})`.
    Upsert {
        /// The rows.
        rows: Vec<Map<String, Value>>,
        /// Conflict columns; `None` = the primary key.
        on_conflict: Option<Vec<String>>,
        /// Keep existing rows instead of merging.
        ignore_duplicates: bool,
        /// As for insert.
        default_to_null: bool,
    },
    /// `update(values)`.
    Update {
        /// Column → new value.
        values: Map<String, Value>,
    },
    /// `delete()`.
    Delete,
}

impl Action {
    /// The SQL verb, for messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Select => "SELECT",
            Action::Insert { .. } | Action::Upsert { .. } => "INSERT",
            Action::Update { .. } => "UPDATE",
            Action::Delete => "DELETE",
        }
    }
    /// Whether it changes rows.
    pub fn is_mutation(&self) -> bool {
        !matches!(self, Action::Select)
    }
}

/// One entry of a select list: `alias:column` or `*`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectItem {
    /// The column, or `*`.
    pub column: String,
    /// The output name when different from the column.
    pub alias: Option<String>,
}

/// `single()` / `maybeSingle()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cardinality {
    /// An array of rows.
    #[default]
    Many,
    /// Exactly one row, else PGRST116.
    Single,
    /// Zero rows → null, one → the row, more → PGRST116.
    MaybeSingle,
}

/// One `order(column, {ascending, nullsFirst})`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderTerm {
    /// The column.
    pub column: String,
    /// Ascending (the default) or descending.
    pub ascending: bool,
    /// Explicit NULL placement; `None` = PostgreSQL's default (last when ascending).
    pub nulls_first: Option<bool>,
}

impl OrderTerm {
    /// Where NULLs go, resolved to PostgreSQL's default so both backends agree.
    pub fn nulls_first_resolved(&self) -> bool {
        self.nulls_first.unwrap_or(!self.ascending)
    }
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `column op value`, possibly negated.
    Test {
        /// The column.
        column: String,
        /// `not.` prefix.
        negated: bool,
        /// The operator.
        op: Operator,
        /// The value: a scalar, an array for `in`/`cs`/`cd`/`ov`/`like(all)`, or the
        /// `is` keyword as JSON null/true/false/"unknown"/"not_null".
        value: Value,
    },
    /// `and(...)`.
    All(Vec<Condition>),
    /// `or(...)`.
    Any(Vec<Condition>),
    /// `not.and(...)` / `not.or(...)`.
    Not(Box<Condition>),
}

/// Full-text search flavours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtsKind {
    /// `fts`: to_tsquery.
    Plain,
    /// `plfts`: plainto_tsquery.
    PlainText,
    /// `phfts`: phraseto_tsquery.
    Phrase,
    /// `wfts`: websearch_to_tsquery.
    Websearch,
}

/// Filter operators (PostgREST names in comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// eq
    Eq,
    /// neq
    Neq,
    /// gt
    Gt,
    /// gte
    Gte,
    /// lt
    Lt,
    /// lte
    Lte,
    /// like
    Like,
    /// ilike
    Ilike,
    /// like(all) / like(any) / ilike(all) / ilike(any)
    LikeList {
        /// ilike instead of like.
        insensitive: bool,
        /// all instead of any.
        all: bool,
    },
    /// match (regex)
    Match,
    /// imatch (case-insensitive regex)
    Imatch,
    /// in
    In,
    /// is
    Is,
    /// isdistinct
    IsDistinct,
    /// cs
    Contains,
    /// cd
    ContainedBy,
    /// ov
    Overlaps,
    /// fts, plfts, phfts, wfts with an optional config
    Fts {
        /// Which tsquery function.
        kind: FtsKind,
        /// Text search configuration (e.g. `english`).
        config: Option<String>,
    },
}

impl Operator {
    /// Parses a PostgREST operator name (`eq`, `like(any)`, `fts(english)`, ...).
    pub fn parse(name: &str) -> Option<Self> {
        let (base, paren) = match name.split_once('(') {
            Some((b, rest)) => (b, Some(rest.strip_suffix(')')?)),
            None => (name, None),
        };
        let op = match (base, paren) {
            ("eq", None) => Self::Eq,
            ("neq", None) => Self::Neq,
            ("gt", None) => Self::Gt,
            ("gte", None) => Self::Gte,
            ("lt", None) => Self::Lt,
            ("lte", None) => Self::Lte,
            ("like", None) => Self::Like,
            ("ilike", None) => Self::Ilike,
            ("like" | "ilike", Some(q @ ("all" | "any"))) => Self::LikeList {
                insensitive: base == "ilike",
                all: q == "all",
            },
            ("match", None) => Self::Match,
            ("imatch", None) => Self::Imatch,
            ("in", None) => Self::In,
            ("is", None) => Self::Is,
            ("isdistinct", None) => Self::IsDistinct,
            ("cs", None) => Self::Contains,
            ("cd", None) => Self::ContainedBy,
            ("ov", None) => Self::Overlaps,
            ("fts" | "plfts" | "phfts" | "wfts", config) => Self::Fts {
                kind: match base {
                    "fts" => FtsKind::Plain,
                    "plfts" => FtsKind::PlainText,
                    "phfts" => FtsKind::Phrase,
                    _ => FtsKind::Websearch,
                },
                config: config.map(str::to_owned),
            },
            _ => return None,
        };
        Some(op)
    }

    /// The PostgREST operator name (for forwarding).
    pub fn wire_name(&self) -> String {
        match self {
            Self::Eq => "eq".into(),
            Self::Neq => "neq".into(),
            Self::Gt => "gt".into(),
            Self::Gte => "gte".into(),
            Self::Lt => "lt".into(),
            Self::Lte => "lte".into(),
            Self::Like => "like".into(),
            Self::Ilike => "ilike".into(),
            Self::LikeList { insensitive, all } => format!(
                "{}({})",
                if *insensitive { "ilike" } else { "like" },
                if *all { "all" } else { "any" }
            ),
            Self::Match => "match".into(),
            Self::Imatch => "imatch".into(),
            Self::In => "in".into(),
            Self::Is => "is".into(),
            Self::IsDistinct => "isdistinct".into(),
            Self::Contains => "cs".into(),
            Self::ContainedBy => "cd".into(),
            Self::Overlaps => "ov".into(),
            Self::Fts { kind, config } => {
                let base = match kind {
                    FtsKind::Plain => "fts",
                    FtsKind::PlainText => "plfts",
                    FtsKind::Phrase => "phfts",
                    FtsKind::Websearch => "wfts",
                };
                match config {
                    Some(c) => format!("{base}({c})"),
                    None => base.into(),
                }
            }
        }
    }
}
