//! Key files: `lrp2p keygen` writes them, `--key FILE` reads them.
//!
//! The format is text: `#` comment lines (the public key is noted in one, for people) and
//! exactly one line holding the 32-byte X25519 secret in standard base64 with padding (44
//! characters), as WireGuard keys are written:
//!
//! ```text
//! # lrp2p secret key: keep it private. Public key: 3q2+7w…=
//! oKbJ2l…=
//! ```
//!
//! Files are written with mode 0600 (an existing file replaced with `--force` is made 0600
//! before the secret goes in); an existing file is not overwritten without `--force`.

use std::io::{self, Write as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lrp2p_proto::{KEY_LEN, StaticSecret};
use zeroize::Zeroizing;

use crate::error::CliError;

/// The largest key file read: anything longer is not a key file.
const MAX_KEY_FILE: u64 = 4096;

/// A fresh identity from the operating system's RNG.
pub(crate) fn generate() -> StaticSecret {
    StaticSecret::generate(&mut rand_core::OsRng)
}

/// The text of a key file for `secret`.
pub(crate) fn render(secret: &StaticSecret) -> String {
    let encoded = BASE64.encode(secret.to_bytes().as_slice());
    format!("# lrp2p secret key: keep it private. Public key: {}\n{encoded}\n", secret.public_key())
}

/// Parses the text of a key file; the error is the reason, without the path.
pub(crate) fn parse(text: &str) -> Result<StaticSecret, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let line = lines.next().ok_or("no key in it")?;
    if lines.next().is_some() {
        return Err("more than one key line".to_owned());
    }
    let bytes = Zeroizing::new(
        BASE64.decode(line).map_err(|e| format!("not a base64 key ({e}); expected 44 base64 characters"))?,
    );
    let key: [u8; KEY_LEN] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("key is {} bytes, expected {KEY_LEN}", bytes.len()))?;
    Ok(StaticSecret::from_bytes(key))
}

/// Loads the key file at `path`.
pub(crate) fn load(path: &Path) -> Result<StaticSecret, CliError> {
    let unreadable = |source| CliError::KeyUnreadable { path: path.to_owned(), source };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(unreadable(io::Error::other("not a regular file")));
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(CliError::KeyMalformed {
            path: path.to_owned(),
            reason: format!("{} bytes is too large for a key file", meta.len()),
        });
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::KeyMalformed { path: path.to_owned(), reason: "not UTF-8 text".to_owned() })?;
    let secret = parse(&text).map_err(|reason| CliError::KeyMalformed { path: path.to_owned(), reason })?;
    // Only a real key is worth the warning.
    warn_if_exposed(path, &meta);
    Ok(secret)
}

/// Warns (as ssh would refuse) when a key file is readable or writable by others than its
/// owner: the secret in it may be known to them.
fn warn_if_exposed(path: &Path, meta: &std::fs::Metadata) {
    if let Some(mode) = exposed_mode(meta) {
        let p = path.display();
        let _ = writeln!(
            io::stderr(),
            "lrp2p: warning: key file {p} is accessible by others (mode {mode:04o}); run `chmod 600 {p}`"
        );
    }
}

/// The permission bits of a key file open to group or others, if it is.
fn exposed_mode(meta: &std::fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// Loads `path` if given, or makes a fresh identity for this run.
pub(crate) fn load_or_generate(path: Option<&Path>) -> Result<StaticSecret, CliError> {
    path.map_or_else(|| Ok(generate()), load)
}

/// Writes `secret` to `path` with mode 0600; refuses to replace a file unless `force`.
pub(crate) fn store(path: &Path, secret: &StaticSecret, force: bool) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let output = |source| CliError::Output { path: path.to_owned(), source };
    let mut file = options.open(path).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => CliError::KeyExists(path.to_owned()),
        _ => output(e),
    })?;
    // `mode` applies only when the file is created: an existing (say 0644) regular file
    // replaced with `--force` is narrowed before the secret is written into it.
    #[cfg(unix)]
    if file.metadata().map(|m| m.is_file()).unwrap_or(false) {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(output)?;
    }
    file.write_all(render(secret).as_bytes()).map_err(output)?;
    file.flush().map_err(output)?;
    // Devices such as /dev/full report ENOSPC only here, or not at all: sync where it means something.
    if file.metadata().map(|m| m.is_file()).unwrap_or(false) {
        file.sync_all().map_err(output)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> StaticSecret {
        StaticSecret::from_bytes([7; KEY_LEN])
    }

    #[test]
    fn round_trip_and_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        store(&path, &secret(), false).expect("store");
        let loaded = load(&path).expect("load");
        assert_eq!(loaded.public_key(), secret().public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(store(&path, &secret(), false), Err(CliError::KeyExists(_))));
        store(&path, &generate(), true).expect("forced");
        assert_ne!(load(&path).expect("load").public_key(), secret().public_key());
    }

    #[cfg(unix)]
    #[test]
    fn force_over_a_world_readable_file_makes_it_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        std::fs::write(&path, "old\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        store(&path, &secret(), true).expect("forced");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load(&path).expect("load").public_key(), secret().public_key());
    }

    #[test]
    fn precise_errors() {
        assert_eq!(parse("# only a comment\n").err().as_deref(), Some("no key in it"));
        assert!(parse("!!!!").expect_err("bad").contains("base64"));
        assert!(parse("AAAA").expect_err("short").contains("3 bytes, expected 32"));
        let two = format!("{0}\n{0}\n", BASE64.encode([1u8; 32]));
        assert!(parse(&two).expect_err("two").contains("more than one"));
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = load(&dir.path().join("nope"));
        assert!(matches!(missing, Err(CliError::KeyUnreadable { .. })));
        assert!(matches!(load(dir.path()), Err(CliError::KeyUnreadable { .. })));
    }
}
