// A real Codex worker SIGKILLed in the middle of a streamed turn: the client gets an in-band
// error and [DONE] (never a hang), the supervisor restarts the worker, and the next request works.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../lib/gateway.mjs';
import { MODEL_TEXT, deltaPieces } from './mock-model.mjs';
import { health, rawChatStream, startCodexGateway, streamedText } from './codex.mjs';

describe('worker killed mid-turn', { timeout: 120000 }, () => {
  let env;
  before(async () => {
    env = await startCodexGateway({ env: { WORKER_BACKOFF_INITIAL_MS: '100' } });
  });
  after(async () => {
    if (env) await env.close(assert);
  });

  it('ends the stream with an in-band error, restarts the worker and serves the next request', async () => {
    const { gw, client } = env;
    const before = (await health(gw)).backend.workers;
    assert.equal(before.length, 1);
    const { pid, restarts } = before[0];
    assert.ok(Number.isInteger(pid) && pid > 0, `pid ${pid}`);
    assert.equal(before[0].state, 'ready');

    let killed = false;
    const r = await rawChatStream(gw, {
      model: 'codex-5',
      stream: true,
      messages: [{ role: 'user', content: 'Count slowly. mock:slow' }],
    }, (frame) => {
      if (!killed && frame?.choices?.[0]?.delta?.content) {
        killed = true;
        process.kill(pid, 'SIGKILL');
      }
    });
    assert.equal(r.status, 200);
    assert.ok(killed, `no content delta arrived: ${JSON.stringify(r.frames)}`);

    const { frames } = r;
    assert.equal(frames.at(-1), '[DONE]', 'the stream ends with [DONE]');
    const errIndex = frames.findIndex((f) => f && typeof f === 'object' && f.error);
    assert.equal(errIndex, frames.length - 2, `the error frame comes right before [DONE]: ${JSON.stringify(frames)}`);
    const err = frames[errIndex].error;
    assert.deepEqual(Object.keys(err).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(typeof err.message, 'string');
    assert.ok(err.message.length > 0);
    // Only part of the slow text arrived, and no finish_reason claims the turn completed.
    const text = streamedText(frames.slice(0, errIndex));
    assert.ok(text.length > 0 && deltaPieces(20).join('').startsWith(text), `partial text ${JSON.stringify(text)}`);
    assert.ok(text !== deltaPieces(20).join(''), 'the turn did not complete');
    for (const f of frames.slice(0, errIndex)) assert.equal(f.choices[0]?.finish_reason ?? null, null);

    const exit = await gw.waitForLog((l) => l.event === 'worker_exit' && l.pid === pid, 20000);
    assert.equal(exit.signal, 9, `worker_exit ${JSON.stringify(exit)}`);

    let now;
    await waitFor(async () => {
      now = (await health(gw)).backend.workers[0];
      return now.state === 'ready' && now.pid !== pid;
    }, 30000, 'a restarted worker');
    assert.ok(now.restarts >= restarts + 1, `restarts ${now.restarts}`);
    assert.ok(now.pid > 0);
    assert.ok(now.last_exit, `last_exit ${JSON.stringify(now.last_exit)}`);

    const ok = await client.chat.completions.create({
      model: 'codex-5',
      messages: [{ role: 'user', content: 'Again. mock:text' }],
    });
    assert.equal(ok.choices[0].message.content, MODEL_TEXT);
    assert.equal(ok.choices[0].finish_reason, 'stop');
    assert.equal((await health(gw)).backend.workers[0].pid, now.pid);
  });
});
