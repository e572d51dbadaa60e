// Per-key rate limits, the concurrency cap, the failed-auth slowdown and the named keys file,
// over real HTTP.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  assertOpenAIError,
  chat,
  gatewayBin,
  hashKey,
  request,
  startGateway,
  stopClean,
  tempDir,
  waitFor,
} from '../lib/gateway.mjs';

const body = (content = 'hi', extra = {}) => ({ model: 'codex-5', messages: [{ role: 'user', content }], ...extra });
const bearer = (k) => ({ headers: { Authorization: `Bearer ${k}` } });


/** A gateway started with `env` for the enclosing describe: `ctx.gw`. */
function gatewayWith(env) {
  const ctx = {};
  before(async () => {
    ctx.gw = await startGateway({ env, waitReady: true });
  });
  after(async () => {
    await stopClean(assert, ctx.gw);
  });
  return ctx;
}

describe('per-key request limits', { timeout: 60000 }, () => {
  const ctx = gatewayWith({
    PROXY_API_KEY: 'key-one,key-two',
    PROXY_RATE_LIMIT_ENABLED: 'true',
    PROXY_RATE_LIMIT_WINDOW_MS: '2000',
    PROXY_RATE_LIMIT_MAX: '2',
    PROXY_RATE_LIMIT_TPM: '100000000',
  });

  it('a key past its bucket gets 429 rate_limit_exceeded with Retry-After, and recovers', async () => {
    const first = await chat(ctx.gw, body(), bearer('key-one'));
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers.get('x-ratelimit-limit-tokens'), '100000000', 'the default token budget');
    assert.match(first.headers.get('x-ratelimit-remaining-tokens'), /^\d+$/);
    assert.match(first.headers.get('x-ratelimit-reset-tokens'), /^(\d+ms|\d+(\.\d+)?s)$/);
    assert.equal(first.headers.get('x-ratelimit-limit-requests'), '2');
    assert.equal(first.headers.get('x-ratelimit-remaining-requests'), '1');
    assert.match(first.headers.get('x-ratelimit-reset-requests'), /^(\d+ms|\d+(\.\d+)?s)$/);
    assert.equal((await chat(ctx.gw, body(), bearer('key-one'))).status, 200);
    const refused = await chat(ctx.gw, body(), bearer('key-one'));
    assert.equal(refused.status, 429);
    assertOpenAIError(assert, refused.json, { code: 'rate_limit_exceeded', type: 'rate_limit_error' });
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
    const other = await chat(ctx.gw, body(), bearer('key-two'));
    assert.equal(other.status, 200, 'each key has its own bucket');
    // The bucket refills one request per second: polling spends nothing while refused.
    await waitFor(async () => (await chat(ctx.gw, body(), bearer('key-one'))).status === 200, 10000, 'refill');
  });

  it('a refused request is decided on its head: its body is never read', async () => {
    await waitFor(async () => (await chat(ctx.gw, body(), bearer('key-two'))).status === 429, 10000, 'empty bucket');
    const r = await chat(ctx.gw, '{"not json', bearer('key-two'));
    assert.equal(r.status, 429, 'not 400: the body was not parsed');
  });

  it('probes and reads do not spend the budget and carry no limit headers', async () => {
    const h = await fetch(`${ctx.gw.url}/healthz`, bearer('key-one'));
    await h.text();
    assert.equal(h.status, 200);
    assert.equal(h.headers.get('x-ratelimit-limit-requests'), null);
  });
});

describe('per-key concurrency cap', { timeout: 60000 }, () => {
  const ctx = gatewayWith({
    PROXY_API_KEY: 'key-one,key-two',
    PROXY_RATE_LIMIT_ENABLED: 'true',
    PROXY_RATE_LIMIT_CONCURRENT: '1',
  });

  it('a second request in flight for the same key gets 429; the slot frees when the first ends', async () => {
    const ctrl = new AbortController();
    const slow = await fetch(`${ctx.gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer key-one' },
      body: JSON.stringify(body('fake:slow=200,100', { stream: true })),
      signal: ctrl.signal,
    });
    assert.equal(slow.status, 200);
    const second = await chat(ctx.gw, body(), bearer('key-one'));
    assert.equal(second.status, 429);
    assertOpenAIError(assert, second.json, { code: 'rate_limit_exceeded' });
    assert.equal(second.headers.get('retry-after'), '1');
    assert.equal((await chat(ctx.gw, body(), bearer('key-two'))).status, 200, 'per key');
    ctrl.abort(); // the client goes away mid-stream: its slot must come back
    await slow.text().catch(() => {});
    await waitFor(async () => (await chat(ctx.gw, body(), bearer('key-one'))).status === 200, 10000, 'slot freed');
    // Finished and failed requests give their slots back too.
    for (let i = 0; i < 3; i++) {
      assert.equal((await chat(ctx.gw, body(), bearer('key-one'))).status, 200);
      assert.equal((await chat(ctx.gw, '{"bad', bearer('key-one'))).status, 400);
    }
  });
});

describe('per-key token budget', { timeout: 60000 }, () => {
  let gw;
  let dir;
  before(async () => {
    dir = tempDir('cg-keys-');
    const file = path.join(dir.dir, 'keys');
    // 600,000 tokens per minute refill 10 per ms: a debt of 6,000 clears in 0.6 s.
    fs.writeFileSync(file, `spender ${hashKey('sk-spend')} tpm=600000\nother ${hashKey('sk-other')}\n`);
    gw = await startGateway({ env: { PROXY_API_KEYS_FILE: file }, waitReady: true });
  });
  after(async () => {
    await stopClean(assert, gw);
    dir.remove();
  });

  it('a finished request is charged its real tokens; a key in debt gets 429 until it refills', async () => {
    const first = await chat(gw, body('fake:usage=600000,0,6000'), bearer('sk-spend'));
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.usage.total_tokens, 606000);
    assert.equal(first.headers.get('x-ratelimit-limit-tokens'), '600000');
    assert.equal(first.headers.get('x-ratelimit-remaining-tokens'), '600000', 'charged after, not before');
    assert.equal(first.headers.get('x-ratelimit-limit-requests'), null, 'no request limit set');
    const refused = await chat(gw, body(), bearer('sk-spend'));
    assert.equal(refused.status, 429, refused.text);
    assertOpenAIError(assert, refused.json, { code: 'rate_limit_exceeded', type: 'rate_limit_error' });
    assert.equal(refused.headers.get('x-ratelimit-remaining-tokens'), '0');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    const other = await chat(gw, body(), bearer('sk-other'));
    assert.equal(other.status, 200, 'another key is not held back');
    assert.equal(other.headers.get('x-ratelimit-limit-tokens'), null);
    await waitFor(async () => (await chat(gw, body(), bearer('sk-spend'))).status === 200, 10000, 'refill');
    const m = await request(gw, '/metrics');
    assert.match(m.text, /^codex_gateway_rate_limit_rejections_total\{reason="tokens"\} [1-9]/m);
  });

  it('a stream is charged too, once it ends', async () => {
    await waitFor(async () => (await chat(gw, body(), bearer('sk-spend'))).status === 200, 10000, 'admitted');
    // More than a whole budget: whatever was left, the key is in debt after this stream.
    const s = await chat(gw, body('fake:usage=1200000,0,0', { stream: true }), bearer('sk-spend'));
    assert.equal(s.status, 200);
    assert.match(s.text, /\[DONE\]/);
    assert.equal((await chat(gw, body(), bearer('sk-spend'))).status, 429);
  });
});

describe('failed-auth slowdown', { timeout: 60000 }, () => {
  const ctx = gatewayWith({ PROXY_API_KEY: 'key-one', PROXY_AUTH_FAILURES_MAX: '3' });

  it('past the allowance a peer gets 429 with Retry-After before its key is compared, logged once', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await chat(ctx.gw, body(), bearer('wrong'))).status, 401);
    for (const key of ['wrong', 'key-one']) {
      const r = await chat(ctx.gw, body(), bearer(key));
      assert.equal(r.status, 429, key);
      assertOpenAIError(assert, r.json, { code: 'rate_limit_exceeded', type: 'rate_limit_error' });
      const s = Number(r.headers.get('retry-after'));
      assert.ok(s >= 1 && s <= 60, `Retry-After ${s}`);
    }
    await ctx.gw.waitForLog((l) => /failed authentication/.test(l.msg || ''));
    assert.equal(ctx.gw.logs.filter((l) => /failed authentication/.test(l.msg || '')).length, 1);
    assert.equal(ctx.gw.raw.some((l) => l.includes('key-one') || l.includes('wrong')), false, 'no key in the logs');
  });
});

describe('named keys file', { timeout: 60000 }, () => {
  let gw;
  let dir;
  let file;
  const reloaded = (n) => gw.logs.filter((l) => /keys file reloaded/.test(l.msg || '')).length >= n;
  const kept = (n) => gw.logs.filter((l) => /keys file not reloaded/.test(l.msg || '')).length >= n;

  before(async () => {
    dir = tempDir('cg-keys-');
    file = path.join(dir.dir, 'keys');
    fs.writeFileSync(
      file,
      `# operators never write clear keys here\n` +
        `ci-bot ${hashKey('sk-ci')} rpm=2\n` +
        `alice ${hashKey('sk-alice')} models=codex-5 concurrent=4 admin\n` +
        `free ${hashKey('sk-free')}\n`,
    );
    gw = await startGateway({ env: { PROXY_API_KEYS_FILE: file }, waitReady: true });
  });
  after(async () => {
    await stopClean(assert, gw);
    dir.remove();
  });

  it('hash-key prints the sha256: form of the key on stdin', () => {
    assert.equal(hashKey('beta'), 'sha256:f44e64e75f3948e9f73f8dfa94721c4ce8cbb4f265c4790c702b2d41cfbf2753');
  });

  it('a file key is admitted under its label, which the usage log line carries', async () => {
    const r = await chat(gw, body('label me'), bearer('sk-alice'));
    assert.equal(r.status, 200, r.text);
    const line = await gw.waitForLog((l) => l.event === 'access' && 'outcome' in l && l.key === 'alice');
    assert.equal(line.model, 'codex-5');
    assert.equal((await chat(gw, body(), bearer('sk-nope'))).status, 401);
    assert.equal(gw.raw.some((l) => l.includes('sk-alice')), false, 'no key in the logs');
  });

  it('rpm= limits its key even with the defaults off', async () => {
    assert.equal((await chat(gw, body(), bearer('sk-ci'))).status, 200);
    const second = await chat(gw, body(), bearer('sk-ci'));
    assert.equal(second.status, 200);
    assert.equal(second.headers.get('x-ratelimit-limit-requests'), '2');
    const third = await chat(gw, body(), bearer('sk-ci'));
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers.get('retry-after')) >= 1);
    assert.equal((await chat(gw, body(), bearer('sk-alice'))).headers.get('x-ratelimit-limit-requests'), null);
  });

  it('a model off the allow-list is model_not_found; one on it is served', async () => {
    const r = await chat(gw, { ...body(), model: 'gpt-5.5' }, bearer('sk-alice'));
    assert.equal(r.status, 404, r.text);
    assertOpenAIError(assert, r.json, { code: 'model_not_found', param: 'model' });
    const resp = await request(gw, '/v1/responses', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer sk-alice' },
      body: JSON.stringify({ model: 'gpt-5.5', input: 'hi' }),
    });
    assert.equal(resp.status, 404, resp.text);
    assert.equal((await chat(gw, { ...body(), model: 'gpt-5.5' }, bearer('sk-free'))).status, 200, 'no list: any model');
    assert.equal((await chat(gw, { ...body(), model: 'CODEX-5' }, bearer('sk-alice'))).status, 200,
      'ids match as the catalog matches them, in any case');
  });

  it('/v1/models, protected, lists only the models on the key\'s allow-list', async () => {
    const gw = await startGateway({ env: { PROXY_API_KEYS_FILE: file, PROXY_PROTECT_MODELS: 'true' }, waitReady: true });
    try {
      await modelsOfAlice(gw);
    } finally {
      await stopClean(assert, gw);
    }
  });

  async function modelsOfAlice(gw) {
    const alice = await request(gw, '/v1/models', bearer('sk-alice'));
    assert.equal(alice.status, 200);
    assert.deepEqual(alice.json.data.map((m) => m.id), ['codex-5']);
    assert.equal((await request(gw, '/v1/models/codex-5', bearer('sk-alice'))).status, 200);
    const hidden = await request(gw, '/v1/models/gpt-5.5', bearer('sk-alice'));
    assert.equal(hidden.status, 404);
    assertOpenAIError(assert, hidden.json, { code: 'model_not_found' });
    const free = await request(gw, '/v1/models', bearer('sk-free'));
    assert.ok(free.json.data.length > 1, 'no list: the whole catalog');
  }

  it('admin in the file lets a key read every key\'s usage; others see their own', async () => {
    const byKey = async (key) => (await request(gw, '/v1/usage?group_by=key', bearer(key))).json;
    await waitFor(async () => (await byKey('sk-alice')).buckets?.some((b) => b.key === 'ci-bot'), 10000, 'ledger rows');
    const admin = await byKey('sk-alice');
    assert.deepEqual(admin.buckets.map((b) => b.key).sort(), ['alice', 'ci-bot', 'free']);
    const own = await byKey('sk-free');
    assert.deepEqual(own.buckets.map((b) => b.key), ['free']);
  });

  it('SIGHUP reloads the file; a bad file keeps the old keys', async () => {
    const base = gw.logs.filter((l) => /keys file reloaded/.test(l.msg || '')).length;
    fs.writeFileSync(file, `bob ${hashKey('sk-bob')}\n`);
    gw.proc.kill('SIGHUP');
    await waitFor(async () => reloaded(base + 1), 10000, 'reload');
    assert.equal((await chat(gw, body(), bearer('sk-bob'))).status, 200);
    assert.equal((await chat(gw, body(), bearer('sk-alice'))).status, 401, 'alice is gone');

    const keptBase = gw.logs.filter((l) => /keys file not reloaded/.test(l.msg || '')).length;
    fs.writeFileSync(file, `carol ${hashKey('sk-carol')}\nbroken sha256:xyz\n`);
    gw.proc.kill('SIGHUP');
    await waitFor(async () => kept(keptBase + 1), 10000, 'refused reload');
    const line = gw.logs.filter((l) => /keys file not reloaded/.test(l.msg || '')).at(-1);
    assert.match(line.msg, /line 2/);
    assert.equal((await chat(gw, body(), bearer('sk-bob'))).status, 200, 'bob stays');
    assert.equal((await chat(gw, body(), bearer('sk-carol'))).status, 401);
  });

  it('a changed file is picked up without a signal', async () => {
    const base = gw.logs.filter((l) => /keys file reloaded/.test(l.msg || '')).length;
    fs.writeFileSync(file, `dave ${hashKey('sk-dave')} # added\n`);
    // Wait for the log line, not by retrying the key: wrong keys count towards the slowdown.
    await waitFor(async () => reloaded(base + 1), 15000, 'file reload');
    assert.equal((await chat(gw, body(), bearer('sk-dave'))).status, 200);
    assert.equal((await chat(gw, body(), bearer('sk-bob'))).status, 401);
  });
});

describe('keys file at start', { timeout: 30000 }, () => {
  it('a bad file stops the start (and check-config) with one line naming the setting', async () => {
    const dir = tempDir('cg-keys-');
    const file = path.join(dir.dir, 'keys');
    fs.writeFileSync(file, 'x sha256:00\n');
    try {
      await assert.rejects(startGateway({ env: { PROXY_API_KEYS_FILE: file } }), /PROXY_API_KEYS_FILE: .*line 1/);
      const check = spawnSync(gatewayBin, ['check-config'], {
        env: { PATH: process.env.PATH, HOME: dir.dir, CODEX_BIN: 'node', PROXY_API_KEYS_FILE: file },
        encoding: 'utf8',
      });
      assert.equal(check.status, 2, 'check-config checks the file too');
      assert.match(check.stderr, /PROXY_API_KEYS_FILE: .*line 1/);
    } finally {
      dir.remove();
    }
  });
});
