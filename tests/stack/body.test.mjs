// The entry's body reader (src/body.mjs) over streams that count what was pulled: the local
// runtime buffers a request body before the Worker sees it, so the limit on what a chunked
// body costs an isolate is proven here rather than over HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readBounded, TOO_LARGE } from '../../src/body.mjs';

const KIB = 1024;

/** A body of `chunks` chunks of `size` bytes each, counting the chunks pulled. */
function counted(chunks, size) {
  const stream = new ReadableStream({
    pull(controller) {
      stream.pulled += 1;
      if (stream.pulled > chunks) controller.close();
      else controller.enqueue(new Uint8Array(size).fill(7));
    },
  }, { highWaterMark: 0 });
  stream.pulled = 0;
  return stream;
}

test('a chunked body far over the limit is read no further than the limit and one chunk', async () => {
  // 400 MB in 64 KiB chunks, no Content-Length.
  const stream = counted(6_400, 64 * KIB);
  assert.equal(await readBounded('POST', null, stream, 64 * KIB), TOO_LARGE);
  assert.equal(stream.pulled, 2, 'the chunk at the limit and the one past it');
});

test('a declared length over the limit is refused before anything is read', async () => {
  const stream = counted(10, KIB);
  assert.equal(await readBounded('PUT', String(65 * KIB), stream, 64 * KIB), TOO_LARGE);
  assert.equal(stream.pulled, 0);
});

test('a body within the limit arrives whole; a GET sends none', async () => {
  const body = await readBounded('POST', null, counted(3, 10), 30);
  assert.deepEqual(Array.from(body), new Array(30).fill(7));
  assert.equal(await readBounded('POST', null, counted(4, 10), 30), TOO_LARGE);
  assert.equal(await readBounded('GET', null, counted(1, 10), 30), null);
});
