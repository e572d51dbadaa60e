// CODEX_HOME stays bounded with the real Codex: its own log database (logs_2.sqlite) grows with
// every turn, and the gateway trims it once it passes PROXY_CODEX_LOG_MAX_BYTES.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../lib/gateway.mjs';
import { health, startCodexGateway } from './codex.mjs';

const LIMIT = 256 * 1024;

function logBytes(home) {
  let sum = 0;
  for (const f of ['logs_2.sqlite', 'logs_2.sqlite-wal']) {
    try {
      sum += fs.statSync(path.join(home, f)).size;
    } catch {
      // not there (yet)
    }
  }
  return sum;
}

describe('CODEX_HOME housekeeping', { timeout: 120000 }, () => {
  let env;
  before(async () => {
    env = await startCodexGateway({
      env: { PROXY_CODEX_LOG_MAX_BYTES: String(LIMIT), PROXY_CODEX_HOME_CHECK_MS: '200' },
    });
  });
  after(async () => {
    if (env) await env.close(assert);
  });

  it('reports the size of CODEX_HOME and trims Codex log database past its limit', async () => {
    const { gw, client, home } = env;
    await waitFor(async () => (await health(gw)).backend.codex_home.bytes !== null, 20000, 'a first check');
    const first = (await health(gw)).backend.codex_home;
    assert.equal(first.path, home);
    assert.ok(first.bytes > 0);
    assert.equal(first.log_limit_bytes, LIMIT);
    let grew = 0;
    for (let i = 0; i < 40 && grew <= LIMIT; i++) {
      const r = await client.chat.completions.create({ model: 'codex-5', messages: [{ role: 'user', content: `turn ${i}` }] });
      assert.equal(r.choices[0].finish_reason, 'stop');
      grew = Math.max(grew, logBytes(home));
    }
    assert.ok(grew > LIMIT, `Codex's log grew past the limit (${grew} bytes)`);
    const trim = await gw.waitForLog((l) => l.event === 'codex_log_trim', 30000);
    assert.ok(trim.log_bytes_after < trim.log_bytes_before, JSON.stringify(trim));
    await waitFor(async () => (await health(gw)).backend.codex_home.trims >= 1, 20000, 'trim counted');
    const after = (await health(gw)).backend.codex_home;
    assert.equal(after.last_error, null);
    const r = await client.chat.completions.create({ model: 'codex-5', messages: [{ role: 'user', content: 'still fine?' }] });
    assert.equal(r.choices[0].finish_reason, 'stop', 'Codex keeps working after its log was trimmed');
  });
});
