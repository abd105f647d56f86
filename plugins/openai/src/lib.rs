//! `openai`: the OpenAI REST API as a tasker service (alias `wrappedopenai`):
//! `chat.completions.create`, `embeddings.create`, `models.list`, `models.retrieve` and
//! `responses.create`, request and response bodies passed through unchanged. The API key
//! comes from the keystore or the environment at first use (cached briefly); the base URL
//! is configurable so OpenAI-compatible servers work. It must never log or return the key,
//! and never stream (results are whole JSON bodies).

mod manifest;
mod settings;

use reqwest::Method;
use serde_json::Value;
use tasker_plugin_api::{
    CallContext, ErrorCode, Host, Manifest, Plugin, PluginError, export_plugin,
};
use tasker_plugin_kit::credentials::{Credentials, Lookup};
use tasker_plugin_kit::http::Upstream;

use crate::settings::Settings;

pub use crate::manifest::SERVICE;
pub use crate::settings::DEFAULT_BASE_URL;

/// Where the API key is looked up.
const API_KEY: Lookup<'static> = Lookup {
    key: "OPENAI_API_KEY",
    env: &["OPENAI_API_KEY"],
};

/// One OpenAI endpoint: HTTP method, path below the base URL, and whether the
/// arguments are the request body.
#[derive(Debug)]
struct Endpoint {
    method: Method,
    path: Vec<String>,
    body: Option<Value>,
}

/// The plugin instance: settings, the pooled client and the credential cache.
pub struct OpenAi {
    settings: Settings,
    upstream: Upstream,
    credentials: Credentials,
}

impl OpenAi {
    fn endpoint(method: &str, args: Value) -> Result<Endpoint, PluginError> {
        let post = |path: &str, args: Value| -> Result<Endpoint, PluginError> {
            if args.get("stream").and_then(Value::as_bool) == Some(true) {
                return Err(PluginError::validation(
                    "streaming is not supported: omit \"stream\" or send false",
                ));
            }
            Ok(Endpoint {
                method: Method::POST,
                path: path.split('/').map(str::to_owned).collect(),
                body: Some(args),
            })
        };
        match method {
            "chat.completions.create" => post("chat/completions", args),
            "embeddings.create" => post("embeddings", args),
            "responses.create" => post("responses", args),
            "models.list" => Ok(Endpoint {
                method: Method::GET,
                path: vec!["models".into()],
                body: None,
            }),
            "models.retrieve" => {
                let model = args
                    .get("model")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| PluginError::validation("\"model\" is required"))?;
                Ok(Endpoint {
                    method: Method::GET,
                    path: vec!["models".into(), model.to_owned()],
                    body: None,
                })
            }
            other => Err(PluginError::unknown_method(SERVICE, other)),
        }
    }

    fn url(&self, path: &[String]) -> Result<reqwest::Url, PluginError> {
        let mut url = reqwest::Url::parse(&self.settings.base_url).map_err(|e| {
            PluginError::new(ErrorCode::Configuration, format!("bad base URL: {e}"))
        })?;
        url.path_segments_mut()
            .map_err(|()| {
                PluginError::new(ErrorCode::Configuration, "the base URL cannot have a path")
            })?
            .pop_if_empty()
            .extend(path);
        Ok(url)
    }

    fn send(&self, endpoint: Endpoint) -> Result<Value, PluginError> {
        let key = self.credentials.get(API_KEY).ok_or_else(|| {
            PluginError::new(
                ErrorCode::Configuration,
                "no OpenAI API key: store OPENAI_API_KEY in the keystore or set the OPENAI_API_KEY environment variable",
            )
        })?;
        let url = self.url(&endpoint.path)?;
        let result = self.upstream.send(
            |client| {
                let mut request = client
                    .request(endpoint.method.clone(), url.clone())
                    .bearer_auth(&key)
                    .header("accept", "application/json");
                if let Some(org) = &self.settings.organization {
                    request = request.header("OpenAI-Organization", org);
                }
                if let Some(project) = &self.settings.project {
                    request = request.header("OpenAI-Project", project);
                }
                if let Some(body) = &endpoint.body {
                    request = request.json(body);
                }
                request
            },
            &[key.as_str()],
        );
        match result {
            Ok(reply) => Ok(reply.json(self.upstream.service())?),
            Err(e) => {
                let error = PluginError::from(e);
                if error.code == ErrorCode::Authentication {
                    // A rotated key must not wait for the cache to expire.
                    self.credentials.forget(API_KEY.key);
                }
                Err(error)
            }
        }
    }
}

impl Plugin for OpenAi {
    fn manifest() -> Manifest {
        manifest::manifest()
    }

    fn init(host: Host, config: Value) -> Result<Self, PluginError> {
        let settings = Settings::from_config(config)?;
        let upstream = Upstream::new(
            "OpenAI API",
            settings.timeout,
            settings.retry.clone(),
            concat!("tasker-openai/", env!("CARGO_PKG_VERSION")),
        )?;
        let credentials = Credentials::new(
            host.clone(),
            settings.key_namespace.clone(),
            settings.credential_ttl,
        );
        host.info(&format!("openai: base URL {}", settings.base_url));
        Ok(Self {
            settings,
            upstream,
            credentials,
        })
    }

    fn call(&self, method: &str, args: Value, _ctx: &CallContext) -> Result<Value, PluginError> {
        let endpoint = Self::endpoint(method, args)?;
        self.send(endpoint)
    }

    fn health(&self) -> Result<Value, PluginError> {
        Ok(serde_json::json!({ "status": "healthy", "baseUrl": self.settings.base_url }))
    }
}

export_plugin!(OpenAi);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn methods_map_to_openai_endpoints() {
        let e = OpenAi::endpoint("chat.completions.create", json!({ "model": "m" })).unwrap();
        assert_eq!(
            (e.method, e.path),
            (
                Method::POST,
                vec!["chat".to_owned(), "completions".to_owned()]
            )
        );
        let e = OpenAi::endpoint("models.retrieve", json!({ "model": "a/b c" })).unwrap();
        assert_eq!(e.path, vec!["models".to_owned(), "a/b c".to_owned()]);
        assert!(e.body.is_none());
        let e = OpenAi::endpoint("chat.completions.create", json!({ "stream": true })).unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation);
        let e = OpenAi::endpoint("files.list", json!({})).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
    }

    #[test]
    fn manifest_lists_the_five_methods_with_schemas() {
        let m = manifest::manifest();
        let names: Vec<_> = m.methods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "chat.completions.create",
                "embeddings.create",
                "models.list",
                "models.retrieve",
                "responses.create"
            ]
        );
        assert!(
            m.methods
                .iter()
                .all(|m| m.params["type"] == "object" && m.result["type"] == "object")
        );
        assert_eq!(m.aliases, ["wrappedopenai"]);
    }
}
