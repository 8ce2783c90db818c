//! Counts on their way upstream, in numbered batches that are sent until acknowledged.
//!
//! Both senders in the hierarchy use it: an edge isolate sending to its location's aggregator,
//! and an aggregator sending to the room coordinator. Counts gather in `owed`; a sync cuts them
//! into a batch with the next number, and that batch — the same number, the same counts — is
//! sent until an answer acknowledges it. The receiver applies each number once per sender, so
//! a retry, a duplicate or an answer lost after the batch was applied counts nothing twice,
//! and a cancelled request loses nothing. At most one batch is in flight; one not answered
//! within the timeout is given up and goes again.

use std::collections::BTreeMap;

use crate::origin::OriginCounts;
use crate::places::PlaceKey;
use crate::sync::SyncReport;
use crate::time::UnixMs;

/// Most counts one batch carries (place changes, let-through and ended seconds together). A
/// batch is at most about 40 bytes of JSON an entry, so this keeps every batch near 400 KB,
/// well inside the 1 MiB a receiver accepts, however long its sender was cut off: the rest
/// stays owed and goes in the batches after.
pub const MAX_BATCH_ENTRIES: usize = 10_000;

/// The number a sender without a stored numbering starts from: the clock, in milliseconds. It
/// is higher than any number the same sender id can have used before (a numbering starts at 1
/// or at an earlier clock reading, and grows by one a sync, at most ten a second), so a
/// receiver that still remembers the id never takes the new batches for old copies.
pub fn first_seq(now: UnixMs) -> u64 {
    now.0.max(1)
}

/// Counts gathered and not yet cut into a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub places: BTreeMap<PlaceKey, i64>,
    pub let_through: BTreeMap<u64, u64>,
    pub ended: BTreeMap<u64, u64>,
    pub refused: u64,
    pub origin: OriginCounts,
    /// Tickets (short ids) whose sessions the origin ended: the room tells every edge.
    pub ended_ids: BTreeMap<u64, ()>,
    /// Tickets (short ids) whose pass moved to another network, and that network.
    pub moves: BTreeMap<u64, u64>,
    /// Place changes per client network and give-up slot: what the networks' budgets count.
    pub net_places: BTreeMap<(u64, u64), i64>,
    /// New places refused until their holder shows work, and places taken with work shown.
    pub work_asked: u64,
    pub work_shown: u64,
}

impl Counts {
    pub fn is_empty(&self) -> bool {
        self.places.values().all(|n| *n == 0)
            && self.let_through.is_empty()
            && self.ended.is_empty()
            && self.refused == 0
            && self.origin.is_empty()
            && self.ended_ids.is_empty()
            && self.moves.is_empty()
            && self.work_asked == 0
            && self.work_shown == 0
            && self.net_places.values().all(|n| *n == 0)
    }

    /// A place change of `network` in give-up slot `slot`.
    pub fn add_net_place(&mut self, network: u64, slot: u64, delta: i64) {
        let n = self.net_places.entry((network, slot)).or_insert(0);
        *n = n.saturating_add(delta);
    }

    pub fn add_place(&mut self, key: PlaceKey, delta: i64) {
        let n = self.places.entry(key).or_insert(0);
        *n = n.saturating_add(delta);
    }

    pub fn add_let_through(&mut self, second: u64, n: u64) {
        let count = self.let_through.entry(second).or_insert(0);
        *count = count.saturating_add(n);
    }

    pub fn add_ended(&mut self, second: u64, n: u64) {
        let count = self.ended.entry(second).or_insert(0);
        *count = count.saturating_add(n);
    }

    /// Adds every count of `report` (a batch received from below).
    pub fn add_report(&mut self, report: &SyncReport) {
        for &(second, slot, delta) in &report.places {
            self.add_place(PlaceKey { second, slot }, delta);
        }
        for &(second, n) in &report.let_through {
            self.add_let_through(second, n);
        }
        for &(second, n) in &report.ended {
            self.add_ended(second, n);
        }
        self.refused = self.refused.saturating_add(report.refused);
        self.origin.add(&report.origin);
        for id in &report.ended_ids {
            self.ended_ids.insert(*id, ());
        }
        for &(id, network) in &report.moves {
            self.moves.insert(id, network);
        }
        for &(network, slot, delta) in &report.net_places {
            self.add_net_place(network, slot, delta);
        }
        self.work_asked = self.work_asked.saturating_add(report.work_asked);
        self.work_shown = self.work_shown.saturating_add(report.work_shown);
    }

    /// Takes out the first [`MAX_BATCH_ENTRIES`] counts (places that netted to nothing do not
    /// count), oldest seconds first, with the refusals and the origin's counts; the rest stay.
    fn take_batch(&mut self) -> Counts {
        self.places.retain(|_, n| *n != 0);
        self.net_places.retain(|_, n| *n != 0);
        let entries = self.places.len()
            + self.let_through.len()
            + self.ended.len()
            + self.ended_ids.len()
            + self.moves.len()
            + self.net_places.len();
        if entries <= MAX_BATCH_ENTRIES {
            return std::mem::take(self);
        }
        let mut room = MAX_BATCH_ENTRIES;
        let mut batch = Counts {
            refused: std::mem::take(&mut self.refused),
            origin: std::mem::take(&mut self.origin),
            work_asked: std::mem::take(&mut self.work_asked),
            work_shown: std::mem::take(&mut self.work_shown),
            ..Counts::default()
        };
        batch.let_through = take_first(&mut self.let_through, &mut room);
        batch.ended = take_first(&mut self.ended, &mut room);
        batch.ended_ids = take_first(&mut self.ended_ids, &mut room);
        batch.moves = take_first(&mut self.moves, &mut room);
        batch.places = take_first(&mut self.places, &mut room);
        batch.net_places = take_first(&mut self.net_places, &mut room);
        batch
    }

    /// These counts as a batch (places that netted to nothing are left out).
    fn into_report(self, sender: &str, seq: u64, waiting: u64, isolates: u64) -> SyncReport {
        SyncReport {
            isolate: sender.to_owned(),
            seq,
            places: self
                .places
                .into_iter()
                .filter(|(_, n)| *n != 0)
                .map(|(k, n)| (k.second, k.slot, n))
                .collect(),
            let_through: self.let_through.into_iter().collect(),
            ended: self.ended.into_iter().collect(),
            refused: self.refused,
            waiting,
            isolates,
            origin: self.origin,
            ended_ids: self.ended_ids.into_keys().collect(),
            moves: self.moves.into_iter().collect(),
            net_places: self
                .net_places
                .into_iter()
                .filter(|(_, n)| *n != 0)
                .map(|((network, slot), n)| (network, slot, n))
                .collect(),
            work_asked: self.work_asked,
            work_shown: self.work_shown,
            ..SyncReport::default()
        }
    }
}

/// The first `*room` entries of `map` (in key order), taken out of it; `*room` less what was
/// taken.
fn take_first<K: Ord + Copy, V>(map: &mut BTreeMap<K, V>, room: &mut usize) -> BTreeMap<K, V> {
    let split = map.keys().nth(*room).copied();
    let taken = match split {
        Some(key) => {
            let rest = map.split_off(&key);
            std::mem::replace(map, rest)
        }
        None => std::mem::take(map),
    };
    *room = room.saturating_sub(taken.len());
    taken
}

/// One sender's outbox. See the module documentation.
#[derive(Clone, Debug)]
pub struct Outbox {
    pub owed: Counts,
    pending: Option<SyncReport>,
    next_seq: u64,
    in_flight_since: Option<UnixMs>,
    last_attempt: Option<UnixMs>,
    failing: bool,
    /// The next batch goes early ([`Outbox::hurry`]), and whether the last one did.
    hurried: bool,
    last_early: bool,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::restore(Counts::default(), None, 1)
    }
}

impl Outbox {
    /// An outbox as stored: counts owed, the batch sent but not acknowledged, and the number
    /// the next batch takes. A restored outbox sends at once.
    pub fn restore(owed: Counts, pending: Option<SyncReport>, next_seq: u64) -> Outbox {
        let next_seq = pending
            .as_ref()
            .map_or(next_seq, |p| next_seq.max(p.seq.saturating_add(1)));
        Outbox {
            owed,
            pending,
            next_seq: next_seq.max(1),
            in_flight_since: None,
            last_attempt: None,
            failing: false,
            hurried: false,
            last_early: false,
        }
    }

    /// The batch sent and not yet acknowledged, if any.
    pub fn pending(&self) -> Option<&SyncReport> {
        self.pending.as_ref()
    }

    /// The number the next new batch takes.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Nothing owed and nothing waiting for an acknowledgement.
    pub fn is_empty(&self) -> bool {
        self.pending.is_none() && self.owed.is_empty()
    }

    /// When [`Outbox::begin`] will next cut or resend a batch, if anything waits to go: a
    /// second after the last attempt, or when the one in flight times out. `None` when
    /// nothing is owed or pending.
    pub fn next_due(&self, interval_ms: u64, timeout_ms: u64) -> Option<UnixMs> {
        if self.is_empty() {
            return None;
        }
        let after_last = self.last_attempt.map(|t| t.plus_ms(interval_ms));
        let timed_out = self.in_flight_since.map(|t| t.plus_ms(timeout_ms));
        Some(after_last.max(timed_out).unwrap_or_default())
    }

    /// Makes the next batch due `after_ms` from `now` rather than an interval after the last,
    /// and marks it early (`SyncReport::early`): a sender whose share was just cut says so at
    /// once, since the granter holds the larger share in force until it hears. Once per
    /// interval: not after an early batch, nor while one is on its way.
    pub fn hurry(&mut self, now: UnixMs, interval_ms: u64, after_ms: u64) {
        if self.last_early || self.pending.is_some() || after_ms >= interval_ms {
            return;
        }
        let at = now.plus_ms(after_ms).minus_ms(interval_ms);
        if self.last_attempt.is_some_and(|t| t > at) {
            self.last_attempt = Some(at);
            self.hurried = true;
        }
    }

    /// Place changes not yet acknowledged upstream: the pending batch's, then those owed.
    pub fn unacked_places(&self) -> impl Iterator<Item = (u64, i64)> + '_ {
        let pending = self
            .pending
            .iter()
            .flat_map(|p| p.places.iter().map(|&(second, _, n)| (second, n)));
        let owed = self.owed.places.iter().map(|(k, n)| (k.second, *n));
        pending.chain(owed)
    }

    /// Are syncs failing at `now`: the last one failed, or one has been in flight for longer
    /// than `timeout_ms`?
    pub fn failing(&self, now: UnixMs, timeout_ms: u64) -> bool {
        self.failing
            || self
                .in_flight_since
                .is_some_and(|t| now.since(t) >= timeout_ms)
    }

    /// The batch to send, if a sync is due at `now` (the last attempt at least `interval_ms`
    /// ago) and none is in flight — one in flight for longer than `timeout_ms` is given up and
    /// goes again under the same number. `figures` gives `(waiting, isolates)` for the sender
    /// now; it is asked only when a new batch is cut, since counting them can cost a walk.
    pub fn begin(
        &mut self,
        sender: &str,
        now: UnixMs,
        interval_ms: u64,
        timeout_ms: u64,
        figures: impl FnOnce() -> (u64, u64),
    ) -> Option<SyncReport> {
        if let Some(since) = self.in_flight_since {
            if now.since(since) < timeout_ms && now >= since {
                return None;
            }
            self.failing = true;
        }
        let due = self
            .last_attempt
            .is_none_or(|t| now.since(t) >= interval_ms || now < t);
        if !due {
            return None;
        }
        if self.pending.is_none() {
            let seq = self.next_seq;
            self.next_seq = self.next_seq.saturating_add(1);
            let counts = self.owed.take_batch();
            let (waiting, isolates) = figures();
            let mut report = counts.into_report(sender, seq, waiting, isolates);
            report.early = self.hurried;
            self.last_early = self.hurried;
            self.hurried = false;
            self.pending = Some(report);
        }
        self.in_flight_since = Some(now);
        self.last_attempt = Some(now);
        self.pending.clone()
    }

    /// The answer to batch `seq`: `Some(acked)`, the last number the receiver has applied, or
    /// `None` for a failure or a timeout. An answer to a batch given up earlier still counts if
    /// it acknowledges the pending one.
    pub fn finish(&mut self, seq: u64, acked: Option<u64>) {
        let current = self.pending.as_ref().is_none_or(|p| p.seq == seq);
        if current {
            self.in_flight_since = None;
        }
        match acked {
            None => {
                if current {
                    self.failing = true;
                }
            }
            Some(acked) => {
                if self.pending.as_ref().is_some_and(|p| acked >= p.seq) {
                    self.pending = None;
                }
                self.failing = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMs = UnixMs(1_700_000_000_000);

    #[test]
    fn a_cut_is_said_early_once_an_interval_and_never_over_a_batch_on_its_way() {
        let mut o = Outbox::default();
        let begin = |o: &mut Outbox, ms: u64| o.begin("a", T0.plus_ms(ms), 1_000, 3_000, || (0, 0));
        let first = begin(&mut o, 0).unwrap();
        assert!(!first.early);
        // A cut heard while the batch is on its way changes nothing: its answer comes first.
        o.hurry(T0.plus_ms(10), 1_000, 150);
        o.finish(1, Some(1));
        assert!(begin(&mut o, 200).is_none(), "not hurried");
        // Heard with nothing on its way: the next batch goes 150 ms later, marked early.
        o.hurry(T0.plus_ms(300), 1_000, 150);
        assert!(begin(&mut o, 449).is_none());
        let early = begin(&mut o, 450).unwrap();
        assert!(early.early && early.seq == 2);
        o.finish(2, Some(2));
        // Another cut at once is said at the regular time: one early batch an interval.
        o.hurry(T0.plus_ms(500), 1_000, 150);
        assert!(begin(&mut o, 1_449).is_none());
        let regular = begin(&mut o, 1_450).unwrap();
        assert!(!regular.early);
        o.finish(3, Some(3));
        // After a regular batch, a cut is said early again.
        o.hurry(T0.plus_ms(1_500), 1_000, 150);
        assert!(begin(&mut o, 1_650).is_some_and(|b| b.early));
    }

    #[test]
    fn a_batch_goes_again_under_its_number_until_acknowledged() {
        let mut o = Outbox::default();
        o.owed.add_let_through(T0.secs(), 2);
        let first = o.begin("a", T0, 1_000, 3_000, || (0, 0)).unwrap();
        assert_eq!(first.seq, 1);
        // In flight: nothing more is sent until it answers or times out.
        assert!(o
            .begin("a", T0.plus_ms(1_500), 1_000, 3_000, || (0, 0))
            .is_none());
        o.owed.add_let_through(T0.secs() + 1, 1);
        o.finish(1, None);
        assert!(o.failing(T0.plus_ms(1_600), 3_000));
        let again = o
            .begin("a", T0.plus_ms(2_000), 1_000, 3_000, || (0, 0))
            .unwrap();
        assert_eq!(again, first, "the same batch, the same number");
        o.finish(1, Some(1));
        assert!(!o.failing(T0.plus_ms(2_100), 3_000));
        let next = o
            .begin("a", T0.plus_ms(3_000), 1_000, 3_000, || (0, 0))
            .unwrap();
        assert_eq!((next.seq, next.let_through), (2, vec![(T0.secs() + 1, 1)]));
    }

    #[test]
    fn a_restored_outbox_never_reuses_a_number() {
        let pending = SyncReport {
            seq: 7,
            ..SyncReport::default()
        };
        let mut o = Outbox::restore(Counts::default(), Some(pending), 3);
        assert_eq!(o.begin("a", T0, 1_000, 3_000, || (0, 0)).unwrap().seq, 7);
        o.finish(7, Some(7));
        assert_eq!(
            o.begin("a", T0.plus_ms(1_000), 1_000, 3_000, || (0, 0))
                .unwrap()
                .seq,
            8
        );
    }

    #[test]
    fn a_sender_cut_off_for_hours_sends_what_it_owes_in_batches_a_receiver_accepts() {
        // Three hours of places in every second, each renewed to a second slot, and a
        // let-through a second: about 33,000 counts owed when the link comes back.
        let mut o = Outbox::default();
        let hours = 3 * 3_600;
        for s in 0..hours {
            let second = T0.secs() + s;
            o.owed.add_place(
                PlaceKey {
                    second,
                    slot: second + 300,
                },
                2,
            );
            o.owed.add_place(
                PlaceKey {
                    second,
                    slot: second + 600,
                },
                1,
            );
            o.owed.add_let_through(second, 1);
        }
        let (mut places, mut through, mut batches) = (0i64, 0u64, 0);
        let mut now = T0.plus_ms(hours * 1_000);
        // An outbox always sends (its batch is the sender's sync too): until nothing is owed.
        while !o.is_empty() {
            let Some(batch) = o.begin("a", now, 1_000, 3_000, || (0, 0)) else {
                panic!("a second after the last batch, the next one goes")
            };
            let bytes = serde_json::to_vec(&batch).unwrap_or_default().len();
            assert!(bytes < 1 << 20, "batch {} is {bytes} bytes", batch.seq);
            let entries = batch.places.len() + batch.let_through.len() + batch.ended.len();
            assert!(entries <= MAX_BATCH_ENTRIES);
            places += batch.places.iter().map(|p| p.2).sum::<i64>();
            through += batch.let_through.iter().map(|t| t.1).sum::<u64>();
            o.finish(batch.seq, Some(batch.seq));
            batches += 1;
            now = now.plus_ms(1_000);
        }
        assert_eq!((places, through), (3 * 10_800, 10_800), "nothing lost");
        assert_eq!(batches, 4);
        assert!(o.is_empty());
    }

    #[test]
    fn counts_waiting_to_go_say_when_they_will() {
        let mut o = Outbox::default();
        assert_eq!(o.next_due(1_000, 3_000), None);
        o.owed.add_let_through(T0.secs(), 1);
        // Never sent: at once.
        assert_eq!(o.next_due(1_000, 3_000), Some(UnixMs(0)));
        let batch = o.begin("a", T0, 1_000, 3_000, || (0, 0)).unwrap();
        // In flight: when it times out, or a second after it left if later.
        assert_eq!(o.next_due(1_000, 3_000), Some(T0.plus_ms(3_000)));
        o.finish(batch.seq, Some(batch.seq));
        assert_eq!(o.next_due(1_000, 3_000), None);
        // Counted while the batch was out: a second after it left.
        o.owed.add_let_through(T0.secs(), 1);
        assert_eq!(o.next_due(1_000, 3_000), Some(T0.plus_ms(1_000)));
    }
}
