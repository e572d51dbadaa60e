// Reliability under failure: many streams when a worker is killed, a worker that stops reading
// its stdin, one that floods its stdout with junk, and one that keeps dying in its handshake.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import {
  assertOpenAIError,
  backendHealth,
  chat,
  procStats,
  request,
  slow,
  sseFrames,
  startGateway,
  stopClean,
  tempDir,
  waitFor,
} from '../lib/gateway.mjs';

const user = (content) => ({ model: 'codex-5', messages: [{ role: 'user', content }] });
const stream = (content) => ({ ...user(content), stream: true });

async function withGateway(env, fn) {
  const gw = await startGateway({ env, waitReady: env.waitReady !== false });
  try {
    await fn(gw);
  } finally {
    await stopClean(assert, gw);
  }
}

const bothReady = (gw) =>
  waitFor(async () => (await backendHealth(gw)).workers.every((w) => w.state === 'ready'), 20000, 'both workers ready');

/** Opens a streaming chat completion; `body` resolves with the whole SSE text at its end. */
async function openStream(gw, content) {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(stream(content)),
  });
  assert.equal(res.status, 200, `stream for ${content} answered ${res.status}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let text = '';
  const body = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text + dec.decode();
      text += dec.decode(value, { stream: true });
    }
  })();
  return { body, seen: () => text };
}

function contentOf(frames) {
  return frames
    .filter((f) => f.data && f.data.choices && f.data.choices[0] && f.data.choices[0].delta)
    .map((f) => f.data.choices[0].delta.content || '')
    .join('');
}

/** What fake:slow=MS,N streams: N deltas `s<i> `. */
const slowText = (n) => Array.from({ length: n }, (_, i) => `s${i} `).join('');

/** Checks the end of an SSE body: every frame is data, the last is [DONE], nothing follows. */
function assertEndsWithDone(text) {
  assert.ok(text.endsWith('data: [DONE]\n\n'), `the body ends with [DONE]: ${JSON.stringify(text.slice(-200))}`);
  const frames = sseFrames(text).filter((f) => f.data !== undefined);
  assert.equal(frames.filter((f) => f.data === '[DONE]').length, 1, 'one [DONE]');
}

async function client(gw) {
  return new OpenAI({ apiKey: 'unused', baseURL: `${gw.url}/v1`, maxRetries: 0 });
}

describe('chaos', { timeout: 90000 * slow }, () => {
  it('kill -9 of one of two workers under 100 concurrent streams: its streams fail in-band, the rest arrive intact', async () => {
    await withGateway({ WORKER_COUNT: '2', WORKER_MAX_CONCURRENCY: '64', WORKER_BACKOFF_INITIAL_MS: '50' }, async (gw) => {
      await bothReady(gw);
      const before = await backendHealth(gw);
      const victim = before.workers[0];
      // Stream i gets 60 + i deltas 30 ms apart: at least 1.8 s each, and no two alike (paced
      // `slow` times wider under a tool, so that all 100 still run at once).
      const counts = Array.from({ length: 100 }, (_, i) => 60 + i);
      const streams = await Promise.all(counts.map((n) => openStream(gw, `fake:slow=${30 * slow},${n}`)));
      await waitFor(async () => {
        const h = await backendHealth(gw);
        return h.workers[0].active_turns + h.workers[1].active_turns === 100;
      }, 20000, '100 active turns');
      // Every stream has its first delta: none can finish before the kill.
      await waitFor(async () => streams.every((s) => s.seen().includes('"content":"s0 "')), 20000, 'first deltas');
      const h = await backendHealth(gw);
      const onVictim = h.workers[0].active_turns;
      assert.equal(onVictim + h.workers[1].active_turns, 100);
      assert.ok(onVictim > 0 && onVictim <= 64, `turns on worker 0: ${onVictim}`);
      process.kill(victim.pid, 'SIGKILL');
      const texts = await Promise.all(streams.map((s) => s.body));
      let failed = 0;
      for (let i = 0; i < texts.length; i++) {
        const text = texts[i];
        const frames = sseFrames(text);
        const err = frames.find((f) => f.data && f.data.error);
        assertEndsWithDone(text);
        const got = contentOf(frames);
        if (err) {
          failed++;
          assertOpenAIError(assert, err.data, { code: 'backend_unavailable' });
          assert.match(err.data.error.message, /worker 0 exited on signal 9/);
          assert.equal(frames[frames.length - 1].data, '[DONE]');
          assert.ok(frames.indexOf(err) === frames.length - 2, `the error frame comes right before [DONE] (stream ${i})`);
          assert.ok(slowText(counts[i]).startsWith(got) && got.length > 0, `stream ${i}: what arrived is a prefix: ${got.slice(-40)}`);
        } else {
          assert.equal(got, slowText(counts[i]), `stream ${i} arrived intact`);
          const finish = frames.filter((f) => f.data && f.data.choices && f.data.choices[0].finish_reason);
          assert.equal(finish.length, 1, `stream ${i}: one finish frame`);
          assert.equal(finish[0].data.choices[0].finish_reason, 'stop');
        }
      }
      assert.equal(failed, onVictim, 'exactly the streams on the killed worker failed');
      await gw.waitForLog((l) => l.event === 'worker_exit' && l.pid === victim.pid && l.signal === 9);
      await bothReady(gw);
      const after = await backendHealth(gw);
      assert.notEqual(after.workers[0].pid, victim.pid);
      assert.equal(after.workers[0].restarts, victim.restarts + 1);
      assert.equal(after.workers[1].restarts, before.workers[1].restarts);
      assert.equal(after.workers[0].active_turns + after.workers[1].active_turns, 0, 'no turn leaked');
      const oa = await client(gw);
      const answers = await Promise.all([1, 2, 3, 4].map((k) => oa.chat.completions.create(user(`fake:deltas=${k}`))));
      answers.forEach((a, k) => assert.equal(a.choices[0].message.content, Array.from({ length: k + 1 }, (_, i) => `w${i} `).join('')));
    });
  });

  it('a worker that stops reading its stdin is found out, killed and restarted; the other serves on', async () => {
    await withGateway({
      WORKER_COUNT: '2', WORKER_MAX_CONCURRENCY: '8', WORKER_BACKOFF_INITIAL_MS: '50',
      WORKER_PING_INTERVAL_MS: '200', WORKER_PING_TIMEOUT_MS: '500', WORKER_UNHEALTHY_GRACE_MS: '500',
    }, async (gw) => {
      await bothReady(gw);
      const before = await backendHealth(gw);
      const deaf = await openStream(gw, 'fake:deaf');
      await waitFor(async () => deaf.seen().includes('"content":"deaf "'), 10000, 'the deaf turn streams');
      const h = await backendHealth(gw);
      const d = h.workers.findIndex((w) => w.active_turns === 1);
      assert.ok(d >= 0, JSON.stringify(h.workers));
      const other = 1 - d;
      const deafPid = h.workers[d].pid;
      // A stream on the healthy worker, running while the deaf one is found out.
      const healthy = await openStream(gw, 'fake:slow=20,60');
      const text = await deaf.body;
      const frames = sseFrames(text);
      const err = frames.find((f) => f.data && f.data.error);
      assert.ok(err, `an in-band error: ${text.slice(-300)}`);
      assertOpenAIError(assert, err.data, { code: 'backend_unavailable' });
      assert.match(err.data.error.message, new RegExp(`worker ${d} was killed by the gateway`));
      assert.equal(contentOf(frames), 'deaf ');
      assertEndsWithDone(text);
      const exit = await gw.waitForLog((l) => l.event === 'worker_exit' && l.pid === deafPid);
      assert.equal(exit.killed_by_gateway, true);
      assert.match(exit.reason, /unhealthy|not reading its stdin/);
      const healthyText = await healthy.body;
      assert.equal(contentOf(sseFrames(healthyText)), slowText(60), 'the healthy worker\'s stream is intact');
      assertEndsWithDone(healthyText);
      await bothReady(gw);
      const after = await backendHealth(gw);
      assert.notEqual(after.workers[d].pid, deafPid);
      assert.equal(after.workers[d].restarts, before.workers[d].restarts + 1);
      assert.equal(after.workers[other].restarts, before.workers[other].restarts);
      assert.equal(after.workers[other].pid, before.workers[other].pid);
      const oa = await client(gw);
      const answers = await Promise.all([5, 6, 7, 8].map((k) => oa.chat.completions.create(user(`fake:deltas=${k}`))));
      answers.forEach((a, j) => assert.equal(a.choices[0].message.content.trim().split(' ').length, j + 5));
    });
  });

  it('a worker that stops reading but keeps writing is found out within its ping allowance', async () => {
    // One worker: a busy stream keeps it writing while another turn made it deaf. Writing must
    // not pass for alive: the ping allowance runs out, the worker is killed and restarted, and
    // a later request is served by the new one.
    await withGateway({
      WORKER_COUNT: '1', WORKER_PING_INTERVAL_MS: '200', WORKER_PING_TIMEOUT_MS: '500',
      WORKER_UNHEALTHY_GRACE_MS: '500', WORKER_BACKOFF_INITIAL_MS: '50',
    }, async (gw) => {
      const pid = (await backendHealth(gw)).workers[0].pid;
      const busy = await openStream(gw, 'fake:slow=50,400'); // 20 s of writing
      await waitFor(() => contentOf(sseFrames(busy.seen())).length > 0, 10000, 'the busy stream writes');
      const deaf = await openStream(gw, 'fake:deaf');
      await waitFor(() => /deaf /.test(busy.seen() + deaf.seen()), 10000, 'the deaf turn began');
      await waitFor(async () => {
        const w = (await backendHealth(gw)).workers[0];
        return w.pid !== pid && w.state === 'ready';
      }, 15000, 'the deaf worker replaced while the busy stream still had most of its 20 s');
      const [b, d] = await Promise.all([busy.body, deaf.body]);
      for (const text of [b, d]) {
        const err = sseFrames(text).find((f) => f.data && f.data.error);
        assert.ok(err, `an in-band error: ${text.slice(-300)}`);
        assert.match(err.data.error.message, /unhealthy|killed by the gateway/);
        assertEndsWithDone(text);
      }
      const r = await chat(gw, user('hello'));
      assert.equal(r.status, 200, r.text);
    });
  });

  it('a worker flooding its stdout with junk: the gateway stays responsive and bounded, the flood\'s turn ends', async () => {
    // ASan's quarantine would hold freed read buffers and hide what the gateway keeps.
    const asan = 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=4';
    await withGateway({
      WORKER_COUNT: '2', WORKER_MAX_LINE_BYTES: '65536', ASAN_OPTIONS: asan,
    }, async (gw) => {
      await bothReady(gw);
      const base = procStats(gw.pid).rss;
      // 512 MiB of junk: lines of 256 KiB (over WORKER_MAX_LINE_BYTES), short non-JSON lines,
      // JSON that is no message, padded unknown notifications.
      const flood = chat(gw, user('fake:flood=536870912,262144'));
      let floodDone = false;
      const floodRes = flood.finally(() => {
        floodDone = true;
      });
      let floodWorker = -1;
      let maxRss = base;
      let duringFlood = 0;
      const oa = await client(gw);
      const sideAnswers = [];
      await waitFor(async () => {
        const r = await request(gw, '/healthz');
        assert.equal(r.status, 200);
        maxRss = Math.max(maxRss, procStats(gw.pid).rss);
        const ws = r.json.backend.workers;
        if (floodWorker < 0) floodWorker = ws.findIndex((w) => w.active_turns === 1);
        if (floodWorker >= 0 && !floodDone && ws[floodWorker].rpc.bad_lines > 0) {
          duringFlood++;
          // A request while the flood runs goes to the other worker (fewest active turns).
          if (sideAnswers.length < 5) sideAnswers.push(oa.chat.completions.create(user(`fake:deltas=${sideAnswers.length + 1}`)));
        }
        return floodDone;
      }, 60000, 'the flood turn to end');
      const r = await floodRes;
      assert.ok(duringFlood > 0, '/healthz answered while the flood ran');
      if (r.status === 200) {
        assert.equal(r.json.choices[0].message.content, 'Hello from fake-codex.');
      } else {
        assertOpenAIError(assert, r.json);
      }
      const answers = await Promise.all(sideAnswers);
      answers.forEach((a, k) => assert.equal(a.choices[0].message.content.trim().split(' ').length, k + 1));
      const h = await backendHealth(gw);
      const fw = h.workers[floodWorker];
      assert.ok(fw.rpc.oversized_lines >= 100, JSON.stringify(fw.rpc));
      assert.ok(fw.rpc.bad_lines >= 100, JSON.stringify(fw.rpc));
      assert.equal(h.workers[1 - floodWorker].rpc.bad_lines, 0);
      maxRss = Math.max(maxRss, procStats(gw.pid).rss);
      // The flood is 512 MiB; what the gateway may keep of it is a line (64 KiB) and buffers.
      assert.ok(maxRss - base < 64 * 1024, `gateway RSS ${base} → ${maxRss} kB`);
      const again = await oa.chat.completions.create(user('after the flood'));
      assert.equal(again.choices[0].message.content, 'Hello from fake-codex.');
    });
  });

  it('workers that exit in their handshake: not ready, retried with backoff, ready once the cause is gone', async () => {
    const t = tempDir('cg-chaos-hs-');
    const flag = path.join(t.dir, 'exit');
    fs.writeFileSync(flag, '');
    try {
      await withGateway({
        WORKER_COUNT: '2', FAKE_CODEX_HANDSHAKE: 'exit', FAKE_CODEX_HANDSHAKE_WHILE: flag,
        WORKER_BACKOFF_INITIAL_MS: '50', WORKER_BACKOFF_MAX_MS: '200', WORKER_RESTART_MAX: '1000',
        waitReady: false,
      }, async (gw) => {
        await waitFor(async () => (await backendHealth(gw)).workers.every((w) => w.restarts >= 3), 20000, 'three restarts each');
        const h = await backendHealth(gw);
        for (const w of h.workers) {
          assert.match(w.state, /^(starting|backoff)$/);
          assert.ok(w.consecutive_failures >= 3, JSON.stringify(w));
          assert.match(w.last_error || '', /exited with code 3/);
        }
        const ready = await request(gw, '/readyz');
        assert.equal(ready.status, 503);
        assert.equal(ready.json.ready, false);
        assert.equal((await request(gw, '/livez')).status, 200, 'live while retrying');
        const refused = await Promise.all([1, 2, 3].map(() => chat(gw, user('hi'))));
        for (const r of refused) {
          assert.equal(r.status, 503);
          assertOpenAIError(assert, r.json, { code: 'backend_unavailable' });
        }
        const exits = gw.logs.filter((l) => l.event === 'worker_exit').length;
        assert.ok(exits >= 6, `worker_exit lines: ${exits}`);
        fs.rmSync(flag);
        await waitFor(async () => (await request(gw, '/readyz')).status === 200, 20000, 'ready');
        await bothReady(gw);
        const oa = await client(gw);
        const answers = await Promise.all(Array.from({ length: 8 }, () => oa.chat.completions.create(user('hi'))));
        for (const a of answers) assert.equal(a.choices[0].message.content, 'Hello from fake-codex.');
        const end = await backendHealth(gw);
        for (const w of end.workers) {
          assert.equal(w.state, 'ready');
          assert.ok(w.restarts >= 3);
        }
      });
    } finally {
      t.remove();
    }
  });
});
