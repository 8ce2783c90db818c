// What `wrangler deploy --env production` would upload, and whether the README's "Deploying"
// section still matches it: `wrangler deploy --env production --dry-run --outdir <tmp>` on the
// built worker (scripts/test builds it first; wrangler's [build] step then finds nothing to redo)
// must exit 0 without a warning, with both Durable Objects exported and bound, the waiting page's
// assets read, and the README's own deploy inputs (its `routes` line and its `--var`) accepted;
// production's variables must be the local ones less the loopback `ORIGIN_URL`, and neither may
// set `ALLOW_LOCAL_ORIGIN`, which only local runs pass; every wrangler.toml table and secret the README names
// must be one wrangler.toml and the worker know. No account or network is needed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from '../support/stack.mjs';

const wranglerToml = readFileSync(join(root, 'wrangler.toml'), 'utf8');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const deploying = readme.slice(readme.indexOf('## Deploying'), readme.indexOf('\n## ', readme.indexOf('## Deploying') + 1));

/** The tables wrangler.toml defines, by dotted name (`[[durable_objects.bindings]]` gives `durable_objects.bindings`). */
const tables = new Set([...wranglerToml.matchAll(/^\s*\[\[?\s*([^\]\s]+)\s*\]\]?/gm)].map((m) => m[1]));
/** The `KEY = "value"` lines of a wrangler.toml table, such as `vars` or `env.production.vars`. */
function table(name) {
  const at = wranglerToml.search(new RegExp(`^\\[${name.replaceAll('.', '\\.')}\\]`, 'm'));
  if (at < 0) return new Map();
  const body = wranglerToml.slice(at).split('\n').slice(1);
  const end = body.findIndex((line) => line.startsWith('['));
  return new Map(body.slice(0, end < 0 ? undefined : end)
    .map((l) => l.match(/^([A-Z_][A-Z0-9_]*)\s*=\s*"([^"]*)"/)).filter(Boolean).map((m) => [m[1], m[2]]));
}
/** wrangler.toml's `[vars]` (the local ones) and `[env.production.vars]`. */
const localVars = table('vars');
const vars = new Set(localVars.keys());
const productionVars = table('env.production.vars');
/** The Durable Object bindings (name and class) at the top level and in `[env.production]`. */
function bindings(prefix) {
  const header = `[[${prefix}durable_objects.bindings]]`;
  return wranglerToml.split('\n[').filter((t) => `[${t}`.startsWith(header))
    .map((t) => `${t.match(/^name\s*=\s*"(\w+)"/m)?.[1]} ${t.match(/^class_name\s*=\s*"(\w+)"/m)?.[1]}`);
}
const classes = [...new Set([...wranglerToml.matchAll(/class_name\s*=\s*"(\w+)"/g)].map((m) => m[1]))];
/** Every name the worker reads from its environment, as the string literal it reads it by: the
 * workers-rs Worker's sources, the citizen's wasm's, and the settings both parse alike. */
const workerSource = ['src', 'crates/edgegate-edge/src', 'crates/edgegate-web/src']
  .flatMap((dir) => readdirSync(join(root, dir), { recursive: true }).filter((f) => f.endsWith('.rs'))
    .map((f) => readFileSync(join(root, dir, f), 'utf8'))).join('\n');

const routesLine = deploying.match(/`(routes = \[[^`]*\])`/)?.[1];
const varArg = deploying.match(/`npx wrangler deploy --env production --var (\S+?)`/)?.[1];
const secrets = [...deploying.matchAll(/wrangler secret put (\w+)/g)].map((m) => m[1]);

let dir, run;

/** Runs wrangler with a deadline; resolves with its exit code and everything it printed. */
function wrangler(args, deadlineMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(join(root, 'node_modules', '.bin', 'wrangler'), args, {
      cwd: root,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`wrangler ran past ${deadlineMs} ms:\n${out}`)); }, deadlineMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

before(async () => {
  assert.ok(routesLine, 'the README names a routes line for wrangler.toml');
  assert.ok(varArg, 'the README deploys with --env production --var');
  dir = mkdtempSync(join(tmpdir(), 'edgegate-deploy-'));
  // wrangler.toml as an operator would have it after the README's step 2: the README's routes
  // line added at the top level. The copy lives in a folder of its own, so the paths in it are
  // made absolute and the build runs in the repository.
  const absolute = wranglerToml
    .replace(/^main = "([^"]+)"/m, (_, p) => `main = "${join(root, p)}"`)
    .replace(/^directory = "([^"]+)"/m, (_, p) => `directory = "${join(root, p)}"`)
    .replace(/^\[build\]$/m, `[build]\ncwd = "${root}"`);
  const firstTable = absolute.search(/^\[/m);
  const config = `${absolute.slice(0, firstTable)}${routesLine}\n\n${absolute.slice(firstTable)}`;
  writeFileSync(join(dir, 'wrangler.toml'), config);
  run = await wrangler(['deploy', '--env', 'production', '--dry-run', '--config', join(dir, 'wrangler.toml'), '--outdir', join(dir, 'bundle'), '--var', varArg], 300_000);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('wrangler deploy --env production --dry-run bundles the worker with the README routes and --var, and exits 0', () => {
  assert.equal(run.code, 0, run.out);
  assert.match(run.out, /--dry-run: exiting now/, run.out);
  // Such as a top-level variable or binding that [env.production] lacks ("not inherited").
  assert.doesNotMatch(run.out, /WARNING/, run.out);
  const bundle = readdirSync(join(dir, 'bundle'));
  assert.ok(bundle.includes('entry.js'), `bundle: ${bundle}`);
  assert.ok(bundle.some((f) => f.endsWith('.wasm')), `the wasm is in the bundle: ${bundle}`);
});

test('both Durable Objects are bound and exported by the bundle', () => {
  assert.deepEqual(classes.toSorted(), ['LocationAggregator', 'RoomCoordinator']);
  const entry = readFileSync(join(dir, 'bundle', 'entry.js'), 'utf8');
  const exported = entry.slice(entry.lastIndexOf('export {'));
  for (const name of classes) {
    assert.match(run.out, new RegExp(`env\\.\\w+ \\(${name}\\)\\s+Durable Object`), `${name} is bound:\n${run.out}`);
    assert.match(exported, new RegExp(`\\bas ${name}\\b|\\b${name}\\b`), `${name} is exported: ${exported}`);
  }
});

test('the waiting page and the console go up as assets', () => {
  const count = (d) => readdirSync(d, { withFileTypes: true })
    .reduce((n, e) => n + (e.isDirectory() ? count(join(d, e.name)) : 1), 0);
  assert.match(run.out, /env\.ASSETS\s+Assets/, run.out);
  // wrangler's count includes the folders (4 of them today), so only a floor is asserted.
  const read = run.out.match(/Read (\d+) files from the assets directory (\S+)/);
  assert.ok(read, run.out);
  assert.equal(read[2], join(root, 'www'));
  assert.ok(Number(read[1]) >= count(join(root, 'www')), `${read[1]} read, ${count(join(root, 'www'))} files in www`);
});

test('the --var the README deploys with replaces the local ORIGIN_URL', () => {
  const [name] = varArg.split(':');
  assert.equal(name, 'ORIGIN_URL');
  assert.ok(vars.has(name) && workerSource.includes(`"${name}"`), `${name} is a variable the worker reads`);
  const local = wranglerToml.match(/^ORIGIN_URL = "([^"]+)"/m)[1];
  assert.match(run.out, /env\.ORIGIN_URL /, run.out);
  assert.ok(!run.out.includes(`env.ORIGIN_URL ("${local}")`), `the deployed ORIGIN_URL is not the local ${local}:\n${run.out}`);
});

test('the secrets the README sets are ones the worker reads, and none is a plain [vars] entry', () => {
  assert.deepEqual(secrets, ['GATE_KEYS', 'ADMIN_TOKEN', 'GATE_KEYS']);
  for (const name of secrets) {
    assert.ok(workerSource.includes(`"${name}"`), `the worker reads ${name}`);
    assert.ok(!vars.has(name), `${name} would be uploaded in plain text from [vars]`);
  }
});

const named = [...deploying.matchAll(/`\[([a-z_.]+)\]`/g)].map((m) => m[1]);
const hasProduction = [...tables].some((t) => t === 'env.production' || t.startsWith('env.production.'));

test('every wrangler.toml table the README names exists', () => {
  assert.ok(named.includes('build') && named.includes('vars'), `named: ${named}`);
  for (const table of named.filter((t) => !t.startsWith('env.production'))) {
    assert.ok(tables.has(table), `wrangler.toml has [${table}]`);
  }
});

test('the production environment the README names exists in wrangler.toml', () => {
  assert.ok(hasProduction, 'wrangler.toml defines [env.production]');
  assert.ok(named.includes('env.production.vars'), `named: ${named}`);
  for (const table of named.filter((t) => t.startsWith('env.production'))) {
    const parent = table.split('.').slice(0, 2).join('.');
    assert.ok(tables.has(table) || tables.has(parent) || [...tables].some((t) => t.startsWith(`${parent}.`)), `wrangler.toml has [${table}]`);
  }
});

test('production binds the Durable Objects as the top level does, which it does not inherit', () => {
  assert.equal(bindings('').length, 2, bindings('').join(', '));
  assert.deepEqual(bindings('env.production.').toSorted(), bindings('').toSorted());
});

test('production has the local variables, less the local origin, and neither allows a local origin', () => {
  // What is local by nature: the loopback origin, and the switch that lets the gate forward there.
  assert.match(localVars.get('ORIGIN_URL'), /^http:\/\/127\.0\.0\.1:/);
  assert.equal(productionVars.get('ORIGIN_URL'), '');
  // The switch is in no table: a deploy of this file, in any environment, refuses a local origin.
  assert.ok(!localVars.has('ALLOW_LOCAL_ORIGIN'), 'the top-level [vars] set ALLOW_LOCAL_ORIGIN');
  assert.ok(!productionVars.has('ALLOW_LOCAL_ORIGIN'), '[env.production.vars] set ALLOW_LOCAL_ORIGIN');
  assert.ok(workerSource.includes('"ALLOW_LOCAL_ORIGIN"'), 'the worker reads ALLOW_LOCAL_ORIGIN');
  // Everything else the same, so a tunable changed at the top level is not left behind.
  const rest = (m) => Object.fromEntries([...m].filter(([k]) => k !== 'ORIGIN_URL' && k !== 'ALLOW_LOCAL_ORIGIN'));
  assert.deepEqual(rest(productionVars), rest(localVars));
  // And what wrangler would upload says the same.
  assert.doesNotMatch(run.out, /env\.ALLOW_LOCAL_ORIGIN /, run.out);
  // The switches only tests turn on are in neither list.
  for (const name of ['CLIENT_ADDRESS_HEADER', 'LOCATION_HEADER', 'EDGEGATE_FAULTS']) {
    assert.ok(!localVars.has(name) && !productionVars.has(name), `${name} is set in wrangler.toml`);
    assert.doesNotMatch(run.out, new RegExp(`env\\.${name} `), run.out);
  }
});
