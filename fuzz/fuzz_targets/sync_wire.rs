//! Sync messages in the binary form an isolate and its aggregator speak (`wire`): the input is
//! messages of up to 255 bytes, each after a byte that says its length, read as a batch
//! (`SyncReport`, what the aggregator's `POST /sync` reads) or else as an answer
//! (`RoomSnapshot`, what an isolate reads back), and handed to the receivers between honest
//! rounds of syncs. Whatever the bytes, decoding never panics, what it reads encodes back to
//! itself, no receiver panics, and each still serves honest senders afterwards.
#![no_main]

use edgegate_core::sync::{RoomSnapshot, SyncReport};
use edgegate_core::wire;
use edgegate_fuzz::{Hierarchy, T0};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut now = T0;
    let mut world = Hierarchy::new(now);
    world.sync(now);
    let mut rest = data;
    for _ in 0..16 {
        let Some((&len, tail)) = rest.split_first() else {
            break;
        };
        let (message, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        now = now.plus_ms(250);
        if let Ok(batch) = wire::decode::<SyncReport>(message) {
            assert_eq!(
                wire::decode::<SyncReport>(&wire::encode(&batch)),
                Ok(batch.clone())
            );
            world.aggregator.on_sync(&batch, now);
        } else if let Ok(answer) = wire::decode::<RoomSnapshot>(message) {
            assert_eq!(
                wire::decode::<RoomSnapshot>(&wire::encode(&answer)),
                Ok(answer.clone())
            );
            let seq = world
                .isolate
                .begin_sync(now)
                .map_or(answer.acked, |b| b.seq);
            world.isolate.finish_sync(seq, Some(answer), now);
        }
        world.sync(now);
    }
    world.assert_not_wedged(now.plus_ms(1_000));
});
