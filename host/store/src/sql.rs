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
         lease_expires_at, calls_completed, calls_seen, segment_count, last_segment_at, ready_at, \
         created_at, started_at, suspended_at, ended_at, updated_at"
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

/// SQLite: `IN (...)` source of a JSON array of integers bound as one TEXT parameter `$N`.
macro_rules! json_int_list {
    (sqlite, $param:literal) => {
        concat!("(SELECT value FROM json_each(", $param, "))")
    };
}

/// PostgreSQL: the integers of the JSON array `$param` (or the `$key` of each of its objects)
/// as an array, for `id = ANY(...)`. Never join a JSON set to a table by id instead: the
/// planner guesses 100 rows for any set-returning function and then finds scanning the whole
/// table cheaper than 100 index probes, so every batch statement cost grew with the table
/// (measured: sequential calls 1.7x slower per call at 1,000 calls than at 10). With
/// `= ANY(array)` on the key it probes the index however large the table.
macro_rules! pg_ids {
    ($param:literal) => {
        concat!(
            "ARRAY(SELECT value::bigint FROM jsonb_array_elements_text(",
            $param,
            "::jsonb))"
        )
    };
    ($param:literal, $key:literal) => {
        concat!(
            "ARRAY(SELECT (e->>'",
            $key,
            "')::bigint FROM jsonb_array_elements(",
            $param,
            "::jsonb) e)"
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

/// SET items that start the run's next segment at time `$x` (an integer SQL expression;
/// PostgreSQL needs it typed, e.g. `$2::bigint`), when `$cond` holds on the old row. The
/// `run_segment_logged` trigger (migration 0005) appends it to `run_segments`: the row stays
/// the same size however long the run, where a JSON array of times grew with every segment.
macro_rules! new_segment_if {
    ($cond:expr, $x:expr) => {
        concat!(
            "segment_count = segment_count + CASE WHEN ",
            $cond,
            " THEN 1 ELSE 0 END, last_segment_at = CASE WHEN ",
            $cond,
            " THEN ",
            $x,
            " ELSE last_segment_at END"
        )
    };
}

pub(crate) use {
    json_int_list, json_text_list, new_segment_if, pg_ids, stack_run_columns, task_run_columns,
};

/// Encodes a list as the JSON text bound to a `json_*_list!` parameter.
pub(crate) fn json_list<T: Clone + Into<serde_json::Value>>(items: &[T]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}
