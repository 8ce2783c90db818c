// Two rooms on one deployment (ROOM_ROUTES adds a room under the path prefix /second, with an origin
// of its own), checked over HTTP against `wrangler dev`: each room keeps its own config, queue,
// cookies and tickets, the admin API acts on the room `?room=` names, and a ticket of one room
// counts for nothing in the other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGate, startEchoOrigin, randomSecrets, Citizen, admin, eventually, configure as configureRoom, roomStateOf } from '../support/stack.mjs';

let gate, first, second, vars;

before(async () => {
  first = await startEchoOrigin();
  second = await startEchoOrigin();
  vars = {
    ...randomSecrets(),
    ORIGIN_URL: first.url,
    ROOM_ROUTES: JSON.stringify([{ name: 'second', prefix: '/second', origin: second.url }]),
    SYNC_INTERVAL_MS: '250',
    SYNC_TIMEOUT_MS: '500',
  };
  gate = await startGate({ vars });
  await configure('', { new_users_per_minute: 0 });
  await configure('?room=second', { new_users_per_minute: 60_000 });
});

after(async () => {
  await gate?.stop();
  await first?.stop();
  await second?.stop();
});

const configure = (room, patch) => configureRoom(gate, vars.ADMIN_TOKEN, patch, room);
const state = (room) => roomStateOf(gate, vars.ADMIN_TOKEN, room);

test('each room has its own config, and the admin API names the room it acts on', async () => {
  assert.equal((await state('')).config.new_users_per_minute, 0);
  assert.equal((await state('?room=second')).config.new_users_per_minute, 60_000);
  const unknown = await admin(gate, vars.ADMIN_TOKEN, 'GET', '/admin/state?room=nope');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.field, 'room');
  const rooms = await admin(gate, vars.ADMIN_TOKEN, 'GET', '/admin/rooms');
  assert.deepEqual(rooms.body.rooms.map((r) => r.name).sort(), ['booking', 'second']);
});

test('a citizen of the second room goes through to its origin while the first room holds everyone', async () => {
  const a = new Citizen(gate.url);
  const b = new Citizen(gate.url);
  const page = await b.get('/second/hello');
  assert.equal(page.status, 200);
  assert.match(await page.text(), /data-room="second"/, 'the page names its room');
  assert.ok([...b.cookies.keys()].some((k) => k === 'edgegate_ticket_second'), [...b.cookies.keys()].join());
  assert.equal((await a.get('/')).status, 200);
  assert.ok(a.cookies.has('edgegate_ticket'));
  // Both poll as their pages do; only the second room lets anyone through.
  await eventually(async () => {
    const { body } = await a.status();
    assert.equal(body.state, 'waiting');
    const res = await b.get('/queue/status?room=second');
    return (await res.json()).state === 'admitted';
  }, 'the second room to admit its citizen', 20_000, 200);
  const through = await b.get('/second/hello');
  assert.equal(through.status, 200);
  assert.ok(second.seen.some((r) => r.url === '/second/hello'), 'the second origin saw its citizen');
  assert.ok(!first.seen.some((r) => r.url.startsWith('/second')), 'the first origin saw the second room');
  const blocked = await a.get('/');
  assert.equal(blocked.status, 200);
  assert.equal(first.seen.length, 0, 'the first room let someone through at a rate of 0');
  // Each room counted its own place. The let-through reaches the second room's coordinator
  // with its isolate's and its aggregator's next syncs, a few intervals after the pass.
  const [one, two] = await eventually(async () => {
    const rooms = await Promise.all([state(''), state('?room=second')]);
    return rooms[1].counters.let_through_total >= 1 ? rooms : null;
  }, 'the second room to count its let-through', 10_000, 100);
  console.log(`first room: held ${one.counters.held}, let through ${one.counters.let_through_total}; second: held ${two.counters.held}, let through ${two.counters.let_through_total}`);
  assert.equal(one.counters.let_through_total, 0);
  assert.equal(two.counters.let_through_total, 1);
});

test('a ticket of one room is no ticket in the other', async () => {
  const a = new Citizen(gate.url);
  await a.status();
  const ticket = a.cookies.get('edgegate_ticket');
  assert.ok(ticket);
  const thief = new Citizen(gate.url);
  thief.cookies.set('edgegate_ticket_second', ticket);
  const res = await thief.get('/queue/status?room=second');
  assert.equal(res.status, 200);
  assert.notEqual(thief.cookies.get('edgegate_ticket_second'), ticket, 'the other room accepted the ticket');
});
