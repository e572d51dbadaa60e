// API keys, loopback-only mode and CORS, over real HTTP.
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import {
  assertOpenAIError,
  continueExchange,
  parseResponses,
  rawExchange,
  request,
  startGateway,
  stopClean,
} from '../lib/gateway.mjs';

function nonLoopbackAddress() {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list || []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return null;
}

describe('api keys', { timeout: 60000 }, () => {
  let gw;
  before(async () => {
    gw = await startGateway({ env: { PROXY_API_KEY: ' key-one , key-two ,,' } });
  });
  after(async () => {
    await stopClean(assert, gw);
  });

  const auth = (v) => ({ headers: { Authorization: v } });

  it('accepts every configured key, with the scheme in any case', async () => {
    for (const h of ['Bearer key-one', 'Bearer key-two', 'bearer key-one', 'BEARER   key-two  ']) {
      const r = await request(gw, '/healthz', auth(h));
      assert.equal(r.status, 200, h);
    }
  });

  it('answers a missing or wrong key with 401, invalid_api_key and WWW-Authenticate', async () => {
    const cases = [undefined, 'Bearer nope', 'Bearer key-one-extra', 'Bearer key-on', 'Basic a2V5LW9uZQ==', 'Bearer'];
    for (const h of cases) {
      const r = await request(gw, '/healthz', h === undefined ? {} : auth(h));
      assert.equal(r.status, 401, String(h));
      assert.match(r.headers.get('www-authenticate'), /^Bearer/);
      assertOpenAIError(assert, r.json, { code: 'invalid_api_key', type: 'invalid_request_error' });
    }
  });

  it('reads at most a few body bytes for a request admitted without a key', async () => {
    // Open routes, preflights and the unprotected model list take no body: a large one is
    // refused on the head (no 100 Continue), a chunked one once it passes the small cap.
    for (const head of [
      'OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n',
      'GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n',
      'GET /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n',
    ]) {
      const r = await rawExchange(gw.port, [head]);
      const [res] = parseResponses(r.data);
      assert.equal(res.status, 413, head);
      assert.doesNotMatch(r.data.toString('latin1'), /100 Continue/, head);
      assert.equal(r.closed, true, head);
    }
    let chunked = 'GET /readyz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n';
    for (let i = 0; i < 3; i++) chunked += `3e8\r\n${'x'.repeat(1000)}\r\n`;
    const c = await rawExchange(gw.port, [chunked]);
    assert.equal(parseResponses(c.data)[0].status, 413);
    // With its key, the same client may send a full body.
    const big = JSON.stringify({ model: 'codex-5', messages: [{ role: 'user', content: 'x'.repeat(100000) }] });
    const ok = await rawExchange(gw.port, [
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key-one\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${big.length}\r\nConnection: close\r\n\r\n${big}`,
    ]);
    assert.notEqual(parseResponses(ok.data)[0].status, 413);
  });

  it('keeps probes open and /v1/models open unless protected', async () => {
    assert.equal((await request(gw, '/livez')).status, 200);
    assert.ok([200, 503].includes((await request(gw, '/readyz')).status));
    assert.equal((await request(gw, '/v1/models')).status, 200);
  });

  it('never logs a key', async () => {
    await request(gw, '/healthz', auth('Bearer key-one'));
    await request(gw, '/healthz', auth('Bearer wrong-key-xyz'));
    const all = gw.raw.join('\n');
    for (const secret of ['key-one', 'key-two', 'wrong-key-xyz']) assert.ok(!all.includes(secret), secret);
    assert.ok(all.includes('(2 keys, hidden)'));
  });
});

describe('access is decided on the head, before any body byte', { timeout: 60000 }, () => {
  let gw;
  before(async () => {
    gw = await startGateway({ env: { PROXY_API_KEY: 'key-one,key-two', PROXY_HEADER_TIMEOUT_MS: '30000' } });
  });
  after(async () => {
    await stopClean(assert, gw);
  });

  const head = (path, extra = '') =>
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 15000000\r\n${extra}\r\n`;

  it('answers 401, 404 and 405 for an announced 15 MB body without waiting for it, then closes', async () => {
    const cases = [
      [head('/v1/chat/completions'), 401, 'invalid_api_key'],
      [head('/v1/chat/completions', 'Authorization: Bearer wrong\r\n'), 401, 'invalid_api_key'],
      [head('/v1/nothing', 'Authorization: Bearer key-one\r\n'), 404, 'unknown_url'],
      [head('/v1/models', 'Authorization: Bearer key-one\r\n'), 405, 'method_not_allowed'],
    ];
    for (const [req, status, code] of cases) {
      // Only the head and a few bytes of the body are ever sent: an answer proves nothing
      // waited for the rest.
      const { data, closed } = await rawExchange(gw.port, [req, 'x'.repeat(1000)], { untilMs: 10000 });
      const rs = parseResponses(data);
      assert.equal(rs.length, 1);
      assert.equal(rs[0].status, status, req);
      assertOpenAIError(assert, JSON.parse(rs[0].body), { code });
      assert.equal(rs[0].headers.connection, 'close');
      if (status === 401) assert.match(rs[0].headers['www-authenticate'], /^Bearer/);
      if (status === 405) assert.equal(rs[0].headers.allow, 'GET, HEAD, OPTIONS');
      assert.equal(closed, true, 'the connection closes instead of reading the body');
    }
  });

  it('sends 100 Continue only to an admitted request', async () => {
    const refused = await rawExchange(gw.port, [head('/v1/chat/completions', 'Authorization: Bearer nope\r\nExpect: 100-continue\r\n')]);
    assert.doesNotMatch(refused.data.toString(), /100 Continue/);
    assert.equal(parseResponses(refused.data)[0].status, 401);
    assert.equal(refused.closed, true);

    const admitted = await continueExchange(
      gw.port,
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Authorization: Bearer key-two\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n',
      '{}',
      (t) => /HTTP\/1\.1 400/.test(t),
    );
    assert.match(admitted.interim, /^HTTP\/1\.1 100 Continue\r\n\r\n$/);
  });

  it('keeps the connection after a refusal that had no body', async () => {
    const { data } = await rawExchange(gw.port, [
      'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key-one\r\nConnection: close\r\n\r\n',
    ]);
    assert.deepEqual(parseResponses(data).map((r) => r.status), [401, 200]);
  });

  it('never honours a key sent in a chunked trailer', async () => {
    const { data } = await rawExchange(gw.port, [
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '2\r\n{}\r\n0\r\nAuthorization: Bearer key-one\r\n\r\n',
    ]);
    assert.equal(parseResponses(data)[0].status, 401);
  });
});

describe('protected models', { timeout: 60000 }, () => {
  it('requires a key for /v1/models with PROXY_PROTECT_MODELS=true', async () => {
    const gw = await startGateway({ env: { PROXY_API_KEY: 'k', PROXY_PROTECT_MODELS: 'true' } });
    try {
      const denied = await request(gw, '/v1/models');
      assert.equal(denied.status, 401);
      assertOpenAIError(assert, denied.json, { code: 'invalid_api_key' });
      const one = await request(gw, '/v1/models/codex-5');
      assert.equal(one.status, 401);
      const ok = await request(gw, '/v1/models', { headers: { Authorization: 'Bearer k' } });
      assert.equal(ok.status, 200);
    } finally {
      await stopClean(assert, gw);
    }
  });
});

describe('no key configured', { timeout: 60000 }, () => {
  it('serves loopback clients, refuses others with 403, and warns at start', async () => {
    const addr = nonLoopbackAddress();
    assert.ok(addr, 'this test needs a non-loopback IPv4 interface to connect from');
    const gw = await startGateway({ env: { PROXY_HOST: '0.0.0.0' } });
    try {
      await gw.waitForLog((l) => l.level === 'warn' && /PROXY_API_KEY/.test(l.msg || ''));
      assert.equal((await request(gw, '/v1/models')).status, 200);
      const remote = { url: `http://${addr}:${gw.port}` };
      for (const p of ['/v1/models', '/healthz', '/v1/models/codex-5']) {
        const r = await request(remote, p);
        assert.equal(r.status, 403, p);
        assertOpenAIError(assert, r.json, { code: 'loopback_only' });
      }
      assert.equal((await request(remote, '/livez')).status, 200, 'liveness stays open');
      assert.ok([200, 503].includes((await request(remote, '/readyz')).status), 'readiness stays open');
    } finally {
      await stopClean(assert, gw);
    }
  });
});

describe('cors', { timeout: 60000 }, () => {
  let gw;
  before(async () => {
    gw = await startGateway({
      env: {
        PROXY_ENABLE_CORS: 'true',
        PROXY_CORS_ALLOWED_ORIGINS: 'https://app.example.com, http://localhost:*, https://*.corp.test',
        PROXY_API_KEY: 'k',
      },
    });
  });
  after(async () => {
    await stopClean(assert, gw);
  });

  const preflight = (origin, reqHeaders) =>
    request(gw, '/v1/models', {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'GET',
        ...(reqHeaders ? { 'Access-Control-Request-Headers': reqHeaders } : {}),
      },
    });

  it('answers a preflight from an allowed origin with 204 and the SDK headers', async () => {
    const r = await preflight('https://app.example.com', 'authorization, x-stainless-os, x-stainless-retry-count, x-custom-thing');
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(r.headers.get('vary'), /Origin/);
    assert.match(r.headers.get('access-control-allow-methods'), /GET/);
    const allowed = r.headers.get('access-control-allow-headers').toLowerCase().split(/,\s*/);
    for (const h of ['authorization', 'content-type', 'x-stainless-os', 'x-stainless-arch',
      'x-stainless-retry-count', 'x-stainless-package-version', 'openai-organization', 'x-custom-thing']) {
      assert.ok(allowed.includes(h), `${h} in ${allowed}`);
    }
    assert.ok(Number(r.headers.get('access-control-max-age')) > 0);
  });

  it('matches port and subdomain wildcards and nothing else', async () => {
    assert.equal((await preflight('http://localhost:5173')).headers.get('access-control-allow-origin'), 'http://localhost:5173');
    assert.equal((await preflight('https://a.corp.test')).headers.get('access-control-allow-origin'), 'https://a.corp.test');
    for (const bad of ['https://evil.example.com', 'http://app.example.com', 'https://corp.test', 'null', 'https://app.example.com.evil.io']) {
      const r = await preflight(bad);
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('access-control-allow-origin'), null, bad);
      assert.match(r.headers.get('vary'), /Origin/);
    }
  });

  it('echoes an allowed origin on ordinary and error responses', async () => {
    const ok = await request(gw, '/v1/models', { headers: { Origin: 'https://app.example.com' } });
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(ok.headers.get('vary'), /Origin/);
    const err = await request(gw, '/healthz', { headers: { Origin: 'https://app.example.com' } });
    assert.equal(err.status, 401);
    assert.equal(err.headers.get('access-control-allow-origin'), 'https://app.example.com');
  });

  it('sends no CORS headers when CORS is off', async () => {
    const off = await startGateway();
    try {
      const r = await request(off, '/v1/models', { headers: { Origin: 'https://app.example.com' } });
      assert.equal(r.headers.get('access-control-allow-origin'), null);
      const p = await request(off, '/v1/models', {
        method: 'OPTIONS',
        headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'GET' },
      });
      assert.equal(p.status, 204);
      assert.equal(p.headers.get('access-control-allow-origin'), null);
      assert.equal(p.headers.get('allow'), 'GET, HEAD, OPTIONS');
    } finally {
      await stopClean(assert, off);
    }
  });
});
