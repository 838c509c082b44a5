//! [`Adapter`] and [`Conn`] for each adapter: lrp2p-std as is (its timeouts bound the
//! calls); lrp2p-tokio on a shared multi-threaded runtime (its driver tasks run on the
//! runtime's workers, the calls `block_on` it); lrp2p-async-std under async-std's
//! `block_on` (its driver is a thread of its own). Every call is bounded by [`TIMEOUT`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock, PoisonError};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use lrp2p_std::{AppProtocol, PublicKey};

use super::{Adapter, Conn, TIMEOUT, config};

/// lrp2p-std: blocking calls, bounded by the connection's read and write timeouts.
pub struct Std(lrp2p_std::Socket);

impl Adapter for Std {
    type Conn = lrp2p_std::Connection;

    fn bind() -> Self {
        let identity = lrp2p_std::generate_identity();
        Std(lrp2p_std::Socket::bind_with_config("127.0.0.1:0", identity, config()).expect("bind"))
    }

    fn local_addr(&self) -> SocketAddr {
        self.0.local_addr().expect("local address")
    }

    fn public_key(&self) -> PublicKey {
        self.0.public_key()
    }

    fn connect(&self, addr: SocketAddr, peer: PublicKey) -> Self::Conn {
        bounded_std(self.0.connect(addr, peer).expect("connect"))
    }

    fn connect_unknown(&self, addr: SocketAddr) -> Self::Conn {
        bounded_std(self.0.connect_unknown(addr).expect("connect_unknown"))
    }

    fn accept(&self) -> (Self::Conn, PublicKey) {
        let (conn, peer) = self.0.accept_timeout(TIMEOUT).expect("accept");
        (bounded_std(conn), peer)
    }

    fn connect_with(&self, addr: SocketAddr, peer: Option<PublicKey>, id: AppProtocol) -> Self::Conn {
        bounded_std(self.0.connect_with(addr, peer, id).expect("connect_with"))
    }
}

fn bounded_std(conn: lrp2p_std::Connection) -> lrp2p_std::Connection {
    conn.set_read_timeout(Some(TIMEOUT));
    conn.set_write_timeout(Some(TIMEOUT));
    conn
}

impl Conn for lrp2p_std::Connection {
    fn write_all(&self, data: &[u8]) -> io::Result<()> {
        io::Write::write_all(&mut &*self, data)
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut &*self, buf)
    }

    fn flush(&self) -> io::Result<()> {
        io::Write::flush(&mut &*self)
    }

    fn shutdown(&self) -> io::Result<()> {
        lrp2p_std::Connection::shutdown(self)
    }

    fn acknowledged(&self) -> io::Result<()> {
        lrp2p_std::Connection::acknowledged(self)
    }

    fn peer_public_key(&self) -> Option<PublicKey> {
        lrp2p_std::Connection::peer_public_key(self)
    }

    fn app_protocol(&self) -> Option<AppProtocol> {
        lrp2p_std::Connection::app_protocol(self)
    }
}

/// The runtime every lrp2p-tokio socket of the test binary lives on: two workers run the
/// driver tasks while the scenario threads block on their calls.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// Runs `fut` on the tokio runtime, bounded by [`TIMEOUT`].
fn on_tokio<T>(what: &str, fut: impl Future<Output = T>) -> T {
    runtime()
        .block_on(async { tokio::time::timeout(TIMEOUT, fut).await })
        .unwrap_or_else(|_| panic!("tokio {what}: not done within {TIMEOUT:?}"))
}

/// lrp2p-tokio: its socket on [`runtime`].
pub struct Tokio(Option<lrp2p_tokio::Socket>);

impl Tokio {
    fn socket(&self) -> &lrp2p_tokio::Socket {
        self.0.as_ref().expect("the socket lives until drop")
    }
}

impl Drop for Tokio {
    fn drop(&mut self) {
        // The socket's linger is a task: drop it within the runtime.
        let _entered = runtime().enter();
        self.0.take();
    }
}

/// A tokio connection split into halves, so that one thread reads while another writes.
pub struct TokioConn {
    read: Mutex<lrp2p_tokio::OwnedReadHalf>,
    write: Mutex<lrp2p_tokio::OwnedWriteHalf>,
}

impl TokioConn {
    fn new(conn: lrp2p_tokio::Connection) -> Self {
        let (read, write) = conn.into_split();
        TokioConn { read: Mutex::new(read), write: Mutex::new(write) }
    }
}

impl Adapter for Tokio {
    type Conn = TokioConn;

    fn bind() -> Self {
        let identity = lrp2p_tokio::generate_identity();
        let socket =
            on_tokio("bind", lrp2p_tokio::Socket::bind_with_config("127.0.0.1:0", identity, config()));
        Tokio(Some(socket.expect("bind")))
    }

    fn local_addr(&self) -> SocketAddr {
        self.socket().local_addr().expect("local address")
    }

    fn public_key(&self) -> PublicKey {
        self.socket().public_key()
    }

    fn connect(&self, addr: SocketAddr, peer: PublicKey) -> Self::Conn {
        TokioConn::new(on_tokio("connect", self.socket().connect(addr, peer)).expect("connect"))
    }

    fn connect_unknown(&self, addr: SocketAddr) -> Self::Conn {
        TokioConn::new(
            on_tokio("connect_unknown", self.socket().connect_unknown(addr)).expect("connect_unknown"),
        )
    }

    fn accept(&self) -> (Self::Conn, PublicKey) {
        let (conn, peer) = on_tokio("accept", self.socket().accept()).expect("accept");
        (TokioConn::new(conn), peer)
    }

    fn connect_with(&self, addr: SocketAddr, peer: Option<PublicKey>, id: AppProtocol) -> Self::Conn {
        TokioConn::new(
            on_tokio("connect_with", self.socket().connect_with(addr, peer, id)).expect("connect_with"),
        )
    }
}

impl Conn for TokioConn {
    fn write_all(&self, data: &[u8]) -> io::Result<()> {
        let mut write = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        on_tokio("write", tokio::io::AsyncWriteExt::write_all(&mut *write, data))
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
        on_tokio("read", tokio::io::AsyncReadExt::read(&mut *read, buf))
    }

    fn flush(&self) -> io::Result<()> {
        let mut write = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        on_tokio("flush", tokio::io::AsyncWriteExt::flush(&mut *write))
    }

    fn shutdown(&self) -> io::Result<()> {
        let mut write = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        on_tokio("shutdown", tokio::io::AsyncWriteExt::shutdown(&mut *write))
    }

    fn acknowledged(&self) -> io::Result<()> {
        let write = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        on_tokio("acknowledged", write.acknowledged())
    }

    fn peer_public_key(&self) -> Option<PublicKey> {
        self.read.lock().unwrap_or_else(PoisonError::into_inner).peer_public_key()
    }

    fn app_protocol(&self) -> Option<AppProtocol> {
        self.read.lock().unwrap_or_else(PoisonError::into_inner).app_protocol()
    }
}

/// Runs `fut` under async-std, bounded by [`TIMEOUT`].
fn on_async_std<T>(what: &str, fut: impl Future<Output = T>) -> T {
    async_std::task::block_on(async_std::future::timeout(TIMEOUT, fut))
        .unwrap_or_else(|_| panic!("async-std {what}: not done within {TIMEOUT:?}"))
}

/// lrp2p-async-std, under async-std.
pub struct AsyncStd(lrp2p_async_std::Socket);

impl Adapter for AsyncStd {
    type Conn = lrp2p_async_std::Connection;

    fn bind() -> Self {
        let identity = lrp2p_async_std::generate_identity();
        let socket = lrp2p_async_std::Socket::bind_with_config("127.0.0.1:0", identity, config());
        AsyncStd(on_async_std("bind", socket).expect("bind"))
    }

    fn local_addr(&self) -> SocketAddr {
        self.0.local_addr().expect("local address")
    }

    fn public_key(&self) -> PublicKey {
        self.0.public_key()
    }

    fn connect(&self, addr: SocketAddr, peer: PublicKey) -> Self::Conn {
        on_async_std("connect", self.0.connect(addr, peer)).expect("connect")
    }

    fn connect_unknown(&self, addr: SocketAddr) -> Self::Conn {
        on_async_std("connect_unknown", self.0.connect_unknown(addr)).expect("connect_unknown")
    }

    fn accept(&self) -> (Self::Conn, PublicKey) {
        on_async_std("accept", self.0.accept()).expect("accept")
    }

    fn connect_with(&self, addr: SocketAddr, peer: Option<PublicKey>, id: AppProtocol) -> Self::Conn {
        on_async_std("connect_with", self.0.connect_with(addr, peer, id)).expect("connect_with")
    }
}

impl Conn for lrp2p_async_std::Connection {
    fn write_all(&self, data: &[u8]) -> io::Result<()> {
        on_async_std("write", AsyncWriteExt::write_all(&mut &*self, data))
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        on_async_std("read", AsyncReadExt::read(&mut &*self, buf))
    }

    fn flush(&self) -> io::Result<()> {
        on_async_std("flush", AsyncWriteExt::flush(&mut &*self))
    }

    /// futures-io's `poll_close` (`AsyncWriteExt::close`), the half-close; the inherent
    /// `shutdown` is the same.
    fn shutdown(&self) -> io::Result<()> {
        on_async_std("close", AsyncWriteExt::close(&mut &*self))
    }

    fn acknowledged(&self) -> io::Result<()> {
        on_async_std("acknowledged", lrp2p_async_std::Connection::acknowledged(self))
    }

    fn peer_public_key(&self) -> Option<PublicKey> {
        lrp2p_async_std::Connection::peer_public_key(self)
    }

    fn app_protocol(&self) -> Option<AppProtocol> {
        lrp2p_async_std::Connection::app_protocol(self)
    }
}
