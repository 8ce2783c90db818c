// Readmission, over HTTP against `wrangler dev`: a citizen let through whose first page fails at
// the origin (`503` on a GET) is handed back to the front of the line, not the back: the gate
// answers with the waiting page instead of the origin's failure, the page says what happened,
// and the citizen goes through again in their turn, taking a let-through of the rate like any
// other. A POST that fails hands nobody back, and a citizen who met a fault twice meets a
// third without readmission.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startGate, startEchoOrigin, randomSecrets, Citizen, eventually, afterSyncs, configure as configureRoom, roomStateOf,
} from '../support/stack.mjs';

let gate, echo, vars;

before(async () => {
  echo = await startEchoOrigin();
  vars = { ...randomSecrets(), ORIGIN_URL: echo.url, SYNC_INTERVAL_MS: '250', SYNC_TIMEOUT_MS: '500' };
  gate = await startGate({ vars, persistDir: mkdtempSync(join(tmpdir(), 'edgegate-readmission-')) });
  await configureRoom(gate, vars.ADMIN_TOKEN, { new_users_per_minute: 600 });
});

after(async () => {
  await gate?.stop();
  await echo?.stop();
});

const roomState = () => roomStateOf(gate, vars.ADMIN_TOKEN);
const holdsPass = (c) => [...c.cookies.keys()].some((k) => k.endsWith('edgegate_pass'));

/** Polls until `c` holds a pass again; the status answers seen on the way. */
async function throughAgain(c, what) {
  const seen = [];
  await eventually(async () => {
    if (holdsPass(c)) return true;
    const { body } = await c.status();
    seen.push(body);
    return holdsPass(c);
  }, what, 30_000, 200);
  return seen;
}

test('a 503 on the first page after admission hands the citizen back to the front, and they go through again', async () => {
  const citizen = new Citizen(gate.url);
  await citizen.status();
  await throughAgain(citizen, 'the citizen let through');
  const before = await eventually(async () => {
    await citizen.status();
    const c = (await roomState()).counters;
    return c.let_through_total >= 1 ? c : null;
  }, 'the first let-through counted');

  // A POST the origin cannot serve hands nobody back: its 503 reaches the citizen.
  const post = await citizen.get('/fail503', { method: 'POST', body: 'x' });
  assert.equal(post.status, 503);
  assert.equal(JSON.parse(await post.text()).method, 'POST', 'the origin\'s own answer');
  assert.ok(holdsPass(citizen));

  // The first page (a GET) fails: the waiting page, the pass cleared, the ticket kept.
  const page = await citizen.get('/fail503');
  assert.equal(page.status, 503);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  const html = await page.text();
  assert.match(html, /queue\/static\/app\.js/, 'the waiting page, not the origin\'s failure');
  assert.ok(!holdsPass(citizen), 'the pass is cleared');
  const seen = await throughAgain(citizen, 'the citizen let through again');
  assert.ok(seen.every((b) => b.state === 'admitted' || (b.position === 1 && b.readmitted === true)), JSON.stringify(seen));
  const after = await eventually(async () => {
    await citizen.status();
    const c = (await roomState()).counters;
    return c.let_through_total > before.let_through_total ? c : null;
  }, 'the second let-through counted');
  console.log(`readmitted: ${seen.length} polls before going through again; let-throughs ${before.let_through_total} → ${after.let_through_total}`);
  assert.equal(after.let_through_total, before.let_through_total + 1);

  // Twice more: the second is handed back, the third meets the origin's 503.
  const second = await citizen.get('/fail503');
  assert.match(await second.text(), /queue\/static\/app\.js/);
  await throughAgain(citizen, 'through a third time');
  const third = await citizen.get('/fail503');
  assert.equal(JSON.parse(await third.text()).url, '/fail503', 'the origin\'s own 503 at the bound');
  assert.ok(holdsPass(citizen));
});

test('a script cannot set the slots, hand itself back, or replay a handback; a garbled word from the origin changes nothing', async () => {
  const citizen = new Citizen(gate.url);
  await citizen.status();
  await throughAgain(citizen, 'the citizen let through');
  // The origin's words, sent by the client: never reach the origin, never read by the gate.
  const seen = echo.seen.length;
  const forged = await citizen.get('/fine', { headers: { 'gate-slots': '0', 'gate-session': 'requeue' } });
  assert.equal(forged.status, 200);
  const record = JSON.parse(await forged.text());
  assert.equal(record.headers['gate-slots'], undefined);
  assert.equal(record.headers['gate-session'], undefined);
  assert.ok(echo.seen.length > seen);
  assert.ok(holdsPass(citizen), 'not handed back by its own say');
  // Garbled or huge Gate-Slots from the origin: ignored.
  for (const n of ['-1', 'ten', '99999999999', '1e3']) {
    const res = await citizen.get(`/slots?n=${encodeURIComponent(n)}`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  }
  // Two syncs after the last of them, so its counts have reached the room.
  const state = await afterSyncs(roomState, () => citizen.status(), 2);
  assert.ok(state.origin.requests >= 5, JSON.stringify(state.origin));
  assert.equal(state.config.slots_remaining, undefined, JSON.stringify(state.config));

  // A handback replayed: the cookies kept from before the fault, presented again with
  // another failing page, bring the origin's own failure, not a second handback.
  const kept = new Map(citizen.cookies);
  const failed = await citizen.get('/fail503');
  assert.match(await failed.text(), /queue\/static\/app\.js/, 'handed back once');
  const script = new Citizen(gate.url);
  script.cookies = kept;
  const replay = await script.get('/fail503');
  assert.equal(replay.status, 503);
  assert.equal(JSON.parse(await replay.text()).url, '/fail503', 'the origin\'s own 503');
  assert.ok(![...script.cookies.entries()].some(([k, v]) => k.endsWith('edgegate_ticket') && v !== kept.get(k)), 'no new ticket for the replay');
});
