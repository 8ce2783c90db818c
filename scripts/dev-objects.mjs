// The room's Worker (wrangler.objects.toml) as `wrangler dev` runs it beside the gate, in one
// session: `wrangler dev -c wrangler.toml -c <dir>/wrangler.toml`. wrangler gives a session's
// second config neither `--var` nor `--env-file`, only its own [vars] and the .dev.vars beside
// it; so the room's Worker runs from a copy of its config in a folder of its own, with the
// paths made absolute, no [build] (the gate's build makes both Workers), and a .dev.vars that
// holds the same secrets and overrides as the gate's.
//
// As a module (tests/support/stack.mjs): `objectsDevConfig(dir, vars)`. From the shell
// (scripts/dev): `node scripts/dev-objects.mjs <dir> <env-file> [NAME=value ...]`, which prints
// the config's path.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Writes `dir`/wrangler.toml and `dir`/.dev.vars (`vars`: name → value); returns the config. */
export function objectsDevConfig(dir, vars) {
  mkdirSync(dir, { recursive: true });
  const text = readFileSync(join(root, 'wrangler.objects.toml'), 'utf8')
    .replace(/^main = "([^"]+)"/m, (_, p) => `main = ${JSON.stringify(join(root, p))}`)
    .replace(/^directory = "([^"]+)"/m, (_, p) => `directory = ${JSON.stringify(join(root, p))}`)
    .replace(/^\[build\]\ncommand = .*\n/m, '');
  const config = join(dir, 'wrangler.toml');
  writeFileSync(config, text);
  // A value with double quotes in it (JSON, such as ROOM_ROUTES) goes unquoted: the file has no
  // escapes, and JSON holds no newline or `#` here.
  const quoted = (v) => (String(v).includes('"') ? String(v) : `"${v}"`);
  writeFileSync(join(dir, '.dev.vars'), Object.entries(vars).map(([k, v]) => `${k}=${quoted(v)}`).join('\n') + '\n', { mode: 0o600 });
  return config;
}

/** The `NAME=value` lines of an env file such as .dev.vars (quotes around a value dropped). */
export function readEnvFile(path) {
  const vars = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = line.match(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/);
    if (m) vars[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
  }
  return vars;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dir, envFile, ...pairs] = process.argv.slice(2);
  if (!dir || !envFile) {
    console.error('usage: node scripts/dev-objects.mjs <dir> <env-file> [NAME=value ...]');
    process.exit(2);
  }
  const vars = readEnvFile(envFile);
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at < 1) {
      console.error(`dev-objects: ${pair} is not NAME=value`);
      process.exit(2);
    }
    vars[pair.slice(0, at)] = pair.slice(at + 1);
  }
  console.log(objectsDevConfig(resolve(dir), vars));
}
