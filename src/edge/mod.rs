//! The citizen's edge: every request a citizen makes (a status poll, a page view, a booking
//! POST) comes through the JS entry into [`entry::citizen`], which turns its text into tokens
//! ([`trust`]), has the core decide ([`edgegate_core::visit`]) against this isolate's book of
//! the room ([`books`], which also keeps it in sync with the location's aggregator), and turns
//! the decision back into text for the entry to answer with. It imports the shared helpers,
//! never the Durable Objects or the operator's API.

pub mod books;
pub mod entry;
pub mod fragment;
pub mod trust;
