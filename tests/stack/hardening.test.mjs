// What an attacker and a bad night try against the gate, over HTTP against `wrangler dev`: the
// console's session used from the citizens' origin, guessed tokens, a stolen console cookie
// after sign-out, headers that lie about the client, a Cookie header stuffed by a sibling site,
// every header the wasm reads huge or garbled, the binary sync forged at the gate,
// a room's prefix walked around by case or escapes, and the room's stored state lost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGate, startEchoOrigin, randomSecrets, Citizen, admin, eventually } from '../support/stack.mjs';

let gate, echo, vars, persistDir;

const ROUTES = JSON.stringify([{ name: 'events', prefix: '/events' }]);

before(async () => {
  echo = await startEchoOrigin();
  const secrets = randomSecrets();
  vars = {
    ...secrets,
    // A secret put with spaces and a line end around it still matches the token typed.
    ADMIN_TOKEN: `${secrets.ADMIN_TOKEN}   `,
    ORIGIN_URL: echo.url,
    ROOM_ROUTES: ROUTES,
    SYNC_INTERVAL_MS: '250',
    SYNC_TIMEOUT_MS: '500',
    CLIENT_ADDRESS_HEADER: 'on',
  };
  persistDir = mkdtempSync(join(tmpdir(), 'edgegate-hardening-'));
  gate = await startGate({ vars, persistDir });
});

after(async () => {
  await gate?.stop();
  await echo?.stop();
});

const token = () => vars.ADMIN_TOKEN.trim();

/** Signs in to the console on the operator's own origin: the session cookie's `name=value`. */
async function signIn(from = '198.51.100.1') {
  const res = await fetch(`${gate.operatorUrl}/admin/session`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-edgegate-console': '1',
      origin: gate.operatorUrl,
      'x-edgegate-client-address': from,
    },
    body: JSON.stringify({ token: token() }),
  });
  assert.equal(res.status, 204, await res.text());
  return res.headers.getSetCookie()[0].split(';')[0];
}

/** A console call with `cookie`, made as the console would, to `base`. */
function consoleCall(base, path, cookie, init = {}) {
  return fetch(base + path, {
    ...init,
    headers: { cookie, 'x-edgegate-console': '1', origin: base, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
}

test('the console and its session belong to the operator origin; on the citizens origin they are nothing', async () => {
  const page = await fetch(`${gate.operatorUrl}/admin/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /id="signin"/);
  // The citizens' origin serves no console: /admin/ is a protected path there, the waiting page.
  const there = await fetch(`${gate.url}/admin/`);
  const html = await there.text();
  assert.doesNotMatch(html, /id="signin"/);
  assert.match(html, /queue\/static/);
  // A session made on the operator's origin, used from the citizens' origin as a script there
  // would (its header, its own Origin), changes nothing.
  const cookie = await signIn();
  const before = (await admin(gate, token(), 'GET', '/admin/state')).body.config.paused;
  const res = await consoleCall(gate.url, '/admin/config', cookie, { method: 'PUT', body: '{"paused": true}' });
  assert.equal(res.status, 401, 'the admin API there answers a bearer token only');
  assert.equal((await admin(gate, token(), 'GET', '/admin/state')).body.config.paused, before);
  // On the operator's origin the same call is the operator's.
  const own = await consoleCall(gate.operatorUrl, '/admin/state', cookie);
  assert.equal(own.status, 200);
  // Signing in on the citizens' origin is not possible either.
  const login = await fetch(`${gate.url}/admin/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-edgegate-console': '1', origin: gate.url },
    body: JSON.stringify({ token: token() }),
  });
  assert.equal(login.headers.getSetCookie().some((c) => c.startsWith('edgegate_admin')), false);
});

test('a signed-out session is over everywhere: a copy of its cookie is refused', async () => {
  const cookie = await signIn();
  assert.equal((await consoleCall(gate.operatorUrl, '/admin/state', cookie)).status, 200);
  const out = await consoleCall(gate.operatorUrl, '/admin/session/end', cookie, { method: 'POST' });
  assert.equal(out.status, 204);
  // The copy an attacker took before the sign-out.
  assert.equal((await consoleCall(gate.operatorUrl, '/admin/state', cookie)).status, 401);
});

test('guessing the token: ten tries a minute from one network, then 429; other networks go on', async () => {
  const guess = (from, bearer) => fetch(`${gate.url}/admin/state`, {
    headers: { authorization: `Bearer ${bearer}`, 'x-edgegate-client-address': from },
  });
  const statuses = [];
  for (let i = 0; i < 12; i++) statuses.push((await guess('203.0.113.9', `wrong-${i}`)).status);
  assert.deepEqual(statuses.slice(0, 10), new Array(10).fill(401));
  assert.deepEqual(statuses.slice(10), [429, 429]);
  const held = await guess('203.0.113.9', token());
  assert.equal(held.status, 429, 'even the right token waits out the minute');
  assert.ok(Number(held.headers.get('retry-after')) > 0);
  assert.equal((await guess('203.0.113.10', token())).status, 200, 'another network is not held back');
});

test('the origin hears who the client is from the platform, never from the client', async () => {
  await admin(gate, token(), 'PUT', '/admin/config', { new_users_per_minute: 6000, paused: false });
  const c = new Citizen(gate.url);
  const lie = {
    'x-forwarded-for': '10.9.9.9', forwarded: 'for=10.9.9.9', 'x-real-ip': '10.9.9.9',
    'true-client-ip': '10.9.9.9', 'x-edgegate-client-address': '192.0.2.44',
  };
  await c.get('/', { headers: lie });
  await eventually(async () => (await c.get('/queue/status', { headers: lie }).then((r) => r.json())).state === 'admitted',
    'admission', 20_000, 200);
  const seen = echo.seen.length;
  const res = await c.get('/whoami', { headers: { ...lie, cookie: c.cookieHeader() } });
  assert.equal(res.status, 200);
  const got = echo.seen[seen].headers;
  assert.equal(got['x-forwarded-for'], '192.0.2.44');
  assert.equal(got['x-real-ip'], '192.0.2.44');
  assert.equal(got.forwarded, undefined);
  assert.equal(got['true-client-ip'], undefined);
  assert.equal(got['x-edgegate-client-address'], undefined);
  await admin(gate, token(), 'PUT', '/admin/config', { new_users_per_minute: 0 });
});

test('a Cookie header stuffed with another site\'s cookies does not cost the citizen its place', async () => {
  await admin(gate, token(), 'PUT', '/admin/config', { new_users_per_minute: 0 });
  const c = new Citizen(gate.url);
  const first = await c.status();
  const ref = first.res.headers.get('edgegate-ticket-ref');
  await c.status();
  // 10 KB of a sibling subdomain's cookies before and after the gate's own.
  const junk = Array.from({ length: 400 }, (_, i) => `sib${i}=${'x'.repeat(20)}`).join('; ');
  const res = await fetch(`${gate.url}/queue/status`, {
    headers: { cookie: `${junk}; ${c.cookieHeader()}; ${junk}` },
  });
  assert.ok(junk.length * 2 > 10_000);
  assert.equal(res.headers.get('edgegate-ticket-ref'), ref, 'the same ticket');
  assert.equal(res.headers.getSetCookie().some((l) => l.startsWith('edgegate_ticket=')), false, 'no new ticket');
});

test('every header the entry hands the wasm, huge or garbled, is no header: the place is kept, never a 500', async () => {
  await admin(gate, token(), 'PUT', '/admin/config', { new_users_per_minute: 0 });
  const c = new Citizen(gate.url, { address: '203.0.113.7' });
  await c.status();
  const { res: placed, body: before } = await c.status();
  const ref = placed.headers.get('edgegate-ticket-ref');
  assert.equal(typeof before.position, 'number');
  // What a script can put in each header the entry reads and hands to the wasm as text: 16 KB
  // of it, bytes that are not UTF-8, separators, a lookalike of a real value, and the header
  // that carries the stack tests' fault switch from the admin API, which a client's request
  // must not be able to set.
  const garbage = ['A'.repeat(16_000), '\u00ff\u00fe\u0080\u00c3', ';,;=\t==', '1.1.1.1.1', '../../../..', '0;'];
  const names = ['accept-language', 'edgegate-test-key', 'edgegate-work', 'x-edgegate-client-address',
    'x-edgegate-location', 'cf-connecting-ip', 'edgegate-cut-off'];
  let asked = 0;
  for (const name of names) {
    for (const value of garbage) {
      for (const path of ['/queue/status', '/queue/status.html', '/booking/1']) {
        const res = await c.get(path, { headers: { [name]: value } });
        asked++;
        assert.ok(res.status < 500, `${name}: ${value.slice(0, 20)} on ${path} answered ${res.status}`);
        const body = await res.text();
        if (path === '/queue/status') {
          assert.equal(res.status, 200);
          assert.equal(res.headers.get('edgegate-ticket-ref'), ref, `${name}: ${value.slice(0, 20)} cost the ticket`);
          assert.equal(JSON.parse(body).state, 'waiting');
        }
        assert.equal(res.headers.get('edgegate-cut-off'), null);
      }
    }
  }
  // And the place is where it was: no header moved it, and the isolate still syncs.
  const { body: after } = await c.status();
  assert.ok(after.position <= before.position, `position ${before.position} → ${after.position}`);
  assert.equal(asked, names.length * garbage.length * 3);
});

test('a client speaking the binary sync to the gate reaches no aggregator and learns nothing of it', async () => {
  // What an isolate sends its aggregator, as a script would forge it: the version header, the
  // content type and bytes a batch could be, at the aggregator's own path and others.
  await admin(gate, token(), 'PUT', '/admin/config', { new_users_per_minute: 0 });
  const citizen = new Citizen(gate.url);
  await citizen.status();
  const seen = echo.seen.length;
  const bytes = new Uint8Array(512).map((_, i) => (i * 37) & 0xff);
  for (const path of ['/sync?location=local&room=booking', '/queue/sync', '/admin/sync', '/queue/status']) {
    for (const method of ['POST', 'PUT']) {
      const res = await fetch(gate.url + path, {
        method,
        headers: { 'edgegate-wire': '1', 'content-type': 'application/octet-stream', cookie: citizen.cookieHeader() },
        body: bytes,
        redirect: 'manual',
      });
      const type = res.headers.get('content-type') ?? '';
      const body = await res.text();
      assert.ok(res.status < 500, `${method} ${path}: ${res.status} ${body.slice(0, 200)}`);
      assert.notEqual(res.status, 409, `${method} ${path} answered as an aggregator would`);
      assert.doesNotMatch(type, /octet-stream/, `${method} ${path}: ${type}`);
      assert.doesNotMatch(body, /binary sync|bad sync report/, `${method} ${path}`);
    }
  }
  assert.equal(echo.seen.length, seen, 'nothing reached the origin without a pass');
  const { body } = await citizen.status();
  assert.equal(body.state, 'waiting', 'the forger keeps its place, and only that');
});

test('a room prefix is not walked around by case or escapes', async () => {
  for (const path of ['/events/x', '/Events/x', '/%65vents/x', '/EVENTS/x']) {
    const res = await fetch(gate.url + path);
    const named = res.headers.getSetCookie().some((l) => l.startsWith('edgegate_ticket_events='));
    assert.ok(named, `${path} is the events room's: ${res.headers.getSetCookie()}`);
  }
});

test('an operator name with hidden or direction-turning characters is nobody in particular', async () => {
  const since = Date.now();
  const res = await fetch(`${gate.url}/admin/config`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json', 'edgegate-operator': encodeURIComponent('kim\u202Enimda') },
    body: JSON.stringify({ max_active: 777 }),
  });
  assert.equal(res.status, 200);
  const audit = await admin(gate, token(), 'GET', `/admin/audit?since=${since}`);
  const entry = audit.body.entries.find((e) => e.what === 'max_active' && e.to === 777);
  assert.equal(entry.who, 'operator');
});

test('the static files carry nosniff and the page\'s policy', async () => {
  const res = await fetch(`${gate.url}/queue/static/app.js`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
});

test('a room whose stored state is lost comes up paused, says why, and lets nobody through', async () => {
  await admin(gate, token(), 'PUT', '/admin/config', { paused: true, new_users_per_minute: 600 });
  const waiting = Array.from({ length: 5 }, () => new Citizen(gate.url));
  for (const c of waiting) {
    await c.get('/');
    await c.status();
  }
  await eventually(async () => (await admin(gate, token(), 'GET', '/admin/state')).body.counters.held >= 5,
    'the places to reach the room', 10_000, 200);
  // The coordinator's storage deleted (a renamed class, a bad migration), then a restart.
  await gate.stop();
  const objects = join(persistDir, 'v3', 'do');
  const rooms = readdirSync(objects).filter((d) => d.includes('RoomCoordinator'));
  assert.ok(rooms.length > 0, `no coordinator storage under ${objects}: ${readdirSync(objects)}`);
  for (const d of rooms) rmSync(join(objects, d), { recursive: true, force: true });
  gate = await startGate({ vars, persistDir, port: gate.port });
  // Citizens keep polling; the room must not reopen on the defaults.
  const state = await eventually(async () => {
    for (const c of waiting) await c.status();
    const s = (await admin(gate, token(), 'GET', '/admin/state')).body;
    return s.storage.readable === false ? s : null;
  }, 'the coordinator to hear from a location that knew the room', 20_000, 250);
  assert.equal(state.config.paused, true);
  assert.match(state.storage.problem, /lost/);
  const until = Date.now() + 5_000;
  while (Date.now() < until) {
    for (const c of waiting) assert.notEqual((await c.status()).body.state, 'admitted', 'let through by the loss');
  }
});
