//! # lrp2p-interop: the three LRP2P adapters talking to each other
//!
//! A test-only crate (not published, no code): its integration tests make each runtime
//! adapter — `lrp2p-std` (blocking), `lrp2p-tokio` and `lrp2p-async-std` — talk to the other
//! two over loopback, as dialer and as acceptor: a Noise IK connect with 0-RTT data, a few MiB
//! each way at once verified by hash, a half-close each way, and a Noise XX exchange
//! (`connect_unknown`). They check that the adapters share the wire protocol and the same
//! names and semantics (`flush`, `shutdown`, `acknowledged`); `close` (abort), refusal and
//! timeouts are tested in each adapter's own suite.
//!
//! Run them with `cargo test -p lrp2p-interop`. The scenarios are written once, over a small
//! blocking interface that each adapter implements on its own runtime
//! (`tests/common/adapters.rs`).
