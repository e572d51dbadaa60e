/* reply_text.h: the answer text of one turn, reconciled from Codex's message deltas, its
 * authoritative `item/completed` text and mid-stream retries. Pure bookkeeping: each operation
 * says what to send next; nothing here does I/O.
 *
 * Deltas are passed on as they arrive, but `item/completed` is authoritative: if it holds more
 * than was streamed, the rest is sent then. After a retry (an `error` notification with
 * willRetry) Codex streams the whole message again in a new item; the part the client already
 * has is not sent twice. Separate message items are joined with a blank line. */
#ifndef CG_BACKEND_REPLY_TEXT_H
#define CG_BACKEND_REPLY_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include "util/buf.h"
#include "util/str.h"

enum { CG_REPLY_TEXT_ID_BYTES = 96 };

struct cg_reply_text {
    char item_id[CG_REPLY_TEXT_ID_BYTES];
    struct cg_buf item;  /* the current message item, as streamed by Codex */
    size_t sent;         /* how much of `item` the client has */
    struct cg_buf retry; /* what the client got from an item Codex abandoned */
    bool retrying;
    bool closed;    /* the current item completed */
    unsigned items; /* message items that produced text */
};

/* What to send after an operation: `sep` (empty, or the blank line before a new item's text),
 * then `text`. Both point into static storage or into the struct, valid until its next
 * operation. `diverged`: Codex's text disagreed with what had been sent (after a retry, or in
 * item/completed); what was sent stands. */
struct cg_reply_text_out {
    struct cg_str sep;
    struct cg_str text;
    bool diverged;
};

/* `max_bytes` caps one item's text; a delta beyond it is dropped. */
void cg_reply_text_init(struct cg_reply_text *rt, size_t max_bytes);
void cg_reply_text_dispose(struct cg_reply_text *rt);

/* A delta of item `item_id` (NULL: the current item). */
struct cg_reply_text_out cg_reply_text_delta(struct cg_reply_text *rt, const char *item_id,
                                             struct cg_str delta);
/* Item `item_id` (NULL: the current one) completed with `full` as its whole text. */
struct cg_reply_text_out cg_reply_text_completed(struct cg_reply_text *rt, const char *item_id,
                                                 struct cg_str full);
/* Codex abandoned the current item and will stream the message again. */
void cg_reply_text_retry(struct cg_reply_text *rt);

#endif
