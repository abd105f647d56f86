//! The worker pipe protocol: frames of a 4-byte big-endian length followed by one JSON message,
//! requests host → worker on the worker's stdin and replies worker → host on its stdout. Data types
//! and framing only; starting, watching and killing workers lives in the pool.

use std::io::{Read, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::Error;
use crate::limits::SandboxLimits;
use crate::model::{Delivery, RunId, SegmentOutcome, SegmentRequest};

/// Largest frame accepted: a corrupt length must not make either side allocate gigabytes.
const MAX_FRAME_BYTES: usize = 512 * 1024 * 1024;

/// The first message to a fresh worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WorkerInit {
    /// Limits for every run (the worker applies the memory and CPU ones to itself).
    pub(crate) limits: SandboxLimits,
    /// Live contexts this worker may keep.
    pub(crate) max_live: usize,
}

/// Host → worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// Configure the worker; answered with an empty reply once its limits are in force.
    Init(WorkerInit),
    /// Drop the live contexts of these runs (they ended); not answered.
    Forget(Vec<RunId>),
    /// Perform an operation; answered with one [`Reply`].
    Run(Op),
}

/// Operations on a worker's runs.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Op {
    /// `Sandbox::start_or_replay`.
    StartOrReplay(Box<SegmentRequest>),
    /// `Sandbox::resume_live`.
    ResumeLive {
        /// The run.
        run_id: RunId,
        /// What to deliver.
        delivery: Box<Delivery>,
    },
    /// Only report the live count.
    CountLive,
}

/// Worker → host: one reply per request.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Reply {
    /// Live contexts the worker holds after the request.
    pub(crate) live: usize,
    /// The segment's outcome (`None` when the run was not live, and for `Init` / `CountLive`).
    pub(crate) result: Result<Option<SegmentOutcome>, WireError>,
}

/// [`Error`]s that can cross the pipe.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum WireError {
    /// [`Error::UnknownCall`].
    UnknownCall {
        /// The run.
        run_id: RunId,
        /// The seq.
        seq: u64,
    },
    /// [`Error::EnginePanicked`].
    EnginePanicked {
        /// The run.
        run_id: RunId,
        /// The panic message.
        message: String,
    },
    /// Anything else, as text.
    Other(String),
}

impl From<Error> for WireError {
    fn from(error: Error) -> Self {
        match error {
            Error::UnknownCall { run_id, seq } => WireError::UnknownCall { run_id, seq },
            Error::EnginePanicked { run_id, message } => {
                WireError::EnginePanicked { run_id, message }
            }
            other => WireError::Other(other.to_string()),
        }
    }
}

impl From<WireError> for Error {
    fn from(error: WireError) -> Self {
        match error {
            WireError::UnknownCall { run_id, seq } => Error::UnknownCall { run_id, seq },
            WireError::EnginePanicked { run_id, message } => {
                Error::EnginePanicked { run_id, message }
            }
            WireError::Other(message) => Error::Worker(message),
        }
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

pub(crate) fn encode<T: Serialize>(message: &T) -> std::io::Result<Vec<u8>> {
    let body = serde_json::to_vec(message).map_err(|e| invalid(e.to_string()))?;
    let length = u32::try_from(body.len())
        .ok()
        .filter(|n| *n as usize <= MAX_FRAME_BYTES)
        .ok_or_else(|| invalid(format!("message of {} bytes is too large", body.len())))?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

fn checked_length(prefix: [u8; 4]) -> std::io::Result<usize> {
    let length = u32::from_be_bytes(prefix) as usize;
    if length > MAX_FRAME_BYTES {
        return Err(invalid(format!("frame of {length} bytes is too large")));
    }
    Ok(length)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> std::io::Result<T> {
    serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))
}

/// Writes one frame (blocking; worker side).
pub(crate) fn write_frame<T: Serialize>(out: &mut impl Write, message: &T) -> std::io::Result<()> {
    out.write_all(&encode(message)?)?;
    out.flush()
}

/// Reads one frame (blocking; worker side). `Ok(None)` on a clean end of input.
pub(crate) fn read_frame<T: DeserializeOwned>(input: &mut impl Read) -> std::io::Result<Option<T>> {
    let mut prefix = [0u8; 4];
    match input.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut body = vec![0u8; checked_length(prefix)?];
    input.read_exact(&mut body)?;
    decode(&body).map(Some)
}

/// Writes one frame encoded by [`encode`] (async; host side).
pub(crate) async fn send_frame(
    out: &mut (impl AsyncWrite + Unpin),
    frame: &[u8],
) -> std::io::Result<()> {
    out.write_all(frame).await?;
    out.flush().await
}

/// Reads one frame (async; host side). An end of input is an `UnexpectedEof` error: the worker died.
pub(crate) async fn receive_frame<T: DeserializeOwned>(
    input: &mut (impl AsyncRead + Unpin),
) -> std::io::Result<T> {
    let mut prefix = [0u8; 4];
    input.read_exact(&mut prefix).await?;
    let mut body = vec![0u8; checked_length(prefix)?];
    input.read_exact(&mut body).await?;
    decode(&body)
}
