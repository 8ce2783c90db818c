//! The two Durable Objects: the room's coordinator (one per room) and the location's
//! aggregator (one per room and location), each a storage shell around the core's `Room` and
//! `Aggregator`, and what their storage shares ([`store`]). They import the shared helpers,
//! never the citizen's edge or the operator's API.

pub mod aggregator;
pub mod coordinator;
pub mod store;
