// The autopilot against the real origin, over HTTP against `wrangler dev`: an origin that serves
// one request at a time (ORIGIN_MAX_IN_FLIGHT=1) and answers `503` with `Retry-After: 1` beyond
// it is crowded by the citizens let through, and the gate cuts its own rate, within the
// operator's floor, puts the change in the audit log as the autopilot's with its reason, and
// shows it in `GET /admin/state`. The simulator measures how fast it converges
// (`scripts/simulate origin-unknown`); this proves the loop closes through the real Worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startGate, startOrigin, derivePassKeys, randomSecrets, Citizen, admin, eventually,
  configure as configureRoom, roomStateOf,
} from '../support/stack.mjs';

let gate, origin, vars;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgegate-autopilot-'));
  const secrets = randomSecrets();
  origin = await startOrigin({
    passKeys: await derivePassKeys(secrets.GATE_KEYS),
    identityKey: secrets.IDENTITY_KEY,
    db: join(dir, 'origin.db'),
    maxInFlight: 1,
    logFile: join(dir, 'origin.log'),
  });
  vars = {
    ...secrets,
    ORIGIN_URL: origin.url,
    SYNC_INTERVAL_MS: '250',
    SYNC_TIMEOUT_MS: '500',
  };
  gate = await startGate({ vars, persistDir: join(dir, 'state') });
});

after(async () => {
  await gate?.stop();
  await origin?.stop();
});

const configure = (patch) => configureRoom(gate, vars.ADMIN_TOKEN, patch);
const roomState = () => roomStateOf(gate, vars.ADMIN_TOKEN);

test('an origin that refuses what it cannot serve makes the gate cut its own rate, audited with the reason', async () => {
  const since = Date.now();
  // Out of range while the autopilot is on: refused by name, nothing changed.
  const on = await configure({
    new_users_per_minute: 600,
    autopilot: { floor_per_minute: 60, ceiling_per_minute: 600, target_p95_ms: 2500, max_errors_per_mille: 10 },
  });
  assert.deepEqual(on.autopilot, { floor_per_minute: 60, ceiling_per_minute: 600, target_p95_ms: 2500, max_errors_per_mille: 10 });
  const outside = await admin(gate, vars.ADMIN_TOKEN, 'PUT', '/admin/config', { new_users_per_minute: 6000 });
  assert.equal(outside.status, 400, JSON.stringify(outside.body));
  assert.match(JSON.stringify(outside.body), /new_users_per_minute/);

  // Citizens let through at 10 a second, then each asks the origin for pages, many at once.
  const citizens = Array.from({ length: 24 }, () => new Citizen(gate.url));
  await Promise.all(citizens.map((c) => c.status()));
  await eventually(async () => {
    const states = await Promise.all(citizens.map(async (c) => (c.cookies.size && [...c.cookies.keys()].some((k) => k.endsWith('edgegate_pass')) ? 'admitted' : (await c.status()).body.state)));
    return states.filter((s) => s === 'admitted').length >= 12;
  }, 'a dozen citizens let through', 60_000, 250);
  const admitted = citizens.filter((c) => [...c.cookies.keys()].some((k) => k.endsWith('edgegate_pass')));

  let refused = 0;
  let served = 0;
  const crowd = async () => {
    const answers = await Promise.all(admitted.flatMap((c) => [c.get('/'), c.get('/')]));
    for (const res of answers) {
      if (res.status === 503) refused += 1;
      else if (res.status < 500) served += 1;
      await res.arrayBuffer();
    }
  };
  const cut = await eventually(async () => {
    await crowd();
    const state = await roomState();
    return state.config.new_users_per_minute < 600 ? state : null;
  }, 'the autopilot to cut the rate', 90_000, 0);
  console.log(`origin answers while crowded: ${served} served, ${refused} refused with 503; rate 600 → ${cut.config.new_users_per_minute} a minute (${cut.autopilot.last_change.why})`);
  assert.ok(refused > 0, 'the origin refused some');
  assert.ok(cut.config.new_users_per_minute >= 60, 'never below the floor');
  assert.ok(cut.config.new_users_per_minute >= 150, 'a cut leaves a quarter at least');
  assert.equal(cut.autopilot.rate_per_minute, cut.config.new_users_per_minute);
  assert.equal(cut.autopilot.last_change.from, 600);
  assert.match(cut.autopilot.last_change.why, /forwarded failed|p95 over/);

  const audit = await admin(gate, vars.ADMIN_TOKEN, 'GET', `/admin/audit?since=${since}`);
  const mine = audit.body.entries.filter((e) => e.who === 'autopilot');
  assert.ok(mine.length >= 1, JSON.stringify(audit.body.entries));
  assert.equal(mine[0].what, 'new_users_per_minute');
  assert.equal(mine[0].from, 600);
  for (const e of mine) {
    assert.ok(e.to >= 60 && e.to <= 600 && e.to < e.from, JSON.stringify(e));
    assert.ok(typeof e.why === 'string' && e.why.length > 0, JSON.stringify(e));
  }

  // Off: the rate stays where the autopilot left it, and is the operator's again.
  const off = await configure({ autopilot: null });
  assert.equal(off.autopilot, undefined);
  const state = await roomState();
  assert.equal(state.autopilot, undefined);
  assert.ok(state.config.new_users_per_minute < 600);
  await configure({ new_users_per_minute: 6000 });
});

test('against the real origin: a 503 on the first page hands the citizen back to the front, and no slots left tells the line so', async () => {
  await configure({ autopilot: null, new_users_per_minute: 600, slots_remaining: null, next_release_at: null });
  const holdsPass = (c) => [...c.cookies.keys()].some((k) => k.endsWith('edgegate_pass'));
  const through = (c, what) => eventually(async () => { await c.status(); return holdsPass(c); }, what, 60_000, 200);

  // Readmission: the origin serves one request at a time; of many first pages asked at once
  // the ones it refuses (503) bring the waiting page, and the citizen goes through again.
  const citizens = Array.from({ length: 4 }, () => new Citizen(gate.url));
  for (const c of citizens) await c.status();
  for (const c of citizens) await through(c, 'a citizen let through');
  // A centre's page, which reads its slots: bursts of them until the origin refuses some
  // (a citizen handed back asks nothing more of it until let through again).
  const all = [];
  let handedBack = [];
  for (let burst = 0; burst < 6 && handedBack.length === 0; burst++) {
    const asked = await Promise.all(citizens.filter(holdsPass).map(async (c) => {
      const answers = await Promise.all(Array.from({ length: 12 }, () => c.get('/centres/1')));
      const bodies = await Promise.all(answers.map((r) => r.text()));
      return { c, answers, back: answers.filter((r, i) => r.status === 503 && /queue\/static\/app\.js/.test(bodies[i])).length };
    }));
    all.push(...asked.flatMap((a) => a.answers));
    handedBack = asked.filter((a) => a.back > 0);
  }
  console.log(`first pages in bursts of 48 at ORIGIN_MAX_IN_FLIGHT=1: ${all.filter((r) => r.status < 500).length} served, ${all.filter((r) => r.status === 503).length} refused; ${handedBack.length} of 4 citizens handed back to the front`);
  assert.ok(handedBack.length >= 1, all.map((r) => r.status).join(','));
  const { c: citizen } = handedBack[0];
  if (!holdsPass(citizen)) {
    const { body } = await citizen.status();
    assert.ok(body.state === 'admitted' || (body.readmitted && body.position === 1), JSON.stringify(body));
    await through(citizen, 'the citizen let through again');
  }
  const page = await citizen.get('/');
  assert.equal(page.status, 200, 'the origin serves the citizen let through again');
  await page.arrayBuffer();

  // Closure at zero slots: the operator says none are left; a newcomer is told before they
  // wait, with the next release; slots come back and the newcomer goes through.
  const at = Date.now() + 3_600_000;
  await configure({ slots_remaining: 0, next_release_at: at });
  const newcomer = new Citizen(gate.url);
  const told = await eventually(async () => {
    const { body } = await newcomer.status();
    return body.slots_taken ? body : null;
  }, 'the newcomer told the slots are taken', 20_000, 200);
  assert.equal(told.state, 'waiting');
  assert.equal(told.eta_s, null);
  assert.equal(told.slots_taken.next_release_at, at);
  await configure({ slots_remaining: 50 });
  await through(newcomer, 'the newcomer let through once slots came back');
  await configure({ slots_remaining: null, next_release_at: null });
});
