// Per-key rate limits, the concurrency cap and the failed-auth slowdown, over real HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertOpenAIError, chat, startGateway, stopClean, waitFor } from '../lib/gateway.mjs';

const body = (content = 'hi', extra = {}) => ({ model: 'codex-5', messages: [{ role: 'user', content }], ...extra });
const bearer = (k) => ({ headers: { Authorization: `Bearer ${k}` } });

describe('per-key request limits', { timeout: 60000 }, () => {
  let gw;
  before(async () => {
    gw = await startGateway({
      env: {
        PROXY_API_KEY: 'key-one,key-two',
        PROXY_RATE_LIMIT_ENABLED: 'true',
        PROXY_RATE_LIMIT_WINDOW_MS: '2000',
        PROXY_RATE_LIMIT_MAX: '2',
      },
      waitReady: true,
    });
  });
  after(async () => {
    await stopClean(assert, gw);
  });

  it('a key past its bucket gets 429 rate_limit_exceeded with Retry-After, and recovers', async () => {
    const first = await chat(gw, body(), bearer('key-one'));
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers.get('x-ratelimit-limit-requests'), '2');
    assert.equal(first.headers.get('x-ratelimit-remaining-requests'), '1');
    assert.match(first.headers.get('x-ratelimit-reset-requests'), /^(\d+ms|\d+(\.\d+)?s)$/);
    assert.equal((await chat(gw, body(), bearer('key-one'))).status, 200);
    const refused = await chat(gw, body(), bearer('key-one'));
    assert.equal(refused.status, 429);
    assertOpenAIError(assert, refused.json, { code: 'rate_limit_exceeded', type: 'rate_limit_error' });
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
    const other = await chat(gw, body(), bearer('key-two'));
    assert.equal(other.status, 200, 'each key has its own bucket');
    // The bucket refills one request per second: polling spends nothing while refused.
    await waitFor(async () => (await chat(gw, body(), bearer('key-one'))).status === 200, 10000, 'refill');
  });

  it('a refused request is decided on its head: its body is never read', async () => {
    await waitFor(async () => (await chat(gw, body(), bearer('key-two'))).status === 429, 10000, 'empty bucket');
    const r = await chat(gw, '{"not json', bearer('key-two'));
    assert.equal(r.status, 429, 'not 400: the body was not parsed');
  });

  it('probes and reads do not spend the budget and carry no limit headers', async () => {
    const h = await fetch(`${gw.url}/healthz`, bearer('key-one'));
    await h.text();
    assert.equal(h.status, 200);
    assert.equal(h.headers.get('x-ratelimit-limit-requests'), null);
  });
});

describe('per-key concurrency cap', { timeout: 60000 }, () => {
  let gw;
  before(async () => {
    gw = await startGateway({
      env: {
        PROXY_API_KEY: 'key-one,key-two',
        PROXY_RATE_LIMIT_ENABLED: 'true',
        PROXY_RATE_LIMIT_CONCURRENT: '1',
      },
      waitReady: true,
    });
  });
  after(async () => {
    await stopClean(assert, gw);
  });

  it('a second request in flight for the same key gets 429; the slot frees when the first ends', async () => {
    const ctrl = new AbortController();
    const slow = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer key-one' },
      body: JSON.stringify(body('fake:slow=200,100', { stream: true })),
      signal: ctrl.signal,
    });
    assert.equal(slow.status, 200);
    const second = await chat(gw, body(), bearer('key-one'));
    assert.equal(second.status, 429);
    assertOpenAIError(assert, second.json, { code: 'rate_limit_exceeded' });
    assert.equal(second.headers.get('retry-after'), '1');
    assert.equal((await chat(gw, body(), bearer('key-two'))).status, 200, 'per key');
    ctrl.abort(); // the client goes away mid-stream: its slot must come back
    await slow.text().catch(() => {});
    await waitFor(async () => (await chat(gw, body(), bearer('key-one'))).status === 200, 10000, 'slot freed');
    // Finished and failed requests give their slots back too.
    for (let i = 0; i < 3; i++) {
      assert.equal((await chat(gw, body(), bearer('key-one'))).status, 200);
      assert.equal((await chat(gw, '{"bad', bearer('key-one'))).status, 400);
    }
  });
});

describe('failed-auth slowdown', { timeout: 60000 }, () => {
  let gw;
  before(async () => {
    gw = await startGateway({ env: { PROXY_API_KEY: 'key-one', PROXY_AUTH_FAILURES_MAX: '3' }, waitReady: true });
  });
  after(async () => {
    await stopClean(assert, gw);
  });

  it('past the allowance a peer gets 429 with Retry-After before its key is compared, logged once', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await chat(gw, body(), bearer('wrong'))).status, 401);
    for (const key of ['wrong', 'key-one']) {
      const r = await chat(gw, body(), bearer(key));
      assert.equal(r.status, 429, key);
      assertOpenAIError(assert, r.json, { code: 'rate_limit_exceeded', type: 'rate_limit_error' });
      const s = Number(r.headers.get('retry-after'));
      assert.ok(s >= 1 && s <= 60, `Retry-After ${s}`);
    }
    await gw.waitForLog((l) => /failed authentication/.test(l.msg || ''));
    assert.equal(gw.logs.filter((l) => /failed authentication/.test(l.msg || '')).length, 1);
    assert.equal(gw.raw.some((l) => l.includes('key-one') || l.includes('wrong')), false, 'no key in the logs');
  });
});
