//! The deployment's settings, parsed from the Worker's environment as text. Each wasm module
//! reads its own environment (a workers-rs `Env`, or the plain object the citizen's entry is
//! handed) into a [`Vars`] lookup and parses it here, so both read every setting alike.
//!
//! `[vars]` in wrangler.toml carry the tunables; `GATE_KEYS` and `ADMIN_TOKEN` are secrets
//! (`wrangler secret put`, or `.dev.vars` locally). A missing or malformed value is a
//! deployment mistake: it is logged by name and every request gets a plain 503, never a panic.

use edgegate_core::keys::{ForNetworks, ForPasses, ForTestKeys, ForTickets, SecretRing};
use edgegate_core::origin_url::LocalOrigins;
use edgegate_core::rooms::{Rooms, Route, Site};
use edgegate_core::KeyRing;
use sha2::{Digest, Sha256};

/// The deployment's text settings by name: a secret or a `[vars]` value, `None` when unset or
/// blank. `ROOM_ROUTES` may be given as JSON text.
pub type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

/// How a platform reads `ROOM_ROUTES`' JSON text into routes: [`routes_from_json`], or the
/// platform's own JSON parser where a JSON parser in the wasm would cost every isolate.
///
/// [`routes_from_json`]: edgegate_core::rooms::routes_from_json
pub type RoutesReader = fn(&str) -> Result<Vec<Route>, String>;

pub struct Settings {
    /// The default room's name.
    pub room: String,
    /// Every room this deployment guards (`ROOM` and `ORIGIN_URL`, plus `ROOM_ROUTES`), each
    /// origin checked: one on loopback or a private network only with `ALLOW_LOCAL_ORIGIN = "on"`.
    pub rooms: Rooms,
    pub ticket_keys: KeyRing<ForTickets>,
    pub pass_keys: KeyRing<ForPasses>,
    pub test_keys: KeyRing<ForTestKeys>,
    /// Keys that turn a client's network into a tag naming no address.
    pub network_keys: KeyRing<ForNetworks>,
    /// SHA-256 of the admin bearer token (trimmed), or why the admin API and the console are
    /// off: no token, or one too short (`operator::session::token_digest`).
    pub admin_token_digest: Result<[u8; 32], &'static str>,
    /// `OPERATOR_HOST`: the host (with its port, where it has one) that serves the operator's
    /// console, and the only one where its session cookie is honoured. No protected route may
    /// use it. Unset: the console is served nowhere; the admin API answers its bearer token on
    /// any host.
    pub operator_host: Option<String>,
    /// `CLIENT_ADDRESS_HEADER = "on"`: a request's `X-Edgegate-Client-Address` header names
    /// its client, so the tests on loopback can play many networks. Never set in production,
    /// where the platform's `CF-Connecting-IP` is the client.
    pub client_address_header: bool,
    pub sync_interval_ms: u64,
    /// A sync not answered within this long is given up and sent again, in ms.
    pub sync_timeout_ms: u64,
    /// How long a ticket cookie is accepted, in ms: long enough to tell a holder who comes back
    /// after the grace period that their place lapsed.
    pub ticket_ttl_ms: u64,
    pub origin_timeout_ms: u64,
    /// After this long without a successful sync the isolate runs fail-static.
    pub stale_after_ms: u64,
    /// Share of the last known rate an isolate admits at on its own while fail-static, per mille.
    pub fail_static_per_mille: u32,
    /// `EDGEGATE_FAULTS = "on"`: the admin API may cut this isolate off from the coordinator,
    /// for the stack tests of fail-static. Never set in production.
    pub faults: bool,
    /// `LOCATION`: the location this deployment's isolates report under when the platform
    /// names none (`request.cf.colo` is used when present). `local` if unset.
    pub location: String,
    /// `LOCATION_HEADER = "on"`: a request's `X-Edgegate-Location` header picks its location,
    /// so the stack tests can run several locations on loopback. Never set in production.
    pub location_header: bool,
}

/// How long a console session lasts, in seconds (the operator's session cookie; the coordinator
/// keeps a signed-out session's id this long at most).
pub const CONSOLE_SESSION_S: u64 = 1800;

/// The shortest admin token the gate accepts, in characters: the console and the admin API
/// are the keys to the room, and `scripts/dev` writes 48.
pub const MIN_TOKEN_CHARS: usize = 32;

/// The digest the gate keeps of the admin token: SHA-256 of the token as written, less the
/// spaces and line ends around it (a secret put with a trailing newline must not lock everyone
/// out), or why there is none: no token, or one shorter than [`MIN_TOKEN_CHARS`].
pub fn token_digest(token: Option<&str>) -> Result<[u8; 32], &'static str> {
    let token = token.map(str::trim).unwrap_or_default();
    if token.is_empty() {
        return Err("ADMIN_TOKEN is not set: the admin API and the console are off");
    }
    if token.chars().count() < MIN_TOKEN_CHARS {
        return Err(
            "ADMIN_TOKEN is shorter than 32 characters: the admin API and the console are off",
        );
    }
    Ok(Sha256::digest(token.as_bytes()).into())
}

/// Is `name` usable as a location: 1 to 16 ASCII letters, digits or `-`?
pub fn valid_location(name: &str) -> bool {
    (1..=16).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `SYNC_TIMEOUT_MS`, read by both the isolates and the coordinator (which derives the settle
/// time from it): a malformed value falls back to the default rather than failing the room.
pub fn sync_timeout_ms(vars: Vars) -> u64 {
    vars("SYNC_TIMEOUT_MS")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(edgegate_core::sync::DEFAULT_SYNC_TIMEOUT_MS)
        .clamp(100, 30_000)
}

/// `FAIL_STATIC_PER_MILLE`, read by the aggregators too: what of its share a location keeps
/// sharing while the room is out of reach. A malformed value falls back to the default.
pub fn fail_static_per_mille(vars: Vars) -> u32 {
    vars("FAIL_STATIC_PER_MILLE")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(100)
        .min(1_000)
}

/// `SYNC_INTERVAL_MS`, at least 100 ms, read the same way by isolates and coordinator.
pub fn sync_interval_ms(vars: Vars) -> u64 {
    vars("SYNC_INTERVAL_MS")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1_000u64)
        .max(100)
}

impl Settings {
    /// Whom a request to `address` is for: the operator's own host, or the citizens'.
    pub fn audience(
        &self,
        address: &edgegate_core::address::Address,
    ) -> edgegate_core::visit::Audience {
        let operator = self.operator_host.as_deref().is_some_and(|host| {
            if host.contains(':') {
                address.host_port().eq_ignore_ascii_case(host)
            } else {
                address.host().eq_ignore_ascii_case(host)
            }
        });
        if operator {
            edgegate_core::visit::Audience::Operator
        } else {
            edgegate_core::visit::Audience::Citizens
        }
    }

    pub fn parse(vars: Vars, read_routes: RoutesReader) -> Result<Settings, String> {
        let text = |name: &str| -> Option<String> { vars(name).filter(|s| !s.trim().is_empty()) };
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match text(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name} must be a whole number")),
            }
        };
        let room = text("ROOM").unwrap_or_else(|| "booking".to_owned());
        let secrets = SecretRing::parse(&text("GATE_KEYS").ok_or("GATE_KEYS is not set")?)
            .map_err(|e| format!("GATE_KEYS: {e}"))?;
        number("SYNC_INTERVAL_MS", 1_000)?;
        let sync_interval_ms = sync_interval_ms(vars);
        // Only wrangler.toml's local [vars] say "on": a deployment refuses an origin on loopback
        // or a private network, so the local ORIGIN_URL deployed by mistake is a 503 and a log
        // line, not a gate forwarding nowhere.
        let local_origins = LocalOrigins::from_setting(text("ALLOW_LOCAL_ORIGIN").as_deref());
        Ok(Settings {
            rooms: Rooms::from_routes(
                Site::default_room(
                    &room,
                    text("ORIGIN_URL").ok_or("ORIGIN_URL is not set")?.trim(),
                ),
                match text("ROOM_ROUTES") {
                    Some(routes) => read_routes(routes.trim())?,
                    None => Vec::new(),
                },
                local_origins,
            )?,
            room,
            ticket_keys: secrets
                .ticket_keys()
                .map_err(|e| format!("GATE_KEYS: {e}"))?,
            pass_keys: secrets.pass_keys().map_err(|e| format!("GATE_KEYS: {e}"))?,
            test_keys: secrets.test_keys().map_err(|e| format!("GATE_KEYS: {e}"))?,
            network_keys: secrets
                .network_keys()
                .map_err(|e| format!("GATE_KEYS: {e}"))?,
            admin_token_digest: token_digest(text("ADMIN_TOKEN").as_deref()),
            operator_host: text("OPERATOR_HOST").map(|h| h.trim().to_ascii_lowercase()),
            client_address_header: text("CLIENT_ADDRESS_HEADER").is_some_and(|v| v.trim() == "on"),
            sync_interval_ms,
            sync_timeout_ms: sync_timeout_ms(vars),
            ticket_ttl_ms: number("TICKET_TTL_S", 6 * 3600)?.saturating_mul(1000),
            origin_timeout_ms: number("ORIGIN_TIMEOUT_MS", 10_000)?,
            stale_after_ms: number("STALE_AFTER_MS", 15_000)?.max(sync_interval_ms * 3),
            fail_static_per_mille: u32::try_from(number("FAIL_STATIC_PER_MILLE", 100)?.min(1000))
                .unwrap_or(100),
            faults: text("EDGEGATE_FAULTS").is_some_and(|v| v.trim() == "on"),
            location: match text("LOCATION") {
                None => "local".to_owned(),
                Some(l) if valid_location(l.trim()) => l.trim().to_owned(),
                Some(_) => return Err("LOCATION must be 1-16 letters, digits or -".into()),
            },
            location_header: text("LOCATION_HEADER").is_some_and(|v| v.trim() == "on"),
        })
    }
}
