/* appserver.h: one choice of one request as a Codex turn, over the v2 app-server protocol:
 * `thread/start` (ephemeral, with instructions and dynamic tools), `thread/inject_items` for the
 * replayed history, `turn/start`, then notifications turned into normalized events, and
 * `thread/unsubscribe` afterwards so a worker's memory stays flat. Client tool calls end the
 * turn: once the model response is complete (`rawResponse/completed`) the calls are handed out
 * as events with finish "tool_calls" and the turn is interrupted, never answered.
 *
 * Lifetime: the creator owns a turn until cg_turn_release. Events stop after release; the turn
 * itself lives on inside the backend until its Codex turn has wound down. */
#ifndef CG_BACKEND_APPSERVER_H
#define CG_BACKEND_APPSERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "backend/worker.h"
#include "core/errors.h"
#include "core/events.h"
#include "core/request.h"
#include "util/buf.h"
#include "util/map.h"

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
    const struct cg_request *req; /* borrowed: outlives the turn's events */
    unsigned choice;
    cg_turn_event_cb cb;
    void *cb_data;
    enum cg_turn_state state;

    /* Pool queue. */
    struct cg_turn *qprev;
    struct cg_turn *qnext;
    uint64_t queue_deadline_ms;

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

    /* Text bookkeeping (see appserver.c). */
    char item_id[CG_TURN_ID_BYTES];
    struct cg_buf item_text;  /* the current message item, as streamed by Codex */
    size_t item_sent;         /* how much of item_text the client has */
    struct cg_buf retry_text; /* what the client got from an item Codex abandoned */
    bool retrying;
    unsigned message_items; /* message items that produced text */
    int summary_index;

    json_t *calls; /* [{call_id, name, arguments}] in model order */
    /* Sum of rawResponse/completed usage: one per model response, and the only source that
     * is complete for a tool-call turn (thread/tokenUsage/updated comes after the interrupt). */
    struct cg_usage usage;
    struct cg_error error;
    bool have_error;
};

/* Per worker: the turns running on it, by thread id. */
struct cg_sessions {
    struct cg_worker *worker;
    struct cg_map threads;
    uint64_t interrupt_timeout_ms;
    /* Called when a turn leaves the worker (its slot is free again). */
    void (*turn_done)(struct cg_sessions *s, struct cg_turn *t, void *data);
    void *data;
};

struct cg_turn *cg_turn_new(const struct cg_request *req, unsigned choice, cg_turn_event_cb cb,
                            void *data);
/* Starts the turn on the session's worker (the pool picked it). */
void cg_turn_begin(struct cg_turn *t, struct cg_sessions *s);
/* Stops a started turn: interrupts it in Codex; no further events. */
void cg_turn_cancel(struct cg_turn *t);
/* The creator is done with the turn (cancels it if still running). */
void cg_turn_release(struct cg_turn *t);
/* For the pool: a turn that never started (queue timeout, shutdown) ends with `err`. */
void cg_turn_fail(struct cg_turn *t, const struct cg_error *err);

void cg_sessions_init(struct cg_sessions *s, struct cg_worker *w, uint64_t interrupt_timeout_ms);
void cg_sessions_dispose(struct cg_sessions *s);
void cg_sessions_notification(struct cg_sessions *s, const char *method, json_t *params);
/* Whether cg_sessions_notification would act on this notification, judged from its method and
 * raw line before parsing (an answer of true may still turn out to be of no use). */
bool cg_sessions_wants(struct cg_str method, struct cg_str line);
void cg_sessions_request(struct cg_sessions *s, json_t *id, const char *method, json_t *params);
/* A message too long to read was dropped: the turn it belonged to (found by the threadId in
 * the message's first or last bytes) cannot complete and fails now instead of hanging. */
void cg_sessions_oversized(struct cg_sessions *s, const char *head, size_t head_len,
                           const char *tail, size_t tail_len);
/* The worker died: every turn on it fails with `reason`. */
void cg_sessions_lost(struct cg_sessions *s, const char *reason);
/* Ends turns whose interrupt went unanswered past their deadline. */
void cg_sessions_sweep(struct cg_sessions *s, uint64_t now_ms);

/* Maps a Codex TurnError ({message, codexErrorInfo, additionalDetails}) to our error. */
void cg_appserver_map_error(json_t *turn_error, struct cg_error *out);

#endif
