/* stopseq.c: stop-sequence search with a held-back tail. */
#include "api/stopseq.h"
#include <string.h>
#include "core/limits.h"
#include "util/json.h"

void cg_stopseq_init(struct cg_stopseq *s, const struct cg_chat_opts *opts)
{
    s->opts = opts;
    s->longest = 0;
    s->stopped = false;
    cg_buf_init(&s->held, CG_REQUEST_TEXT_MAX_BYTES);
    for (size_t i = 0; opts && i < opts->stop_count; i++) {
        size_t n = strlen(opts->stop[i]);
        if (n > s->longest)
            s->longest = n;
    }
}

void cg_stopseq_dispose(struct cg_stopseq *s)
{
    cg_buf_dispose(&s->held);
}

int cg_stopseq_feed(struct cg_stopseq *s, const char *p, size_t n, struct cg_buf *out)
{
    if (s->stopped || n == 0)
        return 0;
    if (s->longest == 0)
        return cg_buf_append(out, p, n);
    int err = cg_buf_append(&s->held, p, n);
    if (err)
        return err;
    /* The earliest match of any sequence wins. */
    size_t cut = SIZE_MAX;
    for (size_t i = 0; i < s->opts->stop_count; i++) {
        const char *seq = s->opts->stop[i];
        const char *hit = memmem(s->held.data, s->held.len, seq, strlen(seq));
        if (hit && (size_t)(hit - s->held.data) < cut)
            cut = (size_t)(hit - s->held.data);
    }
    if (cut != SIZE_MAX) {
        s->stopped = true;
        err = cg_buf_append(out, s->held.data, cut);
        cg_buf_reset(&s->held);
        return err;
    }
    /* Keep the last longest-1 bytes: they may begin a sequence. */
    size_t keep = s->longest - 1;
    if (s->held.len <= keep)
        return 0;
    size_t release = cg_json_utf8_boundary(s->held.data, s->held.len - keep);
    err = cg_buf_append(out, s->held.data, release);
    cg_buf_consume(&s->held, release);
    return err;
}

int cg_stopseq_flush(struct cg_stopseq *s, struct cg_buf *out)
{
    if (s->stopped || s->held.len == 0)
        return 0;
    int err = cg_buf_append(out, s->held.data, s->held.len);
    cg_buf_reset(&s->held);
    return err;
}
