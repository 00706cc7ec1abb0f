//! Starting and stopping a fake's HTTP server.
//!
//! Each fake runs axum on an ephemeral loopback port so tests can run in parallel. The
//! server stops when its [`ServerHandle`] is dropped (or `shutdown` is called); handlers
//! that deliberately hold a request (long polls, the `Hang` fault) watch the same signal so
//! shutdown never waits on them.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::sync::watch;

/// Owns the running server; dropping it stops the server.
pub(crate) struct ServerHandle {
    stop: watch::Sender<bool>,
}

impl ServerHandle {
    /// Binds `127.0.0.1:0`; the address is needed before the router is built (result URLs
    /// point at the fake itself).
    pub(crate) async fn bind() -> (tokio::net::TcpListener, SocketAddr) {
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0 for a fake server");
        let addr = listener.local_addr().expect("local addr of a fake server");
        (listener, addr)
    }

    /// Serves `router` on a background task until `stop` says so (or is dropped).
    pub(crate) fn serve(
        listener: tokio::net::TcpListener,
        router: Router,
        stop: watch::Sender<bool>,
    ) -> ServerHandle {
        let mut rx = stop.subscribe();
        tokio::spawn(async move {
            let shutdown = async move {
                // Err means the sender is gone: stop as well.
                while !*rx.borrow() {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            };
            let _ = axum::serve(listener, router).with_graceful_shutdown(shutdown).await;
        });
        ServerHandle { stop }
    }

    /// Asks the server (and every held request) to stop.
    pub(crate) fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Sleeps for at most `max`, returning early when the server is shutting down.
///
/// Used by handlers that hold a request on purpose, so that no wait is unbounded.
pub(crate) async fn hold(stop: &watch::Receiver<bool>, max: Duration) {
    let mut rx = stop.clone();
    let wait_stop = async move {
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(max, wait_stop).await;
}
