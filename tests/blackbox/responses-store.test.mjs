// Stored responses: GET /v1/responses/{id}, GET /v1/responses/{id}/input_items,
// DELETE /v1/responses/{id}, previous_response_id chains and item references, key scoping, and a
// conversation that survives a restart of the gateway.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { assertOpenAIError, request, startGateway, stopClean, tempDir, waitFor } from '../lib/gateway.mjs';
import { abortAfterFirstDelta, echoOf, lastFakeCall, partsText, postResponse, sseEvents } from '../lib/responses.mjs';

const MODEL = 'codex-5';

let gw;
let logDir;
let fakeLog;
let k1;
let k2;

before(async () => {
  logDir = tempDir('cg-store-');
  fakeLog = path.join(logDir.dir, 'fake.jsonl');
  gw = await startGateway({ env: { PROXY_API_KEY: 'k1,k2', FAKE_CODEX_LOG: fakeLog }, waitReady: true });
  k1 = new OpenAI({ apiKey: 'k1', baseURL: `${gw.url}/v1`, maxRetries: 0 });
  k2 = new OpenAI({ apiKey: 'k2', baseURL: `${gw.url}/v1`, maxRetries: 0 });
});

after(async () => {
  await stopClean(assert, gw);
  logDir.remove();
});

const isNotFound = (e) => e instanceof OpenAI.NotFoundError && e.status === 404;
const get = (p, key = 'k1', method = 'GET') => request(gw, p, { method, headers: { Authorization: `Bearer ${key}` } });

describe('stored responses: retrieve and delete', { timeout: 120000 }, () => {
  it('retrieve gives back the response as it was created', async () => {
    const created = await k1.responses.create({ model: MODEL, input: 'fake:deltas=3', metadata: { case: 'retrieve' } });
    const got = await k1.responses.retrieve(created.id);
    assert.deepEqual(got, created);
    assert.equal(got.output_text, 'w0 w1 w2 ');
    assert.equal(got.store, true);
  });

  it('a streamed response is stored too, once its stream has ended', async () => {
    const stream = k1.responses.stream({ model: MODEL, input: 'fake:deltas=2' });
    let completed = null;
    stream.on('response.completed', (e) => (completed = e.response));
    await stream.finalResponse();
    const { output_text: text, ...got } = await k1.responses.retrieve(completed.id);
    assert.equal(text, 'w0 w1 ');
    assert.deepEqual(got, completed, 'the stored response is the one the last event carried');
  });

  it('delete removes it: retrieve, input_items and a second delete are then 404', async () => {
    const created = await k1.responses.create({ model: MODEL, input: 'hi' });
    const del = await get(`/v1/responses/${created.id}`, 'k1', 'DELETE');
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.json, { id: created.id, object: 'response.deleted', deleted: true });
    await assert.rejects(k1.responses.retrieve(created.id), isNotFound);
    await assert.rejects(k1.responses.inputItems.list(created.id), isNotFound);
    await assert.rejects(k1.responses.delete(created.id), isNotFound);
    const cont = await postResponse(gw, { model: MODEL, input: 'x', previous_response_id: created.id }, { Authorization: 'Bearer k1' });
    assert.equal(cont.status, 400);
    assertOpenAIError(assert, cont.json, { code: 'previous_response_not_found', param: 'previous_response_id' });
    const again = await get(`/v1/responses/${created.id}`);
    assert.equal(again.status, 404);
    assertOpenAIError(assert, again.json, { type: 'invalid_request_error' });
  });

  it('the SDK delete resolves', async () => {
    const created = await k1.responses.create({ model: MODEL, input: 'hi' });
    await k1.responses.delete(created.id);
    await assert.rejects(k1.responses.retrieve(created.id), isNotFound);
  });

  it('an unknown id is 404 in the OpenAI error shape, for every route', async () => {
    for (const [p, method] of [['/v1/responses/resp_nope', 'GET'], ['/v1/responses/resp_nope/input_items', 'GET'], ['/v1/responses/resp_nope', 'DELETE']]) {
      const r = await get(p, 'k1', method);
      assert.equal(r.status, 404, `${method} ${p}`);
      assertOpenAIError(assert, r.json, { type: 'invalid_request_error' });
    }
  });

  it('a response created with store: false is not retrievable and cannot be continued', async () => {
    const created = await k1.responses.create({ model: MODEL, input: 'hi', store: false });
    assert.equal(created.store, false);
    await assert.rejects(k1.responses.retrieve(created.id), isNotFound);
    await assert.rejects(k1.responses.inputItems.list(created.id), isNotFound);
    const next = await postResponse(gw, { model: MODEL, input: 'again', previous_response_id: created.id }, { Authorization: 'Bearer k1' });
    assert.equal(next.status, 400);
    assertOpenAIError(assert, next.json, { code: 'previous_response_not_found', param: 'previous_response_id' });
  });

  it('stored responses need the key: without one it is 401', async () => {
    const created = await k1.responses.create({ model: MODEL, input: 'hi' });
    const r = await request(gw, `/v1/responses/${created.id}`);
    assert.equal(r.status, 401);
  });
});

describe('stored responses: under load', { timeout: 120000 }, () => {
  it('twenty concurrent stored responses are each kept, and read back concurrently', async () => {
    const made = await Promise.all([...Array(20).keys()].map((k) => k1.responses.create({ model: MODEL, input: `fake:deltas=${(k % 5) + 1}`, metadata: { k: String(k) } })));
    const got = await Promise.all(made.map((r) => k1.responses.retrieve(r.id)));
    got.forEach((g, k) => {
      assert.equal(g.id, made[k].id);
      assert.equal(g.metadata.k, String(k));
      assert.equal(g.output_text, made[k].output_text);
    });
    const lists = await Promise.all(made.map((r) => k1.responses.inputItems.list(r.id)));
    lists.forEach((l, k) => assert.equal(partsText(l.data[0]), `fake:deltas=${(k % 5) + 1}`));
  });
});

describe('stored responses: input_items', { timeout: 120000 }, () => {
  let created;
  const input = [
    { role: 'user', content: 'one' },
    { role: 'assistant', content: 'two' },
    { role: 'user', content: [{ type: 'input_text', text: 'three' }] },
    { role: 'assistant', content: [{ type: 'output_text', text: 'four' }] },
    { role: 'user', content: 'five fake:deltas=1' },
  ];
  const texts = (items) => items.map(partsText);

  before(async () => {
    created = await k1.responses.create({ model: MODEL, input });
  });

  it('lists the input items newest first by default, each with an id, in the list shape', async () => {
    const r = await get(`/v1/responses/${created.id}/input_items`);
    assert.equal(r.status, 200, r.text);
    const page = r.json;
    assert.equal(page.object, 'list');
    assert.deepEqual(texts(page.data), ['five fake:deltas=1', 'four', 'three', 'two', 'one']);
    assert.equal(page.has_more, false);
    assert.equal(page.first_id, page.data[0].id);
    assert.equal(page.last_id, page.data[4].id);
    assert.equal(new Set(page.data.map((i) => i.id)).size, 5, 'ids are unique');
    for (const item of page.data) {
      assert.equal(typeof item.id, 'string');
      assert.equal(item.type, 'message');
    }
    assert.deepEqual(page.data.map((i) => i.role), ['user', 'assistant', 'user', 'assistant', 'user']);
    assert.equal(page.data[4].content[0].type, 'input_text');
  });

  it('order=asc, limit and after page through them; the SDK iterates every page', async () => {
    const asc = await k1.responses.inputItems.list(created.id, { order: 'asc', limit: 2 });
    assert.deepEqual(texts(asc.data), ['one', 'two']);
    assert.equal(asc.has_more, true);
    const next = await k1.responses.inputItems.list(created.id, { order: 'asc', limit: 2, after: asc.data[1].id });
    assert.deepEqual(texts(next.data), ['three', 'four']);
    assert.equal(next.has_more, true);
    const last = await k1.responses.inputItems.list(created.id, { order: 'asc', limit: 2, after: next.data[1].id });
    assert.deepEqual(texts(last.data), ['five fake:deltas=1']);
    assert.equal(last.has_more, false);
    const all = [];
    for await (const item of k1.responses.inputItems.list(created.id, { limit: 2 })) all.push(item);
    assert.deepEqual(texts(all), ['five fake:deltas=1', 'four', 'three', 'two', 'one'], 'desc, across three pages');
    const limit1 = await get(`/v1/responses/${created.id}/input_items?limit=1`);
    assert.equal(limit1.json.data.length, 1);
    assert.equal(limit1.json.has_more, true);
  });

  it('a string input is one user message; calls and outputs are listed as their own items', async () => {
    const plain = await k1.responses.create({ model: MODEL, input: 'just text' });
    const one = await k1.responses.inputItems.list(plain.id);
    assert.equal(one.data.length, 1);
    assert.equal(one.data[0].type, 'message');
    assert.equal(one.data[0].role, 'user');
    assert.deepEqual(one.data[0].content.map((p) => [p.type, p.text]), [['input_text', 'just text']]);
    const weather = { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} } };
    const withTools = await k1.responses.create({
      model: MODEL,
      tools: [weather],
      input: [
        { role: 'user', content: 'Weather?' },
        { type: 'function_call', call_id: 'call_a', name: 'get_weather', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_a', output: 'warm' },
      ],
    });
    assert.equal(withTools.output_text, 'Tool said: warm');
    const items = (await k1.responses.inputItems.list(withTools.id, { order: 'asc' })).data;
    assert.deepEqual(items.map((i) => i.type), ['message', 'function_call', 'function_call_output']);
    assert.deepEqual([items[1].call_id, items[1].name, items[1].arguments], ['call_a', 'get_weather', '{}']);
    assert.deepEqual([items[2].call_id, items[2].output], ['call_a', 'warm']);
  });

  it('items keep the ids they came with, also when another stored response has the same ones', async () => {
    const weather = { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} } };
    const r1 = await k1.responses.create({ model: MODEL, input: 'fake:tooltext', tools: [weather] });
    const [msg, call] = r1.output;
    const back = [{ role: 'user', content: 'fake:tooltext' }, msg, call, { type: 'function_call_output', call_id: call.call_id, output: 'ok' }];
    const r2 = await k1.responses.create({ model: MODEL, tools: [weather], input: back });
    assert.equal(r2.output_text, 'Tool said: ok');
    const r3 = await k1.responses.create({ model: MODEL, tools: [weather], input: back });
    assert.equal(r3.output_text, 'Tool said: ok');
    for (const r of [r2, r3]) {
      const items = (await k1.responses.inputItems.list(r.id, { order: 'asc' })).data;
      assert.deepEqual(items.map((i) => i.type), ['message', 'message', 'function_call', 'function_call_output']);
      assert.equal(items[1].id, msg.id);
      assert.equal(items[2].id, call.id);
    }
    const own = { type: 'message', id: 'msg_client_1', role: 'user', content: 'fake:deltas=1' };
    const a = await k1.responses.create({ model: MODEL, input: [own] });
    const b = await k1.responses.create({ model: MODEL, input: [own] });
    for (const r of [a, b]) assert.deepEqual((await k1.responses.inputItems.list(r.id)).data.map((i) => i.id), ['msg_client_1']);
  });

  it('an image part is listed as the client sent it', async () => {
    const url = 'data:image/png;base64,iVBORw0KGgo=';
    const r = await k1.responses.create({ model: MODEL, input: [{ role: 'user', content: [{ type: 'input_text', text: 'Look. fake:deltas=1' }, { type: 'input_image', image_url: url }] }] });
    const [item] = (await k1.responses.inputItems.list(r.id)).data;
    assert.deepEqual(item.content.map((p) => p.type), ['input_text', 'input_image']);
    assert.equal(item.content[1].image_url, url);
  });

  it('rejects a bad limit or order with 400 naming it', async () => {
    for (const [q, param] of [['limit=0', 'limit'], ['limit=101', 'limit'], ['limit=x', 'limit'], ['order=up', 'order']]) {
      const r = await get(`/v1/responses/${created.id}/input_items?${q}`);
      assert.equal(r.status, 400, q);
      assertOpenAIError(assert, r.json, { param });
    }
  });

  it('lists only the request\'s own input, not the chain before it', async () => {
    const second = await k1.responses.create({ model: MODEL, input: 'six fake:deltas=1', previous_response_id: created.id });
    const page = await k1.responses.inputItems.list(second.id);
    assert.deepEqual(texts(page.data), ['six fake:deltas=1']);
  });
});

describe('stored responses: previous_response_id and item_reference', { timeout: 120000 }, () => {
  it('a chain of three turns replays every earlier input and output, in order', async () => {
    const r1 = await k1.responses.create({ model: MODEL, input: 'My name is Ada. fake:deltas=2', instructions: 'Be kind.' });
    const r2 = await k1.responses.create({ model: MODEL, input: 'And I like tea. fake:deltas=1', previous_response_id: r1.id });
    const r3 = await k1.responses.create({ model: MODEL, input: 'fake:echo what do you know?', previous_response_id: r2.id });
    assert.equal(r3.previous_response_id, r2.id);
    const echo = echoOf(r3);
    assert.deepEqual(echo.injected.map((i) => [i.role, partsText(i)]), [
      ['user', 'My name is Ada. fake:deltas=2'],
      ['assistant', 'w0 w1 '],
      ['user', 'And I like tea. fake:deltas=1'],
      ['assistant', 'w0 '],
    ]);
    assert.equal(echo.baseInstructions, null, "instructions do not carry over to the next response, as OpenAI's");
  });

  it("previous_response_id gives the model back its own reasoning, encrypted, though the client never asked to see it", async () => {
    const weather = { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } };
    const r1 = await k1.responses.create({ model: MODEL, input: 'Think, then check. fake:thinktools', tools: [weather] });
    assert.deepEqual(r1.output.map((i) => i.type), ['reasoning', 'function_call']);
    assert.equal('encrypted_content' in r1.output[0], false, 'not shown without include');
    const r2 = await k1.responses.create({
      model: MODEL,
      tools: [weather],
      previous_response_id: r1.id,
      input: [{ type: 'function_call_output', call_id: r1.output[1].call_id, output: 'hail' }],
    });
    assert.equal(r2.output_text, 'Tool said: hail');
    const injected = lastFakeCall(fakeLog, 'thread/inject_items').items;
    assert.deepEqual(injected.map((i) => i.type), ['message', 'reasoning', 'function_call', 'function_call_output']);
    assert.match(injected[1].encrypted_content, /^gAAAA/);
    const again = await k1.responses.retrieve(r1.id);
    assert.equal('encrypted_content' in again.output[0], false, 'retrieve still shows what create showed');
    const shown = await k1.responses.retrieve(r1.id, { include: ['reasoning.encrypted_content'] });
    assert.equal(shown.output[0].encrypted_content, injected[1].encrypted_content, 'and shows it when include asks');
  });

  it('a chain with a deleted link cannot be continued', async () => {
    const r1 = await k1.responses.create({ model: MODEL, input: 'fake:deltas=1' });
    const r2 = await k1.responses.create({ model: MODEL, input: 'fake:deltas=1', previous_response_id: r1.id });
    await k1.responses.delete(r1.id);
    const r3 = await postResponse(gw, { model: MODEL, input: 'x', previous_response_id: r2.id }, { Authorization: 'Bearer k1' });
    assert.equal(r3.status, 400);
    assertOpenAIError(assert, r3.json, { code: 'previous_response_not_found', param: 'previous_response_id' });
  });

  it('item_reference brings in a stored item by its id', async () => {
    const r1 = await k1.responses.create({ model: MODEL, input: 'fake:deltas=2' });
    const r2 = await k1.responses.create({
      model: MODEL,
      input: [{ role: 'user', content: 'before' }, { type: 'item_reference', id: r1.output[0].id }, { role: 'user', content: 'fake:echo' }],
    });
    assert.deepEqual(echoOf(r2).injected.map((i) => [i.role, partsText(i)]), [['user', 'before'], ['assistant', 'w0 w1 ']]);
  });
});

describe('stored responses: another key', { timeout: 120000 }, () => {
  it("one key cannot read, list, delete or continue another key's response", async () => {
    const mine = await k1.responses.create({ model: MODEL, input: 'secret fake:deltas=1' });
    await assert.rejects(k2.responses.retrieve(mine.id), isNotFound);
    await assert.rejects(k2.responses.inputItems.list(mine.id), isNotFound);
    await assert.rejects(k2.responses.delete(mine.id), isNotFound);
    const cont = await postResponse(gw, { model: MODEL, input: 'x', previous_response_id: mine.id }, { Authorization: 'Bearer k2' });
    assert.equal(cont.status, 400);
    assertOpenAIError(assert, cont.json, { code: 'previous_response_not_found', param: 'previous_response_id' });
    const ref = await postResponse(gw, { model: MODEL, input: [{ type: 'item_reference', id: mine.output[0].id }, { role: 'user', content: 'x' }] }, { Authorization: 'Bearer k2' });
    assert.equal(ref.status, 400);
    assertOpenAIError(assert, ref.json, { param: 'input[0].id' });
    const still = await k1.responses.retrieve(mine.id);
    assert.equal(still.output_text, 'w0 ', 'the owner still has it after the other key tried to delete it');
  });
});

/** Runs `fn(g)` on a gateway started with `env`, then stops it and checks that it exited clean. */
async function withGateway(env, fn) {
  const g = await startGateway({ env, waitReady: true });
  try {
    return await fn(g);
  } finally {
    await stopClean(assert, g);
  }
}

/** Runs `fn(dir)` with a fresh directory that outlives the gateways started on it. */
async function withDir(fn) {
  const t = tempDir('cg-store-dir-');
  try {
    return await fn(t.dir);
  } finally {
    t.remove();
  }
}

const bearer = (key) => ({ Authorization: `Bearer ${key}` });
const getAs = (g, id, key) => request(g, `/v1/responses/${id}`, { headers: bearer(key) });

describe('stored responses: runs that do not complete', { timeout: 120000 }, () => {
  it('a stored request whose turn fails or whose client leaves holds nothing afterwards (clean exit under ASan)', async () => {
    await withGateway({ PROXY_API_KEY: 'k1' }, async (g) => {
      const h = bearer('k1');
      const failed = await postResponse(g, { model: MODEL, input: 'fake:error=usage' }, h);
      assert.equal(failed.status, 429);
      const midway = await postResponse(g, { model: MODEL, input: 'fake:errorafter', stream: true }, h);
      assert.equal(sseEvents(midway.text).pop().event, 'response.failed');
      await abortAfterFirstDelta(g, { model: MODEL, input: 'fake:slow=100,50' }, h);
      const ok = await postResponse(g, { model: MODEL, input: 'fake:deltas=1' }, h);
      assert.equal(ok.status, 200);
      const r = await getAs(g, sseEvents(midway.text)[0].data.response.id, 'k1');
      assert.ok([200, 404].includes(r.status), `retrieve of a failed response: ${r.status}`);
      if (r.status === 200) assert.equal(r.json.status, 'failed');
    });
  });
});

describe('stored responses: a restart of the gateway', { timeout: 120000 }, () => {
  it('a stored conversation continues after a restart with the same PROXY_STATE_DIR', () =>
    withDir(async (dir) => {
      const log = path.join(dir, 'fake.jsonl');
      const env = { PROXY_API_KEY: 'k1', PROXY_STATE_DIR: path.join(dir, 'state'), FAKE_CODEX_LOG: log };
      const r1 = await withGateway(env, (g) =>
        new OpenAI({ apiKey: 'k1', baseURL: `${g.url}/v1`, maxRetries: 0 }).responses.create({ model: MODEL, input: 'Remember: the code word is heron. fake:deltas=2' }));
      await withGateway(env, async (g) => {
        const c2 = new OpenAI({ apiKey: 'k1', baseURL: `${g.url}/v1`, maxRetries: 0 });
        const kept = await c2.responses.retrieve(r1.id);
        assert.equal(kept.output_text, 'w0 w1 ');
        const r2 = await c2.responses.create({ model: MODEL, input: 'What is the code word? fake:deltas=1', previous_response_id: r1.id });
        assert.equal(r2.previous_response_id, r1.id);
        const injected = lastFakeCall(log, 'thread/inject_items').items;
        assert.deepEqual(injected.map((i) => [i.role, partsText(i)]), [
          ['user', 'Remember: the code word is heron. fake:deltas=2'],
          ['assistant', 'w0 w1 '],
        ], 'the first turn, stored before the restart, is replayed into the new thread');
        assert.deepEqual(lastFakeCall(log, 'turn/start').input.map((i) => i.text), ['What is the code word? fake:deltas=1']);
      });
    }));

  it('a response stays with its key when PROXY_API_KEY is reordered or rotated across a restart', () =>
    withDir(async (dir) => {
      const stateDir = path.join(dir, 'state');
      const [a, b] = await withGateway({ PROXY_API_KEY: 'k1,k2', PROXY_STATE_DIR: stateDir }, async (g) => [
        (await postResponse(g, { model: MODEL, input: 'fake:deltas=1' }, bearer('k1'))).json,
        (await postResponse(g, { model: MODEL, input: 'fake:deltas=2' }, bearer('k2'))).json,
      ]);
      await withGateway({ PROXY_API_KEY: 'k2,k1', PROXY_STATE_DIR: stateDir }, async (g) => {
        assert.equal((await getAs(g, a.id, 'k1')).status, 200);
        assert.equal((await getAs(g, a.id, 'k2')).status, 404, "the key now first in the list does not inherit the old first key's responses");
        assert.equal((await getAs(g, b.id, 'k2')).status, 200);
        assert.equal((await getAs(g, b.id, 'k1')).status, 404);
      });
      await withGateway({ PROXY_API_KEY: 'k3,k2', PROXY_STATE_DIR: stateDir }, async (g) => {
        assert.equal((await getAs(g, b.id, 'k2')).status, 200, 'a key kept through a rotation keeps its responses');
        assert.equal((await getAs(g, a.id, 'k3')).status, 404, "a new key in the retired one's place sees nothing of it");
      });
    }));

  it('a response reported as stored survives the gateway being killed right after', () =>
    withDir(async (dir) => {
      const env = { PROXY_API_KEY: 'k1', PROXY_STATE_DIR: path.join(dir, 'state') };
      const g1 = await startGateway({ env, waitReady: true });
      const r1 = await postResponse(g1, { model: MODEL, input: 'fake:deltas=2' }, bearer('k1'));
      assert.equal(r1.status, 200);
      const killed = await g1.stop('SIGKILL');
      assert.equal(killed.signal, 'SIGKILL');
      await withGateway(env, async (g) => {
        const got = await getAs(g, r1.json.id, 'k1');
        assert.equal(got.status, 200, got.text);
        assert.deepEqual(got.json, r1.json);
      });
    }));
});

describe('stored responses: retention', { timeout: 120000 }, () => {
  it('PROXY_RESPONSES_MAX_BYTES: past it the oldest responses go first', async () => {
    await withGateway({ PROXY_API_KEY: 'k1', PROXY_RESPONSES_MAX_BYTES: '40000' }, async (g) => {
      const ids = [];
      for (let i = 0; i < 30; i++) {
        const r = await postResponse(g, { model: MODEL, input: `fake:deltas=2 ${'x'.repeat(2000)} ${i}` }, bearer('k1'));
        assert.equal(r.status, 200, r.text);
        ids.push(r.json.id);
      }
      const status = async (id) => (await getAs(g, id, 'k1')).status;
      await waitFor(async () => (await status(ids[0])) === 404, 10000, 'the oldest response to go');
      assert.equal(await status(ids[ids.length - 1]), 200, 'the newest is kept');
      const kept = [];
      for (const id of ids) kept.push((await status(id)) === 200);
      const firstKept = kept.indexOf(true);
      assert.ok(firstKept > 0, 'some were dropped');
      assert.deepEqual(kept.slice(firstKept), kept.slice(firstKept).map(() => true), 'what is kept is the newest run, oldest dropped first');
    });
  });
});
