/* choices.c: per-choice bookkeeping shared by the chat-family encoders (see choices.h). */
#include "api/choices.h"
#include <inttypes.h>
#include <stdlib.h>
#include "api/encoder.h"
#include "core/limits.h"
#include "util/alloc.h"

int cg_encoder_usage_json(const struct cg_usage *u, bool details, struct cg_buf *out)
{
    int err = cg_buf_appendf(out,
                             "{\"prompt_tokens\":%" PRId64 ",\"completion_tokens\":%" PRId64
                             ",\"total_tokens\":%" PRId64,
                             u->input, u->output, u->input + u->output);
    if (!err && details)
        err = cg_buf_appendf(out,
                             ",\"prompt_tokens_details\":{\"cached_tokens\":%" PRId64
                             ",\"audio_tokens\":0},\"completion_tokens_details\":{"
                             "\"reasoning_tokens\":%" PRId64
                             ",\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
                             "\"rejected_prediction_tokens\":0}",
                             u->cached, u->reasoning);
    if (!err)
        err = cg_buf_append_char(out, '}');
    return err;
}

void cg_choices_init(struct cg_choices *c, unsigned n, bool stream, const struct cg_chat_opts *opts,
                     const struct cg_choices_ops *ops, void *enc)
{
    c->v = cg_xcalloc(n ? n : 1, sizeof(*c->v));
    c->n = n;
    c->stream = stream;
    c->usage = (struct cg_usage){0};
    c->ops = ops;
    c->enc = enc;
    for (unsigned i = 0; i < n; i++) {
        cg_buf_init(&c->v[i].text, CG_ANSWER_TEXT_MAX_BYTES);
        cg_stopseq_init(&c->v[i].stop, opts);
    }
}

void cg_choices_dispose(struct cg_choices *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        cg_buf_dispose(&c->v[i].text);
        cg_stopseq_dispose(&c->v[i].stop);
    }
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

/* Text that passed the stop-sequence filter. */
static int release(struct cg_choices *c, unsigned i, const char *p, size_t n, struct cg_buf *out)
{
    if (n == 0)
        return 0;
    if (!c->stream)
        return cg_buf_append(&c->v[i].text, p, n);
    return c->ops->text_chunk(c->enc, i, p, n, out);
}

static int finish(struct cg_choices *c, unsigned i, enum cg_finish f, struct cg_buf *out)
{
    struct cg_choice *ch = &c->v[i];
    if (ch->finished)
        return 0;
    ch->finished = true;
    ch->finish = f;
    return c->stream ? c->ops->finish_chunk(c->enc, i, f, out) : 0;
}

static int on_text(struct cg_choices *c, unsigned i, struct cg_str text, struct cg_buf *out)
{
    struct cg_choice *ch = &c->v[i];
    if (ch->finished)
        return 0;
    struct cg_buf shown;
    cg_buf_init(&shown, CG_ANSWER_TEXT_MAX_BYTES);
    int err = cg_stopseq_feed(&ch->stop, text.ptr, text.len, &shown);
    if (!err)
        err = release(c, i, shown.data, shown.len, out);
    cg_buf_dispose(&shown);
    if (!err && ch->stop.stopped)
        err = finish(c, i, CG_FINISH_STOP, out);
    return err;
}

static int on_finish(struct cg_choices *c, unsigned i, enum cg_finish f, struct cg_buf *out)
{
    struct cg_choice *ch = &c->v[i];
    struct cg_buf rest;
    cg_buf_init(&rest, CG_ANSWER_TEXT_MAX_BYTES);
    int err = cg_stopseq_flush(&ch->stop, &rest);
    if (!err && !ch->finished)
        err = release(c, i, rest.data, rest.len, out);
    cg_buf_dispose(&rest);
    if (f == CG_FINISH_TOOL_CALLS && !ch->any_call)
        f = CG_FINISH_STOP;
    if (!err)
        err = finish(c, i, f, out);
    return err;
}

int cg_choices_event(struct cg_choices *c, const struct cg_event *ev, struct cg_buf *out)
{
    if (ev->choice >= c->n)
        return 0;
    switch (ev->type) {
    case CG_EVENT_TEXT:
        return on_text(c, ev->choice, ev->text, out);
    case CG_EVENT_USAGE:
        cg_usage_add(&c->usage, &ev->usage);
        return 0;
    case CG_EVENT_FINISH:
        return on_finish(c, ev->choice, ev->finish, out);
    default:
        return 0;
    }
}

bool cg_choices_stopped(void *enc, unsigned choice)
{
    const struct cg_choices *c = enc;
    return choice < c->n && c->v[choice].stop.stopped;
}

int cg_choices_finish_json(const char *finish, struct cg_buf *out)
{
    if (finish == NULL)
        return cg_buf_append_str(out, "null");
    return cg_buf_appendf(out, "\"%s\"", finish);
}

int cg_choices_stream_end(const struct cg_choices *c, const char *head, size_t head_len,
                          bool include_usage, bool details, struct cg_buf *out)
{
    int err = 0;
    if (include_usage) {
        err = cg_buf_append_str(out, "data: ");
        if (!err)
            err = cg_buf_append(out, head, head_len);
        if (!err)
            err = cg_buf_append_str(out, ",\"choices\":[],\"usage\":");
        if (!err)
            err = cg_encoder_usage_json(&c->usage, details, out);
        if (!err)
            err = cg_buf_append_str(out, "}\n\n");
    }
    if (!err)
        err = cg_buf_append_str(out, "data: [DONE]\n\n");
    return err;
}

int cg_choices_stream_error(void *enc, const struct cg_error *err, struct cg_buf *out)
{
    (void)enc;
    int rc = cg_buf_append_str(out, "data: ");
    if (!rc)
        rc = cg_error_to_json(err, out);
    if (!rc)
        rc = cg_buf_append_str(out, "\n\ndata: [DONE]\n\n");
    return rc;
}
