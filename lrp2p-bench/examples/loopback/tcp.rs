//! TCP over loopback (`std::net`, `TCP_NODELAY`, 1 MiB writes): what a user would pick instead.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use lrp2p_bench::{Contender, Meter, Pattern, READ_SIZE, Sample, Verifier};

/// One listener on 127.0.0.1; every measurement opens fresh connections to it.
pub(crate) struct Tcp {
    listener: TcpListener,
}

impl Tcp {
    /// Binds the listener.
    pub(crate) fn new() -> io::Result<Tcp> {
        Ok(Tcp { listener: TcpListener::bind("127.0.0.1:0")? })
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let s = TcpStream::connect(self.listener.local_addr()?)?;
        s.set_nodelay(true)?;
        Ok(s)
    }

    fn accept(&self) -> io::Result<TcpStream> {
        let (s, _) = self.listener.accept()?;
        s.set_nodelay(true)?;
        Ok(s)
    }
}

impl Contender for Tcp {
    fn name(&self) -> String {
        "TCP".into()
    }

    fn bulk(&mut self, bytes: u64, pattern: &Arc<Pattern>) -> io::Result<Sample> {
        let mut client = self.connect()?;
        let mut server = self.accept()?;
        let meter = Meter::start();
        thread::scope(|s| {
            let rx = s.spawn(|| -> io::Result<()> {
                let mut buf = vec![0u8; READ_SIZE];
                let mut v = Verifier::new(pattern);
                loop {
                    let n = server.read(&mut buf)?;
                    if n == 0 {
                        return v.finish(bytes);
                    }
                    v.check(&buf[..n])?;
                }
            });
            for chunk in pattern.chunks(bytes) {
                client.write_all(chunk)?;
            }
            client.shutdown(std::net::Shutdown::Write)?;
            rx.join().map_err(|_| io::Error::other("receiver panicked"))?
        })?;
        Ok(meter.stop())
    }

    fn handshakes(&mut self, n: usize) -> io::Result<f64> {
        let started = Instant::now();
        let mut byte = [0u8; 1];
        for _ in 0..n {
            let mut client = self.connect()?;
            client.write_all(b"p")?;
            let mut server = self.accept()?;
            server.read_exact(&mut byte)?;
            server.write_all(b"q")?;
            client.read_exact(&mut byte)?;
        }
        Ok(n as f64 / started.elapsed().as_secs_f64())
    }

    fn first_byte(&mut self, n: usize) -> io::Result<Vec<Duration>> {
        let (tx, rx) = mpsc::channel();
        thread::scope(|s| {
            s.spawn(|| -> io::Result<()> {
                let mut byte = [0u8; 1];
                for _ in 0..n {
                    let mut server = self.accept()?;
                    server.read_exact(&mut byte)?;
                    if tx.send(Instant::now()).is_err() {
                        break;
                    }
                }
                Ok(())
            });
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let t0 = Instant::now();
                let mut client = self.connect()?;
                client.write_all(b"x")?;
                let t1 = rx.recv().map_err(|_| io::Error::other("server thread failed"))?;
                out.push(t1 - t0);
            }
            Ok(out)
        })
    }
}
