/* test_exchange.c: an exchange's response half, on a sink that records what it is given. */
#include <criterion/criterion.h>
#include <stdlib.h>
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
