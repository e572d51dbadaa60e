// The Codex account's own rate-limit windows, as clients see them: x-codex-* headers on model
// responses, /healthz's account_quota, and a 429 at once while a window is used up.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertOpenAIError, chat, request, sseFrames, startGateway, stopClean } from '../lib/gateway.mjs';

const user = (content) => ({ model: 'codex-5', messages: [{ role: 'user', content }] });

describe('account quota', () => {
  it('is shown in headers and /healthz once Codex has reported it', async () => {
    const gw = await startGateway({ waitReady: true });
    try {
      const before = await chat(gw, user('hi'));
      assert.equal(before.status, 200);
      assert.equal(before.headers.get('x-codex-primary-used-percent'), null, 'nothing reported yet');
      assert.equal((await request(gw, '/healthz')).json.account_quota.primary, null);

      const first = await chat(gw, user('fake:quota=40'));
      assert.equal(first.status, 200);
      // A JSON answer goes out after the turn: it already carries this turn's report.
      assert.equal(first.headers.get('x-codex-primary-used-percent'), '40');
      assert.equal(first.headers.get('x-codex-secondary-used-percent'), '20');
      const reset = Number(first.headers.get('x-codex-primary-reset-after-seconds'));
      assert.ok(reset > 3500 && reset <= 3600, `primary reset after ${reset} s`);

      // A stream's head goes out before its turn reports: it shows the last report.
      const s = await chat(gw, { ...user('fake:quota=60'), stream: true });
      assert.equal(s.status, 200);
      assert.equal(s.headers.get('x-codex-primary-used-percent'), '40');
      assert.ok(sseFrames(s.text).length > 0);
      const responses = await chat(gw, { model: 'codex-5', input: 'hi', store: false }, { path: '/v1/responses' });
      assert.equal(responses.status, 200);
      assert.equal(responses.headers.get('x-codex-primary-used-percent'), '60');

      const q = (await request(gw, '/healthz')).json.account_quota;
      assert.equal(q.primary.used_percent, 60);
      assert.equal(q.secondary.used_percent, 30);
      assert.ok(q.primary.resets_at > Date.now() / 1000);
      assert.ok(q.secondary.reset_after_seconds > 86000);
      const usage = (await request(gw, '/v1/usage')).json;
      assert.equal(usage.account_quota.primary.used_percent, 60, '/v1/usage shows the account too');
    } finally {
      await stopClean(assert, gw);
    }
  });

  it('a used-up window is refused at once with its reset time, on every model route', async () => {
    const gw = await startGateway({ waitReady: true });
    try {
      const limited = await chat(gw, user('fake:ratelimited=600'));
      assert.equal(limited.status, 429, 'the turn that hit the limit');
      for (const [path, body] of [
        ['/v1/chat/completions', user('hi')],
        ['/v1/completions', { model: 'codex-5', prompt: 'hi' }],
        ['/v1/responses', { model: 'codex-5', input: 'hi' }],
      ]) {
        const r = await chat(gw, body, { path });
        assert.equal(r.status, 429, path);
        assertOpenAIError(assert, r.json, { code: 'insufficient_quota' });
        const after = Number(r.headers.get('retry-after'));
        assert.ok(after >= 590 && after <= 600, `${path}: Retry-After ${after}`);
        assert.equal(r.headers.get('x-codex-primary-used-percent'), '100');
      }
      const usage = gw.logs.filter((l) => l.event === 'access' && 'outcome' in l);
      assert.equal(usage.length, 1, 'the refused requests ran no turn');
    } finally {
      await stopClean(assert, gw);
    }
  });
});
