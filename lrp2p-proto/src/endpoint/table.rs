//! The endpoint's connection table: a slab of connections with generation-checked handles, the
//! connection-id index, the index of initiations being answered, the deadline queue and the
//! queue of connections that may have something to send.
//!
//! Every structure is bounded by the number of connections, which the endpoint caps. Maps keyed
//! by values an attacker chooses are `BTreeMap`s (no hash collisions to aim for); the id index
//! holds only ids we drew at random, so a fixed-key hasher is safe there and needs no OS RNG.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::net::SocketAddr;
use std::time::Instant;

use super::ConnectionHandle;
use super::admission::AddressCounts;
use crate::connection::Connection;
use crate::wire::ConnectionId;

struct Slot {
    generation: u32,
    conn: Option<Box<Connection>>,
    deadline: Option<Instant>,
    dirty: bool,
    half_open: bool,
    initiation: Option<(SocketAddr, ConnectionId)>,
}

/// See the module documentation.
#[derive(Default)]
pub(super) struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
    by_id: HashMap<ConnectionId, u32, BuildHasherDefault<DefaultHasher>>,
    by_initiation: BTreeMap<(SocketAddr, ConnectionId), u32>,
    deadlines: BTreeSet<(Instant, u32)>,
    dirty: VecDeque<u32>,
    half_open: usize,
    /// Responder connections by their initiation's source (address and prefix).
    pub(super) addresses: AddressCounts,
}

impl Table {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn half_open(&self) -> usize {
        self.half_open
    }

    pub(super) fn has_id(&self, id: ConnectionId) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Adds a connection; `initiation` indexes a responder by its initiator's (address, id).
    pub(super) fn insert(
        &mut self,
        conn: Connection,
        initiation: Option<(SocketAddr, ConnectionId)>,
    ) -> ConnectionHandle {
        let local_id = conn.local_id();
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    conn: None,
                    deadline: None,
                    dirty: false,
                    half_open: false,
                    initiation: None,
                });
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.conn = Some(Box::new(conn));
        slot.initiation = initiation;
        // A responder starts half-open (it becomes confirmed later: `update`).
        slot.half_open = initiation.is_some();
        if let Some((from, _)) = initiation {
            self.half_open += 1;
            self.addresses.add(&from);
        }
        self.len += 1;
        self.by_id.insert(local_id, index);
        if let Some(key) = initiation {
            self.by_initiation.insert(key, index);
        }
        ConnectionHandle { index, generation: slot.generation }
    }

    fn slot(&self, handle: ConnectionHandle) -> Option<&Slot> {
        self.slots
            .get(handle.index as usize)
            .filter(|s| s.generation == handle.generation && s.conn.is_some())
    }

    pub(super) fn get(&self, handle: ConnectionHandle) -> Option<&Connection> {
        self.slot(handle).and_then(|s| s.conn.as_deref())
    }

    pub(super) fn get_mut(&mut self, handle: ConnectionHandle) -> Option<&mut Connection> {
        let slot = self.slots.get_mut(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        slot.conn.as_deref_mut()
    }

    fn handle_of(&self, index: u32) -> Option<ConnectionHandle> {
        let slot = self.slots.get(index as usize)?;
        slot.conn.as_ref().map(|_| ConnectionHandle { index, generation: slot.generation })
    }

    /// The connection addressed by `id`.
    pub(super) fn by_id(&self, id: ConnectionId) -> Option<ConnectionHandle> {
        self.by_id.get(&id).and_then(|&i| self.handle_of(i))
    }

    /// The responder connection created for the initiation from `addr` with initiator id `id`.
    pub(super) fn by_initiation(&self, addr: SocketAddr, id: ConnectionId) -> Option<ConnectionHandle> {
        self.by_initiation.get(&(addr, id)).and_then(|&i| self.handle_of(i))
    }

    /// Records a connection's new deadline and half-open status.
    pub(super) fn update(&mut self, handle: ConnectionHandle, deadline: Option<Instant>, half_open: bool) {
        let Some(slot) = self.slots.get_mut(handle.index as usize) else { return };
        if slot.deadline != deadline {
            if let Some(old) = slot.deadline {
                self.deadlines.remove(&(old, handle.index));
            }
            if let Some(new) = deadline {
                self.deadlines.insert((new, handle.index));
            }
            slot.deadline = deadline;
        }
        if slot.half_open != half_open {
            slot.half_open = half_open;
            if half_open {
                self.half_open += 1;
            } else {
                self.half_open = self.half_open.saturating_sub(1);
            }
            if let Some((from, _)) = slot.initiation {
                self.addresses.set_half_open(&from, half_open);
            }
        }
    }

    /// Frees a connection and every index entry pointing at it.
    pub(super) fn remove(&mut self, handle: ConnectionHandle) {
        self.update(handle, None, false);
        let Some(slot) = self.slots.get_mut(handle.index as usize) else { return };
        let Some(conn) = slot.conn.take() else { return };
        self.by_id.remove(&conn.local_id());
        if let Some(key) = slot.initiation.take() {
            self.by_initiation.remove(&key);
            // `update` above took it out of the half-open counts.
            self.addresses.remove(&key.0, false);
        }
        self.len -= 1;
        self.free.push(handle.index);
    }

    /// Every connection held.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Connection> {
        self.slots.iter().filter_map(|s| s.conn.as_deref())
    }

    /// The first connection for which `f` holds.
    pub(super) fn find(&self, f: impl Fn(&Connection) -> bool) -> Option<ConnectionHandle> {
        let index = self.slots.iter().position(|s| s.conn.as_deref().is_some_and(&f))?;
        self.handle_of(u32::try_from(index).ok()?)
    }

    /// The handles of every connection held.
    pub(super) fn handles(&self) -> Vec<ConnectionHandle> {
        (0..self.slots.len()).filter_map(|i| u32::try_from(i).ok().and_then(|i| self.handle_of(i))).collect()
    }

    /// The earliest deadline of all connections.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// Removes and returns a connection whose deadline is due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<ConnectionHandle> {
        let &(at, index) = self.deadlines.first()?;
        if at > now {
            return None;
        }
        self.deadlines.remove(&(at, index));
        if let Some(slot) = self.slots.get_mut(index as usize) {
            slot.deadline = None;
        }
        self.handle_of(index)
    }

    pub(super) fn mark_dirty(&mut self, handle: ConnectionHandle) {
        if let Some(slot) = self.slots.get_mut(handle.index as usize) {
            if !slot.dirty {
                slot.dirty = true;
                self.dirty.push_back(handle.index);
            }
        }
    }

    pub(super) fn clear_dirty(&mut self, handle: ConnectionHandle) {
        if let Some(slot) = self.slots.get_mut(handle.index as usize) {
            slot.dirty = false;
        }
    }

    /// The next connection that may have something to send, left on the queue.
    pub(super) fn peek_dirty(&mut self) -> Option<ConnectionHandle> {
        while let Some(&index) = self.dirty.front() {
            if let Some(handle) = self.handle_of(index) {
                return Some(handle);
            }
            self.dirty.pop_front();
            if let Some(slot) = self.slots.get_mut(index as usize) {
                slot.dirty = false;
            }
        }
        None
    }

    /// The next connection that may have something to send (taken off the queue).
    pub(super) fn next_dirty(&mut self) -> Option<ConnectionHandle> {
        while let Some(index) = self.dirty.pop_front() {
            if let Some(slot) = self.slots.get_mut(index as usize) {
                slot.dirty = false;
                if let Some(handle) = self.handle_of(index) {
                    return Some(handle);
                }
            }
        }
        None
    }
}
