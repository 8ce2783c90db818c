// The gate's contract (DESIGN.md), checked over HTTP against `wrangler dev` running the real
// Worker and its coordinator, with an echo origin that shows what the gate forwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGate, startEchoOrigin, randomSecrets, Citizen, admin, eventually, freePort, afterSyncs, settledState } from '../support/stack.mjs';

// A short sync interval and timeout keep the tests quick; the gate derives the settle time
// from them (2 × (interval + timeout) + 1 s: two hops), so the cursor never passes counts
// still on their way.
const SYNC_INTERVAL_MS = 250;
let gate, echo, vars, persistDir;

before(async () => {
  echo = await startEchoOrigin();
  persistDir = mkdtempSync(join(tmpdir(), 'edgegate-contract-'));
  vars = {
    ...randomSecrets(),
    ORIGIN_URL: echo.url,
    SYNC_INTERVAL_MS: String(SYNC_INTERVAL_MS),
    SYNC_TIMEOUT_MS: '500',
    ORIGIN_TIMEOUT_MS: '1500',
  };
  gate = await startGate({ vars, persistDir });
  // Nobody is admitted until a test raises the rate.
  const res = await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { new_users_per_minute: 0 });
  assert.equal(res.status, 200, JSON.stringify(res.body));
});

after(async () => {
  await gate?.stop();
  await echo?.stop();
});

/** The room as `GET /admin/state` shows it (config, counters, coordinator calls). */
async function roomState() {
  return (await admin(gate, vars.ADMIN_TOKEN, 'GET', '/admin/state')).body;
}

function cookieLine(res, name) {
  return res.headers.getSetCookie().find((l) => l.startsWith(`${name}=`));
}

/** A citizen admitted by briefly opening the gate wide, then closing it again. */
async function admittedCitizen() {
  const c = new Citizen(gate.url);
  await c.status();
  await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { new_users_per_minute: 60000 });
  await eventually(async () => (await c.status()).body.state === 'admitted', 'admission');
  await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { new_users_per_minute: 0 });
  assert.ok(c.cookies.get('edgegate_pass'), 'a pass cookie was set');
  return c;
}

test('a first visit gets the waiting page and a ticket cookie with the contract flags', async () => {
  const c = new Citizen(gate.url);
  const res = await c.get('/book?centre=3');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const line = cookieLine(res, 'edgegate_ticket');
  assert.ok(line, 'ticket cookie set');
  for (const flag of ['HttpOnly', 'SameSite=Lax', 'Path=/']) assert.ok(line.includes(flag), `${flag} in ${line}`);
  assert.ok(!line.includes('Secure'), 'no Secure flag on http');
  const html = await res.text();
  assert.match(html, /\/queue\/static\/app\.js/);
  assert.ok(!html.includes('centre=3'), 'the page reflects nothing from the request');
  // Coming back with the ticket takes the place in line: the same ticket, now counted, is
  // signed again once (its place is what the status poll shows before and after). Later visits
  // get no cookie at all: never a second ticket.
  const first = await c.status();
  const before = first.body;
  const again = await c.get('/');
  assert.equal(again.status, 200);
  const counted = c.cookies.get('edgegate_ticket');
  const second = await c.status();
  const after = second.body;
  // The same ticket (its number) and the same place: nobody new stood in front of it.
  const ref = first.res.headers.get('edgegate-ticket-ref');
  assert.match(ref ?? '', /^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  assert.equal(second.res.headers.get('edgegate-ticket-ref'), ref, 'the same ticket');
  assert.ok(Number.isInteger(before.position) && before.position >= 1, JSON.stringify(before));
  assert.ok(Number.isInteger(after.position) && after.position <= before.position, `${after.position} after ${before.position}`);
  const third = await c.get('/');
  assert.equal(cookieLine(third, 'edgegate_ticket'), undefined, 'no new ticket on a later visit');
  assert.equal(c.cookies.get('edgegate_ticket'), counted);
});

test('status answers the contract JSON and keeps one place across polls', async () => {
  const c = new Citizen(gate.url);
  const first = await c.status();
  assert.equal(first.res.status, 200);
  assert.match(first.res.headers.get('content-type'), /^application\/json/);
  assert.equal(first.res.headers.get('cache-control'), 'no-store');
  const b = first.body;
  assert.equal(b.state, 'waiting');
  for (const key of ['state', 'position', 'ahead', 'eta_s', 'next_poll_ms']) assert.ok(key in b, key);
  assert.ok(Number.isInteger(b.next_poll_ms) && b.next_poll_ms >= 1000);
  // The second poll takes the place in line (the ticket is signed again, once, as counted);
  // after that the cookie never changes.
  await c.status();
  const ticket = c.cookies.get('edgegate_ticket');
  // Let the coordinator count this arrival, then the place is known and must never grow.
  const placed = await eventually(async () => {
    const s = (await c.status()).body;
    return Number.isInteger(s.position) && s.position >= 1 ? s : null;
  }, 'a position');
  for (let i = 0; i < 5; i++) {
    const s = (await c.status()).body;
    assert.ok(s.position <= placed.position, `position grew: ${s.position} > ${placed.position}`);
  }
  assert.equal(c.cookies.get('edgegate_ticket'), ticket, 'same ticket throughout');
});

test('tampered, truncated, trailing, garbage or oversized cookies count as none: a fresh ticket, never a 500', async () => {
  const c = new Citizen(gate.url);
  await c.status();
  const good = c.cookies.get('edgegate_ticket');
  const flipped = good.slice(0, 40) + (good[40] === 'A' ? 'B' : 'A') + good.slice(41);
  const cases = {
    tampered: flipped,
    truncated: good.slice(0, good.length - 5),
    trailing: good + 'AAAA',
    garbage: '%%%not-a-token%%%',
    empty: '',
    huge: 'A'.repeat(6000),
  };
  for (const [name, value] of Object.entries(cases)) {
    for (const path of ['/', '/queue/status']) {
      const res = await fetch(gate.url + path, { headers: { cookie: `edgegate_ticket=${value}; edgegate_pass=${value}` } });
      assert.equal(res.status, 200, `${name} at ${path}`);
      const line = cookieLine(res, 'edgegate_ticket');
      assert.ok(line, `${name} at ${path}: fresh ticket issued`);
      assert.ok(!line.includes(value.slice(0, 30)) || value === '', `${name}: not the same ticket`);
    }
  }
});

test('the admin API needs the bearer token and names bad fields', async () => {
  assert.equal((await fetch(gate.url + '/admin/state')).status, 401);
  const wrong = await fetch(gate.url + '/admin/state', { headers: { authorization: 'Bearer nope' } });
  assert.equal(wrong.status, 401);
  const put = await fetch(gate.url + '/admin/config', { method: 'PUT', body: '{"paused":true}' });
  assert.equal(put.status, 401);
  const state = await admin(gate, vars.ADMIN_TOKEN, 'GET', '/admin/state');
  assert.equal(state.status, 200);
  assert.equal(state.body.config.new_users_per_minute, 0);
  // A place is counted when its ticket comes back (the second poll), and reaches the
  // coordinator with the isolate's next sync, which a poll sets off.
  const visitor = new Citizen(gate.url);
  await eventually(async () => {
    await visitor.status();
    return (await roomState()).counters.seated_total >= 1;
  }, 'a place counted');
  for (const [body, field] of [[{ max_active: 0 }, 'max_active'], [{ session_duration_s: 'long' }, 'session_duration_s'], [{ colour: 1 }, 'colour']]) {
    const res = await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', body);
    assert.equal(res.status, 400);
    assert.equal(res.body.field, field);
  }
});

test('raising the rate admits the visitor and sets an HttpOnly pass cookie', async () => {
  const c = new Citizen(gate.url);
  assert.equal((await c.status()).body.state, 'waiting');
  await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { new_users_per_minute: 60000 });
  let passLine;
  await eventually(async () => {
    const { res, body } = await c.status();
    passLine ??= cookieLine(res, 'edgegate_pass');
    return body.state === 'admitted';
  }, 'admission after raising the rate');
  await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { new_users_per_minute: 0 });
  assert.ok(passLine, 'pass cookie set');
  for (const flag of ['HttpOnly', 'SameSite=Lax', 'Path=/']) assert.ok(passLine.includes(flag), flag);
});

test('the pass reaches the origin as Gate-Pass set by the gate; a client-sent one never does', async () => {
  const c = await admittedCitizen();
  const pass = c.cookies.get('edgegate_pass');
  const res = await c.get('/book/slot?id=7', { headers: { cookie: c.cookieHeader() + '; other=1', 'gate-pass': 'forged-by-client' } });
  assert.equal(res.status, 200);
  const seen = await res.json();
  assert.equal(seen.url, '/book/slot?id=7');
  assert.equal(seen.headers['gate-pass'], pass);
  assert.equal(seen.headers.cookie, 'other=1', 'gate cookies are not forwarded');
  assert.match(seen.headers['x-forwarded-host'], /^127\.0\.0\.1:\d+$/);
  // Without a pass, a forged Gate-Pass gets the waiting page and reaches nobody.
  const before = echo.seen.length;
  const stranger = await fetch(gate.url + '/book', { headers: { 'gate-pass': pass } });
  assert.equal(stranger.status, 200);
  assert.match(await stranger.text(), /queue\/static/);
  assert.equal(echo.seen.length, before);
});

test('Gate-Pass carries the pass as verified, never the text a client wrapped around it', async () => {
  // The gate sends the visitor's own pass cookie on (it verified, so it needs no new MAC): a
  // script that quotes, pads or appends to it must not get its own bytes to the origin. (Its
  // ticket is admitted, so a pass that does not verify is minted anew and that one is sent.)
  const c = await admittedCitizen();
  const pass = c.cookies.get('edgegate_pass');
  const ticket = c.cookies.get('edgegate_ticket');
  const sent = async (cookie) => {
    const before = echo.seen.length;
    const res = await c.get('/book', { headers: { cookie } });
    const body = await res.text();
    return echo.seen.length > before ? JSON.parse(body).headers['gate-pass'] : null;
  };
  assert.equal(await sent(`edgegate_ticket=${ticket}; edgegate_pass="${pass}"`), pass, 'quoted');
  assert.equal(await sent(`edgegate_pass=${pass};edgegate_ticket=${ticket}`), pass, 'another order');
  for (const garbled of [`" ${pass} "`, `${pass}x`, `${pass}%0d%0aX-Injected:1`, pass.slice(0, -2), `${pass}=`]) {
    const forwarded = await sent(`edgegate_ticket=${ticket}; edgegate_pass=${garbled}`);
    assert.notEqual(forwarded, garbled, `garbled …${garbled.slice(-12)} reached the origin`);
    if (forwarded !== null) assert.match(forwarded, /^[A-Za-z0-9_-]+$/, 'a pass the gate signed');
  }
  // Without the admitted ticket, a garbled pass reaches nobody.
  assert.equal(await sent(`edgegate_pass=${pass}x`), null);
});

test('a POST body is forwarded; the origin ending the session expires the pass', async () => {
  const c = await admittedCitizen();
  const posted = await c.get('/book', { method: 'POST', headers: { cookie: c.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' }, body: 'slot=9' });
  assert.equal((await posted.json()).body, 'slot=9');
  const res = await c.get('/end-session');
  assert.equal(res.status, 200);
  const line = cookieLine(res, 'edgegate_pass');
  assert.ok(line && /Max-Age=0/.test(line), `pass expired: ${line}`);
  assert.equal(res.headers.get('gate-session'), null, 'the command is not passed to the browser');
  // The browser, keeping what the answer set, holds no pass and a used-up ticket: its next
  // request to the site gets the waiting page and never reaches the origin, and its status
  // says it has joined again because its visit ended.
  assert.equal(c.cookies.get('edgegate_pass'), undefined);
  const seen = echo.seen.length;
  const next = await c.get('/book');
  assert.equal(next.status, 200);
  assert.match(await next.text(), /queue\/static/);
  assert.equal(echo.seen.length, seen, 'the ended session reached the origin');
  assert.equal((await c.status()).body.rejoined, 'ended');
});

test('origin down or slow: the admitted citizen is handed back to the front twice, then gets a clear error page, never a hang', async () => {
  const c = await admittedCitizen();
  await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { new_users_per_minute: 60000 });
  const holdsPass = () => [...c.cookies.keys()].some((k) => k.endsWith('edgegate_pass'));
  // Right after admission a fault is not the citizen's loss: the waiting page, under the
  // failure's status, and through again in their turn (readmission, at most twice).
  for (const [path, code] of [['/hang', 504], ['/drop', 502]]) {
    const failed = await c.get(path);
    assert.equal(failed.status, code);
    assert.match(await failed.text(), /queue\/static\/app\.js/);
    assert.ok(!holdsPass(), 'the pass is cleared');
    await eventually(async () => { await c.status(); return holdsPass(); }, 'through again', 20_000, 200);
  }
  const slow = await c.get('/hang');
  assert.equal(slow.status, 504);
  assert.match(await slow.text(), /not answering/);
  const dropped = await c.get('/drop');
  assert.equal(dropped.status, 502);
  await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { new_users_per_minute: 0 });
});

test("the origin's answer reaches the citizen without the gate's own cookies and headers", async () => {
  const c = await admittedCitizen();
  const res = await c.get('/sets-cookies');
  assert.equal(res.status, 200);
  const lines = res.headers.getSetCookie();
  assert.ok(lines.some((l) => l.startsWith('theme=dark')) && lines.some((l) => l.startsWith('lang=ko')), `the origin's own cookies pass: ${lines}`);
  assert.ok(!lines.some((l) => l.startsWith('edgegate_pass=forged')), `a forged pass is dropped: ${lines}`);
  assert.equal(res.headers.get('x-forwarded-host'), null);
  assert.equal(res.headers.get('x-origin-says'), 'hello');
  assert.equal(c.cookies.get('edgegate_pass') === 'forged', false);
  assert.equal(JSON.parse(await res.text()).url, '/sets-cookies');
});

test('a slow body streams through past the origin deadline: the deadline is on the answer only', async () => {
  const c = await admittedCitizen();
  const res = await c.get('/slow-body?ms=2500'); // ORIGIN_TIMEOUT_MS is 1500
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'first part;last part');
});

test('status polls make no coordinator call: only the periodic sync reaches it', async () => {
  const c = new Citizen(gate.url);
  await c.status();
  const calls = async () => (await roomState()).coordinator.sync_calls;
  const before = await calls();
  const started = Date.now();
  const polls = 300;
  for (let i = 0; i < polls; i++) assert.equal((await c.status()).res.status, 200);
  const elapsed = Date.now() - started;
  const made = (await calls()) - before;
  const allowed = Math.ceil(elapsed / SYNC_INTERVAL_MS) + 2;
  console.log(`coordinator sync calls: ${made} for ${polls} polls in ${elapsed} ms (${Math.round(made * 1000 / polls)} per 1,000 polls; bound ${allowed})`);
  assert.ok(made <= allowed, `${made} sync calls for ${polls} polls in ${elapsed} ms`);
});

/**
 * Asks for the status with a test key that the gate must ignore, and checks that the answer is
 * the live queue's, not the key's forced place: a real ticket is issued, and that ticket is told
 * the same place, a number, with the key as without it (a forced place would stay put while the
 * live one is whatever the queue says). Polled until the two agree, since a sync between the two
 * requests may refine the estimate. The first answer is for a ticket not counted yet (it takes
 * its place when it comes back), so its place may be missing or provisional: it is held only to
 * being a real answer, which the new ticket shows, with a number if it gives one.
 */
async function assertKeyIgnored(key, what) {
  const visitor = new Citizen(gate.url);
  const poll = async (headers = {}) => {
    const res = await visitor.get('/queue/status', { headers });
    return { res, place: (await res.json()).position };
  };
  const first = await poll({ 'edgegate-test-key': key });
  assert.ok(cookieLine(first.res, 'edgegate_ticket'), `${what}: a real ticket was issued`);
  const live = await eventually(async () => {
    const withKey = (await poll({ 'edgegate-test-key': key })).place;
    const without = (await poll()).place;
    return Number.isInteger(without) && without >= 1 && withKey === without ? without : null;
  }, `${what}: the ticket's place with the key to be its live place`);
  assert.ok(first.place === null || (Number.isInteger(first.place) && first.place >= 1),
    `${what}: the first answer's place ${first.place} (live ${live})`);
}

test('test keys: ignored while test mode is off; when on, they force a state or pass through without touching the counts', async () => {
  const token = vars.ADMIN_TOKEN;
  const mint = async (body) => {
    const res = await admin(gate, token, 'POST', '/admin/test-key', body);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.test_key;
  };
  const waiting42 = await mint({ mode: 'waiting', position: 42 });
  const through = await mint({ mode: 'through' });
  assert.equal((await admin(gate, token, 'POST', '/admin/test-key', { mode: 'teleport' })).body.field, 'mode');
  assert.equal((await fetch(gate.url + '/admin/test-key', { method: 'POST', body: '{"mode":"through"}' })).status, 401);

  // Test mode off: a valid key is ignored; the visitor joins the real queue.
  await assertKeyIgnored(waiting42, 'a test key while test mode is off');

  await admin(gate, token, 'PUT', '/admin/config', { test_mode: true });
  const forced = await eventually(async () => {
    const res = await fetch(gate.url + '/queue/status', { headers: { 'edgegate-test-key': waiting42 } });
    const body = await res.json();
    return body.position === 42 ? { res, body } : null;
  }, 'test mode to reach the edge');
  assert.equal(forced.body.state, 'waiting');
  assert.equal(cookieLine(forced.res, 'edgegate_ticket'), undefined, 'no ticket issued under a test key');
  const viaCookie = await fetch(gate.url + '/queue/status', { headers: { cookie: `edgegate_test=${waiting42}` } });
  assert.equal((await viaCookie.json()).position, 42);

  const bystander = new Citizen(gate.url);
  const nudge = () => bystander.status();
  await nudge();
  // The bystander's own arrival is counted before the baseline is taken.
  const before = await settledState(roomState, nudge);
  for (let i = 0; i < 5; i++) await fetch(gate.url + '/queue/status', { headers: { 'edgegate-test-key': waiting42 } });
  const res = await fetch(gate.url + '/book?via=test', { headers: { 'edgegate-test-key': through } });
  const seen = await res.json();
  assert.equal(seen.url, '/book?via=test');
  assert.ok(seen.headers['gate-pass'], 'a pass was minted for the request');
  assert.equal(seen.headers['edgegate-test-key'], undefined, 'the test key is not forwarded');
  assert.equal(cookieLine(res, 'edgegate_pass'), undefined, 'no pass cookie under a test key');
  const after = await afterSyncs(roomState, nudge);
  assert.equal(after.counters.seated_total, before.counters.seated_total, 'no places counted');
  assert.equal(after.counters.let_through_total, before.counters.let_through_total, 'no let-through counted');

  // A key past its expiry is ignored: the two-second key forces position 7, then stops.
  const brief = await mint({ mode: 'waiting', position: 7, ttl_s: 2 });
  const briefStatus = async () =>
    (await (await fetch(gate.url + '/queue/status', { headers: { 'edgegate-test-key': brief } })).json()).position;
  assert.equal(await briefStatus(), 7);
  await eventually(async () => (await briefStatus()) !== 7, 'the two-second key to expire', 8_000);

  // Tampered keys are ignored like any bad token.
  const tampered = through.slice(0, 30) + (through[30] === 'A' ? 'B' : 'A') + through.slice(31);
  const bad = await fetch(gate.url + '/book', { headers: { 'edgegate-test-key': tampered } });
  assert.match(await bad.text(), /queue\/static/, 'a tampered key gets the waiting page');

  await admin(gate, token, 'PUT', '/admin/config', { test_mode: false });
  await eventually(async () => {
    const r = await fetch(gate.url + '/book', { headers: { 'edgegate-test-key': through } });
    return /queue\/static/.test(await r.text());
  }, 'test mode off to reach the edge');
});

test('opening early releases the pre-queue at once, not at the old opening time', async () => {
  const token = vars.ADMIN_TOKEN;
  const opensAt = Date.now() + 3_600_000;
  await admin(gate, token, 'PUT', '/admin/config', { new_users_per_minute: 0, opens_at: opensAt });
  const early = new Citizen(gate.url);
  await eventually(async () => (await early.status()).body.state === 'prequeue', 'the pre-queue to reach the edge');
  // The ticket was drawn in the pre-queue; now the operator opens fifty minutes early.
  await admin(gate, token, 'PUT', '/admin/config', { opens_at: null, new_users_per_minute: 60000 });
  const admitted = await eventually(async () => {
    const { body } = await early.status();
    return body.state === 'admitted' ? body : null;
  }, 'the pre-queue ticket to be admitted', 15_000);
  assert.equal(admitted.state, 'admitted');
  await admin(gate, token, 'PUT', '/admin/config', { new_users_per_minute: 0 });
});

test('a ticket or test key signed for another room, with the same secrets, counts as none', async () => {
  const token = vars.ADMIN_TOKEN;
  const other = await startGate({ vars: { ...vars, ROOM: 'another-event' } });
  try {
    await admin(other, token, 'PUT', '/admin/config', { test_mode: true });
    const foreignKey = (await admin(other, token, 'POST', '/admin/test-key', { mode: 'waiting', position: 99 })).body.test_key;
    const positionAt = async (g, key) =>
      (await (await fetch(g.url + '/queue/status', { headers: { 'edgegate-test-key': key } })).json()).position;
    await eventually(async () => (await positionAt(other, foreignKey)) === 99, 'the other room to honour its own key');
    const stranger = new Citizen(other.url);
    await stranger.status();
    const foreignTicket = stranger.cookies.get('edgegate_ticket');

    await admin(gate, token, 'PUT', '/admin/config', { test_mode: true });
    const ownKey = (await admin(gate, token, 'POST', '/admin/test-key', { mode: 'waiting', position: 42 })).body.test_key;
    await eventually(async () => (await positionAt(gate, ownKey)) === 42, 'test mode to reach the edge');
    await assertKeyIgnored(foreignKey, 'the other room\'s test key');
    const res = await fetch(gate.url + '/queue/status', { headers: { cookie: `edgegate_ticket=${foreignTicket}` } });
    assert.equal(res.status, 200);
    const fresh = cookieLine(res, 'edgegate_ticket');
    assert.ok(fresh && !fresh.includes(foreignTicket), 'the other room\'s ticket is replaced by a fresh one');
  } finally {
    await other.stop();
    await admin(gate, token, 'PUT', '/admin/config', { test_mode: false });
  }
});

test('a restart of the gate keeps every place', async () => {
  const citizens = [new Citizen(gate.url), new Citizen(gate.url), new Citizen(gate.url)];
  const last = citizens[2];
  // Counts an isolate has not sent yet die with it, so the place is compared only once all
  // are in.
  const settled = async () => (await settledState(roomState, () => last.status())).counters.seated_total;
  // A place is counted when its ticket comes back: two polls each.
  await last.status();
  await last.status();
  const counted = await settled();
  for (const c of citizens.slice(0, 2)) await c.status();
  for (const c of citizens.slice(0, 2)) await c.status();
  assert.equal(await settled(), counted + 2);
  const placed = (await last.status()).body;
  assert.ok(placed.position >= 1);
  const ticket = last.cookies.get('edgegate_ticket');
  await gate.stop();
  gate = await startGate({ vars, persistDir, port: await freePort() });
  last.base = gate.url;
  const after = await eventually(async () => {
    const { res, body } = await last.status();
    assert.equal(cookieLine(res, 'edgegate_ticket'), undefined, 'no new ticket after the restart');
    return Number.isInteger(body.position) ? body : null;
  }, 'status after restart');
  assert.equal(after.position, placed.position);
  assert.equal(last.cookies.get('edgegate_ticket'), ticket);
  const state = await admin(gate, vars.ADMIN_TOKEN, 'GET', '/admin/state');
  assert.equal(state.body.config.new_users_per_minute, 0, 'config survived the restart');
});
