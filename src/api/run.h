/* run.h: answers one HTTP request by running its choices as backend turns: submits them to the
 * pool, feeds their events to the endpoint's encoder, and owns everything around that — the
 * request timeout, SSE keepalives, a client that disconnects (its turns are interrupted at once),
 * a client that stops reading (cut off once PROXY_STREAM_QUEUE_MAX_BYTES are waiting), and
 * shutdown. Errors before the first byte become an HTTP status; after it, an in-band error
 * event and [DONE]. */
#ifndef CG_API_RUN_H
#define CG_API_RUN_H

#include <stdbool.h>
#include "api/api.h"
#include "api/encoder.h"
#include "core/request.h"
#include "http/exchange.h"

struct cg_run_spec {
    struct cg_api *api;
    struct cg_exchange *ex;
    struct cg_request req; /* moved into the run */
    const struct cg_encoder_ops *enc_ops;
    void *enc; /* owned by the run from here on */
    bool keepalive;
};

/* Takes over spec->req and spec->enc and answers spec->ex, whatever happens. */
void cg_run_start(struct cg_run_spec *spec);

#endif
