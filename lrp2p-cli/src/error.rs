//! The tool's errors: one clear line each, and a distinct exit code per kind.
//!
//! | code | meaning |
//! |---|---|
//! | 1 | other failure |
//! | 2 | usage (clap: unknown flag, bad address, bad value) |
//! | 3 | key file unreadable or malformed |
//! | 4 | input file missing or unreadable |
//! | 5 | peer refused (or refused us) |
//! | 6 | timed out |
//! | 7 | transfer failed: hash mismatch, protocol violation, connection lost, the other side interrupted (Ctrl-C) |
//! | 8 | disk full or output not writable |
//! | 130 | interrupted (Ctrl-C) |

use std::io;
use std::path::PathBuf;

/// Everything that ends a command early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A key file could not be read.
    #[error("cannot read key file {}: {source}", path.display())]
    KeyUnreadable {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A key file's content is not a key.
    #[error("malformed key file {}: {reason}", path.display())]
    KeyMalformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A key file exists and `--force` was not given.
    #[error("{} already exists (use --force to overwrite)", .0.display())]
    KeyExists(PathBuf),
    /// An input file is missing or unreadable.
    #[error("cannot read {}: {source}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Writing output failed (disk full, permissions, …).
    #[error("cannot write {}: {}", path.display(), describe_io(source))]
    Output {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The peer refused the connection or the transfer.
    #[error("refused: {0}")]
    Refused(String),
    /// The peer did not answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The transfer did not complete correctly.
    #[error("transfer failed: {0}")]
    Transfer(String),
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
    /// A network operation failed.
    #[error("{context}: {}", describe_io(source))]
    Net {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: io::Error,
    },
}

impl CliError {
    /// The process exit code for this error (see the module table).
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::KeyUnreadable { .. } | CliError::KeyMalformed { .. } | CliError::KeyExists(_) => 3,
            CliError::Input { .. } => 4,
            CliError::Refused(_) => 5,
            CliError::Timeout(_) => 6,
            CliError::Transfer(_) => 7,
            CliError::Output { .. } => 8,
            CliError::Interrupted => 130,
            CliError::Net { source, .. } => match source.kind() {
                io::ErrorKind::ConnectionRefused | io::ErrorKind::PermissionDenied => 5,
                io::ErrorKind::TimedOut => 6,
                io::ErrorKind::StorageFull => 8,
                _ => 1,
            },
        }
    }

    /// Wraps a network error, sorting refusals and timeouts into their own kinds.
    pub(crate) fn net(context: impl Into<String>, source: io::Error) -> CliError {
        let context = context.into();
        match source.kind() {
            io::ErrorKind::ConnectionRefused => CliError::Refused(format!("{context}: {source}")),
            io::ErrorKind::TimedOut => CliError::Timeout(format!("{context}: {source}")),
            _ => CliError::Net { context, source },
        }
    }
}

/// An I/O error in words, naming the disk-full case plainly.
pub(crate) fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::StorageFull => "no space left on device (disk full)".to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_codes() {
        let refused = CliError::net("connect", io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(refused.exit_code(), 5);
        let timeout = CliError::net("connect", io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(timeout.exit_code(), 6);
        let full = CliError::Output { path: "x".into(), source: io::Error::from(io::ErrorKind::StorageFull) };
        assert_eq!(full.exit_code(), 8);
        assert!(full.to_string().contains("disk full"));
    }
}
