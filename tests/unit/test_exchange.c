/* test_exchange.c: an exchange's response half, on a sink that records what it is given. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "http/exchange.h"

static int writes;
static int dones;
static size_t queued_calls;

static void sink_write(void *ctx, char *data, size_t len)
{
    (void)ctx;
    (void)len;
    writes++;
    free(data);
}

static size_t sink_queued(void *ctx)
{
    (void)ctx;
    queued_calls++;
    return 0;
}

static void sink_done(void *ctx, struct cg_exchange *ex)
{
    (void)ctx;
    (void)ex;
    dones++;
}

static const struct cg_sink_ops sink = {sink_write, sink_queued, sink_done, NULL};

/* A holder that answers after the exchange was answered by someone else (the shutdown's 503)
 * must find nobody there, not the sink of a connection that has let go. */
Test(exchange, an_answered_exchange_has_no_sink_left)
{
    struct cg_exchange *ex = cg_exchange_new(&sink, NULL);
    ex->method = CG_METHOD_POST;
    ex->http_minor = 1;
    ex->state = CG_EXCHANGE_HANDLING;
    cg_exchange_hold(ex); /* a store job's reference */
    cr_assert_not(cg_exchange_is_gone(ex));
    cg_exchange_abort(ex, CG_ERR_SHUTTING_DOWN); /* no handler hook: answered with a 503 */
    cr_assert_eq(dones, 1);
    cr_assert(cg_exchange_is_done(ex));
    cr_assert(cg_exchange_is_gone(ex));
    size_t before = queued_calls;
    cr_assert_eq(cg_exchange_queued(ex), 0);
    cr_assert_eq(queued_calls, before, "the sink is not asked any more");
    int w = writes;
    cg_exchange_send_json(ex, "{}", 2); /* a late answer goes nowhere */
    cr_assert_eq(writes, w);
    cr_assert_eq(dones, 1);
    cg_exchange_release(ex);
    cg_exchange_release(ex);
}

/* --- chunked framing ------------------------------------------------------------------- */

static char framed[1 << 17];
static size_t framed_len;

static void record_write(void *ctx, char *data, size_t len)
{
    (void)ctx;
    if (framed_len + len <= sizeof(framed)) {
        memcpy(framed + framed_len, data, len);
        framed_len += len;
    }
    free(data);
}

static const struct cg_sink_ops recording = {record_write, sink_queued, sink_done, NULL};

/* Every streamed piece is one chunk: its size in lower-case hex, CRLF, the bytes, CRLF. */
Test(exchange, a_streamed_piece_is_one_chunk_sized_in_hex)
{
    static char piece[70000];
    memset(piece, 'x', sizeof(piece));
    struct cg_exchange *ex = cg_exchange_new(&recording, NULL);
    ex->method = CG_METHOD_POST;
    ex->http_minor = 1;
    ex->keep_alive = true;
    ex->state = CG_EXCHANGE_HANDLING;
    cg_exchange_stream_begin(ex, "text/event-stream");
    static const size_t sizes[] = {1, 9, 10, 15, 16, 255, 256, 4096, 65535, 70000};
    static const char *const lines[] = {"1",  "9",   "a",    "f",    "10",
                                        "ff", "100", "1000", "ffff", "11170"};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        framed_len = 0;
        cg_exchange_stream_write(ex, piece, sizes[i]);
        size_t hl = strlen(lines[i]);
        cr_assert_eq(framed_len, hl + 2 + sizes[i] + 2, "size %zu", sizes[i]);
        cr_assert(memcmp(framed, lines[i], hl) == 0, "size %zu: %.*s", sizes[i], (int)hl, framed);
        cr_assert(memcmp(framed + hl, "\r\n", 2) == 0);
        cr_assert(memcmp(framed + hl + 2 + sizes[i], "\r\n", 2) == 0);
    }
    framed_len = 0;
    cg_exchange_stream_end(ex);
    cr_assert_eq(framed_len, 5);
    cr_assert(memcmp(framed, "0\r\n\r\n", 5) == 0);
    cg_exchange_release(ex);
}
