// The hierarchy on loopback: several locations (named by the X-Edgegate-Location header, which
// this deployment honours because LOCATION_HEADER is on) each sync through their own aggregator,
// and only the aggregators sync with the room coordinator. Checked over HTTP against
// `wrangler dev` running the real Worker and both Durable Objects: the counts of every location
// meet in one line, the coordinator hears from locations rather than from isolates, arrival
// order holds across locations, and a location cut off from the room goes stale alone and loses
// no place. Each test prints what it measured.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGate, startEchoOrigin, randomSecrets, Citizen, admin, eventually, configure as configureRoom, roomStateOf } from '../support/stack.mjs';

const SYNC_INTERVAL_MS = 250;
let gate, echo, vars;

before(async () => {
  echo = await startEchoOrigin();
  vars = {
    ...randomSecrets(),
    ORIGIN_URL: echo.url,
    SYNC_INTERVAL_MS: String(SYNC_INTERVAL_MS),
    SYNC_TIMEOUT_MS: '500',
    STALE_AFTER_MS: '1000',
    EDGEGATE_FAULTS: 'on',
    LOCATION_HEADER: 'on',
  };
  gate = await startGate({ vars });
  await configure({ paused: true, new_users_per_minute: 600 });
});

after(async () => {
  await gate?.stop();
  await echo?.stop();
});

const configure = (patch) => configureRoom(gate, vars.ADMIN_TOKEN, patch);
const roomState = () => roomStateOf(gate, vars.ADMIN_TOKEN);

async function fault(body) {
  const res = await fetch(`${gate.url}/admin/faults`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${vars.ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  // The room's Worker hands the cut-off to the gate's isolate in a header; the gate keeps it.
  assert.equal(res.headers.get('edgegate-cut-off'), null, 'the cut-off header reached the operator');
}

/** `n` citizens in `location` who each fetch a ticket and come back once, so each holds a place. */
async function join(location, n) {
  const citizens = Array.from({ length: n }, () => new Citizen(gate.url, { location }));
  await Promise.all(citizens.map((c) => c.status()));
  await Promise.all(citizens.map((c) => c.status()));
  return citizens;
}

/** Resolves just after the start of the next wall-clock second. */
const nextSecond = () => new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));

/** Polls every citizen in `group` (which sets off their locations' syncs). */
const pollAll = (group) => Promise.all(group.map((c) => c.status()));

test('places taken in three locations meet in one line, and the coordinator hears from the locations', async () => {
  await configure({ paused: true });
  const before = (await roomState()).counters.held;
  // Each location's citizens arrive in a second of their own: the line counts whole seconds
  // exactly (inside one second a place is an estimate), so those who came last, in CCC, must
  // see the eight of AAA and BBB ahead of them.
  const groups = [];
  for (const location of ['AAA', 'BBB', 'CCC']) {
    await nextSecond();
    groups.push(await join(location, 4));
  }
  const everyone = groups.flat();
  const state = await eventually(async () => {
    await pollAll(everyone);
    const s = await roomState();
    return s.counters.held - before === 12 && s.counters.locations_last_minute >= 3 ? s : null;
  }, '12 places from three locations', 20_000, 100);
  const places = await eventually(async () => {
    const inC = (await pollAll(groups[2])).map((r) => r.body.position);
    return Math.min(...inC) >= 9 ? inC : null;
  }, 'the last to arrive, in CCC, to see the places of AAA and BBB ahead', 10_000, 100);
  assert.ok(Math.max(...places) <= 12, `places ${places}`);
  // Over three seconds of polling in all three locations, the coordinator takes about one sync
  // per location per interval, whatever the isolates do.
  const from = (await roomState()).coordinator.sync_calls;
  const started = Date.now();
  while (Date.now() - started < 3_000) await pollAll(everyone);
  const made = (await roomState()).coordinator.sync_calls - from;
  const elapsed = Date.now() - started;
  const bound = Math.ceil(elapsed / SYNC_INTERVAL_MS + 2) * 3;
  console.log(`locations ${state.counters.locations_last_minute}, isolates ${state.counters.isolates_last_minute}; CCC's places ${places}; coordinator syncs ${made} in ${elapsed} ms (bound ${bound})`);
  assert.ok(made <= bound, `${made} coordinator syncs in ${elapsed} ms`);
  assert.ok(made >= 3, 'the locations did sync');
});

test('arrival order holds across locations: an earlier cohort goes through before a later one, give or take a second', async () => {
  await configure({ paused: true, new_users_per_minute: 600 });
  const first = [...await join('AAA', 5), ...await join('BBB', 5), ...await join('CCC', 5)];
  // A later cohort, well after the first (the first takes about 1.5 s at 10 a second).
  await new Promise((r) => setTimeout(r, 4_000));
  const second = [...await join('CCC', 5), ...await join('AAA', 5), ...await join('BBB', 5)];
  await configure({ paused: false });
  const admittedAt = new Map();
  // A citizen goes through at a poll: the time between one's polls is part of what it waits.
  let longestRound = 0;
  await eventually(async () => {
    const started = Date.now();
    await Promise.all([...first, ...second].filter((c) => !admittedAt.has(c)).map(async (c) => {
      const { body } = await c.status();
      if (body.state === 'admitted') admittedAt.set(c, Date.now());
    }));
    longestRound = Math.max(longestRound, Date.now() - started + 200);
    return admittedAt.size === first.length + second.length;
  }, 'all 30 admitted', 60_000, 200);
  const order = [...admittedAt].sort((x, y) => x[1] - y[1]).map(([c]) => (first.includes(c) ? '1' : '2') + c.location[0]).join(' ');
  console.log(`admission order (cohort, location): ${order}`);
  // Each location's limiter keeps the order between seconds among its own citizens. Across
  // locations a citizen of an earlier second may wait at their location's share of the rate
  // while another location, whose share is ahead of its demand, already lets the next cohort
  // through: until the shares follow the demand, a sync interval or two through the hierarchy.
  const firstOfSecond = Math.min(...second.map((c) => admittedAt.get(c)));
  const lastOfFirst = Math.max(...first.map((c) => admittedAt.get(c)));
  const late = first.map((c) => admittedAt.get(c) - firstOfSecond).filter((ms) => ms > 0);
  const early = second.filter((c) => admittedAt.get(c) < lastOfFirst).length;
  // What holds is the time: nobody waits more than about a second behind a later arrival,
  // plus the time the shares take to follow the demand (a batch shows an interval's demand,
  // and a share given back is free at the holder's next sync, at each of the two hops) and
  // the time between two of one's polls, which a loaded machine stretches.
  const bound = 1_000 + 4 * SYNC_INTERVAL_MS + longestRound;
  console.log(`first-cohort citizens admitted after the second cohort began: ${late.length} (by ${late.join(', ') || '-'} ms, bound ${bound} ms with polls ${longestRound} ms apart at most); second-cohort citizens ahead of the first's last: ${early}`);
  assert.ok(late.every((ms) => ms <= bound), `an earlier arrival waited ${Math.max(...late)} ms behind later ones`);
  assert.ok(early < second.length, 'the whole later cohort went ahead');
  await configure({ paused: true });
});

test('a location whose aggregator cannot reach the room goes stale alone, and loses no place', async () => {
  await configure({ paused: true });
  const held = async () => (await roomState()).counters.held;
  const h0 = await held();
  const a = await join('AAA', 2);
  const b = await join('BBB', 2);
  const baseline = await eventually(async () => {
    await pollAll([...a, ...b]);
    const n = await held();
    return n - h0 === 4 ? n : null;
  }, 'both locations counted', 10_000, 100);
  await fault({ room_unreachable_ms: 5_000, location: 'AAA' });
  const cutAt = Date.now();
  // Places taken in AAA while its aggregator is cut off from the room.
  const late = await join('AAA', 3);
  const staleA = await eventually(async () => {
    const [{ body: inA }, { body: inB }] = await Promise.all([a[0].status(), b[0].status()]);
    assert.equal(inB.stale, false, 'the other location went stale too');
    return inA.stale ? Date.now() - cutAt : null;
  }, 'AAA to show stale', 4_500, 100);
  // The coordinator has not counted them yet: AAA's batches wait at its aggregator.
  assert.equal(await held() - baseline, 0, 'counted before the aggregator could send them');
  // After the outage every place is there, and AAA is fresh again.
  const recovered = await eventually(async () => {
    await pollAll([...a, ...b, ...late]);
    const n = await held();
    const { body } = await a[0].status();
    return n - baseline === 3 && !body.stale ? Date.now() - cutAt : null;
  }, 'the three places taken during the outage to reach the room', 20_000, 100);
  console.log(`AAA stale after ${staleA} ms, all places counted and fresh at ${recovered} ms (outage 5000 ms)`);
  assert.ok(recovered >= 5_000, 'recovered before the outage ended');
});

test('an isolate cut off from one location\'s aggregator goes stale there only', async () => {
  await configure({ paused: true });
  const a = await join('AAA', 1);
  const c = await join('CCC', 1);
  await pollAll([...a, ...c]);
  await fault({ coordinator_unreachable_ms: 3_000, location: 'CCC' });
  const staleC = await eventually(async () => {
    const [{ body: inA }, { body: inC }] = await Promise.all([a[0].status(), c[0].status()]);
    assert.equal(inA.stale, false, 'AAA went stale with CCC');
    return inC.stale;
  }, 'CCC to show stale', 2_900, 100);
  assert.ok(staleC);
  await eventually(async () => !(await c[0].status()).body.stale, 'CCC to recover', 10_000, 100);
});
