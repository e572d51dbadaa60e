// Helpers for the /v1/responses suites: the wire form of a Responses event stream and the
// fake's record of what Codex was asked.
import { fakeMethods, request } from './gateway.mjs';

export const TERMINAL_EVENTS = ['response.completed', 'response.incomplete', 'response.failed'];

/**
 * Splits an SSE body into its events: {event, data} per frame (`event:` name and `data:` JSON,
 * or the raw string when it is not JSON), {comment} for `:` lines.
 */
export function sseEvents(text) {
  const out = [];
  for (const block of text.split('\n\n')) {
    if (!block) continue;
    let event = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) out.push({ comment: line.slice(1).trim() });
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (event === null && data.length === 0) continue;
    let parsed = data.join('\n');
    try {
      parsed = JSON.parse(parsed);
    } catch {
      // kept as the raw string
    }
    out.push({ event, data: parsed });
  }
  return out;
}

/**
 * Checks the framing every Responses stream has and returns its events (comments dropped):
 * each frame named by `event:` as its data's type, sequence numbers 0, 1, 2, ... in order,
 * response.created then response.in_progress first, exactly one terminal event and it is the
 * last, and no chat-style `[DONE]`.
 */
export function assertResponseStream(assert, text) {
  assert.ok(!/^data: \[DONE\]/m.test(text), 'no [DONE] in a Responses stream');
  const events = sseEvents(text).filter((e) => !('comment' in e));
  assert.ok(events.length >= 3, `a stream has at least created, in_progress and an end: ${text.slice(0, 400)}`);
  events.forEach((e, i) => {
    assert.equal(typeof e.data, 'object', `frame ${i} carries JSON`);
    assert.equal(e.event, e.data.type, `frame ${i}: event name is its type`);
    assert.equal(e.data.sequence_number, i, `frame ${i}: sequence number`);
  });
  assert.deepEqual(events.slice(0, 2).map((e) => e.event), ['response.created', 'response.in_progress']);
  const terminal = events.filter((e) => TERMINAL_EVENTS.includes(e.event));
  assert.equal(terminal.length, 1, 'exactly one terminal event');
  assert.equal(events[events.length - 1], terminal[0], 'the terminal event is the last');
  const { id } = events[0].data.response;
  for (const e of events.filter((x) => x.data.response)) assert.equal(e.data.response.id, id, 'one id on every response event');
  return events;
}

/** POSTs to /v1/responses with fetch; returns {status, headers, text, json}. */
export function postResponse(gw, body, headers = {}) {
  return request(gw, '/v1/responses', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** The params of the last JSON-RPC request `method` the fake received (FAKE_CODEX_LOG). */
export function lastFakeCall(file, method) {
  return fakeMethods(file).filter((m) => m.method === method).pop()?.params;
}

/** The text of a response's output_text parts, as the SDK's `output_text` joins them. */
export const outputText = (response) =>
  response.output
    .filter((i) => i.type === 'message')
    .flatMap((i) => i.content)
    .filter((p) => p.type === 'output_text')
    .map((p) => p.text)
    .join('');

/** What the `echo` scenario answered: the JSON of what the turn received. */
export const echoOf = (response) => JSON.parse(outputText(response));

/** The text of a message item's content parts. */
export const partsText = (item) => (item.content || []).map((p) => p.text ?? p.refusal ?? '').join('');

/** Streams `body` from /v1/responses and goes away once the first text delta has arrived. */
export async function abortAfterFirstDelta(gw, body, headers = {}) {
  const ac = new AbortController();
  const res = await fetch(`${gw.url}/v1/responses`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ ...body, stream: true }),
    signal: ac.signal,
  });
  const reader = res.body.getReader();
  let seen = '';
  while (!seen.includes('response.output_text.delta')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended before its first delta: ${seen.slice(0, 400)}`);
    seen += Buffer.from(value).toString();
  }
  ac.abort();
}
