//! `known_peers`: the receivers' keys `send` has learned, like ssh's `known_hosts`.
//!
//! One small text file, `known_peers` in the user's config directory (`$LRP2P_CONFIG_DIR`,
//! else `$XDG_CONFIG_HOME/lrp2p`, else `~/.config/lrp2p`): `#` comments and lines
//! `ADDRESS PUBLIC_KEY`. A `send` without `--peer` to an address listed there uses its key
//! (Noise IK, 0-RTT, the receiver authenticated); one that learns the key over Noise XX (trust
//! on first use) adds it; a `--peer` that differs from the key remembered is warned about
//! loudly and replaces it. Unreadable lines are ignored; the file is written with mode 0600.

use std::net::SocketAddr;
use std::path::PathBuf;

use lrp2p_proto::PublicKey;

/// The file's path, if a config directory is known.
pub(crate) fn path() -> Option<PathBuf> {
    let dir = std::env::var_os("LRP2P_CONFIG_DIR").map(PathBuf::from).or_else(|| {
        std::env::var_os("XDG_CONFIG_HOME")
            .map(|d| PathBuf::from(d).join("lrp2p"))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/lrp2p")))
    })?;
    Some(dir.join("known_peers"))
}

/// The entries of the file (none when it is missing or unreadable).
fn entries() -> Vec<(SocketAddr, PublicKey)> {
    let Some(text) = path().and_then(|p| std::fs::read_to_string(p).ok()) else { return Vec::new() };
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
        })
        .collect()
}

/// The key remembered for `addr`.
pub(crate) fn lookup(addr: SocketAddr) -> Option<PublicKey> {
    entries().into_iter().find(|(a, _)| *a == addr).map(|(_, k)| k)
}

/// Remembers `key` for `addr`, replacing what was there.
pub(crate) fn remember(addr: SocketAddr, key: &PublicKey) -> std::io::Result<PathBuf> {
    let path =
        path().ok_or_else(|| std::io::Error::other("no config directory (set HOME or LRP2P_CONFIG_DIR)"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = String::from("# lrp2p known peers: ADDRESS PUBLIC_KEY (see `lrp2p send --help`)\n");
    for (a, k) in entries().into_iter().filter(|(a, _)| *a != addr) {
        text.push_str(&format!("{a} {k}\n"));
    }
    text.push_str(&format!("{addr} {key}\n"));
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    std::io::Write::write_all(&mut options.open(&tmp)?, text.as_bytes())?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}
