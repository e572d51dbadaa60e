/* responses_encode.h: the Responses API shapes: the `response` object body and its SSE event
 * stream (`event: <type>` + `data: {..., "sequence_number": n}` frames), from normalized events.
 *
 * Output items follow the events in order: reasoning deltas make a `reasoning` item (one
 * summary_text part), text deltas a `message` item (one output_text part), each tool call a
 * `function_call` item; an event of another kind closes the open item. Only choice 0 exists.
 * A stream is `response.created`, `response.in_progress`, each item's added / delta / done
 * events, then exactly one of `response.completed`, `response.incomplete`, `response.failed`;
 * never `[DONE]`. */
#ifndef CG_API_RESPONSES_ENCODE_H
#define CG_API_RESPONSES_ENCODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "api/encoder.h"

struct cg_responses_encode_params {
    const char *id;     /* "resp_..."; item ids are derived from it */
    int64_t created_at; /* unix seconds */
    const char *model;  /* as the client asked */
    bool stream;
    /* Borrowed, may be NULL: the request fields a response echoes (instructions, tools,
     * tool_choice, parallel_tool_calls, text, reasoning, store, metadata, previous_response_id,
     * max_output_tokens, max_tool_calls, temperature, top_p, top_logprobs, truncation, user,
     * service_tier, prompt_cache_key, safety_identifier). Absent ones get OpenAI's defaults.
     * Read only by cg_responses_encoder_new. */
    const json_t *echo;
    /* include: ["reasoning.encrypted_content"]: reasoning items carry `encrypted_content`
     * (null until events carry it). */
    bool include_encrypted_reasoning;
    /* parallel_tool_calls: false: only the first call of a response is returned. */
    bool single_call;
    /* Unix seconds now, read once when the response completes (`completed_at`); NULL shows
     * null. The encoder stays a pure function of its inputs. */
    int64_t (*now_s)(void);
};

extern const struct cg_encoder_ops cg_responses_encoder_ops;

/* A new encoder (free it through cg_responses_encoder_ops.free). */
void *cg_responses_encoder_new(const struct cg_responses_encode_params *p);

/* The response object as it stands (the final one once every event is in: what the stream's
 * last event or the JSON body carries), appended to `out`; for storing it. In a stream, call it
 * after stream_settle (close_open's events would be lost otherwise). */
int cg_responses_encoder_response(void *enc, struct cg_buf *out) CG_MUST_CHECK;

#endif
