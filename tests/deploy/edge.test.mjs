// The edge configs in deploy/ for real: nginx (auth_request) and Caddy (forward_auth) in front
// of a gateway (fake Codex), with `codex-gateway forward-auth` as the verifier, all on
// 127.0.0.1. Each proxy runs from the repository's file, rendered with the replacements its
// header comment documents.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { freePort, repoRoot, startGateway, stopClean, tempDir, waitFor } from '../lib/gateway.mjs';

const KEY = 'sk-edge-test';
// fake:slow=300,5: five deltas 300 ms apart, so about 1200 ms from the first to the last.
const SLOW = 'fake:slow=300,5';
const EXPECTED_SPAN_MS = 1200;

function findTool(name) {
  for (const dir of [...(process.env.PATH || '').split(':'), '/usr/sbin', '/usr/bin']) {
    const p = path.join(dir, name);
    if (dir && fs.existsSync(p)) return p;
  }
  throw new Error(`${name} is not installed (scripts/install-deps test installs it)`);
}

/** Starts a proxy process and waits until `port` accepts connections; returns {stop, output}. */
async function startProxy(cmd, args, { env, port, what }) {
  const proc = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const accepts = () =>
    new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
  const handle = {
    output: () => output,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      let timer;
      const overdue = new Promise((r) => {
        timer = setTimeout(() => {
          proc.kill('SIGKILL');
          r({ code: null, signal: 'SIGKILL' });
        }, 10000);
      });
      const r = await Promise.race([exited, overdue]);
      clearTimeout(timer);
      return r;
    },
  };
  try {
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`${what} exited: ${output}`);
      return accepts();
    }, 10000, `${what} listening`);
  } catch (e) {
    await handle.stop();
    throw e;
  }
  return handle;
}

/**
 * nginx from deploy/nginx/codex-gateway.conf. `control` is the buffering negative control: it
 * turns buffering on (ignoring the gateway's X-Accel-Buffering: no) and gzips event streams, so
 * nginx holds the events back until the stream ends.
 */
async function startNginx(dir, { port, gatewayPort, verifierPort, control = false }) {
  fs.chmodSync(dir, 0o755); // nginx's workers run as nobody and use the temp paths inside
  let site = fs.readFileSync(path.join(repoRoot, 'deploy/nginx/codex-gateway.conf'), 'utf8');
  const swaps = [
    ['listen 8080;', `listen 127.0.0.1:${port};`],
    ['127.0.0.1:11435', `127.0.0.1:${gatewayPort}`],
    ['127.0.0.1:11436', `127.0.0.1:${verifierPort}`],
  ];
  if (control) {
    swaps.push(['proxy_buffering off;', 'proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;']);
    swaps.push(['gzip off;', 'gzip on; gzip_types text/event-stream;']);
  }
  for (const [from, to] of swaps) {
    assert.ok(site.includes(from), `deploy/nginx/codex-gateway.conf has "${from}"`);
    site = site.split(from).join(to);
  }
  fs.writeFileSync(path.join(dir, 'site.conf'), site);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${dir}/${t}_temp;`)
    .join('\n');
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nworker_processes 1;\n` +
      `events { worker_connections 256; }\n` +
      `http {\n  access_log ${dir}/access.log;\n${temp}\n  include ${dir}/site.conf;\n}\n`,
  );
  return startProxy(findTool('nginx'), ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    env: { PATH: process.env.PATH },
    port,
    what: 'nginx',
  });
}

/** Caddy from deploy/caddy/Caddyfile, with its environment and `auto_https off` added. */
async function startCaddy(dir, { port, gatewayPort, verifierPort }) {
  let file = fs.readFileSync(path.join(repoRoot, 'deploy/caddy/Caddyfile'), 'utf8');
  assert.ok(file.includes('\tadmin off\n'));
  file = file.replace('\tadmin off\n', '\tadmin off\n\tauto_https off\n');
  const conf = path.join(dir, 'Caddyfile');
  fs.writeFileSync(conf, file);
  return startProxy(findTool('caddy'), ['run', '--config', conf, '--adapter', 'caddyfile'], {
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      XDG_DATA_HOME: path.join(dir, 'data'),
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      CODEX_GATEWAY_SITE: `http://127.0.0.1:${port}`,
      CODEX_GATEWAY_FORWARD_AUTH: `127.0.0.1:${verifierPort}`,
      CODEX_GATEWAY_UPSTREAM: `127.0.0.1:${gatewayPort}`,
    },
    port,
    what: 'caddy',
  });
}

/**
 * POSTs a chat completion through the proxy on `port` and reads the answer as it arrives;
 * returns {status, headers, body, contentTimes}: the arrival time (ms since the request) of
 * each SSE event that carries content, after gunzip when the proxy compressed the stream.
 */
function chatThrough(port, { key, stream = false, content = 'hello', gzip = false }) {
  const body = JSON.stringify({ model: 'codex-5', stream, messages: [{ role: 'user', content }] });
  const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
  if (key) headers.Authorization = `Bearer ${key}`;
  headers['Accept-Encoding'] = gzip ? 'gzip' : 'identity';
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', headers });
    const timer = setTimeout(() => req.destroy(new Error('no complete answer within 30 s')), 30000);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      const src = res.headers['content-encoding'] === 'gzip' ? res.pipe(zlib.createGunzip()) : res;
      let text = '';
      let pending = '';
      const contentTimes = [];
      src.on('data', (d) => {
        const now = Date.now() - t0;
        text += d;
        pending += d;
        let i;
        while ((i = pending.indexOf('\n\n')) >= 0) {
          const frame = pending.slice(0, i);
          pending = pending.slice(i + 2);
          const m = /^data: (\{.*\})$/m.exec(frame);
          if (!m) continue;
          const delta = JSON.parse(m[1]).choices?.[0]?.delta;
          if (delta && delta.content) contentTimes.push(now);
        }
      });
      src.on('end', () => {
        clearTimeout(timer);
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json, contentTimes });
      });
      src.on('error', reject);
    });
    req.end(body);
  });
}

const spread = (times) => times[times.length - 1] - times[0];

/** A bodiless request through the proxy on `port`; returns {status, headers, body}. */
function send(port, headers, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: '/v1/models', headers });
    req.setTimeout(10000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.end();
  });
}

// Headers the echo upstream received, one object per request (with `method`).
const echoed = [];

describe('edge proxies in front of the gateway and the verifier', { timeout: 180000 }, () => {
  let gw;
  let fa;
  const strict = [];
  let echo;
  const dirs = [];
  const proxies = {};
  const ports = {};

  before(async () => {
    gw = await startGateway({ env: { PROXY_API_KEY: KEY, PROXY_SSE_KEEPALIVE_MS: '0' }, waitReady: true });
    fa = await startGateway({
      args: ['forward-auth'],
      env: { PROXY_API_KEY: KEY, PROXY_FORWARD_AUTH_PORT: '0', PROXY_AUTH_FAILURES_MAX: '100' },
    });
    // One strict verifier per proxy: both proxies report the same client, 127.0.0.1.
    for (let i = 0; i < 2; i++) {
      strict.push(
        await startGateway({
          args: ['forward-auth'],
          env: { PROXY_API_KEY: KEY, PROXY_FORWARD_AUTH_PORT: '0', PROXY_AUTH_FAILURES_MAX: '1' },
        }),
      );
    }
    echo = http.createServer((req, res) => {
      echoed.push({ method: req.method, ...req.headers });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
    await new Promise((r) => echo.listen(0, '127.0.0.1', r));
    const base = { gatewayPort: gw.port, verifierPort: fa.port };
    const toEcho = (i) => ({ gatewayPort: echo.address().port, verifierPort: strict[i].port });
    for (const [name, start, extra] of [
      ['nginx', startNginx, {}],
      ['nginx-gzip', startNginx, { control: true }],
      ['caddy', startCaddy, {}],
      ['nginx-echo', startNginx, toEcho(0)],
      ['caddy-echo', startCaddy, toEcho(1)],
      ['nginx-no-verifier', startNginx, { gatewayPort: gw.port, verifierPort: await freePort() }],
    ]) {
      const d = tempDir(`cg-${name}-`);
      dirs.push(d);
      ports[name] = await freePort();
      proxies[name] = await start(d.dir, { ...base, ...extra, port: ports[name] });
    }
  });

  after(async () => {
    for (const p of Object.values(proxies)) await p.stop();
    for (const d of dirs) d.remove();
    if (echo) await new Promise((r) => echo.close(r));
    for (const v of strict) await stopClean(assert, v);
    if (fa) await stopClean(assert, fa);
    if (gw) await stopClean(assert, gw);
  });

  for (const name of ['nginx', 'caddy']) {
    describe(name, () => {
      it('no key and a wrong key: 401 from the verifier, with WWW-Authenticate', async () => {
        const before401 = fa.logs.filter((l) => l.event === 'access' && l.status === 401).length;
        for (const key of [null, 'sk-wrong']) {
          const r = await chatThrough(ports[name], { key });
          assert.equal(r.status, 401, `${name} key=${key}: ${r.body}`);
          assert.match(r.headers['www-authenticate'] || '', /^Bearer/, name);
          assert.equal(r.json.error.code, 'invalid_api_key', r.body);
        }
        await waitFor(
          async () => fa.logs.filter((l) => l.event === 'access' && l.status === 401).length >= before401 + 2,
          5000,
          'the verifier refused both',
        );
        const line = fa.logs.filter((l) => l.event === 'access' && l.status === 401).at(-1);
        assert.equal(line.fwd_method, 'POST');
        assert.equal(line.fwd_uri, '/v1/chat/completions');
        assert.match(line.fwd_for, /127\.0\.0\.1/);
      });

      it('the right key: 200 with a chat completion', async () => {
        const passed = () => fa.logs.filter((l) => l.event === 'access' && l.status === 200);
        const seen = passed().length;
        const r = await chatThrough(ports[name], { key: KEY });
        assert.equal(r.status, 200, r.body);
        assert.equal(r.json.object, 'chat.completion');
        assert.equal(typeof r.json.choices[0].message.content, 'string');
        // The verifier's line is written before the proxy forwards, but read from its pipe later.
        await waitFor(async () => passed().length > seen, 5000, "the verifier's access line");
        assert.equal(passed().at(-1).key, 'key1');
      });

      it('an SSE stream arrives event by event', async () => {
        const r = await chatThrough(ports[name], { key: KEY, stream: true, content: SLOW, gzip: true });
        assert.equal(r.status, 200, r.body);
        assert.match(r.headers['content-type'], /^text\/event-stream/);
        assert.ok(r.body.includes('data: [DONE]'), r.body.slice(-200));
        assert.equal(r.contentTimes.length, 5, r.body);
        assert.ok(spread(r.contentTimes) > EXPECTED_SPAN_MS / 2, `events bunched: ${r.contentTimes}`);
      });
    });
  }

  describe('what reaches the upstream (a header echo) and the slowdown through the proxy', () => {
    for (const name of ['nginx', 'caddy']) {
      it(`${name}: X-Auth-User is the verifier's, a preflight passes, 429 after too many wrong keys`, async () => {
        const port = ports[`${name}-echo`];
        const ok = await send(port, { Authorization: `Bearer ${KEY}`, 'X-Auth-User': 'forged' });
        assert.equal(ok.status, 200, ok.body);
        assert.equal(echoed.at(-1)['x-auth-user'], 'key1');
        assert.equal(echoed.at(-1).authorization, `Bearer ${KEY}`, 'the gateway checks the key too');

        const pre = await send(port, { 'X-Auth-User': 'forged', 'Access-Control-Request-Method': 'POST' }, 'OPTIONS');
        assert.equal(pre.status, 200, pre.body);
        assert.equal(echoed.at(-1).method, 'OPTIONS');
        assert.ok(!echoed.at(-1)['x-auth-user'], `no user for a preflight: ${echoed.at(-1)['x-auth-user']}`);

        // The strict verifier allows one wrong key per minute per client address.
        const statuses = [];
        for (let i = 0; i < 3; i++) statuses.push((await send(port, { Authorization: 'Bearer sk-wrong' })).status);
        assert.ok(statuses.includes(429), `statuses ${statuses}`);
        const held = await send(port, { Authorization: `Bearer ${KEY}` });
        assert.equal(held.status, 429, held.body);
        assert.ok(Number(held.headers['retry-after']) >= 1, JSON.stringify(held.headers));
        assert.equal(JSON.parse(held.body).error.code, 'rate_limit_exceeded');
      });
    }
  });

  it('nginx without a verifier answers 503 in JSON and forwards nothing', async () => {
    const r = await chatThrough(ports['nginx-no-verifier'], { key: KEY });
    assert.equal(r.status, 503, r.body);
    assert.equal(r.json.error.code, 'backend_unavailable');
  });

  it('negative control: nginx buffering and gzipping text/event-stream delivers the same stream bunched', async () => {
    const r = await chatThrough(ports['nginx-gzip'], { key: KEY, stream: true, content: SLOW, gzip: true });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['content-encoding'], 'gzip', 'the control compresses');
    assert.equal(r.contentTimes.length, 5, r.body);
    assert.ok(spread(r.contentTimes) <= EXPECTED_SPAN_MS / 2, `events not bunched: ${r.contentTimes}`);
  });
});
