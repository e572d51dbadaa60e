// The account's rate-limit windows through the real Codex: the mock model answers with the
// x-codex-* headers a ChatGPT backend sends, Codex turns them into account/rateLimits/updated,
// and the gateway shows them on its responses and in /healthz.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request, waitFor } from '../lib/gateway.mjs';
import { startCodexGateway } from './codex.mjs';

describe('account quota from the upstream headers', { timeout: 120000 }, () => {
  let env;
  before(async () => {
    env = await startCodexGateway();
  });
  after(async () => {
    if (env) await env.close(assert);
  });

  it('reaches the response headers and /healthz', async () => {
    const { gw } = env;
    const first = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'codex-5', messages: [{ role: 'user', content: 'Hi. mock:quota' }] }),
    });
    assert.equal(first.status, 200);
    await first.json();
    let quota;
    await waitFor(async () => {
      quota = (await request(gw, '/healthz')).json.account_quota;
      return quota.primary !== null;
    }, 20000, 'the account quota in /healthz');
    assert.equal(quota.primary.used_percent, 42);
    assert.equal(quota.secondary.used_percent, 21);
    assert.ok(quota.primary.reset_after_seconds > 3500 && quota.primary.reset_after_seconds <= 3600,
      JSON.stringify(quota));
    const next = await fetch(`${gw.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'codex-5', input: 'Hi again.', store: false }),
    });
    assert.equal(next.status, 200);
    await next.json();
    assert.equal(next.headers.get('x-codex-primary-used-percent'), '42');
    assert.equal(next.headers.get('x-codex-secondary-used-percent'), '21');
  });
});
