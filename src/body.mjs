// Request bodies for the origin, read as a stream and never past a limit: the reader stops at
// the limit plus the one chunk that crossed it, whatever the client declared, so a few hundred
// megabytes sent in chunks cost an isolate what the limit allows and nothing more. A module of
// its own so that a test can drive it over a stream that counts what was pulled
// (tests/stack/body.test.mjs): the local runtime buffers a body before the Worker sees it, so
// the limit cannot be watched over HTTP.

/**
 * The body of a request with `method`, `declared` length (its Content-Length header, or null)
 * and `stream` (its body, or null), within `limit` bytes: a Uint8Array, `null` when there is
 * none to send, or `TOO_LARGE`.
 */
export async function readBounded(method, declared, stream, limit) {
  if (method === 'GET' || method === 'HEAD' || stream === null) return null;
  if (declared !== null && Number(declared) > limit) return TOO_LARGE;
  const reader = stream.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      // Stop pulling; the rest is never read.
      reader.cancel().catch(() => {});
      return TOO_LARGE;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}

/** What `readBounded` answers for a body over its limit. */
export const TOO_LARGE = Symbol('too large');
