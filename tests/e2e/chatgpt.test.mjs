// Model mode under a ChatGPT login (a fake one: unsigned tokens, the mock as the ChatGPT
// backend). A ChatGPT login switches on Codex features an API-key provider never sees (the apps
// connector and image generation); model mode must keep them off, so the upstream request
// carries exactly the client's tools and Codex makes no calls of its own to the apps backend.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from '../lib/gateway.mjs';
import { CODEX_NATIVE, WEATHER_TOOL, health, startCodexGateway, workerSocketPeers } from './codex.mjs';
import { chatgptTokens } from './mock-model.mjs';

const run = promisify(execFile);

describe('model mode under a ChatGPT login', { timeout: 120000 }, () => {
  let env;
  before(async () => {
    env = await startCodexGateway({ chatgpt: true });
  });
  after(async () => {
    if (env) await env.close(assert);
  });

  it('the upstream request carries exactly the client\'s tools, and no apps (ps/mcp) calls are made', async () => {
    const { client, mock } = env;
    const r = await client.chat.completions.create({
      model: 'codex-5',
      tools: [WEATHER_TOOL],
      messages: [{ role: 'user', content: 'Tools offered, none called. mock:text #chatgpt-tools' }],
    });
    assert.equal(r.choices[0].message.content, 'Hello from the mock model.');
    const bare = await client.chat.completions.create({
      model: 'codex-5',
      messages: [{ role: 'user', content: 'No tools. mock:text #chatgpt-notools' }],
    });
    assert.equal(bare.choices[0].finish_reason, 'stop');

    const ups = mock.responsesRequests();
    assert.equal(ups.length, 2, 'one upstream model request per client request');
    for (const up of ups) assert.equal(up.path, '/backend-api/codex/responses', 'served as the ChatGPT backend');
    const withTools = ups.find((u) => JSON.stringify(u.body.input).includes('#chatgpt-tools'));
    const withoutTools = ups.find((u) => JSON.stringify(u.body.input).includes('#chatgpt-notools'));
    assert.deepEqual(withTools.body.tools.map((t) => t.name), ['fn_get_weather'],
      `tools: ${JSON.stringify(withTools.body.tools.map((t) => t.name || t.type))}`);
    assert.deepEqual(withoutTools.body.tools ?? [], []);
    const paths = mock.requests.map((q) => `${q.method} ${q.path}`);
    assert.equal(paths.filter((p) => p.includes('/ps/mcp')).length, 0, `apps connector calls: ${paths.join(', ')}`);
  });

  it('the login is the fake one, refreshed through the mock, and nothing leaves 127.0.0.1', async () => {
    const { gw, mock } = env;
    const refreshes = mock.requests.filter((q) => q.method === 'POST' && q.path === '/oauth/token');
    assert.ok(refreshes.length >= 1, 'the expired access token was refreshed at the mock');
    const fresh = chatgptTokens(`rt-${refreshes.length}`).access_token.split('.')[1];
    const auth = mock.responsesRequests()[0].headers.authorization;
    assert.ok(auth && auth.startsWith('Bearer '), 'the model request carries the ChatGPT token');
    const claims = JSON.parse(Buffer.from(auth.slice(7).split('.')[1], 'base64url').toString());
    assert.equal(claims.rt, JSON.parse(Buffer.from(fresh, 'base64url').toString()).rt, 'the refreshed token');
    assert.equal(mock.responsesRequests()[0].headers['chatgpt-account-id'], 'acct-e2e');
    const pid = (await health(gw)).backend.workers[0].pid;
    for (const peer of workerSocketPeers(pid)) assert.match(peer, /^127\.0\.0\.1:/, `worker connected to ${peer}`);
  });

  it('every features.* override names a feature the pinned Codex knows', async () => {
    const pid = (await health(env.gw)).backend.workers[0].pid;
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const keys = argv.filter((a, i) => argv[i - 1] === '-c' && a.startsWith('features.'))
      .map((a) => a.slice('features.'.length, a.indexOf('=')));
    for (const k of ['apps', 'image_generation', 'tool_suggest', 'shell_tool', 'plugins']) assert.ok(keys.includes(k), `-c features.${k}`);
    const home = tempDir('cg-features-');
    try {
      const { stdout } = await run(CODEX_NATIVE, ['features', 'list'], {
        env: { PATH: process.env.PATH, HOME: home.dir, CODEX_HOME: home.dir }, timeout: 30000,
      });
      const known = new Set(stdout.split('\n').map((l) => l.split(/\s+/)[0]).filter(Boolean));
      for (const k of keys) assert.ok(known.has(k), `codex features list does not know ${k}`);
    } finally {
      home.remove();
    }
  });
});
