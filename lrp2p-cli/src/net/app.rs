//! The tool's services and their application protocol ids (PROTOCOL.md §7.7): each client
//! connects with its service's id, and each server closes a session that asks for another
//! service, before it gets a slot or is read, with [`app_close::WRONG_SERVICE`] and a reason
//! that the client prints. A client without an id (an older tool) is still served: its first
//! bytes (the perf hello, the file header) tell the services apart, as before.
//!
//! [`app_close::WRONG_SERVICE`]: super::app_close::WRONG_SERVICE

use lrp2p_proto::AppProtocol;

/// One of the tool's services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    /// `lrp2p perf server` / `perf client`.
    Perf,
    /// `lrp2p recv` / `send` (and `demo`).
    Files,
}

impl Service {
    /// The application protocol id its clients send.
    pub(crate) fn id(self) -> AppProtocol {
        let id: &[u8] = match self {
            Service::Perf => b"lrp2p-perf",
            Service::Files => b"lrp2p-send",
        };
        // 10 bytes: within PROTOCOL.md §7.7's 1 to 32.
        AppProtocol::new(id).unwrap_or_else(|_| unreachable!("a valid id"))
    }

    /// The service an id names, if it is one of the tool's.
    pub(crate) fn of(id: &AppProtocol) -> Option<Service> {
        [Service::Perf, Service::Files].into_iter().find(|s| s.id() == *id)
    }

    /// What its server is, in words.
    pub(crate) fn server(self) -> &'static str {
        match self {
            Service::Perf => "a perf server (`lrp2p perf server`)",
            Service::Files => "a file receiver (`lrp2p recv`)",
        }
    }

    /// What its client's session is, in words.
    pub(crate) fn session(self) -> &'static str {
        match self {
            Service::Perf => "a perf test (`lrp2p perf client`)",
            Service::Files => "a file transfer (`lrp2p send`)",
        }
    }

    /// What a server of this service says to a client that asked for `id`: `None` when it
    /// serves it (its own id, or none: an older tool, told apart by its first bytes); else the
    /// reason for [`app_close::WRONG_SERVICE`](super::app_close::WRONG_SERVICE), which the
    /// client prints (see [`super::lost_server`]).
    pub(crate) fn refusal(self, id: Option<&AppProtocol>) -> Option<String> {
        let id = id?;
        if *id == self.id() {
            return None;
        }
        let not = match Service::of(id) {
            Some(Service::Perf) => "not a perf server",
            Some(Service::Files) => "not a file receiver",
            None => "not the service asked for",
        };
        Some(format!("this is {}, {not} (asked for {id})", self.server()))
    }

    /// The server's own log line for a refused session asking for `id`.
    pub(crate) fn refused_line(self, id: &AppProtocol) -> String {
        match Service::of(id) {
            Some(other) => format!(
                "it asked for application protocol {id}, {}, not {}: the client has the wrong port",
                other.session(),
                self.session()
            ),
            None => format!("it asked for application protocol {id}, not {}", self.session()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_refusals() {
        assert_eq!(Service::Perf.id().as_bytes(), b"lrp2p-perf");
        assert_eq!(Service::of(&Service::Files.id()), Some(Service::Files));
        assert_eq!(Service::Perf.refusal(None), None);
        assert_eq!(Service::Perf.refusal(Some(&Service::Perf.id())), None);
        let why = Service::Perf.refusal(Some(&Service::Files.id())).unwrap_or_default();
        assert!(why.contains("not a file receiver") && why.contains("lrp2p-send"), "{why}");
        let why = Service::Files.refusal(Some(&Service::Perf.id())).unwrap_or_default();
        assert!(why.contains("not a perf server"), "{why}");
        let other = AppProtocol::try_from("http/1.1").unwrap_or_else(|_| unreachable!());
        assert!(Service::Files.refusal(Some(&other)).is_some());
        assert!(Service::Perf.refused_line(&Service::Files.id()).contains("wrong port"));
    }
}
