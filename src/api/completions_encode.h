/* completions_encode.h: the legacy Completions shapes (`text_completion` chunks and body) from
 * normalized events. Tool calls and reasoning do not exist in this API and are dropped. */
#ifndef CG_API_COMPLETIONS_ENCODE_H
#define CG_API_COMPLETIONS_ENCODE_H

#include <stdbool.h>
#include <stdint.h>
#include "api/chat_opts.h"
#include "api/encoder.h"

struct cg_completions_encode_params {
    const char *id; /* "cmpl-..." */
    int64_t created;
    const char *model;
    unsigned n;
    bool stream;
    bool include_usage;
    const struct cg_chat_opts *opts; /* stop sequences, echo + prompt */
};

extern const struct cg_encoder_ops cg_completions_encoder_ops;

void *cg_completions_encoder_new(const struct cg_completions_encode_params *p);

#endif
