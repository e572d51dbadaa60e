// Chat completions through the real `codex app-server` (pinned CLI) against the mock model:
// text, usage, the request Codex sends upstream, tool-call round trips (single and parallel),
// history replay, n=2, upstream failures, client disconnect, reasoning effort and structured
// output. One gateway and one worker for the whole file; the last test checks that nothing but
// POST /v1/responses reached the upstream, once per turn.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertOpenAIError, request, waitFor } from '../lib/gateway.mjs';
import {
  AFTER_TOOL_PREFIX,
  JSON_TEXT,
  MODEL_TEXT,
  REASONING_SUMMARY,
  TOOL_ARGS,
  USAGE,
} from './mock-model.mjs';
import {
  MODEL,
  SYSTEM_PROMPT,
  WEATHER_TOOL,
  expectedUsage,
  health,
  itemText,
  rawChatStream,
  startCodexGateway,
  upstreamFor,
  usageOf,
  workerSocketPeers,
} from './codex.mjs';

const WEATHER_OUTPUT = '{"temperature_c":21,"sky":"clear"}';

describe('chat completions through the real Codex', { timeout: 120000 }, () => {
  let env;
  let client;
  let mock;
  let turns = 0; // chat requests that reach the model, for the upstream count check
  before(async () => {
    env = await startCodexGateway();
    client = env.client;
    mock = env.mock;
  });
  after(async () => {
    if (env) await env.close(assert);
  });

  it('streams the mock text with a role chunk first, finish_reason stop and real usage', async () => {
    turns++;
    const stream = await client.chat.completions.create({
      model: 'codex-5',
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
        { role: 'user', content: 'Say hello. mock:text #stream' },
      ],
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.ok(chunks.length >= 3, `chunks: ${JSON.stringify(chunks)}`);
    const ids = new Set(chunks.map((c) => c.id));
    assert.equal(ids.size, 1, 'one id on every chunk');
    assert.deepEqual(new Set(chunks.map((c) => c.model)), new Set(['codex-5']));
    for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');

    const [first] = chunks;
    assert.equal(first.choices.length, 1);
    assert.equal(first.choices[0].delta.role, 'assistant', 'role chunk first');
    assert.equal(first.choices[0].finish_reason, null);

    const withChoices = chunks.filter((c) => c.choices.length > 0);
    const text = withChoices.map((c) => c.choices[0].delta.content ?? '').join('');
    assert.equal(text, MODEL_TEXT);
    const finals = withChoices.filter((c) => c.choices[0].finish_reason !== null);
    assert.equal(finals.length, 1, 'one chunk carries the finish reason');
    assert.equal(finals[0].choices[0].finish_reason, 'stop');
    assert.equal(withChoices.at(-1), finals[0], 'the finish reason comes last among the choice chunks');

    const usageChunks = chunks.filter((c) => c.usage);
    assert.equal(usageChunks.length, 1);
    const u = usageChunks[0];
    assert.equal(u, chunks.at(-1), 'the usage chunk comes last');
    assert.deepEqual(u.choices, []);
    assert.deepEqual(usageOf(u.usage), expectedUsage(USAGE.text));
  });

  it('answers non-stream with the same text and usage', async () => {
    turns++;
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
        { role: 'user', content: 'Say hello. mock:text #nonstream' },
      ],
    });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, MODEL);
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, MODEL_TEXT);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual(usageOf(r.usage), expectedUsage(USAGE.text));
  });

  it('reports reasoning tokens from the upstream usage', async () => {
    turns++;
    const r = await client.chat.completions.create({
      model: 'codex-5',
      messages: [{ role: 'user', content: 'Think first. mock:reasoning #reasoning' }],
    });
    assert.equal(r.choices[0].message.content, MODEL_TEXT);
    assert.ok(!r.choices[0].message.content.includes(REASONING_SUMMARY), 'no reasoning in the answer');
    assert.deepEqual(usageOf(r.usage), expectedUsage(USAGE.reasoning));
    assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 5);
  });

  it('sends upstream only the client system prompt, the client tools and the conversation', async () => {
    turns += 2;
    await client.chat.completions.create({
      model: 'codex-5',
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
        { role: 'user', content: 'Plain. mock:text #pure-notools' },
      ],
    });
    await client.chat.completions.create({
      model: 'codex-5',
      tools: [WEATHER_TOOL],
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
        { role: 'user', content: 'Tools offered, none called. mock:text #pure-tools' },
      ],
    });

    for (const [marker, toolNames] of [['#pure-notools', []], ['#pure-tools', ['fn_get_weather']]]) {
      const rec = upstreamFor(mock, marker);
      const body = rec.body;
      assert.equal(body.model, MODEL);
      assert.equal(body.stream, true);
      const tools = body.tools ?? [];
      assert.deepEqual(tools.map((t) => t.name), toolNames, `${marker}: tools ${JSON.stringify(tools)}`);
      if (toolNames.length) {
        assert.equal(tools[0].type, 'function');
        assert.deepEqual(tools[0].parameters, WEATHER_TOOL.function.parameters);
        assert.equal(tools[0].description, WEATHER_TOOL.function.description);
      }

      // The input is exactly [developer: system prompt, user: the message].
      assert.equal(body.input.length, 2, `${marker}: input ${JSON.stringify(body.input)}`);
      const [dev, user] = body.input;
      assert.equal(dev.type, 'message');
      assert.equal(dev.role, 'developer');
      assert.equal(itemText(dev), SYSTEM_PROMPT);
      assert.equal(user.role, 'user');
      assert.ok(itemText(user).endsWith(marker));

      // No Codex base prompt, no environment context, no permissions/skills/AGENTS.md text.
      const everything = JSON.stringify({ instructions: body.instructions, input: body.input });
      for (const bad of ['<environment_context>', '<permissions', 'sandbox_mode', 'AGENTS.md', '<skills',
        'You are Codex', 'apply_patch']) {
        assert.ok(!everything.includes(bad), `${marker}: upstream request mentions ${bad}`);
      }
      assert.ok(body.instructions === undefined || body.instructions === '' || body.instructions === SYSTEM_PROMPT,
        `${marker}: instructions ${JSON.stringify(body.instructions)}`);
      // No key is configured for the mock provider, so none may be sent.
      assert.equal(rec.headers.authorization, undefined);
    }
  });

  it('returns a streamed tool call and finishes the round trip with the tool result', async () => {
    turns += 2;
    const messages = [
      { role: 'system', content: SYSTEM_PROMPT },
      { role: 'user', content: 'What is the weather in Paris? mock:tool #tool-stream' },
    ];
    const runner = client.chat.completions.stream({ model: 'codex-5', tools: [WEATHER_TOOL], messages });
    const chunks = [];
    runner.on('chunk', (c) => chunks.push(c));
    const done = await runner.finalChatCompletion();
    assert.equal(done.choices[0].finish_reason, 'tool_calls');
    const calls = done.choices[0].message.tool_calls;
    assert.equal(calls.length, 1);
    assert.equal(calls[0].type, 'function');
    assert.equal(calls[0].function.name, 'get_weather', 'the client name, without the private prefix');
    assert.deepEqual(JSON.parse(calls[0].function.arguments), TOOL_ARGS[0]);
    assert.equal(typeof calls[0].id, 'string');
    assert.ok(calls[0].id.length > 0);
    // Raw chunk shape: index on every tool-call delta, id/type/name on the first one of an index.
    const deltas = chunks.flatMap((c) => c.choices.flatMap((ch) => ch.delta?.tool_calls ?? []));
    assert.ok(deltas.length >= 1);
    for (const d of deltas) assert.equal(d.index, 0);
    assert.equal(deltas[0].id, calls[0].id);
    assert.equal(deltas[0].type, 'function');
    assert.equal(deltas[0].function.name, 'get_weather');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');

    const up = upstreamFor(mock, '#tool-stream').body;
    assert.deepEqual(up.tools.map((t) => t.name), ['fn_get_weather']);

    // The follow-up carries the assistant tool_calls message and the tool result.
    const follow = await client.chat.completions.create({
      model: 'codex-5',
      tools: [WEATHER_TOOL],
      messages: [
        ...messages,
        { role: 'assistant', content: null, tool_calls: calls.map(({ id, type, function: f }) => ({ id, type, function: f })) },
        { role: 'tool', tool_call_id: calls[0].id, content: WEATHER_OUTPUT },
      ],
    });
    assert.equal(follow.choices[0].finish_reason, 'stop');
    assert.equal(follow.choices[0].message.content, AFTER_TOOL_PREFIX + WEATHER_OUTPUT);
    assert.deepEqual(usageOf(follow.usage), expectedUsage(USAGE.after_tool));

    // Upstream: the replayed conversation ends with the call and its output, in order.
    const replays = mock.responsesRequests().filter((r) => r.scenario === 'after_tool' &&
      r.body.input.some((it) => it.role === 'user' && itemText(it).includes('#tool-stream')));
    assert.equal(replays.length, 1);
    const input = replays[0].body.input;
    const types = input.map((it) => it.type ?? 'message');
    const fc = types.indexOf('function_call');
    const fco = types.indexOf('function_call_output');
    assert.ok(fc > 0 && fco === fc + 1, `input item types ${JSON.stringify(types)}`);
    assert.equal(fco, input.length - 1, 'the tool output is the last item');
    assert.equal(input[fc].name, 'fn_get_weather');
    assert.equal(input[fc].call_id, calls[0].id);
    assert.deepEqual(JSON.parse(input[fc].arguments), TOOL_ARGS[0]);
    assert.equal(input[fco].call_id, calls[0].id);
    const out = input[fco].output;
    assert.equal(typeof out === 'string' ? out : itemText({ content: out }), WEATHER_OUTPUT);
    assert.equal(input[0].role, 'developer');
    assert.equal(itemText(input[0]), SYSTEM_PROMPT);
  });

  it('returns a non-stream tool call and continues from the tool result', async () => {
    turns += 2;
    const messages = [{ role: 'user', content: 'Weather in Paris? mock:tool #tool-nonstream' }];
    const r = await client.chat.completions.create({ model: 'codex-5', tools: [WEATHER_TOOL], messages });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    const msg = r.choices[0].message;
    assert.equal(msg.tool_calls.length, 1);
    assert.equal(msg.tool_calls[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(msg.tool_calls[0].function.arguments), TOOL_ARGS[0]);
    assert.deepEqual(usageOf(r.usage), expectedUsage(USAGE.tool));

    const follow = await client.chat.completions.create({
      model: 'codex-5',
      tools: [WEATHER_TOOL],
      messages: [...messages, msg, { role: 'tool', tool_call_id: msg.tool_calls[0].id, content: 'sunny' }],
    });
    assert.equal(follow.choices[0].message.content, `${AFTER_TOOL_PREFIX}sunny`);
    assert.equal(follow.choices[0].finish_reason, 'stop');
  });

  it('streams parallel tool calls with one index each and replays both results', async () => {
    turns += 2;
    const messages = [{ role: 'user', content: 'Paris and Tokyo? mock:tool2 #tool2' }];
    const r = await rawChatStream(env.gw, { model: 'codex-5', stream: true, tools: [WEATHER_TOOL], messages });
    assert.equal(r.status, 200);
    assert.equal(r.frames.at(-1), '[DONE]');
    const chunks = r.frames.slice(0, -1);
    const deltas = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
    const byIndex = new Map();
    for (const d of deltas) {
      assert.ok(Number.isInteger(d.index), `index on every delta: ${JSON.stringify(d)}`);
      if (!byIndex.has(d.index)) {
        assert.equal(typeof d.id, 'string', 'id in the first delta of an index');
        assert.equal(d.type, 'function');
        assert.equal(d.function.name, 'get_weather');
        byIndex.set(d.index, { id: d.id, args: '' });
      }
      byIndex.get(d.index).args += d.function?.arguments ?? '';
    }
    assert.deepEqual([...byIndex.keys()], [0, 1]);
    const calls = [...byIndex.values()];
    assert.deepEqual(calls.map((c) => JSON.parse(c.args)), TOOL_ARGS);
    assert.notEqual(calls[0].id, calls[1].id);
    const finals = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.equal(finals.length, 1);
    assert.equal(finals[0].choices[0].finish_reason, 'tool_calls');

    const follow = await client.chat.completions.create({
      model: 'codex-5',
      tools: [WEATHER_TOOL],
      messages: [
        ...messages,
        {
          role: 'assistant',
          content: null,
          tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: 'get_weather', arguments: c.args } })),
        },
        { role: 'tool', tool_call_id: calls[0].id, content: 'Paris: rain' },
        { role: 'tool', tool_call_id: calls[1].id, content: 'Tokyo: snow' },
      ],
    });
    assert.equal(follow.choices[0].message.content, `${AFTER_TOOL_PREFIX}Tokyo: snow`);
    const replay = mock.responsesRequests().filter((q) => q.scenario === 'after_tool' &&
      q.body.input.some((it) => it.role === 'user' && itemText(it).includes('#tool2')));
    assert.equal(replay.length, 1);
    const input = replay[0].body.input;
    for (const c of calls) {
      const fc = input.findIndex((it) => it.type === 'function_call' && it.call_id === c.id);
      const fco = input.findIndex((it) => it.type === 'function_call_output' && it.call_id === c.id);
      assert.ok(fc > 0 && fco > fc, `call ${c.id}: ${JSON.stringify(input.map((it) => it.type))}`);
      assert.equal(input[fc].name, 'fn_get_weather');
    }
    assert.equal(input.at(-1).type, 'function_call_output');
  });

  it('replays earlier turns of the conversation upstream in order', async () => {
    turns++;
    const r = await client.chat.completions.create({
      model: 'codex-5',
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
        { role: 'user', content: 'First question #h1' },
        { role: 'assistant', content: 'First answer' },
        { role: 'user', content: 'Second question mock:text #h2' },
      ],
    });
    assert.equal(r.choices[0].message.content, MODEL_TEXT);
    const input = upstreamFor(mock, '#h2').body.input;
    assert.deepEqual(input.map((it) => [it.role, itemText(it)]), [
      ['developer', SYSTEM_PROMPT],
      ['user', 'First question #h1'],
      ['assistant', 'First answer'],
      ['user', 'Second question mock:text #h2'],
    ]);
  });

  it('runs n=2 as two turns and sums their usage', async () => {
    turns += 2;
    const r = await client.chat.completions.create({
      model: 'codex-5',
      n: 2,
      messages: [{ role: 'user', content: 'Twice. mock:text #n2' }],
    });
    assert.deepEqual(r.choices.map((c) => [c.index, c.message.content, c.finish_reason]),
      [[0, MODEL_TEXT, 'stop'], [1, MODEL_TEXT, 'stop']]);
    const one = expectedUsage(USAGE.text);
    assert.deepEqual(usageOf(r.usage), Object.fromEntries(Object.entries(one).map(([k, v]) => [k, 2 * v])));
  });

  it('turns upstream failures into OpenAI errors', async () => {
    turns += 3;
    const post = (body) => request(env.gw, '/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    for (const marker of ['mock:error500', 'mock:failed']) {
      const r = await post({ model: 'codex-5', messages: [{ role: 'user', content: marker }] });
      assert.ok(r.status >= 500, `${marker}: status ${r.status} ${r.text}`);
      assertOpenAIError(assert, r.json);
    }
    // Streamed: an HTTP error before the first byte, or an in-band error then [DONE].
    const s = await rawChatStream(env.gw, { model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'mock:failed' }] });
    if (s.status === 200) {
      assert.equal(s.frames.at(-1), '[DONE]');
      assertOpenAIError(assert, s.frames.at(-2));
      assert.ok(!s.frames.some((f) => f?.choices?.[0]?.finish_reason));
    } else {
      assert.ok(s.status >= 500, `status ${s.status}`);
      assertOpenAIError(assert, JSON.parse(s.text));
    }
    assert.equal((await health(env.gw)).backend.workers[0].restarts, 0, 'a failed turn does not cost the worker');
  });

  it('interrupts the turn of a client that goes away and keeps serving', async () => {
    turns += 2;
    const ac = new AbortController();
    const res = await fetch(`${env.gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'mock:slow #gone' }] }),
      signal: ac.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    let seen = '';
    while (!seen.includes('tok0')) {
      const { value, done } = await reader.read();
      assert.ok(!done, 'the stream ended before the first delta');
      seen += Buffer.from(value).toString();
    }
    ac.abort();
    await env.gw.waitForLog((l) => /client went away/.test(l.msg ?? ''), 20000);
    await waitFor(async () => (await health(env.gw)).backend.workers[0].active_turns === 0, 20000, 'the turn to end');
    const r = await client.chat.completions.create({ model: 'codex-5', messages: [{ role: 'user', content: 'mock:text #after-gone' }] });
    assert.equal(r.choices[0].message.content, MODEL_TEXT);
    assert.equal((await health(env.gw)).backend.workers[0].restarts, 0);
  });

  it('passes the reasoning effort of the model alias and of reasoning_effort upstream', async () => {
    turns += 3;
    await client.chat.completions.create({
      model: 'codex-5-high',
      messages: [{ role: 'user', content: 'mock:text #effort-alias' }],
    });
    await client.chat.completions.create({
      model: 'codex-5',
      reasoning_effort: 'high',
      messages: [{ role: 'user', content: 'mock:text #effort-param' }],
    });
    await client.chat.completions.create({
      model: 'codex-5-low',
      messages: [{ role: 'user', content: 'mock:text #effort-low' }],
    });
    assert.equal(upstreamFor(mock, '#effort-alias').body.reasoning?.effort, 'high');
    assert.equal(upstreamFor(mock, '#effort-param').body.reasoning?.effort, 'high');
    assert.equal(upstreamFor(mock, '#effort-low').body.reasoning?.effort, 'low');
    assert.equal(upstreamFor(mock, '#effort-alias').body.model, MODEL);
  });

  it('passes a json_schema response_format upstream as text.format.schema', async () => {
    turns++;
    const schema = {
      type: 'object',
      properties: { answer: { type: 'integer' }, unit: { type: 'string' } },
      required: ['answer', 'unit'],
      additionalProperties: false,
    };
    const r = await client.chat.completions.create({
      model: 'codex-5',
      response_format: { type: 'json_schema', json_schema: { name: 'answer', strict: true, schema } },
      messages: [{ role: 'user', content: 'Answer in JSON. mock:json #schema' }],
    });
    assert.equal(r.choices[0].message.content, JSON_TEXT);
    assert.deepEqual(JSON.parse(r.choices[0].message.content), { answer: 42, unit: 'none' });
    const format = upstreamFor(mock, '#schema').body.text?.format;
    assert.ok(format, 'text.format is set');
    assert.equal(format.type, 'json_schema');
    assert.deepEqual(format.schema, schema);
  });

  it('contacted nothing upstream but POST /v1/responses, once per turn', async () => {
    for (const r of mock.requests) {
      assert.equal(`${r.method} ${r.path}`, 'POST /v1/responses', JSON.stringify(r.headers));
      assert.ok(r.body, 'a parsed JSON body');
    }
    assert.equal(mock.requests.length, turns);
    // The worker holds no network socket to anything but the mock (no telemetry, no update check).
    const pid = (await health(env.gw)).backend.workers[0].pid;
    for (const peer of workerSocketPeers(pid)) assert.equal(peer, `127.0.0.1:${mock.port}`);
  });
});
