// The Codex backend: worker supervision, the pool, turn sessions and the JSON-RPC client,
// driven over HTTP against the deterministic fake app-server.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  assertOpenAIError,
  backendHealth,
  chat,
  fakeCodexBin,
  fakeMethods,
  gatewayBin,
  procStats,
  readFakeLog,
  request,
  sleep,
  sseFrames,
  startGateway,
  stopClean,
  tempDir,
  waitFor,
} from '../lib/gateway.mjs';

/** Runs the gateway binary to its exit; {code, stdout, stderr}. */
function runGateway(args, env) {
  return new Promise((resolve) => {
    execFile(gatewayBin, args, { env: { PATH: process.env.PATH, PORT: '0', ...env }, timeout: 20000 },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

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

function contentOf(frames) {
  return frames
    .filter((f) => f.data && f.data.choices && f.data.choices[0] && f.data.choices[0].delta)
    .map((f) => f.data.choices[0].delta.content || '')
    .join('');
}

describe('worker supervision', { timeout: 120000 }, () => {
  it('starts the worker with model-mode overrides, CODEX_HOME and the work directory', async () => {
    const log = tempDir('cg-fake-');
    const codexHome = path.join(log.dir, 'home');
    const work = path.join(log.dir, 'work', 'nested');
    const file = path.join(log.dir, 'fake.jsonl');
    await withGateway({ FAKE_CODEX_LOG: file, CODEX_HOME: codexHome, PROXY_CODEX_WORKDIR: work, PROXY_API_KEY: 'k', PROXY_CODEX_HOME_CHECK_MS: '100' }, async (gw) => {
      const start = readFakeLog(file).find((e) => e.event === 'start');
      assert.ok(start, 'the fake logged its start');
      assert.equal(start.cwd, work, 'cwd is PROXY_CODEX_WORKDIR (created)');
      assert.equal(start.codex_home, codexHome);
      const args = start.argv.slice(1);
      assert.equal(args[0], 'app-server');
      const overrides = args.filter((_, i) => args[i - 1] === '-c');
      for (const want of ['features.shell_tool=false', 'web_search="disabled"', 'features.plugins=false',
        'features.unbounded_connection_retries=false', 'thread_unload_delay_secs=1', 'approval_policy="never"',
        'sandbox_mode="read-only"', 'agents.enabled=false', 'include_environment_context=false']) {
        assert.ok(overrides.includes(want), `missing -c ${want}`);
      }
      const catalogArg = overrides.find((o) => o.startsWith('model_catalog_json='));
      const catalogPath = JSON.parse(catalogArg.slice('model_catalog_json='.length));
      const catalog = JSON.parse(fs.readFileSync(catalogPath, 'utf8'));
      assert.deepEqual(catalog.models.map((m) => m.slug), ['gpt-5.5', 'gpt-5.2']);
      for (const m of catalog.models) {
        assert.equal(m.tool_mode, null);
        assert.equal(m.apply_patch_tool_type, null);
      }
      const init = fakeMethods(file).find((m) => m.method === 'initialize');
      assert.equal(init.params.capabilities.experimentalApi, true);
      assert.ok(fakeMethods(file).some((m) => m.method === 'initialized'));
      assert.ok(fakeMethods(file).some((m) => m.method === 'account/read'));
      const stderrLine = await gw.waitForLog((l) => l.event === 'worker_stderr' && /fake-codex: ready/.test(l.line));
      assert.equal(stderrLine.worker, 0);
      assert.ok(!JSON.stringify(readFakeLog(file)).includes('"k"'), 'client keys never reach the worker');
      fs.writeFileSync(path.join(codexHome, 'blob'), Buffer.alloc(100000));
      const auth = { Authorization: 'Bearer k' };
      await waitFor(async () => (await backendHealth(gw, auth)).codex_home.bytes >= 100000, 10000, 'CODEX_HOME measured');
      const home = (await backendHealth(gw, auth)).codex_home;
      assert.equal(home.path, codexHome);
      assert.equal(home.trims, 0);
    });
    log.remove();
  });

  it('kill -9 of a worker mid-stream: in-band error, then the next request succeeds after restart', async () => {
    await withGateway({ WORKER_BACKOFF_INITIAL_MS: '50' }, async (gw) => {
      const before = await backendHealth(gw);
      const pid = before.workers[0].pid;
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-No-Keepalive': '1' },
        body: JSON.stringify(stream('fake:slow=100,30')),
      });
      assert.equal(res.status, 200);
      const reader = res.body.getReader();
      let text = '';
      const dec = new TextDecoder();
      while (!text.includes('"content":"s0 "')) {
        const { value, done } = await reader.read();
        assert.equal(done, false, 'stream ended before the first delta');
        text += dec.decode(value);
      }
      process.kill(pid, 'SIGKILL');
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value);
      }
      const frames = sseFrames(text);
      const errFrame = frames.find((f) => f.data && f.data.error);
      assert.ok(errFrame, `an in-band error frame: ${text.slice(-400)}`);
      assertOpenAIError(assert, errFrame.data, { code: 'backend_unavailable' });
      assert.match(errFrame.data.error.message, /signal 9/);
      assert.equal(frames[frames.length - 1].data, '[DONE]');
      await gw.waitForLog((l) => l.event === 'worker_exit' && l.signal === 9);
      await waitFor(async () => (await request(gw, '/readyz')).status === 200, 20000, 'restart');
      const after = await backendHealth(gw);
      assert.notEqual(after.workers[0].pid, pid);
      assert.equal(after.workers[0].restarts, 1);
      assert.equal(after.workers[0].last_exit.signal, 9);
      const ok = await chat(gw, user('again'));
      assert.equal(ok.status, 200);
      assert.equal(ok.json.choices[0].message.content, 'Hello from fake-codex.');
    });
  });

  it('a worker that dies mid-turn on its own fails that turn in-band and comes back', async () => {
    await withGateway({ WORKER_BACKOFF_INITIAL_MS: '50' }, async (gw) => {
      const r = await chat(gw, stream('fake:crash'));
      const frames = sseFrames(r.text);
      assert.equal(contentOf(frames), 'Hello from', 'the deltas before the crash arrived');
      assertOpenAIError(assert, frames.find((f) => f.data && f.data.error).data, { code: 'backend_unavailable' });
      await waitFor(async () => (await request(gw, '/readyz')).status === 200, 20000, 'restart');
      assert.equal((await chat(gw, user('hello'))).status, 200);
    });
  });

  it('handshake timeout: 503 with the reason while it lasts, then recovery', async () => {
    const t = tempDir('cg-hs-');
    const flag = path.join(t.dir, 'fail');
    fs.writeFileSync(flag, '');
    await withGateway({
      FAKE_CODEX_HANDSHAKE: 'timeout',
      FAKE_CODEX_HANDSHAKE_WHILE: flag,
      WORKER_HANDSHAKE_TIMEOUT_MS: '300',
      WORKER_BACKOFF_INITIAL_MS: '100',
      WORKER_BACKOFF_MAX_MS: '200',
      waitReady: false,
    }, async (gw) => {
      await gw.waitForLog((l) => l.event === 'worker_exit' && /handshake/.test(l.reason || ''));
      const ready = await request(gw, '/readyz');
      assert.equal(ready.status, 503);
      assert.match(ready.json.reason, /^(starting|restarting)$/);
      const r = await chat(gw, user('hi'));
      assert.equal(r.status, 503);
      assertOpenAIError(assert, r.json, { code: 'backend_unavailable' });
      assert.match(r.json.error.message, /worker 0/);
      const h = await backendHealth(gw);
      assert.ok(h.workers[0].restarts >= 1);
      assert.match(h.workers[0].last_error || '', /handshake|initialize/);
      fs.rmSync(flag);
      await waitFor(async () => (await request(gw, '/readyz')).status === 200, 20000, 'recovery');
      assert.equal((await chat(gw, user('hi'))).status, 200);
    });
    t.remove();
  });

  it('handshake failure and garbage answers count as failures too', async () => {
    for (const mode of ['fail', 'garbage', 'exit']) {
      await withGateway({
        FAKE_CODEX_HANDSHAKE: mode,
        WORKER_HANDSHAKE_TIMEOUT_MS: '300',
        WORKER_BACKOFF_INITIAL_MS: '50',
        waitReady: false,
      }, async (gw) => {
        await waitFor(async () => (await backendHealth(gw)).workers[0].restarts >= 2, 20000, `${mode} restarts`);
        assert.equal((await request(gw, '/readyz')).status, 503);
        assert.equal((await request(gw, '/livez')).status, 200, 'still live while retrying');
      });
    }
  });

  it('gives up after WORKER_RESTART_MAX consecutive failures: /livez turns 503', async () => {
    await withGateway({
      FAKE_CODEX_HANDSHAKE: 'exit',
      WORKER_RESTART_MAX: '2',
      WORKER_BACKOFF_INITIAL_MS: '20',
      WORKER_BACKOFF_MAX_MS: '40',
      waitReady: false,
    }, async (gw) => {
      await waitFor(async () => (await request(gw, '/livez')).status === 503, 20000, 'livez 503');
      const live = await request(gw, '/livez');
      assert.deepEqual(live.json, { live: false, reason: 'workers_failed' });
      const h = await backendHealth(gw);
      assert.equal(h.workers[0].state, 'failed');
      assert.equal(h.workers[0].consecutive_failures, 3);
      assert.equal(h.workers[0].next_retry, null);
      const r = await chat(gw, user('hi'));
      assert.equal(r.status, 503);
      assert.match(r.json.error.message, /gave up/);
      await gw.waitForLog((l) => l.level === 'error' && /giving up/.test(l.msg || ''));
    });
  });

  it('a worker without a Codex login: 503 codex_login_required with instructions, readyz says so', async () => {
    await withGateway({ FAKE_CODEX_REQUIRES_AUTH: '1', waitReady: false }, async (gw) => {
      await waitFor(async () => (await request(gw, '/readyz')).json.reason === 'codex_login_required', 20000, 'login state');
      const r = await chat(gw, user('hi'));
      assert.equal(r.status, 503);
      assertOpenAIError(assert, r.json, { code: 'codex_login_required' });
      assert.match(r.json.error.message, /codex login/);
      assert.ok(r.json.error.message.includes(path.join(gw.stateDir, 'codex-home')), 'names the CODEX_HOME to use');
      await gw.waitForLog((l) => l.level === 'warn' && /not logged in/.test(l.msg || ''));
    });
  });

  it('SIGTERM with turns in flight: in-flight streams end, workers stop, exit 0', async () => {
    const gw = await startGateway({ env: { PROXY_SHUTDOWN_GRACE_MS: '300' }, waitReady: true });
    const inflight = [chat(gw, stream('fake:slow=100,50')), chat(gw, user('fake:hang'))];
    await waitFor(async () => (await backendHealth(gw)).workers[0].active_turns === 2, 10000, 'two turns');
    const r = await stopClean(assert, gw);
    const [s, h] = await Promise.all(inflight);
    assert.equal(s.status, 200);
    const frames = sseFrames(s.text);
    assertOpenAIError(assert, frames.find((f) => f.data && f.data.error).data, { code: 'shutting_down' });
    assert.equal(frames[frames.length - 1].data, '[DONE]');
    assert.equal(h.status, 503);
    assertOpenAIError(assert, h.json, { code: 'shutting_down' });
    assert.match(r.stderr, /"event":"worker_exit"/);
  });
});

describe('pool', { timeout: 120000 }, () => {
  it('queues beyond WORKER_MAX_CONCURRENCY and answers 429 + Retry-After beyond PROXY_QUEUE_MAX', async () => {
    await withGateway({ WORKER_MAX_CONCURRENCY: '1', PROXY_QUEUE_MAX: '1' }, async (gw) => {
      const first = chat(gw, user('fake:slow=50,10'));
      await waitFor(async () => (await backendHealth(gw)).workers[0].active_turns === 1, 10000, 'first running');
      const second = chat(gw, user('fake:deltas=2'));
      await waitFor(async () => (await backendHealth(gw)).queue.waiting === 1, 10000, 'second queued');
      const third = await chat(gw, user('hi'));
      assert.equal(third.status, 429);
      assert.equal(third.headers.get('retry-after'), '1');
      assertOpenAIError(assert, third.json, { code: 'server_busy', type: 'rate_limit_error' });
      assert.equal((await first).json.choices[0].message.content.trim().split(' ').length, 10);
      assert.equal((await second).json.choices[0].message.content, 'w0 w1 ');
    });
  });

  it('a queued turn that waits past PROXY_QUEUE_TIMEOUT_MS gets 429', async () => {
    await withGateway({ WORKER_MAX_CONCURRENCY: '1', PROXY_QUEUE_TIMEOUT_MS: '300' }, async (gw) => {
      const busy = chat(gw, user('fake:hang'), { headers: {} });
      await waitFor(async () => (await backendHealth(gw)).workers[0].active_turns === 1, 10000, 'busy');
      const r = await chat(gw, user('hi'));
      assert.equal(r.status, 429);
      assert.match(r.json.error.message, /PROXY_QUEUE_TIMEOUT_MS/);
      assert.equal((await backendHealth(gw)).turns.queue_timeouts, 1);
      busy.catch(() => {});
    });
  });

  it('routes each turn to the worker with the fewest active turns', async () => {
    await withGateway({ WORKER_COUNT: '2', WORKER_MAX_CONCURRENCY: '4' }, async (gw) => {
      await waitFor(async () => (await backendHealth(gw)).workers.every((w) => w.state === 'ready'), 10000, 'both ready');
      const a = chat(gw, user('fake:slow=50,20'));
      const b = chat(gw, user('fake:slow=50,20'));
      await waitFor(async () => {
        const h = await backendHealth(gw);
        return h.workers[0].active_turns + h.workers[1].active_turns === 2;
      }, 10000, 'two active');
      const h = await backendHealth(gw);
      assert.deepEqual(h.workers.map((w) => w.active_turns), [1, 1]);
      assert.equal((await a).status, 200);
      assert.equal((await b).status, 200);
    });
  });
});

describe('turn sessions', { timeout: 120000 }, () => {
  it('every thread is unsubscribed; 200 sequential requests leave worker RSS and gateway fds flat', async () => {
    const t = tempDir('cg-flat-');
    const file = path.join(t.dir, 'fake.jsonl');
    await withGateway({ FAKE_CODEX_LOG: file, FAKE_CODEX_UNLOAD_DELAY_MS: '20' }, async (gw) => {
      const worker = (await backendHealth(gw)).workers[0].pid;
      for (let i = 0; i < 20; i++) assert.equal((await chat(gw, user('warm up'))).status, 200);
      await sleep(300);
      const base = { gw: procStats(gw.pid), worker: procStats(worker) };
      for (let i = 0; i < 200; i++) assert.equal((await chat(gw, user(`fake:deltas=4 #${i}`))).status, 200);
      await sleep(300);
      const end = { gw: procStats(gw.pid), worker: procStats(worker) };
      assert.ok(end.gw.fds <= base.gw.fds + 2, `gateway fds ${base.gw.fds} → ${end.gw.fds}`);
      // Each loaded thread holds 256 KiB in the fake: 200 leaked threads would be 50 MiB.
      assert.ok(end.worker.rss - base.worker.rss < 8 * 1024, `worker RSS ${base.worker.rss} → ${end.worker.rss} kB`);
      const methods = fakeMethods(file);
      const started = methods.filter((m) => m.method === 'thread/start').length;
      const unsubscribed = methods.filter((m) => m.method === 'thread/unsubscribe').length;
      assert.equal(started, 220);
      assert.equal(unsubscribed, started, 'one thread/unsubscribe per thread/start');
    });
    t.remove();
  });

  it('a turn whose worker never answers the interrupt is given up after the request timeout', async () => {
    const t = tempDir('cg-stuck-');
    const file = path.join(t.dir, 'fake.jsonl');
    await withGateway({ FAKE_CODEX_LOG: file, PROXY_TIMEOUT_MS: '300', WORKER_REQUEST_TIMEOUT_MS: '300', WORKER_MAX_CONCURRENCY: '1' }, async (gw) => {
      const r = await chat(gw, user('fake:stuck'));
      assert.equal(r.status, 504);
      await waitFor(async () => fakeMethods(file).some((m) => m.method === 'turn/interrupt'), 10000, 'turn/interrupt');
      await waitFor(async () => (await backendHealth(gw)).workers[0].active_turns === 0, 10000, 'slot freed');
      assert.equal((await chat(gw, user('next'))).status, 200);
      await gw.waitForLog((l) => /no turn\/completed after turn\/interrupt/.test(l.msg || ''));
    });
    t.remove();
  });

  it('garbage lines and unknown messages from a worker are counted, never fatal', async () => {
    await withGateway({}, async (gw) => {
      const r = await chat(gw, user('fake:garbage'));
      assert.equal(r.status, 200);
      assert.equal(r.json.choices[0].message.content, 'Hello from fake-codex.');
      const h = await backendHealth(gw);
      assert.ok(h.workers[0].rpc.bad_lines >= 2, JSON.stringify(h.workers[0].rpc));
      assert.equal(h.workers[0].restarts, 0);
      await gw.waitForLog((l) => l.event === 'bad_line' && l.what === 'invalid JSON');
    });
  });

  it('a line longer than WORKER_MAX_LINE_BYTES is skipped and counted; its turn fails, the worker stays up', async () => {
    await withGateway({ WORKER_MAX_LINE_BYTES: '65536' }, async (gw) => {
      const r = await chat(gw, user('fake:hugeline=200000'));
      assert.equal(r.status, 502);
      assertOpenAIError(assert, r.json, { code: 'backend_error' });
      assert.match(r.json.error.message, /WORKER_MAX_LINE_BYTES/);
      const h = await backendHealth(gw);
      assert.ok(h.workers[0].rpc.oversized_lines >= 1);
      assert.equal(h.workers[0].restarts, 0);
      const big = await chat(gw, user('fake:hugeline=60000'));
      assert.equal(big.json.choices[0].message.content, 'a'.repeat(60000), 'lines under the limit arrive whole');
    });
  });

  it('approval and user-input requests from a worker are declined, never left waiting', async () => {
    await withGateway({}, async (gw) => {
      const a = await chat(gw, user('fake:approval'));
      assert.equal(a.json.choices[0].message.content, 'approval: decline');
      const q = await chat(gw, user('fake:askuser'));
      assert.equal(q.json.choices[0].message.content, 'askuser: error');
    });
  });

  it('a client that leaves while Codex is still emitting a function call: the gateway stays up', async () => {
    const t = tempDir('cg-tail-');
    const file = path.join(t.dir, 'fake.jsonl');
    // Real Codex keeps writing the response it had under way after turn/interrupt: the rest of
    // the message, the function call and the end of the response reach a turn already released.
    await withGateway({ FAKE_CODEX_LOG: file, FAKE_CODEX_INTERRUPT_TAIL: '100', FAKE_CODEX_DELTA_DELAY_MS: '40' }, async (gw) => {
      const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
      for (let round = 0; round < 3; round++) {
        const ctrl = new AbortController();
        const res = await fetch(`${gw.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-No-Keepalive': '1' },
          body: JSON.stringify({ ...stream('fake:tooltext'), tools }),
          signal: ctrl.signal,
        });
        assert.equal(res.status, 200);
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let text = '';
        while (!text.includes('"content":"Let')) {
          const { value, done } = await reader.read();
          assert.equal(done, false, 'stream ended before the first delta');
          text += dec.decode(value);
        }
        ctrl.abort();
        await waitFor(async () => fakeMethods(file).filter((m) => m.method === 'thread/unsubscribe').length === round + 1, 10000, 'the turn wound down');
        assert.ok(fakeMethods(file).some((m) => m.method === 'turn/interrupt'));
        await waitFor(async () => (await backendHealth(gw)).workers[0].active_turns === 0, 10000, 'slot freed');
      }
      const ok = await chat(gw, user('still here?'));
      assert.equal(ok.status, 200);
      assert.equal(ok.json.choices[0].message.content, 'Hello from fake-codex.');
      assert.equal((await backendHealth(gw)).workers[0].restarts, 0);
    });
    t.remove();
  });

  it('an upstream 429 gets Retry-After: the reported reset time, else PROXY_UPSTREAM_RETRY_AFTER_S', async () => {
    await withGateway({ PROXY_UPSTREAM_RETRY_AFTER_S: '17' }, async (gw) => {
      const plain = await chat(gw, user('fake:error=ratelimit'));
      assert.equal(plain.status, 429);
      assertOpenAIError(assert, plain.json, { code: 'rate_limit_exceeded' });
      assert.equal(plain.headers.get('retry-after'), '17', 'the default without a reported reset');
      const reset = await chat(gw, user('fake:ratelimited=600'));
      assert.equal(reset.status, 429);
      const after = Number(reset.headers.get('retry-after'));
      assert.ok(after >= 595 && after <= 600, `Retry-After ${reset.headers.get('retry-after')}`);
    });
  });

  it('a used-up window one worker reported refuses requests for every worker (one account)', async () => {
    await withGateway({ WORKER_COUNT: '2', PROXY_UPSTREAM_RETRY_AFTER_S: '17' }, async (gw) => {
      await waitFor(async () => (await backendHealth(gw)).workers.every((w) => w.state === 'ready'), 10000, 'both workers');
      // Both idle: worker 0 takes it and learns the account's reset time.
      assert.equal((await chat(gw, user('fake:ratelimited=600'))).status, 429);
      // Worker 1 heard nothing, yet no request reaches either: the account is the same.
      for (let i = 0; i < 3; i++) {
        const r = await chat(gw, user('hi'));
        assert.equal(r.status, 429);
        assertOpenAIError(assert, r.json, { code: 'insufficient_quota' });
        const after = Number(r.headers.get('retry-after'));
        assert.ok(after >= 590 && after <= 600, `Retry-After ${r.headers.get('retry-after')}`);
      }
      const workers = (await backendHealth(gw)).workers;
      assert.equal(workers.reduce((n, w) => n + w.active_turns, 0), 0);
    });
  });

  it('after a mid-stream retry the client gets the message once', async () => {
    await withGateway({}, async (gw) => {
      const s = await chat(gw, stream('fake:retry'));
      assert.equal(contentOf(sseFrames(s.text)), 'Hello after retry.');
      const n = await chat(gw, user('fake:retry'));
      assert.equal(n.json.choices[0].message.content, 'Hello after retry.');
    });
  });
});

/** Starts a streaming chat and resolves once its first content delta arrived; `rest` then
 * resolves with the whole SSE text. */
async function openStream(gw, content) {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(stream(content)),
  });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let text = '';
  while (!text.includes('"content":"s0 "')) {
    const { value, done } = await reader.read();
    assert.equal(done, false, `stream ended before the first delta: ${text}`);
    text += dec.decode(value);
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += dec.decode(value);
    }
  })();
  return { rest };
}

const inBandError = (text) => {
  const f = sseFrames(text).find((x) => x.data && x.data.error);
  return f ? f.data.error : null;
};

describe('a failing worker next to a healthy one', { timeout: 120000 }, () => {
  it('kill -9 of one of two workers with a full queue: the queued requests complete on the other', async () => {
    // The killed worker restarts only after 5 s: the queue has to go to the other one.
    await withGateway({ WORKER_COUNT: '2', WORKER_MAX_CONCURRENCY: '2', WORKER_BACKOFF_INITIAL_MS: '5000' }, async (gw) => {
      await waitFor(async () => (await backendHealth(gw)).workers.every((w) => w.state === 'ready'), 10000, 'both ready');
      const pid0 = (await backendHealth(gw)).workers[0].pid;
      const streams = await Promise.all([1, 2, 3, 4].map(() => openStream(gw, 'fake:slow=50,20')));
      assert.deepEqual((await backendHealth(gw)).workers.map((w) => w.active_turns), [2, 2]);
      const queued = Array.from({ length: 10 }, () => chat(gw, user('hi')));
      await waitFor(async () => (await backendHealth(gw)).queue.waiting === 10, 10000, '10 queued');
      process.kill(pid0, 'SIGKILL');
      const answers = await Promise.all(queued);
      for (const a of answers) {
        assert.equal(a.status, 200, `a queued request failed: ${a.text}`);
        assert.equal(a.json.choices[0].message.content, 'Hello from fake-codex.');
      }
      const texts = await Promise.all(streams.map((s) => s.rest));
      const errors = texts.map(inBandError).filter(Boolean);
      assert.equal(errors.length, 2, 'the two streams on the killed worker fail in-band');
      for (const e of errors) assert.match(e.message, /worker 0 exited on signal 9/);
      const h = await backendHealth(gw);
      assert.equal(h.workers[0].state, 'backoff', 'worker 0 had not restarted yet');
      assert.equal(h.workers[0].last_error, 'exited on signal 9');
    });
  });

  it('a frozen worker (SIGSTOP) is unhealthy, gets no new turns, and is killed and restarted after the grace', async () => {
    await withGateway({
      WORKER_COUNT: '2', WORKER_MAX_CONCURRENCY: '4', WORKER_BACKOFF_INITIAL_MS: '50',
      WORKER_PING_INTERVAL_MS: '200', WORKER_PING_TIMEOUT_MS: '1000', WORKER_UNHEALTHY_GRACE_MS: '3000',
    }, async (gw) => {
      await waitFor(async () => (await backendHealth(gw)).workers.every((w) => w.state === 'ready'), 10000, 'both ready');
      const pid0 = (await backendHealth(gw)).workers[0].pid;
      const s = await openStream(gw, 'fake:slow=100,300');
      const h0 = await backendHealth(gw);
      assert.deepEqual(h0.workers.map((w) => w.active_turns), [1, 0]);
      process.kill(pid0, 'SIGSTOP');
      try {
        await waitFor(async () => (await backendHealth(gw)).workers[0].state === 'unhealthy', 10000, 'worker 0 unhealthy');
        const ready = await request(gw, '/readyz');
        assert.equal(ready.status, 200, 'worker 1 still serves');
        assert.deepEqual(ready.json, { ready: true, unhealthy_workers: [0] });
        const h = await backendHealth(gw);
        assert.match(h.workers[0].last_error, /did not answer a liveness ping within 1000 ms/);
        assert.equal(h.workers[0].pid, pid0);
        // A turn given to the frozen worker could only fail: this one must run on worker 1.
        const other = await chat(gw, user('hi'));
        assert.equal(other.status, 200, other.text);
        assert.equal(other.json.choices[0].message.content, 'Hello from fake-codex.');
        const e = inBandError(await s.rest);
        assert.ok(e, 'the frozen worker\'s stream ends with an in-band error');
        assert.equal(e.code, 'backend_unavailable');
        assert.match(e.message, /worker 0 was killed by the gateway: unhealthy/);
      } finally {
        try { process.kill(pid0, 'SIGCONT'); } catch { /* already gone */ }
      }
      const exit = await gw.waitForLog((l) => l.event === 'worker_exit' && l.pid === pid0);
      assert.equal(exit.killed_by_gateway, true);
      assert.match(exit.reason, /^unhealthy: no answer to a liveness ping for 4000 ms$/);
      assert.ok(gw.logs.some((l) => l.event === 'worker_state' && l.worker === 0 && l.to === 'unhealthy'));
      await waitFor(async () => (await backendHealth(gw)).workers.every((w) => w.state === 'ready'), 10000, 'restarted');
      const after = (await backendHealth(gw)).workers[0];
      assert.notEqual(after.pid, pid0);
      assert.equal(after.restarts, 1);
      assert.match(after.last_error, /^unhealthy: /, 'the last error outlives the restart');
      assert.equal(typeof after.last_error_at, 'string');
      assert.equal(typeof after.state_since, 'string');
    });
  });

  it('the only worker frozen: readyz 503 unhealthy, requests fail fast; SIGCONT within the grace recovers it', async () => {
    await withGateway({
      WORKER_PING_INTERVAL_MS: '200', WORKER_PING_TIMEOUT_MS: '1000', WORKER_UNHEALTHY_GRACE_MS: '60000',
    }, async (gw) => {
      const pid = (await backendHealth(gw)).workers[0].pid;
      process.kill(pid, 'SIGSTOP');
      try {
        await waitFor(async () => (await request(gw, '/readyz')).status === 503, 10000, 'readyz 503');
        const ready = await request(gw, '/readyz');
        assert.deepEqual(ready.json, { ready: false, reason: 'unhealthy', unhealthy_workers: [0] });
        const r = await chat(gw, user('hi'));
        assert.equal(r.status, 503);
        assertOpenAIError(assert, r.json, { code: 'backend_unavailable' });
        assert.match(r.json.error.message, /liveness ping/);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await waitFor(async () => (await request(gw, '/readyz')).status === 200, 10000, 'ready again');
      const w = (await backendHealth(gw)).workers[0];
      assert.equal(w.pid, pid, 'the same process: not restarted');
      assert.equal(w.restarts, 0);
      assert.equal((await chat(gw, user('hi'))).json.choices[0].message.content, 'Hello from fake-codex.');
    });
  });
});

describe('CODEX_BIN', { timeout: 60000 }, () => {
  it('a relative CODEX_BIN is relative to the gateway\'s directory, not PROXY_CODEX_WORKDIR', async () => {
    const work = tempDir('cg-work-');
    const rel = path.relative(process.cwd(), fakeCodexBin);
    assert.ok(!path.isAbsolute(rel) && rel.includes('/'), rel);
    try {
      await withGateway({ CODEX_BIN: rel, PROXY_CODEX_WORKDIR: work.dir }, async (gw) => {
        const r = await chat(gw, user('hi'));
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.choices[0].message.content, 'Hello from fake-codex.');
      });
    } finally {
      work.remove();
    }
  });

  it('a missing or unusable CODEX_BIN stops the start (and check-config) with one line naming it', async () => {
    const state = tempDir('cg-bin-');
    const notExec = path.join(state.dir, 'codex');
    fs.writeFileSync(notExec, '#!/bin/sh\n', { mode: 0o644 });
    const cases = [
      ['/nonexistent/codex', /^codex-gateway: CODEX_BIN: \/nonexistent\/codex: No such file or directory$/],
      ['no-such-codex-cli', /^codex-gateway: CODEX_BIN: no-such-codex-cli was not found on PATH/],
      [notExec, /^codex-gateway: CODEX_BIN: .* is not executable$/],
    ];
    try {
      for (const args of [[], ['check-config']]) {
        for (const [bin, re] of cases) {
          const r = await runGateway(args, { CODEX_BIN: bin, PROXY_STATE_DIR: state.dir, HOME: state.dir });
          assert.equal(r.code, 2, `${args} ${bin}: ${r.stderr}`);
          const lines = r.stderr.trim().split('\n');
          assert.equal(lines.length, 1, r.stderr);
          assert.match(lines[0], re);
          assert.equal(r.stdout, '');
        }
      }
    } finally {
      state.remove();
    }
  });
});
