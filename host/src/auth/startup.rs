//! Start-up decisions about authentication: load the configured tokens (an empty
//! configuration is an error, not silently "auth off"), refuse a non-loopback bind
//! without tokens unless `--insecure-no-auth`, and say at start-up whether auth is on.

use std::net::IpAddr;

use super::TokenSet;
use crate::config::ServeArgs;

/// Loads the tokens from `TASKER_API_TOKENS` and `--api-tokens-file`.
pub fn load_tokens(args: &ServeArgs) -> Result<TokenSet, String> {
    if !args.api_tokens_configured() {
        return Ok(TokenSet::default());
    }
    let env_value = args.api_tokens.as_ref().map(|t| t.expose());
    let tokens = TokenSet::load(env_value, args.api_tokens_file.as_deref())
        .map_err(|e| format!("cannot load the API tokens: {e}"))?;
    if !tokens.is_enabled() {
        return Err(
            "API tokens are configured (TASKER_API_TOKENS or --api-tokens-file) but none was found; \
             add `SCOPE TOKEN` lines or remove the setting"
                .into(),
        );
    }
    Ok(tokens)
}

/// Refuses to listen beyond this machine without tokens, unless explicitly allowed.
pub fn check_bind(bind: IpAddr, tokens: &TokenSet, insecure_no_auth: bool) -> Result<(), String> {
    if tokens.is_enabled() || bind.is_loopback() || insecure_no_auth {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {bind} without API tokens: anyone who can reach it could call every \
         service and run code. Configure tokens (TASKER_API_TOKENS or --api-tokens-file), bind to \
         127.0.0.1, or pass --insecure-no-auth to allow it anyway"
    ))
}

/// The start-up line about authentication (never the tokens themselves).
pub fn announce(bind: IpAddr, tokens: &TokenSet) {
    if tokens.is_enabled() {
        tracing::info!(
            "authentication on: {} API tokens ({}); every endpoint but /health needs a bearer token",
            tokens.len(),
            tokens.summary()
        );
    } else if bind.is_loopback() {
        tracing::warn!(
            "authentication is OFF: no API tokens configured (TASKER_API_TOKENS or --api-tokens-file); \
             listening on {bind} only, every local user and process can call every endpoint"
        );
    } else {
        tracing::warn!(
            "authentication is OFF and the host listens on {bind} (--insecure-no-auth): \
             anyone who can reach it can call every endpoint"
        );
    }
}
