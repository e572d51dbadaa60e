// CODEX_HOME checks at start (created, unwritable, auth.json too open with and without
// PROXY_STRICT_HOME, the result in the start line and /healthz), and the operator commands
// `doctor` and `login` against the fake Codex.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fakeCodexBin, gatewayBin, request, startGateway, stopClean, tempDir } from '../lib/gateway.mjs';

/** Runs the gateway binary to its exit (bounded); {code, stdout, stderr}. */
function run(args, env, { wrapper = [], input } = {}) {
  return new Promise((resolve) => {
    const cmd = wrapper.length ? wrapper[0] : gatewayBin;
    const argv = wrapper.length ? [...wrapper.slice(1), gatewayBin, ...args] : args;
    const child = execFile(cmd, argv, {
      env: { PATH: process.env.PATH, PORT: '0', CODEX_BIN: fakeCodexBin, ASAN_OPTIONS: 'detect_leaks=1', ...env },
      timeout: 60000,
    }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
  });
}

// Root passes every permission check; without CAP_DAC_OVERRIDE it meets the modes like anyone.
const noDacOverride = ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--inh-caps=-dac_override,-dac_read_search'];

function writeAuth(home, mode) {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const file = path.join(home, 'auth.json');
  fs.writeFileSync(file, '{"OPENAI_API_KEY":null,"tokens":null}\n');
  fs.chmodSync(file, mode);
  return file;
}

async function healthz(gw) {
  return (await request(gw, '/healthz')).json;
}

describe('CODEX_HOME at start', { timeout: 120000 }, () => {
  it('creates a missing CODEX_HOME (0700) and reports it in the start line and /healthz', async () => {
    const t = tempDir('cg-home-');
    const home = path.join(t.dir, 'a', 'home');
    const gw = await startGateway({ env: { CODEX_HOME: home } });
    try {
      assert.equal(fs.statSync(home).mode & 0o777, 0o700);
      const start = await gw.waitForLog((l) => l.event === 'start');
      assert.deepEqual(start.codex_home, { path: home, created: true, writable: true, auth_json: 'absent', mode: null, error: null });
      assert.deepEqual((await healthz(gw)).codex_home, { ...start.codex_home });
      assert.deepEqual(fs.readdirSync(home).filter((f) => f.startsWith('.codex-gateway-probe')), []);
    } finally {
      await stopClean(assert, gw);
      t.remove();
    }
  });

  it('refuses a CODEX_HOME that cannot be created, with one line and exit 2', async () => {
    const t = tempDir('cg-home-');
    fs.writeFileSync(path.join(t.dir, 'file'), '');
    const home = path.join(t.dir, 'file', 'home');
    const r = await run([], { CODEX_HOME: home, PROXY_STATE_DIR: t.dir, HOME: t.dir });
    t.remove();
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^codex-gateway: CODEX_HOME: cannot create .*file\/home: Not a directory\n$/);
  });

  it('refuses a CODEX_HOME it cannot write (checked with a real write, not the mode bits)', async () => {
    const t = tempDir('cg-home-');
    const home = path.join(t.dir, 'home');
    fs.mkdirSync(home, { mode: 0o500 });
    fs.chmodSync(home, 0o500);
    const r = await run([], { CODEX_HOME: home, PROXY_STATE_DIR: path.join(t.dir, 'state'), HOME: t.dir }, { wrapper: noDacOverride });
    fs.chmodSync(home, 0o700);
    t.remove();
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^codex-gateway: CODEX_HOME: .*home is not writable \(Permission denied\)/);
  });

  it('warns about an auth.json readable by others, naming the file, its mode and the fix', async () => {
    const t = tempDir('cg-home-');
    const home = path.join(t.dir, 'home');
    const file = writeAuth(home, 0o644);
    const gw = await startGateway({ env: { CODEX_HOME: home } });
    try {
      const warn = await gw.waitForLog((l) => l.level === 'warn' && /auth\.json/.test(l.msg || ''));
      assert.ok(warn.msg.includes(file) && warn.msg.includes('0644') && warn.msg.includes(`chmod 600 ${file}`), warn.msg);
      const start = gw.logs.find((l) => l.event === 'start');
      assert.equal(start.codex_home.auth_json, 'too_open');
      assert.equal(start.codex_home.mode, '0644');
      assert.equal((await healthz(gw)).codex_home.auth_json, 'too_open');
      // The fix shows in /healthz without a restart.
      fs.chmodSync(file, 0o600);
      const now = (await healthz(gw)).codex_home;
      assert.equal(now.auth_json, 'ok');
      assert.equal(now.mode, '0600');
    } finally {
      await stopClean(assert, gw);
      t.remove();
    }
  });

  it('with PROXY_STRICT_HOME=true refuses an auth.json readable by others (exit 2, one line)', async () => {
    const t = tempDir('cg-home-');
    const home = path.join(t.dir, 'home');
    const file = writeAuth(home, 0o644);
    const env = { CODEX_HOME: home, PROXY_STATE_DIR: t.dir, HOME: t.dir, PROXY_STRICT_HOME: 'true' };
    const r = await run([], env);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.includes(`chmod 600 ${file}`) && r.stderr.includes('mode 0644'), r.stderr);
    // A 0600 file passes the strict check.
    fs.chmodSync(file, 0o600);
    const gw = await startGateway({ env: { CODEX_HOME: home, PROXY_STRICT_HOME: 'true' } });
    try {
      assert.equal((await healthz(gw)).codex_home.auth_json, 'ok');
      assert.equal(gw.logs.find((l) => l.level === 'warn' && /auth\.json/.test(l.msg || '')), undefined);
    } finally {
      await stopClean(assert, gw);
      t.remove();
    }
  });
});
