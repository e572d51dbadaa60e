// The pinned Codex CLI as a CLIENT of the gateway: `codex exec` with the gateway as its model
// provider (wire_api = "responses", a gateway key from env_key), the gateway's own real Codex
// workers behind it and the mock model behind those. The outer CLI runs its tools itself; the
// inner workers only run the model, and see the outer CLI's tools under a private prefix.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AFTER_TOOL_PREFIX, MODEL_TEXT } from './mock-model.mjs';
import { repoRoot } from '../lib/gateway.mjs';
import { clientConfig, itemText, runCodexClient, startCodexClient, startCodexGateway, upstreamFor } from './codex.mjs';

const KEY = 'e2e-client-key';
const CLIENT_MODEL = 'codex-5';

describe('the Codex CLI as a client of the gateway', { timeout: 120000 }, () => {
  let env;
  let baseUrl;
  before(async () => {
    env = await startCodexGateway({ env: { PROXY_API_KEY: KEY } });
    baseUrl = `${env.gw.url}/v1`;
  });
  after(async () => {
    if (env) await env.close(assert);
  });

  const run = (prompt, key = KEY) => runCodexClient({ baseUrl, model: CLIENT_MODEL, key, prompt });
  /** Statuses of the gateway's POST /v1/responses access-log lines so far. */
  const served = () => env.gw.logs.filter((l) => l.event === 'access' && l.path === '/v1/responses').map((l) => l.status);
  const explain = (r) => `exit ${r.code} ${r.signal ?? ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr.slice(-3000)}`;

  it('codex exec prints the model text and exits 0', async () => {
    const r = await run('Say hello. mock:text #cli-text');
    assert.equal(r.code, 0, explain(r));
    assert.equal(r.stdout.trim(), MODEL_TEXT, explain(r));
    assert.deepEqual(r.trapped, [], 'the CLI tried to reach something other than 127.0.0.1');
    assert.deepEqual(served(), [200], 'one request through the gateway');

    // What reached the model: the CLI's own request, replayed by the inner worker.
    const up = upstreamFor(env.mock, '#cli-text');
    assert.equal(up.body.model, 'mock-model');
    assert.equal(up.headers.authorization, undefined, 'the gateway key stays at the gateway');
    assert.ok(up.body.input.some((it) => it.role === 'user' && itemText(it).includes('<environment_context>')),
      'the CLI\'s environment context reached the model as a user message');
  });

  it('codex exec runs the model\'s exec_command call itself and continues from its output', async () => {
    const marker = `e2e-marker-${crypto.randomBytes(6).toString('hex')}`;
    const r = await run(`Run a command. mock:exec ${marker}`);
    assert.equal(r.code, 0, explain(r));
    assert.ok(r.stdout.includes(AFTER_TOOL_PREFIX), explain(r));
    const said = r.stdout.slice(r.stdout.indexOf(AFTER_TOOL_PREFIX));
    assert.match(said, /Process exited with code 0/, explain(r));
    assert.match(said, new RegExp(`^${marker}$`, 'm'), 'the echo output, on a line of its own');
    assert.deepEqual(r.trapped, []);
    assert.deepEqual(served(), [200, 200, 200], 'the call and the continuation through the gateway');

    const ups = env.mock.responsesRequests().filter((q) => JSON.stringify(q.body.input).includes(marker));
    assert.deepEqual(ups.map((q) => q.scenario), ['exec', 'after_tool']);
    // The inner worker offers the CLI's tool under its private prefix, never as a tool of its own.
    const names = (ups[0].body.tools ?? []).map((t) => t.name);
    const exec = names.filter((n) => n?.endsWith('exec_command'));
    assert.equal(exec.length, 1, `tools: ${JSON.stringify(names)}`);
    assert.notEqual(exec[0], 'exec_command');
    // The second turn carries the CLI's call and the output the CLI produced by running it.
    const input = ups[1].body.input;
    const fc = input.findLast((it) => it.type === 'function_call');
    assert.equal(fc.name, exec[0]);
    assert.deepEqual(JSON.parse(fc.arguments), { cmd: `echo ${marker}` });
    const out = input.at(-1);
    assert.equal(out.type, 'function_call_output');
    assert.equal(out.call_id, fc.call_id);
    assert.ok(JSON.stringify(out.output).includes(marker));
  });

  it('codex exec resume continues the session, the gateway replaying every earlier turn', async () => {
    const cli = await startCodexClient({ baseUrl, model: CLIENT_MODEL, key: KEY });
    try {
      const first = await cli.exec('First question. mock:text #cli-turn1');
      assert.equal(first.code, 0, explain(first));
      const second = await cli.exec('Second question. mock:text #cli-turn2', { resume: true });
      assert.equal(second.code, 0, explain(second));
      assert.equal(second.stdout.trim(), MODEL_TEXT, explain(second));
      assert.deepEqual(second.trapped, []);
    } finally {
      await cli.close();
    }
    const conversation = upstreamFor(env.mock, '#cli-turn2').body.input
      .filter((it) => (it.role === 'user' || it.role === 'assistant') && !itemText(it).includes('<environment_context>'))
      .map((it) => [it.role, itemText(it)]);
    assert.deepEqual(conversation, [
      ['user', 'First question. mock:text #cli-turn1'],
      ['assistant', MODEL_TEXT],
      ['user', 'Second question. mock:text #cli-turn2'],
    ]);
  });

  it('codex exec with a wrong key fails without reaching the model', async () => {
    const seen = env.mock.requests.length;
    const r = await run('Say hello. mock:text #cli-badkey', 'not-the-key');
    assert.notEqual(r.code, 0, explain(r));
    assert.match(r.stdout + r.stderr, /401/, explain(r));
    assert.equal(served().at(-1), 401);
    assert.equal(env.mock.requests.length, seen);
  });

  it('codex exec with Codex\'s default web search gets the gateway\'s 400 naming the tool', async () => {
    // Why the client config says web_search = "disabled": by default the CLI offers the hosted
    // web_search tool, which no Codex worker can run for it.
    const seen = env.mock.requests.length;
    const config = clientConfig(baseUrl, CLIENT_MODEL).replace('web_search = "disabled"\n', '');
    assert.notEqual(config, clientConfig(baseUrl, CLIENT_MODEL));
    const r = await runCodexClient({ baseUrl, model: CLIENT_MODEL, key: KEY, prompt: 'Say hello. mock:text #cli-websearch', config });
    assert.notEqual(r.code, 0, explain(r));
    assert.match(r.stderr, /Tools of type 'web_search' are not supported.*"param":"tools\[\d+\]\.type"/, explain(r));
    assert.equal(served().at(-1), 400);
    assert.equal(env.mock.requests.length, seen);
  });

  it('the README shows the configuration this suite runs', () => {
    const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Using the Codex CLI as a client'));
    const block = /```toml\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(block, 'a toml block in the section');
    const strip = (text) => text.split('\n').map((l) => l.replace(/\s+#.*$/, '').trimEnd()).join('\n');
    assert.equal(strip(block), clientConfig('http://127.0.0.1:11435/v1', CLIENT_MODEL));
  });

  it('the model saw only POST /v1/responses', () => {
    for (const q of env.mock.requests) assert.equal(`${q.method} ${q.path}`, 'POST /v1/responses');
    assert.equal(env.mock.requests.length, 5, 'text, exec and its continuation, two turns; nothing for a refused request');
  });
});
