//! The gate's slots, shares and trust decisions.

use super::*;

fn key(b: u8) -> PublicKey {
    lrp2p_proto::StaticSecret::from_bytes([b; 32]).public_key()
}

#[test]
fn the_gate_keeps_its_slots() {
    let gate = Arc::new(Gate::new(2, Arc::new(Trust::everyone())));
    let from: Option<SocketAddr> = "10.0.0.1:9".parse().ok();
    // Admitted peers wait for their confirmation without a slot: more than the slots may.
    assert!((1..=3).all(|k| gate.admit(&key(k), from)));
    assert_eq!((gate.pending(), gate.taken()), (3, 0));
    gate.confirmed_or_gone();
    let one = gate.take(&key(1), from).expect("a slot");
    gate.confirmed_or_gone();
    let two = gate.take(&key(2), "10.0.1.1:9".parse().ok()).expect("a slot");
    gate.confirmed_or_gone();
    assert!(gate.take(&key(3), from).is_none(), "full");
    assert_eq!(gate.busy.get(), (1, Some((key(3), from))));
    assert!(!gate.admit(&key(4), None), "every slot held by a confirmed peer: refused at once");
    drop(one);
    assert_eq!(gate.taken(), 1);
    assert!(gate.admit(&key(3), from), "a slot was freed");
    gate.close();
    assert!(!gate.admit(&key(4), None), "closing");
    drop(two);
    assert_eq!(gate.taken(), 0);
    // More releases than admissions never wrap.
    (0..3).for_each(|_| gate.confirmed_or_gone());
    assert_eq!(gate.pending(), 0);
}

#[test]
fn a_source_holds_at_most_its_share() {
    let gate = Arc::new(Gate::new(8, Arc::new(Trust::everyone())));
    let from: Option<SocketAddr> = "10.0.0.1:9".parse().ok();
    let slots: Vec<Slot> = (1..=2).filter_map(|k| gate.take(&key(k), from)).collect();
    assert_eq!(slots.len(), 2, "a quarter of 8");
    assert!(gate.take(&key(3), from).is_none());
    assert_eq!(gate.over_share.get().0, 1);
    assert_eq!(gate.taken(), 2, "the refused one holds nothing");
    assert!(gate.take(&key(3), "10.0.9.1:9".parse().ok()).is_some(), "another network");
}

#[test]
fn the_gate_applies_the_allow_list() {
    let gate = Gate::new(4, Arc::new(Trust::new(vec![key(1)], Vec::new(), trust::Unknown::Accept)));
    assert!(gate.admit(&key(1), None));
    assert!(!gate.admit(&key(2), None));
    assert_eq!(gate.not_allowed.get(), (1, Some((key(2), None))));
    assert_eq!(gate.pending(), 1, "a refused peer is not counted");
    let from = "127.0.0.1:9".parse().ok();
    let gate = Gate::new(4, Arc::new(Trust::new(Vec::new(), vec![key(1)], trust::Unknown::Refuse)));
    assert!(gate.admit(&key(1), from), "remembered");
    assert!(!gate.admit(&key(2), from), "unknown");
    assert_eq!(gate.unknown.get(), (1, Some((key(2), from))));
}
