// CODEX_BIN pointing at the npm launcher (bin/codex.js): the gateway runs it with node, the
// launcher runs the native binary, and both belong to the worker (nothing is left behind).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../lib/gateway.mjs';
import { MODEL_TEXT, USAGE } from './mock-model.mjs';
import { CODEX_LAUNCHER, expectedUsage, health, rawChatStream, startCodexGateway, usageOf } from './codex.mjs';

/** [pid, ppid, pgrp] of a live process, or null. */
function procStat(pid) {
  let s;
  try {
    s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  if (f[0] === 'Z') return null; // a zombie has finished
  return { pid: Number(pid), ppid: Number(f[1]), pgrp: Number(f[2]) };
}

function childrenOf(pid) {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(procStat)
    .filter((p) => p && p.ppid === pid);
}

const cmdline = (pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');

describe('the npm launcher as CODEX_BIN', { timeout: 120000 }, () => {
  let env;
  before(async () => {
    env = await startCodexGateway({ codexBin: CODEX_LAUNCHER, env: { WORKER_BACKOFF_INITIAL_MS: '100' } });
  });
  after(async () => {
    if (env) await env.close(assert);
  });

  it('serves a request through node + bin/codex.js', async () => {
    const { gw, client, mock } = env;
    const w = (await health(gw)).backend.workers[0];
    const argv = cmdline(w.pid);
    assert.match(argv[0], /(^|\/)node$/);
    assert.equal(argv[1], CODEX_LAUNCHER);
    assert.equal(argv[2], 'app-server');

    const r = await client.chat.completions.create({
      model: 'codex-5',
      messages: [{ role: 'user', content: 'Hello. mock:text' }],
    });
    assert.equal(r.choices[0].message.content, MODEL_TEXT);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual(usageOf(r.usage), expectedUsage(USAGE.text));
    assert.equal(mock.responsesRequests().length, 1);
    const after = (await health(gw)).backend.workers[0];
    assert.equal(after.state, 'ready');
    assert.equal(after.restarts, 0);
  });

  it('leaves no native Codex behind when the launcher is killed', async () => {
    const { gw, client } = env;
    const w = (await health(gw)).backend.workers[0];
    const natives = childrenOf(w.pid);
    assert.equal(natives.length, 1, `children of the launcher: ${JSON.stringify(natives)}`);
    const native = natives[0];
    assert.equal(native.pgrp, procStat(w.pid).pgrp, 'the native binary runs in the worker process group');

    let killed = false;
    const s = await rawChatStream(gw, {
      model: 'codex-5',
      stream: true,
      messages: [{ role: 'user', content: 'mock:slow' }],
    }, (f) => {
      if (!killed && f?.choices?.[0]?.delta?.content) {
        killed = true;
        process.kill(w.pid, 'SIGKILL');
      }
    });
    assert.ok(killed);
    assert.equal(s.frames.at(-1), '[DONE]');
    assert.ok(s.frames.at(-2)?.error, `in-band error before [DONE]: ${JSON.stringify(s.frames.slice(-2))}`);
    await waitFor(async () => procStat(native.pid) === null, 20000, `the orphaned native Codex ${native.pid} to exit`);
    await waitFor(async () => {
      const n = (await health(gw)).backend.workers[0];
      return n.state === 'ready' && n.pid !== w.pid;
    }, 30000, 'a restarted worker');
    const r = await client.chat.completions.create({ model: 'codex-5', messages: [{ role: 'user', content: 'mock:text' }] });
    assert.equal(r.choices[0].message.content, MODEL_TEXT);
  });
});
