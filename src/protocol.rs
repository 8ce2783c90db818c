//! What edge isolates and the room coordinator say to each other. Counts go up, room state comes
//! down; tickets never travel.

use edgegate_core::{Cursor, Histogram, RoomConfig, UnixMs};
use serde::{Deserialize, Serialize};

/// An isolate's periodic report: the tickets it issued per arrival second, and its pass changes
/// per expiry second (+1 minted, −1 retracted by a renewal or an ended session).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SyncRequest {
    pub isolate: String,
    pub arrivals: Vec<(u64, u64)>,
    pub passes: Vec<(u64, i64)>,
}

/// The room as the coordinator sees it, sent back on every sync.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoomSnapshot {
    pub config: RoomConfig,
    pub cursor: Cursor,
    /// Arrivals from the cursor's second onwards.
    pub arrivals: Histogram,
    /// Passes alive now.
    pub active: u64,
    /// The coordinator's clock when it answered.
    pub at: UnixMs,
}
