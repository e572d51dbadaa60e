// Eight concurrent streamed turns on one real Codex worker: each client gets exactly its own
// text, nothing is mixed up or lost. How many ran at once is logged, never asserted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deltaPieces } from './mock-model.mjs';
import { health, startCodexGateway } from './codex.mjs';

const N = 8;

describe('concurrency on one real worker', { timeout: 120000 }, () => {
  let env;
  before(async () => {
    env = await startCodexGateway({ env: { WORKER_COUNT: '1', WORKER_MAX_CONCURRENCY: String(N) } });
  });
  after(async () => {
    if (env) await env.close(assert);
  });

  it(`completes ${N} concurrent streams with exactly their own text`, async (t) => {
    const { gw, client, mock } = env;
    const workers = (await health(gw)).backend.workers;
    assert.equal(workers.length, 1);

    let maxActive = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const w = (await health(gw)).backend.workers[0];
        maxActive = Math.max(maxActive, w.active_turns);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    // Distinct lengths (20..27 deltas), so a stream that received another one's text fails.
    const run = async (i) => {
      const n = 20 + i;
      const stream = await client.chat.completions.create({
        model: 'codex-5',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: `Stream ${i}. mock:deltas=${n}` }],
      });
      let text = '';
      let finish = null;
      let usage = null;
      let role = 0;
      for await (const c of stream) {
        if (c.usage) usage = c.usage;
        const ch = c.choices[0];
        if (!ch) continue;
        if (ch.delta?.role) role++;
        text += ch.delta?.content ?? '';
        if (ch.finish_reason) finish = ch.finish_reason;
      }
      return { i, n, text, finish, usage, role };
    };
    let results;
    try {
      results = await Promise.all(Array.from({ length: N }, (_, i) => run(i)));
    } finally {
      polling = false;
      await poller;
    }
    for (const r of results) {
      assert.equal(r.text, deltaPieces(r.n).join(''), `stream ${r.i}`);
      assert.equal(r.finish, 'stop', `stream ${r.i}`);
      assert.equal(r.role, 1, `stream ${r.i}: one role chunk`);
      assert.ok(r.usage && r.usage.completion_tokens > 0, `stream ${r.i}: usage`);
    }

    // Upstream overlap: requests received while an earlier one had not yet been answered
    // cannot be seen from the mock's records, so report the arrival spread instead.
    const ups = mock.responsesRequests();
    assert.equal(ups.length, N);
    const arrivals = ups.map((u) => u.receivedAt);
    const after = (await health(gw)).backend.workers[0];
    assert.equal(after.active_turns, 0);
    assert.equal(after.restarts, 0);
    t.diagnostic(`max active_turns seen in /healthz: ${maxActive} of ${N}; upstream arrivals spread over ` +
      `${Math.max(...arrivals) - Math.min(...arrivals)} ms`);
  });
});
