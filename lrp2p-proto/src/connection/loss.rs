//! Loss recovery's timers and what the congestion controller hears of losses: RACK's
//! reordering timer (RFC 8985 §6), the tail loss probe (RFC 8985 §7), the retransmission timeout
//! (RFC 6298 §5), the undo of a response to spurious losses, and fresh congestion state for a
//! new path (RFC 9000 §9.4). The scoreboard decisions themselves are the send stream's
//! (`arq::send`).

use std::time::Instant;

use super::timer::Timer;
use super::{Connection, Phase};
use crate::arq::truncate;
use crate::config::PACKET_OVERHEAD;
use crate::congestion::Pacer;
use crate::recovery::RttEstimator;
use crate::trace::{LossTrigger, TraceEvent};
use crate::wire::MAX_ACK_DELAY;

impl Connection {
    /// The path changed: RFC 9000 §9.4 — a new path (not just a new port, which a NAT rebinding
    /// gives) starts with a new congestion controller, RTT estimator and rate samples, so that
    /// what the old path taught does not overload the new one. What is in flight stays in
    /// flight and is recovered as usual.
    pub(super) fn reset_congestion(&mut self, now: Instant) {
        let mss = self.config.mss() as u64;
        self.cc = self.config.congestion.build(now, mss + PACKET_OVERHEAD as u64);
        self.rtt = RttEstimator::new(self.config.rtt);
        self.pacer = Pacer::new(now, mss, self.cc.window(), self.rtt.smoothed_or_initial());
        self.send.reset_rate_path(now);
        self.stats.congestion_resets = self.stats.congestion_resets.saturating_add(1);
    }

    /// RFC 6298 §5.4–5.6: the retransmission timer fired.
    pub(super) fn on_retransmission_timeout(&mut self, now: Instant) {
        if self.phase != Phase::Established || !self.send.has_unacknowledged() {
            return;
        }
        // RFC 6298 §5.4: retransmit the earliest segment not acknowledged (all are marked lost;
        // the congestion window now lets one out). §5.5: back the timer off.
        let (first, packets) = (self.send.una(), self.send.packets_in_flight());
        let lost = self.send.on_retransmission_timeout(now);
        self.stats.timeouts = self.stats.timeouts.saturating_add(1);
        self.stats.lost_packets_bytes += lost;
        self.cc.on_retransmission_timeout(now);
        self.rtt.backoff();
        self.arm_retransmit(now);
        if self.tracing() {
            let last = self.send.next_seq().saturating_sub(1);
            self.trace_lost(now, first, last, packets, lost, LossTrigger::Timeout);
            self.trace_metrics(now);
        }
        // PROTOCOL.md §13.8: a direct path that times out gives way to the relay, if there is one.
        self.fall_back_to_relay(now);
    }

    /// Runs loss detection (RFC 6675 / RFC 8985), telling the congestion controller of each
    /// lost packet; returns the bytes newly declared lost.
    pub(super) fn detect_losses(&mut self, now: Instant) -> u64 {
        let (cc, config, cid) = (&mut self.cc, &self.config, self.local_id.0);
        let loss = self.send.detect_losses(now, &self.rtt, &mut |seq, lost| {
            cc.on_lost(lost);
            if let Some(sink) = &config.trace {
                let (first, bytes) = (truncate(seq).0, lost.bytes);
                let event = TraceEvent::PacketLost {
                    first,
                    last: first,
                    packets: 1,
                    bytes,
                    trigger: LossTrigger::Rack,
                };
                sink.record(now, Some(cid), &event);
            }
        });
        self.stats.lost_packets_bytes += loss.lost_bytes;
        match loss.next_timer {
            Some(at) => self.timers.set(Timer::LossDetection, at),
            None => self.timers.stop(Timer::LossDetection),
        }
        self.arm_retransmit(now);
        loss.lost_bytes
    }

    /// RFC 6298 §5.1/§5.3: (re)start the retransmission timer while anything is outstanding
    /// (sent and not cumulatively acknowledged: SACKed data may be reneged on, RFC 2018 §8), stop
    /// it when nothing is (§5.2). Like Linux (`tcp_rearm_rto`), it runs from the last
    /// transmission of the oldest segment still in flight rather than from now, so a lost tail
    /// is not kept waiting a full RTO per ACK; and it is re-armed whenever that segment may have
    /// changed (every ACK, every loss detection), so a segment SACKed, or declared lost and
    /// resent, never leaves behind a deadline computed from its first transmission. (A deadline
    /// left from the first transmission of a segment resent in recovery fired one RTO after it,
    /// while the resend was still in a full queue: issue 9's collapse at 80-160 ms.)
    /// Idempotent: the deadline depends only on send times and the RTO.
    pub(super) fn arm_retransmit(&mut self, now: Instant) {
        if self.send.has_unacknowledged() {
            let from = self.send.retransmit_timer_base(now);
            self.timers.set(Timer::Retransmit, (from + self.rtt.rto()).max(now));
        } else {
            self.timers.stop(Timer::Retransmit);
        }
        self.arm_probe(now);
    }

    /// RFC 8985 §7.2: (re)arms the tail loss probe while data is in flight outside recovery and
    /// no probe is outstanding: PTO = 2·SRTT + the peer's maximum ACK delay after the last DATA
    /// sent. (§7.2 adds the delay only for a one-segment flight; here it is always added, as
    /// receivers hold the ACK of an odd tail as long as that too, PROTOCOL.md §8.5.) A PTO that
    /// would not fire before the retransmission timer is not armed. A PTO already past (the last
    /// DATA left long ago, e.g. while the amplification budget or the window held the sender)
    /// is armed at `now`: a deadline is never set before the present (found by
    /// `initiator_handshake`: `poll_timeout` earlier than the last `handle_timeout`).
    pub(super) fn arm_probe(&mut self, now: Instant) {
        let Some(srtt) = self.rtt.smoothed() else {
            self.timers.stop(Timer::Probe);
            return;
        };
        let eligible = self.phase == Phase::Established && self.send.may_probe();
        let deadline = self
            .send
            .last_sent()
            .and_then(|sent| sent.checked_add(srtt.saturating_mul(2).saturating_add(MAX_ACK_DELAY)))
            .filter(|_| eligible)
            .filter(|&pto| self.timers.deadline(Timer::Retransmit).is_none_or(|rto| pto < rto))
            .map(|pto| pto.max(now));
        match deadline {
            Some(at) => self.timers.set(Timer::Probe, at),
            None => self.timers.stop(Timer::Probe),
        }
    }

    /// RFC 8985 §7.3: the probe timer fired: send one segment, new data if there is any the
    /// peer's window allows, else the last segment sent again; the retransmission timer stays.
    pub(super) fn on_probe_timeout(&mut self, _now: Instant) {
        if self.phase != Phase::Established || !self.send.may_probe() {
            return;
        }
        let new_data = self.send.has_unsent_data() && self.send.next_seq() <= self.right_edge;
        if new_data || self.send.queue_probe_retransmission() {
            self.probe_pending = true;
            self.stats.tail_loss_probes = self.stats.tail_loss_probes.saturating_add(1);
        }
    }
}
