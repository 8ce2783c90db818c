// `scripts/bench --edge`: the release Worker under bare `workerd serve`, beside a no-op JS Worker,
// the JS floor of a poll (FLOOR_JS), a `fetch(request)` JS proxy and the JS floor of a
// pass-through (passFloorJs) in the same process, against a static origin on loopback.
// Checks the answers first, then drives each case with wrk and prints req/s, p50, the CPU
// workerd itself spent per request (/proc/<pid>/stat), ratios to both baselines, coordinator
// calls per 1,000 polls, cold start and the bundle size. A benchmark, never a timed test.
//
// Run through scripts/bench, which builds the worker, installs wrk and pins this process (the
// driver, the origin and wrk) to one core; workerd is pinned here to the other.
// Knobs: BENCH_SECONDS per case and round (5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50),
// BENCH_TICKETS (6000), BENCH_WARMUP_S per case before the first round (2), BENCH_COLD_LAUNCHES
// of each worker for the cold start (15), BENCH_PROFILE: case
// keys (e.g. `poll,pass`) to profile after timing, through workerd's inspector (V8's sampler),
// printing where each one's time went; the timed figures then come from a workerd with its
// inspector listening. BENCH_PERF: case keys to record with Linux `perf` likewise.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync, readFileSync, copyFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const WORKERD = join(root, 'node_modules', '@cloudflare', 'workerd-linux-64', 'bin', 'workerd');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const COLD_LAUNCHES = Math.max(1, Number(process.env.BENCH_COLD_LAUNCHES ?? 15));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const TICKETS = Number(process.env.BENCH_TICKETS ?? 6000);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 2);
const PROFILE = (process.env.BENCH_PROFILE ?? '').split(',').map((k) => k.trim()).filter(Boolean);
// BENCH_PERF: case keys to record with Linux `perf` after timing (workerd's own C++, V8 and the
// wasm's compiled functions by name, which the inspector's sampler lumps as "(program)").
const PERF = (process.env.BENCH_PERF ?? '').split(',').map((k) => k.trim()).filter(Boolean);
// Two cores or more: workerd on core 0, everything else (this driver, the origin, wrk) on 1.
// (cpus(), not availableParallelism(): scripts/bench has already pinned this process to core 1.)
const PINNED = cpus().length >= 2 && !process.env.BENCH_NO_PIN;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const work = mkdtempSync(join(tmpdir(), 'edgegate-bench-'));
const children = new Set();
function cleanup() {
  for (const child of children) {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  children.clear();
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130));

function fail(message) {
  console.error(`bench --edge: ${message}`);
  process.exit(1);
}

// ---- wrangler.toml's facts -------------------------------------------------------------------

/**
 * The few wrangler.toml shapes this project uses: `key = "string"` under [section]s, for the
 * gate (`wrangler.toml`) or the room's Worker (`wrangler.objects.toml`).
 */
function wranglerFacts(file = 'wrangler.toml') {
  const text = readFileSync(join(root, file), 'utf8');
  const sections = { '': {} };
  let current = sections[''];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s+|\s+$/g, '');
    if (!line || line.startsWith('#')) continue;
    const header = line.match(/^\[\[?([^\]]+)\]\]?$/);
    if (header) {
      current = {};
      (sections[header[1]] ??= []).push(current);
      continue;
    }
    const kv = line.match(/^([A-Za-z0-9_]+)\s*=\s*(.*)$/);
    if (!kv) continue;
    let value = kv[2].replace(/\s+#.*$/, '');
    if (value.startsWith('"')) value = JSON.parse(value);
    else if (value.startsWith('[')) value = JSON.parse(value);
    current[kv[1]] = value;
  }
  const one = (name) => (Array.isArray(sections[name]) ? sections[name][0] : undefined) ?? {};
  const top = sections[''];
  const dos = (sections['durable_objects.bindings'] ?? []);
  const sqlite = new Set((sections.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []));
  return {
    main: top.main,
    minify: top.minify === 'true',
    compatibilityDate: top.compatibility_date,
    vars: one('vars'),
    assets: one('assets'),
    durableObjects: dos.map((d) => ({ binding: d.name, className: d.class_name, sql: sqlite.has(d.class_name), script: d.script_name })),
    services: (sections.services ?? []).map((s) => ({ binding: s.binding, service: s.service })),
  };
}

// ---- workerd's config ------------------------------------------------------------------------

const str = (s) => JSON.stringify(String(s)); // Cap'n Proto text literals take JSON's escapes

const NOOP_JS = 'export default { fetch() { return new Response("ok"); } };';
// The least any Worker answering a status poll must do, with no decision at all: find the path,
// read the Cookie header, answer a poll-sized JSON with the four headers the contract's status
// answer carries (src/entry.mjs, tag S). Its ratio to the no-op is the floor under the poll's.
const FLOOR_JS = `const BODY = JSON.stringify({ state: 'waiting', position: 4321, ahead: 4320, eta_s: [180, 420],
  poll_after_ms: 5000, room_state: 'open', ticket_ref: 'ABCD-EFGH' });
export default {
  fetch(request) {
    const url = request.url;
    const at = url.indexOf('/', url.indexOf('//') + 2);
    const q = url.indexOf('?', at);
    const path = q < 0 ? url.slice(at) : url.slice(at, q);
    const cookie = request.headers.get('cookie');
    if (path !== '/queue/status' || cookie === null) return new Response('not a poll', { status: 400 });
    return new Response(BODY, { status: 200, headers: {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
    } });
  },
};`;
/** The plain JS workers measured beside edgegate, by case key (and service name). */
const JS_BASELINES = ['noop', 'floor', 'proxy', 'passfloor'];

const PROXY_JS = `export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(new Request(env.ORIGIN_URL + url.pathname + url.search, request));
  },
};`;

// The JS floor of a pass-through: what the contract asks of every forward, done in JS with
// nothing decided (no pass checked, no outcome recorded): the request's headers copied with the
// gate's cookies and the headers never forwarded taken out (the gate's own list, in
// crates/edgegate-edge/src/entry.rs), a pass-sized Gate-Pass and the X-Forwarded pair set, a deadline on the answer, and the answer's
// headers copied back the same way. Measured beside the proxy, it shows how much of a
// pass-through's cost is those duties rather than edgegate's decision.
function passFloorJs(timeoutMs) {
  const edge = readFileSync(join(root, 'crates', 'edgegate-edge', 'src', 'entry.rs'), 'utf8');
  const list = edge.match(/const NOT_FORWARDED: &\[&str\] = &\[([^\]]*)\];/);
  if (!list) fail('crates/edgegate-edge/src/entry.rs has no NOT_FORWARDED list for the pass-through floor');
  const names = [...list[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  return `const STRIPPED = new Set(${JSON.stringify(names)});
const PASS = ${str('p'.repeat(150))};
export default {
  async fetch(request, env) {
    const url = request.url;
    const hostAt = url.indexOf('//') + 2;
    const pathAt = url.indexOf('/', hostAt);
    const headers = new Headers(request.headers);
    for (const name of request.headers.keys()) if (STRIPPED.has(name)) headers.delete(name);
    const cookie = request.headers.get('cookie');
    if (cookie) {
      const kept = cookie.split(';').map((p) => p.trim()).filter((p) => !p.split('=')[0].includes('edgegate_')).join('; ');
      if (kept) headers.set('cookie', kept);
    }
    headers.set('gate-pass', PASS);
    headers.set('x-forwarded-host', url.slice(hostAt, pathAt));
    headers.set('x-forwarded-proto', url.startsWith('https:') ? 'https' : 'http');
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), ${Number(timeoutMs) || 10000});
    let res;
    try {
      res = await fetch(env.ORIGIN_URL + url.slice(pathAt), { method: request.method, headers, redirect: 'manual', signal: deadline.signal });
    } finally {
      clearTimeout(timer);
    }
    const out = new Response(res.body, res);
    for (const name of res.headers.keys()) if (STRIPPED.has(name)) out.headers.delete(name);
    return out;
  },
};`;
}

/**
 * A capnp config with the workers named in `which` ('edgegate', 'noop', 'floor', 'proxy',
 * 'passfloor'), each on its own socket. edgegate is the gate's two Workers: the gate itself
 * (the entry and the citizen's wasm) and the room's (the Durable Objects and the operator's
 * API), which the gate binds by name. With `stub`, the room's Worker is a few lines of JS
 * that answer nothing: the gate starts alone, as a citizen's isolate does. The wasm and JS are
 * copied beside the config (`embed` paths are relative to it).
 */
function workerdConfig({ dir, facts, ports, which, vars, originUrl, stub = false }) {
  const modules = entryModules(facts);
  const roomModules = stub ? [] : entryModules(facts.objects);
  for (const m of [...modules, ...roomModules]) {
    mkdirSync(dirname(join(dir, m.name)), { recursive: true });
    copyFileSync(m.path, join(dir, m.name));
  }
  mkdirSync(join(dir, 'do'), { recursive: true });
  const services = [];
  const sockets = [];
  const workers = [];
  const socket = (name) => sockets.push(`(name = ${str(name)}, address = ${str(`127.0.0.1:${ports[name]}`)}, http = (), service = ${str(name)})`);
  const textBindings = Object.entries(vars).map(([k, v]) => `(name = ${str(k)}, text = ${str(v)})`);
  const assets = (f) => `(name = ${str(f.assets.binding ?? 'ASSETS')}, service = "assets")`;
  // The room's Worker runs beside the gate, and its stub beside either Worker whose cold start
  // is timed: workerd starts every service of its config before it answers, so both launches
  // pay for the same stub and the difference is the timed Worker's own.
  if (which.includes('edgegate') || stub) {
    services.push('(name = "objects", worker = .objects)');
    services.push(`(name = "assets", disk = (path = ${str(join(root, facts.assets.directory ?? 'www'))}, writable = false))`);
    services.push(`(name = "do-storage", disk = (path = ${str(join(dir, 'do'))}, writable = true))`);
    const room = facts.objects;
    const namespaces = room.durableObjects.map((d) =>
      `(className = ${str(d.className)}, uniqueKey = ${str(`edgegate-${d.className}`)}, enableSql = ${d.sql})`);
    const roomBindings = [...textBindings, assets(room), ...room.durableObjects.map((d) =>
      `(name = ${str(d.binding)}, durableObjectNamespace = (className = ${str(d.className)}))`)];
    const roomJs = stub
      ? `[(name = "stub.js", esModule = ${str(room.durableObjects.map((d) => `export class ${d.className} { fetch() { return new Response('', { status: 503 }); } }`).join('\n') + '\nexport default { fetch() { return new Response("", { status: 503 }); } };')})]`
      : `[
    ${roomModules.map((m) => `(name = ${str(m.name)}, ${m.kind} = embed ${str(m.name)})`).join(',\n    ')},
  ]`;
    workers.push(`const objects :Workerd.Worker = (
  modules = ${roomJs},
  compatibilityDate = ${str(room.compatibilityDate)},
  bindings = [
    ${roomBindings.join(',\n    ')},
  ],
  durableObjectNamespaces = [
    ${namespaces.join(',\n    ')},
  ],
  durableObjectStorage = (localDisk = "do-storage"),
  globalOutbound = "loopback",
);`);
  }
  if (which.includes('edgegate')) {
    // The gate: its Durable Object bindings and services name the room's Worker.
    const bindings = [...textBindings, assets(facts)];
    for (const d of facts.durableObjects) {
      bindings.push(`(name = ${str(d.binding)}, durableObjectNamespace = (className = ${str(d.className)}, serviceName = "objects"))`);
    }
    for (const s of facts.services) bindings.push(`(name = ${str(s.binding)}, service = "objects")`);
    services.push('(name = "edgegate", worker = .edgegate)');
    socket('edgegate');
    workers.push(`const edgegate :Workerd.Worker = (
  modules = [
    ${modules.map((m) => `(name = ${str(m.name)}, ${m.kind} = embed ${str(m.name)})`).join(',\n    ')},
  ],
  compatibilityDate = ${str(facts.compatibilityDate)},
  bindings = [
    ${bindings.join(',\n    ')},
  ],
  globalOutbound = "loopback",
);`);
  }
  // The JS baselines without bindings: the no-op and the floor of a poll.
  for (const [name, js] of [['noop', NOOP_JS], ['floor', FLOOR_JS]]) {
    if (!which.includes(name)) continue;
    services.push(`(name = "${name}", worker = .${name})`);
    socket(name);
    workers.push(`const ${name} :Workerd.Worker = (
  modules = [(name = "${name}.js", esModule = ${str(js)})],
  compatibilityDate = ${str(facts.compatibilityDate)},
);`);
  }
  // The JS workers that reach the origin: the proxy and the floor of a pass-through.
  for (const name of ['proxy', 'passfloor']) {
    if (!which.includes(name)) continue;
    const js = name === 'proxy' ? PROXY_JS : passFloorJs(facts.vars.ORIGIN_TIMEOUT_MS);
    services.push(`(name = "${name}", worker = .${name})`);
    socket(name);
    workers.push(`const ${name} :Workerd.Worker = (
  modules = [(name = "${name}.js", esModule = ${str(js)})],
  compatibilityDate = ${str(facts.compatibilityDate)},
  bindings = [(name = "ORIGIN_URL", text = ${str(originUrl)})],
  globalOutbound = "loopback",
);`);
  }
  // Loopback only: the workers may reach the local origin and nothing else.
  services.push('(name = "loopback", network = (allow = ["local"]))');
  // Under BENCH_PERF, V8 writes /tmp/perf-<pid>.map so perf can name JIT and wasm code.
  const v8Flags = PERF.length ? '  v8Flags = ["--perf-basic-prof"],\n' : '';
  const text = `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
${v8Flags}  services = [
    ${services.join(',\n    ')},
  ],
  sockets = [
    ${sockets.join(',\n    ')},
  ],
);

${workers.join('\n\n')}
`;
  const file = join(dir, 'config.capnp');
  writeFileSync(file, text);
  return file;
}

/**
 * A Worker's modules as the platform gets them, the main one first, each with the file it is
 * read from. worker-build's shim is replaced by the build it re-exports. An entry of the
 * project's own is bundled as `wrangler deploy` bundles it (esbuild, its JS imports inlined,
 * minified when the config says `minify = true`; the wasm stays a module of its own), under
 * the entry's own name, so its imports resolve as in the repository. Under BENCH_PROFILE or
 * BENCH_PERF it is not minified, so the profile can name its functions.
 */
function entryModules(facts) {
  const main = facts.main;
  if (main.startsWith('build/')) {
    return ['build/index.js', 'build/index_bg.wasm'].map((name) => module(name, join(root, name)));
  }
  const bundled = join(work, 'bundled', main);
  if (!existsSync(bundled)) {
    mkdirSync(dirname(bundled), { recursive: true });
    execFileSync(join(root, 'node_modules', '.bin', 'esbuild'), [
      join(root, main), '--bundle', '--format=esm', '--platform=neutral', '--external:*.wasm',
      // Profiles name the entry's functions only unminified (V8 names a function by its
      // identifier, which --keep-names does not keep), so a profiled run is not minified.
      '--keep-names', ...(facts.minify && !PROFILE.length && !PERF.length ? ['--minify'] : []),
      `--outfile=${bundled}`, '--log-level=warning',
    ]);
  }
  const text = readFileSync(bundled, 'utf8');
  const wasm = [...text.matchAll(/from\s*"(\.\.?\/[^"]+\.wasm)"/g)].map((m) => join(dirname(main), m[1]));
  return [module(main, bundled), ...wasm.map((name) => module(name, join(root, name)))];
}

function module(name, path) {
  return { name, path, kind: name.endsWith('.wasm') ? 'wasm' : 'esModule' };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts workerd (pinned to core 0) and resolves once `readyUrl` answers 200, with the ms taken. */
async function startWorkerd(configFile, readyUrl, { inspectorPort, deadlineMs = 60_000 } = {}) {
  const args = ['serve', '--experimental', configFile];
  if (inspectorPort) args.push(`--inspector-addr=127.0.0.1:${inspectorPort}`);
  const [cmd, argv] = PINNED ? ['taskset', ['-c', '0', WORKERD, ...args]] : [WORKERD, args];
  let log = '';
  const started = performance.now();
  const child = spawn(cmd, argv, { cwd: dirname(configFile), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const keep = (chunk) => { log = (log + chunk.toString()).slice(-20_000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => { exited = { code, signal }; resolve(); }));
  for (;;) {
    if (exited) fail(`workerd exited (${JSON.stringify(exited)}) before it answered:\n${log}`);
    if (performance.now() - started > deadlineMs) fail(`workerd did not answer ${readyUrl} within ${deadlineMs} ms:\n${log}`);
    try {
      const res = await fetch(readyUrl, { signal: AbortSignal.timeout(1000) });
      const ok = res.status === 200;
      await res.arrayBuffer();
      if (ok) break;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 2));
  }
  const coldMs = performance.now() - started;
  return {
    pid: child.pid, // taskset execs workerd, so this is workerd's own pid
    coldMs,
    log: () => log,
    async stop() {
      if (exited) return;
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000);
      await exit;
      clearTimeout(timer);
      children.delete(child);
    },
  };
}

/** User + system CPU seconds the process has used so far, all threads, by its own accounting. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14, 15)
}

// ---- the static origin -----------------------------------------------------------------------

async function startOrigin() {
  const seen = { total: 0, withPass: 0, connections: 0 };
  const server = createServer((req, res) => {
    seen.total++;
    if (req.headers['gate-pass']) seen.withPass++;
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
  server.on('connection', () => { seen.connections++; });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, server };
}

// ---- a citizen -------------------------------------------------------------------------------

class Citizen {
  constructor(base) { this.base = base; this.cookies = new Map(); }
  cookieHeader() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
  async get(path, init = {}) {
    const headers = { ...(init.headers ?? {}) };
    if (this.cookies.size) headers.cookie = this.cookieHeader();
    const res = await fetch(this.base + path, { redirect: 'manual', ...init, headers });
    this.lastSet = res.headers.getSetCookie();
    for (const line of this.lastSet) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      const [name, value] = [pair.slice(0, eq), pair.slice(eq + 1)];
      if (/Max-Age=0/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
  async status() {
    const res = await this.get('/queue/status');
    const text = await res.text();
    let body;
    try { body = JSON.parse(text); } catch { fail(`/queue/status answered ${res.status} ${text.slice(0, 300)}`); }
    return { res, body };
  }
}

function check(cond, message) {
  if (!cond) fail(`check failed before timing: ${message}`);
}

async function adminCall(base, token, method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  check(res.status === 200, `${method} ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

async function inBatches(n, width, fn) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) { const i = next++; out[i] = await fn(i); }
  }));
  return out;
}

// ---- wrk -------------------------------------------------------------------------------------

const ROTATE_LUA = `-- one Cookie header per request, taken in turn from the file named after --
local cookies = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do cookies[#cookies + 1] = line end
  i = math.random(#cookies)
end
function request()
  i = i + 1
  if i > #cookies then i = 1 end
  return wrk.format("GET", wrk.path, { ["Cookie"] = cookies[i] })
end
`;
const ONE_COOKIE_LUA = `local cookie
function init(args) cookie = io.lines(args[1])() end
function request() return wrk.format("GET", wrk.path, { ["Cookie"] = cookie }) end
`;

function runWrk(url, seconds, script, scriptArg) {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '--timeout', '5s'];
  if (script) args.push('-s', script);
  args.push(url);
  if (scriptArg) args.push('--', scriptArg);
  const [cmd, argv] = PINNED ? ['taskset', ['-c', '1', 'wrk', ...args]] : ['wrk', args];
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    child.on('exit', (code) => {
      children.delete(child);
      if (code !== 0) fail(`wrk exited ${code}:\n${out}`);
      resolve(parseWrk(out));
    });
  });
}

function parseWrk(out) {
  const num = (re) => { const m = out.match(re); return m ? Number(m[1]) : 0; };
  const unit = { us: 1e-3, ms: 1, s: 1e3 };
  const p50 = out.match(/^\s*50%\s+([\d.]+)(us|ms|s)\s*$/m);
  const errs = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  return {
    requests: num(/(\d+) requests in/),
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50ms: p50 ? Number(p50[1]) * unit[p50[2]] : NaN,
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    errors: errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    raw: out,
  };
}

// ---- the run ---------------------------------------------------------------------------------

/** The median of the finite numbers in `xs`; NaN when there are none. */
function median(xs) {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

async function main() {
  const facts = { ...wranglerFacts(), objects: wranglerFacts('wrangler.objects.toml') };
  if (!facts.compatibilityDate) fail('wrangler.toml has no compatibility_date');
  if (!facts.objects.main) fail('wrangler.objects.toml has no main');
  const origin = await startOrigin();
  const secrets = { GATE_KEYS: `1:${randomBytes(32).toString('hex')}`, ADMIN_TOKEN: randomBytes(24).toString('hex') };
  const vars = { ...facts.vars, ...secrets, ORIGIN_URL: origin.url, ALLOW_LOCAL_ORIGIN: 'on' };
  const ports = {};
  for (const name of ['edgegate', ...JS_BASELINES]) ports[name] = await freePort();
  const url = Object.fromEntries(Object.entries(ports).map(([k, p]) => [k, `http://127.0.0.1:${p}`]));

  console.log(`== edge: bare workerd ${execFileSync(WORKERD, ['--version']).toString().trim()}, compatibility_date ${facts.compatibilityDate}`);
  console.log(PINNED
    ? '   workerd pinned to core 0; wrk, the origin and this driver to core 1 (taskset)'
    : '   NOT pinned (fewer than two cores, or BENCH_NO_PIN): the figures share one core');
  console.log(`   wrk -t1 -c${CONNECTIONS} -d${SECONDS}s per case, ${ROUNDS} rounds after ${WARMUP_S}s of warm-up per case, loopback only`);

  // Cold start: a workerd of its own for each launch, spawn to the first 200, the median
  // launch. The two alternate launch by launch, so a machine that slows down or speeds up
  // moves both; one launch of each first, untimed, brings the binaries into the page cache.
  const cold = {};
  const coldTimes = { noop: [], edgegate: [] };
  for (let i = 0; i <= COLD_LAUNCHES; i++) {
    for (const which of ['noop', 'edgegate']) {
      const dir = mkdtempSync(join(work, `cold-${which}-`));
      const p = { [which]: await freePort() };
      // The gate alone, as a citizen's isolate starts: the room's Worker is a stub, in the
      // no-op's workerd too, since workerd starts it before answering anything.
      const file = workerdConfig({ dir, facts, ports: p, which: [which], vars, originUrl: origin.url, stub: true });
      const w = await startWorkerd(file, `http://127.0.0.1:${p[which]}${which === 'edgegate' ? '/queue/healthz' : '/'}`);
      if (i > 0) coldTimes[which].push(w.coldMs);
      await w.stop();
    }
  }
  for (const [which, times] of Object.entries(coldTimes)) cold[which] = median(times);

  const dir = mkdtempSync(join(work, 'run-'));
  const file = workerdConfig({ dir, facts, ports, which: ['edgegate', ...JS_BASELINES], vars, originUrl: origin.url });
  const inspectorPort = PROFILE.length ? await freePort() : undefined;
  const workerd = await startWorkerd(file, `${url.edgegate}/queue/healthz`, { inspectorPort });
  const admin = (method, path, body) => adminCall(url.edgegate, secrets.ADMIN_TOKEN, method, path, body);

  // ---- correctness, before any timing ----
  for (const name of ['noop', 'proxy', 'passfloor']) {
    const res = await fetch(`${url[name]}/book`);
    const text = await res.text();
    check(res.status === 200 && text === 'ok', `${name} answered ${res.status} ${text.slice(0, 200)}`);
  }
  {
    const res = await fetch(`${url.floor}/queue/status`, { headers: { cookie: 'edgegate_ticket=x' } });
    const body = await res.json();
    check(res.status === 200 && body.state === 'waiting' && res.headers.get('cache-control') === 'no-store',
      `the floor answered ${res.status} ${JSON.stringify(body)}`);
  }
  const seenBefore = origin.seen.total;
  check(seenBefore >= 1, 'the proxy did not reach the origin');

  // Ticket issue: a waiting JSON and a new ticket each time.
  const firstTickets = [];
  for (let i = 0; i < 2; i++) {
    const c = new Citizen(url.edgegate);
    const { res, body } = await c.status();
    check(res.status === 200 && typeof body.state === 'string', `/queue/status without a cookie answered ${res.status} ${JSON.stringify(body)}`);
    const t = c.cookies.get('edgegate_ticket');
    check(t, `/queue/status without a cookie set no ticket (Set-Cookie: ${c.lastSet})`);
    firstTickets.push(t);
  }
  check(firstTickets[0] !== firstTickets[1], 'two arrivals got the same ticket');

  // Admitted pass-through: open the room wide, let one citizen in, use their pass.
  await admin('PUT', '/admin/config', {
    paused: false, closed: false, new_users_per_minute: 1_000_000, max_active: 10_000_000,
    session_duration_s: 3600, place_grace_s: 3600,
  });
  const admitted = new Citizen(url.edgegate);
  const until = Date.now() + 20_000;
  for (;;) {
    const { body } = await admitted.status();
    if (body.state === 'admitted') break;
    check(Date.now() < until, `not admitted within 20 s with the room open wide: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  check(admitted.cookies.get('edgegate_pass'), 'admitted without a pass cookie');
  const passCookie = admitted.cookieHeader();
  {
    const withPass = origin.seen.withPass;
    const res = await fetch(`${url.edgegate}/book`, { headers: { cookie: passCookie }, redirect: 'manual' });
    const text = await res.text();
    check(res.status === 200 && text === 'ok', `pass-through answered ${res.status} ${text.slice(0, 200)}`);
    check(origin.seen.withPass === withPass + 1, 'the pass-through did not reach the origin with a Gate-Pass');
  }

  // Status polls: close the gate to new admissions (rate 0), then seat many citizens, each by a
  // ticket's issue and its return, as the waiting page does.
  await admin('PUT', '/admin/config', { new_users_per_minute: 0 });
  await new Promise((r) => setTimeout(r, Number(facts.vars.SYNC_INTERVAL_MS ?? 1000) + 500));
  await new Citizen(url.edgegate).status(); // a poll sets off the sync that brings the new rate
  await new Promise((r) => setTimeout(r, 1000));
  const seated = await inBatches(TICKETS, 50, async () => {
    const c = new Citizen(url.edgegate);
    await c.status();
    const { res, body } = await c.status();
    return { cookie: c.cookieHeader(), status: res.status, body };
  });
  const waiting = seated.filter((s) => s.status === 200 && s.body.state === 'waiting' && Number.isInteger(s.body.position));
  check(waiting.length === seated.length,
    `${seated.length - waiting.length} of ${seated.length} seated citizens had no waiting position, e.g. ${JSON.stringify(seated.find((s) => !waiting.includes(s))?.body)}`);
  const cookieFile = join(work, 'tickets.txt');
  writeFileSync(cookieFile, seated.map((s) => s.cookie).join('\n') + '\n');
  const passFile = join(work, 'pass.txt');
  writeFileSync(passFile, passCookie + '\n');
  const rotate = join(work, 'rotate.lua');
  writeFileSync(rotate, ROTATE_LUA);
  const one = join(work, 'one.lua');
  writeFileSync(one, ONE_COOKIE_LUA);
  {
    const c = new Citizen(url.edgegate);
    c.cookies.set('edgegate_ticket', seated[0].cookie.match(/edgegate_ticket=([^;]+)/)[1]);
    const { body } = await c.status();
    check(body.state === 'waiting' && Number.isInteger(body.position), `a rotated ticket's poll answered ${JSON.stringify(body)}`);
    const res = await fetch(`${url.edgegate}/book`, { headers: { cookie: seated[1].cookie }, redirect: 'manual' });
    const html = await res.text();
    check(res.status === 200 && /<html/i.test(html), `a page view with a ticket answered ${res.status} ${html.slice(0, 200)}`);
  }
  console.log(`   checked: new ticket per arrival, ${seated.length} seated tickets answer a waiting position, the page view answers the waiting page, the admitted pass reaches the origin with 200`);

  // ---- timing ----
  const cases = [
    { name: 'no-op JS Worker', key: 'noop', url: `${url.noop}/` },
    { name: 'JS floor of a poll (no decision)', key: 'floor', url: `${url.floor}/queue/status`, script: rotate, arg: cookieFile },
    { name: 'fetch(request) JS proxy', key: 'proxy', url: `${url.proxy}/book` },
    { name: 'JS floor of a pass-through (no decision)', key: 'passfloor', url: `${url.passfloor}/book`, script: one, arg: passFile },
    { name: 'ticket issue (/queue/status, no cookie)', key: 'issue', url: `${url.edgegate}/queue/status` },
    { name: `status poll (${seated.length} rotated tickets)`, key: 'poll', url: `${url.edgegate}/queue/status`, script: rotate, arg: cookieFile },
    { name: 'page view with a ticket (rotated)', key: 'page', url: `${url.edgegate}/book`, script: rotate, arg: cookieFile },
    { name: 'admitted pass-through to the origin', key: 'pass', url: `${url.edgegate}/book`, script: one, arg: passFile },
  ];
  // Rounds: every case once per round, so neighbours in time share whatever else the machine
  // is doing; the table gives medians over rounds, each ratio the median of its rounds' ratios.
  const rounds = Object.fromEntries(cases.map((c) => [c.key, []]));
  for (const c of cases) {
    if (WARMUP_S > 0) await runWrk(c.url, WARMUP_S, c.script, c.arg); // JIT and pools warm
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) {
      const syncBefore = c.key === 'poll' ? (await admin('GET', '/admin/state')).coordinator?.sync_calls : undefined;
      const originBefore = origin.seen.total;
      const connectionsBefore = origin.seen.connections;
      const cpu0 = cpuSeconds(workerd.pid);
      const r = await runWrk(c.url, SECONDS, c.script, c.arg);
      const cpu1 = cpuSeconds(workerd.pid);
      r.cpuUs = r.requests ? ((cpu1 - cpu0) * 1e6) / r.requests : NaN;
      r.cpuShare = (cpu1 - cpu0) / SECONDS;
      r.originHits = origin.seen.total - originBefore;
      r.originConnections = origin.seen.connections - connectionsBefore;
      if (syncBefore !== undefined) {
        r.syncCalls = (await admin('GET', '/admin/state')).coordinator?.sync_calls - syncBefore;
      }
      rounds[c.key].push(r);
    }
    console.log(`   round ${round + 1} of ${ROUNDS} done`);
  }
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  const results = {};
  for (const c of cases) {
    const rs = rounds[c.key];
    const per = (base, field) => median(rs.map((r, i) => r[field] / rounds[base][i][field]));
    results[c.key] = {
      ...c,
      rps: median(rs.map((r) => r.rps)),
      p50ms: median(rs.map((r) => r.p50ms)),
      cpuUs: median(rs.map((r) => r.cpuUs)),
      cpuUsRange: [Math.min(...rs.map((r) => r.cpuUs)), Math.max(...rs.map((r) => r.cpuUs))],
      rpsRange: [Math.min(...rs.map((r) => r.rps)), Math.max(...rs.map((r) => r.rps))],
      cpuShare: median(rs.map((r) => r.cpuShare)),
      rpsToNoop: per('noop', 'rps'),
      cpuToNoop: per('noop', 'cpuUs'),
      rpsToProxy: per('proxy', 'rps'),
      cpuToProxy: per('proxy', 'cpuUs'),
      requests: sum(rs.map((r) => r.requests)),
      non2xx: sum(rs.map((r) => r.non2xx)),
      errors: sum(rs.map((r) => r.errors)),
      originHits: sum(rs.map((r) => r.originHits)),
      originConnections: sum(rs.map((r) => r.originConnections)),
      syncCalls: sum(rs.map((r) => r.syncCalls ?? 0)),
    };
  }

  const profiles = [];
  for (const key of PROFILE) {
    const c = cases.find((x) => x.key === key);
    if (!c) fail(`BENCH_PROFILE names ${key}; the cases are ${cases.map((x) => x.key).join(', ')}`);
    const worker = JS_BASELINES.includes(key) ? key : 'edgegate';
    profiles.push([c, await profiled(inspectorPort, worker, () => runWrk(c.url, SECONDS, c.script, c.arg))]);
  }

  const perfs = [];
  if (PERF.length) {
    try {
      execFileSync('perf', ['--version'], { stdio: 'ignore' });
    } catch {
      fail('BENCH_PERF needs Linux perf on PATH (Debian: apt-get install linux-perf)');
    }
  }
  for (const key of PERF) {
    const c = cases.find((x) => x.key === key);
    if (!c) fail(`BENCH_PERF names ${key}; the cases are ${cases.map((x) => x.key).join(', ')}`);
    perfs.push([c, await perfRecorded(workerd.pid, () => runWrk(c.url, SECONDS, c.script, c.arg))]);
  }

  // After timing: the answers must still have been right.
  const problems = [];
  for (const c of Object.values(results)) {
    if (c.non2xx || c.errors) problems.push(`${c.name}: ${c.non2xx} non-2xx, ${c.errors} socket errors`);
  }
  if (results.pass.originHits < results.pass.requests * 0.99) problems.push(`pass-through: the origin saw ${results.pass.originHits} of ${results.pass.requests}`);
  {
    const c = new Citizen(url.edgegate);
    c.cookies.set('edgegate_ticket', seated[2].cookie.match(/edgegate_ticket=([^;]+)/)[1]);
    const { body } = await c.status();
    if (body.state !== 'waiting' || !Number.isInteger(body.position)) problems.push(`after timing, a poll answered ${JSON.stringify(body)}`);
  }
  await workerd.stop();

  // ---- report ----
  const { proxy } = results;
  const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–');
  const times = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');
  const rows = [['case', 'req/s', '(min–max)', 'p50 ms', 'CPU µs/req', '(min–max)', 'workerd busy', 'req/s ÷ no-op', 'CPU ÷ no-op', 'req/s ÷ proxy', 'CPU ÷ proxy']];
  for (const r of Object.values(results)) {
    rows.push([
      r.name, fmt(r.rps), `${fmt(r.rpsRange[0])}–${fmt(r.rpsRange[1])}`, fmt(r.p50ms, 2),
      fmt(r.cpuUs), `${fmt(r.cpuUsRange[0])}–${fmt(r.cpuUsRange[1])}`, `${fmt(r.cpuShare * 100)} %`,
      times(r.rpsToNoop), times(r.cpuToNoop), times(r.rpsToProxy), times(r.cpuToProxy),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  console.log();
  console.log(`medians of ${ROUNDS} rounds; each ratio is the median of the rounds' own ratios`);
  for (const [i, row] of rows.entries()) {
    console.log(row.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j]))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  console.log();
  const poll = results.poll;
  console.log(`coordinator calls per 1,000 polls: ${fmt((poll.syncCalls * 1000) / poll.requests, 2)} (${poll.syncCalls} syncs in ${fmt(poll.requests)} polls, SYNC_INTERVAL_MS ${facts.vars.SYNC_INTERVAL_MS})`);
  console.log(`origin, while timed: ${fmt(proxy.originHits)} requests over ${fmt(proxy.originConnections)} new connections from the proxy, ${fmt(results.pass.originHits)} over ${fmt(results.pass.originConnections)} from edgegate's pass-through`);
  console.log(`cold start, spawn to first 200 (a workerd of its own beside a stub of the room's Worker, median of ${COLD_LAUNCHES} alternating launches each): edgegate ${fmt(cold.edgegate)} ms, no-op JS ${fmt(cold.noop)} ms (+${fmt(cold.edgegate - cold.noop)} ms)`);
  const size = (f) => { const b = readFileSync(f); return [b.length, gzipSync(b, { level: 9 }).length]; };
  const gate = entryModules(facts).map((m) => [m.name, ...size(m.path)]);
  const room = entryModules(facts.objects).map((m) => [m.name, ...size(m.path)]);
  const total = (parts, i) => parts.reduce((sum, p) => sum + p[i], 0);
  const listed = (parts) => parts.map(([name, raw, gz]) => `${name} ${fmt(raw)} B (${fmt(gz)} gzip -9)`).join(', ');
  const parts = [...gate, ...room];
  console.log(`bundle: ${listed(parts)}; together ${fmt(total(parts, 1) / 1024, 1)} KiB (${fmt(total(parts, 2) / 1024, 1)} KiB gzip)`);
  // What every citizen's isolate loads: the gate's Worker, its entry bundled as wrangler
  // deploys it (with the citizen's wasm's glue and the body reader inlined) and that wasm.
  // The room's Worker (the Durable Objects, the operator's API) runs in isolates of its own.
  console.log(`citizen's isolate loads: ${fmt(total(gate, 2) / 1024, 1)} KiB gzip (${fmt(total(gate, 1) / 1024, 1)} KiB: ${gate.map(([name]) => name).join(', ')}); the room's Worker ${fmt(total(room, 2) / 1024, 1)} KiB gzip apart`);
  for (const [c, top] of profiles) {
    console.log();
    console.log(`profile of ${c.name} (${SECONDS}s under wrk, V8's sampler at 100 µs; self time):`);
    for (const row of top) console.log(`  ${row}`);
  }
  for (const [c, report] of perfs) {
    console.log();
    console.log(`perf of ${c.name} (${SECONDS}s under wrk, workerd's process; self time by library and symbol):`);
    console.log(report);
  }
  if (problems.length) {
    console.log();
    console.log('WRONG ANSWERS DURING TIMING; the figures above are not to be trusted:');
    for (const p of problems) console.log(`  ${p}`);
    origin.server.closeAllConnections();
    origin.server.close();
    process.exit(1);
  }
  origin.server.closeAllConnections();
  origin.server.close();
}

// ---- profiles ----------------------------------------------------------------------------------

/**
 * Samples the worker `service` through workerd's inspector (Chrome DevTools Protocol) while
 * `load` runs, and answers the top functions by self time, one printable line each.
 */
/**
 * Records workerd (`pid`) with Linux perf while `load` runs; returns the report's top symbols
 * by self time (children not included), as text.
 */
async function perfRecorded(pid, load) {
  const data = join(work, `perf-${pid}-${perfRecorded.n = (perfRecorded.n ?? 0) + 1}.data`);
  // Samples start when perf has attached, a moment into the load: the load lasts seconds.
  const rec = spawn('perf', ['record', '-F', '2000', '-p', String(pid), '-o', data], { stdio: ['ignore', 'ignore', 'pipe'] });
  let said = '';
  rec.stderr.on('data', (c) => { said = (said + c).slice(-2_000); });
  const exited = new Promise((resolve) => rec.on('exit', resolve));
  await load();
  rec.kill('SIGINT');
  await exited;
  if (!existsSync(data)) fail(`perf recorded nothing:\n${said}`);
  const report = (sort, limit, rows) => execFileSync('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', sort, '--percent-limit', limit],
    { maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] }).toString()
    .split('\n').filter((l) => l.trim() && !l.startsWith('#')).slice(0, rows)
    .map((l) => (l.length > 160 ? `${l.slice(0, 157)}...` : l)).join('\n');
  return `${report('dso', '0.5', 12)}\n${report('sym', '0.4', 60)}`;
}

async function profiled(port, service, load) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const target = targets.find((t) => (t.title ?? '').includes(service) || (t.url ?? '').includes(service));
  if (!target?.webSocketDebuggerUrl) fail(`workerd's inspector lists no target for ${service}: ${JSON.stringify(targets)}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('inspector socket')); });
  let next = 0;
  const waiting = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    waiting.get(msg.id)?.(msg);
    waiting.delete(msg.id);
  };
  const call = (method, params = {}) => new Promise((resolve) => {
    const id = ++next;
    waiting.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 100 });
  await call('Profiler.start');
  await load();
  const { result } = await call('Profiler.stop');
  ws.close();
  const self = new Map();
  let total = 0;
  for (const node of result.profile.nodes) {
    const f = node.callFrame;
    const where = f.url ? `${f.url.split('/').pop()}:${f.lineNumber + 1}` : '';
    const name = `${f.functionName || '(anonymous)'} ${where}`.trim();
    self.set(name, (self.get(name) ?? 0) + (node.hitCount ?? 0));
    total += node.hitCount ?? 0;
  }
  // Inclusive time of the entry's own functions and the wasm's exports: self plus callees.
  const byId = new Map(result.profile.nodes.map((n) => [n.id, n]));
  const inclusive = new Map();
  const walk = (node, open) => {
    const f = node.callFrame;
    const name = f.functionName || '(anonymous)';
    const counted = !open.has(name);
    let hits = node.hitCount ?? 0;
    const inner = counted ? new Set(open).add(name) : open;
    for (const child of node.children ?? []) hits += walk(byId.get(child), inner);
    if (counted && (/entry\.mjs$/.test(f.url) || /wasm/.test(f.url) && ['citizen', 'forwarded'].includes(name) || name === 'Response' || name === 'fetch' && !f.url)) {
      inclusive.set(name, (inclusive.get(name) ?? 0) + hits);
    }
    return hits;
  };
  walk(result.profile.nodes[0], new Set());
  const pct = (hits) => `${((100 * hits) / Math.max(1, total)).toFixed(1).padStart(5)} %`;
  return [
    ...[...self].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([name, hits]) => `${pct(hits)}  ${name}`),
    'inclusive (with callees):',
    ...[...inclusive].sort((a, b) => b[1] - a[1]).map(([name, hits]) => `${pct(hits)}  ${name}`),
  ];
}

main().catch((e) => fail(e.stack ?? String(e)));
