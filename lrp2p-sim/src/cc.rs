//! Congestion controllers by name: the one place that maps a name on the command line or in a
//! sweep to the `lrp2p-proto` controller a flow's sender runs ([`controller`]).

use std::fmt;
use std::sync::Arc;

use lrp2p_proto::congestion::{BbrConfig, ControllerFactory, CubicConfig, FixedWindowConfig};

use crate::config::DEFAULT_MSS;
use crate::scenario::ScenarioParams;

/// The window of [`Cc::Fixed`] on a path of unlimited rate, in datagrams.
const FIXED_WINDOW_UNLIMITED: u64 = 1000;

/// A congestion controller a flow can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, clap::ValueEnum)]
pub enum Cc {
    /// CUBIC (RFC 9438) with slow start: `lrp2p-proto`'s default.
    #[default]
    Cubic,
    /// BBR (draft-ietf-ccwg-bbr, BBRv3): a model of the path's bandwidth and round trip.
    Bbr,
    /// A constant window of one bandwidth-delay product of the initial path (no slow start,
    /// no reduction): not congestion control, the baseline of what the ARQ alone achieves.
    Fixed,
}

impl Cc {
    /// Every controller, in the order of the enum.
    pub const ALL: [Cc; 3] = [Cc::Cubic, Cc::Bbr, Cc::Fixed];

    /// The controller's name on the command line and in tables (the one the controller gives
    /// itself, `ConnectionStats::congestion_control`).
    pub fn name(self) -> &'static str {
        match self {
            Cc::Cubic => "cubic",
            Cc::Bbr => "bbr",
            Cc::Fixed => "fixed",
        }
    }
}

impl fmt::Display for Cc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The factory of controller `cc` for a flow on `params`' path (a fixed window is sized to the
/// path's bandwidth-delay product at its initial rate and base RTT).
pub fn controller(cc: Cc, params: &ScenarioParams) -> Arc<dyn ControllerFactory> {
    match cc {
        Cc::Cubic => Arc::new(CubicConfig::default()),
        Cc::Bbr => Arc::new(BbrConfig::default()),
        Cc::Fixed => {
            let packets = match params.link.bdp_packets(params.rtt, DEFAULT_MSS) {
                usize::MAX => FIXED_WINDOW_UNLIMITED,
                n => n as u64,
            };
            Arc::new(FixedWindowConfig { window: packets.max(1) * DEFAULT_MSS as u64 })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    // An `Instant` can only be had from the clock; only differences from it matter here.
    #[allow(clippy::disallowed_methods)]
    fn names_and_windows() {
        let params = ScenarioParams::new(1, 100_000_000, Duration::from_millis(40), 1);
        assert_eq!(Cc::ALL.map(Cc::name), ["cubic", "bbr", "fixed"]);
        let fixed = controller(Cc::Fixed, &params).build(Instant::now(), 1318);
        // 100 Mbit/s × 40 ms = 500,000 bytes = 357.1 → 358 datagrams of 1400 bytes.
        assert_eq!(fixed.window(), 358 * 1400);
        let cubic = controller(Cc::Cubic, &params).build(Instant::now(), 1318);
        assert!(cubic.in_slow_start());
        // Each name builds the controller that calls itself so (`ConnectionStats::congestion_control`).
        for cc in Cc::ALL {
            assert_eq!(controller(cc, &params).build(Instant::now(), 1318).name(), cc.name());
        }
        let unlimited = ScenarioParams::new(1, 0, Duration::from_millis(40), 1);
        assert_eq!(controller(Cc::Fixed, &unlimited).build(Instant::now(), 1318).window(), 1000 * 1400);
    }
}
