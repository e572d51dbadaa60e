// Shared setup of the real-Codex end-to-end suite: a mock Responses server, a CODEX_HOME whose
// config.toml points the real `codex app-server` at it, the gateway binary under test, and the
// Codex CLI as a client of that gateway.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import OpenAI from 'openai';
import { repoRoot, request, startGateway, stopClean, tempDir, waitFor } from '../lib/gateway.mjs';
import { CHATGPT_ACCOUNT_ID, chatgptTokens, startMockModel, unsignedJwt } from './mock-model.mjs';

const modules = path.join(repoRoot, 'tests', 'node_modules', '@openai');
/** The pinned native CLI (tests/package.json). */
export const CODEX_NATIVE = path.join(modules, 'codex-linux-x64', 'vendor', 'x86_64-unknown-linux-musl',
  'bin', 'codex');
/** The npm launcher of the same release, which the gateway runs with node. */
export const CODEX_LAUNCHER = path.join(modules, 'codex', 'bin', 'codex.js');

export const MODEL = 'mock-model';
/** Hang guards only: nothing here asserts how fast anything is. */
export const START_TIMEOUT_MS = 60000;

/** config.toml of a CODEX_HOME that talks to `mockUrl` as a custom provider with no key. */
export function providerConfig(mockUrl) {
  return [
    'model_provider = "mock"',
    '[model_providers.mock]',
    'name = "Mock"',
    `base_url = "${mockUrl}"`,
    'wire_api = "responses"',
    'request_max_retries = 0',
    'stream_max_retries = 0',
    'stream_idle_timeout_ms = 5000',
    '',
  ].join('\n');
}

/**
 * config.toml of a CODEX_HOME logged in with ChatGPT whose backend is the mock at `base`: a
 * provider that needs the OpenAI (ChatGPT) login, and `chatgpt_base_url` for everything else
 * Codex asks the ChatGPT backend.
 */
export function chatgptConfig(base) {
  return [
    'model_provider = "chatgpt-mock"',
    `chatgpt_base_url = "${base}/backend-api/"`,
    '[model_providers.chatgpt-mock]',
    'name = "ChatGPT mock"',
    `base_url = "${base}/backend-api/codex"`,
    'wire_api = "responses"',
    'requires_openai_auth = true',
    'request_max_retries = 0',
    'stream_max_retries = 0',
    'stream_idle_timeout_ms = 5000',
    '',
  ].join('\n');
}

/** auth.json of a fake ChatGPT login whose access token expired: Codex refreshes it at start. */
export function chatgptAuth() {
  const tokens = chatgptTokens('rt-0');
  tokens.access_token = unsignedJwt({ exp: Math.floor(Date.now() / 1000) - 60 });
  return { OPENAI_API_KEY: null, tokens: { ...tokens, account_id: CHATGPT_ACCOUNT_ID }, last_refresh: new Date().toISOString() };
}

/**
 * Starts a mock model, a CODEX_HOME pointing at it, and the gateway with the real Codex, and
 * waits until a worker is ready. With `chatgpt`, the home holds a fake ChatGPT login and the
 * mock plays the ChatGPT backend, token refreshes included (CODEX_REFRESH_TOKEN_URL_OVERRIDE),
 * so nothing leaves 127.0.0.1. `close(assert)` stops everything and checks the gateway exited
 * cleanly (exit 0, no sanitizer report).
 */
export async function startCodexGateway({ env = {}, codexBin = CODEX_NATIVE, chatgpt = false } = {}) {
  const mock = await startMockModel();
  const home = tempDir('cg-codex-home-');
  fs.writeFileSync(path.join(home.dir, 'config.toml'), chatgpt ? chatgptConfig(mock.base) : providerConfig(mock.url));
  const login = {};
  if (chatgpt) {
    fs.writeFileSync(path.join(home.dir, 'auth.json'), JSON.stringify(chatgptAuth()), { mode: 0o600 });
    login.CODEX_REFRESH_TOKEN_URL_OVERRIDE = `${mock.base}/oauth/token`;
  }
  let gw;
  try {
    gw = await startGateway({
      env: { CODEX_BIN: codexBin, CODEX_HOME: home.dir, CODEX_MODEL: MODEL, ...login, ...env },
      startTimeoutMs: START_TIMEOUT_MS,
    });
    await waitFor(async () => (await request(gw, '/readyz')).status === 200, START_TIMEOUT_MS,
      `a ready Codex worker; gateway log:\n${(gw.raw || []).slice(-20).join('\n')}`);
  } catch (err) {
    if (gw) await gw.stop();
    await mock.close();
    home.remove();
    throw err;
  }
  const apiKey = env.PROXY_API_KEY ? env.PROXY_API_KEY.split(',')[0].trim() : 'unused';
  const client = new OpenAI({ apiKey, baseURL: `${gw.url}/v1`, maxRetries: 0, timeout: 60000 });
  return {
    gw,
    mock,
    home: home.dir,
    client,
    async close(assert) {
      try {
        return await stopClean(assert, gw);
      } finally {
        await mock.close();
        home.remove();
      }
    },
  };
}

export async function health(gw) {
  const r = await request(gw, '/healthz');
  if (r.status !== 200 || !r.json) throw new Error(`/healthz answered ${r.status}: ${r.text}`);
  return r.json;
}

/** Text of a Responses input message item. */
export function itemText(item) {
  if (!item || !Array.isArray(item.content)) return typeof item?.content === 'string' ? item.content : '';
  return item.content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('');
}

/** The mock's record of the upstream request whose last user message contains `marker`. */
export function upstreamFor(mock, marker) {
  const found = mock.responsesRequests().filter((r) =>
    r.body.input.some((it) => it.role === 'user' && itemText(it).includes(marker)));
  if (found.length !== 1) {
    throw new Error(`expected exactly one upstream request mentioning ${marker}, saw ${found.length}`);
  }
  return found[0];
}

/**
 * POSTs `body` to /v1/chat/completions with fetch and reads the raw SSE stream frame by frame.
 * `onFrame(frame, frames)` is awaited for every `data:` payload (parsed JSON, or the string
 * '[DONE]'). Returns { status, headers, frames, comments }.
 */
export async function rawChatStream(gw, body, onFrame = () => {}) {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60000),
  });
  const frames = [];
  const comments = [];
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) {
    return { status: res.status, headers: res.headers, frames, comments, text: await res.text() };
  }
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      for (const line of event.split('\n')) {
        if (line.startsWith(':')) comments.push(line);
        else if (line.startsWith('data: ')) {
          const data = line.slice(6);
          const frame = data === '[DONE]' ? data : JSON.parse(data);
          frames.push(frame);
          await onFrame(frame, frames);
        }
      }
    }
  }
  return { status: res.status, headers: res.headers, frames, comments, rest: buf };
}

/** Concatenated `delta.content` of choice 0 over raw or SDK chunks. */
export function streamedText(chunks) {
  return chunks
    .filter((c) => c && typeof c === 'object' && Array.isArray(c.choices))
    .map((c) => c.choices[0]?.delta?.content ?? '')
    .join('');
}

/** The OpenAI usage object the gateway must report for one upstream usage (mock USAGE entry). */
export function expectedUsage(u) {
  return {
    prompt_tokens: u.input_tokens,
    cached_tokens: u.input_tokens_details.cached_tokens,
    completion_tokens: u.output_tokens,
    reasoning_tokens: u.output_tokens_details.reasoning_tokens,
    total_tokens: u.input_tokens + u.output_tokens,
  };
}

/** The same fields picked from an OpenAI usage object, for deepEqual. */
export function usageOf(usage) {
  return {
    prompt_tokens: usage.prompt_tokens,
    cached_tokens: usage.prompt_tokens_details?.cached_tokens,
    completion_tokens: usage.completion_tokens,
    reasoning_tokens: usage.completion_tokens_details?.reasoning_tokens,
    total_tokens: usage.total_tokens,
  };
}

export const SYSTEM_PROMPT = 'You are the e2e test assistant. Answer briefly.';

export const WEATHER_TOOL = Object.freeze({
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', description: 'City name' } },
      required: ['city'],
      additionalProperties: false,
    },
  },
});

/**
 * Remote "address:port" of every connected TCP/UDP socket the process holds (IPv4 and IPv6,
 * from /proc). Listening and unconnected sockets are left out.
 */
export function workerSocketPeers(pid) {
  const inodes = new Set();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let link = '';
    try {
      link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) inodes.add(m[1]);
  }
  const peers = [];
  for (const proto of ['tcp', 'tcp6', 'udp', 'udp6']) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${proto}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.trim().split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (!inodes.has(f[9])) continue;
      const [hex, port] = f[2].split(':');
      if (Number.parseInt(port, 16) === 0) continue;
      peers.push(`${hexAddress(hex)}:${Number.parseInt(port, 16)}`);
    }
  }
  return peers;
}

function hexAddress(hex) {
  const bytes = Buffer.from(hex, 'hex');
  const words = [];
  for (let i = 0; i < bytes.length; i += 4) words.push(bytes.subarray(i, i + 4).reverse());
  const b = Buffer.concat(words);
  if (b.length === 4) return [...b].join('.');
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) reads as its IPv4 address.
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return [...b.subarray(12)].join('.');
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/** The env var the outer Codex CLI reads its gateway key from (`env_key` of its provider). */
export const CLIENT_KEY_ENV = 'CODEX_GATEWAY_API_KEY';

/**
 * config.toml of a Codex CLI that uses the gateway at `baseUrl` (".../v1") as its model
 * provider. Everything of Codex's own that would talk to anything but the provider is off;
 * `web_search = "disabled"` because a hosted web_search tool is one the gateway cannot run.
 */
export function clientConfig(baseUrl, model) {
  return [
    `model = "${model}"`,
    'model_provider = "codex-gateway"',
    'web_search = "disabled"',
    'check_for_update_on_startup = false',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[features]',
    'plugins = false',
    '',
    '[model_providers.codex-gateway]',
    'name = "codex-gateway"',
    `base_url = "${baseUrl}"`,
    'wire_api = "responses"',
    `env_key = "${CLIENT_KEY_ENV}"`,
    'request_max_retries = 0',
    'stream_max_retries = 0',
    '',
  ].join('\n');
}

/**
 * A proxy on 127.0.0.1 that forwards nothing: it records every request and CONNECT and
 * refuses it. The outer CLI gets it as HTTP(S)_PROXY with only loopback exempt, so any call it
 * tried to make elsewhere would land here instead of leaving the machine.
 */
async function startTrapProxy() {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('e2e trap proxy: no traffic leaves 127.0.0.1\n');
  });
  server.on('connect', (req, socket) => {
    seen.push(`CONNECT ${req.url}`);
    socket.on('error', () => {});
    socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seen,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/**
 * The pinned Codex CLI as a client, in a fresh CODEX_HOME (its config.toml is `config`, by
 * default clientConfig's), HOME, TMPDIR and working directory, with an environment of its own
 * (no inherited keys or logins) and the trap proxy. The CLI refuses to set up its sandbox
 * helper (`codex-linux-sandbox`) under the temp dir, hence a TMPDIR inside the client's own
 * directory. `exec(prompt, {resume})` runs `codex exec` (`resume --last`: continuing the last
 * session) and returns { code, signal, stdout, stderr, trapped }, killing the CLI after
 * `timeoutMs`; `close()` removes everything.
 */
export async function startCodexClient({ baseUrl, model, key, config = clientConfig(baseUrl, model) }) {
  const root = tempDir('cg-codex-client-');
  const dirs = Object.fromEntries(['codex-home', 'home', 'tmp', 'work'].map((d) => [d, path.join(root.dir, d)]));
  for (const d of Object.values(dirs)) fs.mkdirSync(d);
  fs.writeFileSync(path.join(dirs['codex-home'], 'config.toml'), config);
  const trap = await startTrapProxy();
  const env = {
    PATH: process.env.PATH,
    HOME: dirs.home,
    TMPDIR: dirs.tmp,
    CODEX_HOME: dirs['codex-home'],
    [CLIENT_KEY_ENV]: key,
    HTTP_PROXY: trap.url,
    HTTPS_PROXY: trap.url,
    ALL_PROXY: trap.url,
    NO_PROXY: '127.0.0.1,localhost,::1',
  };
  return {
    async exec(prompt, { resume = false, timeoutMs = 60000 } = {}) {
      const args = ['exec', '--skip-git-repo-check', '--color', 'never', '-C', dirs.work,
        ...(resume ? ['resume', '--last'] : []), prompt];
      const child = spawn(CODEX_NATIVE, args, { cwd: dirs.work, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const { code, signal } = await new Promise((resolve) => child.on('close', (c, sig) => resolve({ code: c, signal: sig })));
      clearTimeout(timer);
      return { code, signal, stdout, stderr, trapped: [...trap.seen] };
    },
    async close() {
      await trap.close();
      root.remove();
    },
  };
}

/** One `codex exec` of `prompt` by a client of its own (startCodexClient), removed afterwards. */
export async function runCodexClient({ prompt, timeoutMs, ...options }) {
  const client = await startCodexClient(options);
  try {
    return await client.exec(prompt, { timeoutMs });
  } finally {
    await client.close();
  }
}
