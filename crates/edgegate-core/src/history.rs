//! The room's per-minute history, for the evening's write-up (`GET /admin/history`,
//! `edgegate report`).
//!
//! The room keeps only the minute in progress ([`Minute`]), adding the counts each sync and
//! advance already make; the coordinator writes that one row after each call (an upsert, so a
//! second's many syncs cost one row each) and keeps [`HISTORY_KEEP_MINUTES`] of them. A minute
//! ends when a call arrives in the next one; a minute in which no call arrived has no row.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::RoomConfig;
use crate::time::UnixMs;

/// Minutes kept: fourteen days, longer than any event's run-up, draw and sale together.
pub const HISTORY_KEEP_MINUTES: u64 = 14 * 24 * 60;
/// One minute, in milliseconds.
pub const MINUTE_MS: u64 = 60_000;

/// One minute of the room.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minute {
    /// When the minute began, in unix ms.
    pub minute: UnixMs,
    /// Places taken: holders who came back with their ticket for the first time.
    pub arrivals: u64,
    /// Citizens let through to the origin.
    pub let_through: u64,
    /// Citizens the cursor released (what `no_shows` is measured against).
    pub released: u64,
    /// The most passes alive at once, as the coordinator counted them.
    pub active: u64,
    /// The most places held that the cursor had not reached.
    pub waiting: u64,
    /// The rate in force at the end of the minute.
    pub rate_per_minute: u32,
    /// Paused at any time in the minute.
    pub paused: bool,
}

impl Minute {
    /// An empty minute, the one `now` falls in.
    pub fn at(now: UnixMs) -> Minute {
        Minute {
            minute: start_of_minute(now),
            ..Minute::default()
        }
    }

    /// The minute `now` falls in: this one, or a fresh one if `now` is past it. A clock that
    /// steps back a little (another machine's) keeps counting into this one.
    pub fn roll(self, now: UnixMs) -> Minute {
        if start_of_minute(now) > self.minute {
            Minute::at(now)
        } else {
            self
        }
    }

    /// Adds counts made at `now`, rolling into a new minute first if `now` is past this one.
    pub fn count(&mut self, now: UnixMs, arrivals: u64, let_through: u64, released: u64) {
        *self = self.roll(now);
        self.arrivals = self.arrivals.saturating_add(arrivals);
        self.let_through = self.let_through.saturating_add(let_through);
        self.released = self.released.saturating_add(released);
    }

    /// Notes the room as it stands at `now`: the peaks, the rate, whether it was paused.
    pub fn observe(&mut self, now: UnixMs, active: u64, waiting: u64, config: &RoomConfig) {
        *self = self.roll(now);
        self.active = self.active.max(active);
        self.waiting = self.waiting.max(waiting);
        self.rate_per_minute = config.new_users_per_minute;
        self.paused |= config.paused;
    }

    /// Released in this minute and not let through in it: an estimate of the no-shows, since a
    /// citizen released in a minute's last seconds may be let through early in the next. Over
    /// an evening the misplaced ones cancel out.
    pub fn no_shows(&self) -> u64 {
        self.released.saturating_sub(self.let_through)
    }

    /// The minute as `GET /admin/history` lists it (no_shows in place of released).
    pub fn report(&self) -> Value {
        json!({
            "minute": self.minute,
            "arrivals": self.arrivals,
            "let_through": self.let_through,
            "active": self.active,
            "waiting": self.waiting,
            "rate_per_minute": self.rate_per_minute,
            "paused": self.paused,
            "no_shows": self.no_shows(),
        })
    }
}

/// The start of the minute `now` falls in.
pub fn start_of_minute(now: UnixMs) -> UnixMs {
    UnixMs(now.0 - now.0 % MINUTE_MS)
}

/// The oldest minute still kept at `now`.
pub fn keep_from(now: UnixMs) -> UnixMs {
    start_of_minute(now).minus_ms(HISTORY_KEEP_MINUTES.saturating_mul(MINUTE_MS))
}

/// The CSV header `GET /admin/history?format=csv` starts with; [`csv_row`] follows it.
pub const CSV_HEADER: &str =
    "minute,arrivals,let_through,active,waiting,rate_per_minute,paused,no_shows";

/// One minute as a CSV line (without its line end), in [`CSV_HEADER`]'s order.
pub fn csv_row(m: &Minute) -> String {
    format!(
        "{},{},{},{},{},{},{},{}",
        m.minute.0,
        m.arrivals,
        m.let_through,
        m.active,
        m.waiting,
        m.rate_per_minute,
        m.paused,
        m.no_shows()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMs = UnixMs(1_700_000_080_000); // 40 s into a minute

    #[test]
    fn counts_add_up_within_a_minute_and_start_again_in_the_next() {
        let mut m = Minute::at(T0);
        assert_eq!(m.minute, UnixMs(1_700_000_040_000));
        m.count(T0, 3, 1, 2);
        m.count(T0.plus_ms(19_999), 2, 4, 5);
        assert_eq!((m.arrivals, m.let_through, m.released), (5, 5, 7));
        assert_eq!(m.no_shows(), 2);
        m.count(T0.plus_ms(20_000), 1, 0, 0);
        assert_eq!(m.minute, UnixMs(1_700_000_100_000));
        assert_eq!((m.arrivals, m.let_through, m.released), (1, 0, 0));
    }

    #[test]
    fn peaks_are_kept_the_rate_is_the_last_and_a_pause_sticks() {
        let mut m = Minute::at(T0);
        let paused = RoomConfig {
            paused: true,
            new_users_per_minute: 30,
            ..RoomConfig::default()
        };
        m.observe(T0, 7, 100, &paused);
        m.observe(T0.plus_ms(1_000), 3, 120, &RoomConfig::default());
        assert_eq!((m.active, m.waiting), (7, 120));
        assert_eq!(m.rate_per_minute, 60);
        assert!(m.paused);
        m.observe(T0.plus_ms(30_000), 1, 5, &RoomConfig::default());
        assert_eq!((m.active, m.waiting, m.paused), (1, 5, false));
    }

    #[test]
    fn a_clock_a_little_behind_counts_into_the_current_minute() {
        let mut m = Minute::at(T0);
        m.count(T0.minus_ms(45_000), 1, 0, 0);
        assert_eq!((m.minute, m.arrivals), (start_of_minute(T0), 1));
    }

    #[test]
    fn fourteen_days_are_kept_and_rows_print_in_header_order() {
        assert_eq!(start_of_minute(T0).since(keep_from(T0)), 20_160 * MINUTE_MS);
        let mut m = Minute::at(T0);
        m.count(T0, 4, 2, 3);
        assert_eq!(
            CSV_HEADER.split(',').count(),
            csv_row(&m).split(',').count()
        );
        assert_eq!(csv_row(&m), "1700000040000,4,2,0,0,0,false,1");
        let fields: Vec<String> = match m.report() {
            Value::Object(map) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let mut header: Vec<&str> = CSV_HEADER.split(',').collect();
        header.sort_unstable();
        assert_eq!(fields, header);
    }
}
