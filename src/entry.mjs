// edgegate's entry (wrangler's `main`): the one path every citizen request takes.
//
// Every request is handed to the citizen's wasm in ONE call (`citizen`,
// crates/edgegate-edge/src/entry.rs) with its text (method, URL, Cookie header, test key,
// location, language), and the wasm answers with what to do: build a response, forward to the
// origin, wait for the isolate's first sync, or leave the request to the room's Worker (the
// operator's API and console). No request or response object crosses into wasm. The decisions
// are the Rust core's; every list this file uses (the headers it drops, the header sets of each
// answer, the pages it may send on its own) comes from the wasm once per isolate
// (`edge_lists`). This file only carries bytes, and keeps what a forward needs back (its
// context) in the forward's own closure until the origin answers, so no answer from the origin
// is ever lost at any load.
//
// The Worker loads one wasm, the citizen's (build/edge/: plain wasm-bindgen over the core, no
// framework). The Durable Objects and the operator's API and console are the room's Worker
// (wrangler.objects.toml, workers-rs), reached through the OBJECTS binding: a citizen's
// isolate loads none of their code.
import edgeModule from '../build/edge/edgegate_edge_bg.wasm';
import {
  initSync, __wbg_reset_state as resetEdge, citizen, forwarded, first_sync as firstSync,
  edge_lists as edgeLists, room_page as roomPage, cut_off as cutOff,
} from '../build/edge/edgegate_edge.js';
import { readBounded, TOO_LARGE } from './body.mjs';

initSync({ module: edgeModule });
// Set when the citizen's wasm trapped: the next request starts a fresh instance first.
let edgeTrapped = false;

// Once per isolate: the wasm's lists, the platform's location (`cf.colo`; an isolate runs in one
// location all its life, and reading `request.cf` cost about 8 µs a request, timed by hand in
// workerd), the waiting page's bytes (bytes, not text: a Response copies bytes as they are, but
// encodes a string anew each time), and each other room's version of it.
let lists = null;
let stripped = null;
let colo;
let page = null;
const roomPages = new Map();

export default {
  // Not `async`: an answer decided at once goes back as a Response, not through a promise.
  fetch(request, env, ctx) {
    // After a trap, the next request starts a fresh instance before it asks anything.
    if (edgeTrapped) {
      edgeTrapped = false;
      resetEdge();
    }
    return take(request, env, ctx, false);
  },
};

/** Asks the wasm about `request` and acts on its answer (its format: crates/edgegate-edge/src/entry.rs). */
function take(request, env, ctx, cold) {
  let answer;
  try {
    if (lists === null) {
      lists = JSON.parse(edgeLists());
      stripped = new Set(lists.not_forwarded);
      colo = request.cf?.colo ?? null;
    }
    const headers = request.headers;
    const read = lists.read;
    answer = citizen(
      env, ctx, Date.now(), request.method, request.url, headers.get(read.cookie),
      headers.get(read.test_key), headers.get(read.location), colo, headers.get(read.language),
      headers.get(read.client), headers.get(read.named_client), headers.get(read.work), cold,
    );
  } catch (e) {
    trapped(e);
    return failed();
  }
  switch (answer.charCodeAt(0)) {
    case 82: // R
      return respond(answer, env);
    case 70: // F
      return forward(answer, request, env);
    case 67: // C: this isolate has never met its room
      return firstSync(env, request.url, request.headers.get(lists.read.location), colo)
        .catch(trapped)
        .then(() => take(request, env, ctx, true));
    default: // X
      return operator(request, env);
  }
}

/**
 * The operator's API and console: the room's Worker's (its OBJECTS binding). A cut-off the
 * admin API's fault switch decided (stack tests only) is handed to the citizen's wasm, which
 * runs this isolate's syncs, and goes no further.
 */
async function operator(request, env) {
  const res = await env.OBJECTS.fetch(request);
  const cut = res.headers.get(lists.read.cut_off);
  if (cut === null) return res;
  const at = cut.indexOf(';');
  try {
    cutOff(cut.slice(at + 1), Number(cut.slice(0, at)));
  } catch (e) {
    trapped(e);
  }
  const out = new Response(res.body, res);
  out.headers.delete(lists.read.cut_off);
  return out;
}

function trapped(e) {
  if (e instanceof WebAssembly.RuntimeError) edgeTrapped = true;
  console.error('edgegate: the citizen edge failed:', e);
}

/** The plain failure page, for a request the wasm could not decide (it trapped). */
function failed() {
  if (lists === null) return new Response('', { status: 500 });
  return new Response(lists.pages.failed, { status: 500, headers: Object.assign({}, lists.headers.plain) });
}

/** The lines of an answer from `from` on, as header name and value, `n` of them, into `into`. */
function namedLines(f, from, n, into) {
  for (let i = from; i < from + n; i++) {
    const line = f[i];
    const tab = line.indexOf('\t');
    into(line.slice(0, tab), line.slice(tab + 1));
  }
}

/** `headers` (an object) with a Set-Cookie for each of `lines` from index `from`. */
function withCookies(headers, lines, from) {
  if (lines.length <= from) return headers;
  if (lines.length === from + 1) {
    headers['set-cookie'] = lines[from];
    return headers;
  }
  // Set-Cookie is the one header that repeats; an object cannot hold two.
  const all = new Headers(headers);
  for (let i = from; i < lines.length; i++) all.append('set-cookie', lines[i]);
  return all;
}

/** An `R` answer: a response of a kind whose headers the wasm listed, with its extra ones. */
function respond(answer, env) {
  const f = answer.split('\n');
  const kind = f[2];
  const n = Number(f[3]);
  // Response headers go to the constructor as an object: in workerd an array of pairs costs
  // about three times as much per response, a poll's largest single cost.
  const headers = Object.assign({}, lists.headers[kind]);
  namedLines(f, 4, n, (name, value) => { headers[name] = value; });
  const bodyAt = 4 + n;
  const status = Number(f[1]);
  if (kind !== 'page') return new Response(f[bodyAt], { status, headers: withCookies(headers, f, bodyAt + 1) });
  const room = f[bodyAt];
  if (page !== null) return new Response(pageOf(room), { status, headers: withCookies(headers, f, bodyAt + 1) });
  return loadPage(env).then((loaded) => loaded
    ? new Response(pageOf(room), { status, headers: withCookies(headers, f, bodyAt + 1) })
    : new Response(lists.pages.failed, { status: 500, headers: withCookies(Object.assign({}, lists.headers.plain), f, bodyAt + 1) }));
}

/** Reads the waiting page once; false if it cannot be read. */
async function loadPage(env) {
  try {
    const res = await env.ASSETS.fetch(lists.waiting_page);
    if (res.status !== 200) return false;
    page = new Uint8Array(await res.arrayBuffer());
    return true;
  } catch (e) {
    console.error('edgegate: the waiting page cannot be read:', e);
    return false;
  }
}

/** The waiting page of `room` ('' for the default room, which needs no naming). */
function pageOf(room) {
  if (room === '') return page;
  let bytes = roomPages.get(room);
  if (bytes === undefined) {
    bytes = new TextEncoder().encode(roomPage(new TextDecoder().decode(page), room));
    roomPages.set(room, bytes);
  }
  return bytes;
}

/**
 * An `F` answer: the request goes to the origin with its headers less the ones the gate never
 * forwards, plus the ones the wasm gave (the pass, the forwarded host and scheme, the origin's
 * own cookies), its body read within the limit, and a deadline on the origin's answer (not on
 * its body, which streams through). Its outcome goes back to the wasm, which says what the
 * answer carries back (a session ended, the origin's own cookies less any for the gate's).
 */
async function forward(answer, request, env) {
  const f = answer.split('\n');
  const [, context, target, timeoutMs, maxBody, count] = f;
  const n = Number(count);
  const cookiesAt = 6 + n;
  const method = request.method;
  // A GET or HEAD has no body to read (and no promise to wait on for it).
  const body = method === 'GET' || method === 'HEAD'
    ? null
    : await readBounded(method, request.headers.get('content-length'), request.body, Number(maxBody));
  if (body === TOO_LARGE) {
    return new Response(lists.pages.too_large, { status: 413, headers: withCookies(Object.assign({}, lists.headers.plain), f, cookiesAt) });
  }
  // The runtime copies the headers in one call; only the names are walked, and only those that
  // must go are deleted. (Appending each kept header instead cost 45 µs against 29 µs for a
  // phone browser's eleven headers, measured in workerd.)
  const headers = new Headers(request.headers);
  for (const name of request.headers.keys()) if (stripped.has(name)) headers.delete(name);
  namedLines(f, 6, n, (name, value) => headers.set(name, value));
  // The deadline on the origin's answer: a timer cleared as soon as the answer (or a failure)
  // comes, so nothing outlives the request. (`AbortSignal.timeout` was cheaper to make, but its
  // signal and timer live out the whole deadline: 10 s of them at thousands a second made the
  // garbage collector 16 % of a pass-through's samples in `scripts/bench --edge`.) The body
  // that follows streams through without a deadline (the stack test 'a slow body streams
  // through past the origin deadline').
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), Number(timeoutMs));
  const started = Date.now();
  let res = null;
  let status;
  try {
    res = await fetch(target, { method, headers, body, redirect: 'manual', signal: deadline.signal });
    status = res.status;
  } catch (e) {
    status = deadline.signal.aborted ? 1 : 0;
    console.warn(status ? `origin timed out after ${timeoutMs} ms` : `origin unreachable: ${e}`);
  } finally {
    clearTimeout(timer);
  }
  const theirs = res !== null && res.headers.has('set-cookie') ? res.headers.getSetCookie().join('\n') : null;
  const session = res === null ? null : res.headers.get(lists.read.session);
  const retryAfter = status === 503 ? res.headers.get(lists.read.retry_after) : null;
  const slots = res === null ? null : res.headers.get(lists.read.slots);
  let back = [''];
  try {
    // The request's cookies go back only with a session command or a failure: a session end
    // marks its ticket done, and a fault at admission hands the citizen back to the front.
    const failed = status < 2 || status >= 500;
    const cookie = session === null && !failed ? null : request.headers.get(lists.read.cookie);
    const safe = method === 'GET' || method === 'HEAD';
    back = forwarded(context, status, Date.now() - started, session, cookie, theirs, retryAfter, slots, safe).split('\n');
  } catch (e) {
    trapped(e);
  }
  if (back[0].charCodeAt(0) === 1) {
    // Handed back to the front of the line: the waiting page, which polls and lets them through
    // again in their turn, instead of the origin's failure (with the failure's status: 504 for
    // an origin that did not answer in time, 502 for one not reached, else the origin's own).
    if (res !== null && res.body !== null) await res.body.cancel();
    const failure = res === null ? (status === 1 ? 504 : 502) : status;
    const cookies = [...f.slice(cookiesAt), ...back.slice(1)];
    if (page === null && !(await loadPage(env))) {
      return new Response(lists.pages.failed, { status: 500, headers: withCookies(Object.assign({}, lists.headers.plain), cookies, 0) });
    }
    return new Response(pageOf(back[0].slice(1)), { status: failure, headers: withCookies(Object.assign({}, lists.headers.page), cookies, 0) });
  }
  if (res === null) {
    const headers = Object.assign({}, lists.headers.plain);
    return new Response(back[0], { status: status === 1 ? 504 : 502, headers: withCookies(headers, [...f.slice(cookiesAt), ...back.slice(1)], 0) });
  }
  // The origin's headers are copied by the runtime in one call, then only what must go is
  // deleted: the names are walked, not every header rebuilt one append at a time.
  const out = new Response(res.body, res);
  const outHeaders = out.headers;
  for (const name of res.headers.keys()) if (stripped.has(name)) outHeaders.delete(name);
  if (theirs !== null) outHeaders.delete('set-cookie');
  // The decision's cookies first (a renewed pass), then what the answer changed (a session
  // ended clears the pass): a later cookie of the same name wins.
  for (let i = cookiesAt; i < f.length; i++) outHeaders.append('set-cookie', f[i]);
  for (let i = 1; i < back.length; i++) outHeaders.append('set-cookie', back[i]);
  return out;
}
