/* completions_encode.c: text_completion JSON. */
#include "api/completions_encode.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "api/stopseq.h"
#include "util/alloc.h"
#include "util/json.h"

enum { TEXT_MAX_BYTES = 256 * 1024 * 1024 };

struct choice {
    struct cg_buf text;
    struct cg_stopseq stop;
    enum cg_finish finish;
    bool finished;
};

struct completions_encoder {
    struct cg_completions_encode_params p;
    struct cg_usage usage;
    struct choice *choices;
};

void *cg_completions_encoder_new(const struct cg_completions_encode_params *p)
{
    struct completions_encoder *e = cg_xcalloc(1, sizeof(*e));
    e->p = *p;
    e->choices = cg_xcalloc(p->n, sizeof(*e->choices));
    for (unsigned i = 0; i < p->n; i++) {
        cg_buf_init(&e->choices[i].text, TEXT_MAX_BYTES);
        cg_stopseq_init(&e->choices[i].stop, p->opts);
    }
    return e;
}

static void encoder_free(void *enc)
{
    struct completions_encoder *e = enc;
    for (unsigned i = 0; i < e->p.n; i++) {
        cg_buf_dispose(&e->choices[i].text);
        cg_stopseq_dispose(&e->choices[i].stop);
    }
    free(e->choices);
    free(e);
}

/* {"id","object":"text_completion","created","model" — shared by chunks and the body. */
static int head(const struct completions_encoder *e, struct cg_buf *out)
{
    int err = cg_buf_append_str(out, "{\"id\":");
    if (!err)
        err = cg_json_cstring(out, e->p.id);
    if (!err)
        err = cg_buf_appendf(out, ",\"object\":\"text_completion\",\"created\":%" PRId64
                                  ",\"model\":",
                             e->p.created);
    if (!err)
        err = cg_json_cstring(out, e->p.model);
    return err;
}

static int chunk(struct completions_encoder *e, unsigned choice, const char *text, size_t n,
                 const char *finish, struct cg_buf *out)
{
    int err = cg_buf_append_str(out, "data: ");
    if (!err)
        err = head(e, out);
    if (!err)
        err = cg_buf_append_str(out, ",\"choices\":[{\"text\":");
    if (!err)
        err = cg_json_string(out, text, n);
    if (!err)
        err = cg_buf_appendf(out, ",\"index\":%u,\"logprobs\":null,\"finish_reason\":%s%s%s}]",
                             choice, finish ? "\"" : "", finish ? finish : "null",
                             finish ? "\"" : "");
    if (!err && e->p.include_usage)
        err = cg_buf_append_str(out, ",\"usage\":null");
    if (!err)
        err = cg_buf_append_str(out, "}\n\n");
    return err;
}

static int stream_begin(void *enc, struct cg_buf *out)
{
    struct completions_encoder *e = enc;
    int err = 0;
    if (e->p.opts && e->p.opts->echo && e->p.opts->prompt) {
        for (unsigned i = 0; i < e->p.n && !err; i++)
            err = chunk(e, i, e->p.opts->prompt, strlen(e->p.opts->prompt), NULL, out);
    }
    return err;
}

static int release(struct completions_encoder *e, unsigned i, const char *p, size_t n,
                   struct cg_buf *out)
{
    if (n == 0)
        return 0;
    if (!e->p.stream)
        return cg_buf_append(&e->choices[i].text, p, n);
    return chunk(e, i, p, n, NULL, out);
}

static int finish_choice(struct completions_encoder *e, unsigned i, enum cg_finish f,
                         struct cg_buf *out)
{
    struct choice *c = &e->choices[i];
    if (c->finished)
        return 0;
    c->finished = true;
    c->finish = f == CG_FINISH_TOOL_CALLS ? CG_FINISH_STOP : f;
    return e->p.stream ? chunk(e, i, "", 0, cg_finish_name(c->finish), out) : 0;
}

static int on_event(void *enc, const struct cg_event *ev, struct cg_buf *out)
{
    struct completions_encoder *e = enc;
    if (ev->choice >= e->p.n)
        return 0;
    struct choice *c = &e->choices[ev->choice];
    struct cg_buf shown;
    int err = 0;
    switch (ev->type) {
    case CG_EVENT_TEXT:
        if (c->finished)
            return 0;
        cg_buf_init(&shown, TEXT_MAX_BYTES);
        err = cg_stopseq_feed(&c->stop, ev->text.ptr, ev->text.len, &shown);
        if (!err)
            err = release(e, ev->choice, shown.data, shown.len, out);
        cg_buf_dispose(&shown);
        if (!err && c->stop.stopped)
            err = finish_choice(e, ev->choice, CG_FINISH_STOP, out);
        return err;
    case CG_EVENT_USAGE:
        cg_usage_add(&e->usage, &ev->usage);
        return 0;
    case CG_EVENT_FINISH:
        cg_buf_init(&shown, TEXT_MAX_BYTES);
        err = cg_stopseq_flush(&c->stop, &shown);
        if (!err && !c->finished)
            err = release(e, ev->choice, shown.data, shown.len, out);
        cg_buf_dispose(&shown);
        if (!err)
            err = finish_choice(e, ev->choice, ev->finish, out);
        return err;
    default:
        return 0;
    }
}

static int stream_end(void *enc, struct cg_buf *out)
{
    struct completions_encoder *e = enc;
    int err = 0;
    if (e->p.include_usage) {
        err = cg_buf_append_str(out, "data: ");
        if (!err)
            err = head(e, out);
        if (!err)
            err = cg_buf_append_str(out, ",\"choices\":[],\"usage\":");
        if (!err)
            err = cg_encoder_usage_json(&e->usage, false, out);
        if (!err)
            err = cg_buf_append_str(out, "}\n\n");
    }
    if (!err)
        err = cg_buf_append_str(out, "data: [DONE]\n\n");
    return err;
}

static int body(void *enc, struct cg_buf *out)
{
    struct completions_encoder *e = enc;
    int err = head(e, out);
    if (!err)
        err = cg_buf_append_str(out, ",\"choices\":[");
    const char *prompt = e->p.opts && e->p.opts->echo ? e->p.opts->prompt : NULL;
    for (unsigned i = 0; i < e->p.n && !err; i++) {
        struct choice *c = &e->choices[i];
        struct cg_buf text;
        cg_buf_init(&text, TEXT_MAX_BYTES * 2);
        err = cg_buf_append_str(&text, prompt ? prompt : "");
        if (!err)
            err = cg_buf_append(&text, c->text.data ? c->text.data : "", c->text.len);
        if (!err)
            err = cg_buf_appendf(out, "%s{\"text\":", i ? "," : "");
        if (!err)
            err = cg_json_string(out, text.data ? text.data : "", text.len);
        if (!err)
            err = cg_buf_appendf(out, ",\"index\":%u,\"logprobs\":null,\"finish_reason\":\"%s\"}",
                                 i, cg_finish_name(c->finish));
        cg_buf_dispose(&text);
    }
    if (!err)
        err = cg_buf_append_str(out, "],\"usage\":");
    if (!err)
        err = cg_encoder_usage_json(&e->usage, false, out);
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}

const struct cg_encoder_ops cg_completions_encoder_ops = {stream_begin, on_event, stream_end, body,
                                                          encoder_free};
