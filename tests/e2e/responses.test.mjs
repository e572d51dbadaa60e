// The Responses API through the real `codex app-server` (pinned CLI) against the mock model, with
// the official SDK: a plain response, a stream read through the SDK's event helpers, and a
// function-tool round trip, stateless (the client resends every item), through a namespace tool
// and stored (previous_response_id). One gateway and one worker for the whole file.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AFTER_TOOL_PREFIX, MODEL_TEXT, TOOL_ARGS, USAGE } from './mock-model.mjs';
import { MODEL, SYSTEM_PROMPT, WEATHER_TOOL, itemText, startCodexGateway, upstreamFor } from './codex.mjs';

const WEATHER_OUTPUT = '{"temperature_c":21,"sky":"clear"}';

/** WEATHER_TOOL in the flat shape of a Responses function tool. */
const RESPONSES_WEATHER_TOOL = Object.freeze({ type: 'function', ...WEATHER_TOOL.function, strict: true });

/** RESPONSES_WEATHER_TOOL inside a namespace, as the Codex CLI groups its tools. */
const WEATHER_NAMESPACE = Object.freeze({
  type: 'namespace',
  name: 'weather',
  description: 'Weather tools',
  tools: [{ ...RESPONSES_WEATHER_TOOL }],
});

/** The counts of a Responses usage object: the gateway's and the mock's upstream one (USAGE) alike. */
function usageOf(usage) {
  return {
    input_tokens: usage.input_tokens,
    cached_tokens: usage.input_tokens_details?.cached_tokens,
    output_tokens: usage.output_tokens,
    reasoning_tokens: usage.output_tokens_details?.reasoning_tokens,
    total_tokens: usage.total_tokens,
  };
}

/** The event types of a stream with each run of one type folded into one entry. */
function foldedTypes(events) {
  return events.map((e) => e.type).filter((t, i, all) => i === 0 || all[i - 1] !== t);
}

/** The one upstream request of scenario `after_tool` whose conversation mentions `marker`. */
function afterToolUpstream(mock, marker) {
  const found = mock.responsesRequests().filter((r) => r.scenario === 'after_tool' &&
    r.body.input.some((it) => it.role === 'user' && itemText(it).includes(marker)));
  assert.equal(found.length, 1, `after_tool requests mentioning ${marker}`);
  return found[0].body;
}

/** Checks the first turn of a tool round trip: exactly one function_call, as the client named it. */
function assertWeatherCall(r) {
  assert.equal(r.status, 'completed');
  const calls = r.output.filter((it) => it.type === 'function_call');
  assert.equal(calls.length, 1, `output: ${JSON.stringify(r.output)}`);
  const [call] = calls;
  assert.equal(call.name, 'get_weather', 'the client name, without the private prefix');
  assert.equal(typeof call.call_id, 'string');
  assert.ok(call.call_id.length > 0);
  assert.deepEqual(JSON.parse(call.arguments), TOOL_ARGS[0]);
  assert.equal(r.output_text, '', 'no text beside the call');
  assert.deepEqual(usageOf(r.usage), usageOf(USAGE.tool));
  return call;
}

/** Checks the upstream replay of a finished round trip: the call, then its output, last. */
function assertReplay(input, call) {
  const types = input.map((it) => it.type ?? 'message');
  const fc = types.indexOf('function_call');
  assert.ok(fc > 0 && types[fc + 1] === 'function_call_output', `input item types ${JSON.stringify(types)}`);
  assert.equal(fc + 1, input.length - 1, 'the tool output is the last item');
  assert.equal(input[fc].name, 'fn_get_weather');
  assert.equal(input[fc].call_id, call.call_id);
  assert.deepEqual(JSON.parse(input[fc].arguments), TOOL_ARGS[0]);
  assert.equal(input[fc + 1].call_id, call.call_id);
  const out = input[fc + 1].output;
  assert.equal(typeof out === 'string' ? out : itemText({ content: out }), WEATHER_OUTPUT);
}

describe('the Responses API through the real Codex', { timeout: 120000 }, () => {
  let env;
  let client;
  let mock;
  before(async () => {
    env = await startCodexGateway();
    client = env.client;
    mock = env.mock;
  });
  after(async () => {
    if (env) await env.close(assert);
  });

  it('responses.create answers with the mock text, status completed and the upstream usage', async () => {
    const r = await client.responses.create({
      model: 'codex-5',
      instructions: SYSTEM_PROMPT,
      input: 'Say hello. mock:text #r-create',
    });
    assert.equal(r.object, 'response');
    assert.match(r.id, /^resp_/);
    assert.equal(r.status, 'completed');
    assert.equal(r.model, 'codex-5');
    assert.equal(r.output_text, MODEL_TEXT);
    const messages = r.output.filter((it) => it.type === 'message');
    assert.equal(messages.length, 1);
    assert.equal(messages[0].role, 'assistant');
    assert.deepEqual(messages[0].content.map((p) => [p.type, p.text]), [['output_text', MODEL_TEXT]]);
    assert.deepEqual(usageOf(r.usage), usageOf(USAGE.text));
    assert.equal(r.instructions, SYSTEM_PROMPT);

    const up = upstreamFor(mock, '#r-create').body;
    assert.equal(up.model, MODEL);
    assert.equal(itemText(up.input[0]), SYSTEM_PROMPT, 'the instructions reach the model first');
  });

  it('responses.stream delivers the events in order, numbered from 0, and the accumulated text', async () => {
    const stream = client.responses.stream({ model: 'codex-5', input: 'Stream it. mock:text #r-stream' });
    const events = [];
    const deltas = [];
    stream.on('event', (e) => events.push(e));
    stream.on('response.output_text.delta', (e) => deltas.push(e));
    const final = await stream.finalResponse();

    assert.deepEqual(foldedTypes(events), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i),
      'sequence_number counts from 0 without a gap');
    assert.equal(new Set(events.filter((e) => e.response).map((e) => e.response.id)).size, 1, 'one response id');

    assert.ok(deltas.length >= 1);
    assert.equal(deltas.map((d) => d.delta).join(''), MODEL_TEXT);
    assert.equal(deltas.at(-1).snapshot, MODEL_TEXT, 'the SDK accumulated the whole text');
    const item = events.find((e) => e.type === 'response.output_item.added').item;
    for (const d of deltas) assert.equal(d.item_id, item.id);
    assert.equal(events.find((e) => e.type === 'response.output_text.done').text, MODEL_TEXT);

    assert.equal(final.status, 'completed');
    assert.equal(final.output_text, MODEL_TEXT);
    assert.equal(final.id, events[0].response.id);
    assert.deepEqual(usageOf(final.usage), usageOf(USAGE.text));
    // The SDK's final response is response.completed's, plus the fields it derives itself.
    const { output_text: _text, output_parsed: _parsed, ...rest } = final;
    const unparsed = rest.output.map((it) => ({ ...it, content: it.content.map(({ parsed: _p, ...part }) => part) }));
    assert.deepEqual({ ...rest, output: unparsed }, events.at(-1).response);
  });

  it('runs a streamed function-tool round trip statelessly, the client resending every item', async () => {
    const input = [{ role: 'user', content: 'Weather in Paris? mock:tool #r-stateless' }];
    const stream = client.responses.stream({ model: 'codex-5', store: false, tools: [RESPONSES_WEATHER_TOOL], input });
    const events = [];
    const argDeltas = [];
    stream.on('event', (e) => events.push(e));
    stream.on('response.function_call_arguments.delta', (e) => argDeltas.push(e));
    const first = await stream.finalResponse();
    const call = assertWeatherCall(first);
    assert.deepEqual(foldedTypes(events), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const added = events.find((e) => e.type === 'response.output_item.added').item;
    assert.deepEqual([added.type, added.name, added.call_id], ['function_call', 'get_weather', call.call_id]);
    assert.deepEqual(JSON.parse(argDeltas.map((e) => e.delta).join('')), TOOL_ARGS[0]);
    assert.equal(argDeltas.at(-1).snapshot, call.arguments, 'the SDK accumulated the arguments');
    assert.deepEqual(upstreamFor(mock, '#r-stateless').body.tools.map((t) => t.name), ['fn_get_weather']);

    const second = await client.responses.create({
      model: 'codex-5',
      store: false,
      tools: [RESPONSES_WEATHER_TOOL],
      input: [...input, ...first.output, { type: 'function_call_output', call_id: call.call_id, output: WEATHER_OUTPUT }],
    });
    assert.equal(second.status, 'completed');
    assert.equal(second.output_text, AFTER_TOOL_PREFIX + WEATHER_OUTPUT);
    assert.deepEqual(usageOf(second.usage), usageOf(USAGE.after_tool));
    assertReplay(afterToolUpstream(mock, '#r-stateless').input, call);
  });

  it('runs a round trip through a namespace tool, the call coming back with its namespace', async () => {
    const input = [{ role: 'user', content: 'Weather in Paris? mock:ns_tool #r-namespace' }];
    const first = await client.responses.create({ model: 'codex-5', store: false, tools: [WEATHER_NAMESPACE], input });
    const call = assertWeatherCall(first);
    assert.equal(call.namespace, 'weather', 'the client\'s namespace, without the private prefix');
    const offered = upstreamFor(mock, '#r-namespace').body.tools;
    assert.deepEqual(offered.map((t) => [t.type, t.name, t.tools?.map((f) => f.name)]),
      [['namespace', 'fn_weather', ['get_weather']]]);

    const second = await client.responses.create({
      model: 'codex-5',
      store: false,
      tools: [WEATHER_NAMESPACE],
      input: [...input, ...first.output, { type: 'function_call_output', call_id: call.call_id, output: WEATHER_OUTPUT }],
    });
    assert.equal(second.output_text, AFTER_TOOL_PREFIX + WEATHER_OUTPUT);
    const replayed = afterToolUpstream(mock, '#r-namespace').input.find((it) => it.type === 'function_call');
    assert.deepEqual([replayed.namespace, replayed.name, replayed.call_id], ['fn_weather', 'get_weather', call.call_id]);
  });

  it('runs a function-tool round trip on a stored response with previous_response_id', async () => {
    const first = await client.responses.create({
      model: 'codex-5',
      tools: [RESPONSES_WEATHER_TOOL],
      input: 'Weather in Paris? mock:tool #r-stored',
    });
    assert.equal(first.store, true, 'stored by default');
    const call = assertWeatherCall(first);

    const second = await client.responses.create({
      model: 'codex-5',
      tools: [RESPONSES_WEATHER_TOOL],
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: WEATHER_OUTPUT }],
    });
    assert.equal(second.status, 'completed');
    assert.equal(second.previous_response_id, first.id);
    assert.equal(second.output_text, AFTER_TOOL_PREFIX + WEATHER_OUTPUT);
    const up = afterToolUpstream(mock, '#r-stored');
    assertReplay(up.input, call);
    assert.ok(itemText(up.input.find((it) => it.role === 'user')).endsWith('#r-stored'),
      'the stored chain starts with the first request\'s input');
  });

  it('contacted nothing upstream but POST /v1/responses', () => {
    for (const r of mock.requests) assert.equal(`${r.method} ${r.path}`, 'POST /v1/responses');
    assert.equal(mock.requests.length, 8, 'one upstream request per response');
  });
});
