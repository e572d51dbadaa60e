// CODEX_HOME checks at start (created, unwritable, auth.json too open with and without
// PROXY_STRICT_HOME, the result in the start line and /healthz), and the operator commands
// `doctor` and `login` against the fake Codex.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
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

  it('a CODEX_HOME others may write in is a warning, and with PROXY_STRICT_HOME=true a refusal', async () => {
    const t = tempDir('cg-home-');
    const home = path.join(t.dir, 'home');
    fs.mkdirSync(home, { mode: 0o700 });
    fs.chmodSync(home, 0o777);
    const env = { CODEX_HOME: home, PROXY_STATE_DIR: t.dir, HOME: t.dir };
    try {
      const strict = await run([], { ...env, PROXY_STRICT_HOME: 'true' });
      assert.equal(strict.code, 2, strict.stderr);
      assert.equal(strict.stderr.trim().split('\n').length, 1, strict.stderr);
      assert.match(strict.stderr, /writable by group or others \(mode 0777/);
      const gw = await startGateway({ env: { CODEX_HOME: home } });
      try {
        const warn = await gw.waitForLog((l) => l.level === 'warn' && /writable by group or others/.test(l.msg || ''));
        assert.match(warn.msg, /chmod 700/);
      } finally {
        await stopClean(assert, gw);
      }
    } finally {
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

/** doctor's checklist as {name: {status, detail}}, plus its last line. */
function checklist(stdout) {
  const items = {};
  const lines = stdout.trim().split('\n');
  for (const line of lines.slice(0, -1)) {
    const m = /^(ok|warn|FAIL|skip)\s+(\S+)\s+(.*)$/.exec(line);
    assert.ok(m, `checklist line: ${line}`);
    items[m[2]] = { status: m[1], detail: m[3] };
  }
  return { items, last: lines[lines.length - 1] };
}

function listen(handler) {
  return new Promise((resolve) => {
    const srv = http.createServer(handler);
    srv.listen(0, '127.0.0.1', () => resolve({ srv, port: srv.address().port }));
  });
}

describe('codex-gateway doctor', { timeout: 120000 }, () => {
  it('on a good setup: every item ok, exit 0', async () => {
    const t = tempDir('cg-doctor-');
    const edge = await listen((req, res) => res.writeHead(req.url === '/livez' ? 200 : 404).end());
    try {
      writeAuth(path.join(t.dir, 'codex-home'), 0o600);
      const free = await listen(() => {});
      const { port } = free;
      await new Promise((r) => free.srv.close(r));
      const r = await run(['doctor'], { PROXY_STATE_DIR: t.dir, HOME: t.dir, PORT: String(port), PROXY_EDGE_URL: `http://127.0.0.1:${edge.port}/livez` });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const { items, last } = checklist(r.stdout);
      assert.deepEqual(Object.keys(items), ['config', 'codex_bin', 'codex_home', 'auth_json', 'codex_version', 'backend', 'worker', 'login', 'port', 'edge']);
      for (const [name, it] of Object.entries(items)) assert.equal(it.status, 'ok', `${name}: ${it.detail}`);
      assert.equal(last, 'doctor: ok');
      assert.equal(items.codex_version.detail, 'codex-cli 0.169.0');
      assert.match(items.worker.detail, /handshake/);
      assert.match(items.backend.detail, /^app-server \(default\)/);
      assert.match(items.edge.detail, /HTTP\/1\.1 200/);
      assert.equal(r.stderr, '', 'nothing on stderr');
    } finally {
      edge.srv.close();
      t.remove();
    }
  });

  it('with exec or proto: the CLI must have the command; no worker is started', async () => {
    for (const backend of ['exec', 'proto']) {
      const t = tempDir('cg-doctor-');
      try {
        const r = await run(['doctor'], { PROXY_STATE_DIR: t.dir, HOME: t.dir, PORT: '0', PROXY_BACKEND: backend });
        const { items } = checklist(r.stdout);
        assert.equal(items.backend.status, 'ok', items.backend.detail);
        assert.match(items.backend.detail, new RegExp(`^${backend} \\(PROXY_BACKEND\\): one Codex process per request`));
        assert.equal(items.worker.status, 'skip');
      } finally {
        t.remove();
      }
    }
    // A CLI that takes `proto` for a prompt (current ones): FAIL, and the start is refused too.
    const t = tempDir('cg-doctor-');
    try {
      const cli = path.join(t.dir, 'codex-new');
      fs.writeFileSync(cli, '#!/bin/sh\necho "Codex CLI"\necho ""\necho "Usage: codex [OPTIONS] [PROMPT]"\n', { mode: 0o755 });
      const env = { PROXY_STATE_DIR: t.dir, HOME: t.dir, PORT: '0', PROXY_BACKEND: 'proto', CODEX_BIN: cli };
      const r = await run(['doctor'], env);
      assert.equal(r.code, 1);
      const { items } = checklist(r.stdout);
      assert.equal(items.backend.status, 'FAIL');
      assert.match(items.backend.detail, /has no `proto` command .*PROXY_BACKEND=exec/);
      const s = await run([], env);
      assert.equal(s.code, 2, s.stderr);
      assert.match(s.stderr, /^codex-gateway: PROXY_BACKEND=proto: this Codex CLI .* has no `proto` command/);
    } finally {
      t.remove();
    }
  });

  const broken = [
    ['a missing CODEX_BIN', (dir) => ({ CODEX_BIN: path.join(dir, 'no-codex') }), 'codex_bin', /no-codex: No such file/],
    ['a CODEX_HOME under a regular file', (dir) => {
      fs.writeFileSync(path.join(dir, 'file'), '');
      return { CODEX_HOME: path.join(dir, 'file', 'home') };
    }, 'codex_home', /cannot create .*Not a directory/],
    ['a worker whose handshake fails', () => ({ FAKE_CODEX_HANDSHAKE: 'fail' }), 'worker', /handshake/],
    ['a worker that never answers initialize', () => ({ FAKE_CODEX_HANDSHAKE: 'timeout', WORKER_HANDSHAKE_TIMEOUT_MS: '300' }),
      'worker', /initialize timed out/],
    ['auth.json 0644 with PROXY_STRICT_HOME', (dir) => {
      writeAuth(path.join(dir, 'codex-home'), 0o644);
      return { PROXY_STRICT_HOME: 'true' };
    }, 'auth_json', /mode 0644.*chmod 600/],
    ['a PROXY_CODEX_WORKDIR that cannot be created', (dir) => {
      fs.writeFileSync(path.join(dir, 'file'), '');
      return { PROXY_CODEX_WORKDIR: path.join(dir, 'file', 'work') };
    }, 'launch', /PROXY_CODEX_WORKDIR: cannot create/],
    ['an edge that refuses connections', () => ({ PROXY_EDGE_URL: 'http://127.0.0.1:1/' }), 'edge', /Connection refused/],
  ];
  for (const [what, env, failing, detail] of broken) {
    it(`with ${what}: exit 1 naming ${failing}`, async () => {
      const t = tempDir('cg-doctor-');
      try {
        const r = await run(['doctor'], { PROXY_STATE_DIR: t.dir, HOME: t.dir, ...env(t.dir) });
        assert.equal(r.code, 1, r.stdout + r.stderr);
        const { items, last } = checklist(r.stdout);
        assert.equal(items[failing].status, 'FAIL', r.stdout);
        assert.match(items[failing].detail, detail);
        assert.equal(last, `doctor: FAIL: ${failing}`);
      } finally {
        t.remove();
      }
    });
  }

  it('names a port in use, and only warns about an auth.json 0644 without strict', async () => {
    const t = tempDir('cg-doctor-');
    const busy = await listen(() => {});
    try {
      writeAuth(path.join(t.dir, 'codex-home'), 0o644);
      const r = await run(['doctor'], { PROXY_STATE_DIR: t.dir, HOME: t.dir, PORT: String(busy.port) });
      assert.equal(r.code, 1, r.stdout);
      const { items, last } = checklist(r.stdout);
      assert.equal(items.auth_json.status, 'warn');
      assert.match(items.port.detail, /Address already in use/);
      assert.equal(last, 'doctor: FAIL: port');
    } finally {
      busy.srv.close();
      t.remove();
    }
  });
});

describe('codex-gateway login', { timeout: 60000 }, () => {
  it('runs the device-code login into CODEX_HOME (created 0700); auth.json ends up 0600', async () => {
    const t = tempDir('cg-login-');
    const home = path.join(t.dir, 'new', 'home');
    try {
      const r = await run(['login'], { PROXY_STATE_DIR: t.dir, HOME: t.dir, CODEX_HOME: home });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /device code authorization[\s\S]*https:\/\/auth\.openai\.com\/codex\/device[\s\S]*FAKE-C0DE1/);
      assert.equal(fs.statSync(home).mode & 0o777, 0o700);
      assert.equal(fs.statSync(path.join(home, 'auth.json')).mode & 0o777, 0o600);
      assert.match(r.stderr, /auth\.json written \(mode 0600\)/);
      // The gateway then starts with that login and says so in /healthz.
      const gw = await startGateway({ env: { CODEX_HOME: home, PROXY_STRICT_HOME: 'true' } });
      try {
        assert.equal((await healthz(gw)).codex_home.auth_json, 'ok');
      } finally {
        await stopClean(assert, gw);
      }
    } finally {
      t.remove();
    }
  });

  it('passes a failed login through (exit 1, no auth.json)', async () => {
    const t = tempDir('cg-login-');
    try {
      const r = await run(['login'], { PROXY_STATE_DIR: t.dir, HOME: t.dir, FAKE_CODEX_LOGIN: 'fail' });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /device code expired/);
      assert.equal(fs.existsSync(path.join(t.dir, 'codex-home', 'auth.json')), false);
    } finally {
      t.remove();
    }
  });

  it('passes the CLI its arguments and CODEX_HOME, and its exit status back', async () => {
    const t = tempDir('cg-login-');
    try {
      const cli = path.join(t.dir, 'codex');
      fs.writeFileSync(cli, '#!/bin/sh\necho "$CODEX_HOME $*" > "$CODEX_HOME/seen"\nexit 7\n', { mode: 0o755 });
      const home = path.join(t.dir, 'h');
      let r = await run(['login'], { PROXY_STATE_DIR: t.dir, HOME: t.dir, CODEX_HOME: home, CODEX_BIN: cli });
      assert.equal(r.code, 7, r.stderr);
      assert.equal(fs.readFileSync(path.join(home, 'seen'), 'utf8'), `${home} login --device-auth\n`);
      r = await run(['login', '--with-api-key'], { PROXY_STATE_DIR: t.dir, HOME: t.dir, CODEX_HOME: home, CODEX_BIN: cli });
      assert.equal(r.code, 7);
      assert.equal(fs.readFileSync(path.join(home, 'seen'), 'utf8'), `${home} login --with-api-key\n`);
    } finally {
      t.remove();
    }
  });

  it('warns when the login leaves auth.json readable by others (exit 1)', async () => {
    const t = tempDir('cg-login-');
    try {
      const cli = path.join(t.dir, 'codex');
      fs.writeFileSync(cli, '#!/bin/sh\necho {} > "$CODEX_HOME/auth.json"\nchmod 644 "$CODEX_HOME/auth.json"\n', { mode: 0o755 });
      const r = await run(['login'], { PROXY_STATE_DIR: t.dir, HOME: t.dir, CODEX_BIN: cli });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /mode 0644.*chmod 600/);
    } finally {
      t.remove();
    }
  });
});
