//! The pipe protocol between the host and a `tasker-host plugin-worker` child: frames of a
//! 4-byte big-endian length followed by one JSON message. Requests carry an id so calls
//! can be answered out of order (many calls in flight at once); the worker's callbacks into
//! the host (log, call_service) travel the other way with ids of their own.
//! This module only encodes and decodes; it never spawns or supervises processes.

use std::io::{Read, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tasker_plugin_api::{CallContext, ErrorCode, LogLevel, Manifest, PluginError};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Extra room for the envelope around a result inside one frame.
pub const FRAME_SLACK_BYTES: usize = 1024 * 1024;

/// Messages from the host to the worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ToWorker {
    /// Build the plugin instance with its configuration.
    Init {
        /// Request id, echoed in the reply.
        id: u64,
        /// The plugin's configuration object.
        config: Value,
    },
    /// Run one method.
    Call {
        /// Request id.
        id: u64,
        /// The method.
        method: String,
        /// Validated arguments.
        args: Value,
        /// The call's provenance.
        ctx: CallContext,
    },
    /// Report health.
    Health {
        /// Request id.
        id: u64,
    },
    /// Release resources and exit.
    Shutdown {
        /// Request id.
        id: u64,
    },
    /// The answer to a worker's `callService`.
    HostReply {
        /// The id the worker chose.
        id: u64,
        /// The outcome.
        result: WireResult,
    },
}

/// Messages from the worker to the host.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ToHost {
    /// First frame: the plugin loaded; its manifest.
    Hello {
        /// The manifest.
        manifest: Manifest,
        /// The worker's process id.
        pid: u32,
    },
    /// First frame: the file is not a usable plugin (why).
    Refused {
        /// The reason, as the in-process loader would give it.
        reason: String,
    },
    /// The answer to a request.
    Reply {
        /// The request id.
        id: u64,
        /// The outcome.
        result: WireResult,
    },
    /// A log line from the plugin.
    Log {
        /// Its level.
        level: WireLogLevel,
        /// The text.
        message: String,
    },
    /// The plugin calls another service through the host.
    CallService {
        /// Id chosen by the worker, echoed in the host's reply.
        id: u64,
        /// Service name or alias.
        service: String,
        /// Method.
        method: String,
        /// Arguments.
        args: Value,
    },
}

/// A result as it crosses the pipe.
pub type WireResult = Result<Value, WireError>;

/// A [`PluginError`] as it crosses the pipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireError {
    /// The error code name.
    pub code: String,
    /// The message.
    pub message: String,
    /// Optional details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl From<PluginError> for WireError {
    fn from(e: PluginError) -> Self {
        Self {
            code: e.code.as_str().to_owned(),
            message: e.message,
            details: e.details,
        }
    }
}

impl From<WireError> for PluginError {
    fn from(e: WireError) -> Self {
        PluginError {
            code: ErrorCode::parse(&e.code),
            message: e.message,
            details: e.details,
        }
    }
}

/// Converts a plugin outcome for the pipe.
pub fn to_wire(result: Result<Value, PluginError>) -> WireResult {
    result.map_err(WireError::from)
}

/// Converts a pipe outcome back.
pub fn from_wire(result: WireResult) -> Result<Value, PluginError> {
    result.map_err(PluginError::from)
}

/// Log levels on the pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireLogLevel {
    /// trace
    Trace,
    /// debug
    Debug,
    /// info
    Info,
    /// warn
    Warn,
    /// error
    Error,
}

impl From<LogLevel> for WireLogLevel {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => Self::Trace,
            LogLevel::Debug => Self::Debug,
            LogLevel::Info => Self::Info,
            LogLevel::Warn => Self::Warn,
            LogLevel::Error => Self::Error,
        }
    }
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The pipe failed or closed in the middle of a frame.
    #[error("pipe error: {0}")]
    Io(#[from] std::io::Error),
    /// The announced frame is larger than allowed.
    #[error("frame of {size} bytes is larger than the limit of {limit} bytes")]
    TooLarge {
        /// Announced size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The frame is not the expected JSON message.
    #[error("frame is not a valid message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Encodes one message as a frame (length prefix included).
pub fn encode(message: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    let mut frame = vec![0_u8; 4];
    serde_json::to_writer(&mut frame, message)?;
    let len = u32::try_from(frame.len() - 4).unwrap_or(u32::MAX);
    frame[..4].copy_from_slice(&len.to_be_bytes());
    Ok(frame)
}

/// Writes one message as a frame and flushes.
pub fn write_frame(out: &mut impl Write, message: &impl Serialize) -> std::io::Result<()> {
    let frame = encode(message).map_err(std::io::Error::other)?;
    out.write_all(&frame)?;
    out.flush()
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub fn read_frame<T: DeserializeOwned>(
    input: &mut impl Read,
    limit: usize,
) -> Result<Option<T>, FrameError> {
    let mut prefix = [0_u8; 4];
    match input.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let size = checked_size(prefix, limit)?;
    let mut body = vec![0_u8; size];
    input.read_exact(&mut body)?;
    Ok(Some(serde_json::from_slice(&body)?))
}

/// Async form of [`read_frame`], for the host side.
pub async fn read_frame_async<T: DeserializeOwned>(
    input: &mut (impl AsyncRead + Unpin),
    limit: usize,
) -> Result<Option<T>, FrameError> {
    let mut prefix = [0_u8; 4];
    match input.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let size = checked_size(prefix, limit)?;
    let mut body = vec![0_u8; size];
    input.read_exact(&mut body).await?;
    Ok(Some(serde_json::from_slice(&body)?))
}

fn checked_size(prefix: [u8; 4], limit: usize) -> Result<usize, FrameError> {
    let size = u32::from_be_bytes(prefix) as usize;
    if size > limit {
        return Err(FrameError::TooLarge { size, limit });
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        let call = ToWorker::Call {
            id: 7,
            method: "echo".into(),
            args: json!({"a": 1}),
            ctx: CallContext::default(),
        };
        write_frame(&mut buf, &call).unwrap();
        write_frame(&mut buf, &ToWorker::Health { id: 8 }).unwrap();
        let mut input = buf.as_slice();
        let first: ToWorker = read_frame(&mut input, 1024).unwrap().unwrap();
        assert!(matches!(first, ToWorker::Call { id: 7, .. }));
        let second: ToWorker = read_frame(&mut input, 1024).unwrap().unwrap();
        assert!(matches!(second, ToWorker::Health { id: 8 }));
        assert!(read_frame::<ToWorker>(&mut input, 1024).unwrap().is_none());
    }

    #[test]
    fn oversized_frames_are_refused_before_reading_them() {
        let mut buf = Vec::new();
        write_frame(
            &mut buf,
            &ToHost::Reply {
                id: 1,
                result: Ok(json!("x".repeat(100))),
            },
        )
        .unwrap();
        let err = read_frame::<ToHost>(&mut buf.as_slice(), 50).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { limit: 50, .. }),
            "{err}"
        );
    }

    #[test]
    fn errors_keep_code_message_and_details() {
        let e = PluginError::validation("bad").with_details(json!({"field": "x"}));
        let back = from_wire(to_wire(Err(e.clone())));
        assert_eq!(back.unwrap_err(), e);
    }
}
