//! A deadline for any future: the gate never waits on the origin or the coordinator forever.

use std::time::Duration;

use futures_util::future::{select, Either};
use worker::Delay;

/// `Some(output)` if `fut` finished within `ms` milliseconds, else `None` (and `fut` is dropped).
pub async fn with_timeout<F: std::future::Future>(fut: F, ms: u64) -> Option<F::Output> {
    let fut = std::pin::pin!(fut);
    let delay = std::pin::pin!(Delay::from(Duration::from_millis(ms)));
    match select(fut, delay).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}
