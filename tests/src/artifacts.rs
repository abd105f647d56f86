//! Finds the build artifacts the tests run: the `tasker-host` binary and plugin `.so`
//! files in the cargo target directory the test executable itself was built into.
//! It never builds anything: a missing file is an error telling to run the build.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Overrides where the host binary is (otherwise `<profile dir>/tasker-host`).
const HOST_BIN_ENV: &str = "TASKER_HOST_BIN";

/// What to run when an artifact is missing.
const BUILD_HINT: &str = "run `cargo build --workspace` first (from the workspace root)";

/// The profile directory (`target/debug`): the test executable is
/// `target/debug/deps/<test>-<hash>`, so it is two levels up.
pub fn profile_dir() -> crate::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test executable")?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .with_context(|| format!("{} has no grandparent directory", exe.display()))
}

/// The cargo target directory (`target`), parent of the profile directory.
pub fn cargo_target_dir() -> crate::Result<PathBuf> {
    let profile = profile_dir()?;
    profile
        .parent()
        .map(Path::to_path_buf)
        .with_context(|| format!("{} has no parent directory", profile.display()))
}

/// The `tasker-host` binary, from `TASKER_HOST_BIN` or next to the test's profile dir.
pub fn host_binary() -> crate::Result<PathBuf> {
    let path = match std::env::var_os(HOST_BIN_ENV) {
        Some(path) => PathBuf::from(path),
        None => profile_dir()?.join("tasker-host"),
    };
    if !path.is_file() {
        bail!(
            "tasker-host binary not found at {}: {BUILD_HINT}",
            path.display()
        );
    }
    Ok(path)
}

/// `lib<crate_name_with_underscores>.so` for a plugin crate name such as `echo-service`.
pub fn plugin_file_name(crate_name: &str) -> String {
    format!("lib{}.so", crate_name.replace('-', "_"))
}

/// The built plugin file of a workspace crate (e.g. `echo_service` or `echo-service`).
pub fn plugin_file(crate_name: &str) -> crate::Result<PathBuf> {
    let path = profile_dir()?.join(plugin_file_name(crate_name));
    if !path.is_file() {
        bail!("plugin file {} not found: {BUILD_HINT}", path.display());
    }
    Ok(path)
}
