// Holds edgegate-pass.mjs to the core: every pass vector in crates/edgegate-core/tests/vectors.json
// verifies (valid) or is refused with the core's reason (invalid), tickets are refused as
// passes, and the middleware answers 401 without exactly one valid Gate-Pass.
//
// Run: node --test verifiers/node/
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { END_SESSION, gatePass, parsePassKeys, roomTag, verifyPass } from './edgegate-pass.mjs';

const vectors = JSON.parse(readFileSync(new URL('../../crates/edgegate-core/tests/vectors.json', import.meta.url), 'utf8'));
const secrets = new Map(vectors.secrets.map((s) => [s.name, s]));
const passes = vectors.valid.filter((c) => c.pass);
const tickets = vectors.valid.filter((c) => c.ticket);
const refused = vectors.invalid.filter((c) => c.verify_as === 'pass');
const ran = { vector: 0, middleware: 0 };

/** The origin's PASS_KEYS for these secrets, as derive-pass-keys prints it, parsed. */
const ring = (names) => parsePassKeys(names.map((n) => `${secrets.get(n).id}:${secrets.get(n).pass_key}`).join(','));
const reason = (text, keys, room, now, expiryGraceMs = 0) => {
  const verdict = verifyPass(text, { keys, room, now, expiryGraceMs });
  return verdict.ok ? 'accepted' : verdict.reason;
};
/** JSON numbers arrive as doubles. Every time in the vectors is a safe integer but one, 2^63,
 * which a double holds exactly; anything else would need a parser that keeps the digits. */
const u64 = (n) => {
  assert.ok(Number.isSafeInteger(n) || n === 2 ** 63, `${n} survives JSON.parse`);
  return BigInt(n);
};

test('HMAC-SHA256 is RFC 4231', () => {
  for (const c of vectors.hmac_sha256) {
    assert.equal(createHmac('sha256', Buffer.from(c.key, 'hex')).update(Buffer.from(c.data, 'hex')).digest('hex'), c.tag, c.name);
    ran.vector += 1;
  }
});

test('pass keys are HMAC of the secret under "edgegate v1 pass key"', () => {
  for (const s of vectors.secrets) {
    assert.equal(createHmac('sha256', Buffer.from(s.secret, 'hex')).update('edgegate v1 pass key').digest('hex'), s.pass_key, s.name);
    assert.deepEqual([...ring([s.name])].map(([id, k]) => [id, k.toString('hex')]), [[s.id, s.pass_key]]);
    ran.vector += 1;
  }
});

test('valid passes verify at every instant, and not from the earlier of their two ends', () => {
  assert.ok(passes.length >= 4);
  const versions = new Set();
  for (const c of passes) {
    assert.equal(roomTag(c.room).toString('hex'), c.room_tag, `${c.name}: room tag`);
    // A version-1 pass (no "version" in the JSON) reads as the core reads it: it ends when it
    // expires, its ticket issued when it was, bound to no network.
    const p = c.pass;
    const want = {
      version: p.version ?? 1,
      keyId: p.key_id,
      ticketId: p.ticket_id,
      issuedAt: u64(p.issued_at),
      expiresAt: u64(p.expires_at),
      endsAt: u64(p.ends_at ?? p.expires_at),
      ticketIssuedAt: u64(p.ticket_issued_at ?? p.issued_at),
      homeNetwork: p.home ?? '0'.repeat(16),
      awayNetwork: p.away ?? '0'.repeat(16),
    };
    versions.add(want.version);
    for (const now of c.verify_at) {
      const verdict = verifyPass(c.token, { keys: ring(c.verify_with), room: c.room, now });
      assert.ok(verdict.ok, `${c.name} at ${now}: ${verdict.reason}`);
      const { roomTag: tag, ...fields } = verdict.pass;
      assert.deepEqual(fields, want, `${c.name} at ${now}`);
      assert.equal(tag, c.room_tag, `${c.name} at ${now}`);
      ran.vector += 1;
    }
    const end = want.expiresAt < want.endsAt ? want.expiresAt : want.endsAt;
    assert.equal(reason(c.token, ring(c.verify_with), c.room, end - 1n), 'accepted', `${c.name}: 1 ms before its end`);
    assert.equal(reason(c.token, ring(c.verify_with), c.room, end), 'Expired', `${c.name}: at its end`);
    ran.vector += 2;
  }
  assert.deepEqual([...versions].sort(), [1, 2]);
});

test("invalid passes are refused with the core's reason", () => {
  assert.ok(refused.length >= 30);
  // Every mismatch is listed, not only the first.
  const wrong = [];
  for (const c of refused) {
    const got = reason(c.token, ring(c.verify_with), c.room, c.now);
    if (got !== c.error) wrong.push(`${c.name}: want ${c.error}, got ${got}`);
    ran.vector += 1;
  }
  assert.deepEqual(wrong, []);
});

test('tickets are no passes', () => {
  for (const c of tickets) {
    for (const now of c.verify_at) {
      assert.equal(reason(c.token, ring(c.verify_with), c.room, now), 'WrongLength', c.name);
      ran.vector += 1;
    }
  }
});

const pass = passes.find((c) => c.name === 'pass');
const keys = ring(pass.verify_with);
const NOW = pass.verify_at[1];

test('the origin grace accepts 30 s past expiry and no more', () => {
  const end = pass.pass.expires_at;
  assert.equal(reason(pass.token, keys, 'booking', end + 29_999, 30_000), 'accepted');
  assert.equal(reason(pass.token, keys, 'booking', end + 30_000, 30_000), 'Expired');
  assert.equal(reason(pass.token, keys, 'booking', BigInt(end), 0), 'Expired');
  ran.vector += 3;
});

test("the origin grace is as long past a session's end", () => {
  const c = passes.find((v) => v.name === 'pass v2, its session ends before its idle end');
  const end = c.pass.ends_at;
  assert.ok(end < c.pass.expires_at);
  assert.equal(reason(c.token, ring(c.verify_with), c.room, end + 29_999, 30_000), 'accepted');
  assert.equal(reason(c.token, ring(c.verify_with), c.room, end + 30_000, 30_000), 'Expired');
  ran.vector += 2;
});

test('PASS_KEYS mistakes are refused without naming a key', () => {
  const key = 'ab'.repeat(32);
  for (const text of ['', `1:${key},`, '1:00', `256:${key}`, `x:${key}`, `1:${key},1:${key}`, key, `-1:${key}`]) {
    assert.throws(() => parsePassKeys(text), (e) => !e.message.includes(key), text);
  }
  assert.deepEqual([...parsePassKeys(` 2:${key.toUpperCase()} , +1:${key}`).keys()], [2, 1]);
});

test('the middleware lets one valid pass through and answers 401 to anything else', async (t) => {
  const guard = gatePass({ keys: pass.verify_with.map((n) => `${secrets.get(n).id}:${secrets.get(n).pass_key}`).join(','), room: 'booking', now: () => NOW });
  const server = createServer((req, res) => guard(req, res, () => {
    res.setHeader(...END_SESSION);
    res.end(req.gatePass.ticketId);
  }));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const ask = (passValues) => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.address().port, path: '/book' }, (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, cache: res.headers['cache-control'], session: res.headers['gate-session'], body }));
    });
    // An array sends the header once per value, as two proxies in a row might.
    if (passValues.length > 0) req.setHeader('Gate-Pass', passValues);
    req.on('error', reject);
    req.end();
    ran.middleware += 1;
  });

  assert.deepEqual(await ask([pass.token]), { status: 200, cache: undefined, session: 'end', body: pass.pass.ticket_id });
  const forged = refused.find((c) => c.error === 'BadMac').token;
  for (const values of [[], [pass.token, pass.token], [forged], ['']]) {
    const answer = await ask(values);
    assert.deepEqual([answer.status, answer.cache], [401, 'no-store'], JSON.stringify(values));
    assert.match(answer.body, /Gate-Pass/);
  }
  // Repeated headers folded into one value by a framework without rawHeaders: still refused.
  let status = 0;
  const res = { setHeader() {}, end() {}, set statusCode(s) { status = s; } };
  guard({ headers: { 'gate-pass': `${pass.token}, ${pass.token}` } }, res, () => { status = 200; });
  assert.equal(status, 401);
  guard({ headers: { 'gate-pass': pass.token } }, res, () => { status = 200; });
  assert.equal(status, 200);
  ran.middleware += 2;
});

after(() => console.log(`node: ${ran.vector} vector cases and ${ran.middleware} middleware requests ran`));
