//! Request bodies read as a stream and never past a limit: the reader stops at the limit plus
//! the one chunk that crossed it, whatever the client declared, so a few hundred megabytes sent
//! in chunks cost the isolate what the limit allows and nothing more. (The local runtime
//! buffers a body before the Worker sees it; the platform streams it. The reader is proven
//! natively, over a stream that counts what was pulled.)

use futures_util::{Stream, StreamExt};
use worker::{Method, Request};

use crate::shared::error::GateError;

/// A body read within its limit, or the news that it was larger.
#[derive(Debug, PartialEq, Eq)]
pub enum Body {
    Within(Vec<u8>),
    TooLarge,
}

/// Reads `chunks` until they end or pass `limit` bytes; nothing after the chunk that crossed
/// the limit is pulled.
pub async fn read_bounded<S, E>(mut chunks: S, limit: usize) -> Result<Body, E>
where
    S: Stream<Item = Result<Vec<u8>, E>> + Unpin,
{
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        if body.len().saturating_add(chunk.len()) > limit {
            return Ok(Body::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Body::Within(body))
}

/// The body of `req`, read within `limit` bytes. A declared `Content-Length` over the limit is
/// refused before anything is read; a request without a body has an empty one.
pub async fn of_request(req: &mut Request, limit: usize) -> Result<Body, GateError> {
    let declared = req
        .headers()
        .get("Content-Length")?
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Ok(Body::TooLarge);
    }
    if matches!(req.method(), Method::Get | Method::Head) || req.inner().body().is_none() {
        return Ok(Body::Within(Vec::new()));
    }
    Ok(read_bounded(req.stream()?, limit).await?)
}

/// The body of `req` as text within `limit` bytes: `None` when it is larger (a caller answers
/// 413) or not UTF-8 (a caller's parser would refuse it anyway, as empty text).
pub async fn text(req: &mut Request, limit: usize) -> Result<Option<String>, GateError> {
    Ok(match of_request(req, limit).await? {
        Body::Within(bytes) => Some(String::from_utf8(bytes).unwrap_or_default()),
        Body::TooLarge => None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use std::cell::Cell;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    /// Runs a future whose stream is always ready to its end.
    fn run<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    #[test]
    fn a_large_body_is_read_no_further_than_the_limit_and_one_chunk() {
        let pulled = Cell::new(0usize);
        // 400 MB in 64 KiB chunks, counted as they are pulled.
        let chunks = futures_util::stream::iter(0..6_400).map(|_| {
            pulled.set(pulled.get() + 1);
            Ok::<_, ()>(vec![0u8; 64 * 1024])
        });
        assert_eq!(run(read_bounded(chunks, 64 * 1024)), Ok(Body::TooLarge));
        assert_eq!(
            pulled.get(),
            2,
            "the chunk at the limit and the one past it"
        );
    }

    #[test]
    fn a_body_within_the_limit_is_read_whole() {
        let chunks = futures_util::stream::iter([b"ab".to_vec(), b"cd".to_vec()].map(Ok::<_, ()>));
        assert_eq!(
            run(read_bounded(chunks, 4)),
            Ok(Body::Within(b"abcd".to_vec()))
        );
        let chunks = futures_util::stream::iter([b"abc".to_vec(), b"de".to_vec()].map(Ok::<_, ()>));
        assert_eq!(run(read_bounded(chunks, 4)), Ok(Body::TooLarge));
    }
}
