//! The room coordinator's logic, without its storage: applying isolates' counts once each,
//! giving up lapsed places, advancing the release cursor, sharing the let-through rate among
//! isolates, and answering with a snapshot of bounded size.
//!
//! The Durable Object in the worker owns one [`Room`] per room and persists what each call
//! changes; the simulator drives the same code. Everything takes `now`.
//!
//! ## Fail closed
//! Stored state is written as `{"v": 1, "data": …}` ([`encode`]). A record that cannot be read
//! back ([`decode`]: unknown version, a renamed field, corrupt text) never falls back to
//! defaults that would open the room: [`Room::restore`] keeps the room paused, places the
//! cursor so that nobody still waiting is admitted by the loss, and records the problem for the
//! operator, who clears it by resuming the room.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::audit::AuditEntry;
use crate::autopilot::{Pilot, PilotReport};
use crate::budget::NetPlaces;
use crate::config::{ConfigError, ConfigPatch, RoomConfig};
use crate::draw::{DrawView, Seed};
use crate::history::Minute;
use crate::ledger::Ledger;
use crate::network::NetTag;
use crate::order::{Cursor, OrderKey};
use crate::origin::{OriginReport, OriginWindow};
use crate::places::{PlaceKey, Places};
use crate::release::{Demand, ReleaseState};
use crate::revocation::{Revocations, TicketRef};
use crate::summary::Summary;
use crate::sync::{
    Notice, NoticeKind, Notices, RoomSnapshot, Seen, Senders, SyncReport, LOCATION_PREFIX, PPM,
};
use crate::time::UnixMs;

/// The version of every stored record.
pub const STORED_VERSION: u32 = 1;
/// The most of the measured no-show share the slots are stretched by, per mille
/// ([`Room::slots_left`]).
pub const NO_SHOWS_COUNTED_MAX: u32 = 500;
/// Arrival seconds this far behind the cursor are forgotten, in seconds.
pub const KEEP_BEHIND_CURSOR_S: u64 = 3_600;

/// A stored record with its format version.
#[derive(Serialize, Deserialize)]
struct Stored<T> {
    v: u32,
    data: T,
}

/// Stored text for `value`, versioned.
pub fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(&Stored {
        v: STORED_VERSION,
        data: value,
    })
    .unwrap_or_default()
}

/// Reads stored text back, or says why it cannot. Text written before records carried a
/// version is read as version 1 if it parses as the record itself.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    // The record is read from its own text, not through a `serde_json::Value`: reading each
    // record type both ways was about 25 KB of the Worker's wasm.
    #[derive(Deserialize)]
    struct Versioned<'a> {
        v: u32,
        #[serde(borrow)]
        data: &'a serde_json::value::RawValue,
    }
    match serde_json::from_str::<Versioned>(text) {
        Ok(Versioned {
            v: STORED_VERSION,
            data,
        }) => {
            serde_json::from_str(data.get()).map_err(|e| format!("version {STORED_VERSION}: {e}"))
        }
        Ok(Versioned { v, .. }) => Err(format!("unknown stored version {v}")),
        Err(_) => serde_json::from_str(text).map_err(|e| format!("unversioned record: {e}")),
    }
}

/// Running totals for the operator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Places taken (tickets whose holders came back).
    pub seated: u64,
    pub let_through: u64,
    pub ended: u64,
    /// Places given up after the grace period.
    pub lapsed: u64,
    /// Batches that arrived again and were not applied twice.
    pub duplicate_syncs: u64,
    /// New places refused until their holder showed work (a network over its budget, or work
    /// asked of everyone), and places taken with work shown.
    #[serde(default)]
    pub work_asked: u64,
    #[serde(default)]
    pub work_shown: u64,
}

/// One room, in memory. See the module documentation.
#[derive(Clone, Debug)]
pub struct Room {
    pub config: RoomConfig,
    pub release: ReleaseState,
    pub places: Places,
    pub ledger: Ledger,
    /// The senders it hears from: the locations' aggregators (or, alone, an isolate).
    pub senders: Senders,
    pub totals: Totals,
    /// Set when stored state could not be read: the room stays paused until the operator
    /// resumes it.
    pub problem: Option<String>,
    pub settle_ms: u64,
    /// The minute in progress, for the per-minute history.
    pub minute: Minute,
    /// The origin's last minute as the edges saw it (kept in memory only).
    pub origin: OriginWindow,
    /// Tickets the operator withdrew; every snapshot carries them.
    pub revocations: Revocations,
    /// The room's identity, drawn when it is first stored (`0` until then) and sent with every
    /// snapshot. A sender that names another ([`SyncReport::epoch`]) knew this room before its
    /// records were lost: see [`Room::sync`].
    pub epoch: u64,
    /// What every edge is told beyond the cursor: sessions ended, passes moved, networks that
    /// hold their budget (kept in memory; see `sync::Notices`).
    pub notices: Notices,
    /// Places held per client network (kept in memory; see `budget`).
    pub net_places: NetPlaces,
    /// New places that had to show work since the room started, and networks put up as full.
    pub work_demanded: u64,
    /// The seed of the pre-queue draw (`draw`), drawn by the coordinator when a pre-queue
    /// begins ([`Room::draw_due`]).
    pub seed: Option<Seed>,
    /// The autopilot's state (kept in memory: a restart begins a new control window).
    pub pilot: Pilot,
    /// Changes the room made to its own config (the autopilot's), for the audit log: the
    /// coordinator stores them with the config and takes them ([`Room::take_audit`]).
    audit_due: Vec<AuditEntry>,
    /// The room changed its own config since the storage last took it (the autopilot, or the
    /// origin's word on its slots): [`Room::take_config_moved`].
    config_moved: bool,
    /// When the latest word on the slots was said (the operator's change, or the edge's clock
    /// when the origin's `Gate-Slots` was heard): an older one arriving later changes nothing.
    slots_heard_at: UnixMs,
}

/// `GET /admin/state`'s view of the client networks: how many hold places, how many hold their
/// budget, the most places any of them holds (counts and address families only, never a tag
/// or an address), and the work asked and shown.
#[derive(Clone, Debug, Serialize)]
pub struct NetworksReport {
    pub holding: usize,
    pub full: usize,
    pub top: Vec<NetworkCount>,
    pub work_asked_total: u64,
    pub work_shown_total: u64,
    pub budget_v6: u32,
    pub budget_v4: u32,
    pub work_for_all: bool,
}

/// One network's places held, and whether it is an IPv4 address.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkCount {
    pub places: u32,
    pub ipv4: bool,
}

/// What a sync changed, for the storage to persist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synced {
    pub snapshot: RoomSnapshot,
    /// False for a batch applied before.
    pub applied: bool,
}

/// Stored records as read back, each possibly unreadable.
#[derive(Debug, Default)]
pub struct Restored {
    pub config: Option<Result<RoomConfig, String>>,
    pub release: Option<Result<ReleaseState, String>>,
    pub ledger: Option<Result<Ledger, String>>,
    pub totals: Option<Result<Totals, String>>,
    pub problem: Option<String>,
    pub places: Vec<(PlaceKey, u64)>,
    pub senders: Vec<(String, Seen)>,
    /// The history's row for the minute in progress, if one was written.
    pub minute: Option<Minute>,
    pub revocations: Option<Result<Revocations, String>>,
    /// The room's identity, if one was stored.
    pub epoch: Option<u64>,
    /// The notices that outlive a restart (sessions ended, passes moved), as stored.
    pub notices: Vec<Notice>,
    /// The pre-queue draw's seed, if one was stored.
    pub seed: Option<Result<Seed, String>>,
}

impl Room {
    /// A room never seen before: default config, the cursor at `now − settle`.
    pub fn fresh(now: UnixMs, settle_ms: u64) -> Room {
        Room {
            config: RoomConfig::default(),
            release: ReleaseState::start(now, settle_ms),
            places: Places::new(),
            ledger: Ledger::default(),
            senders: Senders::default(),
            totals: Totals::default(),
            problem: None,
            settle_ms,
            minute: Minute::at(now),
            revocations: Revocations::default(),
            origin: OriginWindow::default(),
            epoch: 0,
            notices: Notices::default(),
            net_places: NetPlaces::default(),
            work_demanded: 0,
            seed: None,
            pilot: Pilot::default(),
            audit_due: Vec::new(),
            config_moved: false,
            slots_heard_at: UnixMs(0),
        }
    }

    /// A room from its stored records. Any record present but unreadable keeps the room
    /// paused and is reported; a missing record is a fresh one.
    pub fn restore(stored: Restored, now: UnixMs, settle_ms: u64) -> Room {
        let mut room = Room::fresh(now, settle_ms);
        let mut problems: Vec<String> = stored.problem.into_iter().collect();
        room.places = Places::restore(stored.places, now);
        room.senders = Senders::restore(stored.senders);
        match stored.config {
            Some(Ok(config)) => room.config = config,
            Some(Err(e)) => problems.push(format!("config: {e}")),
            // A room with an identity always stored its config with it: one that has the first
            // and not the second lost a record, and is not to reopen on the defaults.
            None if stored.epoch.is_some() => problems.push("config: the record is missing".into()),
            None => {}
        }
        room.epoch = stored.epoch.unwrap_or(0);
        match stored.seed {
            Some(Ok(seed)) => room.seed = Some(seed),
            // A seed lost is one drawn again: the published commitment then changes, which
            // anyone checking it sees, and the room says why.
            Some(Err(e)) => problems.push(format!("draw seed: {e}")),
            None => {}
        }
        room.notices =
            Notices::restore(stored.notices.into_iter().filter(|n| n.until > now), now.0);
        match stored.release {
            Some(Ok(release)) => room.release = release,
            Some(Err(e)) => {
                problems.push(format!("release: {e}"));
                // Nobody still holding a place may be admitted by the loss: the cursor goes
                // back to the earliest second anyone waits in.
                let earliest = room.places.live_from(0).next().map(|(s, _)| s);
                room.release = ReleaseState::start(now, settle_ms);
                if let Some(second) = earliest {
                    room.release.cursor = room.release.cursor.min(Cursor::at_bucket(second));
                }
            }
            None => {}
        }
        match stored.ledger {
            Some(Ok(ledger)) => room.ledger = ledger,
            Some(Err(e)) => problems.push(format!("ledger: {e}")),
            None => {}
        }
        match stored.totals {
            Some(Ok(totals)) => room.totals = totals,
            Some(Err(e)) => problems.push(format!("totals: {e}")),
            None => {}
        }
        match stored.revocations {
            Some(Ok(revocations)) => room.revocations = revocations,
            // Forgetting revocations would let withdrawn passes back in, and a paused room does
            // not stop a pass: every pass issued until now is withdrawn instead (fail closed).
            Some(Err(e)) => {
                problems.push(format!(
                    "revocations: {e}; every pass issued until now withdrawn"
                ));
                room.revocations.revoke_before(now);
            }
            None => {}
        }
        if let Some(minute) = stored.minute {
            room.minute = minute.roll(now);
        }
        if !problems.is_empty() {
            room.config.paused = true;
            room.problem = Some(problems.join("; "));
        }
        room
    }

    /// Applies an isolate's batch (once per batch number), advances the room to `now`, and
    /// answers with the room as that isolate should see it.
    ///
    /// A sender that names an identity other than this room's knew the room before its records
    /// were lost (deleted, renamed, migrated away): a room that existed does not reopen on the
    /// defaults. It is paused until the operator resumes it, says why, keeps the cursor no
    /// further on than the sender knew it (so nobody still waiting is let through by the loss),
    /// and takes that identity back, so the room's other senders do not say it again.
    pub fn sync(&mut self, report: &SyncReport, now: UnixMs) -> Synced {
        if report.epoch != 0 && self.epoch != 0 && report.epoch != self.epoch {
            self.config.paused = true;
            self.problem = Some(format!(
                "the room's stored state was lost: sender {} knew it (identity {:x}) and \
                 nothing of it is stored here; resume when the room is as it should be",
                report.isolate, report.epoch
            ));
            if let Some(known) = report.known_cursor {
                self.release = ReleaseState::start(now, self.settle_ms);
                self.release.cursor = self.release.cursor.min(known);
            }
            self.epoch = report.epoch;
        }
        let applied = self.senders.receive(report, now);
        if applied {
            // New places per second are the batch's net change there: a renewal moves a place
            // between slots of its second (−1, +1) and is no arrival, so it is neither charged
            // as a late one nor counted as seated.
            let mut net: BTreeMap<u64, i64> = BTreeMap::new();
            for &(second, slot, delta) in &report.places {
                let key = PlaceKey { second, slot };
                let n = net.entry(second).or_insert(0);
                *n = n.saturating_add(delta);
                self.places.apply(key, delta, now);
            }
            for (second, n) in net.into_iter().filter(|(_, n)| *n > 0) {
                let released = self.release.charge_late(second, n.unsigned_abs());
                self.ledger.record_released(now, released);
                self.totals.seated = self.totals.seated.saturating_add(n.unsigned_abs());
                self.minute.count(now, n.unsigned_abs(), 0, released);
            }
            for &(second, n) in &report.let_through {
                self.ledger.record_let_through(second, n);
                self.totals.let_through = self.totals.let_through.saturating_add(n);
                self.minute.count(now, 0, n, 0);
            }
            for &(second, n) in &report.ended {
                self.ledger.record_ended(second, n);
                self.totals.ended = self.totals.ended.saturating_add(n);
            }
            self.origin.add(&report.origin, now);
            self.pilot
                .observe(&report.origin, report.let_through_total(), now);
            if let Some((at, remaining)) = report.origin.slots {
                if at > self.slots_heard_at {
                    self.slots_heard_at = at;
                    if self.config.slots_remaining != Some(remaining) {
                        self.config.slots_remaining = Some(remaining);
                        self.config_moved = true;
                    }
                }
            }
            self.totals.work_asked = self.totals.work_asked.saturating_add(report.work_asked);
            self.totals.work_shown = self.totals.work_shown.saturating_add(report.work_shown);
            self.take_notices(report, now);
        } else {
            self.totals.duplicate_syncs = self.totals.duplicate_syncs.saturating_add(1);
        }
        self.advance(now);
        let acked = self.senders.acked(&report.isolate);
        self.senders.grant(&report.isolate, PPM, now);
        let mut snapshot = self.snapshot(&report.isolate, acked, now);
        snapshot.notices = self.notices.since(report.notices_at);
        snapshot.lease_from = report.sent_at;
        snapshot.lease_ms = crate::sync::LEASE_MS;
        snapshot.granted_at = now;
        Synced { snapshot, applied }
    }

    /// What a batch tells every edge: sessions ended (refused everywhere until every pass of
    /// theirs has died, even one renewed at an edge that had not heard yet: a session and two
    /// settle times), passes moved (until the longest session's end), and the places its
    /// networks took or gave up (a network holding its budget is put up as full, one that no
    /// longer does is taken down).
    fn take_notices(&mut self, report: &SyncReport, now: UnixMs) {
        // As long as anything of the session could still be presented: a pass copied before
        // the end (it expires a session after its issue), and the ticket it was let through
        // with, which mints none past its first let-through plus `session_max_s`.
        let ended_until = now
            .plus_ms(self.config.session_max_ms())
            .plus_ms(self.settle_ms.saturating_mul(2));
        for id in &report.ended_ids {
            self.notices.set(Notice {
                kind: NoticeKind::Ended,
                key: *id,
                value: 0,
                until: ended_until,
            });
        }
        for &(id, network) in &report.moves {
            self.notices.set(Notice {
                kind: NoticeKind::Moved,
                key: id,
                value: network,
                until: now.plus_ms(self.config.session_max_ms()),
            });
        }
        let mut touched: Vec<NetTag> = Vec::new();
        for &(network, slot, delta) in &report.net_places {
            self.net_places.apply(NetTag(network), slot, delta, now);
            touched.push(NetTag(network));
        }
        self.judge_networks(touched, now);
    }

    /// Puts up as full, or takes down, each of `networks` by the places it holds at `now`.
    fn judge_networks(&mut self, mut networks: Vec<NetTag>, now: UnixMs) {
        networks.sort_unstable();
        networks.dedup();
        for network in networks {
            let held = self.net_places.held(network, now);
            if held >= self.config.budget(network) {
                if self.notices.get(NoticeKind::Full, network.0).is_none() {
                    self.work_demanded = self.work_demanded.saturating_add(1);
                }
                self.notices.set(Notice {
                    kind: NoticeKind::Full,
                    key: network.0,
                    value: u64::from(held),
                    until: UnixMs(u64::MAX),
                });
            } else {
                self.notices.drop(NoticeKind::Full, network.0);
            }
        }
    }

    /// Gives up lapsed places and moves the cursor as far as the policy allows at `now`.
    pub fn advance(&mut self, now: UnixMs) {
        self.steer(now);
        let gave_up = self.net_places.expire(now);
        self.judge_networks(gave_up, now);
        self.notices.expire(now);
        let lapsed = self.places.expire(now);
        self.totals.lapsed = self.totals.lapsed.saturating_add(lapsed);
        let live = self.places.live();
        let mut demand = self.demand(now);
        demand.slots_left = self.slots_left_for(demand, now);
        let step = self
            .release
            .advance(&self.config, &live, demand, now, self.settle_ms);
        self.ledger.record_released(now, step.released);
        self.minute.count(now, 0, 0, step.released);
        self.release = step.state;
        let waiting = live.between(self.release.cursor, OrderKey(u64::MAX));
        self.minute
            .observe(now, demand.active, waiting, &self.config);
        self.ledger
            .prune(now, u64::from(self.config.session_duration_s));
        let keep_from = self
            .release
            .cursor
            .bucket()
            .saturating_sub(KEEP_BEHIND_CURSOR_S);
        self.places.forget_before(keep_from);
        self.senders.forget(now);
    }

    /// Applies an operator's change at `now`, after settling the old policy up to `now` so a
    /// resume does not pay out time spent paused. Resuming a room clears a storage problem. A
    /// change the current config refuses (a burst above a second of the rate) changes nothing.
    /// (The audit entries for it are `audit::config_changes` of the config before and after.)
    pub fn configure(
        &mut self,
        patch: &ConfigPatch,
        now: UnixMs,
    ) -> Result<&RoomConfig, ConfigError> {
        let next = self.config.try_apply(patch, now)?;
        self.advance(now);
        let before = std::mem::replace(&mut self.config, next);
        self.release.reconfigured(&before, &self.config, now);
        if before.autopilot != self.config.autopilot {
            self.pilot.restart(now);
        }
        if patch.slots_remaining.is_some() {
            self.slots_heard_at = now;
        }
        if (before.budget_v4, before.budget_v6) != (self.config.budget_v4, self.config.budget_v6) {
            let all = self.net_places.networks();
            self.judge_networks(all, now);
        }
        if patch.paused == Some(false) {
            self.problem = None;
        }
        // The new config shows in this minute's row at once (a pause, a new rate).
        self.minute.observe(now, 0, 0, &self.config);
        Ok(&self.config)
    }

    /// Lets the autopilot, when it is on, move the rate at `now` (see `autopilot`): the change
    /// takes effect as an operator's would, and waits for the audit log ([`Room::take_audit`]).
    fn steer(&mut self, now: UnixMs) {
        let Some(terms) = self.config.autopilot else {
            return;
        };
        if self.config.frozen(now) {
            return;
        }
        let Some(change) = self
            .pilot
            .steer(&terms, self.config.new_users_per_minute, now)
        else {
            return;
        };
        let before = self.config.clone();
        self.config.new_users_per_minute = change.to;
        self.release.reconfigured(&before, &self.config, now);
        self.minute.observe(now, 0, 0, &self.config);
        self.config_moved = true;
        self.audit_due.push(AuditEntry {
            at: now,
            who: crate::audit::AUTOPILOT.to_owned(),
            what: "new_users_per_minute".into(),
            from: change.from.into(),
            to: change.to.into(),
            why: Some(change.why),
        });
    }

    /// The changes the room made to its own config since last asked, for the audit log (the
    /// config itself is to be stored with them).
    pub fn take_audit(&mut self) -> Vec<AuditEntry> {
        std::mem::take(&mut self.audit_due)
    }

    /// Did the room change its own config since last asked (the autopilot's rate, the origin's
    /// slots)? The config is then to be stored.
    pub fn take_config_moved(&mut self) -> bool {
        std::mem::take(&mut self.config_moved)
    }

    /// How many citizens beyond the cursor the slots can still serve at `now`, when the room
    /// knows its slots: the slots remaining, grown by the measured share of those released who
    /// never come (`Ledger::no_show_per_mille`), less the passes alive (each may still book)
    /// and those released and still to come. `None` when the slots are not known.
    pub fn slots_left(&self, now: UnixMs) -> Option<u64> {
        // Every snapshot asks: the ledger's walks only when there are slots to count against.
        self.config.slots_remaining?;
        self.slots_left_for(self.demand(now), now)
    }

    /// Passes alive, released citizens still to come, and those waiting at the limiters, at
    /// `now` (the slots left are for the caller to add).
    fn demand(&self, now: UnixMs) -> Demand {
        Demand {
            active: self
                .ledger
                .active(now, u64::from(self.config.session_duration_s)),
            unclaimed: self.ledger.unclaimed(now),
            waiting: self.senders.waiting(now),
            slots_left: None,
        }
    }

    fn slots_left_for(&self, demand: Demand, now: UnixMs) -> Option<u64> {
        let remaining = self.config.slots_remaining?;
        // A measured share above a half is mostly citizens slow to come, not gone: the slots
        // are not stretched further than that.
        let no_shows = u64::from(self.ledger.no_show_per_mille(now).min(NO_SHOWS_COUNTED_MAX));
        let servable = remaining.saturating_mul(1_000 + no_shows) / 1_000;
        Some(
            servable
                .saturating_sub(demand.active)
                .saturating_sub(demand.pending()),
        )
    }

    /// Withdraws one ticket by its ref; the entry for the audit log, or `None` if it was
    /// revoked already.
    pub fn revoke(&mut self, r: TicketRef, who: &str, now: UnixMs) -> Option<AuditEntry> {
        self.revocations.revoke(r).then(|| AuditEntry {
            at: now,
            who: who.to_owned(),
            what: "revoke".into(),
            from: serde_json::Value::Null,
            to: serde_json::json!({ "ticket": r.to_string() }),
            why: None,
        })
    }

    /// Withdraws every ticket issued before `before`; the entry for the audit log.
    pub fn revoke_before(&mut self, before: UnixMs, who: &str, now: UnixMs) -> AuditEntry {
        let from = self.revocations.before;
        self.revocations.revoke_before(before);
        AuditEntry {
            at: now,
            who: who.to_owned(),
            what: "revoke".into(),
            from: serde_json::json!({ "before": from }),
            to: serde_json::json!({ "before": self.revocations.before }),
            why: None,
        }
    }

    /// The share of the rate, in millionths, for the sender `isolate` (an aggregator, or a lone
    /// isolate): see [`Senders::fair_share_ppm`].
    pub fn share_ppm(&self, isolate: &str, now: UnixMs) -> u32 {
        self.senders.fair_share_ppm(isolate, PPM, now)
    }

    /// The room as `isolate` should see it: config, cursor, a bounded summary of the places.
    pub fn snapshot(&self, isolate: &str, acked: u64, now: UnixMs) -> RoomSnapshot {
        let from = self.release.cursor.bucket();
        RoomSnapshot {
            config: self.config.clone(),
            cursor: self.release.cursor,
            arrivals: Summary::from_counts(self.places.live_from(from), from),
            // What was granted at this sender's sync; the fair share for one never seen.
            share_ppm: self
                .senders
                .get(isolate)
                .map_or_else(|| self.share_ppm(isolate, now), |s| s.share_ppm),
            acked,
            at: now,
            settle_ms: self.settle_ms,
            age_ms: 0,
            revoked: self.revocations.sorted(),
            revoked_before: self.revocations.before,
            // Counts reach the coordinator up to `settle_ms` late: the minute before that.
            through_per_minute: self
                .ledger
                .through_per_minute(now.minus_ms(self.settle_ms), 60),
            arrivals_per_minute: self.arrivals_per_minute(now),
            epoch: self.epoch,
            notices: None,
            draw: DrawView::of(self.seed.as_ref(), &self.config, now),
            lease_from: UnixMs(0),
            lease_ms: 0,
            granted_at: now,
            slots_left: self.slots_left(now),
        }
    }

    /// When a pre-queue began that no seed orders yet: the coordinator draws one
    /// ([`Room::set_seed`]) and stores it before the room answers anyone.
    pub fn draw_due(&self) -> Option<UnixMs> {
        let since = self.config.prequeue_since?;
        (self.seed.map(|s| s.since) != Some(since)).then_some(since)
    }

    /// The seed of the pre-queue that began at `since`: 32 random bytes.
    pub fn set_seed(&mut self, since: UnixMs, bytes: [u8; 32]) {
        self.seed = Some(Seed { since, bytes });
    }

    /// The pace of places taken, per minute, over the minute ending `settle_ms` before `now`
    /// (the last whose counts are all in), from its first second with any, so a rush that just
    /// began is not averaged with the quiet before it; `None` when there are none.
    fn arrivals_per_minute(&self, now: UnixMs) -> Option<u64> {
        let complete = now.minus_ms(self.settle_ms).secs();
        let mut seconds = self
            .places
            .live_from(complete.saturating_sub(59))
            .take_while(|(second, _)| *second <= complete)
            .peekable();
        let first = seconds.peek()?.0;
        let n = seconds.fold(0u64, |sum, (_, n)| sum.saturating_add(n));
        let measured_s = complete.saturating_add(1).saturating_sub(first);
        Some(n.saturating_mul(60) / measured_s.max(1))
    }

    /// The operator's view: config and live counters.
    pub fn report(&self, now: UnixMs) -> RoomReport {
        let live = self.places.live();
        let cursor = self.release.cursor;
        RoomReport {
            config: self.config.clone(),
            cursor: CursorReport {
                bucket: cursor.bucket(),
                fraction: fraction(cursor),
            },
            counters: Counters {
                waiting: live.between(cursor, OrderKey(u64::MAX)),
                held: self.places.total(),
                seated_total: self.totals.seated,
                let_through_total: self.totals.let_through,
                ended_total: self.totals.ended,
                lapsed_total: self.totals.lapsed,
                duplicate_syncs: self.totals.duplicate_syncs,
                active: self
                    .ledger
                    .active(now, u64::from(self.config.session_duration_s)),
                unclaimed: self.ledger.unclaimed(now),
                no_show_per_mille: self.ledger.no_show_per_mille(now),
                isolates_last_minute: self
                    .senders
                    .iter()
                    .filter(|(_, s)| now.since(s.at) < 60_000)
                    .fold(0, |n, (_, s)| n.saturating_add(s.isolates.max(1))),
                locations_last_minute: self
                    .senders
                    .iter()
                    .filter(|(_, s)| now.since(s.at) < 60_000 && s.isolates > 0)
                    .count(),
            },
            storage: StorageReport {
                readable: self.problem.is_none(),
                problem: self.problem.clone(),
            },
            locations: self
                .senders
                .iter()
                .filter(|(_, s)| now.since(s.at) < 60_000)
                .filter_map(|(id, s)| {
                    Some(LocationReport {
                        location: id.strip_prefix(LOCATION_PREFIX)?.to_owned(),
                        isolates: s.isolates,
                        synced_ms_ago: now.since(s.at),
                    })
                })
                .collect(),
            origin: self.origin.report(now),
            slots_left: self.slots_left(now),
            autopilot: self.config.autopilot.map(|terms| {
                self.pilot
                    .report(terms, self.config.new_users_per_minute, now)
            }),
            networks: NetworksReport {
                holding: self.net_places.len(),
                full: self.notices.of(NoticeKind::Full).count(),
                top: self
                    .net_places
                    .top(now, 10)
                    .into_iter()
                    .map(|(places, ipv4)| NetworkCount { places, ipv4 })
                    .collect(),
                work_asked_total: self.totals.work_asked,
                work_shown_total: self.totals.work_shown,
                budget_v6: self.config.budget_v6,
                budget_v4: self.config.budget_v4,
                work_for_all: self.config.work_for_all,
            },
            settle_ms: self.settle_ms,
            now,
        }
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "a fraction for display: 2^32 steps print fine as f64"
)]
fn fraction(cursor: Cursor) -> f64 {
    cursor.sub() as f64 / crate::order::SUB_RANGE as f64
}

/// `GET /admin/state`'s body (the worker adds its own call counters).
#[derive(Clone, Debug, Serialize)]
pub struct RoomReport {
    pub config: RoomConfig,
    pub cursor: CursorReport,
    pub counters: Counters,
    pub storage: StorageReport,
    /// The locations whose aggregators synced in the last minute.
    pub locations: Vec<LocationReport>,
    /// The origin's last minute, as the edges saw it on forwarded requests.
    pub origin: OriginReport,
    /// The autopilot's terms and its last change, while it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autopilot: Option<PilotReport>,
    /// With the slots known (`config.slots_remaining`): citizens beyond the cursor they can
    /// still serve; everyone further back is told the slots are taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots_left: Option<u64>,
    /// The client networks' places and budgets.
    pub networks: NetworksReport,
    pub settle_ms: u64,
    pub now: UnixMs,
}

/// One location reporting (`GET /admin/state`'s `locations`).
#[derive(Clone, Debug, Serialize)]
pub struct LocationReport {
    pub location: String,
    pub isolates: u64,
    pub synced_ms_ago: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CursorReport {
    pub bucket: u64,
    pub fraction: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Counters {
    /// Places held that the cursor has not reached.
    pub waiting: u64,
    /// Places held, reached or not.
    pub held: u64,
    pub seated_total: u64,
    pub let_through_total: u64,
    pub ended_total: u64,
    pub lapsed_total: u64,
    pub duplicate_syncs: u64,
    /// Passes alive as the coordinator counts them (what `max_active` caps).
    pub active: u64,
    /// Released by the cursor but not let through yet.
    pub unclaimed: u64,
    pub no_show_per_mille: u32,
    /// Edge isolates that synced in the last minute, through their locations' aggregators.
    pub isolates_last_minute: u64,
    /// Locations whose aggregator synced in the last minute.
    pub locations_last_minute: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct StorageReport {
    pub readable: bool,
    pub problem: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::places::slot_of;

    const T0: UnixMs = UnixMs(1_700_000_000_000);
    const SETTLE: u64 = 5_000;

    fn report(isolate: &str, seq: u64, places: Vec<(u64, u64, i64)>) -> SyncReport {
        SyncReport {
            isolate: isolate.into(),
            seq,
            places,
            ..SyncReport::default()
        }
    }

    #[test]
    fn a_batch_counts_once_however_often_it_arrives() {
        let mut room = Room::fresh(T0, SETTLE);
        let slot = slot_of(T0.plus_ms(300_000));
        let batch = report("a", 1, vec![(T0.secs(), slot, 3)]);
        assert!(room.sync(&batch, T0).applied);
        // The isolate timed out and sent it again; then an old copy arrives after batch 2.
        assert!(!room.sync(&batch, T0.plus_ms(10)).applied);
        assert!(
            room.sync(&report("a", 2, vec![(T0.secs(), slot, 1)]), T0.plus_ms(20))
                .applied
        );
        let stale_copy = room.sync(&batch, T0.plus_ms(30));
        assert!(!stale_copy.applied);
        assert_eq!(stale_copy.snapshot.acked, 2);
        assert_eq!(room.places.total(), 4);
        assert_eq!(room.totals.duplicate_syncs, 2);
        // Another isolate's batch 1 is its own.
        assert!(room.sync(&batch_for("b"), T0.plus_ms(40)).applied);
    }

    fn batch_for(isolate: &str) -> SyncReport {
        report(isolate, 1, vec![])
    }

    #[test]
    fn a_renewal_is_no_arrival() {
        let mut room = Room::fresh(T0, SETTLE);
        let (old, new) = (slot_of(T0.plus_ms(300_000)), slot_of(T0.plus_ms(450_000)));
        let second = T0.secs() - 100; // behind the cursor: a late arrival there would be charged
        room.sync(&report("a", 1, vec![(second, old, 1)]), T0);
        let (allowance, seated) = (room.release.allowance, room.totals.seated);
        room.sync(
            &report("a", 2, vec![(second, old, -1), (second, new, 1)]),
            T0.plus_ms(1),
        );
        assert_eq!(room.totals.seated, seated);
        assert!(room.release.allowance >= allowance, "a renewal was charged");
        assert_eq!(room.places.total(), 1);
    }

    #[test]
    fn a_busy_isolate_never_gets_a_zero_share() {
        let mut room = Room::fresh(T0, SETTLE);
        let mut busy = report("busy", 1, vec![]);
        busy.let_through = vec![(T0.secs(), 5_000_000)];
        room.sync(&busy, T0);
        let mut small = report("small", 1, vec![]);
        small.refused = 1;
        room.sync(&small, T0);
        assert_eq!(room.share_ppm("small", T0), 1);
    }

    #[test]
    fn the_minute_counts_what_syncs_bring_and_revocations_reach_the_snapshot() {
        let mut room = Room::fresh(T0, SETTLE);
        let mut batch = report("a", 1, vec![(T0.secs(), slot_of(T0.plus_ms(300_000)), 3)]);
        batch.let_through = vec![(T0.secs(), 2)];
        room.sync(&batch, T0);
        assert_eq!((room.minute.arrivals, room.minute.let_through), (3, 2));
        assert_eq!(room.minute.rate_per_minute, 60);
        let id = [7u8; 16];
        assert!(room.revoke(TicketRef::of(&id), "kim", T0).is_some());
        assert!(room.revoke(TicketRef::of(&id), "kim", T0).is_none());
        let entry = room.revoke_before(T0, "kim", T0);
        assert_eq!(entry.to, serde_json::json!({ "before": T0.0 }));
        let snap = room.sync(&report("a", 2, vec![]), T0.plus_ms(1)).snapshot;
        assert_eq!(snap.revoked, vec![TicketRef::of(&id).compact()]);
        assert_eq!(snap.revoked_before, Some(T0));
    }

    #[test]
    fn places_not_renewed_are_given_up() {
        let mut room = Room::fresh(T0, SETTLE);
        let held = T0.plus_ms(300_000);
        room.sync(&report("a", 1, vec![(T0.secs(), slot_of(held), 2)]), T0);
        room.advance(held.plus_ms(10_000));
        assert_eq!(room.places.total(), 0);
        assert_eq!(room.totals.lapsed, 2);
    }

    #[test]
    fn the_snapshot_stays_small_for_a_two_hour_queue() {
        let mut room = Room::fresh(T0, SETTLE);
        room.config.new_users_per_minute = 0;
        let slot = slot_of(T0.plus_ms(86_400_000));
        let places = (0..7_200).map(|s| (T0.secs() + s, slot, 40)).collect();
        room.sync(&report("a", 1, places), T0);
        let snap = room.snapshot("a", 1, T0);
        let bytes = serde_json::to_vec(&snap).unwrap().len();
        assert!(bytes < 4_096, "{bytes} bytes");
        assert_eq!(snap.arrivals.total(), 7_200 * 40);
    }

    #[test]
    fn unreadable_state_keeps_the_room_paused_and_nobody_waiting_admitted() {
        let slot = slot_of(T0.plus_ms(300_000));
        let stored = Restored {
            config: Some(decode::<RoomConfig>(
                r#"{"v": 1, "data": {"rate_per_minute": 5}}"#,
            )),
            release: Some(decode::<ReleaseState>(r#"{"v": 7, "data": {}}"#)),
            places: vec![(
                PlaceKey {
                    second: T0.secs() - 3_000,
                    slot,
                },
                5,
            )],
            ..Restored::default()
        };
        let mut room = Room::restore(stored, T0, SETTLE);
        assert!(room.config.paused);
        let problem = room.problem.clone().unwrap();
        assert!(
            problem.contains("config") && problem.contains("release"),
            "{problem}"
        );
        assert_eq!(room.release.cursor, Cursor::at_bucket(T0.secs() - 3_000));
        room.advance(T0.plus_ms(60_000));
        assert_eq!(room.release.cursor, Cursor::at_bucket(T0.secs() - 3_000));
        assert!(!room.report(T0).storage.readable);
        // The operator resumes: the problem is acknowledged and the room runs again.
        room.configure(
            &ConfigPatch::from_json(r#"{"paused": false}"#).unwrap(),
            T0.plus_ms(61_000),
        )
        .unwrap();
        assert!(room.problem.is_none());
    }

    #[test]
    fn a_room_that_lost_its_records_comes_up_paused_and_keeps_its_line() {
        // The room as it was: its identity, open, its cursor an hour back (people waiting).
        let mut before = Room::fresh(T0, SETTLE);
        before.epoch = 7;
        let known = Cursor::at_bucket(T0.secs() - 3_600);
        // Its storage is gone: a new coordinator draws a new identity and would start open,
        // the cursor at now − settle, ahead of everyone still waiting.
        let mut after = Room::fresh(T0, SETTLE);
        after.epoch = 9;
        assert!(!after.config.paused);
        let mut report = report("loc:ICN", 40, vec![]);
        report.epoch = before.epoch;
        report.known_cursor = Some(known);
        let synced = after.sync(&report, T0);
        assert!(after.config.paused && synced.snapshot.config.paused);
        assert!(after.problem.as_deref().unwrap_or("").contains("lost"));
        assert!(
            synced.snapshot.cursor <= known,
            "nobody waiting is let through by the loss"
        );
        assert_eq!(synced.snapshot.epoch, 7, "the identity is taken back");
        // Nothing moves until the operator resumes it; a room never stored is not held back.
        after.advance(T0.plus_ms(600_000));
        assert!(after.release.cursor <= known);
        let mut fresh = Room::fresh(T0, SETTLE);
        fresh.epoch = 3;
        fresh.sync(&report_for("loc:ICN"), T0);
        assert!(!fresh.config.paused);
    }

    fn report_for(sender: &str) -> SyncReport {
        report(sender, 1, vec![])
    }

    #[test]
    fn a_missing_config_record_keeps_the_room_paused_and_unreadable_revocations_withdraw_all() {
        let stored = Restored {
            epoch: Some(7),
            config: None,
            revocations: Some(decode::<Revocations>("{broken")),
            ..Restored::default()
        };
        let room = Room::restore(stored, T0, SETTLE);
        assert!(room.config.paused);
        let problem = room.problem.clone().unwrap_or_default();
        assert!(
            problem.contains("config") && problem.contains("revocations"),
            "{problem}"
        );
        assert_eq!(room.revocations.before, Some(T0));
    }

    #[test]
    fn stored_records_round_trip_and_refuse_other_versions() {
        let config = RoomConfig::default();
        assert_eq!(decode::<RoomConfig>(&encode(&config)), Ok(config.clone()));
        let bare = serde_json::to_string(&config).unwrap();
        assert_eq!(decode::<RoomConfig>(&bare), Ok(config));
        assert!(decode::<RoomConfig>(r#"{"v": 2, "data": {}}"#).is_err());
        assert!(decode::<RoomConfig>("not json").is_err());
    }

    #[test]
    fn shares_follow_demand_and_never_add_up_past_the_whole() {
        let mut room = Room::fresh(T0, SETTLE);
        let mut busy = report("busy", 1, vec![]);
        busy.let_through = vec![(T0.secs(), 9)];
        room.sync(&busy, T0);
        room.sync(&report("idle", 1, vec![]), T0);
        let (a, b) = (room.share_ppm("busy", T0), room.share_ppm("idle", T0));
        assert!(a > b && a + b <= 1_000_000, "{a} + {b}");
        assert_eq!(Room::fresh(T0, SETTLE).share_ppm("alone", T0), 1_000_000);
    }

    #[test]
    fn a_share_given_back_is_free_only_once_its_holder_says_it_runs_the_new_one() {
        let mut room = Room::fresh(T0, SETTLE);
        let busy = |name: &str, seq: u64, share_at: UnixMs| {
            let mut r = report(name, seq, vec![]);
            r.refused = 50;
            r.share_at = share_at;
            r
        };
        // "a" alone takes the whole rate; then "b" turns up with the same demand.
        let first = room.sync(&busy("a", 1, UnixMs(0)), T0).snapshot;
        assert_eq!(first.share_ppm, 1_000_000);
        room.sync(&busy("b", 1, UnixMs(0)), T0.plus_ms(10));
        // "a" is cut to about half, but its limiters run at the whole until it hears so.
        let t = T0.plus_ms(1_000);
        let cut = room.sync(&busy("a", 2, first.granted_at), t).snapshot;
        assert!(cut.share_ppm < 600_000, "{}", cut.share_ppm);
        // However long the answer takes, or if it is lost: nothing for b meanwhile.
        for later in [1, 250, 5_000] {
            let early = room.sync(&busy("b", 2, UnixMs(0)), t.plus_ms(later));
            assert!(
                early.snapshot.share_ppm <= 1,
                "{later} ms: {}",
                early.snapshot.share_ppm
            );
        }
        // A copy of a's next batch cut before the cut arrived says nothing new.
        room.sync(&busy("a", 2, first.granted_at), t.plus_ms(5_100));
        let still = room.sync(&busy("b", 3, UnixMs(0)), t.plus_ms(5_200));
        assert!(still.snapshot.share_ppm <= 1);
        // a's batch cut under the cut frees the half it gave back.
        room.sync(&busy("a", 3, cut.granted_at), t.plus_ms(6_000));
        let b = room
            .sync(&busy("b", 4, UnixMs(0)), t.plus_ms(6_100))
            .snapshot
            .share_ppm;
        assert!(b >= 400_000, "{b}");
        assert!(
            u64::from(cut.share_ppm) + u64::from(b) <= 1_000_000,
            "{} + {b}",
            cut.share_ppm
        );
    }

    #[test]
    fn a_share_not_renewed_holds_nothing_after_its_lease_but_a_location_keeps_its_part() {
        let mut room = Room::fresh(T0, SETTLE);
        let mut location = report("loc:ICN", 1, vec![]);
        location.refused = 50;
        location.after_lease_per_mille = 100;
        let mut isolate = report("lone", 1, vec![]);
        isolate.refused = 50;
        assert_eq!(room.sync(&location, T0).snapshot.share_ppm, 1_000_000);
        // The location goes silent (the room out of its reach). Within its lease nothing is
        // free; after it, all but its fail-static tenth.
        isolate.share_at = T0;
        let during = room.sync(&isolate, T0.plus_ms(crate::sync::LEASE_MS - 1));
        assert!(during.snapshot.share_ppm <= 1);
        isolate.seq = 2;
        let after = room.sync(&isolate, T0.plus_ms(crate::sync::LEASE_MS));
        assert_eq!(after.snapshot.share_ppm, 900_000);
    }

    #[test]
    fn the_slots_the_origin_says_stop_the_line_where_they_end_and_it_moves_again_when_they_return()
    {
        let mut room = Room::fresh(T0, SETTLE);
        room.configure(
            &ConfigPatch::from_json(r#"{"new_users_per_minute": 6000}"#).unwrap(),
            T0,
        )
        .unwrap();
        // The origin says 30 slots remain, heard at an edge a moment ago; an older word
        // arriving later changes nothing.
        let mut said = report("loc:a", 1, vec![]);
        said.origin.note_slots(30, T0.plus_ms(500));
        room.sync(&said, T0.plus_ms(1_000));
        let mut older = report("loc:a", 2, vec![]);
        older.origin.note_slots(5, T0.plus_ms(400));
        room.sync(&older, T0.plus_ms(1_100));
        assert_eq!(room.config.slots_remaining, Some(30));
        assert!(room.take_config_moved(), "the config is to be stored");
        // Twenty places a second for ten seconds. Nobody released comes (no-shows): each
        // lapses from the pending after ten seconds, and the slots, still free, go on down the
        // line, stretched by the no-show share; at no moment are more released and still
        // possibly coming than the slots can serve.
        let slot = slot_of(T0.plus_ms(3_600_000));
        let places: Vec<(u64, u64, i64)> = (1..=10).map(|s| (T0.secs() + s, slot, 20)).collect();
        room.sync(&report("loc:a", 3, places), T0.plus_ms(11_000));
        for second in 12..40 {
            let t = T0.plus_ms(second * 1_000);
            room.advance(t);
            let no_shows = u64::from(room.ledger.no_show_per_mille(t).min(NO_SHOWS_COUNTED_MAX));
            let servable = 30 * (1_000 + no_shows) / 1_000;
            let pending = room.ledger.unclaimed(t);
            assert!(pending <= servable, "{second} s: {pending} of {servable}");
            assert_eq!(room.slots_left(t), Some(servable - pending));
        }
        let t = T0.plus_ms(40_000);
        assert_eq!(room.snapshot("loc:a", 3, t).slots_left, room.slots_left(t));
        assert!(
            room.places
                .live()
                .between(room.release.cursor, OrderKey(u64::MAX))
                > 0
        );
        // None left: the cursor stays. The operator says a new release brought 100: the line
        // moves again, in order.
        room.configure(
            &ConfigPatch::from_json(r#"{"slots_remaining": 0}"#).unwrap(),
            T0.plus_ms(41_000),
        )
        .unwrap();
        let cursor = room.release.cursor;
        room.advance(T0.plus_ms(55_000));
        assert_eq!(room.release.cursor, cursor);
        assert_eq!(room.slots_left(T0.plus_ms(55_000)), Some(0));
        room.configure(
            &ConfigPatch::from_json(r#"{"slots_remaining": 100}"#).unwrap(),
            T0.plus_ms(56_000),
        )
        .unwrap();
        room.advance(T0.plus_ms(57_000));
        assert!(room.release.cursor > cursor);
        // Not known: nobody is held back or told anything.
        room.configure(
            &ConfigPatch::from_json(r#"{"slots_remaining": null}"#).unwrap(),
            T0.plus_ms(58_000),
        )
        .unwrap();
        assert_eq!(room.slots_left(T0.plus_ms(58_000)), None);
    }
}
