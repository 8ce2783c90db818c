//! Places held per client network, for the whole room: what a network's budget counts.
//!
//! A script that mints tickets holds as many places as it has tickets that come back. So the
//! room counts the places each network holds at once (an IPv6 /64, an IPv4 address: see
//! `network`), room-wide, the way it counts places per arrival second: each isolate reports
//! `+1` in a network's give-up slot when a ticket of that network takes its place, moves it at
//! a renewal, and the slot's passing gives it up. A network holding its budget
//! (`RoomConfig::budget`) is put up as a notice every edge copies (`sync::NoticeKind::Full`):
//! a new place from it costs work, never a refusal, since carrier NAT puts thousands of phones
//! behind one IPv4 address. Counted at the coordinator, the budget holds across isolates and
//! locations, within a sync or two; a limit counted at each edge alone is the hole a script
//! walks through by spreading its tickets.
//!
//! Only the room keeps these counts, in memory: the tags name no address, and a restart
//! forgets them (budgets then fill again as places are renewed).

use std::collections::{BTreeMap, BTreeSet};

use crate::network::NetTag;
use crate::time::UnixMs;

/// Live places per network, by give-up slot.
#[derive(Clone, Debug, Default)]
pub struct NetPlaces {
    /// network → (give-up slot → places).
    by_net: BTreeMap<NetTag, BTreeMap<u64, u32>>,
    /// give-up slot → the networks with places in it: what a slot's passing gives up, found
    /// without walking every network (the room calls `expire` at every sync, and a night's
    /// crowd holds places from hundreds of thousands of networks).
    by_slot: BTreeMap<u64, BTreeSet<NetTag>>,
}

impl NetPlaces {
    /// Applies `delta` places of `network` in give-up `slot` at `now`; a slot already passed
    /// is ignored, and no count goes below zero.
    pub fn apply(&mut self, network: NetTag, slot: u64, delta: i64, now: UnixMs) {
        if delta == 0 || slot <= now.secs() || !network.is_known() {
            return;
        }
        let slots = self.by_net.entry(network).or_default();
        let n = slots.entry(slot).or_insert(0);
        let next = i64::from(*n).saturating_add(delta).max(0);
        *n = u32::try_from(next).unwrap_or(u32::MAX);
        if *n == 0 {
            slots.remove(&slot);
            if let Some(nets) = self.by_slot.get_mut(&slot) {
                nets.remove(&network);
                if nets.is_empty() {
                    self.by_slot.remove(&slot);
                }
            }
        } else {
            self.by_slot.entry(slot).or_default().insert(network);
        }
        if slots.is_empty() {
            self.by_net.remove(&network);
        }
    }

    /// Places `network` holds at `now`.
    pub fn held(&self, network: NetTag, now: UnixMs) -> u32 {
        self.by_net.get(&network).map_or(0, |slots| {
            slots
                .range(now.secs().saturating_add(1)..)
                .fold(0u32, |sum, (_, n)| sum.saturating_add(*n))
        })
    }

    /// Gives up the places whose slot has passed at `now`; the networks that lost some.
    pub fn expire(&mut self, now: UnixMs) -> Vec<NetTag> {
        let live = self.by_slot.split_off(&now.secs().saturating_add(1));
        let passed = std::mem::replace(&mut self.by_slot, live);
        let mut changed = BTreeSet::new();
        for (slot, networks) in passed {
            for network in networks {
                if let Some(slots) = self.by_net.get_mut(&network) {
                    slots.remove(&slot);
                    if slots.is_empty() {
                        self.by_net.remove(&network);
                    }
                }
                changed.insert(network);
            }
        }
        changed.into_iter().collect()
    }

    /// Every network holding places.
    pub fn networks(&self) -> Vec<NetTag> {
        self.by_net.keys().copied().collect()
    }

    /// Networks holding places.
    pub fn len(&self) -> usize {
        self.by_net.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_net.is_empty()
    }

    /// The networks holding the most places at `now`, most first: `(places, is IPv4)` each,
    /// never the tags (what the operator is shown).
    pub fn top(&self, now: UnixMs, n: usize) -> Vec<(u32, bool)> {
        let mut all: Vec<(u32, bool)> = self
            .by_net
            .keys()
            .map(|network| (self.held(*network, now), network.is_v4()))
            .filter(|(held, _)| *held > 0)
            .collect();
        all.sort_unstable_by(|a, b| b.cmp(a));
        all.truncate(n);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMs = UnixMs(1_700_000_000_000);

    #[test]
    fn a_networks_places_count_while_held_and_leave_with_their_slot() {
        let (home, other) = (NetTag(4), NetTag(7));
        let mut p = NetPlaces::default();
        let (early, late) = (T0.secs() + 60, T0.secs() + 300);
        p.apply(home, early, 3, T0);
        p.apply(home, late, 1, T0);
        p.apply(other, late, 1, T0);
        assert_eq!(p.held(home, T0), 4);
        // A renewal moves a place to a later slot; a repeated −1 takes no one else's place.
        p.apply(home, early, -1, T0);
        p.apply(home, late, 1, T0);
        p.apply(other, late, -5, T0);
        assert_eq!((p.held(home, T0), p.held(other, T0)), (4, 0));
        assert_eq!(p.expire(UnixMs(early * 1_000)), vec![home]);
        assert_eq!(p.held(home, UnixMs(early * 1_000)), 2);
        assert_eq!(p.top(UnixMs(early * 1_000), 5), vec![(2, false)]);
        p.apply(NetTag(0), late, 1, T0);
        assert_eq!(p.len(), 1, "no network, no count");
        // A slot emptied by hand gives nobody up when it passes.
        p.apply(other, late + 10, 1, T0);
        p.apply(other, late + 10, -1, T0);
        assert_eq!(p.expire(UnixMs((late + 10) * 1_000)), vec![home]);
        assert!(p.is_empty());
    }
}
