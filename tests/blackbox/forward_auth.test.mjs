// `codex-gateway forward-auth` (the verifier an edge proxy asks) and `codex-gateway probe`,
// over real HTTP against the real binary.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  assertOpenAIError,
  freePort,
  gatewayBin,
  hashKey,
  rawExchange,
  request,
  startGateway,
  stopClean,
  tempDir,
  waitFor,
} from '../lib/gateway.mjs';


const startVerifier = (env = {}) =>
  startGateway({ args: ['forward-auth'], env: { PROXY_FORWARD_AUTH_PORT: '0', ...env } });

const verify = (fa, headers = {}, init = {}) => request(fa, '/verify', { headers, ...init });
const bearer = (key, more = {}) => ({ Authorization: `Bearer ${key}`, ...more });
const accessLines = (fa) => fa.logs.filter((l) => l.event === 'access');

describe('forward-auth: the key matrix', { timeout: 60000 }, () => {
  let fa;
  before(async () => {
    fa = await startVerifier({ PROXY_API_KEY: 'sk-one,sk-two' });
  });
  after(async () => {
    await stopClean(assert, fa);
  });

  it('each PROXY_API_KEY key → 200 with its label in X-Auth-User and an empty body', async () => {
    for (const [key, label] of [['sk-one', 'key1'], ['sk-two', 'key2']]) {
      const r = await verify(fa, bearer(key));
      assert.equal(r.status, 200, key);
      assert.equal(r.headers.get('x-auth-user'), label);
      assert.equal(r.text, '');
      assert.equal(r.headers.get('content-length'), '0');
    }
  });

  it('no header and a wrong key → 401 in OpenAI shape with WWW-Authenticate', async () => {
    const none = await verify(fa);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate'), /^Bearer/);
    assertOpenAIError(assert, none.json, { code: 'invalid_api_key' });
    assert.match(none.json.error.message, /didn't provide an API key/);
    assert.equal(none.headers.get('x-auth-user'), null);
    const wrong = await verify(fa, bearer('sk-three'));
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('www-authenticate'), /^Bearer/);
    assertOpenAIError(assert, wrong.json, { code: 'invalid_api_key' });
    assert.match(wrong.json.error.message, /Incorrect API key/);
  });

  it('answers any method on the verify path', async () => {
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      const r = await verify(fa, bearer('sk-two'), { method });
      assert.equal(r.status, 200, method);
      assert.equal(r.headers.get('x-auth-user'), 'key2', method);
    }
  });

  it('OPTIONS, and X-Forwarded-Method: OPTIONS, pass without a key', async () => {
    const own = await verify(fa, {}, { method: 'OPTIONS' });
    assert.equal(own.status, 200);
    assert.equal(own.headers.get('x-auth-user'), '', 'an empty user, for proxies that copy it');
    const fwd = await verify(fa, { 'X-Forwarded-Method': 'OPTIONS', 'X-Auth-User': 'forged' });
    assert.equal(fwd.status, 200);
    assert.equal(fwd.headers.get('x-auth-user'), '');
    const other = await verify(fa, { 'X-Forwarded-Method': 'POST' });
    assert.equal(other.status, 401, 'only a preflight passes');
  });

  it('other paths are 404 and /livez is 200', async () => {
    for (const p of ['/', '/v1/chat/completions', '/verify2', '/readyz']) {
      const r = await request(fa, p, { headers: bearer('sk-one') });
      assert.equal(r.status, 404, p);
      assertOpenAIError(assert, r.json, { code: 'unknown_url' });
    }
    const live = await request(fa, '/livez');
    assert.equal(live.status, 200);
    assert.deepEqual(live.json, { live: true });
  });

  it('the access line carries X-Forwarded-Method, -Uri (cut like the path) and -For, never a key', async () => {
    const longUri = `/v1/chat/completions/${'x'.repeat(200)}?api_key=sk-in-query`;
    const r = await verify(fa, bearer('sk-one', {
      'X-Forwarded-Method': 'POST',
      'X-Forwarded-Uri': longUri,
      'X-Forwarded-For': '198.51.100.7',
    }));
    assert.equal(r.status, 200);
    const reqId = r.headers.get('x-request-id');
    await fa.waitForLog((l) => l.event === 'access' && l.req_id === reqId);
    const line = accessLines(fa).find((l) => l.req_id === reqId);
    assert.equal(line.fwd_method, 'POST');
    assert.equal(line.fwd_uri, longUri.slice(0, 64));
    assert.equal(line.fwd_for, '198.51.100.7');
    assert.equal(line.client, '198.51.100.7', 'the address the slowdown counts');
    assert.equal(line.key, 'key1');
    assert.equal(line.status, 200);
    assert.equal(line.route, 'verify');
    await verify(fa, bearer('sk-bad-one', { 'X-Forwarded-Uri': '/v1/models?key=sk-in-query' }));
    await waitFor(async () => accessLines(fa).some((l) => l.status === 401 && l.fwd_uri === '/v1/models'), 5000, '401 line');
    const all = fa.raw.join('\n');
    for (const secret of ['sk-one', 'sk-two', 'sk-bad-one', 'sk-in-query']) assert.ok(!all.includes(secret), secret);
  });
});

describe('forward-auth: keys file, slowdown, stop', { timeout: 60000 }, () => {
  const dir = tempDir('cg-fa-');
  const file = path.join(dir.dir, 'keys');
  let fa;
  before(async () => {
    fs.writeFileSync(file, `ci-bot ${hashKey('sk-ci')} rpm=1\nalice ${hashKey('sk-alice')}\n`);
    fa = await startVerifier({ PROXY_API_KEY: 'sk-env', PROXY_API_KEYS_FILE: file, PROXY_AUTH_FAILURES_MAX: '3' });
  });
  after(async () => {
    await stopClean(assert, fa);
    dir.remove();
  });

  it('keys-file keys → their labels; PROXY_API_KEY still works beside them', async () => {
    for (const [key, label] of [['sk-ci', 'ci-bot'], ['sk-alice', 'alice'], ['sk-env', 'key1']]) {
      const r = await verify(fa, bearer(key));
      assert.equal(r.status, 200, key);
      assert.equal(r.headers.get('x-auth-user'), label);
    }
    // rpm= is the gateway's business: the verifier spends none of it.
    assert.equal((await verify(fa, bearer('sk-ci'))).status, 200);
  });

  it('the keys file is reloaded on SIGHUP', async () => {
    const reloads = () => fa.logs.filter((l) => /keys file reloaded/.test(l.msg || '')).length;
    const base = reloads();
    fs.writeFileSync(file, `bob ${hashKey('sk-bob')}\n`);
    fa.proc.kill('SIGHUP');
    await waitFor(async () => reloads() > base, 10000, 'reload');
    const bob = await verify(fa, bearer('sk-bob'));
    assert.equal(bob.status, 200);
    assert.equal(bob.headers.get('x-auth-user'), 'bob');
    assert.equal((await verify(fa, bearer('sk-alice'))).status, 401, 'alice is gone');
  });

  it('after PROXY_AUTH_FAILURES_MAX wrong keys the client gets 429, per forwarded client', async () => {
    const from = (ip, key) => verify(fa, bearer(key, { 'X-Forwarded-For': `203.0.113.50, ${ip}` }));
    // alice's failure above came from 127.0.0.1 (no X-Forwarded-For): 192.0.2.1 starts at 0.
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await from('192.0.2.1', 'sk-wrong')).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 429]);
    const held = await from('192.0.2.1', 'sk-bob');
    assert.equal(held.status, 429, 'even the right key waits out the minute');
    assert.ok(Number(held.headers.get('retry-after')) >= 1);
    assertOpenAIError(assert, held.json);
    const other = await from('192.0.2.2', 'sk-bob');
    assert.equal(other.status, 200, 'another client behind the same proxy is not held back');
  });

  it('SIGTERM stops it cleanly (exit 0)', async () => {
    const r = await stopClean(assert, fa);
    assert.match(r.stderr, /"event":"stopped"/);
  });
});

describe('forward-auth: settings', { timeout: 60000 }, () => {
  it('check-config shows the forward-auth settings', () => {
    const r = spawnSync(gatewayBin, ['check-config'], {
      env: { PATH: process.env.PATH, HOME: '/tmp', CODEX_BIN: '/bin/true', PROXY_FORWARD_AUTH_PORT: '12345' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^PROXY_FORWARD_AUTH_HOST=127\.0\.0\.1 {2}\(default\)$/m);
    assert.match(r.stdout, /^PROXY_FORWARD_AUTH_PORT=12345$/m);
    assert.match(r.stdout, /^PROXY_FORWARD_AUTH_PATH=\/verify {2}\(default\)$/m);
  });

  it('refuses to start without any key, and with a bad path, in one line', () => {
    const run = (env) =>
      spawnSync(gatewayBin, ['forward-auth'], {
        env: { PATH: process.env.PATH, HOME: '/tmp', PROXY_FORWARD_AUTH_PORT: '0', ...env },
        encoding: 'utf8',
        timeout: 10000,
      });
    const none = run({});
    assert.equal(none.status, 2);
    assert.match(none.stderr, /PROXY_API_KEY or PROXY_API_KEYS_FILE/);
    assert.equal(none.stderr.trim().split('\n').length, 1);
    for (const p of ['verify', '/livez', '/a b', '/v?x=1', '/v/']) {
      const bad = run({ PROXY_API_KEY: 'k', PROXY_FORWARD_AUTH_PATH: p });
      assert.equal(bad.status, 2, p);
      assert.match(bad.stderr, /PROXY_FORWARD_AUTH_PATH/, p);
    }
  });

  it('serves another PROXY_FORWARD_AUTH_PATH', async () => {
    const fa = await startVerifier({ PROXY_API_KEY: 'k', PROXY_FORWARD_AUTH_PATH: '/auth/check' });
    try {
      assert.equal((await request(fa, '/auth/check', { headers: bearer('k') })).status, 200);
      assert.equal((await request(fa, '/verify', { headers: bearer('k') })).status, 404);
    } finally {
      await stopClean(assert, fa);
    }
  });
});

/** Runs `probe` with `args`; returns {status, stderr}. */
function probe(args, env = {}) {
  return new Promise((resolve) => {
    const p = spawn(gatewayBin, ['probe', ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 15000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ status: code, stderr });
    });
  });
}

describe('probe', { timeout: 60000 }, () => {
  let gw;
  let fa;
  let server;
  let port503;
  before(async () => {
    gw = await startGateway({ waitReady: true });
    fa = await startVerifier({ PROXY_API_KEY: 'k' });
    server = http.createServer((req, res) => {
      res.writeHead(503, { 'Content-Type': 'text/plain' });
      res.end('not ready');
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    port503 = server.address().port;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    await stopClean(assert, fa);
    await stopClean(assert, gw);
  });

  it('exits 0 on a 2xx from the gateway: /readyz by default, PORT from the environment (no HOME needed)', async () => {
    const r = await probe([], { PORT: String(gw.port) });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal((await probe(['/livez', '--port', String(gw.port)])).status, 0);
  });

  it('--forward-auth probes PROXY_FORWARD_AUTH_PORT', async () => {
    const r = await probe(['/livez', '--forward-auth'], { PROXY_FORWARD_AUTH_PORT: String(fa.port), PORT: '1' });
    assert.equal(r.status, 0, r.stderr);
    const unauth = await probe(['/verify', '--forward-auth'], { PROXY_FORWARD_AUTH_PORT: String(fa.port) });
    assert.equal(unauth.status, 1);
    assert.match(unauth.stderr, /401/);
  });

  it('exits 1 with one line when nothing listens, or on a 503', async () => {
    const closedPort = await freePort();
    const none = await probe(['--port', String(closedPort)]);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /connect: Connection refused/);
    assert.equal(none.stderr.trim().split('\n').length, 1);
    const busy = await probe(['/readyz', '--port', String(port503)]);
    assert.equal(busy.status, 1);
    assert.match(busy.stderr, /503/);
    assert.equal(busy.stderr.trim().split('\n').length, 1);
    const notFound = await probe(['/nope', '--port', String(gw.port)]);
    assert.equal(notFound.status, 1);
  });

  it('a bad argument exits 2', async () => {
    assert.equal((await probe(['readyz'])).status, 2);
    assert.equal((await probe(['--port', 'x'])).status, 2);
    assert.equal((await probe(['/readyz'], { PORT: '0' })).status, 2);
  });
});

describe('forward-auth: raw HTTP', { timeout: 30000 }, () => {
  it('two X-Forwarded-Method lines are no preflight: a client\'s own OPTIONS line does not pass', async () => {
    const fa = await startVerifier({ PROXY_API_KEY: 'k' });
    try {
      const head = (lines) => `GET /verify HTTP/1.1\r\nHost: h\r\n${lines}Connection: close\r\n\r\n`;
      const two = await rawExchange(fa.port, [head('X-Forwarded-Method: OPTIONS\r\nX-Forwarded-Method: POST\r\n')], { untilMs: 2000 });
      assert.match(two.data.toString(), /^HTTP\/1\.1 401 /);
      const one = await rawExchange(fa.port, [head('X-Forwarded-Method: OPTIONS\r\n')], { untilMs: 2000 });
      assert.match(one.data.toString(), /^HTTP\/1\.1 200 /, 'one line from the proxy passes');
    } finally {
      await stopClean(assert, fa);
    }
  });


  it('an unknown method name is a 400, not a pass', async () => {
    const fa = await startVerifier({ PROXY_API_KEY: 'k' });
    try {
      const { data } = await rawExchange(fa.port, ['BREW /verify HTTP/1.1\r\nHost: h\r\n\r\n'], { untilMs: 2000 });
      assert.match(data.toString(), /^HTTP\/1\.[01] 400 /);
    } finally {
      await stopClean(assert, fa);
    }
  });
});
