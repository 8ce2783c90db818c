//! The operator's controls for one room, validated at the boundary.
//!
//! Operator input arrives as JSON; [`ConfigPatch::from_json`] is the one place it becomes a
//! typed change, checked against each field's fixed bounds. [`RoomConfig::check`] adds the
//! one rule that depends on the room as it is (a burst of at most one second of the rate the
//! patch leaves in force), and [`RoomConfig::apply`] makes the change and cannot fail. Errors
//! name the field, so the admin API can answer `400` saying which.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time::UnixMs;

/// The admission policy of one room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomConfig {
    /// Citizens let through to the origin, per minute. In every 1-second window at most
    /// `⌊rate/60⌋ + 1 + burst` get through (see `limiter`). `0` admits nobody.
    pub new_users_per_minute: u32,
    /// Upper bound on passes alive at once ("total active users").
    pub max_active: u32,
    /// How long a pass lasts without being renewed, in seconds.
    pub session_duration_s: u32,
    /// Frozen by the operator: nobody new is admitted, every place is kept.
    pub paused: bool,
    /// Closed: nobody new is admitted and the page asks citizens to come back later.
    pub closed: bool,
    /// Scheduled opening. Before it, arrivals enter the pre-queue lottery and nobody is admitted.
    pub opens_at: Option<UnixMs>,
    /// Honour operator-minted test keys (see README, "Testing through the gate"). Off by default.
    #[serde(default)]
    pub test_mode: bool,
    /// When the current (or last) pre-queue began: the moment an opening was scheduled while
    /// none was pending. Lottery tickets are ordered from it (see [`OrderKey::lottery`]). Kept
    /// by the coordinator, not set by the operator.
    ///
    /// [`OrderKey::lottery`]: crate::OrderKey::lottery
    #[serde(default)]
    pub prequeue_since: Option<UnixMs>,
    /// Extra citizens, beyond the steady rate, that may be let through at once after a quiet
    /// spell. `0` (the default) means none: the rate alone. The operator may set at most one
    /// second of the rate ([`RoomConfig::check`]); the burst in force is
    /// [`RoomConfig::effective_burst`], which also clamps a burst left above one second by a
    /// later lowering of the rate.
    #[serde(default)]
    pub burst: u32,
    /// How long a citizen's place is kept without a visit, in seconds; after that a returning
    /// holder is a new arrival.
    #[serde(default = "default_place_grace_s")]
    pub place_grace_s: u32,
    /// What the waiting page says, in each language, while the room is closed; the page's own
    /// words when unset.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub close_message: Option<Notice>,
    /// The longest a session lasts, renewals and all, in seconds: a pass never outlives it.
    #[serde(default = "default_session_max_s")]
    pub session_max_s: u32,
    /// Places one IPv6 /64 may hold at once without work.
    #[serde(default = "default_budget_v6")]
    pub budget_v6: u32,
    /// Places one IPv4 address may hold at once without work (carrier NAT puts many phones
    /// behind one: beyond it a place costs work, never a refusal).
    #[serde(default = "default_budget_v4")]
    pub budget_v4: u32,
    /// Every new place costs work, whatever its network (for a night the operator expects
    /// scripts).
    #[serde(default)]
    pub work_for_all: bool,
    /// The rate follows the origin's health, as the edges measure it on forwarded requests,
    /// between a floor and a ceiling the operator sets (`autopilot`). `None`: the operator's
    /// rate alone.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub autopilot: Option<Autopilot>,
    /// Bookings the origin can still take, as last said by the operator or by the origin
    /// itself (a `Gate-Slots` header on a forwarded answer), whichever spoke last. `None`: not
    /// known, and nobody is told the slots are taken. With it the cursor releases only those
    /// the slots can serve (`Room::slots_left`), and everyone beyond is told so instead of an
    /// ETA.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub slots_remaining: Option<u64>,
    /// When the next slots are released, for those told the slots are taken (the operator's).
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub next_release_at: Option<UnixMs>,
}

/// The operator's terms for the autopilot: the rate it may choose, in citizens per minute, and
/// what counts as a healthy origin. The ceiling is the hard limit: the rate never passes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Autopilot {
    pub floor_per_minute: u32,
    pub ceiling_per_minute: u32,
    /// The 95th percentile of forwarded requests' latency the origin should stay under.
    pub target_p95_ms: u32,
    /// The share of forwarded requests, per mille, that may fail (5xx, unreachable or timed
    /// out) before the origin counts as overloaded.
    pub max_errors_per_mille: u32,
}

/// What the autopilot's health target is when the operator names only the rates: a p95 of a
/// second and 1 % failed.
pub const DEFAULT_TARGET_P95_MS: u32 = 1_000;
pub const DEFAULT_MAX_ERRORS_PER_MILLE: u32 = 10;
/// Bounds on the autopilot's health target (inclusive).
pub const TARGET_P95_MS: (u32, u32) = (25, 60_000);
pub const MAX_ERRORS_PER_MILLE: (u32, u32) = (1, 500);
/// Bounds on the slots an operator or an origin may say remain.
pub const SLOTS_REMAINING: (u32, u32) = (0, 1_000_000_000);

/// An operator's message to the citizens, in Korean and English. Either may be empty; the page
/// shows the other then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub ko: String,
    pub en: String,
}

/// The longest a message may be in each language, in characters: a few sentences on a phone.
pub const NOTICE_MAX_CHARS: usize = 300;

/// What `place_grace_s` is when the operator has not set it: five minutes.
pub const DEFAULT_PLACE_GRACE_S: u32 = 300;

fn default_place_grace_s() -> u32 {
    DEFAULT_PLACE_GRACE_S
}

/// What `session_max_s` is when unset: an hour.
pub const DEFAULT_SESSION_MAX_S: u32 = 3_600;
/// Places a network holds without work when the operator has not said: four per IPv6 /64 (a
/// household's devices), sixteen per IPv4 address (a household, or a carrier's shared one).
pub const DEFAULT_BUDGET_V6: u32 = 4;
pub const DEFAULT_BUDGET_V4: u32 = 16;

fn default_session_max_s() -> u32 {
    DEFAULT_SESSION_MAX_S
}

fn default_budget_v6() -> u32 {
    DEFAULT_BUDGET_V6
}

fn default_budget_v4() -> u32 {
    DEFAULT_BUDGET_V4
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            new_users_per_minute: 60,
            max_active: 500,
            session_duration_s: 300,
            paused: false,
            closed: false,
            opens_at: None,
            test_mode: false,
            prequeue_since: None,
            burst: 0,
            place_grace_s: DEFAULT_PLACE_GRACE_S,
            close_message: None,
            session_max_s: DEFAULT_SESSION_MAX_S,
            budget_v6: DEFAULT_BUDGET_V6,
            budget_v4: DEFAULT_BUDGET_V4,
            work_for_all: false,
            autopilot: None,
            slots_remaining: None,
            next_release_at: None,
        }
    }
}

/// Bounds on the operator's numbers (inclusive).
pub const NEW_USERS_PER_MINUTE: (u32, u32) = (0, 1_000_000);
pub const MAX_ACTIVE: (u32, u32) = (1, 10_000_000);
pub const SESSION_DURATION_S: (u32, u32) = (30, 86_400);
/// The burst's fixed bounds: up to one second of the highest rate (⌊1,000,000 / 60⌋). The
/// bound that matters, one second of the room's own rate, is checked by [`RoomConfig::check`].
pub const BURST: (u32, u32) = (0, NEW_USERS_PER_MINUTE.1 / 60);
pub const PLACE_GRACE_S: (u32, u32) = (30, 86_400);
pub const SESSION_MAX_S: (u32, u32) = (60, 7 * 86_400);
pub const BUDGET: (u32, u32) = (1, 1_000_000);

/// A change to some fields of a [`RoomConfig`]; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigPatch {
    pub new_users_per_minute: Option<u32>,
    pub max_active: Option<u32>,
    pub session_duration_s: Option<u32>,
    pub paused: Option<bool>,
    pub closed: Option<bool>,
    /// `Some(None)` clears the schedule.
    pub opens_at: Option<Option<UnixMs>>,
    pub test_mode: Option<bool>,
    pub burst: Option<u32>,
    pub place_grace_s: Option<u32>,
    /// `Some(None)` clears the message.
    pub close_message: Option<Option<Notice>>,
    pub session_max_s: Option<u32>,
    pub budget_v6: Option<u32>,
    pub budget_v4: Option<u32>,
    pub work_for_all: Option<bool>,
    /// `Some(None)` turns the autopilot off (the rate stays where it was).
    pub autopilot: Option<Option<Autopilot>>,
    /// `Some(None)`: the slots are not known (nobody is told they are taken).
    pub slots_remaining: Option<Option<u64>>,
    /// `Some(None)` clears it.
    pub next_release_at: Option<Option<UnixMs>>,
}

/// A refused change: which field, and why, in words an operator can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn refuse(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

impl ConfigPatch {
    /// Parses an admin request body. Unknown fields, wrong types and values outside a field's
    /// fixed bounds are refused by name. Whether a `burst` fits the room's rate is for
    /// [`RoomConfig::check`], which knows the rate.
    pub fn from_json(body: &str) -> Result<ConfigPatch, ConfigError> {
        let value: Value =
            serde_json::from_str(body).map_err(|_| refuse("body", "is not valid JSON"))?;
        let Value::Object(map) = value else {
            return Err(refuse("body", "must be a JSON object"));
        };
        let mut patch = ConfigPatch::default();
        for (field, value) in &map {
            match field.as_str() {
                "new_users_per_minute" => {
                    patch.new_users_per_minute = Some(whole(field, value, NEW_USERS_PER_MINUTE)?)
                }
                "max_active" => patch.max_active = Some(whole(field, value, MAX_ACTIVE)?),
                "session_duration_s" => {
                    patch.session_duration_s = Some(whole(field, value, SESSION_DURATION_S)?)
                }
                "paused" => patch.paused = Some(flag(field, value)?),
                "closed" => patch.closed = Some(flag(field, value)?),
                "opens_at" => patch.opens_at = Some(instant(field, value)?),
                "test_mode" => patch.test_mode = Some(flag(field, value)?),
                "burst" => patch.burst = Some(whole(field, value, BURST)?),
                "place_grace_s" => patch.place_grace_s = Some(whole(field, value, PLACE_GRACE_S)?),
                "close_message" => patch.close_message = Some(notice(field, value)?),
                "session_max_s" => patch.session_max_s = Some(whole(field, value, SESSION_MAX_S)?),
                "budget_v6" => patch.budget_v6 = Some(whole(field, value, BUDGET)?),
                "budget_v4" => patch.budget_v4 = Some(whole(field, value, BUDGET)?),
                "work_for_all" => patch.work_for_all = Some(flag(field, value)?),
                "autopilot" => patch.autopilot = Some(autopilot(field, value)?),
                "slots_remaining" => {
                    patch.slots_remaining = Some(if value.is_null() {
                        None
                    } else {
                        Some(u64::from(whole(field, value, SLOTS_REMAINING)?))
                    })
                }
                "next_release_at" => patch.next_release_at = Some(instant(field, value)?),
                other => return Err(refuse(other, "is not a setting")),
            }
        }
        Ok(patch)
    }

    pub fn is_empty(&self) -> bool {
        *self == ConfigPatch::default()
    }
}

fn whole(field: &str, value: &Value, (low, high): (u32, u32)) -> Result<u32, ConfigError> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (low..=high).contains(n))
        .ok_or_else(|| {
            refuse(
                field,
                format!("must be a whole number from {low} to {high}"),
            )
        })
}

fn flag(field: &str, value: &Value) -> Result<bool, ConfigError> {
    value
        .as_bool()
        .ok_or_else(|| refuse(field, "must be true or false"))
}

/// `{"ko": "…", "en": "…"}` (either may be missing or empty, not both), or `null` to clear.
/// Plain text only: no control characters but line breaks, at most [`NOTICE_MAX_CHARS`] each.
fn notice(field: &str, value: &Value) -> Result<Option<Notice>, ConfigError> {
    if value.is_null() {
        return Ok(None);
    }
    let Value::Object(map) = value else {
        return Err(refuse(field, r#"must be {"ko": "…", "en": "…"}, or null"#));
    };
    if let Some(other) = map.keys().find(|k| *k != "ko" && *k != "en") {
        return Err(refuse(
            field,
            format!("has no language {other:?}: only ko and en"),
        ));
    }
    let text = |lang: &str| -> Result<String, ConfigError> {
        let text = match map.get(lang) {
            None | Some(Value::Null) => "",
            Some(Value::String(t)) => t.trim(),
            Some(_) => return Err(refuse(field, format!("{lang} must be text"))),
        };
        if text.chars().count() > NOTICE_MAX_CHARS {
            return Err(refuse(
                field,
                format!("{lang} is longer than {NOTICE_MAX_CHARS} characters"),
            ));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(refuse(
                field,
                format!("{lang} may hold no control characters"),
            ));
        }
        Ok(text.to_owned())
    };
    let (ko, en) = (text("ko")?, text("en")?);
    if ko.is_empty() && en.is_empty() {
        return Err(refuse(field, "needs text in ko or en (null clears it)"));
    }
    Ok(Some(Notice { ko, en }))
}

/// `{"floor_per_minute": n, "ceiling_per_minute": n, "target_p95_ms": n,
/// "max_errors_per_mille": n}` (the last two optional), or `null` to turn it off. The floor
/// is at least one citizen a minute and at most the ceiling.
fn autopilot(field: &str, value: &Value) -> Result<Option<Autopilot>, ConfigError> {
    if value.is_null() {
        return Ok(None);
    }
    let Value::Object(map) = value else {
        return Err(refuse(
            field,
            r#"must be {"floor_per_minute": …, "ceiling_per_minute": …}, or null"#,
        ));
    };
    const NAMES: [&str; 4] = [
        "floor_per_minute",
        "ceiling_per_minute",
        "target_p95_ms",
        "max_errors_per_mille",
    ];
    if let Some(other) = map.keys().find(|k| !NAMES.contains(&k.as_str())) {
        return Err(refuse(&format!("{field}.{other}"), "is not a setting"));
    }
    let number = |name: &str, bounds: (u32, u32), default: Option<u32>| {
        let path = format!("{field}.{name}");
        match (map.get(name), default) {
            (None | Some(Value::Null), Some(d)) => Ok(d),
            (None | Some(Value::Null), None) => Err(refuse(&path, "is needed")),
            (Some(v), _) => whole(&path, v, bounds),
        }
    };
    let floor = number("floor_per_minute", (1, NEW_USERS_PER_MINUTE.1), None)?;
    let ceiling = number("ceiling_per_minute", (1, NEW_USERS_PER_MINUTE.1), None)?;
    if floor > ceiling {
        return Err(refuse(
            &format!("{field}.floor_per_minute"),
            format!("must be at most the ceiling ({ceiling})"),
        ));
    }
    Ok(Some(Autopilot {
        floor_per_minute: floor,
        ceiling_per_minute: ceiling,
        target_p95_ms: number("target_p95_ms", TARGET_P95_MS, Some(DEFAULT_TARGET_P95_MS))?,
        max_errors_per_mille: number(
            "max_errors_per_mille",
            MAX_ERRORS_PER_MILLE,
            Some(DEFAULT_MAX_ERRORS_PER_MILLE),
        )?,
    }))
}

fn instant(field: &str, value: &Value) -> Result<Option<UnixMs>, ConfigError> {
    if value.is_null() {
        return Ok(None);
    }
    value
        .as_u64()
        .filter(|ms| *ms > 0)
        .map(|ms| Some(UnixMs(ms)))
        .ok_or_else(|| refuse(field, "must be a time in unix milliseconds, or null"))
}

impl RoomConfig {
    /// Refuses a patch that sets `burst` above one second of the rate it leaves in force
    /// (`⌊new_users_per_minute / 60⌋`, after the patch), naming `burst`. A patch that only
    /// lowers the rate is never refused for the burst already stored: lowering the rate must
    /// always work, and [`RoomConfig::effective_burst`] clamps the stored burst to the new
    /// rate. Call it before [`RoomConfig::apply`] on operator input ([`RoomConfig::try_apply`]
    /// does both).
    pub fn check(&self, patch: &ConfigPatch) -> Result<(), ConfigError> {
        let pilot = patch.autopilot.unwrap_or(self.autopilot);
        if let (Some(p), Some(rate)) = (pilot, patch.new_users_per_minute) {
            if !(p.floor_per_minute..=p.ceiling_per_minute).contains(&rate) {
                return Err(refuse(
                    "new_users_per_minute",
                    format!(
                        "must be between the autopilot's floor and ceiling ({} to {}) while it is on",
                        p.floor_per_minute, p.ceiling_per_minute
                    ),
                ));
            }
        }
        let Some(burst) = patch.burst else {
            return Ok(());
        };
        let rate = self.apply(patch, UnixMs(0)).new_users_per_minute;
        let most = one_second_of(rate);
        if burst > most {
            return Err(refuse(
                "burst",
                format!(
                    "must be at most one second of the rate: {most} at {rate} new users per minute"
                ),
            ));
        }
        Ok(())
    }

    /// [`RoomConfig::check`], then [`RoomConfig::apply`].
    pub fn try_apply(&self, patch: &ConfigPatch, now: UnixMs) -> Result<RoomConfig, ConfigError> {
        self.check(patch)?;
        Ok(self.apply(patch, now))
    }

    /// The burst in force: the stored `burst`, at most one second of the current rate
    /// (`⌊new_users_per_minute / 60⌋`, so `0` below 60 per minute and at a rate of zero).
    pub fn effective_burst(&self) -> u32 {
        self.burst.min(one_second_of(self.new_users_per_minute))
    }

    /// This config with `patch` applied at `now`. Never fails: values were range-checked when
    /// the patch was parsed, and a burst above one second of the rate is clamped where it is
    /// used ([`RoomConfig::effective_burst`]; [`RoomConfig::check`] refuses it up front).
    /// Scheduling an opening while none is pending starts a new pre-queue at `now`; moving a
    /// pending opening keeps the pre-queue that is already gathering.
    pub fn apply(&self, patch: &ConfigPatch, now: UnixMs) -> RoomConfig {
        let autopilot = patch.autopilot.unwrap_or(self.autopilot);
        // The autopilot's ceiling is a hard limit and its floor a promise: turned on (or moved),
        // it takes the rate into its range.
        let rate = patch
            .new_users_per_minute
            .unwrap_or(self.new_users_per_minute);
        let rate = autopilot.map_or(rate, |p| {
            rate.max(p.floor_per_minute).min(p.ceiling_per_minute)
        });
        let opens_at = patch.opens_at.unwrap_or(self.opens_at);
        let prequeue_since = match opens_at {
            Some(t) if now < t && self.before_opening(now) => self.prequeue_since.or(Some(now)),
            Some(t) if now < t => Some(now),
            _ => self.prequeue_since,
        };
        RoomConfig {
            new_users_per_minute: rate,
            max_active: patch.max_active.unwrap_or(self.max_active),
            session_duration_s: patch.session_duration_s.unwrap_or(self.session_duration_s),
            paused: patch.paused.unwrap_or(self.paused),
            closed: patch.closed.unwrap_or(self.closed),
            opens_at,
            test_mode: patch.test_mode.unwrap_or(self.test_mode),
            prequeue_since,
            burst: patch.burst.unwrap_or(self.burst),
            place_grace_s: patch.place_grace_s.unwrap_or(self.place_grace_s),
            close_message: patch
                .close_message
                .clone()
                .unwrap_or_else(|| self.close_message.clone()),
            session_max_s: patch.session_max_s.unwrap_or(self.session_max_s),
            budget_v6: patch.budget_v6.unwrap_or(self.budget_v6),
            budget_v4: patch.budget_v4.unwrap_or(self.budget_v4),
            work_for_all: patch.work_for_all.unwrap_or(self.work_for_all),
            autopilot,
            slots_remaining: patch.slots_remaining.unwrap_or(self.slots_remaining),
            next_release_at: patch.next_release_at.unwrap_or(self.next_release_at),
        }
    }

    /// Is the room frozen at `now`: paused, closed, or before its opening? Nobody is released or
    /// let through while it is.
    pub fn frozen(&self, now: UnixMs) -> bool {
        self.paused || self.closed || self.before_opening(now)
    }

    /// Is `now` before the scheduled opening?
    pub fn before_opening(&self, now: UnixMs) -> bool {
        self.opens_at.is_some_and(|t| now < t)
    }

    pub fn session_duration_ms(&self) -> u64 {
        u64::from(self.session_duration_s) * 1000
    }

    /// The longest a session lasts, renewals and all, in milliseconds: `session_max_s`, and at
    /// least one session.
    pub fn session_max_ms(&self) -> u64 {
        u64::from(self.session_max_s.max(self.session_duration_s)) * 1000
    }

    /// Places `network` may hold at once without work.
    pub fn budget(&self, network: crate::network::NetTag) -> u32 {
        if network.is_v4() {
            self.budget_v4
        } else {
            self.budget_v6
        }
    }
}

/// One second of a rate in citizens per minute, rounded down.
fn one_second_of(per_minute: u32) -> u32 {
    per_minute / 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_message_is_plain_bounded_text_in_two_languages() {
        let set = |json: &str| ConfigPatch::from_json(json).map(|p| p.close_message);
        assert_eq!(
            set(r#"{"close_message": {"ko": " 내일 9시에 다시 엽니다 ", "en": ""}}"#),
            Ok(Some(Some(Notice {
                ko: "내일 9시에 다시 엽니다".into(),
                en: String::new()
            })))
        );
        assert_eq!(set(r#"{"close_message": null}"#), Ok(Some(None)));
        for bad in [
            r#"{"close_message": "closed"}"#,
            r#"{"close_message": {"ko": "", "en": " "}}"#,
            r#"{"close_message": {"ja": "x"}}"#,
            r#"{"close_message": {"ko": 5}}"#,
            "{\"close_message\": {\"en\": \"a\\u0007b\"}}",
        ] {
            assert_eq!(set(bad).unwrap_err().field, "close_message", "{bad}");
        }
        let long = format!(r#"{{"close_message": {{"en": "{}"}}}}"#, "x".repeat(301));
        assert!(set(&long).is_err());
        // Kept across other changes, cleared by null.
        let closed = RoomConfig::default().apply(
            &ConfigPatch::from_json(r#"{"closed": true, "close_message": {"en": "Back at 9"}}"#)
                .unwrap(),
            UnixMs(1),
        );
        let later = closed.apply(
            &ConfigPatch::from_json(r#"{"closed": false}"#).unwrap(),
            UnixMs(2),
        );
        assert_eq!(later.close_message, closed.close_message);
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let patch =
            ConfigPatch::from_json(r#"{"new_users_per_minute": 600, "opens_at": 5}"#).unwrap();
        let next = RoomConfig::default().apply(&patch, UnixMs(1));
        assert_eq!(next.new_users_per_minute, 600);
        assert_eq!(next.opens_at, Some(UnixMs(5)));
        assert_eq!(next.max_active, RoomConfig::default().max_active);
        let cleared = next.apply(
            &ConfigPatch::from_json(r#"{"opens_at": null}"#).unwrap(),
            UnixMs(2),
        );
        assert_eq!(cleared.opens_at, None);
    }

    #[test]
    fn a_pre_queue_begins_when_an_opening_is_scheduled_and_survives_a_move() {
        let at = |json: &str| ConfigPatch::from_json(json).unwrap();
        let first = RoomConfig::default().apply(&at(r#"{"opens_at": 10000}"#), UnixMs(1000));
        assert_eq!(first.prequeue_since, Some(UnixMs(1000)));
        // Moving the opening, later or earlier, keeps the pre-queue already gathering.
        let moved = first.apply(&at(r#"{"opens_at": 20000}"#), UnixMs(5000));
        assert_eq!(moved.prequeue_since, Some(UnixMs(1000)));
        let earlier = moved.apply(&at(r#"{"opens_at": 6000}"#), UnixMs(5500));
        assert_eq!(earlier.prequeue_since, Some(UnixMs(1000)));
        // Other changes leave it alone; a new opening after the last one starts a new pre-queue.
        let rate = earlier.apply(&at(r#"{"new_users_per_minute": 5}"#), UnixMs(5600));
        assert_eq!(rate.prequeue_since, Some(UnixMs(1000)));
        let next = rate.apply(&at(r#"{"opens_at": 90000}"#), UnixMs(7000));
        assert_eq!(next.prequeue_since, Some(UnixMs(7000)));
        // Operators cannot set it.
        assert_eq!(
            ConfigPatch::from_json(r#"{"prequeue_since": 1}"#)
                .unwrap_err()
                .field,
            "prequeue_since"
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases = [
            (r#"{"max_active": 0}"#, "max_active"),
            (r#"{"max_active": -3}"#, "max_active"),
            (
                r#"{"new_users_per_minute": "fast"}"#,
                "new_users_per_minute",
            ),
            (r#"{"new_users_per_minute": 1.5}"#, "new_users_per_minute"),
            (r#"{"session_duration_s": 5}"#, "session_duration_s"),
            (r#"{"paused": "yes"}"#, "paused"),
            (r#"{"opens_at": "tomorrow"}"#, "opens_at"),
            (r#"{"colour": "red"}"#, "colour"),
            (r#"{"burst": -1}"#, "burst"),
            (r#"{"burst": 16667}"#, "burst"),
            (r#"{"burst": true}"#, "burst"),
            (r#"{"place_grace_s": 29}"#, "place_grace_s"),
            (r#"{"place_grace_s": 86401}"#, "place_grace_s"),
            (r#"{"place_grace_s": null}"#, "place_grace_s"),
            (r#"[1, 2]"#, "body"),
            (r#"{"#, "body"),
        ];
        for (body, field) in cases {
            assert_eq!(
                ConfigPatch::from_json(body).unwrap_err().field,
                field,
                "{body}"
            );
        }
    }

    #[test]
    fn a_burst_above_one_second_of_the_rate_is_refused_by_name() {
        let room = RoomConfig {
            new_users_per_minute: 600,
            ..RoomConfig::default()
        };
        let patch = |json: &str| ConfigPatch::from_json(json).unwrap();
        // One second of 600/min is 10.
        assert!(room.check(&patch(r#"{"burst": 10}"#)).is_ok());
        let refused = room.check(&patch(r#"{"burst": 11}"#)).unwrap_err();
        assert_eq!(refused.field, "burst");
        assert!(refused.reason.contains("at most one second"), "{refused}");
        // Judged against the rate the patch leaves in force, not the old one.
        assert!(room
            .check(&patch(r#"{"burst": 20, "new_users_per_minute": 1200}"#))
            .is_ok());
        assert_eq!(
            room.try_apply(
                &patch(r#"{"burst": 5, "new_users_per_minute": 120}"#),
                UnixMs(1)
            )
            .unwrap_err()
            .field,
            "burst"
        );
        // Below 60 per minute one second is less than one citizen: no burst at all.
        let slow = RoomConfig {
            new_users_per_minute: 59,
            ..RoomConfig::default()
        };
        assert_eq!(
            slow.check(&patch(r#"{"burst": 1}"#)).unwrap_err().field,
            "burst"
        );
        assert!(slow.check(&patch(r#"{"burst": 0}"#)).is_ok());
    }

    #[test]
    fn lowering_the_rate_is_never_refused_and_clamps_the_burst_in_force() {
        let room = RoomConfig::default()
            .try_apply(
                &ConfigPatch::from_json(r#"{"new_users_per_minute": 6000, "burst": 100}"#).unwrap(),
                UnixMs(1),
            )
            .unwrap();
        assert_eq!(room.effective_burst(), 100);
        let lower = ConfigPatch::from_json(r#"{"new_users_per_minute": 600}"#).unwrap();
        let slower = room.try_apply(&lower, UnixMs(2)).unwrap();
        // The operator's setting is kept; what is in force is one second of the new rate.
        assert_eq!((slower.burst, slower.effective_burst()), (100, 10));
        let stopped = slower.apply(
            &ConfigPatch::from_json(r#"{"new_users_per_minute": 0}"#).unwrap(),
            UnixMs(3),
        );
        assert_eq!(stopped.effective_burst(), 0);
        // Raising the rate again restores it.
        let again = stopped.apply(
            &ConfigPatch::from_json(r#"{"new_users_per_minute": 6000}"#).unwrap(),
            UnixMs(4),
        );
        assert_eq!(again.effective_burst(), 100);
    }

    #[test]
    fn stored_configs_from_before_burst_and_grace_still_parse_with_the_defaults() {
        let old = r#"{"new_users_per_minute": 60, "max_active": 500, "session_duration_s": 300,
                      "paused": false, "closed": false, "opens_at": null}"#;
        let config: RoomConfig = serde_json::from_str(old).unwrap();
        assert_eq!(
            (config.burst, config.place_grace_s),
            (0, DEFAULT_PLACE_GRACE_S)
        );
        assert_eq!(config, RoomConfig::default());
        let patched = config.apply(
            &ConfigPatch::from_json(r#"{"place_grace_s": 30}"#).unwrap(),
            UnixMs(1),
        );
        assert_eq!(patched.place_grace_s, 30);
    }

    #[test]
    fn frozen_means_paused_closed_or_before_the_opening() {
        let now = UnixMs(10_000);
        assert!(!RoomConfig::default().frozen(now));
        for config in [
            RoomConfig {
                paused: true,
                ..RoomConfig::default()
            },
            RoomConfig {
                closed: true,
                ..RoomConfig::default()
            },
            RoomConfig {
                opens_at: Some(UnixMs(10_001)),
                ..RoomConfig::default()
            },
        ] {
            assert!(config.frozen(now), "{config:?}");
        }
        let opened = RoomConfig {
            opens_at: Some(now),
            ..RoomConfig::default()
        };
        assert!(!opened.frozen(now));
    }

    #[test]
    fn the_autopilot_takes_the_rate_into_its_range_and_holds_it_there() {
        let now = UnixMs(1_700_000_000_000);
        let parse = |json: &str| ConfigPatch::from_json(json);
        let on = parse(r#"{"autopilot": {"floor_per_minute": 600, "ceiling_per_minute": 3000}}"#)
            .unwrap();
        let p = on.autopilot.flatten().unwrap();
        assert_eq!((p.target_p95_ms, p.max_errors_per_mille), (1_000, 10));
        // Turned on at 60 a minute, the rate starts at the floor; a rate outside the range
        // is refused while it is on, naming the field; the ceiling moved below the rate
        // takes the rate down with it.
        let config = RoomConfig::default().try_apply(&on, now).unwrap();
        assert_eq!(config.new_users_per_minute, 600);
        let outside = parse(r#"{"new_users_per_minute": 4000}"#).unwrap();
        assert_eq!(
            config.try_apply(&outside, now).unwrap_err().field,
            "new_users_per_minute"
        );
        let lower =
            parse(r#"{"autopilot": {"floor_per_minute": 60, "ceiling_per_minute": 300}}"#).unwrap();
        assert_eq!(
            config.try_apply(&lower, now).unwrap().new_users_per_minute,
            300
        );
        // Off: the rate stays where it was, and any rate goes again.
        let off = config
            .try_apply(&parse(r#"{"autopilot": null}"#).unwrap(), now)
            .unwrap();
        assert_eq!((off.autopilot, off.new_users_per_minute), (None, 600));
        assert!(off.try_apply(&outside, now).is_ok());
        // Bad terms are refused by name.
        for (json, field) in [
            (r#"{"autopilot": 5}"#, "autopilot"),
            (
                r#"{"autopilot": {"ceiling_per_minute": 30}}"#,
                "autopilot.floor_per_minute",
            ),
            (
                r#"{"autopilot": {"floor_per_minute": 90, "ceiling_per_minute": 30}}"#,
                "autopilot.floor_per_minute",
            ),
            (
                r#"{"autopilot": {"floor_per_minute": 0, "ceiling_per_minute": 30}}"#,
                "autopilot.floor_per_minute",
            ),
            (
                r#"{"autopilot": {"floor_per_minute": 1, "ceiling_per_minute": 30, "target_p95_ms": 1}}"#,
                "autopilot.target_p95_ms",
            ),
            (
                r#"{"autopilot": {"floor_per_minute": 1, "ceiling_per_minute": 30, "max_errors_per_mille": 900}}"#,
                "autopilot.max_errors_per_mille",
            ),
            (
                r#"{"autopilot": {"floor_per_minute": 1, "ceiling_per_minute": 30, "speed": 2}}"#,
                "autopilot.speed",
            ),
        ] {
            assert_eq!(parse(json).unwrap_err().field, field, "{json}");
        }
        // A stored config from before the autopilot reads as off.
        let stored = serde_json::to_string(&RoomConfig::default()).unwrap();
        assert!(!stored.contains("autopilot"));
        let back: RoomConfig = serde_json::from_str(&stored).unwrap();
        assert_eq!(back.autopilot, None);
    }
}
