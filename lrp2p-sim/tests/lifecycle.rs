//! How connections end, with real endpoints on the emulated network: half-close (one side
//! finishes and keeps receiving), the idle timeout with and without keep-alives, and a peer that
//! vanishes mid-transfer (crashed host, cut link).

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use lrp2p_proto::CloseReason;
use lrp2p_proto::EndpointConfig;
use lrp2p_sim::scenario::ScenarioParams;
use lrp2p_sim::transfer::{Flow, Transfer, TransferOptions};
use lrp2p_sim::{LinkConfig, RunOutcome};

use support::ms;

/// The one flow of the server and of the (single) client.
fn flows(t: &Transfer) -> (&Flow, &Flow) {
    (&t.server_node().flows[0], &t.client_nodes().next().unwrap().flows[0])
}

/// `upload` bytes one way and `download` the other over 20 Mbit/s, 40 ms, 1% loss and
/// reordering; the run goes on until both endpoints have freed the connection.
fn half_close(seed: u64, upload: u64, download: u64) -> Transfer {
    let mut params = support::params(seed, 20, 40, upload);
    params.link = params.link.clone().loss(0.01).reorder(0.01);
    params.time_limit = Duration::from_secs(120);
    let options =
        TransferOptions { download, await_release: true, event_driven: true, ..TransferOptions::default() };
    let transfer = support::run(&params, support::config(), options);
    let (server, client) = flows(&transfer);
    assert!(transfer.verified(), "server {server:?}\nclient {client:?}");
    for f in [server, client] {
        assert_eq!(f.closed, Some(CloseReason::Finished));
    }
    assert_eq!(transfer.server_node().endpoint().connection_count(), 0);
    assert_eq!(transfer.client_nodes().next().unwrap().endpoint().connection_count(), 0);
    transfer
}

#[test]
fn client_finishes_first_and_keeps_receiving_until_the_server_finishes() {
    let transfer = half_close(11, 10_000, 1_000_000);
    let (server, client) = flows(&transfer);
    // The client's stream ended (the server read its FIN) long before the download did, and
    // the client went on reading the server's data after that.
    let upload_done = server.eof_at.unwrap();
    let download_done = client.eof_at.unwrap();
    eprintln!(
        "half-close (client first): client FIN at {:.1} ms, read by the server at {:.1} ms; \
         download done at {:.1} ms",
        ms(client.fin_sent_at.unwrap() - transfer.sim.start()),
        ms(upload_done - transfer.sim.start()),
        ms(download_done - transfer.sim.start()),
    );
    assert!(client.fin_sent_at.unwrap() <= upload_done);
    assert!(download_done > upload_done + Duration::from_millis(200), "the download outlived the upload");
    assert!(client.last_byte.unwrap() > upload_done);
    // Neither side closed before the slower stream was done.
    assert!(server.closed_at.unwrap() >= server.fin_sent_at.unwrap());
    assert!(client.closed_at.unwrap() >= download_done);
}

#[test]
fn server_finishes_first_and_keeps_receiving_until_the_client_finishes() {
    let transfer = half_close(12, 1_000_000, 10_000);
    let (server, client) = flows(&transfer);
    let download_done = client.eof_at.unwrap();
    let upload_done = server.eof_at.unwrap();
    eprintln!(
        "half-close (server first): download done at {:.1} ms, upload done at {:.1} ms",
        ms(download_done - transfer.sim.start()),
        ms(upload_done - transfer.sim.start()),
    );
    assert!(upload_done > download_done + Duration::from_millis(200), "the upload outlived the download");
    assert!(server.last_byte.unwrap() > download_done);
    assert!(server.closed_at.unwrap() >= upload_done);
}

/// A clean 50 Mbit/s, 40 ms path moving 100 kB up; streams are left open afterwards.
fn idle_setup(seed: u64, idle: Duration, keep_alive: Option<Duration>) -> (ScenarioParams, EndpointConfig) {
    let mut config = support::config();
    config.connection.idle_timeout = idle;
    config.connection.keep_alive = keep_alive;
    let mut params = support::params(seed, 50, 40, 100_000);
    params.time_limit = Duration::from_secs(60);
    (params, config)
}

fn open_after_data() -> TransferOptions {
    TransferOptions { finish: false, ..TransferOptions::default() }
}

#[test]
fn idle_connection_closes_after_the_idle_timeout_without_keep_alives() {
    let idle = Duration::from_secs(5);
    let (params, config) = idle_setup(21, idle, None);
    let transfer = support::run(&params, config, open_after_data());
    let (server, client) = flows(&transfer);
    assert_eq!(server.received, 100_000);
    assert!(server.intact && !server.eof, "the stream stays open");
    // The last packet the server heard was the last data segment (read at once); the client
    // last heard the ACK of it, at most one max_ack_delay and one one-way delay later.
    let last = server.last_byte.unwrap();
    let bound = params.rtt / 2 + Duration::from_millis(25) + Duration::from_millis(1);
    let (server_after, client_after) = (server.closed_at.unwrap() - last, client.closed_at.unwrap() - last);
    eprintln!(
        "idle timeout {idle:?}, no keep-alive: closed {:.1} ms (server) and {:.1} ms (client) after \
         the last data",
        ms(server_after),
        ms(client_after)
    );
    assert_eq!(server.closed, Some(CloseReason::IdleTimeout));
    assert_eq!(client.closed, Some(CloseReason::IdleTimeout));
    assert!(server_after >= idle && server_after <= idle + bound, "{server_after:?}");
    assert!(client_after >= idle && client_after <= idle + bound, "{client_after:?}");
    // An idle timeout frees the state at once.
    assert_eq!(transfer.server_node().endpoint().connection_count(), 0);
    assert_eq!(transfer.client_nodes().next().unwrap().endpoint().connection_count(), 0);
}

#[test]
fn keep_alives_hold_an_idle_connection_open_well_beyond_the_idle_timeout() {
    let idle = Duration::from_secs(5);
    let keep_alive = Duration::from_secs(2);
    let (params, config) = idle_setup(22, idle, Some(keep_alive));
    let mut transfer = Transfer::new(&params, config, open_after_data()).unwrap();
    // The data is through after ~0.2 s; from 1 s on the connection is idle.
    assert_eq!(transfer.sim.run_until(Duration::from_secs(1)).unwrap(), RunOutcome::TimeLimit);
    let sent = |t: &Transfer| {
        let (server, client) = flows(t);
        server.stats.datagrams_sent + client.stats.datagrams_sent
    };
    let before = sent(&transfer);
    assert_eq!(flows(&transfer).0.received, 100_000);
    // 60 s of simulated time: twelve idle timeouts.
    assert_eq!(transfer.run().unwrap(), RunOutcome::TimeLimit);
    let (server, client) = flows(&transfer);
    let quiet = transfer.sim.now() - server.last_byte.unwrap();
    assert!(quiet > 10 * idle, "{quiet:?}");
    assert_eq!((server.closed.clone(), client.closed.clone()), (None, None));
    assert_eq!(transfer.server_node().endpoint().connection_count(), 1);
    assert_eq!(transfer.client_nodes().next().unwrap().endpoint().connection_count(), 1);
    // Keep-alives are cheap: per keep-alive interval each side pings at most once (its timer
    // restarts with every datagram it sends) and each PING draws at most one ACK.
    let idle_datagrams = sent(&transfer) - before;
    let budget = 4 * (59 / keep_alive.as_secs() + 1);
    eprintln!("keep-alive {keep_alive:?}, idle timeout {idle:?}: {idle_datagrams} datagrams in 59 s idle");
    assert!(idle_datagrams > 0 && idle_datagrams <= budget, "{idle_datagrams} datagrams, budget {budget}");
}

/// How the peer disappears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gone {
    /// The server host stops: no more datagrams in or out, no timers.
    Server,
    /// The client host stops.
    Client,
    /// Both hosts live on, but the path between them drops everything.
    Link,
}

/// 4 MB up and 4 MB down over 20 Mbit/s and 40 ms with 1% loss and an idle timeout of 5 s;
/// 0.8 s in, `how` takes the peer away. Every survivor must end with an idle timeout, one idle
/// timeout after the last packet that got through (which left before the cut and arrives at
/// most one one-way delay plus a full queue, under two RTTs, later), with its data intact but
/// incomplete, and free the connection.
fn peer_vanishes_mid_transfer(seed: u64, how: Gone) {
    let idle = Duration::from_secs(5);
    let mut config = support::config();
    config.connection.idle_timeout = idle;
    let mut params = support::params(seed, 20, 40, 4_000_000);
    params.link = params.link.clone().loss(0.01);
    params.time_limit = Duration::from_secs(120);
    let options = TransferOptions { download: 4_000_000, ..TransferOptions::default() };
    let mut transfer = Transfer::new(&params, config, options).unwrap();
    let gone = Duration::from_millis(800);
    let at = transfer.sim.start() + gone;
    match how {
        Gone::Server => transfer.server_node_mut().vanish_at(at),
        Gone::Client => {
            let id = transfer.clients[0];
            transfer.sim.node_mut(id).unwrap().vanish_at(at);
        }
        Gone::Link => {
            assert_eq!(transfer.sim.run_until(gone).unwrap(), RunOutcome::TimeLimit);
            let (client, server) = (transfer.topology.clients[0], transfer.topology.server);
            let net = transfer.sim.network_mut();
            let cut = net.add_link("cut", LinkConfig::new().loss(1.0));
            net.route(client, server, cut);
            net.route(server, client, cut);
        }
    }
    assert_eq!(transfer.run().unwrap(), RunOutcome::AllDone);
    let survivors: Vec<_> = std::iter::once(transfer.server_node())
        .chain(transfer.client_nodes())
        .filter(|n| !n.is_vanished())
        .collect();
    assert_eq!(survivors.len(), if how == Gone::Link { 2 } else { 1 });
    for node in survivors {
        let side = if node.is_server() { "server" } else { "client" };
        let flow = &node.flows[0];
        let after = flow.closed_at.unwrap() - at;
        eprintln!(
            "{how:?} gone at {gone:?}: {side} closed {:?} {:.1} ms later, {} of 4000000 bytes \
             received, {} retransmits, {} timeouts",
            flow.closed,
            ms(after),
            flow.received,
            flow.stats.retransmits,
            flow.stats.timeouts
        );
        assert_eq!(flow.closed, Some(CloseReason::IdleTimeout), "{how:?}: {side}");
        assert!(after >= idle && after <= idle + 2 * params.rtt, "{how:?}: {side} closed {after:?} later");
        assert!(!flow.eof && flow.received < 4_000_000, "{how:?}: {side}: the transfer was cut short");
        assert!(flow.received > 0 && flow.intact, "{how:?}: {side}: what arrived is intact");
        assert_eq!(node.endpoint().connection_count(), 0, "{how:?}: {side}: state freed");
    }
}

#[test]
fn client_detects_a_vanished_server_by_idle_timeout_and_frees_its_state() {
    peer_vanishes_mid_transfer(31, Gone::Server);
}

#[test]
fn server_detects_a_vanished_client_by_idle_timeout_and_frees_its_state() {
    peer_vanishes_mid_transfer(32, Gone::Client);
}

#[test]
fn both_sides_of_a_cut_link_time_out_and_free_their_state() {
    peer_vanishes_mid_transfer(33, Gone::Link);
}

/// The last-ACK problem. The client uploads 200 kB and finishes; the server has nothing to send
/// (its own FIN long acknowledged). When 190 kB have arrived, every datagram from the server to
/// the client is lost for one second (a short one-way outage, e.g. a Wi-Fi handover): the server
/// reads the rest and the client's FIN, is done with both streams, acknowledges into the void
/// and lingers. The client must still learn that its data was delivered once the path is back:
/// its retransmission of the tail should be acknowledged.
#[test]
fn sender_learns_of_delivery_when_the_final_acks_are_lost_for_a_second() {
    let mut params = support::params(51, 20, 40, 200_000);
    params.time_limit = Duration::from_secs(120);
    let mut transfer = Transfer::new(&params, support::config(), TransferOptions::default()).unwrap();
    let mut t = Duration::ZERO;
    while transfer.server_node().flows.first().is_none_or(|f| f.received < 190_000) {
        t += Duration::from_millis(1);
        assert_eq!(transfer.sim.run_until(t).unwrap(), RunOutcome::TimeLimit);
    }
    let cut_at = t;
    let (client, server) = (transfer.topology.clients[0], transfer.topology.server);
    let reverse = transfer.topology.reverse;
    let cut = transfer.sim.network_mut().add_link("server -> client, cut", LinkConfig::new().loss(1.0));
    transfer.sim.network_mut().route(server, client, cut);
    assert_eq!(transfer.sim.run_until(cut_at + Duration::from_secs(1)).unwrap(), RunOutcome::TimeLimit);
    transfer.sim.network_mut().route(server, client, reverse);
    assert_eq!(transfer.run().unwrap(), RunOutcome::AllDone);
    let (server_flow, client_flow) = flows(&transfer);
    let start = transfer.sim.start();
    eprintln!(
        "server -> client cut for 1 s from {:.1} ms: server {:?} at {:.1} ms; client {:?} at {:.1} ms after \
         {} retransmission timeouts; the server dropped {} of them as for an unknown connection",
        ms(cut_at),
        server_flow.closed,
        ms(server_flow.closed_at.unwrap() - start),
        client_flow.closed,
        ms(client_flow.closed_at.unwrap() - start),
        client_flow.stats.timeouts,
        transfer.server_node().endpoint().stats().unknown_connection,
    );
    eprintln!(
        "  server read its last byte at {:.1} ms and the FIN at {:.1} ms",
        ms(server_flow.last_byte.unwrap() - start),
        ms(server_flow.eof_at.unwrap() - start),
    );
    assert!(server_flow.verified(200_000), "the data itself was delivered");
    assert_eq!(server_flow.closed, Some(CloseReason::Finished));
    assert_eq!(client_flow.closed, Some(CloseReason::Finished), "the client never learned it");
}
