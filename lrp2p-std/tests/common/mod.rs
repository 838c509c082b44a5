//! Helpers shared by the integration tests: loopback sockets with fresh keys.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use lrp2p_std::{EndpointConfig, Socket, generate_identity};

/// A configuration for tests: fresh keys (0-RTT accepted at once), a short handshake timeout.
pub fn config() -> EndpointConfig {
    let mut config = EndpointConfig::default();
    config.early_data.start_floor = false;
    config.connection.handshake_timeout = Duration::from_secs(5);
    config
}

/// A socket on 127.0.0.1, port chosen by the OS.
pub fn socket() -> Socket {
    Socket::bind_with_config("127.0.0.1:0", generate_identity(), config()).expect("bind")
}

/// A socket with `config`.
pub fn socket_with(config: EndpointConfig) -> Socket {
    Socket::bind_with_config("127.0.0.1:0", generate_identity(), config).expect("bind")
}

/// Bounds every blocking call of a test connection.
pub const TIMEOUT: Duration = Duration::from_secs(10);
