//! What a waiting citizen is told: state, place in line, an honest ETA range, and when to ask
//! again. Computed at the edge from the isolate's cached room state, with no I/O.

use serde::Serialize;

use crate::config::RoomConfig;
use crate::order::{Cursor, OrderKey};
use crate::release::OVER_RELEASE;
use crate::summary::Arrivals;
use crate::time::UnixMs;
use crate::token::TestMode;

/// Slack added to the high end of every ETA for sync and settle delays, in seconds.
const ETA_SLACK_S: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueState {
    Waiting,
    Admitted,
    Paused,
    Closed,
    Prequeue,
}

/// The body of `GET /queue/status` (see docs/DESIGN.md, contract).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueStatus {
    pub state: QueueState,
    /// 1-based place in line; `None` where it is not known or not meaningful.
    pub position: Option<u64>,
    /// People in front.
    pub ahead: Option<u64>,
    /// Estimated wait, `[low, high]` seconds.
    pub eta_s: Option<[u64; 2]>,
    /// When to poll again, already jittered, in milliseconds.
    pub next_poll_ms: u64,
    /// The scheduled opening, for the pre-queue countdown.
    pub opens_at: Option<UnixMs>,
    /// True when the edge has lost touch with the coordinator and is keeping places from its
    /// last known state.
    pub stale: bool,
    /// Set when the visitor came back with a place that is gone and has just joined again as a
    /// new arrival, so the page can say so plainly: `"lapsed"` (away longer than the grace
    /// period) or `"ended"` (the booking site ended their earlier session). Sent only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejoined: Option<Rejoined>,
    /// Set when the visitor's new place costs work first (its network holds its budget, or
    /// the operator asks work of everyone): what to find (`work::Challenge`). The place is
    /// taken when the poll that brings the answer comes. Sent only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work: Option<crate::work::Challenge>,
    /// Set when the origin's slots cannot reach this place in line (`RoomSnapshot::slots_left`):
    /// the page says the slots are taken, and when the next release is, instead of an ETA
    /// (which is `None`). The place is kept: if slots come back, the line moves again in order.
    /// Sent only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots_taken: Option<SlotsTaken>,
    /// Set while the visitor waits again at the front of the line after an origin fault at
    /// their admission (`visit::answered`): the page says what happened. Sent only when set.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub readmitted: bool,
}

impl QueueState {
    /// The state's name, as the JSON says it.
    pub fn name(self) -> &'static str {
        match self {
            QueueState::Waiting => "waiting",
            QueueState::Admitted => "admitted",
            QueueState::Paused => "paused",
            QueueState::Closed => "closed",
            QueueState::Prequeue => "prequeue",
        }
    }
}

/// A state is written as its name, the one spelling both JSON writers use.
impl Serialize for QueueState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl QueueStatus {
    /// The JSON of the answer nearly every poll gets (no rejoining, work, slots or
    /// readmission to tell), written without a serializer, byte for byte what serde writes;
    /// `None` for any other, which a caller serializes. Every status poll asks this.
    pub fn plain_json(&self) -> Option<String> {
        use std::fmt::Write as _;
        // Every field named, so a field added to the status cannot be left out here unseen.
        let QueueStatus {
            state,
            position,
            ahead,
            eta_s,
            next_poll_ms,
            opens_at,
            stale,
            rejoined,
            work,
            slots_taken,
            readmitted,
        } = self;
        if rejoined.is_some() || work.is_some() || slots_taken.is_some() || *readmitted {
            return None;
        }
        let mut out = String::with_capacity(128);
        let number = |out: &mut String, n: Option<u64>| match n {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => out.push_str("null"),
        };
        out.push_str("{\"state\":\"");
        out.push_str(state.name());
        out.push_str("\",\"position\":");
        number(&mut out, *position);
        out.push_str(",\"ahead\":");
        number(&mut out, *ahead);
        out.push_str(",\"eta_s\":");
        match eta_s {
            Some([low, high]) => {
                let _ = write!(out, "[{low},{high}]");
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"next_poll_ms\":");
        number(&mut out, Some(*next_poll_ms));
        out.push_str(",\"opens_at\":");
        number(&mut out, opens_at.map(|t| t.0));
        out.push_str(",\"stale\":");
        out.push_str(if *stale { "true" } else { "false" });
        out.push('}');
        Some(out)
    }
}

/// The slots are taken for this place ([`QueueStatus::slots_taken`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SlotsTaken {
    /// When the next slots are released, if the operator said.
    pub next_release_at: Option<UnixMs>,
}
/// Why a visitor's earlier place is gone (see [`QueueStatus::rejoined`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rejoined {
    Lapsed,
    Ended,
}

/// The room as an edge isolate last saw it.
#[derive(Clone, Copy, Debug)]
pub struct RoomView<'a> {
    pub config: &'a RoomConfig,
    pub cursor: Cursor,
    /// Places held from the cursor's bucket onwards: the coordinator's exact histogram or the
    /// edge's summary of it.
    pub arrivals: &'a dyn Arrivals,
    pub stale: bool,
    /// How far behind `now` the coordinator keeps the cursor, in milliseconds: nobody is let
    /// through before their own arrival second is that old.
    pub settle_ms: u64,
    /// How much later than the coordinator this view may learn of the cursor, in milliseconds.
    pub view_lag_ms: u64,
    /// Citizens let through per minute, as the coordinator last measured it, if it has.
    pub through_per_minute: Option<u64>,
    /// Places taken per minute over the last minute the coordinator has all counts of.
    pub arrivals_per_minute: Option<u64>,
}

impl RoomView<'_> {
    /// The status of the ticket with order key `key` at `now`. `jitter` (any `u16`, drawn by the
    /// caller) spreads the next poll by ±15 % so polls do not arrive in waves.
    pub fn status(&self, key: OrderKey, now: UnixMs, jitter: u16) -> QueueStatus {
        let config = self.config;
        let mut status = QueueStatus {
            state: QueueState::Waiting,
            position: None,
            ahead: None,
            eta_s: None,
            next_poll_ms: 0,
            opens_at: None,
            stale: self.stale,
            rejoined: None,
            work: None,
            slots_taken: None,
            readmitted: false,
        };
        if self.cursor.admits(key) {
            status.state = QueueState::Admitted;
            status.position = Some(0);
            status.ahead = Some(0);
            status.next_poll_ms = 1_000;
            return status;
        }
        if config.before_opening(now) {
            status.state = QueueState::Prequeue;
            status.opens_at = config.opens_at;
            let until_open = config.opens_at.map_or(0, |t| t.since(now));
            // Wake shortly after the opening, spread over five seconds so the crowd that waited
            // for the countdown does not poll in one instant.
            let wake = until_open.saturating_add(u64::from(jitter) * 5_000 / u64::from(u16::MAX));
            status.next_poll_ms = wake.clamp(1_000, 30_000);
            return status;
        }
        let ahead = self.arrivals.between(self.cursor, key);
        status.ahead = Some(ahead);
        status.position = Some(ahead.saturating_add(1));
        status.state = if config.closed {
            QueueState::Closed
        } else if config.paused {
            QueueState::Paused
        } else {
            QueueState::Waiting
        };
        let mut unsure = false;
        if status.state == QueueState::Waiting {
            // The cursor cannot reach this second before the second is `settle_ms` old, however
            // short the line, and this view may hear of it a little later.
            let reach_ms = |lag_ms: u64| {
                key.bucket()
                    .saturating_mul(1000)
                    .saturating_add(lag_ms)
                    .saturating_sub(now.0)
            };
            let earliest_s = reach_ms(self.settle_ms) / 1000;
            let latest_s = reach_ms(self.settle_ms.saturating_add(self.view_lag_ms)).div_ceil(1000);
            // Arrivals of the seconds not yet all counted (up to `settle_ms` and the view's lag
            // before now) may stand ahead too: the far end counts them at the recent pace.
            let counted_until = now
                .minus_ms(self.settle_ms.saturating_add(self.view_lag_ms))
                .secs()
                .max(self.cursor.bucket());
            // With no pace to go by (the first seconds of a rush), nobody can say yet how many
            // came just before this ticket: no range, rather than a wrong one.
            let uncounted_s = key.bucket().saturating_sub(counted_until);
            let uncounted = match (uncounted_s, self.arrivals_per_minute) {
                (0, _) => Some(0),
                (s, Some(per_minute)) => Some(per_minute.saturating_mul(s) / 60),
                (_, None) => None,
            };
            status.eta_s = uncounted.and_then(|uncounted| {
                let [low, mut high] = eta_s(config, ahead, self.through_per_minute)?;
                if uncounted > 0 {
                    let with_uncounted = ahead.saturating_add(uncounted);
                    [_, high] = eta_s(config, with_uncounted, self.through_per_minute)?;
                }
                Some([low.max(earliest_s), high.max(latest_s + ETA_SLACK_S)])
            });
            unsure = uncounted.is_none();
        }
        let base = match (status.state, status.eta_s) {
            // A pause usually ends with the operator resuming: ask often enough that the
            // line starts moving within seconds of it, not half a minute.
            (QueueState::Paused, _) => 15_000,
            // Not known yet: it will be within seconds.
            (QueueState::Waiting, None) if unsure => 3_000,
            (_, Some([_, high])) if high <= 30 => 3_000,
            (_, Some([_, high])) if high <= 300 => 10_000,
            (_, Some([_, high])) if high <= 1_800 => 20_000,
            _ => 30_000,
        };
        status.next_poll_ms = jittered(base, jitter);
        // Back by the range's near end if that comes first: a citizen who asks only an
        // interval after its turn came leaves its isolate's tokens to spill meanwhile. (On the
        // simulated small nights this took the rate used while a queue waited from 76 % to
        // 79 %, and 61 % to 68 % with a coordinator outage.)
        if let (QueueState::Waiting, Some([low, _])) = (status.state, status.eta_s) {
            let near = jittered(low.saturating_mul(1000), jitter).max(1_000);
            status.next_poll_ms = status.next_poll_ms.min(near);
        }
        // The citizen goes through at a poll, so the wait can run one poll interval past the
        // moment their turn comes.
        if let Some([_, high]) = status.eta_s.as_mut() {
            *high = high.saturating_add(jittered(base, u16::MAX).div_ceil(1000));
        }
        status
    }
}

/// The status a test key forces, computed like a real one (same ETA and poll rules) but from
/// the key's numbers instead of the live queue.
pub fn forced(mode: TestMode, config: &RoomConfig, now: UnixMs, jitter: u16) -> QueueStatus {
    let mut status = QueueStatus {
        state: QueueState::Admitted,
        position: Some(0),
        ahead: Some(0),
        eta_s: None,
        next_poll_ms: 1_000,
        opens_at: None,
        stale: false,
        rejoined: None,
        work: None,
        slots_taken: None,
        readmitted: false,
    };
    match mode {
        TestMode::Through | TestMode::Admitted => {}
        TestMode::Waiting { position } | TestMode::Paused { position } => {
            let ahead = position.saturating_sub(1);
            status.position = Some(position);
            status.ahead = Some(ahead);
            if matches!(mode, TestMode::Waiting { .. }) {
                status.state = QueueState::Waiting;
                status.eta_s = eta_s(config, ahead, None);
                status.next_poll_ms = jittered(3_000, jitter);
            } else {
                status.state = QueueState::Paused;
                status.next_poll_ms = jittered(30_000, jitter);
            }
        }
        TestMode::Closed => {
            status.state = QueueState::Closed;
            status.position = None;
            status.ahead = None;
            status.next_poll_ms = jittered(30_000, jitter);
        }
        TestMode::Prequeue { opens_at } => {
            status.state = QueueState::Prequeue;
            status.position = None;
            status.ahead = None;
            status.opens_at = Some(opens_at);
            status.next_poll_ms = opens_at.since(now).clamp(1_000, 30_000);
        }
    }
    status
}

/// An ETA range in seconds for `ahead` people, or `None` when nobody is being admitted. The near
/// end assumes the line moves at up to 1.5 times the rate, as the release does when those ahead
/// do not come (`release::OVER_RELEASE`); the far end the rate that `max_active` and the session
/// duration can sustain, or the let-through rate `measured` (per minute) if lower, less a fifth
/// for no-shows and delays, or a third while nothing is measured. (Measured, the line moves at
/// 79–84 % of the rate on the simulated Korea night: a far end that assumed 80 % of the rate
/// missed a third of the citizens.)
pub fn eta_s(config: &RoomConfig, ahead: u64, measured: Option<u64>) -> Option<[u64; 2]> {
    let rate = u64::from(config.new_users_per_minute);
    if rate == 0 {
        return None;
    }
    let sustainable = u64::from(config.max_active).saturating_mul(60)
        / u64::from(config.session_duration_s.max(1));
    let effective = rate
        .min(sustainable.max(1))
        .min(measured.map_or(u64::MAX, |m| m.max(1)));
    let low = ahead.saturating_mul(60) * OVER_RELEASE.1 / OVER_RELEASE.0 / rate;
    let high = ahead
        .saturating_add(1)
        .saturating_mul(if measured.is_some() { 75 } else { 90 })
        .div_ceil(effective)
        .saturating_add(ETA_SLACK_S);
    Some([low, high.max(low)])
}

/// The page never asks again sooner than this, in milliseconds, whatever `next_poll_ms` says.
/// Only a citizen at the very front, whose token at its isolate's limiter is due within a
/// second, is told a time this short ([`after_due`]).
pub const POLL_FLOOR_MS: u64 = 200;

/// The most of a round trip the page sends its next poll early by ([`page_wait_ms`]): a
/// round trip longer than this is trouble on the line, not a delay worth planning around.
pub const LEAD_MAX_MS: u64 = 2_000;

/// How long the waiting page waits before its next poll after the answer `status`, given the
/// round trip its last poll took (`www/queue/static/app.js` does the same sum, and
/// `tests/architecture.rs` holds the two equal).
///
/// At the very front (nobody ahead), waiting only for a token at its isolate's limiter, a
/// citizen is told when the token is due, a time at the gate counted from its answer. A poll
/// reaches the gate a round trip after the answer left it, so a page that waited
/// `next_poll_ms` came back a whole round trip after its token was due, and a limiter whose
/// bucket was full meanwhile lost what matured. There the page sends that much early, by at
/// most half the wait and [`LEAD_MAX_MS`] (one slow poll must not make the next one hurry).
/// Further back, the page waits as told: the near end of a range is a guess, and coming back
/// before it let more citizens through before the range they were shown. Never sooner than
/// [`POLL_FLOOR_MS`]. On the simulated small nights (eight seeds) it took the rate used while
/// a queue waited from 86.8 % to 88.2 %, and with phones 100 to 800 ms from the edge from
/// 78.6 % to 81.6 %, for 3 % more polls, with τ and the ETAs as they were.
pub fn page_wait_ms(status: &QueueStatus, last_round_trip_ms: u64) -> u64 {
    let next = status.next_poll_ms;
    let lead = if status.ahead == Some(0) {
        last_round_trip_ms.min(next / 2).min(LEAD_MAX_MS)
    } else {
        0
    };
    next.saturating_sub(lead).max(POLL_FLOOR_MS)
}

/// `due_ms` spread by up to 15 % later, never earlier: for a time before which asking again
/// is useless (a token not yet matured).
pub fn after_due(due_ms: u64, jitter: u16) -> u64 {
    due_ms * (1000 + u64::from(jitter) * 150 / u64::from(u16::MAX)) / 1000
}

/// `base_ms` spread by ±15 % according to `jitter`.
pub fn jittered(base_ms: u64, jitter: u16) -> u64 {
    let per_mille = 850 + u64::from(jitter) * 300 / u64::from(u16::MAX);
    base_ms * per_mille / 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::Histogram;

    const NOW: UnixMs = UnixMs(1_700_000_000_000);
    /// Every state, in the contract's order.
    const STATES: [QueueState; 5] = [
        QueueState::Waiting,
        QueueState::Admitted,
        QueueState::Paused,
        QueueState::Closed,
        QueueState::Prequeue,
    ];

    fn view<'a>(config: &'a RoomConfig, arrivals: &'a Histogram, cursor: Cursor) -> RoomView<'a> {
        RoomView {
            config,
            cursor,
            arrivals,
            stale: false,
            settle_ms: 0,
            view_lag_ms: 0,
            through_per_minute: None,
            arrivals_per_minute: None,
        }
    }

    /// A room at 60 a minute whose line is one second of 120 arrivals, the cursor at its start.
    fn sixty_a_minute_and_a_second_of_120() -> (RoomConfig, Histogram, Cursor) {
        let config = RoomConfig {
            new_users_per_minute: 60,
            ..RoomConfig::default()
        };
        let mut arrivals = Histogram::new();
        arrivals.add(NOW.secs() - 10, 120);
        (config, arrivals, Cursor::at_bucket(NOW.secs() - 10))
    }

    #[test]
    fn waiting_citizen_sees_place_and_eta() {
        let (config, arrivals, cursor) = sixty_a_minute_and_a_second_of_120();
        let me = OrderKey::new(NOW.secs() - 10, u32::MAX / 2 + 1);
        let s = view(&config, &arrivals, cursor).status(me, NOW, 0);
        assert_eq!(s.state, QueueState::Waiting);
        assert_eq!(s.ahead, Some(60));
        assert_eq!(s.position, Some(61));
        let [low, high] = s.eta_s.unwrap();
        // 60 ahead at up to 1.5 a second.
        assert_eq!(low, 40);
        // Nothing measured yet: 61 × 90 / 60 + 5 s of slack, and one poll interval (10 s, up
        // to +15 %) at the end.
        assert_eq!(high, 97 + 12);
        assert_eq!(s.next_poll_ms, 8_500); // ETA under 5 min: 10 s base, −15 % jitter
                                           // The line measured at half the rate: the far end follows it, with a quarter to spare
                                           // (61 × 75 / 30 + 5); the near end still assumes the rate, so nobody goes before it.
        let mut measured = view(&config, &arrivals, cursor);
        measured.through_per_minute = Some(30);
        let [low, high] = measured.status(me, NOW, 0).eta_s.unwrap();
        assert_eq!((low, high), (40, 158 + 12));
        // Measured above the rate, the rate still bounds it.
        measured.through_per_minute = Some(6_000);
        let [_, high] = measured.status(me, NOW, 0).eta_s.unwrap();
        assert_eq!(high, 82 + 12);
    }

    #[test]
    fn a_citizen_near_the_front_comes_back_by_the_near_end_of_its_range() {
        let (config, arrivals, cursor) = sixty_a_minute_and_a_second_of_120();
        let at = |ahead: u64| {
            OrderKey::new(
                NOW.secs() - 10,
                u32::try_from(ahead * (1 << 32) / 120).unwrap() + 1,
            )
        };
        let v = view(&config, &arrivals, cursor);
        // Three ahead at up to 1.5 a second: its turn may come in 2 s, before the 3 s interval
        // of a short wait.
        let near = v.status(at(3), NOW, 0);
        assert_eq!((near.ahead, near.eta_s.map(|e| e[0])), (Some(3), Some(2)));
        // 2 s, −15 % jitter.
        assert_eq!(near.next_poll_ms, 1_700);
        // Nobody ahead, the cursor not yet past: a second, not sooner, whatever the jitter.
        let front = v.status(at(0), NOW, 0);
        assert_eq!((front.ahead, front.next_poll_ms), (Some(0), 1_000));
        // Far back, the interval of its wait: the near end is no sooner.
        let far = v.status(at(60), NOW, 0);
        assert_eq!(far.next_poll_ms, 8_500);
        // A paused line says nothing of a near end: the pause's interval.
        let paused = RoomConfig {
            paused: true,
            ..config.clone()
        };
        let s = view(&paused, &arrivals, cursor).status(at(3), NOW, 0);
        assert_eq!((s.state, s.next_poll_ms), (QueueState::Paused, 12_750));
    }

    #[test]
    fn nobody_is_promised_a_turn_before_the_cursor_can_reach_their_second() {
        let config = RoomConfig {
            new_users_per_minute: 6_000,
            ..RoomConfig::default()
        };
        let arrivals = Histogram::new();
        let mut v = view(&config, &arrivals, Cursor::at_bucket(NOW.secs() - 9));
        v.settle_ms = 9_000;
        v.view_lag_ms = 2_000;
        v.arrivals_per_minute = Some(0);
        // Just arrived, nobody ahead: still about nine seconds, not zero.
        let s = v.status(OrderKey::fifo(NOW, 7), NOW, 0);
        let [low, high] = s.eta_s.unwrap();
        assert_eq!(low, 9);
        assert!(high >= 11 + ETA_SLACK_S + 3, "{high}");
    }

    #[test]
    fn arrivals_not_yet_counted_widen_the_far_end_or_leave_it_unknown() {
        let config = RoomConfig {
            new_users_per_minute: 6_000,
            max_active: 10_000_000,
            ..RoomConfig::default()
        };
        let arrivals = Histogram::new();
        let mut v = view(&config, &arrivals, Cursor::at_bucket(NOW.secs() - 60));
        v.settle_ms = 9_000;
        // Nobody counted ahead, but the ticket's second and the eight before it are not all
        // counted yet. With no pace to go by, the wait is not known yet, and the page asks
        // again soon.
        let me = OrderKey::fifo(NOW, 7);
        let s = v.status(me, NOW, 0);
        assert_eq!(
            (s.state, s.eta_s, s.ahead),
            (QueueState::Waiting, None, Some(0))
        );
        // 3 s, −15 % jitter.
        assert_eq!(s.next_poll_ms, 2_550);
        // At 60,000 arrivals a minute, nine uncounted seconds may hold 9,000 ahead: at 100 a
        // second (nothing measured), 9,001 × 90 / 6,000 + 5 s = 141 s, and one poll interval.
        v.arrivals_per_minute = Some(60_000);
        let [low, high] = v.status(me, NOW, 0).eta_s.unwrap();
        assert_eq!(low, 9);
        assert_eq!(high, 141 + 12);
        // Once the ticket's second is counted, only those counted stand ahead.
        let later = NOW.plus_ms(10_000);
        let [_, high] = v.status(me, later, 0).eta_s.unwrap();
        assert!(high < 30, "{high}");
    }

    #[test]
    fn states_follow_the_config() {
        let arrivals = Histogram::new();
        let me = OrderKey::fifo(NOW, 0);
        let paused = RoomConfig {
            paused: true,
            ..RoomConfig::default()
        };
        assert_eq!(
            view(&paused, &arrivals, Cursor::default())
                .status(me, NOW, 0)
                .state,
            QueueState::Paused
        );
        let closed = RoomConfig {
            closed: true,
            ..RoomConfig::default()
        };
        assert_eq!(
            view(&closed, &arrivals, Cursor::default())
                .status(me, NOW, 0)
                .state,
            QueueState::Closed
        );
        let soon = RoomConfig {
            opens_at: Some(NOW.plus_ms(4_000)),
            ..RoomConfig::default()
        };
        let s = view(&soon, &arrivals, Cursor::default()).status(me, NOW, 0);
        assert_eq!(
            (s.state, s.opens_at, s.next_poll_ms),
            (QueueState::Prequeue, Some(NOW.plus_ms(4_000)), 4_000)
        );
        let past = Cursor(me.0 + 1);
        assert_eq!(
            view(&paused, &arrivals, past).status(me, NOW, 0).state,
            QueueState::Admitted
        );
    }

    #[test]
    fn forced_states_say_what_the_key_says() {
        let config = RoomConfig::default();
        let w = forced(TestMode::Waiting { position: 10 }, &config, NOW, 0);
        assert_eq!(
            (w.state, w.position, w.ahead),
            (QueueState::Waiting, Some(10), Some(9))
        );
        assert!(w.eta_s.is_some());
        let p = forced(
            TestMode::Prequeue {
                opens_at: NOW.plus_ms(90_000),
            },
            &config,
            NOW,
            0,
        );
        assert_eq!(
            (p.state, p.opens_at, p.next_poll_ms),
            (QueueState::Prequeue, Some(NOW.plus_ms(90_000)), 30_000)
        );
        assert_eq!(
            forced(TestMode::Closed, &config, NOW, 0).state,
            QueueState::Closed
        );
        assert_eq!(
            forced(TestMode::Through, &config, NOW, 0).state,
            QueueState::Admitted
        );
    }

    #[test]
    fn the_page_comes_back_early_by_its_round_trip_only_at_the_very_front() {
        let config = RoomConfig::default();
        let told = |ahead: u64, next_poll_ms: u64| QueueStatus {
            next_poll_ms,
            ..forced(
                TestMode::Waiting {
                    position: ahead + 1,
                },
                &config,
                NOW,
                0,
            )
        };
        // At the front: early by the whole round trip when it is short...
        assert_eq!(page_wait_ms(&told(0, 1_000), 150), 850);
        // ...by at most half the wait, so one slow poll never makes the page hurry...
        assert_eq!(page_wait_ms(&told(0, 1_000), 800), 500);
        // ...by at most LEAD_MAX_MS, however long the wait...
        assert_eq!(page_wait_ms(&told(0, 30_000), 9_000), 28_000);
        // ...never under the floor, and as told before any round trip is known.
        assert_eq!(page_wait_ms(&told(0, 300), 150), POLL_FLOOR_MS);
        assert_eq!(page_wait_ms(&told(0, 0), 0), POLL_FLOOR_MS);
        assert_eq!(page_wait_ms(&told(0, 700), 0), 700);
        // Further back the page waits as told, whatever its round trip.
        assert_eq!(page_wait_ms(&told(1, 1_000), 150), 1_000);
        assert_eq!(page_wait_ms(&told(5_000, 10_000), 900), 10_000);
        let unknown = QueueStatus {
            ahead: None,
            ..told(0, 5_000)
        };
        assert_eq!(page_wait_ms(&unknown, 900), 5_000);
    }

    #[test]
    fn jitter_stays_within_fifteen_percent() {
        assert_eq!(jittered(10_000, 0), 8_500);
        assert_eq!(jittered(10_000, u16::MAX), 11_500);
    }

    #[test]
    fn no_eta_when_nobody_is_admitted() {
        let stopped = RoomConfig {
            new_users_per_minute: 0,
            ..RoomConfig::default()
        };
        assert_eq!(eta_s(&stopped, 10, None), None);
    }

    #[test]
    fn the_states_are_spelt_as_the_contract_says() {
        let json: Vec<String> = STATES
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        assert_eq!(
            json,
            [
                "\"waiting\"",
                "\"admitted\"",
                "\"paused\"",
                "\"closed\"",
                "\"prequeue\""
            ]
        );
    }

    proptest::proptest! {
        /// The hand-written JSON of a plain poll is serde's, byte for byte, and any status with
        /// more to tell is left to serde.
        #[test]
        fn a_plain_status_is_written_as_serde_writes_it(
            state in 0usize..5,
            position in proptest::option::of(proptest::prelude::any::<u64>()),
            ahead in proptest::option::of(proptest::prelude::any::<u64>()),
            eta_s in proptest::option::of(proptest::prelude::any::<[u64; 2]>()),
            next_poll_ms in proptest::prelude::any::<u64>(),
            opens_at in proptest::option::of(proptest::prelude::any::<u64>()),
            stale in proptest::bool::ANY,
            more in 0usize..5,
        ) {
            let mut status = QueueStatus {
                state: STATES[state],
                position,
                ahead,
                eta_s,
                next_poll_ms,
                opens_at: opens_at.map(UnixMs),
                stale,
                rejoined: None,
                work: None,
                slots_taken: None,
                readmitted: false,
            };
            match more {
                1 => status.rejoined = Some(Rejoined::Lapsed),
                2 => status.slots_taken = Some(SlotsTaken { next_release_at: None }),
                3 => status.readmitted = true,
                4 => {
                    status.work = Some(crate::work::Challenge {
                        salt: "00".into(),
                        target: "11".into(),
                        most: 1,
                        window: 2,
                        key: 1,
                    });
                }
                _ => {}
            }
            let serde = serde_json::to_string(&status).unwrap();
            match status.plain_json() {
                Some(plain) => proptest::prop_assert_eq!(plain, serde),
                None => proptest::prop_assert!(more != 0, "a plain status left to serde"),
            }
        }
    }
}
