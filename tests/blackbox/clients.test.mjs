// The ecosystem, unmodified, against the gateway and the fake app-server: the Vercel AI SDK's
// default OpenAI provider, the OpenAI Agents SDK's default model and LangChain's ChatOpenAI with
// a codex-* model all speak the Responses API by themselves.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { Agent, OpenAIProvider, Runner, setTracingDisabled, tool as agentTool } from '@openai/agents';
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { fakeMethods, startGateway, stopClean, tempDir, waitFor } from '../lib/gateway.mjs';
import { lastFakeCall } from '../lib/responses.mjs';

const KEY = 'sk-clients';
const MODEL = 'codex-5';

// The Agents SDK exports traces to OpenAI by default; LangChain traces to LangSmith when the
// environment asks for it. Nothing leaves the machine.
setTracingDisabled(true);
process.env.OPENAI_AGENTS_DISABLE_TRACING = '1';
for (const k of ['LANGCHAIN_TRACING_V2', 'LANGSMITH_TRACING', 'LANGCHAIN_TRACING']) process.env[k] = 'false';

let gw;
let logDir;
let fakeLog;
let baseURL;

before(async () => {
  logDir = tempDir('cg-clients-');
  fakeLog = path.join(logDir.dir, 'fake.jsonl');
  gw = await startGateway({ env: { PROXY_API_KEY: KEY, FAKE_CODEX_LOG: fakeLog }, waitReady: true });
  baseURL = `${gw.url}/v1`;
});

after(async () => {
  await stopClean(assert, gw);
  logDir.remove();
});

/**
 * Runs `fn` and returns what it returned and the API requests the gateway logged meanwhile
 * ("METHOD path status"). Each such request started one Codex thread, and its access line is
 * written once the exchange ends, so the lines are complete when there are as many as threads.
 */
async function routesOf(fn) {
  const from = gw.logs.length;
  const threadsBefore = fakeMethods(fakeLog).filter((m) => m.method === 'thread/start').length;
  const out = await fn();
  const api = () => gw.logs.slice(from).filter((l) => l.event === 'access' && l.path.startsWith('/v1/'));
  const threads = fakeMethods(fakeLog).filter((m) => m.method === 'thread/start').length - threadsBefore;
  await waitFor(async () => api().length >= threads, 10000, 'access lines');
  return { out, routes: api().map((l) => `${l.method} ${l.path} ${l.status}`) };
}

const onlyResponses = (routes, n) => {
  assert.ok(routes.length >= n, `at least ${n} request(s): ${routes}`);
  for (const r of routes) assert.match(r, /^POST \/v1\/responses 200$/);
};

describe('Vercel AI SDK: createOpenAI(...)(model) uses the Responses API', { timeout: 120000 }, () => {
  const provider = () => createOpenAI({ baseURL, apiKey: KEY });

  it('generateText', async () => {
    const { out, routes } = await routesOf(() => generateText({ model: provider()(MODEL), prompt: 'hi' }));
    assert.equal(out.text, 'Hello from fake-codex.');
    assert.equal(out.finishReason, 'stop');
    assert.equal(out.usage.inputTokens, 21);
    assert.equal(out.usage.outputTokens, 9);
    assert.equal(out.usage.totalTokens, 30);
    onlyResponses(routes, 1);
  });

  it('streamText', async () => {
    const { out, routes } = await routesOf(async () => {
      const result = streamText({ model: provider()(MODEL), prompt: 'fake:deltas=4' });
      const parts = [];
      for await (const t of result.textStream) parts.push(t);
      return { parts, usage: await result.usage, finishReason: await result.finishReason };
    });
    assert.equal(out.parts.join(''), 'w0 w1 w2 w3 ');
    assert.ok(out.parts.length >= 2, 'the text arrives in pieces');
    assert.equal(out.finishReason, 'stop');
    assert.equal(out.usage.totalTokens, 30);
    onlyResponses(routes, 1);
  });

  it('one tool round: the SDK runs the tool and the model answers from its result', async () => {
    const executed = [];
    const { out, routes } = await routesOf(() =>
      generateText({
        model: provider()(MODEL),
        prompt: 'Weather in Paris? fake:tooltext',
        tools: {
          get_weather: tool({
            description: 'Weather for a city',
            inputSchema: z.object({ city: z.string() }),
            execute: async ({ city }) => {
              executed.push(city);
              return `sunny in ${city}`;
            },
          }),
        },
        stopWhen: stepCountIs(3),
      }));
    assert.deepEqual(executed, ['Paris']);
    assert.equal(out.steps.length, 2);
    assert.equal(out.steps[0].finishReason, 'tool-calls');
    assert.equal(out.steps[0].text, 'Let me check.');
    assert.match(out.text, /^Tool said: .*sunny in Paris/);
    onlyResponses(routes, 2);
    // With store on (its default) the SDK sends the first step's text back as an item_reference.
    const injected = lastFakeCall(fakeLog, 'thread/inject_items').items;
    assert.deepEqual(injected.map((i) => i.type), ['message', 'message', 'function_call', 'function_call_output']);
    assert.equal(injected[1].content[0].text, 'Let me check.');
  });

  it('a tool round after reasoning: the SDK refers back to the stored reasoning item', async () => {
    const { out, routes } = await routesOf(() =>
      generateText({
        model: provider()(MODEL),
        prompt: 'Think, then check. fake:thinktools',
        tools: {
          get_weather: tool({ description: 'Weather for a city', inputSchema: z.object({ city: z.string() }), execute: async ({ city }) => `fog in ${city}` }),
        },
        stopWhen: stepCountIs(3),
      }));
    assert.equal(out.steps.length, 2);
    assert.equal(out.steps[0].reasoningText, '**Plan** think step one.');
    assert.match(out.text, /^Tool said: .*fog in Paris/);
    onlyResponses(routes, 2);
    const injected = lastFakeCall(fakeLog, 'thread/inject_items').items;
    assert.deepEqual(injected.map((i) => i.type), ['message', 'reasoning', 'function_call', 'function_call_output']);
    assert.match(injected[1].encrypted_content, /^gAAAA/, 'the stored reasoning, with its encrypted content');
  });

  it('generateObject: a zod schema as the structured output', async () => {
    const schema = z.object({ city: z.string(), days: z.number(), sunny: z.boolean() });
    const { out, routes } = await routesOf(() => generateObject({ model: provider()(MODEL), schema, prompt: 'Forecast as JSON. fake:json' }));
    assert.deepEqual(out.object, { city: 'fake', days: 42, sunny: true });
    onlyResponses(routes, 1);
    assert.equal(lastFakeCall(fakeLog, 'turn/start').outputSchema.type, 'object');
  });
});

describe('OpenAI Agents SDK: the default (Responses) model', { timeout: 120000 }, () => {
  const runner = () => new Runner({ modelProvider: new OpenAIProvider({ apiKey: KEY, baseURL }), tracingDisabled: true });

  it("run(agent, 'hi')", async () => {
    const agent = new Agent({ name: 'Assistant', instructions: 'You are terse.', model: MODEL });
    const { out, routes } = await routesOf(() => runner().run(agent, 'hi'));
    assert.equal(out.finalOutput, 'Hello from fake-codex.');
    onlyResponses(routes, 1);
    assert.equal(lastFakeCall(fakeLog, 'thread/start').baseInstructions, 'You are terse.');
  });

  it('an agent with a function tool runs it and finishes on the answer', async () => {
    const calls = [];
    const getWeather = agentTool({
      name: 'get_weather',
      description: 'Weather for a city',
      parameters: z.object({ city: z.string() }),
      execute: async ({ city }) => {
        calls.push(city);
        return `rain in ${city}`;
      },
    });
    const agent = new Agent({ name: 'Weather', instructions: 'Use the tool.', model: MODEL, tools: [getWeather] });
    const { out, routes } = await routesOf(() => runner().run(agent, 'Weather in Paris? fake:tools'));
    assert.deepEqual(calls, ['Paris']);
    assert.match(out.finalOutput, /^Tool said: .*rain in Paris/);
    onlyResponses(routes, 2);
  });

  it('a streamed run yields the text as it comes', async () => {
    const agent = new Agent({ name: 'Streamer', instructions: 'Be brief.', model: MODEL });
    const { out, routes } = await routesOf(async () => {
      const result = await runner().run(agent, 'fake:deltas=3', { stream: true });
      const parts = [];
      for await (const t of result.toTextStream()) parts.push(t);
      await result.completed;
      return { parts, final: result.finalOutput };
    });
    assert.equal(out.parts.join(''), 'w0 w1 w2 ');
    assert.equal(out.final, 'w0 w1 w2 ');
    onlyResponses(routes, 1);
  });
});

describe('LangChain ChatOpenAI with a codex-* model switches to the Responses API by itself', { timeout: 120000 }, () => {
  const chatModel = () => new ChatOpenAI({ model: MODEL, apiKey: KEY, configuration: { baseURL }, maxRetries: 0 });

  it('invoke', async () => {
    const { out, routes } = await routesOf(() => chatModel().invoke('hi'));
    assert.equal(out.text, 'Hello from fake-codex.');
    assert.equal(out.usage_metadata.input_tokens, 21);
    assert.equal(out.usage_metadata.output_tokens, 9);
    onlyResponses(routes, 1);
  });

  it('stream', async () => {
    const { out, routes } = await routesOf(async () => {
      const parts = [];
      for await (const chunk of await chatModel().stream('fake:deltas=3')) parts.push(chunk.text);
      return parts;
    });
    assert.equal(out.join(''), 'w0 w1 w2 ');
    onlyResponses(routes, 1);
  });
  it('bindTools: the call comes back as a LangChain tool call', async () => {
    const getWeather = {
      type: 'function',
      function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
    };
    const { out, routes } = await routesOf(() => chatModel().bindTools([getWeather]).invoke('Weather? fake:tools'));
    assert.deepEqual(out.tool_calls.map((c) => [c.name, c.args]), [['get_weather', { city: 'Paris' }]]);
    assert.match(out.tool_calls[0].id, /^call_/);
    onlyResponses(routes, 1);
  });

  it('withStructuredOutput: a zod schema as the structured output', async () => {
    const schema = z.object({ answer: z.string(), confidence: z.number() });
    const { out, routes } = await routesOf(() => chatModel().withStructuredOutput(schema, { name: 'verdict' }).invoke('Judge. fake:json'));
    assert.deepEqual(out, { answer: 'fake', confidence: 42 });
    onlyResponses(routes, 1);
  });
});
