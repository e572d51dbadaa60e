/* choices.h: what every chat-family encoder keeps per choice and repeats around it: the
 * released text (whole-body mode), the stop-sequence filter, the finish reason, the usage summed
 * over all choices, and the frames that end a stream (usage chunk, [DONE], in-band error).
 * Encoders plug in their own chunk shapes through cg_choices_ops. Pure: no I/O. */
#ifndef CG_API_CHOICES_H
#define CG_API_CHOICES_H

#include <stdbool.h>
#include "api/chat_opts.h"
#include "api/stopseq.h"
#include "core/errors.h"
#include "core/events.h"
#include "util/buf.h"

struct cg_choice {
    struct cg_buf text; /* whole-body mode: the text released so far */
    struct cg_stopseq stop;
    enum cg_finish finish;
    bool finished;
    bool any_call; /* the encoder kept a tool call for this choice */
};

/* The stream chunks an encoder writes for the common events (streams only). */
struct cg_choices_ops {
    int (*text_chunk)(void *enc, unsigned choice, const char *p, size_t n, struct cg_buf *out);
    int (*finish_chunk)(void *enc, unsigned choice, enum cg_finish f, struct cg_buf *out);
};

struct cg_choices {
    struct cg_choice *v;
    unsigned n;
    bool stream;
    struct cg_usage usage; /* summed over every choice's turn */
    const struct cg_choices_ops *ops;
    void *enc; /* passed to ops */
};

/* `opts` (borrowed, may be NULL) holds the stop sequences. */
void cg_choices_init(struct cg_choices *c, unsigned n, bool stream, const struct cg_chat_opts *opts,
                     const struct cg_choices_ops *ops, void *enc);
void cg_choices_dispose(struct cg_choices *c);

/* TEXT (through the stop filter; a match finishes the choice with "stop"), USAGE (summed) and
 * FINISH (the held tail released; tool_calls without a kept call becomes stop). Other events
 * are left to the encoder. */
int cg_choices_event(struct cg_choices *c, const struct cg_event *ev,
                     struct cg_buf *out) CG_MUST_CHECK;


/* `"<finish>"`, or null when `finish` is NULL. */
int cg_choices_finish_json(const char *finish, struct cg_buf *out) CG_MUST_CHECK;

/* The end of a stream: with include_usage a usage chunk, `head` (the chunk's opening object
 * members) then "choices":[] and the usage (token details with `details`); then [DONE]. */
int cg_choices_stream_end(const struct cg_choices *c, const char *head, size_t head_len,
                          bool include_usage, bool details, struct cg_buf *out) CG_MUST_CHECK;

/* Encoder ops (encoder.h) for an encoder whose struct begins with its struct cg_choices. */
/* stream_error: data: {"error":{...}} and data: [DONE]. */
int cg_choices_stream_error(void *enc, const struct cg_error *err, struct cg_buf *out)
    CG_MUST_CHECK;
/* stopped: did the choice end on a stop sequence? Its turn may still be generating. */
bool cg_choices_stopped(void *enc, unsigned choice);

#endif
