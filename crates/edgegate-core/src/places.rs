//! The places held in line, as the coordinator counts them: per arrival second, and per time the
//! place will be given up unless its holder comes back.
//!
//! A place costs the queue only while someone holds it. An isolate counts a ticket when its
//! holder first comes back (`+1` in the slot of its `held_until`), and each later visit that
//! renews it moves it to a later slot (`−1` old, `+1` new). When a slot's time passes, its places
//! are given up: they leave the per-second counts the cursor and every position are computed
//! from. Counts therefore stay exact without the coordinator ever seeing a ticket.
//!
//! Slots are [`SLOT_S`] seconds wide and named by the second they end at, rounded up, so a
//! place is never given up before its `held_until`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::release::Histogram;
use crate::time::UnixMs;

/// Width of one give-up slot, in seconds.
pub const SLOT_S: u64 = 10;

/// The slot a place held until `held_until` is counted in: the end of the slot, in unix
/// seconds, rounded up.
pub fn slot_of(held_until: UnixMs) -> u64 {
    held_until
        .0
        .div_ceil(1000)
        .div_ceil(SLOT_S)
        .saturating_mul(SLOT_S)
}

/// Live places: `(slot, second) → places`, and their sum per second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Places {
    by_slot: BTreeMap<(u64, u64), u64>,
    /// Arrival second → places held: the sum of `by_slot` over slots.
    live: BTreeMap<u64, u64>,
    /// Keys whose count changed since the storage last took them ([`Places::take_changes`]).
    changed: BTreeSet<PlaceKey>,
}

/// One change to the counts, as an isolate reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlaceKey {
    /// Arrival second (the order key's bucket).
    pub second: u64,
    /// Give-up slot ([`slot_of`]).
    pub slot: u64,
}

impl Places {
    pub fn new() -> Places {
        Places::default()
    }

    /// The places as stored, at `now`. A stored place whose slot has passed is not taken in,
    /// and is marked changed, so the next write removes its row.
    pub fn restore(stored: impl IntoIterator<Item = (PlaceKey, u64)>, now: UnixMs) -> Places {
        let mut places = Places::new();
        for (key, n) in stored {
            if key.slot <= now.secs() {
                places.changed.insert(key);
            } else {
                places.apply(key, i64::try_from(n).unwrap_or(i64::MAX), now);
                places.changed.remove(&key);
            }
        }
        places
    }

    /// Applies `delta` places at `key`. A change to a slot already given up at `now` is
    /// ignored (those places left the counts already), and no count goes below zero: a
    /// repeated or late `−1` can never take away somebody else's place.
    pub fn apply(&mut self, key: PlaceKey, delta: i64, now: UnixMs) {
        if delta == 0 || key.slot <= now.secs() {
            return;
        }
        self.changed.insert(key);
        let slot = self.by_slot.entry((key.slot, key.second)).or_insert(0);
        let before = *slot;
        *slot = slot.saturating_add_signed(delta);
        let after = *slot;
        if after == 0 {
            self.by_slot.remove(&(key.slot, key.second));
        }
        if after > before {
            let n = self.live.entry(key.second).or_insert(0);
            *n = n.saturating_add(after - before);
        } else {
            self.take_live(key.second, before - after);
        }
    }

    /// Gives up every place whose slot has passed at `now`. Returns how many.
    pub fn expire(&mut self, now: UnixMs) -> u64 {
        let keep = self.by_slot.split_off(&(now.secs().saturating_add(1), 0));
        let gone = std::mem::replace(&mut self.by_slot, keep);
        let mut total = 0u64;
        for ((slot, second), n) in gone {
            self.changed.insert(PlaceKey { second, slot });
            self.take_live(second, n);
            total = total.saturating_add(n);
        }
        total
    }

    fn take_live(&mut self, second: u64, n: u64) {
        if let Some(held) = self.live.get_mut(&second) {
            *held = held.saturating_sub(n);
            if *held == 0 {
                self.live.remove(&second);
            }
        }
    }

    /// Places held per arrival second: what the cursor sweeps and positions count.
    pub fn live(&self) -> Histogram {
        let mut h = Histogram::new();
        for (second, n) in &self.live {
            h.add(*second, *n);
        }
        h
    }

    /// Places held per arrival second from `second` on, in order, without copying.
    pub fn live_from(&self, second: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.live.range(second..).map(|(s, n)| (*s, *n))
    }

    /// All places held.
    pub fn total(&self) -> u64 {
        self.live
            .values()
            .fold(0u64, |sum, n| sum.saturating_add(*n))
    }

    /// Every `(key, places)`, for storage.
    pub fn iter(&self) -> impl Iterator<Item = (PlaceKey, u64)> + '_ {
        self.by_slot.iter().map(|((slot, second), n)| {
            (
                PlaceKey {
                    second: *second,
                    slot: *slot,
                },
                *n,
            )
        })
    }

    /// Forgets places of seconds before `second` (long behind the cursor: nobody asks about
    /// them again).
    pub fn forget_before(&mut self, second: u64) {
        let changed = &mut self.changed;
        self.by_slot.retain(|&(slot, s), _| {
            let keep = s >= second;
            if !keep {
                changed.insert(PlaceKey { second: s, slot });
            }
            keep
        });
        self.live = self.live.split_off(&second);
    }

    pub fn is_empty(&self) -> bool {
        self.by_slot.is_empty()
    }

    /// Every key whose count changed since the last call, with its count now (`0`: given up
    /// or forgotten, so its stored row goes). The storage writes exactly these.
    pub fn take_changes(&mut self) -> Vec<(PlaceKey, u64)> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|key| {
                let n = self
                    .by_slot
                    .get(&(key.slot, key.second))
                    .copied()
                    .unwrap_or(0);
                (key, n)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixMs = UnixMs(1_700_000_000_000);

    #[test]
    fn places_count_while_held_and_leave_when_their_slot_passes() {
        let mut p = Places::new();
        let held = slot_of(NOW.plus_ms(300_000));
        p.apply(
            PlaceKey {
                second: 5,
                slot: held,
            },
            3,
            NOW,
        );
        assert_eq!(p.total(), 3);
        // One holder came back: moved to a later slot.
        let later = slot_of(NOW.plus_ms(450_000));
        p.apply(
            PlaceKey {
                second: 5,
                slot: held,
            },
            -1,
            NOW.plus_ms(150_000),
        );
        p.apply(
            PlaceKey {
                second: 5,
                slot: later,
            },
            1,
            NOW.plus_ms(150_000),
        );
        assert_eq!(p.total(), 3);
        assert_eq!(p.expire(UnixMs(held * 1000)), 2);
        assert_eq!(p.total(), 1);
        assert_eq!(p.expire(UnixMs(later * 1000)), 1);
        assert!(p.is_empty());
        assert_eq!(p.total(), 0);
    }

    #[test]
    fn a_repeated_or_late_minus_takes_no_one_elses_place() {
        let mut p = Places::new();
        let slot = slot_of(NOW.plus_ms(60_000));
        p.apply(PlaceKey { second: 9, slot }, 1, NOW);
        p.apply(PlaceKey { second: 9, slot }, -1, NOW);
        p.apply(PlaceKey { second: 9, slot }, -1, NOW);
        assert_eq!(p.total(), 0);
        // A change to a slot already given up is ignored.
        p.apply(PlaceKey { second: 9, slot }, 1, UnixMs(slot * 1000));
        assert!(p.is_empty());
    }

    #[test]
    fn storage_is_told_each_changed_key_with_its_count_now() {
        let key = |second, slot| PlaceKey { second, slot };
        let (early, late) = (slot_of(NOW.plus_ms(60_000)), slot_of(NOW.plus_ms(600_000)));
        let mut p = Places::restore(
            [
                (key(1, early), 2),
                (key(2, late), 1),
                (key(3, NOW.secs()), 4),
            ],
            NOW,
        );
        assert_eq!(p.total(), 3);
        assert_eq!(
            p.take_changes(),
            vec![(key(3, NOW.secs()), 0)],
            "a stored place already given up is deleted"
        );
        p.apply(key(2, late), 1, NOW);
        assert_eq!(p.expire(UnixMs(early * 1000)), 2);
        p.forget_before(3);
        assert_eq!(
            p.take_changes(),
            vec![(key(1, early), 0), (key(2, late), 0)]
        );
        assert!(p.take_changes().is_empty());
    }

    #[test]
    fn slots_round_up() {
        assert_eq!(slot_of(UnixMs(1_000)), 10);
        assert_eq!(slot_of(UnixMs(10_000)), 10);
        assert_eq!(slot_of(UnixMs(10_001)), 20);
    }
}
