/* reply_text.c: delta / completed / retry reconciliation of a turn's answer text. */
#include "backend/reply_text.h"
#include <stdio.h>
#include <string.h>
#include "util/buf.h"

static const struct cg_str item_separator = CG_STR("\n\n");

static void item_begin(struct cg_reply_text *rt, const char *id)
{
    cg_buf_format(rt->item_id, sizeof(rt->item_id), "%s", id ? id : "");
    cg_buf_reset(&rt->item);
    rt->sent = 0;
}

/* Whether `id` names the item whose id was kept: ids are kept cut to the buffer, so only that
 * much is compared (Codex's item ids are a few dozen bytes). */
static bool same_id(const struct cg_reply_text *rt, const char *id)
{
    return strncmp(id, rt->item_id, sizeof(rt->item_id) - 1) == 0;
}

/* Makes `id` (NULL: whichever is current) the current item. A completed item is emptied only
 * here, once what it returned has been sent. */
static void select_item(struct cg_reply_text *rt, const char *id)
{
    if (rt->closed) {
        rt->closed = false;
        item_begin(rt, NULL);
    }
    if (id && !same_id(rt, id))
        item_begin(rt, id);
}

/* Text of the current item from `from` to its end; a new item's first text gets the separator. */
static void send_from(struct cg_reply_text *rt, size_t from, bool continuing_item,
                      struct cg_reply_text_out *out)
{
    size_t len = rt->item.len;
    if (from >= len)
        return;
    if (!continuing_item) {
        if (rt->items > 0)
            out->sep = item_separator;
        rt->items++;
    }
    out->text = (struct cg_str){rt->item.data + from, len - from};
}

/* Brings the client up to date with the current item, honouring a pending retry. */
static void sync_item(struct cg_reply_text *rt, struct cg_reply_text_out *out)
{
    const char *txt = rt->item.data ? rt->item.data : "";
    size_t len = rt->item.len;
    if (rt->retrying) {
        const char *had = rt->retry.data ? rt->retry.data : "";
        size_t hlen = rt->retry.len;
        size_t common = len < hlen ? len : hlen;
        if (memcmp(txt, had, common) != 0) {
            out->diverged = true;
            rt->retrying = false;
            send_from(rt, common, true, out);
            rt->sent = len;
            return;
        }
        if (len <= hlen) {
            rt->sent = len; /* still repeating what the client has */
            return;
        }
        rt->retrying = false;
        send_from(rt, hlen, true, out);
        rt->sent = len;
        return;
    }
    if (len > rt->sent) {
        send_from(rt, rt->sent, rt->sent > 0, out);
        rt->sent = len;
    }
}

void cg_reply_text_init(struct cg_reply_text *rt, size_t max_bytes)
{
    memset(rt, 0, sizeof(*rt));
    cg_buf_init(&rt->item, max_bytes);
    cg_buf_init(&rt->retry, max_bytes);
}

void cg_reply_text_dispose(struct cg_reply_text *rt)
{
    cg_buf_dispose(&rt->item);
    cg_buf_dispose(&rt->retry);
}

struct cg_reply_text_out cg_reply_text_delta(struct cg_reply_text *rt, const char *item_id,
                                             struct cg_str delta)
{
    struct cg_reply_text_out out = {.sep = {"", 0}, .text = {"", 0}};
    select_item(rt, item_id);
    if (cg_buf_append(&rt->item, delta.ptr, delta.len) == 0)
        sync_item(rt, &out);
    return out;
}

struct cg_reply_text_out cg_reply_text_completed(struct cg_reply_text *rt, const char *item_id,
                                                 struct cg_str full)
{
    struct cg_reply_text_out out = {.sep = {"", 0}, .text = {"", 0}};
    select_item(rt, item_id);
    size_t have = rt->item.len;
    if (full.len >= have && memcmp(full.ptr, rt->item.data ? rt->item.data : "", have) == 0) {
        if (cg_buf_append(&rt->item, full.ptr + have, full.len - have) == 0)
            sync_item(rt, &out);
    } else {
        out.diverged = true;
    }
    rt->retrying = false;
    rt->closed = true; /* emptied by the next operation: `out` still points into it */
    return out;
}

void cg_reply_text_retry(struct cg_reply_text *rt)
{
    select_item(rt, NULL);
    if (rt->sent > 0 || rt->retrying) {
        if (!rt->retrying) {
            cg_buf_reset(&rt->retry);
            if (cg_buf_append(&rt->retry, rt->item.data, rt->sent) != 0)
                cg_buf_reset(&rt->retry);
        }
        rt->retrying = true;
    }
    item_begin(rt, NULL);
}
