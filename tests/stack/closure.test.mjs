// Honest closure, over HTTP against `wrangler dev`: an origin that says it has no slots left
// (`Gate-Slots: 0` on an answer it gives an admitted citizen) stops the line where the slots
// end; everyone beyond, new arrivals included, is told the slots are taken, and when the next
// release is, instead of an ETA, and keeps their place; when slots come back (the origin says
// so, or the operator), the line moves again in order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startGate, startEchoOrigin, randomSecrets, Citizen, eventually, afterSyncs,
  configure as configureRoom, roomStateOf,
} from '../support/stack.mjs';

let gate, echo, vars;

before(async () => {
  echo = await startEchoOrigin();
  vars = { ...randomSecrets(), ORIGIN_URL: echo.url, SYNC_INTERVAL_MS: '250', SYNC_TIMEOUT_MS: '500' };
  gate = await startGate({ vars, persistDir: mkdtempSync(join(tmpdir(), 'edgegate-closure-')) });
});

after(async () => {
  await gate?.stop();
  await echo?.stop();
});

const configure = (patch) => configureRoom(gate, vars.ADMIN_TOKEN, patch);
const roomState = () => roomStateOf(gate, vars.ADMIN_TOKEN);
const holdsPass = (c) => [...c.cookies.keys()].some((k) => k.endsWith('edgegate_pass'));

/** Polls `c` until it is let through; its last status otherwise. */
async function admitted(c, what) {
  return eventually(async () => {
    if (holdsPass(c)) return true;
    const { body } = await c.status();
    return body.state === 'admitted' || holdsPass(c);
  }, what, 30_000, 250);
}

test('no slots left: the line stops, everyone beyond is told so with the next release, and moves again in order when slots return', async () => {
  await configure({ new_users_per_minute: 600, slots_remaining: null, next_release_at: null });
  const booker = new Citizen(gate.url);
  await booker.status();
  await admitted(booker, 'the first citizen let through');

  // The origin, answering the booker, says it has no slots left; the header stays between it
  // and the gate.
  const said = await booker.get('/slots?n=0');
  assert.equal(said.status, 200);
  assert.equal(said.headers.get('gate-slots'), null, 'Gate-Slots never reaches the citizen');
  await said.arrayBuffer();
  const state = await eventually(async () => {
    await booker.status();
    const s = await roomState();
    return s.config.slots_remaining === 0 ? s : null;
  }, 'the room to hear the origin has no slots');
  assert.equal(state.slots_left, 0);

  // Those who come now are told at once, keep a place, and get no ETA. Each comes in a second
  // of their own: inside one second the order is a draw, and the cursor moves through a
  // second in proportion, so a slot or two is only exact between seconds.
  const line = Array.from({ length: 4 }, () => new Citizen(gate.url));
  for (const c of line) {
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    await c.status();
  }
  const told = await eventually(async () => {
    const answers = await Promise.all(line.map((c) => c.status()));
    return answers.every(({ body }) => body.slots_taken) ? answers.map((a) => a.body) : null;
  }, 'everyone in line told the slots are taken');
  for (const body of told) {
    assert.equal(body.state, 'waiting');
    assert.equal(body.eta_s, null);
    assert.ok(body.position >= 1, JSON.stringify(body));
    assert.deepEqual(body.slots_taken, { next_release_at: null });
  }
  // Nobody is let through while none are left, however many syncs pass.
  await afterSyncs(roomState, () => booker.status(), 6);
  for (const c of line) {
    const { body } = await c.status();
    assert.notEqual(body.state, 'admitted');
    assert.ok(!holdsPass(c));
  }

  // The operator announces the next release: the waiting page says when.
  const at = Date.now() + 3_600_000;
  await configure({ next_release_at: at });
  await eventually(async () => (await line[0].status()).body.slots_taken?.next_release_at === at, 'the next release said');

  // Three slots come back (the origin says so). The booker's pass is alive and may still
  // book one, so the first two in line go through, in order. The slots are stretched by the
  // share released who never came, by half at most: the last in line still waits, told.
  const back = await booker.get('/slots?n=3');
  await back.arrayBuffer();
  await admitted(line[0], 'the first in line let through when slots returned');
  await admitted(line[1], 'the second in line let through');
  await afterSyncs(roomState, () => booker.status(), 4);
  const last = await line[3].status();
  assert.equal(last.body.state, 'waiting', JSON.stringify(last.body));
  assert.ok(last.body.slots_taken, JSON.stringify(last.body));
  const third = await line[2].status();
  const s = await roomState();
  console.log(`3 slots, 1 pass alive: the third in line ${third.body.state}, no-shows ${s.counters.no_show_per_mille} per mille`);
  // The operator adds a release: the line moves on.
  await configure({ slots_remaining: 10 });
  await admitted(line[2], 'the third let through after the operator added slots');
  await admitted(line[3], 'the fourth let through');
  await configure({ slots_remaining: null, next_release_at: null });
});
