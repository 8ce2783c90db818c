// Starts and stops the pieces of the stack for tests: the gate under `wrangler dev`, the real
// origin binary, and a tiny echo origin that records what the gate forwards. Every process
// listens on 127.0.0.1 on a free port, readiness is awaited through a health URL with a
// deadline, and a process that exits early fails the wait at once with its log.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync, createWriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { objectsDevConfig } from '../../scripts/dev-objects.mjs';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Spawns a process in its own group, keeping the tail of its output for error messages, and all
 * of it in `logFile` when one is given.
 */
function launch(cmd, args, env, logFile) {
  const child = spawn(cmd, args, {
    cwd: root,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const file = logFile ? createWriteStream(logFile, { flags: 'a' }) : null;
  const keep = (chunk) => {
    log = (log + chunk.toString()).slice(-20000);
    file?.write(chunk);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    log: () => log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
      }, 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Resolves when `url` answers 200 (or as `ready` wants, given the response); rejects when `proc`
 * exits first or the deadline passes.
 */
export async function waitReady(url, proc, name, deadlineMs = 120_000, ready = (res) => res.ok) {
  const until = Date.now() + deadlineMs;
  let exit = null;
  proc.exited.then((e) => { exit = e; });
  while (Date.now() < until) {
    if (exit) throw new Error(`${name} exited (${JSON.stringify(exit)}) before it was ready:\n${proc.log()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (await ready(res)) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} was not ready at ${url} within ${deadlineMs} ms:\n${proc.log()}`);
}

export function randomSecrets() {
  return {
    GATE_KEYS: `1:${randomBytes(32).toString('hex')}`,
    ADMIN_TOKEN: randomBytes(24).toString('hex'),
    IDENTITY_KEY: randomBytes(32).toString('hex'),
  };
}

/**
 * Starts the gate under `wrangler dev`, its two Workers in one session (the room's from a copy
 * of its config: scripts/dev-objects.mjs). `vars` become its environment (secrets and tunables),
 * over wrangler.toml's top-level `[vars]`, or over those of `[env.<env>]` when `env` is given;
 * `persistDir` keeps the coordinator's storage, so a restart with the same one keeps the room.
 * It is ready when its health URL answers 200, or as `ready` wants, given the response.
 */
export async function startGate({ vars, persistDir, port, logFile, env, ready }) {
  const dir = mkdtempSync(join(tmpdir(), 'edgegate-gate-'));
  const envFile = join(dir, 'vars.env');
  port ??= await freePort();
  // The operator's console lives on an origin of its own: the same server under another name
  // (`localhost` rather than `127.0.0.1`), as scripts/dev serves it.
  // Its origin is on loopback, which only a local gate may forward to (ALLOW_LOCAL_ORIGIN is in
  // no wrangler.toml table); a test of the production environment passes `env` and gets none.
  vars = { OPERATOR_HOST: `localhost:${port}`, ...(env ? {} : { ALLOW_LOCAL_ORIGIN: 'on' }), ...vars };
  // A value with double quotes in it (JSON, such as ROOM_ROUTES) goes unquoted: the env file has no
  // escapes, and JSON holds no newline or `#` here.
  const quoted = (v) => (String(v).includes('"') ? String(v) : `"${v}"`);
  writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}=${quoted(v)}`).join('\n') + '\n');
  // The room's Worker (the Durable Objects, the operator's API) runs in the same session, with
  // the same secrets and overrides.
  const objects = objectsDevConfig(join(dir, 'objects'), vars);
  const inspector = await freePort();
  const proc = launch(join(root, 'node_modules', '.bin', 'wrangler'), [
    'dev', '-c', join(root, 'wrangler.toml'), '-c', objects, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--env-file', envFile, '--persist-to', persistDir ?? join(dir, 'state'),
    '--show-interactive-dev-session=false', '--log-level', 'warn',
    ...(env ? ['--env', env] : []),
  ], { WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_D1_WARNING: 'true' }, logFile);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/queue/healthz`, proc, 'the gate (wrangler dev)', undefined, ready);
  return { url, operatorUrl: `http://localhost:${port}`, port, log: proc.log, stop: proc.stop };
}

/** Starts the real origin binary (built by `cargo build --release -p edgegate-origin`). */
export async function startOrigin({ passKeys, identityKey, db, maxInFlight, logFile }) {
  const port = await freePort();
  const proc = launch(join(root, 'target', 'release', 'edgegate-origin'), [], {
    ORIGIN_ADDR: `127.0.0.1:${port}`,
    ORIGIN_DB: db,
    PASS_KEYS: passKeys,
    IDENTITY_KEY: identityKey,
    ORIGIN_MAX_IN_FLIGHT: String(maxInFlight ?? 8),
    RUST_LOG: 'info',
  }, logFile);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/healthz`, proc, 'the origin');
  return { url, port, log: proc.log, stop: proc.stop };
}

/** Runs `edgegate-origin derive-pass-keys`: the origin's half of the gate's secrets. */
export async function derivePassKeys(gateKeys) {
  const proc = launch(join(root, 'target', 'release', 'edgegate-origin'), ['derive-pass-keys'], { GATE_KEYS: gateKeys });
  const { code } = await proc.exited;
  if (code !== 0) throw new Error(`derive-pass-keys failed:\n${proc.log()}`);
  return proc.log().trim();
}

/**
 * A stand-in origin that records every request and answers with what it received. Special
 * paths: `/end-session` answers with `Gate-Session: end`; `/slots?n=N` with `Gate-Slots: N`;
 * `/fail503` with `503`; `/hang` never answers; `/drop`
 * closes the connection; `/slow-body?ms=N` answers at once but ends its body only after N ms; `/sets-cookies`
 * sets two cookies of its own and a forged gate pass, with a header only the gate may set.
 */
export async function startEchoOrigin() {
  const seen = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const record = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() };
      seen.push(record);
      if (req.url.startsWith('/hang')) return;
      if (req.url.startsWith('/drop')) return req.socket.destroy();
      if (req.url.startsWith('/slow-body')) {
        // The answer at once, its body finished only after `?ms=` milliseconds.
        const ms = Number(new URL(req.url, 'http://origin').searchParams.get('ms') ?? 1000);
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first part;');
        setTimeout(() => res.end('last part'), ms);
        return;
      }
      const headers = { 'content-type': 'application/json' };
      if (req.url.startsWith('/end-session')) headers['gate-session'] = 'end';
      // The bookings the origin says it can still take (`?n=`).
      if (req.url.startsWith('/slots')) headers['gate-slots'] = new URL(req.url, 'http://origin').searchParams.get('n') ?? '0';
      if (req.url.startsWith('/sets-cookies')) {
        // Its own cookie, a forged gate pass, and a header only the gate may set.
        headers['set-cookie'] = ['theme=dark; Path=/', 'edgegate_pass=forged; Path=/', 'lang=ko; Path=/'];
        headers['x-forwarded-host'] = 'elsewhere.example';
        headers['x-origin-says'] = 'hello';
      }
      // An origin that cannot serve: `503`.
      res.writeHead(req.url.startsWith('/fail503') ? 503 : 200, headers);
      res.end(JSON.stringify(record));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    stop: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

/**
 * A cookie jar for one simulated citizen, speaking to the gate with fetch. `address` names the
 * client address and `location` the location it is served in, through the headers a local
 * gate honours with CLIENT_ADDRESS_HEADER and LOCATION_HEADER on; either may change between
 * requests (a phone changing networks, a script moving its ticket), and unset sends neither.
 */
export class Citizen {
  constructor(base, { address = null, location = null } = {}) {
    this.base = base;
    this.cookies = new Map();
    this.address = address;
    this.location = location;
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async get(path, init = {}) {
    const headers = {
      ...(this.address === null ? {} : { 'x-edgegate-client-address': this.address }),
      ...(this.location === null ? {} : { 'x-edgegate-location': this.location }),
      ...(init.headers ?? {}),
    };
    if (this.cookies.size && !('cookie' in headers)) headers.cookie = this.cookieHeader();
    const res = await fetch(this.base + path, { redirect: 'manual', ...init, headers });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/Max-Age=0/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  async status() {
    const res = await this.get('/queue/status');
    return { res, body: await res.json() };
  }
}

/** Calls the admin API. */
export async function admin(gate, token, method, path, body) {
  const res = await fetch(gate.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/**
 * Puts `patch` on a room's config (`room`: '' for the default, else a `?room=` query) and
 * returns the config in force; an answer other than 200 fails the test with its body.
 */
export async function configure(gate, token, patch, room = '') {
  const res = await admin(gate, token, 'PUT', `/admin/config${room}`, patch);
  if (res.status !== 200) throw new Error(`PUT /admin/config${room} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A room's state, as `GET /admin/state` reads it (`room` as for `configure`). */
export async function roomStateOf(gate, token, room = '') {
  return (await admin(gate, token, 'GET', `/admin/state${room}`)).body;
}

/** Polls `check` until it returns a truthy value or the deadline passes; returns that value. */
export async function eventually(check, what, deadlineMs = 30_000, everyMs = 150) {
  const until = Date.now() + deadlineMs;
  let last;
  while (Date.now() < until) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Resolves with the room's state (`GET /admin/state`, through `state()`) once the coordinator
 * has taken `n` more syncs. Syncs are set off by citizen requests; `nudge()` makes one that
 * counts for nothing new (a known citizen's poll, or a test-key poll). Two syncs are needed to
 * be sure one began after the call: the first may already have been on its way.
 */
export async function afterSyncs(state, nudge, n = 2, deadlineMs = 30_000) {
  const from = (await state()).coordinator.sync_calls;
  return eventually(async () => {
    await nudge();
    const now = await state();
    return now.coordinator.sync_calls >= from + n ? now : null;
  }, `${n} coordinator syncs`, deadlineMs, 0);
}

/**
 * The room's state once its counts have settled: two syncs in a row that bring no new
 * place, so nothing an isolate counted is still on its way.
 */
export async function settledState(state, nudge) {
  let before = await afterSyncs(state, nudge);
  for (let round = 0; round < 20; round++) {
    const now = await afterSyncs(state, nudge);
    if (now.counters.seated_total === before.counters.seated_total) return now;
    before = now;
  }
  throw new Error('the arrival count kept changing');
}
