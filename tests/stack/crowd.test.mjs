// The hostile crowd, as a script would act against the gate, over HTTP against `wrangler dev`:
// it names its client address (CLIENT_ADDRESS_HEADER is on) and its location (LOCATION_HEADER),
// mints tickets by the hundred, decodes them, keeps the best, replays cookies after a booking
// and copies a pass to other networks. Each test prints what it measured.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startGate, startEchoOrigin, randomSecrets, Citizen, eventually, configure as configureRoom, roomStateOf } from '../support/stack.mjs';

const LOCATIONS = ['AAA', 'BBB', 'CCC', 'DDD'];
let gate, echo, vars;

/** A client at one address, served in one location. */
const client = (address, location = 'AAA') => new Citizen(gate.url, { address, location });

before(async () => {
  echo = await startEchoOrigin();
  vars = {
    ...randomSecrets(),
    ORIGIN_URL: echo.url,
    SYNC_INTERVAL_MS: '250',
    SYNC_TIMEOUT_MS: '500',
    LOCATION_HEADER: 'on',
    CLIENT_ADDRESS_HEADER: 'on',
  };
  gate = await startGate({ vars });
});

after(async () => {
  await gate?.stop();
  await echo?.stop();
});

const configure = (patch) => configureRoom(gate, vars.ADMIN_TOKEN, patch);
const roomState = () => roomStateOf(gate, vars.ADMIN_TOKEN);

/** The bytes a cookie's token carries (base64url). */
const bytesOf = (token) => Buffer.from(token, 'base64url');

/** Finds the count a work challenge hides, as the waiting page does: `<window>.<key>.<n>`. */
function solve(work) {
  const salt = Buffer.from(work.salt, 'hex');
  const n8 = Buffer.alloc(8);
  for (let n = 0; n <= work.most; n++) {
    n8.writeBigUInt64BE(BigInt(n));
    if (createHash('sha256').update(salt).update(n8).digest('hex') === work.target) {
      return `${work.window}.${work.key}.${n}`;
    }
  }
  throw new Error('no count found');
}

/** Runs `f` over `items`, `width` at a time, as a script with that many connections. */
async function inParallel(items, width, f) {
  const out = [];
  for (let i = 0; i < items.length; i += width) {
    out.push(...await Promise.all(items.slice(i, i + width).map(f)));
  }
  return out;
}

/** Kendall's tau between two equal-length lists of numbers. */
function kendall(a, b) {
  let s = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = i + 1; j < a.length; j++) {
      s += Math.sign(a[i] - a[j]) * Math.sign(b[i] - b[j]);
      n++;
    }
  }
  return s / n;
}

/**
 * `count` tickets minted from addresses `address(i)`, spread over the four locations, each
 * brought back once; then they keep polling, as a script holding its places does, until no
 * more than `budget` stand in line (a position shown, no work asked) or ten seconds pass.
 * Returns how many stood in line at first and at the end, and how long that took.
 */
async function seatMany(count, address, budget) {
  const clients = Array.from({ length: count }, (_, i) => client(address(i), LOCATIONS[i % 4]));
  const inLine = async (c) => {
    const { body } = await c.status();
    return body.position !== null && !body.work;
  };
  const first = await inParallel(clients, 20, async (c) => {
    await c.get('/');
    return inLine(c);
  });
  const t0 = performance.now();
  let placedSettled = count;
  try {
    await eventually(async () => {
      placedSettled = (await inParallel(clients, 20, inLine)).filter(Boolean).length;
      return placedSettled <= budget;
    }, 'the room\'s count to reach every edge', 10_000, 0);
  } catch {
    // Reported by the caller's assertion, with the count.
  }
  return {
    clients,
    placedAtFirst: first.filter(Boolean).length,
    placedSettled,
    settledMs: Math.round(performance.now() - t0),
  };
}

test('one /64 and one IPv4 address seat hundreds of tickets over four locations: no more than the budget stand in line without work', async () => {
  await configure({ new_users_per_minute: 0, paused: false, budget_v6: 4, budget_v4: 16, work_for_all: false });
  const v6 = await seatMany(120, (i) => `2001:db8:77:1:${(i + 1).toString(16)}::1`, 4);
  const v4 = await seatMany(120, () => '203.0.113.77', 16);
  const state = await roomState();
  console.log(`one /64: ${v6.placedAtFirst} of 120 in line without work at first, ${v6.placedSettled} after ${v6.settledMs} ms (budget 4)`);
  console.log(`one IPv4 address: ${v4.placedAtFirst} of 120 at first, ${v4.placedSettled} after ${v4.settledMs} ms (budget 16)`);
  console.log(`the room: ${JSON.stringify(state.networks)}`);
  assert.ok(v6.placedSettled <= 4, `${v6.placedSettled} places of one /64 without work`);
  assert.ok(v4.placedSettled <= 16, `${v4.placedSettled} places of one IPv4 address without work`);
  // Before the count was in, each location stopped the script at its own budget.
  assert.ok(v6.placedAtFirst <= 4 * LOCATIONS.length, `${v6.placedAtFirst}`);
  assert.ok(v4.placedAtFirst <= 16 * LOCATIONS.length, `${v4.placedAtFirst}`);
  // Operators see it: the networks at the top, counts only, and the work asked.
  assert.ok(state.networks.full >= 2, JSON.stringify(state.networks));
  assert.ok(state.networks.top.length >= 2 && state.networks.top[0].places >= 16);
  assert.ok(state.networks.work_asked_total >= 150, JSON.stringify(state.networks));
  assert.equal(JSON.stringify(state.networks).includes('203.0.113.77'), false, 'no address in clear');

  // Beyond the budget a place costs work, never a refusal: shown, it stands in line.
  const late = client('203.0.113.77', 'BBB');
  await late.get('/');
  const { body: asked } = await late.status();
  assert.ok(asked.work, 'work asked');
  assert.equal(asked.position, null);
  const t0 = performance.now();
  const answer = solve(asked.work);
  console.log(`work solved in Node in ${Math.round(performance.now() - t0)} ms (n = ${answer.split('.')[2]})`);
  const placed = await (await late.get('/queue/status', { headers: { 'edgegate-work': answer } })).json();
  assert.equal(placed.work, undefined);
  assert.ok(placed.position >= 1, JSON.stringify(placed));
  // A made-up answer, or another ticket's, is no answer.
  const cheat = client('203.0.113.77', 'BBB');
  await cheat.get('/');
  const refused = await (await cheat.get('/queue/status', { headers: { 'edgegate-work': answer } })).json();
  assert.ok(refused.work, 'another ticket\'s answer is refused');
});

test('mint-and-pick in a pre-queue: the cookie says nothing of the draw, and the revealed seed reproduces it', async () => {
  // Plenty of budget: the script here is one of many honest-looking addresses.
  await configure({ new_users_per_minute: 0, budget_v4: 1000, budget_v6: 1000, work_for_all: false });
  const opensAt = Date.now() + 20_000;
  await configure({ opens_at: opensAt });
  // The commitment is published within a sync of the schedule.
  const before = await eventually(async () => {
    const draw = await (await fetch(`${gate.url}/queue/draw`)).json();
    return draw.commitment ? draw : null;
  }, 'the commitment', 10_000, 100);
  assert.match(before.commitment, /^[0-9a-f]{64}$/);
  assert.equal(before.seed, null, 'no seed before the opening');
  // Forty citizens take one ticket each; the script mints 150 and keeps the one whose
  // cookie shows the smallest place, as the old layout let it.
  // The honest forty at one location, whose limiter keeps the order of those present: across
  // locations the order holds to the grain of the room's cursor (see the locations tests).
  const honest = Array.from({ length: 40 }, (_, i) => client(`198.51.100.${i + 1}`, 'AAA'));
  // A location that has not synced since the schedule answers its first arrivals as before it
  // (`waiting`): those places still join the draw, as they were taken before the opening.
  const firstAnswers = await inParallel(honest, 10, async (c) => { await c.get('/'); return (await c.status()).body.state; });
  const unaware = firstAnswers.filter((s) => s !== 'prequeue').length;
  const minted = Array.from({ length: 150 }, (_, i) => client(`192.0.2.${i + 1}`, LOCATIONS[i % 4]));
  await inParallel(minted, 25, (c) => c.get('/'));
  const visibleSub = (c) => bytesOf(c.cookies.get('edgegate_ticket')).readUInt32BE(15);
  const picked = minted.reduce((best, c) => (visibleSub(c) < visibleSub(best) ? c : best));
  picked.location = 'AAA';
  await picked.status();
  const seated = [...honest, picked];
  // A poll before the opening shows no place in the draw, once the location has heard of the
  // pre-queue (a sync or two after the schedule: until then it answers as before it).
  const early = await eventually(async () => {
    const { body } = await picked.status();
    return body.state === 'prequeue' ? body : null;
  }, 'the location to show the pre-queue', 5_000, 100);
  assert.equal(early.position, null);
  await eventually(() => Date.now() > opensAt, 'the opening', 30_000, 100);
  // Every edge holds the seed before the opening; it shows it from the opening on.
  const drawn = await eventually(async () => {
    const draw = await (await fetch(`${gate.url}/queue/draw`)).json();
    return draw.seed ? draw : null;
  }, 'the seed', 5_000, 100);
  assert.match(drawn.seed, /^[0-9a-f]{64}$/);
  const seed = Buffer.from(drawn.seed, 'hex');
  assert.equal(createHash('sha256').update(seed).digest('hex'), before.commitment, 'the seed is the one committed to');
  // Each holder reads their id and place; the test recomputes the place from the seed.
  const places = await inParallel(seated, 10, async (c) => {
    // Its location shows the place once it holds the seed (its first sync after the opening).
    const mine = await eventually(async () => {
      const draw = await (await c.get('/queue/draw')).json();
      return draw.ticket?.place != null ? draw : null;
    }, 'the place', 5_000, 100);
    const id = Buffer.from(mine.ticket.id, 'hex');
    assert.deepEqual(id, bytesOf(c.cookies.get('edgegate_ticket')).subarray(19, 35), 'the id the cookie carries');
    const place = createHash('sha256').update(seed).update(id).digest().readUInt32BE(0);
    assert.equal(mine.ticket.place, place, 'the place is SHA-256(seed || id)');
    return place;
  });
  const tau = kendall(honest.map(visibleSub), places.slice(0, 40));
  const rank = places.filter((p) => p < places[40]).length + 1;
  console.log(`cookie's visible sub vs drawn place over 40 citizens: Kendall tau = ${tau.toFixed(2)}; the script's pick of 150 stands ${rank} of 41; ${unaware} of the 40 seated before their location heard of the pre-queue`);
  assert.ok(Math.abs(tau) < 0.4, `tau ${tau}`);
  // The draw is the order of admission: record who goes through first.
  await configure({ new_users_per_minute: 120 });
  const admittedAt = new Map();
  await eventually(async () => {
    await inParallel(seated.filter((c) => !admittedAt.has(c)), 10, async (c) => {
      const { body } = await c.status();
      if (body.state === 'admitted') admittedAt.set(c, performance.now());
    });
    return admittedAt.size >= 20;
  }, 'twenty admitted', 60_000, 200);
  const firstTwenty = seated.filter((c) => admittedAt.has(c)).map((c) => places[seated.indexOf(c)]);
  const rest = seated.filter((c) => !admittedAt.has(c)).map((c) => places[seated.indexOf(c)]);
  // Inside the draw the limiter keeps the order key by key: nobody goes through while an
  // earlier place still waits at the same location.
  const inversions = firstTwenty.filter((p) => rest.some((q) => q < p)).length;
  console.log(`${admittedAt.size} admitted first; ${inversions} had a later place than someone still waiting`);
  assert.equal(inversions, 0);
  await configure({ opens_at: null, new_users_per_minute: 0 });
});

test('mint-and-pick in one second: the place a cookie shows says nothing of where it stands', async () => {
  // First come, first served, with nobody let through: `ahead` counts the places before each
  // ticket, so inside one second it follows the true place the seal hides.
  await configure({ new_users_per_minute: 0, opens_at: null, budget_v4: 1000, budget_v6: 1000, work_for_all: false });
  const minted = Array.from({ length: 120 }, (_, i) => client(`192.0.2.${i + 1}`, 'AAA'));
  await inParallel(minted, 40, (c) => c.get('/'));
  const ticket = (c) => bytesOf(c.cookies.get('edgegate_ticket'));
  const second = (c) => ticket(c).readUInt32BE(11);
  const visibleSub = (c) => ticket(c).readUInt32BE(15);
  // The largest group that shares an arrival second.
  const bySecond = new Map();
  for (const c of minted) bySecond.set(second(c), [...(bySecond.get(second(c)) ?? []), c]);
  const group = [...bySecond.values()].reduce((a, b) => (b.length > a.length ? b : a));
  await inParallel(group, 20, (c) => c.status());
  // Every place counted at the room, then each reads how many stand ahead.
  const ahead = await eventually(async () => {
    const seen = await inParallel(group, 20, async (c) => (await c.status()).body.ahead);
    return seen.every((n) => n != null) && new Set(seen).size > group.length / 2 ? seen : null;
  }, 'the places counted', 10_000, 250);
  const tau = kendall(group.map(visibleSub), ahead);
  const picked = group.reduce((best, c) => (visibleSub(c) < visibleSub(best) ? c : best));
  const rank = ahead.filter((n) => n < ahead[group.indexOf(picked)]).length + 1;
  console.log(`${group.length} tickets of one second: Kendall tau between the cookie's place and the places ahead = ${tau.toFixed(2)}; the script's pick stands ${rank} of ${group.length}`);
  assert.ok(Math.abs(tau) < 0.3, `tau ${tau}`);
});

test('a replay of the cookies from before a booking is refused at the same location and at another', async () => {
  await configure({ new_users_per_minute: 6000, paused: false, budget_v4: 16 });
  const c = client('198.51.100.200', 'AAA');
  await c.get('/');
  await eventually(async () => (await c.status()).body.state === 'admitted', 'admission', 20_000, 200);
  assert.equal((await c.get('/book')).status, 200);
  const before = c.cookieHeader();
  // The booking: the origin ends the session.
  assert.equal((await c.get('/end-session')).status, 200);
  const seen = echo.seen.length;
  const replay = (location) => client('198.51.100.200', location)
    .get('/book', { headers: { cookie: before } });
  // Where the session ended: refused at once.
  const here = await replay('AAA');
  assert.equal(here.status, 403);
  assert.match(await here.text(), /session has ended/);
  // The other locations hear of the end within a sync or two: a script replaying there as
  // fast as it can gets through only until then.
  const t0 = performance.now();
  let through = 0;
  const heard = new Set();
  await eventually(async () => {
    for (const location of LOCATIONS.slice(1).filter((l) => !heard.has(l))) {
      const res = await replay(location);
      if (res.status === 403) {
        assert.match(await res.text(), /session has ended/);
        heard.add(location);
      } else {
        through++;
      }
    }
    return heard.size === LOCATIONS.length - 1;
  }, 'the end to reach every location', 10_000, 0);
  const tookMs = Math.round(performance.now() - t0);
  console.log(`every location refused the replay after ${tookMs} ms (sync every 250 ms); ${through} replays got through before`);
  assert.ok(tookMs < 3_000, `${tookMs} ms`);
  // From then on nothing of it reaches the origin, anywhere.
  const after = echo.seen.length;
  for (const location of LOCATIONS) assert.equal((await replay(location)).status, 403, location);
  // The ticket alone (the pass cookie dropped) mints no new pass either.
  const ticketOnly = before.split('; ').filter((p) => !p.startsWith('edgegate_pass=')).join('; ');
  const minted = await client('198.51.100.200', 'DDD').get('/book', { headers: { cookie: ticketOnly } });
  assert.match(minted.headers.get('content-type') ?? '', /html/, 'the waiting page, not the origin');
  assert.equal(minted.headers.getSetCookie().some((c) => c.startsWith('edgegate_pass=') && !/Max-Age=0/i.test(c)), false);
  assert.equal(echo.seen.length, after, 'nothing reached the origin once the end was known');
  assert.equal(echo.seen.length - seen, through, 'only the replays counted above');
});

test('a pass copied to twenty other networks reaches the origin from none of them; the phone\'s one move works', async () => {
  await configure({ new_users_per_minute: 6000, paused: false });
  const phone = client('198.51.100.201', 'AAA');
  await phone.get('/');
  await eventually(async () => (await phone.status()).body.state === 'admitted', 'admission', 20_000, 200);
  assert.equal((await phone.get('/book')).status, 200, 'on Wi-Fi');
  // The phone leaves Wi-Fi for its carrier: one move, and it keeps working.
  phone.address = '2001:db8:cafe:1::99';
  assert.equal((await phone.get('/book')).status, 200, 'on the carrier network');
  const seen = echo.seen.length;
  const copies = await inParallel(Array.from({ length: 20 }, (_, i) => i), 10, async (i) => {
    const res = await client(`203.0.113.${100 + i}`, LOCATIONS[i % 4])
      .get('/book', { headers: { cookie: phone.cookieHeader() } });
    return res.status;
  });
  console.log(`copies from 20 networks: ${JSON.stringify(copies)}`);
  assert.ok(copies.every((s) => s === 403), JSON.stringify(copies));
  assert.equal(echo.seen.length, seen, 'no copy reached the origin');
  // The holder goes on from both of its networks.
  assert.equal((await phone.get('/book')).status, 200);
  phone.address = '198.51.100.201';
  assert.equal((await phone.get('/book')).status, 200);
});
