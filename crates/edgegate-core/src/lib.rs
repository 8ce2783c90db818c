//! edgegate-core: everything the gate decides, with no I/O.
//!
//! Tickets and passes (signing, verifying), the order of arrival, the release cursor and the
//! queue-status maths live here. The crate never reads a clock, never draws randomness and knows
//! nothing of Cloudflare, wasm or HTTP: `now` and random bytes are arguments, so every decision is
//! a pure function that tests can pin to exact values. The worker, the origin and the tools are
//! thin shells around it (see ARCHITECTURE.md).

pub mod address;
pub mod aggregate;
pub mod audit;
pub mod autopilot;
pub mod budget;
pub mod config;
pub mod cookies;
pub mod draw;
pub mod history;
pub mod isolate;
pub mod keys;
pub mod ledger;
pub mod limiter;
pub mod network;
pub mod order;
pub mod origin;
pub mod origin_url;
pub mod outbox;
pub mod places;
pub mod recent;
pub mod release;
pub mod revocation;
pub mod room;
pub mod rooms;
pub mod status;
pub mod summary;
pub mod sync;
pub mod throttle;
pub mod time;
pub mod token;
pub mod visit;
pub mod wire;
pub mod work;

mod codec;

pub use config::{ConfigError, ConfigPatch, RoomConfig};
pub use keys::{KeyId, KeyRing, PassKey, RoomTag, Secret, TicketKey};
pub use ledger::Ledger;
pub use limiter::{Limiter, Turn};
pub use order::{Cursor, OrderKey};
pub use release::{Demand, Histogram, ReleaseState, Step};
pub use status::{QueueState, QueueStatus};
pub use time::UnixMs;
pub use token::{Pass, Seat, TestKey, TestMode, Ticket, TokenError};
