//! What the live schema says about a table: its columns (name, kind, PostgreSQL type) and
//! primary key. The classification of declared types into kinds lives here; loading is
//! done by the backend modules. Nothing here touches a database.

/// What a column holds, as far as binding and decoding care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Whole numbers.
    Integer,
    /// Floating point.
    Float,
    /// Exact decimals.
    Numeric,
    /// true/false (SQLite: 0/1).
    Boolean,
    /// Strings.
    Text,
    /// JSON documents (SQLite: JSON text).
    Json,
    /// Dates and times (strings in and out; ISO 8601 out).
    Timestamp,
    /// PostgreSQL arrays.
    Array,
    /// Binary.
    Bytes,
    /// Anything else (treated as text).
    Other,
}

impl Kind {
    /// Classifies a SQLite declared type (with SQLite's own affinity rules as fallback).
    pub fn from_sqlite_decl(decl: &str) -> Self {
        let d = decl.to_ascii_uppercase();
        if d.contains("BOOL") {
            Kind::Boolean
        } else if d.contains("JSON") {
            Kind::Json
        } else if d.contains("DATE") || d.contains("TIME") {
            Kind::Timestamp
        } else if d.contains("INT") {
            Kind::Integer
        } else if d.contains("CHAR")
            || d.contains("CLOB")
            || d.contains("TEXT")
            || d.contains("UUID")
        {
            Kind::Text
        } else if d.contains("BLOB") {
            Kind::Bytes
        } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
            Kind::Float
        } else if d.is_empty() {
            Kind::Other
        } else {
            Kind::Numeric
        }
    }

    /// Classifies a PostgreSQL type by its `pg_type.typname` (`udt_name`).
    pub fn from_pg_type(typname: &str) -> Self {
        if typname.starts_with('_') {
            return Kind::Array;
        }
        match typname {
            "int2" | "int4" | "int8" | "oid" => Kind::Integer,
            "float4" | "float8" => Kind::Float,
            "numeric" | "money" => Kind::Numeric,
            "bool" => Kind::Boolean,
            "json" | "jsonb" => Kind::Json,
            "text" | "varchar" | "bpchar" | "name" | "citext" | "uuid" => Kind::Text,
            "timestamp" | "timestamptz" | "date" | "time" | "timetz" | "interval" => {
                Kind::Timestamp
            }
            "bytea" => Kind::Bytes,
            _ => Kind::Other,
        }
    }

    /// Whether `like` can be applied without a cast.
    pub fn is_textual(self) -> bool {
        matches!(self, Kind::Text | Kind::Other)
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its name, exactly as the database spells it.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// PostgreSQL: the type to cast bound text to (`"pg_catalog"."int4"`); SQLite: empty.
    pub pg_cast: String,
}

/// One table or view.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Its name, exactly as the database spells it.
    pub name: String,
    /// PostgreSQL schema (empty on SQLite).
    pub schema: String,
    /// Columns in definition order.
    pub columns: Vec<Column>,
    /// Primary key columns, in key order.
    pub primary_key: Vec<String>,
}

impl Table {
    /// Finds a column by exact name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Quotes an identifier for SQL (both backends use double quotes).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_declared_types() {
        assert_eq!(Kind::from_sqlite_decl("INTEGER"), Kind::Integer);
        assert_eq!(Kind::from_sqlite_decl("boolean"), Kind::Boolean);
        assert_eq!(Kind::from_sqlite_decl("JSONB"), Kind::Json);
        assert_eq!(Kind::from_sqlite_decl("TIMESTAMP"), Kind::Timestamp);
        assert_eq!(Kind::from_sqlite_decl("VARCHAR(20)"), Kind::Text);
        assert_eq!(Kind::from_sqlite_decl("DOUBLE PRECISION"), Kind::Float);
        assert_eq!(Kind::from_pg_type("_int4"), Kind::Array);
        assert_eq!(Kind::from_pg_type("timestamptz"), Kind::Timestamp);
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
