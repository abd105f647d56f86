//! The host's captured output (stdout and stderr files) and waiting for a log line.
//! It only reads the files the harness redirected the child's output into.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;

/// Where a host's output goes.
#[derive(Debug, Clone)]
pub struct Logs {
    /// The child's stdout file.
    pub stdout: PathBuf,
    /// The child's stderr file.
    pub stderr: PathBuf,
}

impl Logs {
    /// stdout then stderr, as text so far (missing files read as empty).
    pub fn text(&self) -> String {
        let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        format!("{out}{err}")
    }

    /// stderr alone.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Every log line (stdout and stderr) containing all of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| needles.iter().all(|n| line.contains(n)))
            .map(str::to_owned)
            .collect()
    }

    /// Polls until a line containing all of `needles` appears, or fails after `timeout`.
    pub fn wait_for_line(&self, needles: &[&str], timeout: Duration) -> crate::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.lines_with(needles).into_iter().next() {
                return Ok(line);
            }
            if Instant::now() >= deadline {
                bail!(
                    "no log line containing {needles:?} within {timeout:?}; logs:\n{}",
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
