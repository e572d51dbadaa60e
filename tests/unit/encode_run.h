/* encode_run.h: feeds normalized events to an encoder the way the turn runner does. */
#ifndef CG_TESTS_ENCODE_RUN_H
#define CG_TESTS_ENCODE_RUN_H

#include <criterion/criterion.h>
#include "api/encoder.h"

/* stream_begin, every event, then stream_end (or body); frees the encoder and returns the
 * bytes (caller frees). */
static inline char *run_encoder(const struct cg_encoder_ops *ops, void *enc, bool stream,
                                const struct cg_event *evs, size_t n, size_t *len)
{
    struct cg_buf out;
    cg_buf_init(&out, 1 << 24);
    if (stream)
        cr_assert_eq(ops->stream_begin(enc, &out), 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ops->event(enc, &evs[i], &out), 0);
    if (stream)
        cr_assert_eq(ops->stream_end(enc, &out), 0);
    else
        cr_assert_eq(ops->body(enc, &out), 0);
    ops->free(enc);
    return cg_buf_take(&out, len);
}

#endif
