//! The citizen's edge: every request a citizen makes (a status poll, a page view, a booking
//! POST) comes through the JS entry (`src/entry.mjs`) into [`entry::citizen`], which turns its
//! text into tokens ([`trust`]), has the core decide ([`edgegate_core::visit`]) against this
//! isolate's book of the room ([`books`], which also keeps it in sync with the location's
//! aggregator), and turns the decision back into text for the entry to answer with.
//!
//! A wasm of its own, with no framework: plain wasm-bindgen over the core, so what every
//! citizen's isolate loads is this and the entry, and nothing the Durable Objects or the
//! operator's API need (those are the workers-rs Worker in `src/`). [`platform`] is the one
//! file that names a JS type.

pub mod books;
pub mod entry;
pub mod fragment;
pub mod platform;
pub mod trust;
