// /v1/models through the official openai npm client, plus probes and check-config.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { assertOpenAIError, fakeCodexBin, gatewayBin, request, startGateway, stopClean } from '../lib/gateway.mjs';

const run = promisify(execFile);

describe('models', { timeout: 60000 }, () => {
  let gw;
  let client;
  before(async () => {
    gw = await startGateway({ env: { PROXY_API_KEY: 'sk-test', CODEX_MODEL: 'gpt-test-model' } });
    client = new OpenAI({ apiKey: 'sk-test', baseURL: `${gw.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await stopClean(assert, gw);
  });

  it('lists the catalog with client.models.list()', async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      ids.push(m.id);
      assert.equal(m.object, 'model');
      assert.equal(typeof m.created, 'number');
      assert.equal(typeof m.owned_by, 'string');
    }
    assert.equal(ids[0], 'gpt-test-model', 'the default model comes first');
    for (const id of ['codex-5', 'codex-5-low', 'codex-5-medium', 'codex-5-high', 'gpt-5.2-codex-L',
      'gpt-5.2-codex-M', 'gpt-5.2-codex-H', 'gpt-5.2-codex-XH']) {
      assert.ok(ids.includes(id), id);
    }
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
  });

  it('returns the OpenAI list envelope exactly', async () => {
    const r = await request(gw, '/v1/models');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.deepEqual(Object.keys(r.json).sort(), ['data', 'object']);
    assert.equal(r.json.object, 'list');
    for (const m of r.json.data) assert.deepEqual(Object.keys(m).sort(), ['created', 'id', 'object', 'owned_by']);
  });

  it('retrieves one model, case-insensitively, and 404s unknown ids', async () => {
    const m = await client.models.retrieve('codex-5-high');
    assert.equal(m.id, 'codex-5-high');
    const lower = await client.models.retrieve('gpt-5.2-codex-xh');
    assert.equal(lower.id, 'gpt-5.2-codex-XH');
    await assert.rejects(client.models.retrieve('no-such-model'), (e) => {
      assert.equal(e.status, 404);
      assert.equal(e.code, 'model_not_found');
      assert.equal(e.param, 'model');
      return true;
    });
    const raw = await request(gw, '/v1/models/%67pt-test-model');
    assert.equal(raw.json.id, 'gpt-test-model', 'percent-encoded ids are decoded');
    const bad = await request(gw, '/v1/models/%zz');
    assert.equal(bad.status, 404);
    assertOpenAIError(assert, bad.json, { code: 'model_not_found' });
  });
});

describe('probes', { timeout: 60000 }, () => {
  it('readyz is 503 with a reason while no worker can run, livez stays 200', async () => {
    // A binary that exits at once: the worker never gets ready (a missing one stops the start).
    const gw = await startGateway({ env: { CODEX_BIN: '/bin/false', WORKER_BACKOFF_INITIAL_MS: '50' } });
    try {
      const live = await request(gw, '/livez');
      assert.equal(live.status, 200);
      assert.equal(live.json.live, true);
      const ready = await request(gw, '/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.json.ready, false);
      assert.match(ready.json.reason, /^(starting|restarting)$/);
    } finally {
      await stopClean(assert, gw);
    }
  });

  it('livez 200, readyz 200 once the worker is ready, healthz summary', async () => {
    const gw = await startGateway({ waitReady: true });
    try {
      const live = await request(gw, '/livez');
      assert.equal(live.status, 200);
      const ready = await request(gw, '/readyz');
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.json, { ready: true });
      const health = await request(gw, '/healthz');
      assert.equal(health.status, 200);
      assert.equal(health.json.status, 'ok');
      assert.match(health.json.version, /^\d+\.\d+\.\d+/);
      assert.equal(typeof health.json.uptime_s, 'number');
      assert.equal(health.json.backend.ready, true);
      assert.equal(health.json.backend.workers.length, 1);
      assert.equal(health.json.backend.workers[0].state, 'ready');
      const head = await fetch(`${gw.url}/livez`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), '');
    } finally {
      await stopClean(assert, gw);
    }
  });
});

describe('configuration', { timeout: 60000 }, () => {
  const env = (extra) => ({ env: { PATH: process.env.PATH, HOME: '/nonexistent-home', CODEX_BIN: fakeCodexBin, ...extra } });

  it('check-config prints every setting with secrets masked', async () => {
    const { stdout } = await run(gatewayBin, ['check-config'], env({ PROXY_API_KEY: 'sk-aaa,sk-bbb', PORT: '9999' }));
    assert.match(stdout, /^PORT=9999$/m);
    assert.match(stdout, /^PROXY_HOST=127\.0\.0\.1 {2}\(default\)$/m);
    assert.match(stdout, /^PROXY_API_KEY=\(2 keys, hidden\)$/m);
    assert.ok(!stdout.includes('sk-aaa'));
  });

  it('stops with one clear line naming a bad variable', async () => {
    const cases = [
      [{ PORT: 'eighty' }, /^codex-gateway: PORT: expected an integer in 0\.\.65535, got "eighty"$/],
      [{ PORT: '70000' }, /^codex-gateway: PORT: /],
      [{ PROXY_ENABLE_CORS: 'maybe' }, /^codex-gateway: PROXY_ENABLE_CORS: expected true or false/],
      [{ PROXY_MAX_BODY_BYTES: '1' }, /^codex-gateway: PROXY_MAX_BODY_BYTES: /],
      [{ PROXY_LOG_LEVEL: 'loud' }, /^codex-gateway: PROXY_LOG_LEVEL: /],
      [{ PROXY_CORS_ALLOWED_ORIGINS: 'not-an-origin', PROXY_ENABLE_CORS: 'true' }, /^codex-gateway: PROXY_CORS_ALLOWED_ORIGINS: /],
    ];
    for (const [vars, re] of cases) {
      const r = await run(gatewayBin, [], env(vars)).then(
        () => ({ code: 0, stderr: '' }),
        (e) => ({ code: e.code, stderr: e.stderr }),
      );
      assert.equal(r.code, 2, JSON.stringify(vars));
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], re);
    }
  });

  it('the README lists exactly the settings the binary knows', async () => {
    const { stdout } = await run(gatewayBin, ['check-config', '--markdown'], env({}));
    const fs = await import('node:fs/promises');
    const { repoRoot } = await import('../lib/gateway.mjs');
    const readme = await fs.readFile(`${repoRoot}/README.md`, 'utf8');
    for (const line of stdout.trim().split('\n')) assert.ok(readme.includes(line), `README is missing: ${line}`);
  });
});
