//! The command line as clap sees it. Parsing only: what each command does is in its own module.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

/// The exit codes, once, for `--help` and the crate docs to agree on.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  the gate refused the request (4xx): its error, and the field it names, are printed
  2  usage error, or a risky change refused without --yes
  3  cannot reach the gate: connection, timeout, TLS, a redirect, or a 5xx answer
  4  unauthorized: the gate refused the admin token (401/403)
  5  this gate does not offer the feature yet (404/405 on a route this tool knows)";

const TOKEN_HELP: &str = "\
Admin token, sent as `Authorization: Bearer`. Prefer EDGEGATE_ADMIN_TOKEN or --token-file: \
a flag's value shows in the process list. Order: --token, --token-file, EDGEGATE_ADMIN_TOKEN";

#[derive(Debug, Parser)]
#[command(
    name = "edgegate",
    version,
    about = "Operate an edgegate waiting room through its admin API",
    after_help = EXIT_CODES,
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The gate's base URL (http or https)
    #[arg(
        long,
        global = true,
        env = "EDGEGATE_URL",
        default_value = "http://127.0.0.1:8787",
        value_name = "URL"
    )]
    pub gate: String,
    // Read from the environment by hand rather than by clap's `env`: clap counts a value from
    // the environment as given, so `--token-file` would then conflict with an exported token.
    #[arg(long, global = true, value_name = "TOKEN", help = TOKEN_HELP)]
    pub token: Option<String>,
    /// Read the admin token from this file (surrounding whitespace is ignored)
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// The room to act on; without it, the gate's default room
    #[arg(long, global = true, env = "EDGEGATE_ROOM", value_name = "NAME")]
    pub room: Option<String>,
    /// Your name in the gate's audit log (sent as the Edgegate-Operator header); defaults to
    /// $USER
    #[arg(long, global = true, env = "EDGEGATE_OPERATOR", value_name = "NAME")]
    pub operator: Option<String>,
    /// Print JSON for machines (errors too, on stderr)
    #[arg(long, global = true)]
    pub json: bool,
    /// Give up on a request after this many milliseconds
    #[arg(
        long,
        global = true,
        default_value_t = 10_000,
        value_name = "MS",
        value_parser = clap::value_parser!(u64).range(1..=600_000)
    )]
    pub timeout_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the room: waiting, active, let through, rate, state, storage
    Status(StatusArgs),
    /// Change settings: rate=N max_active=N session=SECONDS burst=N grace=SECONDS test_mode=on|off
    #[command(after_help = SET_HELP)]
    Set(SetArgs),
    /// Let nobody new through; every place in line is kept
    Pause,
    /// Undo `pause` (also clears a stored-state problem the gate paused the room for)
    Resume,
    /// Close the room: nobody new is let through and the page asks citizens to come back later
    Close(CloseArgs),
    /// Reopen a closed room
    Open,
    /// Schedule the opening (pre-queue lottery until then), or `none` to clear it
    OpenAt(OpenAtArgs),
    /// Revoke one ticket, or every ticket issued before a time
    Revoke(RevokeArgs),
    /// Mint a test key for browser suites (honoured only while test_mode is on)
    TestKey(TestKeyArgs),
    /// Show who changed what, and when
    Audit(AuditArgs),
    /// Summarise the room's per-minute history, or export it
    Report(ReportArgs),
    /// Check the pre-queue draw: the seed against its commitment, and a ticket's place (needs
    /// no admin token)
    #[command(after_help = DRAW_HELP)]
    Draw(DrawArgs),
}

const DRAW_HELP: &str = "\
Without --seed, reads GET /queue/draw from the gate (the commitment before the opening, the \
seed from it). With --seed, checks offline. A place is the first 4 bytes of \
SHA-256(seed || ticket id), big-endian: smaller goes first.";

#[derive(Debug, Args)]
pub struct DrawArgs {
    /// The revealed seed (64 hex digits); without it, the gate is asked
    #[arg(long, value_name = "HEX")]
    pub seed: Option<String>,
    /// The commitment published before the opening (64 hex digits), to check the seed against
    #[arg(long, value_name = "HEX")]
    pub commitment: Option<String>,
    /// A ticket id (32 hex digits, as GET /queue/draw shows it to its holder)
    #[arg(long, value_name = "HEX")]
    pub ticket_id: Option<String>,
}

const SET_HELP: &str = "\
Keys (the gate's own field names work too):
  rate        new_users_per_minute  citizens let through per minute
  max_active  max_active            passes alive at once
  session     session_duration_s    seconds a pass lasts (or 10m, 1h)
  burst       burst                 extra citizens at once after a quiet spell
  grace       place_grace_s         seconds a place is kept without a visit (or 5m)
  test_mode   test_mode             on | off

The gate checks the bounds. Raising the rate above three times its current value asks for
confirmation on a terminal and is refused without --yes otherwise.";

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Redraw the status in place until Ctrl-C, with per-second rates between samples
    #[arg(long)]
    pub watch: bool,
    /// Time between samples with --watch
    #[arg(
        long,
        default_value_t = 2_000,
        value_name = "MS",
        requires = "watch",
        value_parser = clap::value_parser!(u64).range(100..=3_600_000)
    )]
    pub interval_ms: u64,
    /// Stop after this many samples with --watch
    #[arg(long, value_name = "N", requires = "watch",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Settings to change, as KEY=VALUE
    #[arg(required = true, value_name = "KEY=VALUE")]
    pub pairs: Vec<String>,
    /// Go ahead with a large rate increase without asking
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    /// What the closed page says, in Korean
    #[arg(long, value_name = "TEXT")]
    pub message_ko: Option<String>,
    /// What the closed page says, in English
    #[arg(long, value_name = "TEXT")]
    pub message_en: Option<String>,
}

#[derive(Debug, Args)]
pub struct OpenAtArgs {
    /// RFC 3339 (2025-03-01T09:00:00+09:00), unix milliseconds, +10m / +2h from now, or `none`
    #[arg(value_name = "TIME")]
    pub time: String,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["ticket", "before"])))]
pub struct RevokeArgs {
    /// The ticket id as the waiting page shows it
    #[arg(long, value_name = "ID")]
    pub ticket: Option<String>,
    /// Every ticket issued before this time (RFC 3339, unix ms, or `now`)
    #[arg(long, value_name = "TIME")]
    pub before: Option<String>,
}

#[derive(Debug, Args)]
pub struct TestKeyArgs {
    /// What the gate shows the browser carrying the key
    #[arg(long, value_parser = ["through", "waiting", "paused", "closed", "prequeue", "admitted"])]
    pub mode: String,
    /// Place in line for waiting and paused
    #[arg(long, value_name = "N")]
    pub position: Option<u64>,
    /// The opening for prequeue (RFC 3339, unix ms, or +10m)
    #[arg(long, value_name = "TIME")]
    pub opens_at: Option<String>,
    /// How long the key lives, in seconds (the gate allows up to a week)
    #[arg(long, value_name = "SECONDS")]
    pub ttl_s: Option<u64>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only entries at or after this time (RFC 3339, unix ms, or -1h / -30m before now)
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Print every minute as CSV instead of the summary
    #[arg(long)]
    pub csv: bool,
}
