//! Bulk throughput over loopback: moves N MiB (default 1024) through one LRP2P connection
//! between two sockets of this process, and the same through plain TCP for reference; prints
//! MB/s and the process's CPU seconds per GB (both ends together).
//!
//! `cargo run --release -p lrp2p-std --example bulk [--features ring] -- [MiB] [tcp|lrp2p]`

// A program: it prints.
#![allow(clippy::print_stdout)]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use lrp2p_std::{EndpointConfig, Socket, generate_identity};

/// Bytes per write and read.
const CHUNK: usize = 64 * 1024;

/// User + system CPU time of this process so far (from `/proc/self/stat`, in clock ticks of
/// 1/100 s; zero where that file does not exist).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Writes `total` bytes into `w` and finishes it.
fn send_all(w: &mut impl Write, total: usize) -> io::Result<()> {
    let chunk = vec![0x5au8; CHUNK];
    let mut left = total;
    while left > 0 {
        let n = left.min(CHUNK);
        w.write_all(&chunk[..n])?;
        left -= n;
    }
    w.flush()
}

/// Reads until the end of the stream; returns how many bytes came.
fn recv_all(r: &mut impl Read) -> io::Result<usize> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

/// Each thread's name, CPU ticks (user + system) and voluntary context switches so far (Linux).
fn threads() -> Vec<(String, u64, u64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let field = |key: &str| status.lines().find_map(|l| l.strip_prefix(key)).map(str::trim).unwrap_or("");
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        let switches = field("voluntary_ctxt_switches:").parse().unwrap_or(0);
        out.push((field("Name:").to_owned(), ticks(11) + ticks(12), switches));
    }
    out
}

fn report(name: &str, bytes: usize, elapsed: Duration, cpu: Duration) {
    let mb = bytes as f64 / 1e6;
    println!(
        "{name:>6}: {:.0} MiB in {:.2} s = {:.0} MB/s, CPU {:.2} s/GB",
        bytes as f64 / (1 << 20) as f64,
        elapsed.as_secs_f64(),
        mb / elapsed.as_secs_f64(),
        cpu.as_secs_f64() / (mb / 1e3),
    );
}

fn tcp(total: usize) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (start, cpu) = (Instant::now(), cpu_time());
    let writer = std::thread::spawn(move || -> io::Result<()> {
        let mut stream = TcpStream::connect(addr)?;
        send_all(&mut stream, total)
    });
    let (mut stream, _) = listener.accept()?;
    let got = recv_all(&mut stream)?;
    writer.join().expect("writer panicked")?;
    report("tcp", got, start.elapsed(), cpu_time() - cpu);
    Ok(())
}

fn lrp2p(total: usize) -> io::Result<()> {
    let mut config = EndpointConfig::default();
    config.early_data.start_floor = false;
    let server = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config.clone())?;
    let (addr, key) = (server.local_addr()?, server.public_key());
    let (start, cpu) = (Instant::now(), cpu_time());
    let writer = std::thread::spawn(move || -> io::Result<_> {
        let socket = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config)?;
        let mut conn = socket.connect(addr, key)?;
        send_all(&mut conn, total)?;
        conn.shutdown()?;
        conn.acknowledged()?;
        Ok((conn.stats(), socket.stats(), socket.io_stats()))
    });
    let (mut conn, _) = server.accept()?;
    let got = recv_all(&mut conn)?;
    let (elapsed, cpu) = (start.elapsed(), cpu_time() - cpu);
    let threads = threads();
    let (conn_stats, sender_stats, sender_io) = writer.join().expect("writer panicked")?;
    report("lrp2p", got, elapsed, cpu);
    if let Some(stats) = conn_stats {
        println!("        sender connection: {stats:?}");
    }
    println!("        sender endpoint: {sender_stats:?}");
    println!("        receiver endpoint: {:?}", server.stats());
    let per_call = |datagrams: u64, calls: u64| datagrams as f64 / calls.max(1) as f64;
    let receiver_io = server.io_stats();
    println!(
        "        datagrams per call: sender sends {:.1}, receives {:.1}; receiver sends {:.1}, receives {:.1}",
        per_call(sender_io.datagrams_sent, sender_io.send_calls),
        per_call(sender_io.datagrams_received, sender_io.recv_calls),
        per_call(receiver_io.datagrams_sent, receiver_io.send_calls),
        per_call(receiver_io.datagrams_received, receiver_io.recv_calls),
    );
    println!("        sender io: {sender_io:?}\n        receiver io: {receiver_io:?}");
    for (name, ticks, switches) in threads {
        println!(
            "        thread {name:<16} CPU {:.2} s, {switches} voluntary context switches",
            ticks as f64 / 100.0
        );
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let which = args.next().unwrap_or_default();
    let total = mib << 20;
    if which.is_empty() || which == "tcp" {
        tcp(total)?;
    }
    if which.is_empty() || which == "lrp2p" {
        lrp2p(total)?;
    }
    Ok(())
}
