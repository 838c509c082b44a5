//! `known_peers`: the keys this user has met, like ssh's `known_hosts`.
//!
//! One small text file, `known_peers` in the user's config directory (`$LRP2P_CONFIG_DIR`,
//! else `$XDG_CONFIG_HOME/lrp2p`, else `~/.config/lrp2p`), with `#` comments and two kinds of
//! lines:
//!
//! - `ADDRESS PUBLIC_KEY`: the receiver at ADDRESS has this key (written by `send`). A `send`
//!   without `--peer` to an address listed there uses its key (Noise IK, 0-RTT, the receiver
//!   authenticated); one that learns the key over Noise XX (trust on first use) adds it; a
//!   `--peer` that differs from the key remembered is warned about loudly and replaces it.
//! - `accept PUBLIC_KEY [ADDRESS]`: `recv` accepts files from this key (written by `recv` when
//!   its user answered `y` at the prompt, or with `--yes`; ADDRESS is where the key was first
//!   seen, for the reader only).
//!
//! Unreadable lines are ignored (and dropped when the file is rewritten); the file is written
//! with mode 0600, through a temporary file and a rename.

use std::net::SocketAddr;
use std::path::PathBuf;

use lrp2p_proto::PublicKey;

/// The first word of a line naming a sender `recv` accepts.
const ACCEPT: &str = "accept";

/// The file's path, if a config directory is known.
pub(crate) fn path() -> Option<PathBuf> {
    let dir = std::env::var_os("LRP2P_CONFIG_DIR").map(PathBuf::from).or_else(|| {
        std::env::var_os("XDG_CONFIG_HOME")
            .map(|d| PathBuf::from(d).join("lrp2p"))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/lrp2p")))
    })?;
    Some(dir.join("known_peers"))
}

/// One line of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    /// The receiver at this address has this key.
    Receiver(SocketAddr, PublicKey),
    /// `recv` accepts files from this key (first seen at this address, if noted).
    Sender(PublicKey, Option<SocketAddr>),
}

impl Entry {
    /// Parses one line; `None` for comments, blank and unreadable lines.
    fn parse(line: &str) -> Option<Entry> {
        if line.trim_start().starts_with('#') {
            return None;
        }
        let mut words = line.split_whitespace();
        let first = words.next()?;
        if first == ACCEPT {
            let key = words.next()?.parse().ok()?;
            return Some(Entry::Sender(key, words.next().and_then(|a| a.parse().ok())));
        }
        Some(Entry::Receiver(first.parse().ok()?, words.next()?.parse().ok()?))
    }

    /// The line, without its newline.
    fn render(&self) -> String {
        match self {
            Entry::Receiver(addr, key) => format!("{addr} {key}"),
            Entry::Sender(key, Some(addr)) => format!("{ACCEPT} {key} {addr}"),
            Entry::Sender(key, None) => format!("{ACCEPT} {key}"),
        }
    }
}

/// The entries of the file (none when it is missing or unreadable).
fn entries() -> Vec<Entry> {
    path().map(|p| entries_at(&p)).unwrap_or_default()
}

/// The entries of the file at `path`.
fn entries_at(path: &std::path::Path) -> Vec<Entry> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    text.lines().filter_map(Entry::parse).collect()
}

/// The key remembered for the receiver at `addr`.
pub(crate) fn lookup(addr: SocketAddr) -> Option<PublicKey> {
    entries().into_iter().find_map(|e| match e {
        Entry::Receiver(a, k) if a == addr => Some(k),
        _ => None,
    })
}

/// The senders `recv` accepts files from (the `accept` lines).
pub(crate) fn accepted_senders() -> Vec<PublicKey> {
    entries()
        .into_iter()
        .filter_map(|e| match e {
            Entry::Sender(k, _) => Some(k),
            Entry::Receiver(..) => None,
        })
        .collect()
}

/// Remembers `key` for the receiver at `addr`, replacing what was there.
pub(crate) fn remember(addr: SocketAddr, key: &PublicKey) -> std::io::Result<PathBuf> {
    update(|entries| add_receiver(entries, addr, key))
}

/// Remembers that `recv` accepts files from `key`, first seen at `from`.
pub(crate) fn remember_sender(key: &PublicKey, from: Option<SocketAddr>) -> std::io::Result<PathBuf> {
    update(|entries| add_sender(entries, key, from))
}

/// `addr`'s key is `key` from now on.
fn add_receiver(entries: &mut Vec<Entry>, addr: SocketAddr, key: &PublicKey) {
    entries.retain(|e| !matches!(e, Entry::Receiver(a, _) if *a == addr));
    entries.push(Entry::Receiver(addr, *key));
}

/// `key` is an accepted sender, unless it was already.
fn add_sender(entries: &mut Vec<Entry>, key: &PublicKey, from: Option<SocketAddr>) {
    if !entries.iter().any(|e| matches!(e, Entry::Sender(k, _) if k == key)) {
        entries.push(Entry::Sender(*key, from));
    }
}

/// Rewrites the file with `change` applied to its entries.
fn update(change: impl FnOnce(&mut Vec<Entry>)) -> std::io::Result<PathBuf> {
    let path =
        path().ok_or_else(|| std::io::Error::other("no config directory (set HOME or LRP2P_CONFIG_DIR)"))?;
    update_at(path, change)
}

/// Rewrites the file at `path` with `change` applied to its entries.
fn update_at(path: PathBuf, change: impl FnOnce(&mut Vec<Entry>)) -> std::io::Result<PathBuf> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut all = entries_at(&path);
    change(&mut all);
    let mut text = String::from(
        "# lrp2p known peers (see the README's tool section)\n\
         # ADDRESS PUBLIC_KEY: the receiver at ADDRESS has this key (learned by `send`)\n\
         # accept PUBLIC_KEY [ADDRESS]: `recv` accepts files from this key (first seen at ADDRESS)\n",
    );
    for entry in &all {
        text.push_str(&entry.render());
        text.push('\n');
    }
    // A name of this process's own, so that two processes writing at once do not mix bytes
    // (the last rename wins).
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_and_render_both_kinds() {
        let key = lrp2p_proto::StaticSecret::from_bytes([3; 32]).public_key();
        let addr: SocketAddr = "127.0.0.1:7000".parse().expect("addr");
        for entry in [Entry::Receiver(addr, key), Entry::Sender(key, Some(addr)), Entry::Sender(key, None)] {
            assert_eq!(Entry::parse(&entry.render()), Some(entry));
        }
        assert_eq!(Entry::parse("# accept x"), None);
        assert_eq!(Entry::parse("accept not-a-key"), None);
        assert_eq!(Entry::parse("garbage"), None);
        assert_eq!(Entry::parse(""), None);
    }

    #[test]
    fn each_side_keeps_the_others_lines_when_it_rewrites_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("known_peers");
        let (k1, k2) = (
            lrp2p_proto::StaticSecret::from_bytes([1; 32]).public_key(),
            lrp2p_proto::StaticSecret::from_bytes([2; 32]).public_key(),
        );
        let addr: SocketAddr = "192.0.2.7:7000".parse().expect("addr");
        let from: SocketAddr = "198.51.100.4:5000".parse().expect("addr");
        update_at(path.clone(), |e| add_sender(e, &k1, Some(from))).expect("write");
        update_at(path.clone(), |e| add_receiver(e, addr, &k2)).expect("write");
        update_at(path.clone(), |e| add_sender(e, &k1, None)).expect("write");
        update_at(path.clone(), |e| add_receiver(e, addr, &k1)).expect("write");
        assert_eq!(entries_at(&path), [Entry::Sender(k1, Some(from)), Entry::Receiver(addr, k1)]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
