/* encoder.h: what an endpoint's encoder provides to the turn runner (api/run.c). Encoders are pure:
 * they turn normalized events into bytes (SSE chunks, or a JSON body at the end) and never touch
 * sockets, timers or processes. */
#ifndef CG_API_ENCODER_H
#define CG_API_ENCODER_H

#include <stdbool.h>
#include "core/errors.h"
#include "core/events.h"
#include "util/buf.h"

struct cg_encoder_ops {
    /* Streams only: the first bytes of the body (role chunks). */
    int (*stream_begin)(void *enc, struct cg_buf *out);
    /* Every event: streams append chunks to `out`; whole-body encoders accumulate. */
    int (*event)(void *enc, const struct cg_event *ev, struct cg_buf *out);
    /* Streams only, may be NULL: the events that close what is still open, before a seal
     * (run.h); after it the encoder's state is final and stream_end adds only the last event. */
    int (*stream_settle)(void *enc, struct cg_buf *out);
    /* Streams only: after every choice finished (usage chunk, [DONE]). */
    int (*stream_end)(void *enc, struct cg_buf *out);
    /* Streams only, once begun: the bytes that report `err` in the endpoint's dialect and end
     * the stream (the status line has gone out, so the error travels in-band). */
    int (*stream_error)(void *enc, const struct cg_error *err, struct cg_buf *out);
    /* Whole-body responses: the JSON body. */
    int (*body)(void *enc, struct cg_buf *out);
    /* Has `choice` ended on a stop sequence? Its turn may still be generating: the runner
     * cancels it. */
    bool (*stopped)(void *enc, unsigned choice);
    void (*free)(void *enc);
};

/* The usage numbers every OpenAI shape derives from a cg_usage. */
int cg_encoder_usage_json(const struct cg_usage *u, bool details, struct cg_buf *out) CG_MUST_CHECK;

#endif
