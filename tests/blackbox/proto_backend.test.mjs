// The proto backend (PROXY_BACKEND=proto): one `codex proto` process per choice, one
// submission line each, against the fake's proto mode.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertOpenAIError, backendHealth, chat, request, sseFrames, stopClean, waitFor } from '../lib/gateway.mjs';
import { assertResponseStream, outputText, postResponse } from '../lib/responses.mjs';
import {
  childrenOf,
  fakeChildren,
  fakeStarts,
  metric,
  metricsText,
  launchStream,
  pidGone,
  startProcs,
  streamContent,
  waitGone,
  echoOf,
  user,
  withProcs,
} from '../lib/procs.mjs';

const MODEL = 'codex-5';
const started = (file) => fakeStarts(file).length;
const withProto = (env, fn) => withProcs(assert, 'proto', env, fn);

let gw;

before(async () => {
  gw = await startProcs('proto', { WORKER_SHUTDOWN_GRACE_MS: '300' });
});

after(async () => {
  await stopClean(assert, gw);
  gw.cleanup();
});

describe('proto: selection and the process', { timeout: 60000 }, () => {
  it('reports proto chosen by PROXY_BACKEND', async () => {
    assert.equal((await request(gw, '/readyz')).status, 200);
    const h = await backendHealth(gw);
    assert.equal(h.kind, 'proto');
    assert.equal(h.kind_reason, 'PROXY_BACKEND');
    assert.equal(typeof h.processes.running, 'number');
    assert.equal(metric(await metricsText(gw), 'codex_gateway_backend_info', '{kind="proto",reason="PROXY_BACKEND"}'), 1);
    assert.deepEqual(gw.logs.find((l) => l.event === 'start').backend, { kind: 'proto', reason: 'PROXY_BACKEND' });
  });

  it('runs proto with the model override and sends one user_input submission', async () => {
    const before = started(gw.fakeLog);
    const r = await gw.client.chat.completions.create({ model: 'codex-5-low', messages: [{ role: 'user', content: 'fake:echo héllo' }] });
    const echo = echoOf(r);
    const starts = fakeStarts(gw.fakeLog);
    assert.equal(starts.length, before + 1);
    const args = starts[starts.length - 1].argv.slice(1);
    assert.equal(args[0], 'proto');
    assert.ok(!args.includes('exec') && !args.includes('--json'), `no exec flags: ${args}`);
    const overrides = args.filter((_, i) => args[i - 1] === '-c');
    assert.ok(overrides.includes('model="gpt-5.5"'), `model: ${overrides}`);
    assert.ok(overrides.includes('model_reasoning_effort="low"'), `effort: ${overrides}`);
    assert.deepEqual(echo.argv, args.slice(1));
    assert.equal(echo.submission.op.type, 'user_input');
    assert.equal(typeof echo.submission.id, 'string');
    const texts = echo.submission.op.items.filter((i) => i.type === 'text').map((i) => i.text);
    assert.deepEqual(texts, ['fake:echo héllo'], 'a lone user message is the text');
    assert.equal(echo.cwd, gw.work);
    assert.equal(echo.codex_home, gw.home);
  });
});

describe('proto: answers', { timeout: 60000 }, () => {
  it('chat JSON: content and usage (nested token_count)', async () => {
    const r = await gw.client.chat.completions.create(user('hi'));
    assert.equal(r.choices[0].message.content, 'Hello from fake-codex.');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual([r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens], [21, 9, 30]);
    assert.equal(r.usage.prompt_tokens_details.cached_tokens, 5);
    const u = await gw.client.chat.completions.create(user('fake:usage=1000,600,250,200'));
    assert.deepEqual([u.usage.prompt_tokens, u.usage.prompt_tokens_details.cached_tokens, u.usage.completion_tokens,
      u.usage.completion_tokens_details.reasoning_tokens], [1000, 600, 250, 200]);
  });

  it('streams deltas as they come: several content chunks, stop, usage, [DONE]', async () => {
    const stream = await gw.client.chat.completions.create(user('hi', { stream: true, stream_options: { include_usage: true } }));
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const contents = chunks.map((c) => c.choices[0]?.delta?.content).filter(Boolean);
    assert.ok(contents.length >= 4, `several deltas: ${JSON.stringify(contents)}`);
    assert.equal(contents.join(''), 'Hello from fake-codex.');
    assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason === 'stop').length, 1);
    const usage = chunks.filter((c) => c.usage);
    assert.equal(usage.length, 1);
    assert.equal(usage[0].usage.total_tokens, 30);
    const raw = await chat(gw, user('fake:slow=5,6', { stream: true }));
    const frames = sseFrames(raw.text);
    assert.equal(frames[frames.length - 1].data, '[DONE]');
    assert.equal(streamContent(frames)[0], 's0 s1 s2 s3 s4 s5 ');
  });

  it('several agent messages: each once, joined by a blank line', async () => {
    const r = await gw.client.chat.completions.create(user('fake:messages=2'));
    assert.deepEqual(r.choices[0].message.content.split('\n\n'), ['m1', 'm2']);
    const s = await chat(gw, user('fake:messages=2', { stream: true }));
    assert.deepEqual(streamContent(sseFrames(s.text))[0].split('\n\n'), ['m1', 'm2']);
  });

  it('/v1/completions, /v1/responses JSON and stream, n=2', async () => {
    const c = await gw.client.completions.create({ model: MODEL, prompt: 'hi' });
    assert.equal(c.choices[0].text, 'Hello from fake-codex.');
    const r = await gw.client.responses.create({ model: MODEL, input: 'hi' });
    assert.equal(outputText(r), 'Hello from fake-codex.');
    assert.equal(r.usage.input_tokens, 21);
    const s = await postResponse(gw, { model: MODEL, input: 'hi', stream: true });
    const events = assertResponseStream(assert, s.text);
    assert.equal(events[events.length - 1].event, 'response.completed');
    assert.ok(events.filter((e) => e.event === 'response.output_text.delta').length >= 4, 'deltas pass through');
    const before = started(gw.fakeLog);
    const n2 = await gw.client.chat.completions.create(user('hi', { n: 2 }));
    assert.deepEqual(n2.choices.map((x) => x.message.content), ['Hello from fake-codex.', 'Hello from fake-codex.']);
    assert.equal(started(gw.fakeLog), before + 2);
  });

  for (const [shape, want] of [['flat', [21, 9, 5]], ['legacy', [21, 9, null]]]) {
    it(`usage from a ${shape} token_count`, async () => {
      await withProto({ FAKE_CODEX_PROTO_USAGE: shape }, async (g) => {
        const r = await g.client.chat.completions.create(user('hi'));
        assert.equal(r.choices[0].message.content, 'Hello from fake-codex.');
        assert.equal(r.usage.prompt_tokens, want[0], JSON.stringify(r.usage));
        assert.equal(r.usage.completion_tokens, want[1], JSON.stringify(r.usage));
        assert.equal(r.usage.total_tokens, want[0] + want[1]);
        if (want[2] !== null) assert.equal(r.usage.prompt_tokens_details.cached_tokens, want[2]);
      });
    });
  }

  it('refuses client tools before any process starts', async () => {
    const before = started(gw.fakeLog);
    const r = await chat(gw, user('hi', { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }] }));
    assert.equal(r.status, 400, r.text);
    assertOpenAIError(assert, r.json, { code: 'unsupported_parameter', param: 'tools' });
    assert.match(r.json.error.message, /PROXY_BACKEND=app-server/);
    assert.equal(started(gw.fakeLog), before);
  });
});

describe('proto: errors, disconnects, timeouts', { timeout: 60000 }, () => {
  it('maps failures to OpenAI errors', async () => {
    for (const [marker, status, code] of [
      ['fake:error=context', 400, 'context_length_exceeded'],
      ['fake:error=usage', 429, 'insufficient_quota'],
      ['fake:crash', 502, 'backend_error'],
    ]) {
      const r = await chat(gw, user(marker));
      assert.equal(r.status, status, `${marker}: ${r.text}`);
      assertOpenAIError(assert, r.json, { code });
    }
    const crash = await chat(gw, user('fake:crash'));
    assert.match(crash.json.error.message, /status 1\b/);
  });

  it('an error after streamed content arrives in-band, then [DONE]', async () => {
    for (const [marker, code] of [['fake:error=context', 'context_length_exceeded'], ['fake:error=usage', 'insufficient_quota']]) {
      const s = await chat(gw, user(marker, { stream: true }));
      assert.equal(s.status, 200, `${marker}: ${s.text}`);
      const frames = sseFrames(s.text);
      assert.equal(streamContent(frames)[0], 'partial ', 'the delta before the error arrived');
      const err = frames.find((f) => f.data && f.data.error);
      assert.ok(err, `${marker}: an error frame in ${s.text.slice(0, 400)}`);
      assertOpenAIError(assert, err.data, { code });
      assert.equal(frames[frames.length - 1].data, '[DONE]');
    }
  });

  it('a crash once a keepalive has gone out arrives in-band too', async () => {
    await withProto({ PROXY_SSE_KEEPALIVE_MS: '50', FAKE_CODEX_STARTUP_DELAY_MS: '400' }, async (g) => {
      const s = await chat(g, user('fake:crash', { stream: true }));
      assert.equal(s.status, 200, s.text);
      const frames = sseFrames(s.text);
      assertOpenAIError(assert, frames.find((f) => f.data && f.data.error)?.data, { code: 'backend_error' });
      assert.equal(frames[frames.length - 1].data, '[DONE]');
    });
  });

  it('a client that goes away mid-stream: the process is gone', async () => {
    for (const marker of ['fake:hang', 'fake:slow=200,100']) {
      const n = started(gw.fakeLog);
      const s = launchStream(gw, '/v1/chat/completions', user(marker, { stream: true }));
      await waitFor(() => started(gw.fakeLog) === n + 1, 10000, `${marker} started`);
      const pid = fakeStarts(gw.fakeLog).pop().pid;
      assert.equal(pidGone(pid), false);
      s.abort();
      assert.equal(await s.result, '');
      await waitGone([pid]);
      await waitFor(async () => (await backendHealth(gw)).processes.running === 0, 10000, 'running 0');
      assert.deepEqual(childrenOf(gw.pid), []);
    }
  });

  it('PROXY_TIMEOUT_MS: 504 and the process and its child are gone', async () => {
    await withProto({ PROXY_TIMEOUT_MS: '1000', WORKER_SHUTDOWN_GRACE_MS: '300' }, async (g) => {
      for (const marker of ['fake:hang=stubborn', 'fake:family']) {
        const r = await chat(g, user(marker));
        assert.equal(r.status, 504, `${marker}: ${r.text}`);
        await waitGone([fakeStarts(g.fakeLog).pop().pid]);
      }
      const kids = fakeChildren(g.fakeLog);
      assert.equal(kids.length, 1);
      await waitGone(kids);
      await waitFor(async () => (await backendHealth(g)).processes.running === 0, 10000, 'running 0');
      assert.deepEqual(childrenOf(g.pid), []);
    });
  });
});
