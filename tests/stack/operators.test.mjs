// The operator's record and controls, checked over HTTP against `wrangler dev`: the audit log of
// config changes, the per-minute history, and revoking a ticket so its pass is refused at the
// gate and never reaches the origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGate, startEchoOrigin, randomSecrets, Citizen, admin, eventually } from '../support/stack.mjs';

const SYNC_INTERVAL_MS = 250;
let gate, echo, vars;

before(async () => {
  echo = await startEchoOrigin();
  vars = {
    ...randomSecrets(),
    ORIGIN_URL: echo.url,
    SYNC_INTERVAL_MS: String(SYNC_INTERVAL_MS),
    SYNC_TIMEOUT_MS: '500',
    ORIGIN_TIMEOUT_MS: '1500',
  };
  gate = await startGate({ vars, persistDir: mkdtempSync(join(tmpdir(), 'edgegate-operators-')) });
  const res = await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { new_users_per_minute: 0 });
  assert.equal(res.status, 200, JSON.stringify(res.body));
});

after(async () => {
  await gate?.stop();
  await echo?.stop();
});

/** An admin call naming its operator. */
async function asOperator(who, method, path, body) {
  const res = await fetch(gate.url + path, {
    method,
    headers: {
      authorization: `Bearer ${vars.ADMIN_TOKEN}`,
      'content-type': 'application/json',
      'edgegate-operator': who,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

test('a config change is audited per field, with from, to and the operator', async () => {
  const since = Date.now();
  const res = await asOperator('  Kim Min-ji ', 'PUT', '/admin/config', { max_active: 321, paused: true });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  await asOperator('Kim Min-ji', 'PUT', '/admin/config', { paused: false });
  const audit = await admin(gate, vars.ADMIN_TOKEN, 'GET', `/admin/audit?since=${since}`);
  assert.equal(audit.status, 200);
  const mine = audit.body.entries.filter((e) => e.at >= since);
  const find = (what, to) => mine.find((e) => e.what === what && JSON.stringify(e.to) === JSON.stringify(to));
  const maxActive = find('max_active', 321);
  assert.ok(maxActive, JSON.stringify(mine));
  assert.equal(maxActive.from, 500);
  assert.equal(maxActive.who, 'Kim Min-ji');
  assert.equal(find('paused', true).from, false);
  assert.ok(find('paused', false), 'the resume is audited too');
  // Newest last.
  assert.ok(mine.indexOf(find('paused', true)) < mine.indexOf(find('paused', false)));
  // Without the header the change is put down to "operator"; `since` leaves older ones out.
  const later = Date.now();
  await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { max_active: 500 });
  const recent = (await admin(gate, vars.ADMIN_TOKEN, 'GET', `/admin/audit?since=${later}`)).body.entries;
  assert.deepEqual(recent.map((e) => [e.what, e.who, e.from, e.to]), [['max_active', 'operator', 321, 500]]);
});

test('the history has the current minute, with the arrivals of citizens who came back', async () => {
  const citizens = [new Citizen(gate.url), new Citizen(gate.url), new Citizen(gate.url)];
  for (const c of citizens) await c.status();
  const minute = Date.now() - (Date.now() % 60_000);
  const row = await eventually(async () => {
    for (const c of citizens) await c.status(); // coming back takes the place; polls sync
    const { body } = await admin(gate, vars.ADMIN_TOKEN, 'GET', '/admin/history');
    const rows = body.minutes.filter((m) => m.minute >= minute);
    const arrivals = rows.reduce((n, m) => n + m.arrivals, 0);
    return arrivals >= citizens.length ? rows.at(-1) : null;
  }, 'arrivals in the history');
  for (const field of ['let_through', 'active', 'waiting', 'rate_per_minute', 'no_shows']) {
    assert.equal(typeof row[field], 'number', field);
  }
  assert.equal(row.rate_per_minute, 0);
  assert.equal(typeof row.paused, 'boolean');
  const csv = await fetch(`${gate.url}/admin/history?format=csv`, {
    headers: { authorization: `Bearer ${vars.ADMIN_TOKEN}` },
  });
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type'), /^text\/csv/);
  const lines = (await csv.text()).trim().split('\n');
  assert.equal(lines[0], 'minute,arrivals,let_through,active,waiting,rate_per_minute,paused,no_shows');
  assert.ok(lines.length >= 2);
});

test('a revocation is refused by field when it names nothing', async () => {
  for (const [body, field] of [[{ ticket: 'not-a-ref' }, 'ticket'], [{ before: Date.now() + 3_600_000 }, 'before'], [{}, 'ticket']]) {
    const res = await admin(gate, vars.ADMIN_TOKEN, 'POST', '/admin/revoke', body);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.field, field);
  }
});

test('a revoked pass is refused at the gate and never reaches the origin', async () => {
  const c = new Citizen(gate.url);
  const first = await c.status();
  const ref = first.res.headers.get('edgegate-ticket-ref');
  assert.match(ref, /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
  await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { new_users_per_minute: 60000 });
  await eventually(async () => (await c.status()).body.state === 'admitted', 'admission');
  await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { new_users_per_minute: 0 });
  assert.equal((await c.status()).res.headers.get('edgegate-ticket-ref'), ref, 'the same ticket');
  const through = await c.get('/book/before');
  assert.equal(through.status, 200);
  assert.ok(echo.seen.some((r) => r.url === '/book/before'));

  const res = await asOperator('call centre', 'POST', '/admin/revoke', { ticket: ref.replace('-', '').toLowerCase() });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.revoked.ticket, ref);
  const cookie = c.cookieHeader();
  // Probes until the edge has heard (each request also sets off syncs); from then on the pass
  // is refused whatever path it asks for.
  await eventually(async () => {
    const r = await fetch(`${gate.url}/book/probe`, { headers: { cookie }, redirect: 'manual' });
    return r.status === 403;
  }, 'the revoked pass refused', 10_000, SYNC_INTERVAL_MS);
  const refused = await c.get('/book/after', { headers: { cookie } });
  assert.equal(refused.status, 403);
  const page = await refused.text();
  assert.match(page, /withdrawn/);
  assert.ok(page.includes(ref), 'the page names the ticket number');
  assert.ok(!echo.seen.some((r) => r.url === '/book/after'), 'the origin never saw the revoked pass');
  const audit = (await admin(gate, vars.ADMIN_TOKEN, 'GET', '/admin/audit')).body.entries;
  assert.ok(audit.some((e) => e.what === 'revoke' && e.who === 'call centre' && e.to.ticket === ref));
  // Coming back is a new place, with a new ticket number.
  const again = await c.status();
  assert.notEqual(again.res.headers.get('edgegate-ticket-ref'), ref);
});

test('a closed room carries the operator\'s message to the waiting page, in both languages', async () => {
  const message = { ko: '내일 오전 9시에 다시 엽니다.', en: 'We open again at 9 tomorrow.' };
  let res = await asOperator('ops', 'PUT', '/admin/config', { closed: true, close_message: message });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const citizen = new Citizen(gate.url);
  const notice = await eventually(async () => {
    const { res: poll, body } = await citizen.status();
    const header = poll.headers.get('edgegate-notice');
    return body.state === 'closed' && header ? JSON.parse(decodeURIComponent(header)) : null;
  }, 'the closing message on a status answer', 10_000, 100);
  assert.deepEqual(notice, message);
  // Refused by field when it is not plain text of a bounded length.
  res = await asOperator('ops', 'PUT', '/admin/config', { close_message: { en: 'x'.repeat(301) } });
  assert.equal(res.status, 400);
  assert.equal(res.body.field, 'close_message');
  // Open again: the message is not shown to a room that is open.
  await asOperator('ops', 'PUT', '/admin/config', { closed: false });
  await eventually(async () => {
    const { res: poll, body } = await citizen.status();
    return body.state !== 'closed' && !poll.headers.get('edgegate-notice');
  }, 'the room open, without the message', 10_000, 100);
});

test('the room reports the origin as the edges saw it and the locations reporting', async () => {
  await asOperator('ops', 'PUT', '/admin/config', { new_users_per_minute: 60_000, paused: false, closed: false });
  const citizen = new Citizen(gate.url);
  await eventually(async () => (await citizen.status()).body.state === 'admitted', 'admission', 15_000, 100);
  assert.equal((await citizen.get('/fine')).status, 200);
  // A POST, which an origin fault at admission does not hand back: the plain failure.
  assert.equal((await citizen.get('/drop', { method: 'POST', body: 'x' })).status, 502);
  const state = await eventually(async () => {
    await citizen.status();
    const s = (await admin(gate, vars.ADMIN_TOKEN, 'GET', '/admin/state')).body;
    return s.origin.requests >= 2 && s.origin.errors_5xx >= 1 ? s : null;
  }, 'the forwards to reach the room', 10_000, 100);
  console.log(`origin: ${JSON.stringify(state.origin)}; locations: ${JSON.stringify(state.locations)}`);
  assert.equal(state.origin.window_s, 60);
  assert.ok(state.origin.latency_ms.p50 > 0);
  assert.equal(state.locations.length, 1);
  // wrangler dev names a placeholder colo of its own (DFW when it cannot fetch the real one).
  assert.match(state.locations[0].location, /^[A-Za-z0-9-]{1,16}$/);
  assert.ok(state.locations[0].synced_ms_ago < 5_000);
  await asOperator('ops', 'PUT', '/admin/config', { new_users_per_minute: 0 });
});
