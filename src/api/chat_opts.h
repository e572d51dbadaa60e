/* chat_opts.h: what the chat-family encoders need beyond the cg_request (tool-call shape, stop
 * sequences, echo), filled by the chat and completions parsers. */
#ifndef CG_API_CHAT_OPTS_H
#define CG_API_CHAT_OPTS_H

#include <stdbool.h>
#include <stddef.h>

enum { CG_STOP_MAX = 4, CG_STOP_MAX_BYTES = 256 };

struct cg_chat_opts {
    bool parallel_tool_calls; /* false: only the first call of a response is returned */
    bool legacy_functions;    /* the request used `functions`: answer with function_call */
    size_t stop_count;
    char stop[CG_STOP_MAX][CG_STOP_MAX_BYTES + 1];
    bool echo;          /* legacy completions: prefix the prompt */
    const char *prompt; /* legacy completions: the prompt (points into req) */
};

#endif
