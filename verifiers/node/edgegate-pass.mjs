// Verifies edgegate's Gate-Pass header in a Node origin, with node:crypto only.
//
// The gate sets `Gate-Pass` on every request it lets through to the origin; `verifyPass` turns
// that header's text into a trusted pass, or refuses it with the reason the Rust core would give
// (docs/PASS.md is the specification, crates/edgegate-core/tests/vectors.json the conformance
// suite). `gatePass` is an Express/connect-style middleware `(req, res, next)` that answers 401 to
// a request without exactly one valid pass. Copy this one file into your project.
//
//   import { gatePass } from './edgegate-pass.mjs';
//   app.get('/healthz', (req, res) => res.send('ok'));          // before the guard: no pass needed
//   app.use(gatePass({ keys: process.env.PASS_KEYS, room: 'booking' }));
//   app.post('/book', (req, res) => { /* req.gatePass.ticketId: the citizen's place in line */ });
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const MAX_TOKEN_BYTES = 160; // longer text is refused before decoding
const MAX_SKEW_MS = 30_000n; // how far in the future a pass's issue time may lie
const ORIGIN_EXPIRY_GRACE_MS = 30_000; // the middleware accepts a pass this long after its expiry
const KIND_PASS = 0x50; // 'P'
const TAG_LEN = 32;
const U64_MAX = 2n ** 64n - 1n;

// Pass layouts by version byte: the fields after the 3-byte header (version, kind, key id) and
// before the 32-byte HMAC tag, as [name, size in bytes, 'bytes' (hex) | 'u64' (big-endian, a
// BigInt)]. A new pass version is one more row here, plus the checks its new fields need in
// `scope` and the defaults an older pass reads as in `V1_DEFAULTS`.
const V1_FIELDS = [['roomTag', 8, 'bytes'], ['ticketId', 16, 'bytes'], ['issuedAt', 8, 'u64'], ['expiresAt', 8, 'u64']];
export const LAYOUTS = new Map([
  [1, V1_FIELDS],
  // endsAt: the session's absolute end; ticketIssuedAt: when the place in line was taken;
  // homeNetwork, awayNetwork: the gate's tags of the client networks the pass is good from,
  // opaque here (keyed with a secret the origin never holds) and checked by the gate itself.
  [2, [...V1_FIELDS, ['endsAt', 8, 'u64'], ['ticketIssuedAt', 8, 'u64'], ['homeNetwork', 8, 'bytes'], ['awayNetwork', 8, 'bytes']]],
]);
// What a version-1 pass reads as for the fields it lacks, as the core reads it: it ends when it
// expires, its ticket issued when it was, bound to no network.
const V1_DEFAULTS = (pass) => ({
  endsAt: pass.expiresAt, ticketIssuedAt: pass.issuedAt, homeNetwork: '0'.repeat(16), awayNetwork: '0'.repeat(16),
});
// The layout an unknown version byte is measured against: on its length the version is what is
// wrong (UnknownVersion), on any other length the length is (WrongLength), as the core does.
const FALLBACK_VERSION = 1;

/** What the origin can tell the gate, as a response header (docs/PASS.md, "Telling the gate"). */
export const END_SESSION = ['Gate-Session', 'end'];

/**
 * PASS_KEYS (`id:hex[,id:hex…]`, newest first, as `edgegate-origin derive-pass-keys` prints it)
 * → Map of key id → 32-byte key. Throws naming the entry, never a key.
 */
export function parsePassKeys(text) {
  const keys = new Map();
  String(text).split(',').forEach((part, entry) => {
    const colon = part.indexOf(':');
    const id = part.slice(0, colon).trim();
    const hex = part.slice(colon + 1).trim();
    // Rust's integer parser, which the gate's own reader uses, takes one leading '+'.
    if (colon < 0 || !/^\+?[0-9]+$/.test(id) || Number(id) > 255) {
      throw new Error(`PASS_KEYS entry ${entry} is not of the form <id 0-255>:<hex>`);
    }
    if (!/^[0-9A-Fa-f]{64}$/.test(hex)) throw new Error(`PASS_KEYS key ${Number(id)} is not 32 bytes of hex`);
    if (keys.has(Number(id))) throw new Error(`PASS_KEYS key id ${Number(id)} is listed twice`);
    keys.set(Number(id), Buffer.from(hex, 'hex'));
  });
  return keys;
}

/** The 8 bytes a pass carries for its room: SHA-256 over "edgegate room", a zero byte and the
 * room's name in UTF-8, cut to 8 bytes. */
export function roomTag(room) {
  return createHash('sha256').update('edgegate room\0').update(String(room), 'utf8').digest().subarray(0, 8);
}

/**
 * Strict unpadded base64url, or null. Node's decoder takes padding, both alphabets and
 * whitespace, skips characters it does not know and ignores the unused bits of the last
 * character; the core takes none of that, so the alphabet is checked first and the decoded
 * bytes must encode back to the exact text.
 */
function decode(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const raw = Buffer.from(text, 'base64url');
  return raw.toString('base64url') === text ? raw : null;
}

function scope(pass, wanted, now) {
  if (!wanted.equals(Buffer.from(pass.roomTag, 'hex'))) return 'WrongRoom';
  // In scope until the earlier of its idle end and its session's end.
  if (now >= pass.expiresAt || now >= pass.endsAt) return 'Expired';
  const latest = now + MAX_SKEW_MS > U64_MAX ? U64_MAX : now + MAX_SKEW_MS;
  if (pass.issuedAt > latest) return 'FromTheFuture';
  return null;
}

/**
 * Turns Gate-Pass text into a pass for `room` at `now` (unix ms, a number or a BigInt):
 * `{ ok: true, pass }`, or `{ ok: false, reason }` with the core's reason (TooLong, NotBase64,
 * WrongLength, UnknownVersion, WrongKind, UnknownKey, BadMac, WrongRoom, Expired, FromTheFuture),
 * for logs only: every reason means "no pass". The checks and their order are the core's.
 * `expiryGraceMs` accepts a pass that expired that long ago, as the reference origin does for
 * clock skew (the middleware passes 30 s). Times in the pass are BigInts (they are u64 on the
 * wire), ids and network tags lowercase hex. Every pass has every field of the newest layout: a
 * version-1 pass reads as ending when it expires (`endsAt`), its ticket issued when it was
 * (`ticketIssuedAt`), and network tags of zeros. The network tags are the gate's to check.
 */
export function verifyPass(text, { keys, room, now, expiryGraceMs = 0 }) {
  const no = (reason) => ({ ok: false, reason });
  if (typeof text !== 'string') return no('NotBase64');
  // The core counts UTF-8 bytes; a pass is ASCII, so for a real one bytes are characters.
  if (text.length > MAX_TOKEN_BYTES || Buffer.byteLength(text, 'utf8') > MAX_TOKEN_BYTES) return no('TooLong');
  const raw = decode(text);
  if (raw === null) return no('NotBase64');
  const version = raw.length > 0 && LAYOUTS.has(raw[0]) ? raw[0] : FALLBACK_VERSION;
  const layout = LAYOUTS.get(version);
  const payloadLen = 3 + layout.reduce((sum, [, size]) => sum + size, 0);
  if (raw.length !== payloadLen + TAG_LEN) return no('WrongLength');
  if (raw[0] !== version) return no('UnknownVersion');
  if (raw[1] !== KIND_PASS) return no('WrongKind');
  const key = keys.get(raw[2]);
  if (key === undefined) return no('UnknownKey');
  const payload = raw.subarray(0, payloadLen);
  // Constant time over the full 32 bytes: never `===` on a MAC.
  const mac = createHmac('sha256', key).update(payload).digest();
  if (!timingSafeEqual(mac, raw.subarray(payloadLen))) return no('BadMac');
  const pass = { version, keyId: raw[2] };
  let at = 3;
  for (const [name, size, kind] of layout) {
    const chunk = payload.subarray(at, at + size);
    pass[name] = kind === 'u64' ? chunk.readBigUInt64BE(0) : chunk.toString('hex');
    at += size;
  }
  if (version === 1) Object.assign(pass, V1_DEFAULTS(pass));
  const wanted = roomTag(room);
  const instant = typeof now === 'bigint' ? now : BigInt(Math.floor(Number(now)));
  let reason = scope(pass, wanted, instant);
  if (reason === 'Expired' && expiryGraceMs > 0) {
    const earlier = instant - BigInt(expiryGraceMs);
    reason = scope(pass, wanted, earlier < 0n ? 0n : earlier);
  }
  return reason === null ? { ok: true, pass } : no(reason);
}

const REFUSAL = '401: a valid Gate-Pass is required (this site opens only through the waiting room)\n';

/** Every Gate-Pass value of a request, apart: node:http keeps them apart in `rawHeaders`. */
function passHeaders(req) {
  if (Array.isArray(req.rawHeaders)) {
    const values = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i].toLowerCase() === 'gate-pass') values.push(req.rawHeaders[i + 1]);
    }
    return values;
  }
  // Without raw headers, repeated ones arrive joined by ", "; a comma is no base64url
  // character, so two passes are refused all the same.
  const value = req.headers?.['gate-pass'];
  return value === undefined ? [] : [].concat(value);
}

/**
 * Express/connect-style middleware: 401 (plain text, no-store) without exactly one valid
 * Gate-Pass; otherwise `req.gatePass` holds the pass and `next()` runs. `keys` is the PASS_KEYS
 * text or what `parsePassKeys` returned; `now` a clock in unix ms (tests pass a fixed one).
 */
export function gatePass({ keys, room, now = Date.now, expiryGraceMs = ORIGIN_EXPIRY_GRACE_MS }) {
  const ring = typeof keys === 'string' ? parsePassKeys(keys) : keys;
  if (!(ring instanceof Map) || ring.size === 0) throw new Error('gatePass: no pass keys');
  return function requirePass(req, res, next) {
    let verdict;
    try {
      const values = passHeaders(req);
      verdict = values.length === 1
        ? verifyPass(values[0].replace(/^[ \t]+|[ \t]+$/g, ''), { keys: ring, room, now: now(), expiryGraceMs })
        : { ok: false, reason: values.length === 0 ? 'Missing' : 'Repeated' };
    } catch {
      verdict = { ok: false, reason: 'Error' }; // a verifier bug must still refuse, never answer 500
    }
    if (verdict.ok) {
      req.gatePass = verdict.pass;
      return next();
    }
    res.statusCode = 401;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(REFUSAL);
  };
}
