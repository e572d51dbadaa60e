// POST /v1/chat/completions and /v1/completions through the official openai client (and raw
// HTTP where the wire bytes matter), against the deterministic fake app-server.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import {
  assertOpenAIError,
  backendHealth,
  chat,
  fakeMethods,
  readFakeLog,
  sseFrames,
  startGateway,
  stopClean,
  tempDir,
  waitFor,
} from '../lib/gateway.mjs';

const USAGE = { prompt_tokens: 21, completion_tokens: 9, total_tokens: 30 };
const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

let gw;
let client;
let logDir;
let fakeLog;

before(async () => {
  logDir = tempDir('cg-chat-');
  fakeLog = path.join(logDir.dir, 'fake.jsonl');
  gw = await startGateway({
    env: { PROXY_API_KEY: 'sk-test', FAKE_CODEX_LOG: fakeLog, WORKER_MAX_CONCURRENCY: '128', PROXY_QUEUE_MAX: '256' },
    waitReady: false,
  });
  client = new OpenAI({ apiKey: 'sk-test', baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const auth = { Authorization: 'Bearer sk-test' };
  await waitFor(async () => (await fetch(`${gw.url}/readyz`)).status === 200, 20000, 'ready');
  gw.auth = auth;
});

after(async () => {
  await stopClean(assert, gw);
  logDir.remove();
  // Every run reports its outcome exactly once, whichever way it ended.
  const seen = new Map();
  for (const l of gw.logs.filter((x) => x.event === 'access' && 'outcome' in x)) seen.set(l.req_id, (seen.get(l.req_id) || 0) + 1);
  assert.deepEqual([...seen].filter(([, n]) => n !== 1), [], 'a run reported more than once');
});

const post = (body, headers = {}) => chat(gw, body, { headers: { ...gw.auth, ...headers } });
const echoOf = (completion) => JSON.parse(completion.choices[0].message.content);

describe('chat completions: responses', { timeout: 120000 }, () => {
  it('answers a plain request in the chat.completion shape with real usage', async () => {
    const r = await client.chat.completions.create({ model: 'codex-5', messages: [{ role: 'user', content: 'hi' }] });
    assert.match(r.id, /^chatcmpl-[A-Za-z0-9]{29}$/);
    assert.equal(r.object, 'chat.completion');
    assert.equal(typeof r.created, 'number');
    assert.equal(r.model, 'codex-5', 'model as requested');
    assert.equal(r.choices.length, 1);
    assert.deepEqual(r.choices[0].message, { role: 'assistant', content: 'Hello from fake-codex.', refusal: null, annotations: [] });
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.choices[0].logprobs, null);
    assert.equal(r.usage.prompt_tokens, USAGE.prompt_tokens);
    assert.equal(r.usage.completion_tokens, USAGE.completion_tokens);
    assert.equal(r.usage.total_tokens, USAGE.total_tokens);
    assert.equal(r.usage.prompt_tokens_details.cached_tokens, 5);
    assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 0);
  });

  it('reports the numbers Codex reports, reasoning tokens included', async () => {
    const r = await client.chat.completions.create({ model: 'codex-5', messages: [{ role: 'user', content: 'fake:reasoning fake:usage=1000,600,250,200' }] });
    assert.deepEqual(
      [r.usage.prompt_tokens, r.usage.prompt_tokens_details.cached_tokens, r.usage.completion_tokens,
        r.usage.completion_tokens_details.reasoning_tokens, r.usage.total_tokens],
      [1000, 600, 250, 200, 1250],
    );
    assert.equal(r.choices[0].message.content, 'Reasoned answer.');
    assert.equal(r.choices[0].message.reasoning_content, undefined, 'reasoning stays out unless exposed');
  });

  it('streams with a role chunk first, stable id/created/model, null finish until the end, [DONE]', async () => {
    const res = await post({ model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:deltas=6' }] });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    const frames = sseFrames(res.text);
    assert.equal(frames[frames.length - 1].data, '[DONE]');
    const chunks = frames.filter((f) => f.data && typeof f.data === 'object').map((f) => f.data);
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '', refusal: null });
    const { id, created, model } = chunks[0];
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.deepEqual([c.id, c.created, c.model], [id, created, model]);
      assert.equal('usage' in c, false, 'no usage key without include_usage');
    }
    const last = chunks[chunks.length - 1];
    assert.equal(last.choices[0].finish_reason, 'stop');
    assert.deepEqual(last.choices[0].delta, {});
    for (const c of chunks.slice(0, -1)) assert.equal(c.choices[0].finish_reason, null);
    assert.equal(chunks.slice(1, -1).map((c) => c.choices[0].delta.content).join(''), 'w0 w1 w2 w3 w4 w5 ');
  });

  it('sends the usage chunk (choices: []) only with stream_options.include_usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'codex-5', stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'hello' }],
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const usage = chunks.filter((c) => c.usage);
    assert.equal(usage.length, 1);
    assert.deepEqual(usage[0].choices, []);
    assert.equal(usage[0].usage.total_tokens, 30);
    assert.equal(chunks[chunks.length - 1], usage[0], 'usage comes last');
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
  });

  it('n=3 runs three turns, merged by index, usage summed', async () => {
    const r = await client.chat.completions.create({ model: 'codex-5', n: 3, messages: [{ role: 'user', content: 'fake:deltas=2' }] });
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
    for (const c of r.choices) assert.equal(c.message.content, 'w0 w1 ');
    assert.equal(r.usage.prompt_tokens, 63);
    assert.equal(r.usage.completion_tokens, 27);
    const stream = await client.chat.completions.create({ model: 'codex-5', n: 3, stream: true, messages: [{ role: 'user', content: 'fake:deltas=3' }] });
    const text = ['', '', ''];
    const finishes = [0, 0, 0];
    for await (const c of stream) {
      for (const ch of c.choices) {
        text[ch.index] += ch.delta.content || '';
        if (ch.finish_reason) finishes[ch.index]++;
      }
    }
    assert.deepEqual(text, ['w0 w1 w2 ', 'w0 w1 w2 ', 'w0 w1 w2 ']);
    assert.deepEqual(finishes, [1, 1, 1]);
  });

  it('exposes reasoning summaries only when PROXY_EXPOSE_REASONING is set', async () => {
    const g2 = await startGateway({ env: { PROXY_EXPOSE_REASONING: 'true' }, waitReady: true });
    try {
      const r = await chat(g2, { model: 'codex-5', messages: [{ role: 'user', content: 'fake:reasoning' }] });
      assert.equal(r.json.choices[0].message.reasoning_content, '**Plan** think step one.');
      assert.equal(r.json.choices[0].message.content, 'Reasoned answer.');
      const s = await chat(g2, { model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:reasoning' }] });
      const chunks = sseFrames(s.text).filter((f) => f.data && f.data.choices).map((f) => f.data.choices[0]?.delta || {});
      assert.equal(chunks.map((d) => d.reasoning_content || '').join(''), '**Plan** think step one.');
      assert.equal(chunks.map((d) => d.content || '').join(''), 'Reasoned answer.');
    } finally {
      await stopClean(assert, g2);
    }
  });

  it('honours stop sequences on our side', async () => {
    const r = await client.chat.completions.create({ model: 'codex-5', stop: ['w4', 'zz'], messages: [{ role: 'user', content: 'fake:deltas=8' }] });
    assert.equal(r.choices[0].message.content, 'w0 w1 w2 w3 ');
    assert.equal(r.choices[0].finish_reason, 'stop');
    const s = await client.chat.completions.create({ model: 'codex-5', stream: true, stop: '2 w', messages: [{ role: 'user', content: 'fake:deltas=8' }] });
    let text = '';
    for await (const c of s) text += c.choices[0]?.delta?.content || '';
    assert.equal(text, 'w0 w1 w');
  });
});

describe('chat completions: history and parameters reach Codex', { timeout: 120000 }, () => {
  it('replays the conversation: instructions, messages, tool calls and results in order', async () => {
    const r = await client.chat.completions.create({
      model: 'codex-5-high',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in English.' }] },
        { role: 'user', content: 'What is the weather in Oslo?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '-3C snow' },
        { role: 'assistant', content: 'It is -3C in Oslo.' },
        { role: 'system', content: 'Mid-conversation note.' },
        { role: 'user', content: [{ type: 'text', text: 'fake:echo and look:' }, { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] },
      ],
      tools: [weatherTool],
    });
    const echo = echoOf(r);
    assert.equal(echo.baseInstructions, 'You are terse.\n\nAnswer in English.');
    assert.equal(echo.effort, 'high', 'the alias implies the effort');
    assert.equal(echo.model, 'gpt-5.5');
    assert.equal(echo.ephemeral, true);
    assert.deepEqual(echo.tools, ['fn_get_weather'], 'client tools get a private prefix');
    assert.deepEqual(echo.injected, [
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is the weather in Oslo?' }] },
      { type: 'function_call', call_id: 'call_1', name: 'fn_get_weather', arguments: '{"city":"Oslo"}' },
      { type: 'function_call_output', call_id: 'call_1', output: '-3C snow' },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'It is -3C in Oslo.' }] },
      { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Mid-conversation note.' }] },
    ]);
    assert.deepEqual(echo.input, [
      { type: 'text', text: 'fake:echo and look:', text_elements: [] },
      { type: 'image', url: 'https://example.com/a.png' },
    ]);
  });

  it('maps reasoning_effort, response_format and tool_choice', async () => {
    const base = { model: 'codex-5', messages: [{ role: 'user', content: 'fake:echo' }] };
    let e = echoOf(await client.chat.completions.create({ ...base, reasoning_effort: 'low' }));
    assert.equal(e.effort, 'low');
    const schema = { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'], additionalProperties: false };
    e = echoOf(await client.chat.completions.create({ ...base, response_format: { type: 'json_schema', json_schema: { name: 'x', schema, strict: true } } }));
    assert.deepEqual(e.outputSchema, schema);
    e = echoOf(await client.chat.completions.create({ ...base, response_format: { type: 'json_object' } }));
    assert.match(e.developerInstructions, /JSON object/);
    e = echoOf(await client.chat.completions.create({ ...base, tools: [weatherTool], tool_choice: 'none' }));
    assert.deepEqual(e.tools, [], "tool_choice 'none' offers no tools");
    const other = { type: 'function', function: { name: 'other_tool', parameters: { type: 'object', properties: {} } } };
    e = echoOf(await client.chat.completions.create({ ...base, tools: [weatherTool, other], tool_choice: { type: 'function', function: { name: 'other_tool' } } }));
    assert.deepEqual(e.tools, ['fn_other_tool'], 'a named tool_choice offers only that tool');
    assert.match(e.developerInstructions, /must call the function fn_other_tool/);
    e = echoOf(await client.chat.completions.create({ ...base, tools: [weatherTool], tool_choice: 'required' }));
    assert.match(e.developerInstructions, /must call at least one/);
    const ignored = await client.chat.completions.create({
      ...base, temperature: 0.2, top_p: 0.9, max_tokens: 100, max_completion_tokens: 100, seed: 7,
      presence_penalty: 0.1, frequency_penalty: 0.1, user: 'u1', metadata: { a: 'b' }, store: false,
    });
    assert.equal(ignored.choices[0].finish_reason, 'stop', 'parameters Codex cannot carry are accepted');
  });

  it('PROXY_IGNORE_CLIENT_SYSTEM_PROMPT drops client instructions', async () => {
    const g2 = await startGateway({ env: { PROXY_IGNORE_CLIENT_SYSTEM_PROMPT: 'true' }, waitReady: true });
    try {
      const r = await chat(g2, { model: 'codex-5', messages: [{ role: 'system', content: 'secret rules' }, { role: 'user', content: 'fake:echo' }] });
      assert.equal(JSON.parse(r.json.choices[0].message.content).baseInstructions, null);
    } finally {
      await stopClean(assert, g2);
    }
  });
});

describe('chat completions: tools', { timeout: 120000 }, () => {
  it('a full two-round tool loop with parallel calls through the SDK stream helper', async () => {
    const messages = [{ role: 'user', content: 'Weather in two cities? fake:tools=2' }];
    const runner = client.chat.completions.stream({ model: 'codex-5', messages, tools: [weatherTool] });
    const final = await runner.finalChatCompletion();
    const choice = final.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    const calls = choice.message.tool_calls;
    assert.equal(calls.length, 2);
    assert.deepEqual(calls.map((c) => c.function.name), ['get_weather', 'get_weather']);
    assert.deepEqual(calls.map((c) => JSON.parse(c.function.arguments)), [{ city: 'Paris' }, { city: 'Tokyo' }]);
    for (const c of calls) assert.match(c.id, /^call_/);
    messages.push(choice.message);
    messages.push({ role: 'tool', tool_call_id: calls[0].id, content: 'sunny' });
    messages.push({ role: 'tool', tool_call_id: calls[1].id, content: 'rain' });
    const second = await client.chat.completions.create({ model: 'codex-5', messages, tools: [weatherTool] });
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.equal(second.choices[0].message.content, 'Tool said: sunny; rain');
    const lastStart = fakeMethods(fakeLog).filter((m) => m.method === 'turn/start').pop();
    assert.deepEqual(lastStart.params.input, [], 'a conversation ending in tool results continues with no new input');
  });

  it('tool-call deltas carry index, with id/type/name in the first delta of each call', async () => {
    const res = await post({ model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:tools=2' }], tools: [weatherTool] });
    const deltas = sseFrames(res.text).filter((f) => f.data && f.data.choices && f.data.choices[0]?.delta?.tool_calls);
    const seen = new Set();
    for (const f of deltas) {
      for (const tc of f.data.choices[0].delta.tool_calls) {
        assert.equal(typeof tc.index, 'number');
        if (!seen.has(tc.index)) {
          assert.match(tc.id, /^call_/);
          assert.equal(tc.type, 'function');
          assert.equal(tc.function.name, 'get_weather');
          seen.add(tc.index);
        } else {
          assert.equal(tc.id, undefined);
        }
      }
    }
    assert.deepEqual([...seen], [0, 1]);
    const finish = sseFrames(res.text).filter((f) => f.data?.choices?.[0]?.finish_reason).map((f) => f.data.choices[0].finish_reason);
    assert.deepEqual(finish, ['tool_calls']);
  });

  it('the tool turn is interrupted in Codex, never answered', async () => {
    const before = fakeMethods(fakeLog).length;
    const r = await client.chat.completions.create({ model: 'codex-5', messages: [{ role: 'user', content: 'fake:tools' }], tools: [weatherTool] });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(r.choices[0].message.content, null);
    await waitFor(async () => fakeMethods(fakeLog).slice(before).some((m) => m.method === 'turn/interrupt'), 10000, 'interrupt');
    const answered = readFakeLog(fakeLog).filter((e) => e.event === 'recv' && e.line && e.line.result && e.line.result.contentItems);
    assert.equal(answered.length, 0, 'no tool result was ever sent to Codex');
  });

  it('tool names of 61 and 62 characters that would share a cut alias each come back as sent', async () => {
    // The 62-character name is cut to "fn_" + 52 characters + "_" + its FNV-1a hash; the
    // 61-character name below spells exactly that cut form.
    const long = 'a'.repeat(62);
    let h = 2166136261;
    for (const b of Buffer.from(long)) h = Math.imul(h ^ b, 16777619) >>> 0;
    const shaped = `${long.slice(0, 52)}_${h.toString(16).padStart(8, '0')}`;
    assert.equal(shaped.length, 61);
    const tool = (name) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } });
    const r = await client.chat.completions.create({ model: 'codex-5', messages: [{ role: 'user', content: 'fake:tools=2' }], tools: [tool(long), tool(shaped)] });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(r.choices[0].message.tool_calls.map((c) => c.function.name), [long, shaped]);
  });

  it('parallel_tool_calls: false returns only the first call; legacy functions get function_call', async () => {
    const single = await client.chat.completions.create({ model: 'codex-5', parallel_tool_calls: false, messages: [{ role: 'user', content: 'fake:tools=3' }], tools: [weatherTool] });
    assert.equal(single.choices[0].message.tool_calls.length, 1);
    const legacy = await post({ model: 'codex-5', messages: [{ role: 'user', content: 'fake:tools' }], functions: [weatherTool.function] });
    assert.equal(legacy.json.choices[0].finish_reason, 'function_call');
    assert.equal(legacy.json.choices[0].message.function_call.name, 'get_weather');
    assert.equal(legacy.json.choices[0].message.tool_calls, undefined);
  });
});

describe('chat completions: errors', { timeout: 120000 }, () => {
  const cases = [
    ['not JSON', '{"model":', 400, 'invalid_json', null],
    ['a JSON array', '[1,2]', 400, 'invalid_request_error', null],
    ['no model', { messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'model'],
    ['unknown model', { model: 'gpt-nope', messages: [{ role: 'user', content: 'x' }] }, 404, 'model_not_found', 'model'],
    ['no messages', { model: 'codex-5' }, 400, 'invalid_request_error', 'messages'],
    ['empty messages', { model: 'codex-5', messages: [] }, 400, 'invalid_request_error', 'messages'],
    ['messages not an array', { model: 'codex-5', messages: 'hi' }, 400, 'invalid_request_error', 'messages'],
    ['bad role', { model: 'codex-5', messages: [{ role: 'robot', content: 'x' }] }, 400, 'invalid_request_error', 'messages[0].role'],
    ['content of a wrong type', { model: 'codex-5', messages: [{ role: 'user', content: 42 }] }, 400, 'invalid_request_error', 'messages[0].content'],
    ['tool message without tool_call_id', { model: 'codex-5', messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'tool', content: 'r' }] }, 400, 'invalid_request_error', 'messages[2].tool_call_id'],
    ['tool result for an unknown call', { model: 'codex-5', messages: [{ role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 'zz', content: 'r' }] }, 400, 'invalid_request_error', 'messages[1].tool_call_id'],
    ['unanswered tool call', { model: 'codex-5', messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'user', content: 'y' }] }, 400, 'invalid_request_error', 'messages[2]'],
    ['tool with a bad name', { model: 'codex-5', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'bad name' } }] }, 400, 'invalid_request_error', 'tools[0].function.name'],
    ['non-function tool', { model: 'codex-5', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search' }] }, 400, 'unsupported_value', 'tools[0].type'],
    ['duplicate tools', { model: 'codex-5', messages: [{ role: 'user', content: 'x' }], tools: [weatherTool, weatherTool] }, 400, 'invalid_request_error', 'tools[1].function'],
    ['tool_choice without tools', { model: 'codex-5', messages: [{ role: 'user', content: 'x' }], tool_choice: 'required' }, 400, 'invalid_request_error', 'tool_choice'],
    ['tool_choice naming a missing tool', { model: 'codex-5', messages: [{ role: 'user', content: 'x' }], tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } }, 400, 'invalid_request_error', 'tool_choice'],
    ['n too large', { model: 'codex-5', n: 6, messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'n'],
    ['n not an integer', { model: 'codex-5', n: 'two', messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'n'],
    ['stream not a boolean', { model: 'codex-5', stream: 'yes', messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'stream'],
    ['stream_options without stream', { model: 'codex-5', stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'stream_options'],
    ['temperature out of range', { model: 'codex-5', temperature: 3, messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'temperature'],
    ['max_tokens of zero', { model: 'codex-5', max_tokens: 0, messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'max_tokens'],
    ['logprobs', { model: 'codex-5', logprobs: true, messages: [{ role: 'user', content: 'x' }] }, 400, 'unsupported_parameter', 'logprobs'],
    ['unknown reasoning effort', { model: 'codex-5', reasoning_effort: 'extreme', messages: [{ role: 'user', content: 'x' }] }, 400, 'unsupported_value', 'reasoning_effort'],
    ['bad response_format', { model: 'codex-5', response_format: { type: 'xml' }, messages: [{ role: 'user', content: 'x' }] }, 400, 'unsupported_value', 'response_format.type'],
    ['json_schema without schema', { model: 'codex-5', response_format: { type: 'json_schema', json_schema: { name: 'x' } }, messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'response_format.json_schema.schema'],
    ['unsupported content part', { model: 'codex-5', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }, 400, 'unsupported_value', 'messages[0].content[0]'],
    ['modalities not an array', { model: 'codex-5', modalities: 'text', messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'modalities'],
    ['image with a bad url', { model: 'codex-5', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'file:///etc/passwd' } }] }] }, 400, 'invalid_request_error', 'messages[0].content[0]'],
  ];
  for (const [name, body, status, code, param] of cases) {
    it(`answers ${name} with ${status} ${code}`, async () => {
      const r = await post(body);
      assert.equal(r.status, status, r.text);
      assertOpenAIError(assert, r.json, { code, param });
    });
  }

  it('answers a wrong content type with 415', async () => {
    const r = await post(JSON.stringify({ model: 'codex-5', messages: [{ role: 'user', content: 'x' }] }), { 'Content-Type': 'text/plain' });
    assert.equal(r.status, 415);
    assertOpenAIError(assert, r.json, { code: 'unsupported_media_type' });
    const ok = await post({ model: 'codex-5', messages: [{ role: 'user', content: 'x' }] }, { 'Content-Type': 'application/json; charset=utf-8' });
    assert.equal(ok.status, 200);
  });

  it('requires the API key before anything else', async () => {
    const r = await chat(gw, '{bad json');
    assert.equal(r.status, 401);
  });

  it('maps Codex upstream errors to the codes a client can act on', async () => {
    const want = {
      ratelimit: [429, 'rate_limit_exceeded', 'rate_limit_error'],
      usage: [429, 'insufficient_quota', 'insufficient_quota'],
      context: [400, 'context_length_exceeded', 'invalid_request_error'],
      unauthorized: [401, 'invalid_api_key', 'invalid_request_error'],
      server: [502, 'backend_error', 'server_error'],
      failed: [502, 'backend_error', 'server_error'],
    };
    for (const [kind, [status, code, type]] of Object.entries(want)) {
      const r = await post({ model: 'codex-5', messages: [{ role: 'user', content: `fake:error=${kind}` }] });
      assert.equal(r.status, status, kind);
      assertOpenAIError(assert, r.json, { code, type });
    }
    const r = await post({ model: 'codex-5', messages: [{ role: 'user', content: 'fake:error=failed' }] });
    assert.match(r.json.error.message, /mock response.failed/, "Codex's own message is passed on");
  });

  it('an upstream error after content has streamed arrives in-band, then [DONE]', async () => {
    const r = await post({ model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:errorafter=ratelimit' }] }, { 'X-No-Keepalive': '1' });
    assert.equal(r.status, 200);
    const frames = sseFrames(r.text);
    assert.equal(frames.filter((f) => f.data?.choices?.[0]?.delta?.content).map((f) => f.data.choices[0].delta.content).join(''), 'partial answer ');
    const err = frames.find((f) => f.data && f.data.error);
    assertOpenAIError(assert, err.data, { code: 'rate_limit_exceeded' });
    assert.equal(frames[frames.length - 1].data, '[DONE]');
  });

  it('an error before the first byte of a stream is an HTTP status, not a 200', async () => {
    const r = await post({ model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:error=ratelimit' }] });
    assert.equal(r.status, 429);
    assertOpenAIError(assert, r.json, { code: 'rate_limit_exceeded' });
  });
});

describe('chat completions: timing, keepalive, disconnects, load', { timeout: 180000 }, () => {
  it('PROXY_TIMEOUT_MS: 504 before the first byte, in-band after it; the turn is interrupted', async () => {
    const t = tempDir('cg-to-');
    const file = path.join(t.dir, 'fake.jsonl');
    const g2 = await startGateway({ env: { PROXY_TIMEOUT_MS: '400', PROXY_SSE_KEEPALIVE_MS: '100', FAKE_CODEX_LOG: file }, waitReady: true });
    try {
      const n = await chat(g2, { model: 'codex-5', messages: [{ role: 'user', content: 'fake:hang' }] });
      assert.equal(n.status, 504);
      assertOpenAIError(assert, n.json, { code: 'timeout', type: 'server_error' });
      const s = await chat(g2, { model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:hang' }] });
      assert.equal(s.status, 200);
      const frames = sseFrames(s.text);
      assert.ok(frames.findIndex((f) => f.comment === 'keepalive') < frames.findIndex((f) => f.data?.error), 'keepalive before the error');
      assertOpenAIError(assert, frames.find((f) => f.data?.error).data, { code: 'timeout' });
      assert.equal(frames[frames.length - 1].data, '[DONE]');
      await waitFor(async () => fakeMethods(file).filter((m) => m.method === 'turn/interrupt').length === 2, 10000, 'interrupts');
    } finally {
      await stopClean(assert, g2);
      t.remove();
    }
  });

  it('keepalive comments start before the first token; X-No-Keepalive: 1 turns them off', async () => {
    // Reasoning first, 150 ms between its deltas: the first token comes well after 50 ms.
    const g2 = await startGateway({ env: { PROXY_SSE_KEEPALIVE_MS: '50', FAKE_CODEX_DELTA_DELAY_MS: '150' }, waitReady: true });
    try {
      const body = { model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:reasoning' }] };
      const on = sseFrames((await chat(g2, body)).text);
      const firstKeepalive = on.findIndex((f) => f.comment === 'keepalive');
      const firstContent = on.findIndex((f) => f.data?.choices?.[0]?.delta?.content);
      assert.ok(firstKeepalive >= 0 && firstKeepalive < firstContent, 'a keepalive precedes the first token');
      const off = sseFrames((await chat(g2, body, { headers: { 'X-No-Keepalive': '1' } })).text);
      assert.equal(off.some((f) => f.comment), false);
    } finally {
      await stopClean(assert, g2);
    }
  });

  it('a client that aborts mid-stream gets its turn interrupted and its slot freed', async () => {
    const before = fakeMethods(fakeLog).length;
    const ctrl = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:slow=100,50' }] },
      { signal: ctrl.signal },
    );
    let got = 0;
    try {
      for await (const c of stream) {
        if (c.choices[0]?.delta?.content) got++;
        if (got === 2) ctrl.abort();
      }
    } catch (e) {
      assert.match(String(e.name || e), /Abort/);
    }
    await waitFor(async () => fakeMethods(fakeLog).slice(before).some((m) => m.method === 'turn/interrupt'), 10000, 'turn/interrupt');
    await waitFor(async () => (await backendHealth(gw, gw.auth)).workers[0].active_turns === 0, 10000, 'slot freed');
  });

  it('a stalled client cannot hold a stream forever: it is cut off past PROXY_STREAM_QUEUE_MAX_BYTES', async () => {
    const g2 = await startGateway({ env: { PROXY_STREAM_QUEUE_MAX_BYTES: '65536', FAKE_CODEX_DELTA_DELAY_MS: '0' }, waitReady: true });
    try {
      const net = await import('node:net');
      const body = JSON.stringify({ model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:hugeline=16000000' }] });
      const sock = net.connect(g2.port, '127.0.0.1');
      await new Promise((r) => sock.on('connect', r));
      sock.pause();
      sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      await g2.waitForLog((l) => /stopped reading/.test(l.msg || ''), 30000);
      sock.destroy();
      const h = await backendHealth(g2);
      await waitFor(async () => (await backendHealth(g2)).workers[0].active_turns === 0, 10000, 'slot freed');
      assert.equal(h.workers[0].restarts, 0);
      assert.equal((await chat(g2, { model: 'codex-5', messages: [{ role: 'user', content: 'x' }] })).status, 200);
      const cut = g2.logs.filter((l) => l.event === 'access' && 'outcome' in l && l.error === 'client_closed');
      assert.equal(cut.length, 1, 'the cut-off stream reports its outcome once');
    } finally {
      await stopClean(assert, g2);
    }
  });

  it('100 concurrent streams all complete with their own content', async () => {
    const runs = [];
    for (let i = 0; i < 100; i++) {
      runs.push((async () => {
        const s = await client.chat.completions.create({ model: 'codex-5', stream: true, messages: [{ role: 'user', content: `fake:deltas=${5 + (i % 7)}` }] });
        let text = '';
        let finish = null;
        for await (const c of s) {
          text += c.choices[0]?.delta?.content || '';
          finish = c.choices[0]?.finish_reason || finish;
        }
        return { i, text, finish };
      })());
    }
    for (const r of await Promise.all(runs)) {
      const n = 5 + (r.i % 7);
      assert.equal(r.text, Array.from({ length: n }, (_, k) => `w${k} `).join(''));
      assert.equal(r.finish, 'stop');
    }
  });
});

describe('chat completions: stop sequences end the turn', { timeout: 60000 }, () => {
  // fake:slow=1000,30 would stream for 30 s; each test gives up after 10 s.
  for (const stream of [false, true]) {
    it(`a stop sequence that matches early ends the response and interrupts the turn (stream: ${stream})`, { timeout: 10000 }, async () => {
      const before = fakeMethods(fakeLog).length;
      const id = `stop-early-${stream}`;
      const r = await post({ model: 'codex-5', stream, stop: ['s1'], messages: [{ role: 'user', content: 'fake:slow=1000,30' }] }, { 'X-Request-Id': id });
      assert.equal(r.status, 200);
      if (stream) {
        const chunks = sseFrames(r.text).filter((f) => f.data?.choices).map((f) => f.data.choices[0]);
        assert.equal(chunks.map((c) => c.delta.content || '').join(''), 's0 ');
        assert.deepEqual(chunks.filter((c) => c.finish_reason).map((c) => c.finish_reason), ['stop']);
        assert.equal(sseFrames(r.text).pop().data, '[DONE]');
      } else {
        assert.equal(r.json.choices[0].message.content, 's0 ');
        assert.equal(r.json.choices[0].finish_reason, 'stop');
      }
      await waitFor(async () => fakeMethods(fakeLog).slice(before).some((m) => m.method === 'turn/interrupt'), 8000, 'turn/interrupt');
      await waitFor(async () => (await backendHealth(gw, gw.auth)).workers.every((w) => w.active_turns === 0), 8000, 'slot freed');
      const line = await gw.waitForLog((l) => l.event === 'access' && 'outcome' in l && l.req_id === id, 8000);
      assert.deepEqual([line.status, line.error], [200, null]);
    });
  }
});

describe('chat completions: usage outcome', { timeout: 60000 }, () => {
  const usageOf = (id) => gw.waitForLog((l) => l.event === 'access' && 'outcome' in l && l.req_id === id, 10000);

  it('the usage log line carries the usage the response reported', async () => {
    const r = await post({ model: 'codex-5', messages: [{ role: 'user', content: 'fake:reasoning fake:usage=1000,600,250,200' }] }, { 'X-Request-Id': 'usage-body-1' });
    assert.equal(r.status, 200);
    const line = await usageOf('usage-body-1');
    const u = r.json.usage;
    assert.deepEqual(
      [line.input_tokens, line.cached_tokens, line.output_tokens, line.reasoning_tokens, line.total_tokens],
      [u.prompt_tokens, u.prompt_tokens_details.cached_tokens, u.completion_tokens, u.completion_tokens_details.reasoning_tokens, u.total_tokens],
    );
    assert.equal(line.total_tokens, 1250);
    assert.deepEqual([line.route, line.model, line.status, line.error, line.stream], ['chat', 'codex-5', 200, null, false]);
    assert.equal(typeof line.ms, 'number');
    assert.ok('key' in line, 'the key label field is present (null until admission sets it)');
    const text = JSON.stringify(line);
    assert.equal(/fake:reasoning|sk-test/.test(text), false, 'no prompt text, no key');
  });

  it('a stream with n=2 reports the usage of both turns', async () => {
    const r = await post({ model: 'codex-5', n: 2, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'fake:deltas=2' }] }, { 'X-Request-Id': 'usage-stream-1' });
    const usage = sseFrames(r.text).find((f) => f.data?.usage).data.usage;
    const line = await usageOf('usage-stream-1');
    assert.deepEqual([line.input_tokens, line.output_tokens, line.stream], [usage.prompt_tokens, usage.completion_tokens, true]);
    assert.equal(line.input_tokens, 42);
  });

  it('failures report their status and error code: before the first byte and in-band', async () => {
    const a = await post({ model: 'codex-5', messages: [{ role: 'user', content: 'fake:error=ratelimit' }] }, { 'X-Request-Id': 'usage-fail-1' });
    assert.equal(a.status, 429);
    const la = await usageOf('usage-fail-1');
    assert.deepEqual([la.status, la.error], [429, 'rate_limit_exceeded']);
    const b = await post({ model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:errorafter=ratelimit' }] }, { 'X-Request-Id': 'usage-fail-2', 'X-No-Keepalive': '1' });
    assert.equal(b.status, 200);
    const lb = await usageOf('usage-fail-2');
    assert.deepEqual([lb.status, lb.error, lb.stream], [200, 'rate_limit_exceeded', true]);
  });

  it('a client that goes away is reported as client_closed', async () => {
    const ctrl = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...gw.auth, 'Content-Type': 'application/json', 'X-Request-Id': 'usage-gone-1' },
      body: JSON.stringify({ model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:slow=100,50' }] }),
      signal: ctrl.signal,
    });
    const reader = res.body.getReader();
    let got = '';
    while (!got.includes('s1 ')) got += new TextDecoder().decode((await reader.read()).value);
    ctrl.abort();
    const line = await usageOf('usage-gone-1');
    assert.deepEqual([line.error, line.stream], ['client_closed', true]);
  });

  it('legacy completions report under their own route', async () => {
    const r = await chat(gw, { model: 'codex-5', prompt: 'fake:deltas=1' }, { path: '/v1/completions', headers: { ...gw.auth, 'X-Request-Id': 'usage-legacy-1' } });
    assert.equal(r.status, 200);
    const line = await usageOf('usage-legacy-1');
    assert.deepEqual([line.route, line.input_tokens, line.output_tokens], ['completions', r.json.usage.prompt_tokens, r.json.usage.completion_tokens]);
  });

  it('timeouts report 504 before the first byte and timeout in-band after it', async () => {
    const g2 = await startGateway({ env: { PROXY_TIMEOUT_MS: '300', PROXY_SSE_KEEPALIVE_MS: '100' }, waitReady: true });
    try {
      const n = await chat(g2, { model: 'codex-5', messages: [{ role: 'user', content: 'fake:hang' }] }, { headers: { 'X-Request-Id': 'usage-timeout-1' } });
      assert.equal(n.status, 504);
      const s = await chat(g2, { model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:hang' }] }, { headers: { 'X-Request-Id': 'usage-timeout-2' } });
      assert.equal(s.status, 200);
      const ln = await g2.waitForLog((l) => l.event === 'access' && 'outcome' in l && l.req_id === 'usage-timeout-1');
      const ls = await g2.waitForLog((l) => l.event === 'access' && 'outcome' in l && l.req_id === 'usage-timeout-2');
      assert.deepEqual([ln.status, ln.error, ls.status, ls.error], [504, 'timeout', 200, 'timeout']);
    } finally {
      await stopClean(assert, g2);
    }
    assert.equal(g2.logs.filter((l) => l.event === 'access' && 'outcome' in l).length, 2, 'one line per run');
  });

  it('a shutdown reports the runs it ends, once each', async () => {
    const g2 = await startGateway({ env: { PROXY_SHUTDOWN_GRACE_MS: '300' }, waitReady: true });
    const inflight = [
      chat(g2, { model: 'codex-5', stream: true, messages: [{ role: 'user', content: 'fake:slow=100,50' }] }, { headers: { 'X-Request-Id': 'usage-stop-1' } }),
      chat(g2, { model: 'codex-5', messages: [{ role: 'user', content: 'fake:hang' }] }, { headers: { 'X-Request-Id': 'usage-stop-2' } }),
    ];
    await waitFor(async () => (await backendHealth(g2)).workers[0].active_turns === 2, 10000, 'two turns');
    await stopClean(assert, g2);
    await Promise.all(inflight);
    const lines = g2.logs.filter((l) => l.event === 'access' && 'outcome' in l);
    assert.deepEqual(lines.map((l) => [l.req_id, l.status, l.error]).sort(), [
      ['usage-stop-1', 200, 'shutting_down'],
      ['usage-stop-2', 503, 'shutting_down'],
    ]);
  });
});

describe('legacy completions', { timeout: 60000 }, () => {
  it('answers text_completion bodies and streams, with usage', async () => {
    const r = await client.completions.create({ model: 'codex-5', prompt: 'fake:deltas=3' });
    assert.equal(r.object, 'text_completion');
    assert.match(r.id, /^cmpl-/);
    assert.equal(r.choices[0].text, 'w0 w1 w2 ');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.total_tokens, 30);
    const s = await client.completions.create({ model: 'codex-5', prompt: ['fake:deltas=2', 'second line'], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage = null;
    for await (const c of s) {
      assert.equal(c.object, 'text_completion');
      text += c.choices[0]?.text || '';
      usage = c.usage || usage;
    }
    assert.equal(text, 'w0 w1 ');
    assert.equal(usage.prompt_tokens, 21);
    const e2 = await chat(gw, { model: 'codex-5', prompt: 'fake:deltas=1 ', echo: true }, { path: '/v1/completions', headers: gw.auth });
    assert.equal(e2.json.choices[0].text, 'fake:deltas=1 w0 ');
  });

  it('rejects a best_of that is not an integer, naming it', async () => {
    const r = await chat(gw, { model: 'codex-5', prompt: 'x', best_of: '2' }, { path: '/v1/completions', headers: gw.auth });
    assert.equal(r.status, 400);
    assertOpenAIError(assert, r.json, { code: 'invalid_request_error', param: 'best_of' });
  });

  it('rejects a missing prompt and token-array prompts', async () => {
    const a = await chat(gw, { model: 'codex-5' }, { path: '/v1/completions', headers: gw.auth });
    assert.equal(a.status, 400);
    assertOpenAIError(assert, a.json, { param: 'prompt' });
    const b = await chat(gw, { model: 'codex-5', prompt: [1, 2, 3] }, { path: '/v1/completions', headers: gw.auth });
    assert.equal(b.status, 400);
    assertOpenAIError(assert, b.json, { param: 'prompt' });
  });
});
