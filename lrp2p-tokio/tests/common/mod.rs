//! Helpers shared by the integration tests: loopback sockets with fresh keys, and a bound on
//! every wait.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use lrp2p_tokio::{EndpointConfig, Socket, generate_identity};

/// A configuration for tests: fresh keys (0-RTT accepted at once), a short handshake timeout.
pub fn config() -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config.early_data.start_floor = false;
    config.connection.handshake_timeout = Duration::from_secs(5);
    config
}

/// A socket on 127.0.0.1, port chosen by the OS.
pub async fn socket() -> Socket {
    socket_with(config()).await
}

/// A socket with `config`.
pub async fn socket_with(config: EndpointConfig) -> Socket {
    Socket::bind_with_config("127.0.0.1:0", generate_identity(), config).await.expect("bind")
}

/// Bounds every wait of a test.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than `TIMEOUT`.
pub async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, future).await.expect("timed out")
}
