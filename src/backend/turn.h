/* turn.h: one choice of one request as a Codex turn, over the v2 app-server protocol:
 * `thread/start` (ephemeral, with instructions and dynamic tools), `thread/inject_items` for the
 * replayed history, `turn/start`, then notifications turned into normalized events, and
 * `thread/unsubscribe` afterwards so a worker's memory stays flat. Client tool calls end the
 * turn: once the model response is complete (`rawResponse/completed`) the calls are handed out
 * as events with finish "tool_calls" and the turn is interrupted, never answered.
 *
 * Lifetime: the creator owns a turn until cg_turn_release. Events stop after release, and so
 * does every read of the request: the turn lives on inside the backend until its Codex turn has
 * wound down, acting on nothing but the notifications that end it (`turn/completed`, or the
 * interrupt deadline of cg_sessions_sweep). */
#ifndef CG_BACKEND_TURN_H
#define CG_BACKEND_TURN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "backend/reply_text.h"
#include "core/errors.h"
#include "core/events.h"
#include "core/request.h"

struct cg_turn;
struct cg_sessions;

/* Events for one turn, in order; the last is CG_EVENT_FINISH or CG_EVENT_ERROR. The event and
 * everything it points to are valid only during the call. */
typedef void (*cg_turn_event_cb)(struct cg_turn *t, const struct cg_event *ev, void *data);

enum cg_turn_state {
    CG_TURN_NEW,
    CG_TURN_QUEUED,
    CG_TURN_THREAD_STARTING,
    CG_TURN_INJECTING,
    CG_TURN_STARTING,
    CG_TURN_RUNNING,
    CG_TURN_INTERRUPTING,
    CG_TURN_DONE,
};

enum { CG_TURN_ID_BYTES = 96 };

struct cg_turn {
    const struct cg_request *req; /* borrowed until cg_turn_release, NULL after */
    unsigned choice;
    cg_turn_event_cb cb;
    void *cb_data;
    enum cg_turn_state state;

    /* Pool queue. */
    struct cg_turn *qprev;
    struct cg_turn *qnext;
    uint64_t queue_deadline_ms;
    uint64_t queued_us; /* when it joined the queue (monotonic) */

    /* Session. */
    struct cg_sessions *sess;
    char thread_id[CG_TURN_ID_BYTES];
    char turn_id[CG_TURN_ID_BYTES];
    uint64_t pending_call;
    uint64_t interrupt_deadline_ms;
    bool cancel_requested;
    bool released;
    bool ended;       /* FINISH or ERROR already delivered */
    bool tools_ready; /* function calls collected and handed out */

    struct cg_reply_text text;
    int summary_index;

    json_t *calls; /* [{call_id, name, arguments}] in model order */
    /* Sum of rawResponse/completed usage: one per model response, and the only source that
     * is complete for a tool-call turn (thread/tokenUsage/updated comes after the interrupt). */
    struct cg_usage usage;
    struct cg_error error;
    bool have_error;
};

struct cg_turn *cg_turn_new(const struct cg_request *req, unsigned choice, cg_turn_event_cb cb,
                            void *data);
/* Starts the turn on the session's worker (the pool picked it). */
void cg_turn_begin(struct cg_turn *t, struct cg_sessions *s);
/* Stops a started turn: interrupts it in Codex; no further events. */
void cg_turn_cancel(struct cg_turn *t);
/* The creator is done with the turn (cancels it if still running). From here on the turn reads
 * nothing of the request or the creator. */
void cg_turn_release(struct cg_turn *t);
/* For the pool: a turn that never started (queue timeout, shutdown) ends with `err`. */
void cg_turn_fail(struct cg_turn *t, const struct cg_error *err);

/* For the sessions table. A reference keeps the turn's memory; hold one across any call that
 * may end the turn. */
void cg_turn_hold(struct cg_turn *t);
void cg_turn_put(struct cg_turn *t);
/* A notification for this turn's thread; `params` borrowed. */
void cg_turn_notification(struct cg_turn *t, const char *method, json_t *params);
/* The same for the notifications the sessions table reads from the raw line, with what
 * cg_turn_notification would have read from `params` (`item_id` NULL when it is not a string,
 * `usage` NULL when params.usage is not an object, `status` NULL when it is not a string):
 * item/agentMessage/delta, item/completed of an agentMessage, rawResponse/completed, and
 * turn/completed whose turn.error is not an object. */
void cg_turn_text_delta(struct cg_turn *t, const char *item_id, struct cg_str delta);
void cg_turn_message_completed(struct cg_turn *t, const char *item_id, struct cg_str text);
void cg_turn_response_completed(struct cg_turn *t, const struct cg_usage *usage);
void cg_turn_completed(struct cg_turn *t, const char *status);
/* The turn cannot go on (worker lost, a message of it dropped): the client gets `err` and the
 * Codex side is wound down, or abandoned when `abandon` (the worker is gone). */
void cg_turn_abort(struct cg_turn *t, const struct cg_error *err, bool abandon);
/* Ends the turn if its interrupt has gone unanswered past its deadline. */
void cg_turn_sweep(struct cg_turn *t, uint64_t now_ms);

/* Turns allocated and not yet freed, in this process (for tests and leak checks). */
size_t cg_turn_live(void);

#endif
