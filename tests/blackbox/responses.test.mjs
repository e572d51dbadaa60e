// POST /v1/responses through the official openai client (and raw HTTP where the wire bytes
// matter), against the deterministic fake app-server.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { assertOpenAIError, fakeMethods, readFakeLog, request, startGateway, stopClean, tempDir, waitFor } from '../lib/gateway.mjs';
import { abortAfterFirstDelta, assertResponseStream, echoOf, lastFakeCall, outputText, postResponse, sseEvents } from '../lib/responses.mjs';

const MODEL = 'codex-5';
const weatherTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};
const forecastNamespace = {
  type: 'namespace',
  name: 'weather',
  description: 'Weather tools',
  tools: [
    {
      type: 'function',
      name: 'get_forecast',
      description: 'Forecast for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  ],
};

// What a response shows for the request fields a request left out, as OpenAI shows them.
const DEFAULT_ECHO = {
  instructions: null,
  tools: [],
  tool_choice: 'auto',
  parallel_tool_calls: true,
  text: { format: { type: 'text' }, verbosity: 'medium' },
  store: true,
  temperature: 1,
  top_p: 1,
  metadata: {},
  previous_response_id: null,
  max_output_tokens: null,
  truncation: 'disabled',
};
const pick = (obj, keys) => Object.fromEntries(keys.map((k) => [k, obj[k]]));

let gw;
let client;
let logDir;
let fakeLog;

before(async () => {
  logDir = tempDir('cg-resp-');
  fakeLog = path.join(logDir.dir, 'fake.jsonl');
  gw = await startGateway({ env: { PROXY_API_KEY: 'sk-test', FAKE_CODEX_LOG: fakeLog }, waitReady: true });
  client = new OpenAI({ apiKey: 'sk-test', baseURL: `${gw.url}/v1`, maxRetries: 0 });
});

after(async () => {
  await stopClean(assert, gw);
  logDir.remove();
});

const auth = { Authorization: 'Bearer sk-test' };
const post = (body, headers = {}) => postResponse(gw, body, { ...auth, ...headers });

describe('responses: create', { timeout: 120000 }, () => {
  it('answers a string input in the response shape, with real usage and OpenAI defaults echoed', async () => {
    const r = await client.responses.create({ model: MODEL, input: 'hi' });
    assert.match(r.id, /^resp_[A-Za-z0-9_-]+$/);
    assert.equal(r.object, 'response');
    assert.equal(typeof r.created_at, 'number');
    assert.ok(Math.abs(r.created_at - Date.now() / 1000) < 120, 'created_at is unix seconds');
    assert.equal(r.status, 'completed');
    assert.equal(r.error, null);
    assert.equal(r.incomplete_details, null);
    assert.equal(r.model, MODEL, 'model as requested');
    assert.equal(r.output.length, 1);
    const [msg] = r.output;
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.status, 'completed');
    assert.match(msg.id, /^msg_/);
    assert.equal(msg.content.length, 1);
    assert.equal(msg.content[0].type, 'output_text');
    assert.equal(msg.content[0].text, 'Hello from fake-codex.');
    assert.deepEqual(msg.content[0].annotations, []);
    assert.equal(r.output_text, 'Hello from fake-codex.', "the SDK's output_text helper");
    assert.deepEqual(
      [r.usage.input_tokens, r.usage.input_tokens_details.cached_tokens, r.usage.output_tokens,
        r.usage.output_tokens_details.reasoning_tokens, r.usage.total_tokens],
      [21, 5, 9, 0, 30],
    );
    // What OpenAI shows for the fields the request left out.
    assert.deepEqual(pick(r, Object.keys(DEFAULT_ECHO)), DEFAULT_ECHO);
    const start = lastFakeCall(fakeLog, 'turn/start');
    assert.deepEqual(start.input.map((i) => [i.type, i.text]), [['text', 'hi']]);
  });

  it('takes an item list: instructions, developer and prior messages reach Codex in order', async () => {
    const r = await client.responses.create({
      model: MODEL,
      instructions: 'You are terse.',
      input: [
        { role: 'developer', content: 'Answer in English.' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is 2+2?' }] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: '4.' }] },
        { role: 'system', content: 'Mid-conversation note.' },
        { role: 'user', content: [{ type: 'input_text', text: 'fake:echo and look:' }, { type: 'input_image', image_url: 'https://example.com/a.png' }] },
      ],
    });
    assert.equal(r.instructions, 'You are terse.');
    const echo = echoOf(r);
    assert.equal(echo.baseInstructions, 'You are terse.\n\nAnswer in English.');
    assert.equal(echo.ephemeral, true);
    assert.deepEqual(echo.injected, [
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is 2+2?' }] },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: '4.' }] },
      { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Mid-conversation note.' }] },
    ]);
    assert.deepEqual(echo.input.map((i) => i.type), ['text', 'image']);
    assert.equal(echo.input[1].url, 'https://example.com/a.png');
  });

  it('PROXY_IGNORE_CLIENT_SYSTEM_PROMPT keeps the client instructions away from Codex', async () => {
    const g2 = await startGateway({ env: { PROXY_IGNORE_CLIENT_SYSTEM_PROMPT: 'true' }, waitReady: true });
    try {
      const r = await postResponse(g2, {
        model: MODEL,
        instructions: 'You are a pirate.',
        input: [{ role: 'developer', content: 'Say arr.' }, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'Arr.' }, { role: 'system', content: 'Louder.' }, { role: 'user', content: 'fake:echo' }],
      });
      assert.equal(r.status, 200, r.text);
      const echo = echoOf(r.json);
      assert.equal(echo.baseInstructions, null);
      assert.deepEqual(echo.injected.map((i) => i.role), ['user', 'assistant']);
      assert.equal(r.json.instructions, 'You are a pirate.', 'the response still echoes what was sent');
    } finally {
      await stopClean(assert, g2);
    }
  });

  it('echoes the request fields OpenAI echoes', async () => {
    const body = {
      model: MODEL,
      input: 'fake:deltas=2',
      instructions: 'Be brief.',
      metadata: { run: 'bb-1', team: 'qa' },
      tools: [weatherTool],
      tool_choice: 'none',
      parallel_tool_calls: false,
      text: { format: { type: 'text' }, verbosity: 'low' },
      store: false,
      temperature: 0.5,
      top_p: 0.9,
      max_output_tokens: 500,
      user: 'user-7',
      truncation: 'auto',
      reasoning: { effort: 'low', summary: 'concise' },
      prompt_cache_key: 'pck-1',
      safety_identifier: 'sid-1',
      service_tier: 'auto',
      include: ['reasoning.encrypted_content'],
    };
    const r = await client.responses.create(body);
    assert.equal(r.status, 'completed');
    assert.equal(r.output_text, 'w0 w1 ');
    const sent = ['instructions', 'metadata', 'tool_choice', 'parallel_tool_calls', 'text', 'store', 'temperature', 'top_p',
      'max_output_tokens', 'user', 'truncation', 'reasoning', 'prompt_cache_key', 'safety_identifier'];
    assert.deepEqual(pick(r, sent), pick(body, sent));
    assert.deepEqual(r.tools.map((t) => [t.type, t.name]), [['function', 'get_weather']]);
    assert.equal(r.background, false);
    const start = lastFakeCall(fakeLog, 'turn/start');
    assert.equal(start.effort, 'low', 'reasoning.effort reaches Codex');
    assert.equal(start.summary, 'concise', 'reasoning.summary reaches Codex');
    const thread = lastFakeCall(fakeLog, 'thread/start');
    assert.deepEqual(thread.dynamicTools ?? [], [], 'tool_choice none offers no tools');
  });

  it('a model alias that implies an effort reports it in reasoning and runs with it', async () => {
    const r = await client.responses.create({ model: 'codex-5-high', input: 'fake:deltas=1' });
    assert.equal(r.model, 'codex-5-high');
    assert.equal(r.reasoning.effort, 'high');
    assert.equal(lastFakeCall(fakeLog, 'turn/start').effort, 'high');
  });

  it('reports the token counts Codex reports, cached and reasoning included', async () => {
    const r = await client.responses.create({ model: MODEL, input: 'fake:deltas=1 fake:usage=1000,600,250,200' });
    assert.deepEqual(
      [r.usage.input_tokens, r.usage.input_tokens_details.cached_tokens, r.usage.output_tokens,
        r.usage.output_tokens_details.reasoning_tokens, r.usage.total_tokens],
      [1000, 600, 250, 200, 1250],
    );
  });

  it('returns a reasoning item with its summary before the message when the model reasons', async () => {
    const r = await client.responses.create({ model: MODEL, input: 'fake:reasoning', reasoning: { summary: 'auto' } });
    assert.deepEqual(r.output.map((i) => i.type), ['reasoning', 'message']);
    const [rs, msg] = r.output;
    assert.match(rs.id, /^rs_/);
    assert.deepEqual(rs.summary, [{ type: 'summary_text', text: '**Plan** think step one.' }]);
    assert.equal('encrypted_content' in rs, false, 'no encrypted_content unless include asks for it');
    assert.equal(msg.content[0].text, 'Reasoned answer.');
    assert.equal(r.output_text, 'Reasoned answer.');
    assert.deepEqual([r.usage.output_tokens, r.usage.output_tokens_details.reasoning_tokens], [13, 4]);
    const inc = await client.responses.create({ model: MODEL, input: 'fake:reasoning', include: ['reasoning.encrypted_content'] });
    assert.match(inc.output[0].encrypted_content, /^gAAAArs_/, "include reasoning.encrypted_content shows Codex's blob");
  });

  it('stateless reasoning: the encrypted reasoning a response returned goes back to Codex with the next request', async () => {
    const r1 = await client.responses.create({ model: MODEL, input: 'fake:reasoning', store: false, include: ['reasoning.encrypted_content'] });
    const r2 = await client.responses.create({
      model: MODEL,
      store: false,
      include: ['reasoning.encrypted_content'],
      input: [{ role: 'user', content: 'fake:reasoning' }, ...r1.output, { role: 'user', content: 'fake:echo' }],
    });
    const injected = echoOf(r2).injected;
    assert.deepEqual(injected.map((i) => i.type), ['message', 'reasoning', 'message']);
    assert.equal(injected[1].encrypted_content, r1.output[0].encrypted_content);
    assert.deepEqual(injected[1].summary, r1.output[0].summary);
  });

  it('a reasoning item sent back is replayed to Codex as a raw item, encrypted_content included', async () => {
    const reasoning = { type: 'reasoning', id: 'rs_client1', summary: [{ type: 'summary_text', text: 'Think first.' }], encrypted_content: 'gAAAA-opaque' };
    const r = await client.responses.create({
      model: MODEL,
      store: false,
      input: [
        { role: 'user', content: 'Think.' },
        reasoning,
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Thought.' }] },
        { role: 'user', content: 'fake:echo' },
      ],
    });
    const injected = echoOf(r).injected;
    assert.deepEqual(injected.map((i) => i.type), ['message', 'reasoning', 'message']);
    const { id, ...rest } = reasoning;
    assert.deepEqual(injected[1], rest, 'without its id, which Codex resends as its own');
    assert.equal('id' in injected[1], false);
    const plain = await client.responses.create({
      model: MODEL,
      store: false,
      input: [{ role: 'user', content: 'Think.' }, { type: 'reasoning', summary: [] }, { role: 'user', content: 'fake:echo' }],
    });
    assert.deepEqual(echoOf(plain).injected.map((i) => i.type), ['message'], 'reasoning without encrypted_content carries nothing to replay');
  });

  it('text outside ASCII survives both ways, in a body and in a stream', async () => {
    const text = 'fake:echo héllo → 🌍 “quotes” \\ "x" \u0001 end';
    const r = await client.responses.create({ model: MODEL, input: text, store: false });
    assert.equal(echoOf(r).input[0].text, text);
    const final = await client.responses.stream({ model: MODEL, input: text, store: false }).finalResponse();
    assert.equal(echoOf(final).input[0].text, text);
  });

  it('include values other than encrypted reasoning are accepted and change nothing', async () => {
    const r = await client.responses.create({ model: MODEL, input: 'fake:deltas=1', include: ['file_search_call.results', 'message.input_image.image_url', 'web_search_call.action.sources'] });
    assert.equal(r.status, 'completed');
    assert.equal(r.output_text, 'w0 ');
  });

  it('accepts max_output_tokens and echoes it (Codex has no output cap to pass it to)', async () => {
    const r = await client.responses.create({ model: MODEL, input: 'fake:deltas=3', max_output_tokens: 16 });
    assert.equal(r.max_output_tokens, 16);
    assert.equal(r.status, 'completed');
    assert.equal(r.incomplete_details, null);
  });

  it('json_object text format asks Codex for JSON through its instructions', async () => {
    const r = await client.responses.create({ model: MODEL, input: 'fake:echo', text: { format: { type: 'json_object' } } });
    assert.deepEqual(r.text.format, { type: 'json_object' });
    assert.match(echoOf(r).developerInstructions, /JSON/);
  });
});

describe('responses: stream', { timeout: 120000 }, () => {
  it('the SDK stream helper: delta events, one terminal event, finalResponse() equal to the completed response', async () => {
    const stream = client.responses.stream({ model: MODEL, input: 'fake:deltas=5' });
    const deltas = [];
    const types = [];
    stream.on('response.output_text.delta', (e) => deltas.push(e.delta));
    stream.on('event', (e) => types.push(e.type));
    const final = await stream.finalResponse();
    assert.deepEqual(deltas, ['w0 ', 'w1 ', 'w2 ', 'w3 ', 'w4 ']);
    assert.equal(final.status, 'completed');
    assert.equal(final.output_text, 'w0 w1 w2 w3 w4 ');
    assert.equal(final.usage.total_tokens, 30);
    assert.equal(types.filter((t) => ['response.completed', 'response.failed', 'response.incomplete'].includes(t)).length, 1);
    assert.equal(types[types.length - 1], 'response.completed');
  });

  it('the wire form: event names, sequence numbers, the full event order of a text answer, no [DONE]', async () => {
    const res = await post({ model: MODEL, input: 'fake:text', stream: true });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const events = assertResponseStream(assert, res.text);
    assert.deepEqual(events.map((e) => e.event), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const created = events[0].data.response;
    assert.equal(created.status, 'in_progress');
    assert.deepEqual(created.output, []);
    assert.equal(created.usage, null);
    const added = events[2].data;
    assert.equal(added.output_index, 0);
    assert.equal(added.item.type, 'message');
    assert.equal(added.item.status, 'in_progress');
    assert.deepEqual(added.item.content, []);
    const itemId = added.item.id;
    for (const e of events.slice(3, 11)) {
      assert.equal(e.data.item_id ?? e.data.item.id, itemId, `${e.event} names the item`);
      assert.equal(e.data.output_index, 0);
    }
    assert.deepEqual(events.slice(4, 8).map((e) => e.data.delta), ['Hello', ' from', ' fake-codex', '.']);
    assert.equal(events[8].data.text, 'Hello from fake-codex.');
    assert.equal(events[9].data.part.text, 'Hello from fake-codex.');
    assert.equal(events[10].data.item.status, 'completed');
    const done = events[11].data.response;
    assert.equal(done.status, 'completed');
    assert.equal(outputText(done), 'Hello from fake-codex.');
    assert.deepEqual(done.output[0], events[10].data.item, 'the completed response holds the finished item');
    assert.equal(done.usage.total_tokens, 30);
  });

  it('reasoning summary events come before the message events', async () => {
    const res = await post({ model: MODEL, input: 'fake:reasoning', stream: true, reasoning: { summary: 'auto' } });
    const events = assertResponseStream(assert, res.text);
    const names = events.map((e) => e.event);
    assert.deepEqual(names.slice(2, 9), [
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
    ]);
    assert.equal(names[9], 'response.output_item.done');
    assert.equal(events[2].data.item.type, 'reasoning');
    assert.equal(events[7].data.text, '**Plan** think step one.');
    const msgAdded = events.findIndex((e, i) => i > 9 && e.event === 'response.output_item.added');
    assert.equal(events[msgAdded].data.output_index, 1);
    assert.equal(events[msgAdded].data.item.type, 'message');
    const final = events[events.length - 1].data.response;
    assert.deepEqual(final.output.map((i) => i.type), ['reasoning', 'message']);
  });

  it('a tool call streams as output_item.added, argument deltas and .done', async () => {
    const res = await post({ model: MODEL, input: 'fake:tools', stream: true, tools: [weatherTool] });
    const events = assertResponseStream(assert, res.text);
    const names = events.map((e) => e.event).filter((n) => n.startsWith('response.output_item') || n.startsWith('response.function_call'));
    assert.equal(names[0], 'response.output_item.added');
    assert.ok(names.includes('response.function_call_arguments.done'));
    assert.equal(names[names.length - 1], 'response.output_item.done');
    const argsDone = events.find((e) => e.event === 'response.function_call_arguments.done').data;
    assert.deepEqual(JSON.parse(argsDone.arguments), { city: 'Paris' });
    const deltas = events.filter((e) => e.event === 'response.function_call_arguments.delta').map((e) => e.data.delta).join('');
    assert.equal(deltas, argsDone.arguments);
    const item = events.find((e) => e.event === 'response.output_item.done').data.item;
    assert.equal(item.type, 'function_call');
    assert.equal(item.name, 'get_weather');
    assert.equal(item.status, 'completed');
    assert.equal(events[events.length - 1].event, 'response.completed');
  });

  it('text then parallel calls stream as consecutive items the SDK accumulates', async () => {
    const stream = client.responses.stream({ model: MODEL, input: 'fake:tooltext=2', tools: [weatherTool] });
    const added = [];
    stream.on('response.output_item.added', (e) => added.push([e.output_index, e.item.type]));
    const final = await stream.finalResponse();
    assert.deepEqual(added, [[0, 'message'], [1, 'function_call'], [2, 'function_call']]);
    assert.deepEqual(final.output.map((i) => i.type), ['message', 'function_call', 'function_call']);
    assert.deepEqual(final.output.slice(1).map((c) => JSON.parse(c.arguments).city), ['Paris', 'Tokyo']);
  });

  it("a request shaped like the Codex CLI's own (namespace tools, store false, include, developer text) streams to completion", async () => {
    const body = {
      model: MODEL,
      instructions: 'You are Codex, a coding agent.',
      input: [
        { type: 'message', role: 'developer', content: [{ type: 'input_text', text: '<permissions instructions>read-only</permissions instructions>' }] },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: '<environment_context><cwd>/tmp</cwd></environment_context>' }] },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Say hi. fake:tooltext' }] },
      ],
      tools: [
        { type: 'function', name: 'exec_command', description: 'Runs a command.', strict: false, parameters: { type: 'object', properties: { cmd: { type: 'string' } }, required: ['cmd'], additionalProperties: false } },
        forecastNamespace,
      ],
      tool_choice: 'auto',
      parallel_tool_calls: true,
      reasoning: { summary: 'auto' },
      store: false,
      stream: true,
      include: ['reasoning.encrypted_content'],
      prompt_cache_key: '01a23224-fc12-7723-a66f-816a4582e077',
      client_metadata: { session_id: '01a23224-fc12-7723-a66f-816a4582e077', turn_id: 't1' },
    };
    const res = await post(body, { Accept: 'text/event-stream' });
    assert.equal(res.status, 200, res.text);
    const events = assertResponseStream(assert, res.text);
    const final = events[events.length - 1];
    assert.equal(final.event, 'response.completed');
    assert.deepEqual(final.data.response.output.map((i) => i.type), ['message', 'function_call']);
    const call = final.data.response.output[1];
    assert.equal(call.name, 'exec_command', "Codex's own tool name comes back as the client sent it");
    assert.equal(call.namespace, undefined);
    const thread = lastFakeCall(fakeLog, 'thread/start');
    assert.match(thread.baseInstructions, /^You are Codex, a coding agent\.\n\n<permissions instructions>/);
    assert.deepEqual(thread.dynamicTools.map((t) => t.type), ['function', 'namespace']);
    assert.notEqual(thread.dynamicTools[0].name, 'exec_command', 'a client tool never takes the name of a Codex built-in');
  });

  it('a client that goes away mid-stream gets its turn interrupted in Codex', async () => {
    const before = fakeMethods(fakeLog).length;
    await abortAfterFirstDelta(gw, { model: MODEL, input: 'fake:slow=100,50', store: false }, auth);
    await waitFor(async () => fakeMethods(fakeLog).slice(before).some((m) => m.method === 'turn/interrupt'), 10000, 'turn/interrupt');
  });

  it('twelve concurrent streams each get their own answer', async () => {
    const runs = [...Array(12).keys()].map(async (k) => {
      const final = await client.responses.stream({ model: MODEL, input: `fake:deltas=${k + 1}`, store: false }).finalResponse();
      return final.output_text;
    });
    const texts = await Promise.all(runs);
    texts.forEach((t, k) => assert.equal(t, [...Array(k + 1).keys()].map((i) => `w${i} `).join('')));
  });

  it('a failure after the first byte is response.failed, with what was complete, and nothing after it', async () => {
    const res = await post({ model: MODEL, input: 'fake:errorafter=ratelimit', stream: true }, { 'X-No-Keepalive': '1' });
    assert.equal(res.status, 200);
    const events = assertResponseStream(assert, res.text);
    const last = events[events.length - 1];
    assert.equal(last.event, 'response.failed');
    assert.equal(last.data.response.status, 'failed');
    assert.equal(last.data.response.error.code, 'rate_limit_exceeded');
    assert.equal(typeof last.data.response.error.message, 'string');
    assert.equal(
      events.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta).join(''),
      'partial answer ',
    );
    assert.equal(events.some((e) => e.event === 'response.completed'), false);
    // Through the SDK: the stream ends on the failed response.
    const stream = client.responses.stream({ model: MODEL, input: 'fake:errorafter=server' });
    let failed = null;
    stream.on('response.failed', (e) => (failed = e.response));
    const final = await stream.finalResponse();
    assert.equal(failed.status, 'failed');
    assert.equal(final.status, 'failed');
    assert.equal(final.error.code, 'server_error');
  });

  it('a failure before the first byte of a stream is an HTTP error, not a 200', async () => {
    const r = await post({ model: MODEL, input: 'fake:error=ratelimit', stream: true });
    assert.equal(r.status, 429);
    assertOpenAIError(assert, r.json, { code: 'rate_limit_exceeded' });
  });
});

describe('responses: structured output', { timeout: 120000 }, () => {
  it('responses.parse with a zod schema: the schema reaches Codex and output_parsed is typed data', async () => {
    const Weather = z.object({
      city: z.string(),
      temp_c: z.number(),
      conditions: z.enum(['sunny', 'rain', 'snow']),
      tags: z.array(z.string()),
      alert: z.string().nullable(),
    });
    const r = await client.responses.parse({ model: MODEL, input: 'Weather in Paris as JSON. fake:json', text: { format: zodTextFormat(Weather, 'weather') } });
    assert.equal(r.status, 'completed');
    assert.deepEqual(r.output_parsed, { city: 'fake', temp_c: 42, conditions: 'sunny', tags: ['fake'], alert: 'fake' });
    assert.equal(r.text.format.type, 'json_schema');
    assert.equal(r.text.format.name, 'weather');
    const start = lastFakeCall(fakeLog, 'turn/start');
    assert.deepEqual(start.outputSchema, zodTextFormat(Weather, 'weather').schema, 'the schema goes to Codex verbatim');
  });
});

describe('responses: tools', { timeout: 120000 }, () => {
  it('a stateless two-round loop: function_call items out, the full item list with outputs back', async () => {
    const input = [{ role: 'user', content: 'Weather in two cities? fake:tooltext=2' }];
    const before = fakeMethods(fakeLog).length;
    const r1 = await client.responses.create({ model: MODEL, input, tools: [weatherTool], store: false });
    assert.equal(r1.status, 'completed');
    assert.deepEqual(r1.output.map((i) => i.type), ['message', 'function_call', 'function_call']);
    assert.equal(r1.output[0].content[0].text, 'Let me check.');
    const calls = r1.output.filter((i) => i.type === 'function_call');
    for (const c of calls) {
      assert.match(c.id, /^fc_/);
      assert.match(c.call_id, /^call_/);
      assert.equal(c.name, 'get_weather', "the client's name, not Codex's alias");
      assert.equal(c.status, 'completed');
    }
    assert.deepEqual(calls.map((c) => JSON.parse(c.arguments)), [{ city: 'Paris' }, { city: 'Tokyo' }]);
    assert.equal(new Set(r1.output.map((i) => i.id)).size, 3, 'item ids are unique');
    await assertToolTurnInterrupted(before);
    const r2 = await client.responses.create({
      model: MODEL,
      tools: [weatherTool],
      store: false,
      input: [
        ...input,
        ...r1.output,
        { type: 'function_call_output', call_id: calls[0].call_id, output: 'sunny' },
        { type: 'function_call_output', call_id: calls[1].call_id, output: [{ type: 'input_text', text: 'rain' }] },
      ],
    });
    assert.equal(r2.output_text, 'Tool said: sunny; rain');
    const injected = lastFakeCall(fakeLog, 'thread/inject_items').items;
    assert.deepEqual(injected.map((i) => i.type), ['message', 'message', 'function_call', 'function_call', 'function_call_output', 'function_call_output']);
    assert.deepEqual(injected[2].call_id, calls[0].call_id);
    assert.deepEqual(lastFakeCall(fakeLog, 'turn/start').input, [], 'a conversation ending in tool results continues with no new input');
  });

  it('a two-round loop with previous_response_id: only the outputs are sent the second time', async () => {
    const r1 = await client.responses.create({ model: MODEL, input: 'Weather? fake:tools', tools: [weatherTool] });
    const [call] = r1.output;
    assert.equal(call.type, 'function_call');
    const r2 = await client.responses.create({
      model: MODEL,
      tools: [weatherTool],
      previous_response_id: r1.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: 'cloudy' }],
    });
    assert.equal(r2.previous_response_id, r1.id);
    assert.equal(r2.output_text, 'Tool said: cloudy');
    const injected = lastFakeCall(fakeLog, 'thread/inject_items').items;
    assert.deepEqual(injected.map((i) => i.type), ['message', 'function_call', 'function_call_output']);
    assert.equal(injected[0].content[0].text, 'Weather? fake:tools');
    assert.equal(injected[1].call_id, call.call_id);
  });

  it('a namespace tool is offered with its namespace and its call comes back with it', async () => {
    const r1 = await client.responses.create({ model: MODEL, input: 'Forecast? fake:tools', tools: [forecastNamespace] });
    const thread = lastFakeCall(fakeLog, 'thread/start');
    assert.equal(thread.dynamicTools.length, 1);
    assert.equal(thread.dynamicTools[0].type, 'namespace');
    assert.deepEqual(thread.dynamicTools[0].tools.map((t) => t.name), ['get_forecast']);
    assert.deepEqual(r1.tools, [forecastNamespace], 'the tools are echoed as sent');
    assert.equal(r1.output.length, 1);
    const [call] = r1.output;
    assert.equal(call.type, 'function_call');
    assert.equal(call.namespace, 'weather', "the client's namespace");
    assert.equal(call.name, 'get_forecast');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
    const r2 = await client.responses.create({
      model: MODEL,
      tools: [forecastNamespace],
      store: false,
      input: [
        { role: 'user', content: 'Forecast? fake:tools' },
        call,
        { type: 'function_call_output', call_id: call.call_id, output: 'mild' },
      ],
    });
    assert.equal(r2.output_text, 'Tool said: mild');
    const injected = lastFakeCall(fakeLog, 'thread/inject_items').items;
    assert.equal(injected[1].type, 'function_call');
    assert.equal(injected[1].name, 'get_forecast');
    assert.equal(injected[1].namespace, lastFakeCall(fakeLog, 'thread/start').dynamicTools[0].name, "replayed under Codex's alias of the namespace");
  });

  it("the Codex CLI's loop: reasoning and a call out, encrypted reasoning, the call and its output back, stateless", async () => {
    const common = { model: MODEL, tools: [weatherTool], store: false, include: ['reasoning.encrypted_content'] };
    const input = [{ role: 'user', content: 'Think, then check. fake:thinktools' }];
    const r1 = await client.responses.create({ ...common, input });
    assert.deepEqual(r1.output.map((i) => i.type), ['reasoning', 'function_call']);
    const [rs, call] = r1.output;
    assert.match(rs.encrypted_content, /^gAAAA/);
    const r2 = await client.responses.create({ ...common, input: [...input, rs, call, { type: 'function_call_output', call_id: call.call_id, output: 'dry' }] });
    assert.equal(r2.output_text, 'Tool said: dry');
    const injected = lastFakeCall(fakeLog, 'thread/inject_items').items;
    assert.deepEqual(injected.map((i) => i.type), ['message', 'reasoning', 'function_call', 'function_call_output']);
    assert.equal(injected[1].encrypted_content, rs.encrypted_content);
  });

  it('parallel_tool_calls: false returns only the first call', async () => {
    const r = await client.responses.create({ model: MODEL, input: 'fake:tools=3', tools: [weatherTool], parallel_tool_calls: false });
    assert.equal(r.output.filter((i) => i.type === 'function_call').length, 1);
    assert.equal(r.parallel_tool_calls, false);
  });

  it("tool_choice names a function: only that one is offered and Codex is told to call it", async () => {
    const other = { ...weatherTool, name: 'get_time' };
    const r = await client.responses.create({ model: MODEL, input: 'fake:echo', tools: [weatherTool, other], tool_choice: { type: 'function', name: 'get_time' } });
    assert.deepEqual(r.tool_choice, { type: 'function', name: 'get_time' });
    const echo = echoOf(r);
    assert.equal(echo.tools.length, 1);
    assert.match(echo.developerInstructions, /must call the function/);
  });
});

/** The gateway interrupts a tool turn in Codex: it never answers a call with a result. */
async function assertToolTurnInterrupted(before) {
  await waitFor(async () => fakeMethods(fakeLog).slice(before).some((m) => m.method === 'turn/interrupt'), 10000, 'turn/interrupt');
  const answered = readFakeLog(fakeLog).filter((e) => e.event === 'recv' && e.line?.result?.contentItems);
  assert.equal(answered.length, 0, 'no tool result was ever sent to Codex');
}

describe('responses: errors', { timeout: 120000 }, () => {
  const cases = [
    ['not JSON', '{"model":', 400, 'invalid_json', null],
    ['a JSON array', '[1,2]', 400, 'invalid_request_error', null],
    ['no model', { input: 'x' }, 400, 'invalid_request_error', 'model'],
    ['unknown model', { model: 'gpt-nope', input: 'x' }, 404, 'model_not_found', 'model'],
    ['no input', { model: MODEL }, 400, 'invalid_request_error', 'input'],
    ['empty input', { model: MODEL, input: [] }, 400, 'invalid_request_error', 'input'],
    ['input of a wrong type', { model: MODEL, input: 42 }, 400, 'invalid_request_error', 'input'],
    ['a message without a role', { model: MODEL, input: [{ content: 'x' }] }, 400, 'invalid_request_error', 'input[0].role'],
    ['a bad role', { model: MODEL, input: [{ role: 'robot', content: 'x' }] }, 400, 'invalid_request_error', 'input[0].role'],
    ['an unsupported item type', { model: MODEL, input: [{ type: 'file_search_call', id: 'fs_1' }] }, 400, 'unsupported_value', 'input[0].type'],
    ['an unsupported content part', { model: MODEL, input: [{ role: 'user', content: [{ type: 'input_audio' }] }] }, 400, 'unsupported_value', 'input[0].content[0]'],
    ['an image by file_id', { model: MODEL, input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file_1' }] }] }, 400, 'unsupported_value', 'input[0].content[0]'],
    ['an output for an unknown call', { model: MODEL, input: [{ role: 'user', content: 'x' }, { type: 'function_call_output', call_id: 'nope', output: 'r' }] }, 400, 'invalid_request_error', 'input'],
    ['an unknown item_reference', { model: MODEL, input: [{ type: 'item_reference', id: 'msg_nope' }] }, 400, 'invalid_request_error', 'input[0].id'],
    ['an unsupported tool type', { model: MODEL, input: 'x', tools: [{ type: 'web_search' }] }, 400, 'unsupported_value', 'tools[0].type'],
    ...['file_search', 'computer_use_preview', 'code_interpreter', 'custom', 'mcp', 'image_generation', 'local_shell'].map((type) =>
      [`a hosted tool (${type})`, { model: MODEL, input: 'x', tools: [weatherTool, { type }] }, 400, 'unsupported_value', 'tools[1].type']),
    ['a function tool without a name', { model: MODEL, input: 'x', tools: [{ type: 'function', parameters: {} }] }, 400, 'invalid_request_error', 'tools[0].name'],
    ['an empty namespace', { model: MODEL, input: 'x', tools: [{ type: 'namespace', name: 'ns', tools: [] }] }, 400, 'invalid_request_error', 'tools[0].tools'],
    ['tool_choice without tools', { model: MODEL, input: 'x', tool_choice: 'required' }, 400, 'invalid_request_error', 'tool_choice'],
    ['a hosted tool_choice', { model: MODEL, input: 'x', tools: [weatherTool], tool_choice: { type: 'web_search_preview' } }, 400, 'unsupported_value', 'tool_choice'],
    ['background: true', { model: MODEL, input: 'x', background: true }, 400, 'unsupported_parameter', 'background'],
    ['conversation', { model: MODEL, input: 'x', conversation: 'conv_123' }, 400, 'unsupported_parameter', 'conversation'],
    ['a prompt template', { model: MODEL, input: 'x', prompt: { id: 'pmpt_1' } }, 400, 'unsupported_parameter', 'prompt'],
    ['top_logprobs', { model: MODEL, input: 'x', top_logprobs: 3 }, 400, 'unsupported_parameter', 'top_logprobs'],
    ['an unknown text.format type', { model: MODEL, input: 'x', text: { format: { type: 'xml' } } }, 400, 'unsupported_value', 'text.format.type'],
    ['text.format json_schema without a schema', { model: MODEL, input: 'x', text: { format: { type: 'json_schema', name: 'n' } } }, 400, 'invalid_request_error', 'text.format.schema'],
    ['text.format json_schema without a name', { model: MODEL, input: 'x', text: { format: { type: 'json_schema', schema: {} } } }, 400, 'invalid_request_error', 'text.format.name'],
    ['text.format.strict not a boolean', { model: MODEL, input: 'x', text: { format: { type: 'json_schema', name: 'n', schema: {}, strict: 'yes' } } }, 400, 'invalid_request_error', 'text.format.strict'],
    ['a tool output as a number', { model: MODEL, input: [{ type: 'function_call', call_id: 'c1', name: 'get_weather', arguments: '{}' }, { type: 'function_call_output', call_id: 'c1', output: 5 }], tools: [weatherTool] }, 400, 'invalid_request_error', 'input[1].output'],
    ['an unanswered function_call', { model: MODEL, input: [{ type: 'function_call', call_id: 'c1', name: 'get_weather', arguments: '{}' }, { role: 'user', content: 'x' }], tools: [weatherTool] }, 400, 'invalid_request_error', 'input'],
    ['a bad text.verbosity', { model: MODEL, input: 'x', text: { verbosity: 'loud' } }, 400, 'unsupported_value', 'text.verbosity'],
    ['an unknown include value', { model: MODEL, input: 'x', include: ['reasoning.encrypted_content', 'nope.nope'] }, 400, 'unsupported_value', 'include[1]'],
    ['include logprobs', { model: MODEL, input: 'x', include: ['message.output_text.logprobs'] }, 400, 'unsupported_value', 'include[0]'],
    ['an unknown reasoning effort', { model: MODEL, input: 'x', reasoning: { effort: 'extreme' } }, 400, 'unsupported_value', 'reasoning.effort'],
    ['a bad reasoning summary', { model: MODEL, input: 'x', reasoning: { summary: 'long' } }, 400, 'unsupported_value', 'reasoning.summary'],
    ['temperature out of range', { model: MODEL, input: 'x', temperature: 3 }, 400, 'invalid_request_error', 'temperature'],
    ['max_output_tokens of zero', { model: MODEL, input: 'x', max_output_tokens: 0 }, 400, 'invalid_request_error', 'max_output_tokens'],
    ['stream not a boolean', { model: MODEL, input: 'x', stream: 'yes' }, 400, 'invalid_request_error', 'stream'],
    ['store not a boolean', { model: MODEL, input: 'x', store: 'no' }, 400, 'invalid_request_error', 'store'],
    ['metadata with a non-string value', { model: MODEL, input: 'x', metadata: { n: 1 } }, 400, 'invalid_request_error', 'metadata'],
    ['metadata with 17 keys', { model: MODEL, input: 'x', metadata: Object.fromEntries([...Array(17).keys()].map((k) => [`k${k}`, 'v'])) }, 400, 'invalid_request_error', 'metadata'],
    ['an unknown truncation', { model: MODEL, input: 'x', truncation: 'middle' }, 400, 'unsupported_value', 'truncation'],
    ['an unknown previous_response_id', { model: MODEL, input: 'x', previous_response_id: 'resp_doesnotexist' }, 400, 'previous_response_not_found', 'previous_response_id'],
  ];
  for (const [name, body, status, code, param] of cases) {
    it(`answers ${name} with ${status} ${code}`, async () => {
      const r = await post(body);
      assert.equal(r.status, status, r.text);
      assert.match(r.headers.get('content-type'), /^application\/json/);
      assertOpenAIError(assert, r.json, { code, param });
    });
  }

  it('answers a wrong content type with 415, and takes application/json with a charset', async () => {
    const body = JSON.stringify({ model: MODEL, input: 'x' });
    const r = await post(body, { 'Content-Type': 'text/plain' });
    assert.equal(r.status, 415);
    assertOpenAIError(assert, r.json, { code: 'unsupported_media_type' });
    const ok = await post(body, { 'Content-Type': 'application/json; charset=utf-8' });
    assert.equal(ok.status, 200);
  });

  it('requires the API key before anything else: none or a wrong one is 401', async () => {
    const none = await postResponse(gw, '{bad json');
    assert.equal(none.status, 401);
    assertOpenAIError(assert, none.json, { code: 'invalid_api_key' });
    const wrong = await postResponse(gw, { model: MODEL, input: 'x' }, { Authorization: 'Bearer sk-wrong' });
    assert.equal(wrong.status, 401);
    assertOpenAIError(assert, wrong.json, { code: 'invalid_api_key' });
    const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await assert.rejects(bad.responses.create({ model: MODEL, input: 'x' }), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  });

  it('the SDK surfaces a 400 as BadRequestError with the param', async () => {
    await assert.rejects(client.responses.create({ model: MODEL, input: 'x', background: true }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.param, 'background');
      return true;
    });
  });

  it('maps a Codex failure before any output to the HTTP status a client can act on', async () => {
    const r = await post({ model: MODEL, input: 'fake:error=usage' });
    assert.equal(r.status, 429);
    assertOpenAIError(assert, r.json, { code: 'insufficient_quota' });
    const ctx = await post({ model: MODEL, input: 'fake:error=context' });
    assert.equal(ctx.status, 400);
    assertOpenAIError(assert, ctx.json, { code: 'context_length_exceeded' });
  });

  it('answers a wrong method with 405 and Allow', async () => {
    const r = await request(gw, '/v1/responses', { method: 'GET', headers: auth });
    assert.equal(r.status, 405);
    assert.match(r.headers.get('allow'), /POST/);
    assertOpenAIError(assert, r.json, { code: 'method_not_allowed' });
  });
});

describe('responses: keepalive', { timeout: 60000 }, () => {
  it('keepalive comments flow while a slow answer streams, and the stream stays well-formed', async () => {
    const g2 = await startGateway({ env: { PROXY_SSE_KEEPALIVE_MS: '50' }, waitReady: true });
    try {
      const r = await postResponse(g2, { model: MODEL, input: 'fake:slow=200,2', stream: true });
      const all = sseEvents(r.text);
      assert.ok(all.some((e) => e.comment === 'keepalive'), 'keepalive comments are sent');
      assertResponseStream(assert, r.text);
    } finally {
      await stopClean(assert, g2);
    }
  });
});
