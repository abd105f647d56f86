//! Shared SQL pieces: per-backend statement pairs, the column lists of the row types, and JSON-array
//! parameters (one TEXT parameter carries a list, so statements stay fixed and prepared).

/// One statement in both dialects; [`crate::Store::sql`] picks the right one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sql {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl Sql {
    /// A statement that is the same text on both backends.
    pub const fn same(text: &'static str) -> Self {
        Self {
            sqlite: text,
            postgres: text,
        }
    }
}

/// Columns of `task_runs` in the order [`crate::TaskRun::from_row`] reads them.
macro_rules! task_run_columns {
    () => {
        "id, task_name, code_hash, input, status, result, error, parent_stack_run_id, lease_owner, \
         lease_expires_at, calls_completed, calls_seen, segment_times, ready_at, created_at, \
         started_at, suspended_at, ended_at, updated_at"
    };
}

/// Columns of `stack_runs` in the order [`crate::StackRun::from_row`] reads them.
macro_rules! stack_run_columns {
    () => {
        "id, task_run_id, parent_stack_run_id, seq, service, method, args, args_hash, idempotency_key, \
         status, result, error, attempts, max_attempts, ready_at, lease_owner, lease_expires_at, \
         delivered_segment, created_at, started_at, ended_at, updated_at"
    };
}

/// `IN (...)` source of a JSON array of integers bound as one TEXT parameter `$N`.
macro_rules! json_int_list {
    (sqlite, $param:literal) => {
        concat!("(SELECT value FROM json_each(", $param, "))")
    };
    (postgres, $param:literal) => {
        concat!(
            "(SELECT jsonb_array_elements_text(",
            $param,
            "::jsonb)::bigint)"
        )
    };
}

/// `IN (...)` source of a JSON array of strings bound as one TEXT parameter `$N`.
macro_rules! json_text_list {
    (sqlite, $param:literal) => {
        concat!("(SELECT value FROM json_each(", $param, "))")
    };
    (postgres, $param:literal) => {
        concat!("(SELECT jsonb_array_elements_text(", $param, "::jsonb))")
    };
}

/// `segment_times` with the integer SQL expression `$x` appended, by text surgery on the JSON
/// array (the same on both backends; PostgreSQL needs `$x` typed, e.g. `$2::bigint`). Not
/// through a JSON parse: the array grows by one entry per segment, and parsing it at every
/// segment made long runs' per-call cost grow with their length.
macro_rules! append_segment_time {
    ($x:literal) => {
        concat!(
            "CASE WHEN segment_times = '[]' THEN '[' || ",
            $x,
            " || ']' ELSE substr(segment_times, 1, length(segment_times) - 1) || ',' || ",
            $x,
            " || ']' END"
        )
    };
}

pub(crate) use {
    append_segment_time, json_int_list, json_text_list, stack_run_columns, task_run_columns,
};

/// Encodes a list as the JSON text bound to a `json_*_list!` parameter.
pub(crate) fn json_list<T: Clone + Into<serde_json::Value>>(items: &[T]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}
