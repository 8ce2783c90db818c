//! What every part of the Worker shares: the clock, the deployment's settings, the names of
//! the Durable Objects, deadlines, bounded bodies, the built-in pages and their headers, the
//! one error type, and the test-only fault switch. The citizen's edge (`edge`), the Durable
//! Objects (`objects`) and the operator's API (`operator`) import this, never each other
//! (ARCHITECTURE.md, invariant 15, checked).

pub mod body;
pub mod client;
pub mod clock;
pub mod error;
pub mod faults;
pub mod headers;
pub mod names;
pub mod pages;
pub mod settings;
pub mod timeout;
