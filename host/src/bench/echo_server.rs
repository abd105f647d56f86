//! The loopback echo HTTP server of the `http-step` scenario: `POST /echo` answers with the
//! JSON body it received. It runs on the bench's own runtime, on 127.0.0.1 and a free
//! port, and stops when dropped. It must never bind anything but loopback.

use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::Json;
use poem::{Route, Server, handler, post};
use serde_json::Value;
use tokio::sync::oneshot;

/// A running echo server.
#[derive(Debug)]
pub struct EchoServer {
    url: String,
    stop: Option<oneshot::Sender<()>>,
}

#[handler]
fn echo(Json(body): Json<Value>) -> Json<Value> {
    Json(body)
}

impl EchoServer {
    /// Binds 127.0.0.1 on a free port and serves in the background.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let acceptor = TcpAcceptor::from_tokio(listener)?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().map(|a| a.port()))
            .ok_or_else(|| anyhow::anyhow!("the echo server has no local address"))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Route::new().at("/echo", post(echo));
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async move {
                        let _ = stopped.await;
                    },
                    None,
                )
                .await;
        });
        Ok(Self {
            url: format!("http://127.0.0.1:{port}/echo"),
            stop: Some(stop),
        })
    }

    /// `http://127.0.0.1:PORT/echo`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
