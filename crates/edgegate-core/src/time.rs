//! Time as the core sees it: milliseconds since the Unix epoch, always passed in by the caller.

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since 1970-01-01T00:00:00Z. The core never reads a clock:
/// every time-dependent function takes `now: UnixMs`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixMs(pub u64);

impl UnixMs {
    /// Whole seconds since the epoch (rounded down).
    pub fn secs(self) -> u64 {
        self.0 / 1000
    }

    /// Milliseconds within the current second, `0..1000`.
    pub fn subsec_ms(self) -> u64 {
        self.0 % 1000
    }

    pub fn plus_ms(self, ms: u64) -> UnixMs {
        UnixMs(self.0.saturating_add(ms))
    }

    pub fn minus_ms(self, ms: u64) -> UnixMs {
        UnixMs(self.0.saturating_sub(ms))
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: UnixMs) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}
