// The exec backend with the real pinned Codex CLI (`codex exec --json`, one process per
// request) against the mock model: text and real usage in JSON and in a stream, a conversation
// rendered into the prompt, the settings reaching Codex, an upstream failure, a client that
// leaves (its process is gone), and a few requests at once under the process cap.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { assertOpenAIError, request, waitFor } from '../lib/gateway.mjs';
import { MODEL_TEXT, USAGE } from './mock-model.mjs';
import { expectedUsage, health, itemText, rawChatStream, startCodexGateway, streamedText, usageOf } from './codex.mjs';

/** The pids of the gateway's children, from /proc (no ps needed). */
function childrenOf(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const postJson = (gw, p, body) =>
  request(gw, p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('the exec backend with the real Codex CLI', { timeout: 180000 }, () => {
  let env;
  before(async () => {
    env = await startCodexGateway({
      env: { PROXY_BACKEND: 'exec', PROXY_MAX_CONCURRENT_PROCESSES: '2', WORKER_SHUTDOWN_GRACE_MS: '1000' },
    });
  });
  after(async () => {
    if (env) await env.close(assert);
  });

  it('says in /healthz which backend runs and why', async () => {
    const h = await health(env.gw);
    assert.equal(h.backend.kind, 'exec');
    assert.equal(h.backend.kind_reason, 'PROXY_BACKEND');
    assert.equal(h.backend.processes.max, 2);
    assert.equal((await request(env.gw, '/readyz')).status, 200);
  });

  it('answers a chat request with the model text and the usage Codex reported', async () => {
    const r = await env.client.chat.completions.create({
      model: 'codex-5',
      messages: [{ role: 'user', content: 'Say hello.' }],
    });
    assert.equal(r.choices[0].message.content, MODEL_TEXT);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual(usageOf(r.usage), expectedUsage(USAGE.text));
    // What reached the model: the user text, as the prompt.
    const last = env.mock.responsesRequests().at(-1);
    const user = last.body.input.filter((it) => it.role === 'user').map(itemText);
    assert.ok(user.some((t) => t.includes('Say hello.')), JSON.stringify(user));
  });

  it('streams: role chunk first, the whole message, finish, usage, [DONE]', async () => {
    const r = await rawChatStream(env.gw, {
      model: 'codex-5',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Stream please.' }],
    });
    assert.equal(r.status, 200);
    assert.equal(r.frames.at(-1), '[DONE]');
    const chunks = r.frames.slice(0, -1);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(streamedText(chunks), MODEL_TEXT);
    const fin = chunks.find((c) => c.choices?.[0]?.finish_reason);
    assert.equal(fin.choices[0].finish_reason, 'stop');
    assert.deepEqual(usageOf(chunks.at(-1).usage), expectedUsage(USAGE.text));
  });

  it('renders system text and earlier turns into the prompt', async () => {
    await env.client.chat.completions.create({
      model: 'codex-5',
      messages: [
        { role: 'system', content: 'SYS-e2e-exec: answer briefly.' },
        { role: 'user', content: 'first question e2e-exec-1' },
        { role: 'assistant', content: 'first answer e2e-exec-2' },
        { role: 'user', content: 'second question e2e-exec-3' },
      ],
    });
    const req = env.mock.responsesRequests().find((r) =>
      r.body.input.some((it) => it.role === 'user' && itemText(it).includes('e2e-exec-3')));
    assert.ok(req, 'the request reached the model');
    const prompt = req.body.input.filter((it) => it.role === 'user').map(itemText).join('\n');
    for (const part of ['SYS-e2e-exec', 'e2e-exec-1', 'e2e-exec-2', 'e2e-exec-3']) {
      assert.ok(prompt.includes(part), `${part} in ${prompt}`);
    }
    assert.ok(prompt.indexOf('e2e-exec-1') < prompt.indexOf('e2e-exec-3'), 'in order');
  });

  it('sends the reasoning effort to Codex', async () => {
    await env.client.chat.completions.create({
      model: 'codex-5',
      reasoning_effort: 'high',
      messages: [{ role: 'user', content: 'effort e2e-exec-effort' }],
    });
    const req = env.mock.responsesRequests().find((r) =>
      r.body.input.some((it) => it.role === 'user' && itemText(it).includes('e2e-exec-effort')));
    assert.equal(req.body.reasoning?.effort, 'high');
  });

  it('refuses client tools with a 400 that names the app-server backend', async () => {
    const r = await postJson(env.gw, '/v1/chat/completions', {
      model: 'codex-5',
      messages: [{ role: 'user', content: 'x' }],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    });
    assert.equal(r.status, 400);
    assertOpenAIError(assert, r.json, { code: 'unsupported_parameter', param: 'tools' });
    assert.match(r.json.error.message, /PROXY_BACKEND=app-server/);
  });

  it('maps an upstream failure to an OpenAI error', async () => {
    const r = await postJson(env.gw, '/v1/chat/completions', {
      model: 'codex-5',
      messages: [{ role: 'user', content: 'mock:error500' }],
    });
    assert.ok(r.status >= 500 && r.status < 600, `status ${r.status}: ${r.text}`);
    assert.ok(r.json?.error?.message, r.text);
  });

  it('answers /v1/responses', async () => {
    const r = await env.client.responses.create({ model: 'codex-5', input: 'Hello there' });
    assert.equal(r.status, 'completed');
    assert.equal(r.output_text, MODEL_TEXT);
    assert.equal(r.usage.input_tokens, USAGE.text.input_tokens);
  });

  it('kills the process of a client that leaves', async () => {
    const ac = new AbortController();
    const stream = await env.client.chat.completions.create({
      model: 'codex-5',
      stream: true,
      messages: [{ role: 'user', content: 'mock:slow' }],
    }, { signal: ac.signal });
    const it = stream[Symbol.asyncIterator]();
    await it.next(); // the role chunk: the run has begun
    await waitFor(async () => (await health(env.gw)).backend.processes.running === 1, 30000, 'a running process');
    const before = childrenOf(env.gw.pid);
    assert.ok(before.length >= 1, 'the Codex process is a child of the gateway');
    ac.abort();
    await waitFor(async () => (await health(env.gw)).backend.processes.running === 0, 30000, 'the process gone');
    for (const pid of before) {
      assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `pid ${pid} is gone`);
    }
    assert.deepEqual(childrenOf(env.gw.pid), []);
  });

  it('runs several requests at once, never more processes than the cap', async () => {
    let peak = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        peak = Math.max(peak, (await health(env.gw)).backend.processes.running);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const answers = await Promise.all([0, 1, 2, 3, 4].map((i) => env.client.chat.completions.create({
      model: 'codex-5',
      messages: [{ role: 'user', content: `parallel ${i}` }],
    })));
    polling = false;
    await poller;
    for (const a of answers) assert.equal(a.choices[0].message.content, MODEL_TEXT);
    assert.ok(peak <= 2, `peak ${peak}`);
  });
});
