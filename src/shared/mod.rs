//! What both parts of this Worker share: the clock, the deployment's settings, the names of
//! the Durable Objects, deadlines, bounded bodies, the built-in pages and their headers, and
//! the one error type, each the workers-rs side of what `edgegate_web` writes once for this
//! Worker and the citizen's wasm alike. The Durable Objects (`objects`) and the operator's API
//! (`operator`) import this, never each other (ARCHITECTURE.md, invariant 15, checked).

pub mod body;
pub mod client;
pub mod clock;
pub mod error;
pub mod headers;
pub mod names;
pub mod pages;
pub mod settings;
pub mod timeout;
