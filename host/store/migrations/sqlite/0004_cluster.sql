-- Keep in step with postgres/0004_cluster.sql. SQLite serves one host (one process), whose
-- workers are woken in memory, so it needs no NOTIFY triggers; only the index.

CREATE INDEX IF NOT EXISTS hosts_heartbeat ON hosts (heartbeat_at);
