//! The order of the queue: where a ticket stands, and how far the release cursor has gone.
//!
//! An [`OrderKey`] is one `u64`: the arrival second (the *bucket*) in the high 32 bits and the
//! place inside that second (the *sub*, a fraction of the bucket in units of 2⁻³²) in the low 32
//! bits. Comparing two keys is comparing two integers, and a ticket is admitted exactly when its
//! key is below the [`Cursor`], which has the same encoding.
//!
//! Subs are drawn uniformly over the whole bucket, for FIFO and lottery tickets alike. Arrivals
//! inside one second are simultaneous for every practical purpose (at midnight they come in a
//! tight bunch at the top of the second), so FIFO is kept between seconds, not inside one. A
//! uniform sub is what makes "release the first 30 % of second X" release about 30 % of the
//! people in it; a sub that followed the arrival millisecond would put the whole midnight bunch
//! in the first few per cent of the bucket, and a cursor charging 30 % of the count would let
//! far more through than it paid for.

use serde::{Deserialize, Serialize};

use crate::time::UnixMs;

/// The whole sub range of one bucket: 2³².
pub const SUB_RANGE: u64 = 1 << 32;

/// Where a ticket stands in line. Smaller is earlier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderKey(pub u64);

impl OrderKey {
    pub fn new(bucket: u64, sub: u32) -> OrderKey {
        OrderKey((bucket.min(u64::from(u32::MAX)) << 32) | u64::from(sub))
    }

    /// First come, first served between seconds: the arrival second, then a uniformly random
    /// place inside it (`random`, any `u32`, drawn by the caller).
    pub fn fifo(arrival: UnixMs, random: u32) -> OrderKey {
        OrderKey::new(arrival.secs(), random)
    }

    /// The pre-queue lottery: everyone who arrives while an opening is scheduled shares one
    /// bucket, the second after the pre-queue began (`since`, see
    /// [`RoomConfig::prequeue_since`](crate::RoomConfig::prequeue_since)), in an order drawn by
    /// `random`. Arriving early inside the pre-queue earns nothing; everyone in it stands before
    /// anyone who arrives later. The bucket is tied to when the pre-queue began, never to the
    /// opening time, so an operator who opens early (or cancels the opening) releases the
    /// pre-queue at once instead of leaving it parked at the old time behind newcomers. It lies
    /// after every cursor that existed when the pre-queue began, since a cursor never passes
    /// `now`.
    pub fn lottery(since: UnixMs, random: u32) -> OrderKey {
        OrderKey::new(since.secs().saturating_add(1), random)
    }

    /// The arrival second this key counts under in the histogram.
    pub fn bucket(self) -> u64 {
        self.0 >> 32
    }

    /// The place inside the bucket, as a fraction in units of 2⁻³².
    pub fn sub(self) -> u64 {
        self.0 & (SUB_RANGE - 1)
    }

    /// The place inside the bucket as the 32 bits it was drawn as (`new`'s `sub`).
    pub fn sub32(self) -> u32 {
        u32::try_from(self.sub()).unwrap_or(u32::MAX)
    }
}

/// How far the queue has been released: every ticket whose key is below the cursor is admitted.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Cursor(pub u64);

impl Cursor {
    /// The cursor at the very start of `bucket` (nobody from that second released yet).
    pub fn at_bucket(bucket: u64) -> Cursor {
        Cursor(OrderKey::new(bucket, 0).0)
    }

    /// The cursor that releases the arrivals before time `t`: every earlier second whole, and
    /// of `t`'s own second the share that has elapsed (subs are uniform over the second).
    pub fn at_time(t: UnixMs) -> Cursor {
        let sub = t.subsec_ms() * SUB_RANGE / 1000;
        Cursor(OrderKey::new(t.secs(), u32::try_from(sub).unwrap_or(u32::MAX)).0)
    }

    pub fn bucket(self) -> u64 {
        OrderKey(self.0).bucket()
    }

    pub fn sub(self) -> u64 {
        OrderKey(self.0).sub()
    }

    /// Has the cursor passed this ticket?
    pub fn admits(self, key: OrderKey) -> bool {
        key.0 < self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_orders_by_second_and_draws_the_place_inside_it() {
        // Inside one second the draw decides, whatever the millisecond.
        let late = OrderKey::fifo(UnixMs(1_700_000_000_900), 5);
        let early = OrderKey::fifo(UnixMs(1_700_000_000_001), 6);
        assert!(late < early);
        assert_eq!(late.bucket(), 1_700_000_000);
        assert_eq!(late.sub(), 5);
        // Between seconds, arrival order holds whatever the draw.
        let last = OrderKey::fifo(UnixMs(1_700_000_000_999), u32::MAX);
        assert!(last < OrderKey::fifo(UnixMs(1_700_000_001_000), 0));
    }

    #[test]
    fn lottery_tickets_stand_after_the_cursor_and_before_later_arrivals() {
        let since = UnixMs(1_700_000_100_400);
        let drawn = OrderKey::lottery(since, u32::MAX);
        assert!(!Cursor::at_time(since).admits(drawn));
        assert!(drawn < OrderKey::fifo(UnixMs(1_700_000_102_000), 0));
        assert_eq!(drawn.bucket(), since.secs() + 1);
    }

    #[test]
    fn cursor_admits_strictly_before_itself() {
        let t = UnixMs(1_700_000_000_500);
        let c = Cursor::at_time(t);
        assert_eq!(c.bucket(), t.secs());
        assert_eq!(c.sub(), SUB_RANGE / 2);
        assert!(c.admits(OrderKey::fifo(UnixMs(t.0 - 1000), u32::MAX)));
        assert!(c.admits(OrderKey::fifo(t, u32::MAX / 2 - 1)));
        assert!(!c.admits(OrderKey::fifo(t, u32::MAX / 2 + 1)));
    }
}
