//! A scenario: the data a run is made of (`scenarios/*.json`). Every field is required unless
//! marked, so a scenario file says everything about the night it simulates.

use serde::{Deserialize, Serialize};

/// One simulated night.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Seeds every random draw: the same scenario and seed give the same run.
    pub seed: u64,
    /// Unix ms of the opening moment ("midnight"); arrival seconds count from it.
    pub midnight_ms: u64,
    /// Edge locations; demand over them follows Zipf's law with `zipf_exponent`.
    pub locations: u32,
    pub zipf_exponent: f64,
    /// How many edge isolates each location runs: they start as the load comes.
    pub isolates: Isolates,
    pub arrivals: Vec<Segment>,
    pub room: RoomSettings,
    pub timing: TimingSettings,
    /// Between a location's aggregator and the room coordinator (across the world).
    pub network: Network,
    /// Between an isolate and its location's aggregator (inside one location).
    pub location_network: Network,
    /// Each isolate's and each aggregator's clock is off the true time by a fixed amount drawn
    /// in `±skew_ms`.
    pub skew_ms: u64,
    pub crowd: Crowd,
    /// Times the room coordinator is out of reach: every aggregator's sync in the window fails.
    #[serde(default)]
    pub outages: Vec<Outage>,
    /// Times one location's aggregator is out of reach: every sync of its isolates fails.
    #[serde(default)]
    pub location_outages: Vec<LocationOutage>,
    /// The run stops here even if someone is still waiting, in seconds after midnight.
    pub max_sim_s: u64,
    /// Citizens (per mille) whose every ETA is kept, for the every-poll honesty figure.
    #[serde(default)]
    pub trace_per_mille: u32,
    /// Let-through citizens sampled for Kendall's τ (quadratic in this).
    pub tau_sample: usize,
    /// The booking backend behind the gate. Absent: an origin that answers every request at
    /// once and never fails, as the scenarios before it assumed.
    #[serde(default)]
    pub origin: Option<OriginModel>,
}

/// The origin: a capacity the gate does not know, latency that grows with load, `503` beyond
/// the capacity, and a capacity that may change during the run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginModel {
    /// Requests it serves in any second; a request that finds that many served in the
    /// second before it is answered `503` at once.
    pub capacity_per_s: u32,
    /// How long a request takes on an idle origin, ms. With `n` served in the second before,
    /// it takes `base × capacity / (capacity − n)`: a queue that grows as the load nears the
    /// capacity.
    pub base_latency_ms: u64,
    /// The gate gives up on a request after this long (and counts it timed out), ms.
    #[serde(default = "default_origin_timeout_ms")]
    pub timeout_ms: u64,
    /// Requests each citizen let through makes: the first as it is let through, then one
    /// every `think_ms` (uniform); the last one ends the session, if it ends
    /// (`crowd.ends_session_per_mille`). Replaces `crowd.session_ms`.
    pub requests_per_citizen: u32,
    pub think_ms: [u64; 2],
    /// `Retry-After` seconds sent with every `503` (`0`: none).
    #[serde(default)]
    pub retry_after_s: u64,
    /// The capacity from these seconds after midnight on.
    #[serde(default)]
    pub changes: Vec<CapacityChange>,
}

fn default_origin_timeout_ms() -> u64 {
    10_000
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityChange {
    pub at_s: u64,
    pub capacity_per_s: u32,
}

impl OriginModel {
    /// The capacity at `second` after midnight (negative before it).
    pub fn capacity_at(&self, second: i64) -> u32 {
        self.changes
            .iter()
            .filter(|c| i64::try_from(c.at_s).is_ok_and(|at| at <= second))
            .max_by_key(|c| c.at_s)
            .map_or(self.capacity_per_s, |c| c.capacity_per_s)
    }
}

/// Edge isolates per location. The platform starts isolates as a location's load grows: here
/// a location runs one more isolate for every `requests_per_isolate` requests (fetches and
/// polls) it gets in one second, between `min_per_location` and `max_per_location`. Isolates
/// are never retired during a run (a busy night keeps them warm), so the count at the end is
/// the peak.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Isolates {
    pub min_per_location: u32,
    pub max_per_location: u32,
    pub requests_per_isolate: u64,
}

/// `count` arrivals spread over the seconds `from_s..to_s` after midnight, each within the
/// first `spread_ms` of its second (a crowd refreshing at the top of the second).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub from_s: u64,
    pub to_s: u64,
    pub count: u64,
    pub spread_ms: u64,
}

/// The operator's settings for the room, as `PUT /admin/config` takes them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomSettings {
    pub new_users_per_minute: u32,
    pub max_active: u32,
    pub session_duration_s: u32,
    pub burst: u32,
    pub place_grace_s: u32,
    /// The autopilot's terms, as `PUT /admin/config` takes them; absent: off.
    #[serde(default)]
    pub autopilot: Option<edgegate_core::config::Autopilot>,
}

/// The isolates' timing, as `wrangler.toml` sets it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingSettings {
    pub sync_interval_ms: u64,
    pub sync_timeout_ms: u64,
    pub stale_after_ms: u64,
    pub fail_static_per_mille: u32,
    pub ticket_ttl_s: u64,
}

/// One hop of the network.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// One-way delay, uniform in `[low, high]` ms.
    pub delay_ms: [u64; 2],
    /// Each message (request or answer) is lost with this probability, per mille; a lost one
    /// is a sync that times out.
    pub loss_per_mille: u32,
}

/// How citizens behave.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crowd {
    /// One-shot fetches (link previews, crawlers, a tab closed at once): never come back.
    pub phantom_per_mille: u32,
    /// Give up at a uniform time within `give_up_within_s` of arriving.
    pub give_up_per_mille: u32,
    pub give_up_within_s: u64,
    /// Each poll goes to another isolate of the citizen's location with this probability (a
    /// reload, a second tab, the platform's balancing).
    pub switch_per_mille: u32,
    /// The page's first poll comes this long after the fetch, uniform, ms.
    pub first_poll_ms: [u64; 2],
    /// Round trip added to every served `next_poll_ms`, uniform, ms.
    pub poll_latency_ms: [u64; 2],
    /// Of those let through, the share whose session the origin ends (a booking made), after a
    /// uniform time in `session_ms`.
    pub ends_session_per_mille: u32,
    pub session_ms: [u64; 2],
}

/// The room coordinator out of reach from `from_s` for `for_s` seconds (after midnight).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub from_s: u64,
    pub for_s: u64,
}

/// The aggregator of `location` (0 is the busiest, in Zipf order) out of reach from `from_s`
/// for `for_s` seconds after midnight.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationOutage {
    pub location: u32,
    pub from_s: u64,
    pub for_s: u64,
}

impl Scenario {
    /// Reads a scenario from JSON text, naming what is wrong.
    pub fn from_json(text: &str) -> Result<Scenario, String> {
        let sc: Scenario = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if sc.locations == 0 {
            return Err("locations: at least one".into());
        }
        let iso = &sc.isolates;
        if iso.min_per_location == 0 || iso.max_per_location < iso.min_per_location {
            return Err("isolates: 1 <= min_per_location <= max_per_location".into());
        }
        if iso.requests_per_isolate == 0 {
            return Err("isolates.requests_per_isolate: at least one".into());
        }
        for (name, net) in [
            ("network", &sc.network),
            ("location_network", &sc.location_network),
        ] {
            if net.delay_ms[0] > net.delay_ms[1] {
                return Err(format!("{name}.delay_ms: low above high"));
            }
        }
        if sc
            .location_outages
            .iter()
            .any(|o| o.location >= sc.locations)
        {
            return Err("location_outages: location out of range".into());
        }
        if let Some(o) = &sc.origin {
            if o.capacity_per_s == 0 || o.changes.iter().any(|c| c.capacity_per_s == 0) {
                return Err("origin: a capacity of at least one request a second".into());
            }
            if o.requests_per_citizen == 0 {
                return Err("origin.requests_per_citizen: at least one".into());
            }
            if o.think_ms[0] > o.think_ms[1] {
                return Err("origin.think_ms: low above high".into());
            }
        }
        if let Some(p) = &sc.room.autopilot {
            if p.floor_per_minute == 0 || p.floor_per_minute > p.ceiling_per_minute {
                return Err("room.autopilot: 1 <= floor_per_minute <= ceiling_per_minute".into());
            }
        }
        if sc.arrivals.iter().any(|s| s.to_s <= s.from_s) {
            return Err("arrivals: each segment needs to_s > from_s".into());
        }
        Ok(sc)
    }

    /// Citizens in all.
    pub fn citizens(&self) -> u64 {
        self.arrivals
            .iter()
            .fold(0u64, |n, s| n.saturating_add(s.count))
    }
}
