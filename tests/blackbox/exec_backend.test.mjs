// The exec backend (PROXY_BACKEND=exec): one `codex exec --json` process per choice, against
// the fake's exec mode, through the official openai client and raw HTTP.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  assertOpenAIError,
  backendHealth,
  chat,
  fakeCodexBin,
  request,
  sseFrames,
  startGateway,
  stopClean,
  tempDir,
  waitFor,
} from '../lib/gateway.mjs';
import { assertResponseStream, outputText, postResponse } from '../lib/responses.mjs';
import {
  childrenOf,
  fakeChildren,
  fakeStarts,
  fakeWrapper,
  metric,
  metricsText,
  launchStream,
  pidGone,
  runGateway,
  startProcs,
  streamContent,
  waitGone,
  echoOf,
  user,
  withProcs,
} from '../lib/procs.mjs';

const MODEL = 'codex-5';
const started = (file) => fakeStarts(file).length;
const withExec = (env, fn) => withProcs(assert, 'exec', env, fn);

let gw;

before(async () => {
  gw = await startProcs('exec');
});

after(async () => {
  await stopClean(assert, gw);
  gw.cleanup();
});

describe('exec: selection and status', { timeout: 60000 }, () => {
  it('reports exec chosen by PROXY_BACKEND in /healthz, /readyz, /metrics and the start line', async () => {
    assert.equal((await request(gw, '/readyz')).status, 200);
    const h = await backendHealth(gw);
    assert.equal(h.kind, 'exec');
    assert.equal(h.kind_reason, 'PROXY_BACKEND');
    for (const k of ['running', 'max', 'queued', 'queue_max', 'started', 'failed', 'killed', 'queue_timeouts', 'rejected']) {
      assert.equal(typeof h.processes[k], 'number', `processes.${k}`);
    }
    assert.equal(h.processes.max, 4, 'PROXY_MAX_CONCURRENT_PROCESSES default');
    assert.equal(h.processes.queue_max, 64, 'PROXY_QUEUE_MAX default');
    assert.ok(h.codex_home, 'backend.codex_home is there');
    assert.equal(h.workers, undefined, 'no app-server workers');
    const m = await metricsText(gw);
    assert.equal(metric(m, 'codex_gateway_backend_info', '{kind="exec",reason="PROXY_BACKEND"}'), 1);
    for (const n of ['codex_gateway_processes_running', 'codex_gateway_processes_max', 'codex_gateway_processes_started_total',
      'codex_gateway_processes_killed_total', 'codex_gateway_processes_failed_total']) {
      assert.equal(typeof metric(m, n), 'number', n);
    }
    assert.equal(metric(m, 'codex_gateway_processes_max'), 4);
    const start = gw.logs.find((l) => l.event === 'start');
    assert.deepEqual(start.backend, { kind: 'exec', reason: 'PROXY_BACKEND' });
    assert.equal(started(gw.fakeLog), 0, 'no process before a request');
  });

  it('PROXY_USE_APP_SERVER=false alone selects exec', async () => {
    const g = await startGateway({ env: { PROXY_USE_APP_SERVER: 'false' }, waitReady: true });
    try {
      const h = await backendHealth(g);
      assert.equal(h.kind, 'exec');
      assert.equal(h.kind_reason, 'PROXY_USE_APP_SERVER=false');
      const r = await chat(g, user('hi'));
      assert.equal(r.status, 200);
      assert.equal(r.json.choices[0].message.content, 'Hello from fake-codex.');
    } finally {
      await stopClean(assert, g);
    }
  });

  it('refuses contradictory or unknown backends with one line naming the setting', async () => {
    const both = await runGateway([], { PROXY_BACKEND: 'app-server', PROXY_USE_APP_SERVER: 'false', CODEX_BIN: fakeCodexBin });
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /PROXY_USE_APP_SERVER/);
    assert.equal(both.stderr.trim().split('\n').length, 1, `one line: ${both.stderr}`);
    const bogus = await runGateway([], { PROXY_BACKEND: 'bogus', CODEX_BIN: fakeCodexBin });
    assert.notEqual(bogus.code, 0);
    assert.match(bogus.stderr, /PROXY_BACKEND/);
    assert.equal(bogus.stderr.trim().split('\n').length, 1, `one line: ${bogus.stderr}`);
  });

  it('check-config names the backend and what chose it', async () => {
    const r = await runGateway(['check-config'], { PROXY_BACKEND: 'exec', CODEX_BIN: fakeCodexBin });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^# backend: exec, chosen by PROXY_BACKEND$/m);
    const d = await runGateway(['check-config'], { CODEX_BIN: fakeCodexBin });
    assert.match(d.stdout, /^# backend: app-server, chosen by default$/m);
  });

  it('never infers the backend from CODEX_BIN: fake-codex-proto.js runs app-server workers', async () => {
    const t = tempDir('cg-wrap-');
    const file = path.join(t.dir, 'fake.jsonl');
    const bin = fakeWrapper(t.dir, 'fake-codex-proto.js');
    const g = await startGateway({ env: { CODEX_BIN: bin, FAKE_CODEX_LOG: file }, waitReady: true });
    try {
      const h = await backendHealth(g);
      assert.equal(h.kind, 'app-server');
      assert.equal(h.kind_reason, 'default');
      assert.ok(Array.isArray(h.workers) && h.workers.length >= 1, 'workers listed');
      const r = await chat(g, user('hi'));
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.choices[0].message.content, 'Hello from fake-codex.');
      const s = fakeStarts(file);
      assert.ok(s.length >= 1);
      assert.equal(s[0].argv[1], 'app-server');
    } finally {
      await stopClean(assert, g);
      t.remove();
    }
  });
});

describe('exec: the process and its prompt', { timeout: 60000 }, () => {
  it('runs exec --json with the model overrides, the prompt on stdin, cwd and CODEX_HOME', async () => {
    const before = started(gw.fakeLog);
    const r = await gw.client.chat.completions.create(user('fake:echo tell me'));
    const echo = echoOf(r);
    const starts = fakeStarts(gw.fakeLog);
    assert.equal(starts.length, before + 1, 'one process for one choice');
    const args = starts[starts.length - 1].argv.slice(1);
    assert.deepEqual(args.slice(0, 4), ['exec', '--json', '--ephemeral', '--skip-git-repo-check']);
    assert.equal(args[args.length - 1], '-', 'prompt from stdin');
    const overrides = args.filter((_, i) => args[i - 1] === '-c');
    assert.ok(overrides.includes('model="gpt-5.5"'), `model override: ${overrides}`);
    assert.ok(!overrides.some((o) => o.startsWith('model_reasoning_effort=')), 'no effort unless asked');
    assert.ok(overrides.includes('approval_policy="never"'));
    assert.deepEqual(echo.argv, args.slice(1), 'the fake saw the same argv');
    assert.equal(echo.prompt, 'fake:echo tell me', 'a lone user message is the prompt, byte for byte');
    assert.equal(echo.stdin_bytes, Buffer.byteLength('fake:echo tell me'));
    assert.equal(echo.cwd, gw.work);
    assert.equal(echo.codex_home, gw.home);
    assert.equal(echo.model, 'gpt-5.5');
    assert.equal(starts[starts.length - 1].cwd, gw.work);
  });

  it('passes the effort of an effort alias, and UTF-8 prompts whole', async () => {
    const text = 'fake:echo héllo — 世界 🎉';
    const r = await gw.client.chat.completions.create({ model: 'codex-5-high', messages: [{ role: 'user', content: text }] });
    const echo = echoOf(r);
    assert.ok(echo.argv.includes('model_reasoning_effort="high"'), `effort: ${echo.argv}`);
    assert.equal(echo.prompt, text);
    assert.equal(echo.stdin_bytes, Buffer.byteLength(text));
  });

  it('renders a conversation as a transcript with role blocks, in order', async () => {
    const r = await gw.client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'first answer' },
        { role: 'user', content: 'fake:echo second' },
      ],
    });
    const p = echoOf(r).prompt;
    let from = 0;
    for (const part of ['[system]', 'Be brief.', '[user]', 'first question', '[assistant]', 'first answer', '[user]', 'fake:echo second']) {
      const i = p.indexOf(part, from);
      assert.ok(i >= 0, `${part} after offset ${from}: ${JSON.stringify(p)}`);
      from = i + part.length;
    }
    assert.ok(p.startsWith('[system]'), JSON.stringify(p));
    assert.ok(p.endsWith('fake:echo second'), JSON.stringify(p));
  });
});

describe('exec: answers', { timeout: 60000 }, () => {
  it('chat JSON: content and usage as Codex reports them', async () => {
    const r = await gw.client.chat.completions.create(user('hi'));
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, MODEL);
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, 'Hello from fake-codex.');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.prompt_tokens, 21);
    assert.equal(r.usage.completion_tokens, 9);
    assert.equal(r.usage.total_tokens, 30);
    assert.equal(r.usage.prompt_tokens_details.cached_tokens, 5);
    const u = await gw.client.chat.completions.create(user('fake:usage=1000,600,250,200'));
    assert.deepEqual(
      [u.usage.prompt_tokens, u.usage.prompt_tokens_details.cached_tokens, u.usage.completion_tokens,
        u.usage.completion_tokens_details.reasoning_tokens, u.usage.total_tokens],
      [1000, 600, 250, 200, 1250],
    );
  });

  it('chat stream: role chunk first, content, stop, the usage chunk, [DONE]', async () => {
    const stream = await gw.client.chat.completions.create(user('hi', { stream: true, stream_options: { include_usage: true } }));
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content || '').join(''), 'Hello from fake-codex.');
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.equal(finish.length, 1);
    assert.equal(finish[0].choices[0].finish_reason, 'stop');
    const usage = chunks.filter((c) => c.usage);
    assert.equal(usage.length, 1);
    assert.deepEqual(usage[0].choices, []);
    assert.deepEqual([usage[0].usage.prompt_tokens, usage[0].usage.completion_tokens], [21, 9]);
    assert.equal(chunks[chunks.length - 1], usage[0]);
    const raw = await chat(gw, user('hi', { stream: true }));
    const frames = sseFrames(raw.text);
    assert.equal(frames[frames.length - 1].data, '[DONE]');
    assert.equal(streamContent(frames)[0], 'Hello from fake-codex.');
    const pieces = frames.map((f) => f.data?.choices?.[0]?.delta?.content).filter(Boolean);
    assert.deepEqual(pieces, ['Hello from fake-codex.'], 'exec delivers the message whole');
  });

  it('each agent message arrives whole, and several join into one answer', async () => {
    const r = await chat(gw, user('fake:messages=3', { stream: true }));
    const frames = sseFrames(r.text);
    const deltas = frames.filter((f) => f.data?.choices?.[0]?.delta?.content).map((f) => f.data.choices[0].delta.content);
    const all = deltas.join('');
    const at = ['m1', 'm2', 'm3'].map((m) => all.indexOf(m));
    assert.ok(at.every((i) => i >= 0) && at[0] < at[1] && at[1] < at[2], `all three, in order: ${JSON.stringify(deltas)}`);
    for (const m of ['m1', 'm2', 'm3']) assert.ok(deltas.some((d) => d.includes(m)), `${m} arrives in one piece`);
  });

  it('a stop sequence cuts the text and still counts the usage', async () => {
    const r = await gw.client.chat.completions.create(user('fake:usage=30,2,12', { stop: [' fake'] }));
    assert.equal(r.choices[0].message.content, 'Hello from');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.prompt_tokens, 30);
    assert.equal(r.usage.completion_tokens, 12);
  });

  it('/v1/completions answers text', async () => {
    const r = await gw.client.completions.create({ model: MODEL, prompt: 'hi' });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0].text, 'Hello from fake-codex.');
    assert.equal(r.usage.prompt_tokens, 21);
  });

  it('/v1/responses JSON and stream', async () => {
    const r = await gw.client.responses.create({ model: MODEL, input: 'hi' });
    assert.equal(r.status, 'completed');
    assert.equal(outputText(r), 'Hello from fake-codex.');
    assert.equal(r.usage.input_tokens, 21);
    assert.equal(r.usage.output_tokens, 9);
    assert.equal(r.usage.input_tokens_details.cached_tokens, 5);
    const s = await postResponse(gw, { model: MODEL, input: 'hi', stream: true });
    assert.equal(s.status, 200);
    const events = assertResponseStream(assert, s.text);
    const done = events[events.length - 1];
    assert.equal(done.event, 'response.completed');
    assert.equal(outputText(done.data.response), 'Hello from fake-codex.');
    const deltas = events.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta).join('');
    assert.equal(deltas, 'Hello from fake-codex.');
  });

  it('n=2 starts two processes and answers two choices', async () => {
    const before = started(gw.fakeLog);
    const r = await gw.client.chat.completions.create(user('hi', { n: 2 }));
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
    for (const c of r.choices) assert.equal(c.message.content, 'Hello from fake-codex.');
    assert.equal(r.usage.prompt_tokens, 42);
    assert.equal(started(gw.fakeLog), before + 2);
  });
});

describe('exec: refused before any process starts', { timeout: 60000 }, () => {
  const cases = [
    ['tools', user('hi', { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }] }), 'tools'],
    ['json_schema', user('hi', { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } } }), undefined],
    ['an image part', {
      model: MODEL,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }],
    }, undefined],
  ];
  for (const [what, body, param] of cases) {
    it(`${what}: 400 unsupported_parameter naming PROXY_BACKEND=app-server`, async () => {
      const before = started(gw.fakeLog);
      const r = await chat(gw, body);
      assert.equal(r.status, 400, r.text);
      assertOpenAIError(assert, r.json, { code: 'unsupported_parameter', ...(param ? { param } : {}) });
      assert.match(r.json.error.message, /PROXY_BACKEND=app-server/);
      assert.equal(started(gw.fakeLog), before, 'no process started');
    });
  }
});

describe('exec: errors', { timeout: 60000 }, () => {
  it('maps Codex failures to OpenAI errors', async () => {
    const ctx = await chat(gw, user('fake:error=context'));
    assert.equal(ctx.status, 400, ctx.text);
    assertOpenAIError(assert, ctx.json, { code: 'context_length_exceeded' });
    const quota = await chat(gw, user('fake:error=usage'));
    assert.equal(quota.status, 429, quota.text);
    assertOpenAIError(assert, quota.json, { code: 'insufficient_quota' });
    const failedBefore = (await backendHealth(gw)).processes.failed;
    const crash = await chat(gw, user('fake:crash'));
    assert.equal(crash.status, 502, crash.text);
    await waitFor(async () => (await backendHealth(gw)).processes.failed > failedBefore, 10000, 'processes.failed counts the crash');
    assert.ok(metric(await metricsText(gw), 'codex_gateway_processes_failed_total') > failedBefore);
    assertOpenAIError(assert, crash.json, { code: 'backend_error' });
    assert.match(crash.json.error.message, /status 1\b/);
  });

  const STREAM_ERRORS = [['fake:error=context', 400, 'context_length_exceeded'], ['fake:error=usage', 429, 'insufficient_quota'], ['fake:crash', 502, 'backend_error']];

  it('a stream opens at once: the role chunk, then the error in-band, then [DONE]', async () => {
    for (const [marker, , code] of STREAM_ERRORS) {
      const r = await chat(gw, user(marker, { stream: true }));
      assert.equal(r.status, 200, `${marker}: ${r.text}`);
      const frames = sseFrames(r.text).filter((f) => f.data);
      assert.equal(frames[0].data.choices[0].delta.role, 'assistant', `${marker}: role chunk first`);
      const err = frames.find((f) => f.data.error);
      assert.ok(err, `${marker}: an error frame in ${r.text.slice(0, 400)}`);
      assertOpenAIError(assert, err.data, { code });
      assert.equal(frames[frames.length - 1].data, '[DONE]', marker);
    }
  });

  it('the role chunk comes while the process is still working on its answer', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(user('fake:slow=1500', { stream: true })),
      signal: AbortSignal.timeout(20000),
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /"role":"assistant"/);
    assert.doesNotMatch(first, /Hello from fake-codex/);
    assert.equal((await backendHealth(gw)).processes.running, 1, 'its process still runs');
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    assert.match(rest, /Hello from fake-codex\./);
    assert.match(rest, /data: \[DONE\]/);
  });

  it('once a keepalive has gone out the same errors arrive in-band, then [DONE]', async () => {
    await withExec({ PROXY_SSE_KEEPALIVE_MS: '50', FAKE_CODEX_STARTUP_DELAY_MS: '400' }, async (g) => {
      for (const [marker, , code] of STREAM_ERRORS) {
        const r = await chat(g, user(marker, { stream: true }));
        assert.equal(r.status, 200, `${marker}: ${r.text}`);
        const frames = sseFrames(r.text);
        assert.ok(frames.some((f) => f.comment === 'keepalive'), 'a keepalive went out first');
        const err = frames.find((f) => f.data && f.data.error);
        assert.ok(err, `${marker}: an error frame in ${r.text.slice(0, 400)}`);
        assertOpenAIError(assert, err.data, { code });
        assert.equal(frames[frames.length - 1].data, '[DONE]', marker);
      }
    });
  });

  it('a retry notice is not an error', async () => {
    const r = await gw.client.chat.completions.create(user('fake:retry'));
    assert.equal(r.choices[0].message.content, 'Hello after retry.');
  });
});

describe('exec: timeouts, disconnects and shutdown', { timeout: 60000 }, () => {
  it('PROXY_TIMEOUT_MS: 504 and the process is gone, even one that ignores SIGTERM, and its child', async () => {
    await withExec({ PROXY_TIMEOUT_MS: '1000', WORKER_SHUTDOWN_GRACE_MS: '300' }, async (g) => {
      for (const marker of ['fake:hang', 'fake:hang=stubborn', 'fake:family']) {
        const r = await chat(g, user(marker));
        assert.equal(r.status, 504, `${marker}: ${r.text}`);
        const pid = fakeStarts(g.fakeLog).pop().pid;
        await waitGone([pid]);
        if (marker === 'fake:family') {
          const kids = fakeChildren(g.fakeLog);
          assert.equal(kids.length, 1, 'the fake logged its child');
          await waitGone(kids);
        }
      }
      await waitFor(async () => (await backendHealth(g)).processes.running === 0, 10000, 'running 0');
      const h = await backendHealth(g);
      assert.ok(h.processes.killed >= 3, `killed ${h.processes.killed}`);
      assert.ok(metric(await metricsText(g), 'codex_gateway_processes_killed_total') >= 3);
      assert.deepEqual(childrenOf(g.pid), []);
    });
  });

  it('a client that goes away mid-stream: the process is gone, no child left', async () => {
    await withExec({ WORKER_SHUTDOWN_GRACE_MS: '300' }, async (g) => {
      for (const marker of ['fake:hang', 'fake:slow=30000']) {
        const n = started(g.fakeLog);
        const s = launchStream(g, '/v1/chat/completions', user(marker, { stream: true }));
        await waitFor(() => started(g.fakeLog) === n + 1, 10000, `${marker} started`);
        const pid = fakeStarts(g.fakeLog).pop().pid;
        assert.equal(pidGone(pid), false, 'running while the client waits');
        s.abort();
        assert.equal(await s.result, '', 'the client went away');
        await waitGone([pid]);
        await waitFor(async () => (await backendHealth(g)).processes.running === 0, 10000, 'running 0');
        assert.deepEqual(childrenOf(g.pid), [], 'no child of the gateway left');
      }
    });
  });

  it('SIGTERM during a running stream: clean exit, no process left', async () => {
    const g = await startProcs('exec', { WORKER_SHUTDOWN_GRACE_MS: '300', PROXY_SHUTDOWN_GRACE_MS: '2000' });
    try {
      const s = launchStream(g, '/v1/chat/completions', user('fake:hang', { stream: true }));
      await waitFor(() => started(g.fakeLog) === 1, 10000, 'started');
      const pid = fakeStarts(g.fakeLog)[0].pid;
      const r = await stopClean(assert, g);
      assert.equal(r.timedOut, undefined, 'exited within its grace');
      await s.result;
      assert.equal(pidGone(pid), true, 'the gateway exited after its Codex process');
    } finally {
      g.cleanup();
    }
  });
});

describe('exec: the process cap and the queue', { timeout: 60000 }, () => {
  it('100 concurrent requests over 8 processes: all answered, never more than 8 running', async () => {
    await withExec({ PROXY_MAX_CONCURRENT_PROCESSES: '8', PROXY_QUEUE_MAX: '200' }, async (g) => {
      let done = false;
      let peak = 0;
      let polls = 0;
      const poller = (async () => {
        while (!done) {
          const v = metric(await metricsText(g), 'codex_gateway_processes_running');
          peak = Math.max(peak, v);
          polls++;
        }
      })();
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => chat(g, user(`fake:slow=50 #${i}`))));
      done = true;
      await poller;
      for (const r of results) {
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.choices[0].message.content, 'Hello from fake-codex.');
      }
      assert.ok(polls > 0);
      assert.ok(peak <= 8, `running peaked at ${peak}`);
      assert.ok(peak >= 1, 'the poll saw processes running');
      assert.equal(started(g.fakeLog), 100);
      await waitFor(async () => metric(await metricsText(g), 'codex_gateway_processes_running') === 0, 10000, 'running 0');
      assert.equal(metric(await metricsText(g), 'codex_gateway_processes_started_total'), 100);
    });
  });

  it('a stream that waited out the queue gets 429 as its status: it opens only when its process starts', async () => {
    await withExec({ PROXY_MAX_CONCURRENT_PROCESSES: '1', PROXY_QUEUE_TIMEOUT_MS: '300', WORKER_SHUTDOWN_GRACE_MS: '300' }, async (g) => {
      const s = launchStream(g, '/v1/chat/completions', user('fake:hang', { stream: true }));
      await waitFor(() => started(g.fakeLog) === 1, 10000, 'first running');
      const r = await chat(g, user('hi', { stream: true }));
      assert.equal(r.status, 429, r.text);
      assertOpenAIError(assert, r.json, { code: 'server_busy' });
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      assert.equal((await backendHealth(g)).processes.queue_timeouts, 1);
      s.abort();
      await s.result;
      await waitGone([fakeStarts(g.fakeLog)[0].pid]);
    });
  });

  it('queue full: 429 server_busy with Retry-After', async () => {
    await withExec({ PROXY_MAX_CONCURRENT_PROCESSES: '1', PROXY_QUEUE_MAX: '0', WORKER_SHUTDOWN_GRACE_MS: '300' }, async (g) => {
      const s = launchStream(g, '/v1/chat/completions', user('fake:hang', { stream: true }));
      await waitFor(() => started(g.fakeLog) === 1, 10000, 'first running');
      const r = await chat(g, user('hi'));
      assert.equal(r.status, 429, r.text);
      assertOpenAIError(assert, r.json, { code: 'server_busy' });
      assert.ok(Number(r.headers.get('retry-after')) >= 1, `Retry-After ${r.headers.get('retry-after')}`);
      assert.equal(started(g.fakeLog), 1, 'the refused request started nothing');
      assert.equal((await backendHealth(g)).processes.rejected, 1);
      s.abort();
      await s.result;
      await waitGone([fakeStarts(g.fakeLog)[0].pid]);
    });
  });
});
