/* stopseq.h: honours `stop` sequences on our side, since Codex cannot pass them upstream. Text is
 * released as it arrives except for a tail that could be the start of a stop sequence; once a
 * sequence appears, everything from it on is dropped. */
#ifndef CG_API_STOPSEQ_H
#define CG_API_STOPSEQ_H

#include <stdbool.h>
#include <stddef.h>
#include "api/chat_opts.h"
#include "util/buf.h"

struct cg_stopseq {
    const struct cg_chat_opts *opts; /* the sequences */
    size_t longest;
    struct cg_buf held;
    bool stopped;
};

void cg_stopseq_init(struct cg_stopseq *s, const struct cg_chat_opts *opts);
void cg_stopseq_dispose(struct cg_stopseq *s);

/* Feeds a delta; appends the text that may be shown now to `out`. Sets s->stopped when a stop
 * sequence was found (nothing more will ever be released). */
int cg_stopseq_feed(struct cg_stopseq *s, const char *p, size_t n, struct cg_buf *out)
    CG_MUST_CHECK;
/* The text ended: releases the held tail. */
int cg_stopseq_flush(struct cg_stopseq *s, struct cg_buf *out) CG_MUST_CHECK;

#endif
