//! Helpers shared by the integration tests: loopback sockets with fresh keys, a deadline for
//! every await, spawning on either executor, and [`both!`], which runs one scenario under
//! async-std and under smol.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_io::Timer;
use futures_lite::future;
use lrp2p_async_std::{EndpointConfig, Socket, generate_identity};

/// An executor the scenarios run on: how they spawn their concurrent parts.
pub trait Exec {
    /// Spawns `task`; the returned future is its output.
    fn spawn<T: Send + 'static>(
        task: impl Future<Output = T> + Send + 'static,
    ) -> Pin<Box<dyn Future<Output = T> + Send>>;
}

/// async-std's executor.
pub struct AsyncStd;

impl Exec for AsyncStd {
    fn spawn<T: Send + 'static>(
        task: impl Future<Output = T> + Send + 'static,
    ) -> Pin<Box<dyn Future<Output = T> + Send>> {
        Box::pin(async_std::task::spawn(task))
    }
}

/// smol's global executor.
pub struct Smol;

impl Exec for Smol {
    fn spawn<T: Send + 'static>(
        task: impl Future<Output = T> + Send + 'static,
    ) -> Pin<Box<dyn Future<Output = T> + Send>> {
        Box::pin(smol::spawn(task))
    }
}

/// Runs each scenario `name::<E: Exec>()` twice: in `name::async_std` (under
/// `async_std::task::block_on`, what `#[async_std::test]` expands to, without its proc-macro
/// crate and the syn 1 it builds) and in `name::smol` (under `smol::block_on`).
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn async_std() {
                async_std::task::block_on(super::$name::<$crate::common::AsyncStd>());
            }

            #[test]
            fn smol() {
                smol::block_on(super::$name::<$crate::common::Smol>());
            }
        }
    )*};
}

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

/// Bounds every await of a test.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// `fut`'s output, or a panic naming `what` once `limit` passes.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    future::or(async { Some(fut.await) }, async {
        Timer::after(limit).await;
        None
    })
    .await
    .unwrap_or_else(|| panic!("{what}: not done within {limit:?}"))
}

/// [`within`] [`TIMEOUT`].
pub async fn timed<T>(what: &str, fut: impl Future<Output = T>) -> T {
    within(TIMEOUT, what, fut).await
}
