// Admission keeps its promise, checked over HTTP against `wrangler dev` running the real Worker
// and its coordinator: no more than the rate is let through in any one-second window (bunched
// arrivals, a reopening after a high-rate history), one-shot fetches take no place, replays move
// no count, and a coordinator that cannot be reached keeps every place and admits nobody whose
// second it had not counted. Each test prints the figures it measured.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGate, startEchoOrigin, randomSecrets, Citizen, admin, eventually, afterSyncs, freePort, configure as configureRoom, roomStateOf } from '../support/stack.mjs';

const SYNC_INTERVAL_MS = 250;
let gate, echo, vars, persistDir;

before(async () => {
  echo = await startEchoOrigin();
  vars = {
    ...randomSecrets(),
    ORIGIN_URL: echo.url,
    SYNC_INTERVAL_MS: String(SYNC_INTERVAL_MS),
    SYNC_TIMEOUT_MS: '500',
    STALE_AFTER_MS: '1000',
    EDGEGATE_FAULTS: 'on',
  };
  persistDir = mkdtempSync(join(tmpdir(), 'edgegate-admission-'));
  gate = await startGate({ vars, persistDir });
  await configure({ paused: true, new_users_per_minute: 600 });
});

after(async () => {
  await gate?.stop();
  await echo?.stop();
});

const configure = (patch) => configureRoom(gate, vars.ADMIN_TOKEN, patch);
const roomState = () => roomStateOf(gate, vars.ADMIN_TOKEN);

/** A poll from a citizen who is already counted: sets off syncs, counts nothing new. */
const bystander = new Citizen('');
async function nudge() {
  bystander.base = gate.url;
  await bystander.status();
}

/** Resolves at the start of the next wall-clock second (plus a few ms). */
async function topOfSecond() {
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 2));
}

/** `n` citizens who each fetch a ticket and come back once, so each holds a place. */
async function joinAndComeBack(citizens) {
  await Promise.all(citizens.map((c) => c.status()));
  await Promise.all(citizens.map((c) => c.status()));
}

/** Waits until the coordinator counts `n` places waiting. */
async function waitingCount(n) {
  return eventually(async () => {
    await nudge();
    const s = await roomState();
    return s.counters.waiting >= n ? s : null;
  }, `${n} places waiting`, 30_000, 100);
}

/**
 * Every citizen polls as the waiting page does: again after the `next_poll_ms` the gate served
 * (capped at a second, so the test is quick: a citizen who keeps the page open and comes back
 * promptly), until admitted. Returns, per citizen, when the poll that was first answered
 * "admitted" was sent and when its answer came: the let-through was decided in between.
 */
async function admitAll(citizens, deadlineMs = 60_000) {
  const until = Date.now() + deadlineMs;
  const polls = await Promise.all(citizens.map(async (c, i) => {
    // The first polls are spread over the first second, as pages opened at different moments.
    await new Promise((r) => setTimeout(r, (i * 997) % 1000));
    for (;;) {
      assert.ok(Date.now() < until, `not admitted within ${deadlineMs} ms`);
      const sent = Date.now();
      const { body } = await c.status();
      if (body.state === 'admitted') return { sent, answered: Date.now() };
      await new Promise((r) => setTimeout(r, Math.min(body.next_poll_ms, 1000)));
    }
  }));
  return polls.sort((a, b) => a.answered - b.answered);
}

/**
 * The most let-throughs inside any one-second window, two ways: by when the answers came
 * (what a watcher sees, blurred by how long each answer took), and counting only those whose
 * whole poll, from sending to answer, lies inside the window: decided in it for certain. The
 * second is a lower bound on the true worst window, so if it breaks the bound, the gate did.
 */
function worstWindows(polls) {
  const answered = polls.map((p) => p.answered).sort((a, b) => a - b);
  let seen = 0;
  for (let i = 0, j = 0; i < answered.length; i++) {
    while (answered[i] - answered[j] >= 1000) j++;
    seen = Math.max(seen, i - j + 1);
  }
  let certain = 0;
  for (const start of polls.map((p) => p.sent)) {
    const inside = polls.filter((p) => p.sent >= start && p.answered < start + 1000).length;
    certain = Math.max(certain, inside);
  }
  const slowest = Math.max(...polls.map((p) => p.answered - p.sent));
  return { seen, certain, slowest };
}

test('arrivals bunched at the top of each second are let through at no more than the rate', async () => {
  await configure({ paused: true, new_users_per_minute: 600 });
  await nudge();
  const { counters: before } = await roomState();
  const citizens = [];
  for (let s = 0; s < 3; s++) {
    await topOfSecond();
    const bunch = Array.from({ length: 25 }, () => new Citizen(gate.url));
    await Promise.all(bunch.map((c) => c.status()));
    citizens.push(...bunch);
  }
  await Promise.all(citizens.map((c) => c.status()));
  await waitingCount(before.waiting + citizens.length);
  await configure({ paused: false });
  const polls = await admitAll(citizens);
  const { seen, certain, slowest } = worstWindows(polls);
  console.log(`# bunched arrivals at 10/s: ${citizens.length} let through in ${polls.at(-1).answered - polls[0].answered} ms; worst 1-s window ${certain} decided within it (${seen} answered within it; slowest answer ${slowest} ms)`);
  assert.ok(certain <= 10 + 1, `worst window ${certain} > 11`);
});

test('a room reopened at a lower rate after a high-rate history lets through no more than the new rate', async () => {
  // A high-rate history: the room open wide while a few citizens pass, then idle time.
  await configure({ paused: false, new_users_per_minute: 60_000 });
  await admitAll(Array.from({ length: 5 }, () => new Citizen(gate.url)), 30_000);
  await new Promise((r) => setTimeout(r, 3_000));
  await configure({ paused: true });
  const citizens = Array.from({ length: 100 }, () => new Citizen(gate.url));
  await joinAndComeBack(citizens);
  await waitingCount(citizens.length);
  await configure({ paused: false, new_users_per_minute: 1_200 });
  const polls = await admitAll(citizens);
  const { seen, certain, slowest } = worstWindows(polls);
  console.log(`# reopening at 20/s after 1,000/s: ${citizens.length} let through in ${polls.at(-1).answered - polls[0].answered} ms; worst 1-s window ${certain} decided within it (${seen} answered within it; slowest answer ${slowest} ms)`);
  assert.ok(certain <= 20 + 1, `worst window ${certain} > 21`);
});

test('one-shot fetches take no place: a citizen after 300 of them stands behind real people only', async () => {
  await configure({ paused: true, new_users_per_minute: 600 });
  await nudge();
  const { counters: before } = await roomState();
  const real = Array.from({ length: 3 }, () => new Citizen(gate.url));
  await joinAndComeBack(real);
  const joined = Date.now();
  // Link previews, crawlers, probes: one request each, no cookie ever sent back.
  for (let i = 0; i < 300; i += 20) {
    await Promise.all(Array.from({ length: 20 }, () => fetch(`${gate.url}/book?i=${i}`).then((r) => r.arrayBuffer())));
  }
  // Inside one second the order is a draw, so the citizen arrives in a later second than the
  // real ones (a fast machine makes the 300 fetches in less than one).
  await eventually(() => Math.floor(Date.now() / 1000) > Math.floor(joined / 1000), 'the next second', 2_000, 20);
  const me = new Citizen(gate.url);
  await me.status();
  await waitingCount(before.waiting + 3);
  const { body } = await me.status();
  const state = await afterSyncs(roomState, nudge);
  console.log(`# after 300 one-shot fetches and 3 real citizens: position ${body.position}; ${state.counters.waiting} waiting`);
  assert.equal(state.counters.waiting, before.waiting + 4, 'the phantoms hold no place');
  assert.equal(body.position, before.waiting + 4);
});

test('replayed tickets and session ends move the counts by at most one place, once', async () => {
  await configure({ paused: false, new_users_per_minute: 6_000 });
  const c = new Citizen(gate.url);
  await admitAll([c], 30_000);
  const ticketOnly = `edgegate_ticket=${c.cookies.get('edgegate_ticket')}`;
  const before = await afterSyncs(roomState, nudge);
  // The admitted ticket replayed without its pass, again and again.
  for (let i = 0; i < 30; i++) {
    const res = await fetch(`${gate.url}/queue/status`, { headers: { cookie: ticketOnly } });
    assert.equal((await res.json()).state, 'admitted');
  }
  const replayed = await afterSyncs(roomState, nudge);
  assert.equal(replayed.counters.let_through_total, before.counters.let_through_total, 'a replay is no new let-through');
  assert.ok(replayed.counters.active <= before.counters.active, 'a replay adds no active pass');
  // The origin ends the session; then the cookies from before replay the request that ended it.
  // (Whether such a replay may reach the origin at all is the session binding's to decide;
  // here only the counts are asked about.)
  const cookies = c.cookieHeader();
  assert.equal((await c.get('/end-session')).status, 200);
  for (let i = 0; i < 4; i++) {
    await (await fetch(`${gate.url}/end-session`, { headers: { cookie: cookies } })).arrayBuffer();
  }
  const ended = await afterSyncs(roomState, nudge);
  console.log(`# 30 ticket replays and 4 session-end replays: let through +${ended.counters.let_through_total - before.counters.let_through_total}, ended +${ended.counters.ended_total - before.counters.ended_total}`);
  assert.equal(ended.counters.ended_total, before.counters.ended_total + 1, 'a session ends once');
  // The place is used up: the citizen's next visit is a new arrival, and is told so.
  assert.equal(c.cookies.get('edgegate_pass'), undefined, 'the pass cookie is cleared');
  const { body } = await c.status();
  assert.equal(body.rejoined, 'ended', JSON.stringify(body));
});

test('a coordinator out of reach: places are kept, the page says so, nobody uncounted is admitted; on recovery all reconcile', async () => {
  await configure({ paused: false, new_users_per_minute: 600 });
  const before = await afterSyncs(roomState, nudge);
  const cut = await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/faults', { coordinator_unreachable_ms: 6_000 });
  assert.equal(cut.status, 200, JSON.stringify(cut.body));
  const started = Date.now();
  const late = Array.from({ length: 4 }, () => new Citizen(gate.url));
  await joinAndComeBack(late);
  // While cut off: stale after STALE_AFTER_MS, places shown, nobody admitted whose second the
  // coordinator never counted.
  const stale = await eventually(async () => {
    const { body } = await late[0].status();
    return body.stale ? body : null;
  }, 'the page to say the queue is out of touch', 5_000, 100);
  assert.equal(stale.state, 'waiting');
  assert.ok(Number.isInteger(stale.position) && stale.position >= 1, JSON.stringify(stale));
  while (Date.now() - started < 5_000) {
    for (const c of late) assert.notEqual((await c.status()).body.state, 'admitted', 'admitted while its second was uncounted');
    await new Promise((r) => setTimeout(r, 200));
  }
  // Recovery: the counts taken while cut off reach the coordinator, and everyone gets in.
  const polls = await admitAll(late, 30_000);
  const state = await afterSyncs(roomState, nudge);
  console.log(`# outage of 6 s: ${late.length} arrivals during it admitted ${polls[0].answered - started}–${polls.at(-1).answered - started} ms after it began`);
  assert.equal((await late[0].status()).body.stale, false);
  // Each place taken while cut off reached the coordinator, once.
  assert.equal(state.counters.seated_total - before.counters.seated_total, late.length);
});

test('stored state the coordinator cannot read keeps the room paused, says so, and lets nobody in', async () => {
  await configure({ paused: false, new_users_per_minute: 0 });
  const waiting = Array.from({ length: 3 }, () => new Citizen(gate.url));
  await joinAndComeBack(waiting);
  const before = await waitingCount(3);
  // A deploy that renamed a field, and a record from a future layout: the room's storage, as
  // wrangler dev keeps it, edited while the gate is down.
  await gate.stop();
  const dir = join(persistDir, 'v3', 'do', 'edgegate-objects-RoomCoordinator');
  const file = readdirSync(dir).find((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
  const db = new DatabaseSync(join(dir, file));
  db.prepare("UPDATE meta SET v = ? WHERE k = 'config'").run('{"v":1,"data":{"users_per_minute":6000}}');
  db.prepare("UPDATE meta SET v = ? WHERE k = 'release'").run('{"v":9,"data":{}}');
  db.close();
  gate = await startGate({ vars, persistDir, port: await freePort() });
  for (const c of waiting) c.base = gate.url;
  const state = await roomState();
  console.log(`# unreadable storage: readable=${state.storage.readable}, paused=${state.config.paused}: ${state.storage.problem}`);
  assert.equal(state.storage.readable, false);
  assert.match(state.storage.problem, /config/);
  assert.match(state.storage.problem, /release/);
  assert.equal(state.config.paused, true, 'the room stays paused');
  assert.ok(state.counters.waiting >= before.counters.waiting, 'every place is still counted');
  // The citizens see a pause, keep their places, and nobody is let in.
  await eventually(async () => (await waiting[0].status()).body.state === 'paused', 'the pause to reach the page', 10_000, 100);
  for (const c of waiting) assert.equal((await c.status()).body.state, 'paused');
  // The operator looks, sets the room up again and resumes: the problem is cleared.
  await configure({ paused: false, new_users_per_minute: 600 });
  const resumed = await roomState();
  assert.equal(resumed.storage.readable, true);
  await admitAll(waiting, 30_000);
});

test('a let-through reaches the room with no citizen left to carry it', async () => {
  // A location whose citizens go quiet just after one is let through sends no more syncs:
  // the count must still reach the room within a few intervals, carried by its aggregator.
  await configure({ paused: false, closed: false, new_users_per_minute: 6000 });
  const took = [];
  for (let round = 0; round < 4; round++) {
    const before = (await roomState()).counters.let_through_total;
    const c = new Citizen(gate.url);
    await joinAndComeBack([c]);
    // A busy location until the let-through: its syncs keep the aggregator's own syncs going.
    let busy = true;
    const traffic = (async () => {
      while (busy) {
        await nudge();
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    await admitAll([c], 10_000);
    busy = false;
    await traffic;
    // From here on nobody asks the gate anything; only the admin API reads the room.
    const quietFrom = Date.now();
    await eventually(async () => (await roomState()).counters.let_through_total > before,
      'the let-through to reach the room', 8 * SYNC_INTERVAL_MS + 2_000, 50);
    took.push(Date.now() - quietFrom);
  }
  console.log(`# let-throughs reached the room ${took.join(', ')} ms after the last citizen request`);
});
