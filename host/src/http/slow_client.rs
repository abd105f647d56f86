//! Slow-client protection poem 3.1 does not offer (its only knob, `idle_timeout`, is reset
//! by every byte, so a client trickling one header byte at a time holds a connection
//! forever). [`DeadlineAcceptor`] wraps a listener's acceptor: each connection must deliver
//! a complete request head within the timeout, counted from its opening and again from
//! each response; while a request is being handled no deadline runs (long polls stay
//! fine). Past the deadline the connection's reads fail and hyper closes it. The request
//! guard marks requests as started and finished through [`ConnTable`], keyed by the
//! peer address. Bodies are bounded separately (see `guard::Caller::read_json`).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// One connection's deadline state.
#[derive(Debug)]
struct ConnState {
    /// Requests being handled on the connection (HTTP/2 may have several).
    in_flight: u32,
    /// When the connection must have delivered the next request head (None while busy).
    deadline: Option<Instant>,
}

/// The live connections of one listener, by peer address.
#[derive(Debug)]
pub struct ConnTable {
    timeout: Duration,
    conns: Mutex<HashMap<SocketAddr, Arc<Mutex<ConnState>>>>,
}

impl ConnTable {
    fn get(&self, peer: &SocketAddr) -> Option<Arc<Mutex<ConnState>>> {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.get(peer).cloned()
    }

    /// A request head arrived on the connection from `peer`: stop its deadline.
    pub fn request_started(&self, peer: Option<&SocketAddr>) {
        if let Some(state) = peer.and_then(|p| self.get(p)) {
            let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
            state.in_flight += 1;
            state.deadline = None;
        }
    }

    /// The response is ready: the next request head is due within the timeout.
    pub fn request_finished(&self, peer: Option<&SocketAddr>) {
        if let Some(state) = peer.and_then(|p| self.get(p)) {
            let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
            state.in_flight = state.in_flight.saturating_sub(1);
            if state.in_flight == 0 {
                state.deadline = Some(Instant::now() + self.timeout);
            }
        }
    }
}

/// An acceptor whose connections must keep to the request-head deadline.
pub struct DeadlineAcceptor<A> {
    inner: A,
    table: Arc<ConnTable>,
}

impl<A> DeadlineAcceptor<A> {
    /// Wraps `inner`; `timeout` is the time allowed for each request head.
    pub fn new(inner: A, timeout: Duration) -> Self {
        Self {
            inner,
            table: Arc::new(ConnTable {
                timeout,
                conns: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The table the request guard of this listener reports to.
    pub fn table(&self) -> Arc<ConnTable> {
        self.table.clone()
    }
}

impl<A: Acceptor> Acceptor for DeadlineAcceptor<A> {
    type Io = DeadlineIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        let deadline = Instant::now() + self.table.timeout;
        let state = Arc::new(Mutex::new(ConnState {
            in_flight: 0,
            deadline: Some(deadline),
        }));
        let peer = remote.as_socket_addr().copied();
        if let Some(peer) = peer {
            let mut conns = self.table.conns.lock().unwrap_or_else(|p| p.into_inner());
            conns.insert(peer, state.clone());
        }
        let io = DeadlineIo {
            inner: io,
            state,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            table: self.table.clone(),
            peer,
        };
        Ok((io, local, remote, scheme))
    }
}

/// A connection whose reads fail once its request-head deadline has passed.
pub struct DeadlineIo<T> {
    inner: T,
    state: Arc<Mutex<ConnState>>,
    sleep: Pin<Box<Sleep>>,
    table: Arc<ConnTable>,
    peer: Option<SocketAddr>,
}

impl<T> Drop for DeadlineIo<T> {
    fn drop(&mut self) {
        if let Some(peer) = &self.peer {
            let mut conns = self.table.conns.lock().unwrap_or_else(|p| p.into_inner());
            // Only our own entry: the port may already belong to a newer connection.
            if conns.get(peer).is_some_and(|s| Arc::ptr_eq(s, &self.state)) {
                conns.remove(peer);
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let deadline = self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .deadline;
        if let Some(deadline) = deadline {
            if self.sleep.deadline() != deadline {
                self.sleep.as_mut().reset(deadline);
            }
            if self.sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no complete request head within the header timeout",
                )));
            }
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
