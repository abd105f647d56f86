//! Task API helpers on a [`TestHost`] shared by the end-to-end tests: register a task,
//! submit a run, read its call tree, wait for its end. Thin wrappers over the task
//! executor's REST routes; they assert only that the host accepted the request.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::{Reply, TestHost};

impl TestHost {
    /// The task executor's base URL on its own port.
    pub fn tasks_url(&self) -> crate::Result<String> {
        self.service_url("task-executor")
    }

    /// `POST /tasks`: registers (or replaces) task `name`.
    pub fn register_task(&self, name: &str, code: &str) -> crate::Result<()> {
        self.post_json(
            &format!("{}/tasks", self.tasks_url()?),
            &json!({ "name": name, "code": code }),
        )?
        .expect_data(200)
        .with_context(|| format!("registering task {name}"))?;
        Ok(())
    }

    /// `POST /execute` without waiting; the raw reply.
    pub fn submit_task_reply(&self, name: &str, input: Value) -> crate::Result<Reply> {
        self.post_json(
            &format!("{}/execute", self.tasks_url()?),
            &json!({ "task_identifier": name, "input": input }),
        )
    }

    /// `POST /execute` without waiting; the new run's id.
    pub fn submit_task(&self, name: &str, input: Value) -> crate::Result<i64> {
        self.submit_task_reply(name, input)?.expect_data(202)?["taskRunId"]
            .as_i64()
            .context("taskRunId in the submit reply")
    }

    /// `GET /runs/{id}`: the run with its call tree.
    pub fn run_tree(&self, id: i64) -> crate::Result<Value> {
        self.get(&format!("{}/runs/{id}", self.tasks_url()?))?
            .expect_data(200)
    }

    /// Polls the run until it is completed or failed; fails after `timeout`.
    pub fn wait_run_ended(&self, id: i64, timeout: Duration) -> crate::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let run = self.run_tree(id)?;
            if matches!(run["status"].as_str(), Some("completed" | "failed")) {
                return Ok(run);
            }
            if Instant::now() > deadline {
                bail!("run {id} did not end within {timeout:?}: {run:#}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
