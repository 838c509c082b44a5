//! The NAT kinds and their nftables rulesets.

/// How a NAT router maps and filters (RFC 4787 terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatKind {
    /// `masquerade`: endpoint-independent mapping (the source port is kept when free),
    /// address-and-port-dependent filtering. What most home routers do: hole punching works.
    Easy,
    /// `masquerade random`: a new external port per destination (symmetric): a hole punched
    /// toward one address does not open toward another.
    Hard,
}

/// The router's ruleset: masquerade out of `eth0` (the WAN), replies only in, nothing
/// unsolicited to the router itself from the WAN.
pub(crate) fn ruleset(kind: NatKind) -> String {
    let masquerade = match kind {
        NatKind::Easy => "masquerade",
        NatKind::Hard => "masquerade random",
    };
    format!(
        "flush ruleset
table ip lab {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname \"eth0\" {masquerade}
    }}
    chain forward {{
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname \"lan\" oifname \"eth0\" accept
    }}
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname \"eth0\" ct state new drop
    }}
}}
"
    )
}
