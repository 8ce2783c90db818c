//! Prints what one ticket or pass costs natively: ns per sign (issue) and verify, and the
//! status computation a poll does. A benchmark that prints figures, not a test:
//! `cargo run --release -p edgegate-core --example bench`.

#![allow(
    clippy::expect_used,
    reason = "a benchmark with fixed inputs; a failure should stop it loudly"
)]

use std::hint::black_box;
use std::time::Instant;

use edgegate_core::keys::SecretRing;
use edgegate_core::status::RoomView;
use edgegate_core::{Cursor, Histogram, OrderKey, Pass, RoomConfig, RoomTag, Seat, Ticket, UnixMs};

fn per_op(label: &str, n: u32, mut f: impl FnMut(u32)) {
    for i in 0..n / 10 {
        f(i); // warm up
    }
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    let ns = start.elapsed().as_nanos() / u128::from(n);
    println!("{label:<34} {ns:>6} ns/op  ({n} ops)");
}

fn main() {
    let secrets =
        SecretRing::parse("1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
            .expect("fixed test secret");
    let ticket_keys = secrets.ticket_keys().expect("ring");
    let pass_keys = secrets.pass_keys().expect("ring");
    let room = RoomTag::of("booking");
    let now = UnixMs(1_800_000_000_000);
    let ticket = Ticket {
        key_id: 1,
        room,
        order: OrderKey::fifo(now, 7),
        id: [9; 16],
        issued_at: now,
        expires_at: now.plus_ms(6 * 3_600_000),
        held_until: now.plus_ms(300_000),
        seat: Seat::Held,
        network: edgegate_core::network::NetTag(3),
        admitted_at: UnixMs(0),
        readmitted: 0,
    };
    let pass = Pass {
        key_id: 1,
        room,
        ticket_id: [9; 16],
        issued_at: now,
        expires_at: now.plus_ms(300_000),
        ends_at: now.plus_ms(300_000),
        ..Pass::default()
    };
    let n = 200_000;
    per_op("ticket issue (sign + base64)", n, |i| {
        let t = Ticket {
            order: OrderKey::fifo(now.plus_ms(u64::from(i)), i),
            ..ticket.clone()
        };
        black_box(t.sign(&ticket_keys));
    });
    let text = ticket.sign(&ticket_keys);
    per_op("ticket verify", n, |_| {
        black_box(Ticket::verify(black_box(&text), &ticket_keys, room, now).is_ok());
    });
    let pass_text = pass.sign(&pass_keys);
    per_op("pass mint", n, |_| {
        black_box(pass.sign(&pass_keys));
    });
    per_op("pass verify", n, |_| {
        black_box(Pass::verify(black_box(&pass_text), &pass_keys, room, now).is_ok());
    });
    // A status poll against an hour of arrivals, 100 a second.
    let mut arrivals = Histogram::new();
    for s in 0..3_600 {
        arrivals.add(now.secs() - 3_600 + s, 100);
    }
    let config = RoomConfig::default();
    let view = RoomView {
        config: &config,
        cursor: Cursor::at_bucket(now.secs() - 3_600),
        arrivals: &arrivals,
        stale: false,
        settle_ms: 0,
        view_lag_ms: 0,
        through_per_minute: None,
        arrivals_per_minute: None,
    };
    per_op("status (1 h of arrivals queued)", 20_000, |i| {
        black_box(view.status(
            OrderKey::fifo(now.minus_ms(u64::from(i % 1000) * 1000), i),
            now,
            1,
        ));
    });
}
