//! The operator's side: the admin API ([`admin`]), the console's page and sign-in
//! ([`console`]) and its session cookie ([`session`]). It reaches the room only through the
//! coordinator's Durable Object, and imports the shared helpers, never the citizen's edge.

pub mod admin;
pub mod console;
pub mod session;
