// Mock of the OpenAI Responses API, as consumed by the real Codex CLI
// (custom model provider, wire_api = "responses"). Node standard library only;
// runs on Node 18+.
//
//   import { startMockModel } from './mock-model.mjs';
//   const mock = await startMockModel();      // { url, requests, close }
//   ... point Codex at mock.url (".../v1") ...
//   await mock.close();
//
//   node tests/e2e/mock-model.mjs [--port N] [--log FILE]   # prints the URL
//
// The scenario is picked by a marker `mock:<name>` in the text of the LAST
// user message of `input`. When the last input item is a
// `function_call_output`, the scenario is always `after_tool`.
//
//   text (default)  "Hello from the mock model." in TEXT_DELTAS
//   deltas=N        N deltas, text deltaPieces(N).join('')
//   tool            one function_call to the first client function tool,
//                   arguments {"city":"Paris"} in 3 argument deltas
//   tool2           two parallel function calls (Paris, Tokyo)
//   after_tool      "The tool said: <output of the last function_call_output>"
//   reasoning       reasoning item (summary deltas) then TEXT
//   json            JSON_TEXT (for outputSchema / response_format tests)
//   slow            SLOW_DELTAS deltas, SLOW_DELAY_MS apart
//   error500        HTTP 500 with a JSON error body
//   failed          SSE response.created then response.failed
//   ns_tool         one function_call to the first function of the first
//                   namespace tool, with `namespace` = that namespace's name,
//                   arguments {"city":"Paris"} in 3 argument deltas
//   quota           as text, and the response carries the account rate-limit
//                   headers Codex reads (QUOTA_HEADERS: primary 42 % of 300 min,
//                   secondary 21 % of 10080 min, resets an hour and a day away)
//   exec            one function_call to the first function tool whose name
//                   ends in `exec_command` (the Codex CLI's shell tool, seen
//                   under any prefix), arguments {"cmd":"echo <word>"} where
//                   <word> is the first EXEC_MARKER_RE match of the message
//
// Every request (method, path, headers, parsed body) is appended to
// `requests`, including 404s and malformed bodies.
//
// It also plays the ChatGPT backend a ChatGPT-login Codex talks to (provider with
// `requires_openai_auth = true`, `chatgpt_base_url` = `${base}/backend-api/`):
// `POST /backend-api/codex/responses` is served like `/v1/responses`,
// `POST /oauth/token` (CODEX_REFRESH_TOKEN_URL_OVERRIDE) rotates fake tokens, and
// `GET /backend-api/wham/usage` returns a usage snapshot. Anything else under
// /backend-api (models, accounts/check, settings, the apps connector's ps/mcp) is
// recorded and answered 404, which Codex treats as "not available".

import http from 'node:http';
import zlib from 'node:zlib';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

export const MODEL_TEXT = 'Hello from the mock model.';
export const TEXT_DELTAS = ['Hello', ' from', ' the mock', ' model.'];
export const JSON_TEXT = '{"answer":42,"unit":"none"}';
export const JSON_DELTAS = ['{"answer":', '42,', '"unit":"none"}'];
export const TOOL_ARGS = [
  { city: 'Paris' },
  { city: 'Tokyo' },
];
/** The 3 `response.function_call_arguments.delta` pieces for one city. */
export function argumentPieces(city) {
  return ['{"city":', `"${city}"`, '}'];
}
/** Fallback tool name when the request carries no function tool. */
export const FALLBACK_TOOL_NAME = 'get_weather';
export const AFTER_TOOL_PREFIX = 'The tool said: ';
export const REASONING_SUMMARY = 'Thinking about the answer.';
export const REASONING_SUMMARY_DELTAS = ['Thinking', ' about', ' the answer.'];
export const SLOW_DELTAS = 20;
export const SLOW_DELAY_MS = 100;
export const ERROR500_MESSAGE = 'mock internal server error';
export const FAILED_MESSAGE = 'mock response.failed';
/** The word the `exec` scenario echoes: `e2e-marker-` and letters or digits. */
export const EXEC_MARKER_RE = /e2e-marker-[A-Za-z0-9]+/;

/** Text pieces of the `deltas=N` (and `slow`) scenarios: "tok0", " tok1", ... */
export function deltaPieces(n) {
  return Array.from({ length: n }, (_, i) => (i ? ' ' : '') + 'tok' + i);
}

function usage(input, cached, output, reasoning) {
  return Object.freeze({
    input_tokens: input,
    input_tokens_details: Object.freeze({ cached_tokens: cached }),
    output_tokens: output,
    output_tokens_details: Object.freeze({ reasoning_tokens: reasoning }),
    total_tokens: input + output,
  });
}

/** Upstream `usage` per scenario (as sent in response.completed). */
export const USAGE = Object.freeze({
  text: usage(31, 7, 11, 0), // also deltas=N, slow
  json: usage(31, 7, 11, 0),
  tool: usage(40, 0, 9, 0),
  tool2: usage(40, 0, 18, 0),
  after_tool: usage(57, 7, 13, 0),
  reasoning: usage(31, 7, 16, 5),
  exec: usage(45, 0, 12, 0),
});

/** Map an upstream usage object to Codex's camelCase TokenUsageBreakdown. */
export function codexUsage(u) {
  return {
    totalTokens: u.total_tokens,
    inputTokens: u.input_tokens,
    cachedInputTokens: u.input_tokens_details.cached_tokens,
    cacheWriteInputTokens: 0,
    outputTokens: u.output_tokens,
    reasoningOutputTokens: u.output_tokens_details.reasoning_tokens,
  };
}

const RESPONSES_PATHS = ['/v1/responses', '/backend-api/codex/responses'];

/** An unsigned JWT (`alg: none`) carrying `claims`: Codex reads ChatGPT tokens without
 * verifying them. */
export function unsignedJwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.sig`;
}

export const CHATGPT_ACCOUNT_ID = 'acct-e2e';

/** id/access/refresh tokens of a fake ChatGPT Plus login, valid for a day. */
export function chatgptTokens(refreshToken = 'rt-0') {
  const exp = Math.floor(Date.now() / 1000) + 86400;
  const auth = {
    chatgpt_plan_type: 'plus',
    chatgpt_account_id: CHATGPT_ACCOUNT_ID,
    chatgpt_user_id: 'user-e2e',
    user_id: 'user-e2e',
  };
  return {
    id_token: unsignedJwt({ email: 'e2e@example.invalid', exp, 'https://api.openai.com/auth': auth }),
    access_token: unsignedJwt({ exp, rt: refreshToken, 'https://api.openai.com/auth': auth }),
    refresh_token: refreshToken,
  };
}

const MARKER_RE = /mock:([A-Za-z0-9_]+(?:=\d+)?)/g;

function contentText(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((p) => (p && typeof p.text === 'string' ? p.text : ''))
    .join('');
}

function outputText(output) {
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) return contentText(output);
  if (output && typeof output === 'object') {
    if (typeof output.content === 'string') return output.content;
    return JSON.stringify(output);
  }
  return output == null ? '' : String(output);
}

/**
 * Pick the scenario for a parsed request body.
 * @returns {{name: string, n?: number, toolOutput?: string}}
 */
export function pickScenario(body) {
  const input = Array.isArray(body?.input) ? body.input : [];
  const last = input[input.length - 1];
  if (last && last.type === 'function_call_output') {
    return { name: 'after_tool', toolOutput: outputText(last.output) };
  }
  let text = '';
  for (let i = input.length - 1; i >= 0; i--) {
    const it = input[i];
    if (it && it.role === 'user' && (it.type === undefined || it.type === 'message')) {
      text = contentText(it.content);
      break;
    }
  }
  if (typeof body?.input === 'string') text = body.input;
  let marker = null;
  for (const m of text.matchAll(MARKER_RE)) marker = m[1]; // last marker wins
  if (!marker) return { name: 'text' };
  const eq = marker.indexOf('=');
  if (eq >= 0) {
    const name = marker.slice(0, eq);
    const n = Number(marker.slice(eq + 1));
    if (name === 'deltas' && Number.isSafeInteger(n) && n >= 0 && n <= 100000) {
      return { name: 'deltas', n };
    }
    return { name: 'text' };
  }
  const known = ['text', 'tool', 'tool2', 'after_tool', 'reasoning', 'json', 'slow', 'error500', 'failed', 'quota'];
  if (marker === 'ns_tool') return { name: 'ns_tool' };
  if (marker === 'exec') return { name: 'exec', word: EXEC_MARKER_RE.exec(text)?.[0] ?? 'e2e-marker-none' };
  return { name: known.includes(marker) ? marker : 'text' };
}

function firstFunctionToolName(tools) {
  if (!Array.isArray(tools)) return FALLBACK_TOOL_NAME;
  for (const t of tools) {
    if (t && t.type === 'function' && typeof t.name === 'string') return t.name;
  }
  for (const t of tools) {
    if (t && t.type === 'namespace' && Array.isArray(t.tools)) {
      for (const u of t.tools) {
        if (u && u.type === 'function' && typeof u.name === 'string') return u.name;
      }
    }
  }
  return FALLBACK_TOOL_NAME;
}

/** [namespace, function] names of the first function in the first namespace tool. */
function firstNamespacedTool(tools) {
  const ns = (Array.isArray(tools) ? tools : []).find((t) => t && t.type === 'namespace' && Array.isArray(t.tools));
  const fn = ns?.tools.find((t) => t && t.type === 'function' && typeof t.name === 'string');
  return fn ? [ns.name, fn.name] : [null, FALLBACK_TOOL_NAME];
}

/** Name of the first function tool (top level or in a namespace) whose name ends in `suffix`. */
function functionToolEndingIn(tools, suffix) {
  const all = (Array.isArray(tools) ? tools : []).flatMap((t) =>
    (t && t.type === 'namespace' && Array.isArray(t.tools) ? t.tools : [t]));
  const found = all.find((t) => t && t.type === 'function' && typeof t.name === 'string' && t.name.endsWith(suffix));
  return found ? found.name : suffix;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sendJson(res, status, obj) {
  if (res.headersSent || res.destroyed) return;
  const data = JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(data),
  });
  res.end(data);
}

function decodeBody(buf, encoding) {
  switch ((encoding || '').toLowerCase()) {
    case '':
    case 'identity':
      return buf;
    case 'gzip':
      return zlib.gunzipSync(buf);
    case 'deflate':
      return zlib.inflateSync(buf);
    case 'br':
      return zlib.brotliDecompressSync(buf);
    default:
      throw new Error(`unsupported content-encoding: ${encoding}`);
  }
}

/**
 * Build the list of SSE events (and pauses) for a scenario. Returns an array
 * whose elements are either event objects or numbers (ms to wait).
 */
function buildStream(sc, body, seq) {
  const model = typeof body.model === 'string' ? body.model : 'mock-model';
  const respId = `resp_mock_${seq}`;
  const created = 1700000000 + seq;
  const baseResp = {
    id: respId,
    object: 'response',
    created_at: created,
    model,
    output: [],
    usage: null,
  };
  const ev = [{ type: 'response.created', response: { ...baseResp, status: 'in_progress' } }];
  const output = [];
  let outIdx = 0;

  const message = (pieces, gapMs = 0) => {
    const id = `msg_mock_${seq}_${outIdx}`;
    const idx = outIdx++;
    const text = pieces.join('');
    ev.push({
      type: 'response.output_item.added',
      output_index: idx,
      item: { id, type: 'message', status: 'in_progress', role: 'assistant', content: [] },
    });
    ev.push({
      type: 'response.content_part.added',
      item_id: id, output_index: idx, content_index: 0,
      part: { type: 'output_text', text: '', annotations: [] },
    });
    pieces.forEach((delta, i) => {
      if (gapMs && i > 0) ev.push(gapMs);
      ev.push({ type: 'response.output_text.delta', item_id: id, output_index: idx, content_index: 0, delta });
    });
    ev.push({ type: 'response.output_text.done', item_id: id, output_index: idx, content_index: 0, text });
    const part = { type: 'output_text', text, annotations: [] };
    ev.push({ type: 'response.content_part.done', item_id: id, output_index: idx, content_index: 0, part });
    const item = { id, type: 'message', status: 'completed', role: 'assistant', content: [part] };
    ev.push({ type: 'response.output_item.done', output_index: idx, item });
    output.push(item);
  };

  const functionCall = (name, city, k, pieces = argumentPieces(city), namespace = null) => {
    const id = `fc_mock_${seq}_${k}`;
    const callId = `call_mock_${seq}_${k}`;
    const idx = outIdx++;
    const args = pieces.join('');
    const ns = namespace ? { namespace } : {};
    ev.push({
      type: 'response.output_item.added',
      output_index: idx,
      item: { id, type: 'function_call', status: 'in_progress', name, ...ns, call_id: callId, arguments: '' },
    });
    for (const delta of pieces) {
      ev.push({ type: 'response.function_call_arguments.delta', item_id: id, output_index: idx, delta });
    }
    ev.push({ type: 'response.function_call_arguments.done', item_id: id, output_index: idx, arguments: args });
    const item = { id, type: 'function_call', status: 'completed', name, ...ns, call_id: callId, arguments: args };
    ev.push({ type: 'response.output_item.done', output_index: idx, item });
    output.push(item);
  };

  const reasoning = () => {
    const id = `rs_mock_${seq}_${outIdx}`;
    const idx = outIdx++;
    ev.push({ type: 'response.output_item.added', output_index: idx, item: { id, type: 'reasoning', summary: [] } });
    ev.push({
      type: 'response.reasoning_summary_part.added',
      item_id: id, output_index: idx, summary_index: 0,
      part: { type: 'summary_text', text: '' },
    });
    for (const delta of REASONING_SUMMARY_DELTAS) {
      ev.push({ type: 'response.reasoning_summary_text.delta', item_id: id, output_index: idx, summary_index: 0, delta });
    }
    ev.push({
      type: 'response.reasoning_summary_text.done',
      item_id: id, output_index: idx, summary_index: 0, text: REASONING_SUMMARY,
    });
    ev.push({
      type: 'response.reasoning_summary_part.done',
      item_id: id, output_index: idx, summary_index: 0,
      part: { type: 'summary_text', text: REASONING_SUMMARY },
    });
    const item = { id, type: 'reasoning', summary: [{ type: 'summary_text', text: REASONING_SUMMARY }] };
    ev.push({ type: 'response.output_item.done', output_index: idx, item });
    output.push(item);
  };

  let u = USAGE.text;
  switch (sc.name) {
    case 'deltas':
      message(deltaPieces(sc.n));
      break;
    case 'slow':
      message(deltaPieces(SLOW_DELTAS), SLOW_DELAY_MS);
      break;
    case 'json':
      message(JSON_DELTAS);
      u = USAGE.json;
      break;
    case 'tool':
      functionCall(firstFunctionToolName(body.tools), TOOL_ARGS[0].city, 0);
      u = USAGE.tool;
      break;
    case 'tool2': {
      const name = firstFunctionToolName(body.tools);
      functionCall(name, TOOL_ARGS[0].city, 0);
      functionCall(name, TOOL_ARGS[1].city, 1);
      u = USAGE.tool2;
      break;
    }
    case 'ns_tool': {
      const [namespace, name] = firstNamespacedTool(body.tools);
      functionCall(name, TOOL_ARGS[0].city, 0, undefined, namespace);
      u = USAGE.tool;
      break;
    }
    case 'exec': {
      const args = JSON.stringify({ cmd: `echo ${sc.word}` });
      functionCall(functionToolEndingIn(body.tools, 'exec_command'), null, 0, [args.slice(0, 8), args.slice(8)]);
      u = USAGE.exec;
      break;
    }
    case 'after_tool':
      message([AFTER_TOOL_PREFIX, sc.toolOutput]);
      u = USAGE.after_tool;
      break;
    case 'reasoning':
      reasoning();
      message(TEXT_DELTAS);
      u = USAGE.reasoning;
      break;
    case 'failed':
      ev.push({
        type: 'response.failed',
        response: {
          ...baseResp,
          status: 'failed',
          error: { code: 'server_error', message: FAILED_MESSAGE },
        },
      });
      return ev;
    default:
      message(TEXT_DELTAS);
  }
  ev.push({
    type: 'response.completed',
    response: { ...baseResp, status: 'completed', output, usage: u },
  });
  return ev;
}

/** The upstream rate-limit headers of the `quota` scenario, as a ChatGPT backend sends them. */
export function quotaHeaders(nowS = Math.floor(Date.now() / 1000)) {
  return {
    'x-codex-primary-used-percent': '42',
    'x-codex-primary-window-minutes': '300',
    'x-codex-primary-reset-at': String(nowS + 3600),
    'x-codex-secondary-used-percent': '21',
    'x-codex-secondary-window-minutes': '10080',
    'x-codex-secondary-reset-at': String(nowS + 86400),
  };
}

async function streamEvents(res, events, headers = {}) {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    ...headers,
  });
  let n = 0;
  for (const e of events) {
    if (res.destroyed || res.writableEnded) return;
    if (typeof e === 'number') {
      await sleep(e);
      continue;
    }
    const data = { ...e, sequence_number: n++ };
    res.write(`event: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`);
  }
  if (!res.destroyed) res.end();
}

function finalResponse(events) {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e && (e.type === 'response.completed' || e.type === 'response.failed')) return e.response;
  }
  return null;
}

/**
 * Start the mock. `port: 0` picks a free port. `onRequest(record)` is called
 * for every request as soon as it is recorded (the body is filled in by the
 * time the current tick ends).
 * @returns {Promise<{url: string, port: number, requests: object[], close: () => Promise<void>}>}
 */
export async function startMockModel({ port = 0, host = '127.0.0.1', onRequest } = {}) {
  const requests = [];
  let seq = 0;
  let refreshes = 0;

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', () => {});
    res.on('error', () => {});
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((err) => {
        if (!res.headersSent) sendJson(res, 500, { error: { message: String(err?.message || err), type: 'mock_error' } });
        else res.destroy();
      });
    });
  });

  async function handle(req, res, raw) {
    const path = (req.url || '/').split('?')[0];
    const rec = {
      seq: ++seq,
      method: req.method,
      path,
      headers: { ...req.headers },
      body: null,
      scenario: null,
      receivedAt: Date.now(),
    };
    requests.push(rec);
    if (onRequest) {
      try { onRequest(rec); } catch { /* ignore */ }
    }

    if (req.method === 'POST' && path === '/oauth/token') {
      refreshes++;
      sendJson(res, 200, chatgptTokens(`rt-${refreshes}`));
      return;
    }
    if (req.method === 'GET' && path === '/backend-api/wham/usage') {
      sendJson(res, 200, {
        plan_type: 'plus',
        rate_limit: {
          allowed: true, limit_reached: false,
          primary_window: { used_percent: 40, limit_window_seconds: 18000, reset_after_seconds: 3600, reset_at: 1796152963 },
          secondary_window: { used_percent: 10, limit_window_seconds: 604800, reset_after_seconds: 86400, reset_at: 1796487763 },
        },
      });
      return;
    }
    if (req.method !== 'POST' || !RESPONSES_PATHS.includes(path)) {
      sendJson(res, 404, { error: { message: `mock: no route for ${req.method} ${path}`, type: 'invalid_request_error', code: 'not_found' } });
      return;
    }

    let body;
    try {
      const text = decodeBody(raw, req.headers['content-encoding']).toString('utf8');
      rec.rawBody = text;
      body = JSON.parse(text);
    } catch (err) {
      rec.error = String(err?.message || err);
      sendJson(res, 400, { error: { message: `mock: malformed request body: ${rec.error}`, type: 'invalid_request_error', code: null } });
      return;
    }
    delete rec.rawBody;
    rec.body = body;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      sendJson(res, 400, { error: { message: 'mock: request body must be a JSON object', type: 'invalid_request_error', code: null } });
      return;
    }

    const sc = pickScenario(body);
    rec.scenario = sc.name;
    if (sc.name === 'error500') {
      sendJson(res, 500, { error: { message: ERROR500_MESSAGE, type: 'server_error', code: null } });
      return;
    }
    const events = buildStream(sc, body, rec.seq);
    if (body.stream === true) {
      await streamEvents(res, events, sc.name === 'quota' ? quotaHeaders() : {});
    } else {
      const resp = finalResponse(events);
      if (resp.status === 'failed') sendJson(res, 500, { error: resp.error });
      else sendJson(res, 200, resp);
    }
  }

  server.keepAliveTimeout = 5000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  return {
    url: `http://${host}:${actualPort}/v1`,
    /** The origin, for the ChatGPT backend endpoints. */
    base: `http://${host}:${actualPort}`,
    port: actualPort,
    requests,
    /** Requests for a model response (either path) with a parsed body. */
    responsesRequests: () => requests.filter((r) => RESPONSES_PATHS.includes(r.path) && r.body),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        if (server.closeAllConnections) server.closeAllConnections();
      }),
  };
}

async function main(argv) {
  let port = 0;
  let log = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') port = Number(argv[++i]);
    else if (a.startsWith('--port=')) port = Number(a.slice(7));
    else if (a === '--log') log = argv[++i];
    else if (a.startsWith('--log=')) log = a.slice(6);
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node mock-model.mjs [--port N] [--log FILE.jsonl]\n');
      return;
    }
    else {
      process.stderr.write(`mock-model: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write('mock-model: bad --port\n');
    process.exit(2);
  }
  const onRequest = log
    ? (rec) => setImmediate(() => fs.appendFileSync(log, JSON.stringify(rec) + '\n'))
    : undefined;
  const mock = await startMockModel({ port, onRequest });
  process.stdout.write(mock.url + '\n');
  const stop = () => mock.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`mock-model: ${err?.stack || err}\n`);
    process.exit(1);
  });
}
