-- tasker schema, PostgreSQL flavour. Keep in step with migrations/sqlite/0001_initial.sql (same tables,
-- columns, constraints and indexes). Timestamps are unix milliseconds (BIGINT), JSON is TEXT, flags are
-- INTEGER 0/1: sqlx's Any driver cannot decode TIMESTAMPTZ or JSONB. Migrations are append-only.

CREATE TABLE task_functions (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    code        TEXT    NOT NULL,
    description TEXT,
    schema      TEXT,
    code_hash   TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE task_runs (
    id                  BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_name           TEXT    NOT NULL,
    code_hash           TEXT    NOT NULL,
    input               TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN
                            ('pending', 'running', 'suspended', 'resumable', 'completed', 'failed', 'cancelled')),
    result              TEXT,
    error               TEXT,
    parent_stack_run_id BIGINT,
    lease_owner         TEXT,
    lease_expires_at    BIGINT,
    calls_completed     BIGINT  NOT NULL DEFAULT 0,
    calls_seen          BIGINT  NOT NULL DEFAULT 0,
    segment_times       TEXT    NOT NULL DEFAULT '[]',
    ready_at            BIGINT  NOT NULL,
    created_at          BIGINT  NOT NULL,
    started_at          BIGINT,
    suspended_at        BIGINT,
    ended_at            BIGINT,
    updated_at          BIGINT  NOT NULL
);

-- Ready runs in FIFO order of the moment they became ready (ready_at: created, or woken up).
CREATE INDEX task_runs_ready ON task_runs (ready_at, id) WHERE status IN ('pending', 'resumable');
CREATE INDEX task_runs_leased ON task_runs (lease_expires_at) WHERE status = 'running';
CREATE INDEX task_runs_owner ON task_runs (lease_owner) WHERE status = 'running';
CREATE INDEX task_runs_status ON task_runs (status);
CREATE INDEX task_runs_parent ON task_runs (parent_stack_run_id) WHERE parent_stack_run_id IS NOT NULL;

CREATE TABLE stack_runs (
    id                  BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_run_id         BIGINT  NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    parent_stack_run_id BIGINT,
    seq                 BIGINT  NOT NULL,
    service             TEXT    NOT NULL,
    method              TEXT    NOT NULL,
    args                TEXT    NOT NULL,
    args_hash           TEXT    NOT NULL,
    idempotency_key     TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    result              TEXT,
    error               TEXT,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    max_attempts        BIGINT  NOT NULL,
    ready_at            BIGINT  NOT NULL,
    lease_owner         TEXT,
    lease_expires_at    BIGINT,
    delivered_segment   BIGINT,
    created_at          BIGINT  NOT NULL,
    started_at          BIGINT,
    ended_at            BIGINT,
    updated_at          BIGINT  NOT NULL,
    UNIQUE (task_run_id, seq)
);

-- Claim: oldest ready first, optionally per service (capability-aware claims).
CREATE INDEX stack_runs_ready ON stack_runs (ready_at, id) WHERE status = 'pending';
CREATE INDEX stack_runs_ready_service ON stack_runs (service, ready_at, id) WHERE status = 'pending';
-- Reclaim of expired leases, and renew/release by owner.
CREATE INDEX stack_runs_leased ON stack_runs (lease_expires_at) WHERE status = 'processing';
CREATE INDEX stack_runs_owner ON stack_runs (lease_owner) WHERE status = 'processing';

CREATE TABLE task_logs (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_run_id BIGINT  NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    seq         BIGINT  NOT NULL,
    level       TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    UNIQUE (task_run_id, seq)
);

CREATE TABLE hosts (
    id           TEXT   PRIMARY KEY,
    address      TEXT   NOT NULL,
    services     TEXT   NOT NULL DEFAULT '[]',
    version      TEXT   NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
