//! Who may connect: `--allow`, the senders remembered in `known_peers`, and what to do with a
//! key never seen before (`recv`'s prompt, `--yes`, or a refusal).
//!
//! The acceptor ([`super::Gate`]) asks [`Trust::decide`] with the socket's lock held, so it
//! only reads a short list under a mutex. Asking the user happens later, in the session
//! ([`Trust::ask`]), before anything of the peer's is read: the peer is admitted in the
//! handshake and closed with `net::app_close::DECLINED` if the answer is no.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::sync::Mutex;

use lrp2p_proto::PublicKey;

/// What to do with a key that is neither in `--allow` nor remembered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unknown {
    /// Accept it and forget it (`perf server`: nothing is written to disk).
    Accept,
    /// Accept it and remember it (`recv --yes`).
    Remember,
    /// Ask on the terminal (`recv` with a terminal on standard input).
    Ask,
    /// Refuse it in the handshake (`recv` without a terminal, `--yes` or `--allow`).
    Refuse,
}

/// The acceptor's verdict on one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// In `--allow`, remembered, or accepted without question.
    Admit,
    /// Admitted in the handshake; the session asks first ([`Trust::ask`]).
    AdmitAndAsk,
    /// Not in `--allow`.
    NotAllowed,
    /// Never seen, and nobody to ask.
    Unknown,
}

/// The trust policy of a service.
#[derive(Debug)]
pub(crate) struct Trust {
    /// Accept only these keys (`--allow`); when given, nothing else counts.
    allow: Vec<PublicKey>,
    /// Senders remembered (the `accept` lines of `known_peers`, and those accepted since).
    known: Mutex<Vec<PublicKey>>,
    /// What to do with the others.
    unknown: Unknown,
    /// One prompt at a time.
    prompt: tokio::sync::Mutex<()>,
}

impl Trust {
    /// Everyone is accepted, nothing remembered (`perf server`).
    pub(crate) fn everyone() -> Trust {
        Trust::new(Vec::new(), Vec::new(), Unknown::Accept)
    }

    /// `recv`'s policy: `--allow` if given; else the remembered senders, and for the others
    /// `--yes` (remember), the terminal (ask), or a refusal.
    pub(crate) fn for_recv(allow: Vec<PublicKey>, yes: bool) -> Trust {
        let unknown = if yes {
            Unknown::Remember
        } else if std::io::stdin().is_terminal() {
            Unknown::Ask
        } else {
            Unknown::Refuse
        };
        let known = if allow.is_empty() { crate::known_peers::accepted_senders() } else { Vec::new() };
        Trust::new(allow, known, unknown)
    }

    /// A policy from its parts.
    pub(crate) fn new(allow: Vec<PublicKey>, known: Vec<PublicKey>, unknown: Unknown) -> Trust {
        Trust { allow, known: Mutex::new(known), unknown, prompt: tokio::sync::Mutex::new(()) }
    }

    /// Whether `peer` was remembered (or accepted since).
    fn is_known(&self, peer: &PublicKey) -> bool {
        self.known.lock().is_ok_and(|k| k.contains(peer))
    }

    /// The acceptor's verdict on `peer` (quick: called with the socket's lock held).
    pub(crate) fn decide(&self, peer: &PublicKey) -> Decision {
        if !self.allow.is_empty() {
            return if self.allow.contains(peer) { Decision::Admit } else { Decision::NotAllowed };
        }
        if self.unknown == Unknown::Accept || self.is_known(peer) {
            return Decision::Admit;
        }
        match self.unknown {
            Unknown::Accept | Unknown::Remember => Decision::Admit,
            Unknown::Ask => Decision::AdmitAndAsk,
            Unknown::Refuse => Decision::Unknown,
        }
    }

    /// Whether an admitted `peer` is new and must be remembered now (`--yes`).
    pub(crate) fn to_remember(&self, peer: &PublicKey) -> bool {
        self.allow.is_empty() && self.unknown == Unknown::Remember && !self.is_known(peer)
    }

    /// Remembers `peer`, first seen at `from`, here and in `known_peers`; returns the file.
    pub(crate) fn learn(
        &self,
        peer: &PublicKey,
        from: Option<SocketAddr>,
    ) -> std::io::Result<std::path::PathBuf> {
        if let Ok(mut known) = self.known.lock() {
            if !known.contains(peer) {
                known.push(*peer);
            }
        }
        crate::known_peers::remember_sender(peer, from)
    }

    /// Asks the user whether to accept files from `peer` at `from` unless it is known (or
    /// was accepted while waiting for the terminal); remembers it on yes. Returns whether
    /// to go on.
    pub(crate) async fn ask(&self, peer: &PublicKey, from: Option<SocketAddr>) -> bool {
        if self.decide(peer) != Decision::AdmitAndAsk {
            return true;
        }
        let _turn = self.prompt.lock().await;
        if self.is_known(peer) {
            return true;
        }
        let from_text = from.map_or_else(|| "an unknown address".to_owned(), |a| a.to_string());
        let question = format!("accept files from {peer} at {from_text}? [y/N] ");
        let answer = tokio::task::spawn_blocking(move || {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(question.as_bytes()).and_then(|()| err.flush());
            drop(err);
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map(|_| line)
        })
        .await;
        let yes = matches!(answer, Ok(Ok(line)) if is_yes(&line));
        if yes {
            let _ = self.learn(peer, from);
        }
        yes
    }
}

/// Whether a prompt's answer means yes.
fn is_yes(line: &str) -> bool {
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> PublicKey {
        lrp2p_proto::StaticSecret::from_bytes([b; 32]).public_key()
    }

    #[test]
    fn decisions_follow_the_policy() {
        let allow = Trust::new(vec![key(1)], vec![key(2)], Unknown::Remember);
        assert_eq!(allow.decide(&key(1)), Decision::Admit);
        assert_eq!(allow.decide(&key(2)), Decision::NotAllowed, "--allow is exact");
        assert!(!allow.to_remember(&key(1)));
        let refuse = Trust::new(Vec::new(), vec![key(2)], Unknown::Refuse);
        assert_eq!(refuse.decide(&key(2)), Decision::Admit, "remembered");
        assert_eq!(refuse.decide(&key(3)), Decision::Unknown);
        let ask = Trust::new(Vec::new(), vec![key(2)], Unknown::Ask);
        assert_eq!(ask.decide(&key(3)), Decision::AdmitAndAsk);
        assert_eq!(ask.decide(&key(2)), Decision::Admit);
        let yes = Trust::new(Vec::new(), Vec::new(), Unknown::Remember);
        assert_eq!(yes.decide(&key(3)), Decision::Admit);
        assert!(yes.to_remember(&key(3)));
        assert_eq!(Trust::everyone().decide(&key(9)), Decision::Admit);
        assert!(!Trust::everyone().to_remember(&key(9)));
        assert!(is_yes(" Y\n") && is_yes("yes\n") && !is_yes("\n") && !is_yes("no"));
    }
}
