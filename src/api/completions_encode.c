/* completions_encode.c: text_completion JSON. */
#include "api/completions_encode.h"
#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "api/choices.h"
#include "core/limits.h"
#include "util/alloc.h"
#include "util/json.h"

struct completions_encoder {
    struct cg_choices choices; /* first: the cg_choices_* encoder ops take the encoder */
    struct cg_completions_encode_params p;
};
static_assert(offsetof(struct completions_encoder, choices) == 0, "cg_choices_* ops cast the encoder");


static int text_chunk(void *enc, unsigned choice, const char *p, size_t n, struct cg_buf *out);
static int finish_chunk(void *enc, unsigned choice, enum cg_finish f, struct cg_buf *out);

static const struct cg_choices_ops choices_ops = {text_chunk, finish_chunk};

void *cg_completions_encoder_new(const struct cg_completions_encode_params *p)
{
    struct completions_encoder *e = cg_xcalloc(1, sizeof(*e));
    e->p = *p;
    cg_choices_init(&e->choices, p->n, p->stream, p->opts, &choices_ops, e);
    return e;
}

static void encoder_free(void *enc)
{
    struct completions_encoder *e = enc;
    cg_choices_dispose(&e->choices);
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
        err = cg_buf_appendf(out, ",\"index\":%u,\"logprobs\":null,\"finish_reason\":", choice);
    if (!err)
        err = cg_choices_finish_json(finish, out);
    if (!err)
        err = cg_buf_append_str(out, "}]");
    if (!err && e->p.include_usage)
        err = cg_buf_append_str(out, ",\"usage\":null");
    if (!err)
        err = cg_buf_append_str(out, "}\n\n");
    return err;
}

static int text_chunk(void *enc, unsigned choice, const char *p, size_t n, struct cg_buf *out)
{
    return chunk(enc, choice, p, n, NULL, out);
}

static int finish_chunk(void *enc, unsigned choice, enum cg_finish f, struct cg_buf *out)
{
    return chunk(enc, choice, "", 0, cg_finish_name(f), out);
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

/* Tool calls and reasoning do not exist here: the common events are all there is. */
static int on_event(void *enc, const struct cg_event *ev, struct cg_buf *out)
{
    struct completions_encoder *e = enc;
    return cg_choices_event(&e->choices, ev, out);
}

static int stream_end(void *enc, struct cg_buf *out)
{
    struct completions_encoder *e = enc;
    struct cg_buf h;
    cg_buf_init(&h, 4096);
    int err = head(e, &h);
    if (!err)
        err = cg_choices_stream_end(&e->choices, h.data, h.len, e->p.include_usage, false, out);
    cg_buf_dispose(&h);
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
        const struct cg_choice *c = &e->choices.v[i];
        struct cg_buf text;
        cg_buf_init(&text, CG_ANSWER_TEXT_MAX_BYTES * 2);
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
        err = cg_encoder_usage_json(&e->choices.usage, false, out);
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}

const struct cg_encoder_ops cg_completions_encoder_ops = {
    .stream_begin = stream_begin,
    .event = on_event,
    .stream_end = stream_end,
    .stream_error = cg_choices_stream_error,
    .body = body,
    .stopped = cg_choices_stopped,
    .free = encoder_free,
};
