/* run.h: answers one HTTP request by running its choices as backend turns: submits them to the
 * pool, feeds their events to the endpoint's encoder, and owns everything around that — the
 * request timeout, SSE keepalives, a client that disconnects (its turns are interrupted at once),
 * a client that stops reading (cut off once PROXY_STREAM_QUEUE_MAX_BYTES are waiting), and
 * shutdown. Errors before the first byte become an HTTP status; after it, the encoder's in-band
 * error frame. A choice that ends on a stop sequence has its turn cancelled at once. Every run,
 * however it ends, reports its outcome once to the consumers in cg_api. */
#ifndef CG_API_RUN_H
#define CG_API_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include "api/api.h"
#include "api/encoder.h"
#include "core/request.h"
#include "http/exchange.h"

struct cg_run; /* opaque */

/* The endpoint's last word before a run that ended well answers: every event but the last
 * has gone out (a stream's open parts closed through stream_settle), the encoder's state is
 * final, and the final bytes wait until the endpoint calls cg_run_sealed, at once or later
 * (after storing the response). Until then the run stays alive, whatever happens to its
 * client. */
typedef void (*cg_run_seal_cb)(struct cg_run *run, void *enc, void *data);

struct cg_run_spec {
    struct cg_api *api;
    struct cg_exchange *ex;
    struct cg_request req; /* moved into the run */
    const struct cg_encoder_ops *enc_ops;
    void *enc; /* owned by the run from here on */
    bool keepalive;
    cg_run_seal_cb seal; /* NULL: answer as soon as the last choice ends */
    void *seal_data;
    /* Frees seal_data when the run ends without calling `seal` (it failed, or its client
     * left); after a seal, the endpoint owns seal_data again. */
    void (*seal_dispose)(void *data);
};

/* How a run ended, for the usage ledger, metrics and the usage log. Borrowed: valid during the
 * consumer call only. */
struct cg_run_outcome {
    const struct cg_exchange *ex; /* the request answered (for the access line); NULL in tests */
    const char *request_id;
    const char *route;     /* the route's name ("chat", "completions") */
    const char *model;     /* as the client asked */
    const char *key_label; /* who was admitted (never the key); NULL when not known */
    const char *key_id;    /* the admitted key's stable id (http/exchange.h); NULL when not known */
    struct cg_usage usage; /* what Codex reported, summed over the run's turns */
    int status;            /* the HTTP status sent; a stream's stays 200 however it ends; 499:
                            * the client left before any response */
    enum cg_err error;     /* CG_OK, or what the run ended with (in-band once streaming) */
    uint64_t latency_ms;   /* from the request's arrival to the end of the run */
    int64_t ttfb_ms;       /* from the arrival to the first model output (text, reasoning or a
                            * tool call); -1 when there was none */
    int worker;            /* the worker of the first choice's turn; -1 when none took it */
    bool stream;
};

/* How a run ended, for the ledger and metrics (the error's own code says more). */
enum cg_run_end {
    CG_RUN_COMPLETED,
    CG_RUN_CLIENT_CLOSED,
    CG_RUN_TIMEOUT,
    CG_RUN_ERROR,
    CG_RUN_ENDS
};

enum cg_run_end cg_run_outcome_end(const struct cg_run_outcome *o);
/* "completed", "client_closed", "timeout" or "error". */
const char *cg_run_end_name(enum cg_run_end end);
/* cg_run_end_name of the outcome's end. */
const char *cg_run_outcome_name(const struct cg_run_outcome *o);

/* Adds a consumer of run outcomes; false when CG_API_CONSUMERS_MAX are already there. */
bool cg_run_subscribe(struct cg_api *api, cg_run_outcome_cb cb, void *data);

/* Takes over spec->req and spec->enc and answers spec->ex, whatever happens. */
void cg_run_start(struct cg_run_spec *spec);

/* Answers a seal, exactly once: `err` NULL sends the final bytes; otherwise the run fails with
 * it (in-band once streaming). A run whose client has gone meanwhile is only freed. */
void cg_run_sealed(struct cg_run *run, const struct cg_error *err);

#endif
