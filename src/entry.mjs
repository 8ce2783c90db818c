// edgegate's entry (wrangler's `main`): the citizen's hot paths without the framework.
//
// A status poll, a page view and an admitted GET or HEAD to the origin are decided by ONE call
// into the wasm (`citizen`, src/hot.rs) with the request's text (its URL, Cookie header,
// location), and the response, or the origin's fetch with its deadline, is built here, so no
// Request or Response object crosses into wasm and no header is copied twice. The decisions are
// the Rust code's, the same as on the workers-rs path; this file only carries bytes. Everything
// else (the gate's own routes, the admin API and console, other methods, an isolate that has
// not met its room yet, whatever the wasm answers `X` to) goes to workers-rs's `fetch`, and the
// Durable Objects are workers-rs's, re-exported as worker-build generated them.
//
// worker-build (build/index.js) exports the Worker as a class whose prototype carries each
// #[wasm_bindgen] function of the crate; `citizen` and `forwarded` are taken from there.
import Rust, { RoomCoordinator, LocationAggregator } from '../build/index.js';

export { RoomCoordinator, LocationAggregator };

const { citizen, forwarded } = Rust.prototype;
// worker-build's panic recovery: a wasm trap marks it, and the next request that goes through
// workers-rs's class (as every request does while it is marked) starts a fresh instance.
const initState = globalThis.__worker_init_state;

// Where the waiting page lives among the assets, and its bytes once read (per room). Bytes, not
// text: a Response copies bytes as they are, but encodes a string anew each time.
const WAITING_PAGE = 'https://assets.invalid/queue/static/waiting.html';
let page = null;
const pages = new Map();

// Response headers go to the constructor as an object literal: in workerd an array of pairs
// costs about three times as much per response, a page view's or poll's largest single cost.
// (Set-Cookie is the one header that may repeat; a second one is appended.)
const PAGE_CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const PLAIN_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

// Headers never forwarded either way (forward.rs, `NOT_FORWARDED`).
const NOT_FORWARDED = [
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'cookie',
  'gate-pass', 'gate-session', 'edgegate-test-key', 'x-forwarded-host', 'x-forwarded-proto',
];
const STRIPPED = new Set(NOT_FORWARDED);
const GATE_COOKIES = ['edgegate_ticket', 'edgegate_pass', 'edgegate_test'];

// Read once per isolate, not per request (reading `request.cf` cost about 8 µs a request, timed
// by hand in workerd): the location the platform serves this isolate in (`cf.colo`; an isolate runs in one
// location all its life), and whether the deployment lets a request name its location
// (`LOCATION_HEADER`, local stack tests only; settings.rs).
let colo;
let locationHeader;

export default {
  // Not `async`: an answer decided at once goes back as a Response, not through a promise.
  fetch(request, env, ctx) {
    const method = request.method;
    if ((method === 'GET' || method === 'HEAD') && !initState.criticalError) {
      const url = request.url;
      const pathAt = url.indexOf('/', url.indexOf('//') + 2);
      if (pathAt > 0) {
        const queryAt = url.indexOf('?', pathAt);
        const path = queryAt < 0 ? url.slice(pathAt) : url.slice(pathAt, queryAt);
        const status = path === '/queue/status';
        if (status || (!path.startsWith('/queue/') && path !== '/admin' && !path.startsWith('/admin/'))) {
          if (status || page !== null) return hot(request, env, ctx, url, pathAt, !status);
          return loadPage(env).then((loaded) =>
            loaded ? hot(request, env, ctx, url, pathAt, true) : new Rust(ctx, env).fetch(request));
        }
      }
    }
    return new Rust(ctx, env).fetch(request);
  },
};

/**
 * A status poll (`page` false) or a protected path's GET or HEAD: the wasm's one call decides,
 * and the answer is built here, unless the wasm answers `X`.
 */
function hot(request, env, ctx, url, pathAt, page) {
  const headers = request.headers;
  if (locationHeader === undefined) {
    colo = request.cf?.colo ?? null;
    locationHeader = String(env.LOCATION_HEADER ?? '').trim() === 'on';
  }
  let answer = 'X';
  try {
    answer = citizen(
      env, ctx, Date.now(), page, url, headers.get('cookie'),
      headers.get('edgegate-test-key'), locationHeader ? headers.get('x-edgegate-location') : null, colo,
    );
  } catch (e) {
    trapped(e);
  }
  return answer === 'X' ? new Rust(ctx, env).fetch(request) : respond(answer, request, url, pathAt);
}

/** Reads the waiting page once; false (the workers-rs path then answers the failure) if it cannot. */
async function loadPage(env) {
  try {
    const res = await env.ASSETS.fetch(WAITING_PAGE);
    if (res.status !== 200) return false;
    page = new Uint8Array(await res.arrayBuffer());
    return true;
  } catch {
    return false;
  }
}

function trapped(e) {
  if (e instanceof WebAssembly.RuntimeError) initState.criticalError = true;
  console.error('edgegate: the hot path failed; workers-rs answers instead:', e);
}

/** The response for the wasm's answer (its format is described in src/hot.rs). */
function respond(answer, request, url, pathAt) {
  const f = answer.split('\n');
  const [tag, a, b, c, body] = f;
  if (tag === 'S') {
    // A response meant for one visitor only (citizen.rs, `personal_headers`).
    const headers = {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
    };
    if (a) headers['edgegate-ticket-ref'] = a;
    if (b) headers['edgegate-notice'] = b;
    if (c) headers.date = new Date().toUTCString();
    return new Response(body, { status: 200, headers: withCookies(headers, f, 5) });
  }
  if (tag === 'P') {
    const headers = {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
      'content-security-policy': PAGE_CSP,
    };
    return new Response(a ? pageFor(a) : page, { status: 200, headers: withCookies(headers, f, 5) });
  }
  if (tag === 'F') return forward(request, url, pathAt, f);
  return plain(Number(a), body, f, 5);
}

/** A built-in page (pages.rs) with the cookies `lines` holds from index `from`. */
function plain(status, html, lines, from) {
  const headers = {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': PLAIN_CSP,
  };
  return new Response(html, { status, headers: withCookies(headers, lines, from) });
}

/** `headers` with a Set-Cookie for each of `lines` from index `from`. */
function withCookies(headers, lines, from) {
  if (lines.length <= from) return headers;
  if (lines.length === from + 1) {
    headers['set-cookie'] = lines[from];
    return headers;
  }
  const all = new Headers(headers);
  for (let i = from; i < lines.length; i++) all.append('set-cookie', lines[i]);
  return all;
}

/** The waiting page of a room other than the default: it names its room (citizen.rs, `for_room`). */
function pageFor(room) {
  let bytes = pages.get(room);
  if (bytes === undefined) {
    const text = new TextDecoder()
      .decode(page)
      .replace('<html ', `<html data-room="${room}" `)
      .replace('/queue/status.html"', `/queue/status.html?room=${room}"`);
    bytes = new TextEncoder().encode(text);
    pages.set(room, bytes);
  }
  return bytes;
}

/**
 * An admitted GET or HEAD to the origin (forward.rs, `to_origin`): the pass set by the gate,
 * connection headers and the gate's cookies stripped, a deadline on the origin's answer (not
 * on its body, which streams through), and `Gate-Session: end` honoured.
 */
async function forward(request, url, pathAt, f) {
  const [, handle, origin, pass, timeoutMs] = f;
  const hostPort = url.slice(url.indexOf('//') + 2, pathAt);
  const https = url.startsWith('https:');
  // The runtime copies the headers in one call; only the names are walked, and only those that
  // must go are deleted. (Appending each kept header instead cost 45 µs against 29 µs for a
  // phone browser's eleven headers, measured in workerd.)
  const headers = new Headers(request.headers);
  for (const name of request.headers.keys()) if (STRIPPED.has(name)) headers.delete(name);
  const cookie = request.headers.get('cookie');
  if (cookie) {
    const kept = withoutGateCookies(cookie);
    if (kept) headers.set('cookie', kept);
  }
  headers.set('gate-pass', pass);
  headers.set('x-forwarded-host', hostPort);
  headers.set('x-forwarded-proto', https ? 'https' : 'http');
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
    res = await fetch(origin + url.slice(pathAt), { method: request.method, headers, redirect: 'manual', signal: deadline.signal });
    status = res.status;
  } catch (e) {
    status = deadline.signal.aborted ? 1 : 0;
    console.warn(status ? `origin timed out after ${timeoutMs} ms` : `origin unreachable: ${e}`);
  } finally {
    clearTimeout(timer);
  }
  const ends = res !== null && (res.headers.get('gate-session') ?? '').trim().toLowerCase() === 'end';
  let more = '';
  try {
    more = forwarded(Number(handle), status, Date.now() - started, ends);
  } catch (e) {
    trapped(e);
  }
  const extra = more ? more.split('\n') : [];
  if (res === null) {
    return plain(status === 1 ? 504 : 502, extra[0] ?? '', [...f.slice(5), ...extra.slice(1)], 0);
  }
  // The origin's headers are copied by the runtime in one call, then only what must go is
  // deleted: the names are walked, not every header rebuilt one append at a time.
  const out = new Response(res.body, res);
  const back = out.headers;
  let originCookies = false;
  for (const name of res.headers.keys()) {
    if (STRIPPED.has(name)) back.delete(name);
    else if (name === 'set-cookie') originCookies = true;
  }
  if (originCookies) {
    const lines = res.headers.getSetCookie();
    if (lines.some(isGateCookie)) {
      back.delete('set-cookie');
      for (const line of lines) if (!isGateCookie(line)) back.append('set-cookie', line);
    }
  }
  for (let i = 5; i < f.length; i++) back.append('set-cookie', f[i]);
  for (const line of extra) back.append('set-cookie', line);
  return out;
}

/** The `Cookie` header without the gate's own cookies (cookies.rs, `without_gate_cookies`). */
function withoutGateCookies(header) {
  return header
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => {
      const eq = pair.indexOf('=');
      const key = (eq < 0 ? pair : pair.slice(0, eq)).trim();
      return !GATE_COOKIES.some((gate) => key.includes(gate));
    })
    .join('; ');
}

/** A `Set-Cookie` from the origin for the gate's ticket or pass, which it may not set. */
function isGateCookie(line) {
  const eq = line.indexOf('=');
  if (eq < 0) return false;
  const key = line.slice(0, eq);
  return key.includes('edgegate_ticket') || key.includes('edgegate_pass');
}
