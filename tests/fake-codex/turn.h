/* turn.h: a running turn of the fake app-server as a small program of output operations
 * (notifications, deltas, delays, server requests, waits), executed on the event loop.
 * Scenarios (scenario.c) append operations; this module runs them, routes the client's answers
 * to server requests, and implements interrupt and steering. */
#ifndef FC_TURN_H
#define FC_TURN_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "util.h"

struct fc_thread;

enum fc_op_kind {
    FC_OP_NOTIFY,   /* notification `method` with params `json` */
    FC_OP_DELTA,    /* item/agentMessage/delta of `text` for item `item_id` */
    FC_OP_DELAY,    /* pause `num` ms */
    FC_OP_REQUEST,  /* server request `method` with params `json` for call slot `num` */
    FC_OP_WAIT,     /* wait until every sent request is answered, then run the continuation */
    FC_OP_USAGE,    /* thread/tokenUsage/updated for `usage` + account/rateLimits/updated */
    FC_OP_COMPLETE, /* turn/completed with status `text` and error `json`; ends the turn */
    FC_OP_HALT,     /* stop until interrupted */
    FC_OP_EXIT,     /* exit the process with status `num` (negative: SIGKILL) */
    FC_OP_STDOUT,   /* raw line `text` on stdout */
    FC_OP_STDERR,   /* raw line `text` on stderr */
    FC_OP_FLOOD,    /* `num` bytes of junk lines on stdout, as fast as stdout takes them */
};

#define FC_OPF_STATUS      1u  /* thread/status/changed: sent even after thread/unsubscribe */
#define FC_OPF_STAMP_START 2u  /* set params.startedAtMs when sent */
#define FC_OPF_STAMP_DONE  4u  /* set params.completedAtMs when sent */
#define FC_OPF_FINAL       8u  /* params.item is the turn's final agent message */
#define FC_OPF_DEFER       16u /* FC_OP_USAGE: only remember it as the pending usage */

struct fc_usage {
    int64_t input;
    int64_t cached;
    int64_t output;
    int64_t reasoning;
};

struct fc_op {
    enum fc_op_kind kind;
    unsigned flags;
    const char *method; /* static string */
    json_t *json;
    char *text;
    size_t len;
    uint64_t num;
    struct fc_usage usage;
    char item_id[FC_ID_MAX];
};

enum fc_call_kind {
    FC_CALL_TOOL,     /* item/tool/call */
    FC_CALL_APPROVAL, /* item/commandExecution/requestApproval */
    FC_CALL_ASKUSER,  /* item/tool/requestUserInput */
};

/* One server request of the turn and what the client answered. */
struct fc_call {
    enum fc_call_kind kind;
    char id[FC_ID_MAX]; /* callId / itemId */
    json_t *item;       /* the dynamicToolCall item as started (tools only) */
    int64_t req_id;
    int64_t sent_ms;
    bool sent;
    bool answered;
    char *output; /* text the next model response quotes */
};

struct fc_turn {
    struct fc_thread *thread;
    char id[FC_ID_MAX];
    uv_timer_t *timer; /* allocated: freed by its close callback, after the turn */
    struct fc_op *ops;
    size_t nops;
    size_t cap;
    size_t pc; /* next op to run */
    struct fc_call *calls;
    size_t ncalls;
    size_t cap_calls;
    /* Runs when FC_OP_WAIT is satisfied and appends the rest of the program. */
    void (*cont)(struct fc_turn *turn);
    json_t *final_item;
    struct fc_usage usage;         /* per model response */
    struct fc_usage pending_usage; /* a finished response whose tokenUsage is not out yet */
    bool usage_pending;
    int64_t started_ms;
    uint64_t gap_ms; /* pause between deltas */
    bool waiting;    /* parked on FC_OP_WAIT */
    bool ending;     /* interrupted: only the closing ops are left */
    bool stuck;      /* ignore turn/interrupt apart from answering it */
};

void fc_turn_global_init(void);
void fc_turn_global_dispose(void);

/* Creates the active turn of `thread` (which must have none) and schedules its program to start
 * on the next loop iteration; the caller appends the program before returning to the loop. */
struct fc_turn *fc_turn_new(struct fc_thread *thread);
/* Frees a turn and forgets its outstanding server requests; detaches it from its thread. */
void fc_turn_free(struct fc_turn *turn);

/* Program building. `params`/`json` are stolen. */
void fc_turn_notify(struct fc_turn *turn, const char *method, json_t *params, unsigned flags);
void fc_turn_delta(struct fc_turn *turn, const char *item_id, const char *text, size_t len);
void fc_turn_delay(struct fc_turn *turn, uint64_t ms);
/* Registers a call slot and appends its request; returns the slot. */
size_t fc_turn_request(struct fc_turn *turn, enum fc_call_kind kind, const char *call_id,
                       json_t *item, const char *method, json_t *params);
void fc_turn_wait(struct fc_turn *turn, void (*cont)(struct fc_turn *turn));
void fc_turn_usage(struct fc_turn *turn, const struct fc_usage *usage);
/* The model response's usage, sent later (after the tool answers) or on interrupt. */
void fc_turn_usage_deferred(struct fc_turn *turn, const struct fc_usage *usage);
void fc_turn_complete(struct fc_turn *turn, const char *status, json_t *error);
void fc_turn_halt(struct fc_turn *turn);
void fc_turn_exit(struct fc_turn *turn, int code);
void fc_turn_line(struct fc_turn *turn, bool to_stderr, const char *text, size_t len);
/* About `bytes` of junk on stdout: non-JSON lines, lines of `huge` bytes, JSON that is not a
 * message, unknown notifications; written in rounds while stdout keeps up. */
void fc_turn_flood(struct fc_turn *turn, uint64_t bytes, uint64_t huge);

/* A client's answer to server request `req_id`: exactly one of result/error is non-NULL.
 * Unknown or stale ids are ignored, as the real app-server does. */
void fc_turn_answer(int64_t req_id, json_t *result, json_t *error);
/* turn/interrupt, after the {} answer was written. */
void fc_turn_interrupt(struct fc_turn *turn);
/* Drops what the turn was doing so that a steering turn/start can append a new program;
 * returns false when the turn is already closing. */
bool fc_turn_reset_for_steer(struct fc_turn *turn);
/* Starts (or restarts) running the program on the next loop iteration. */
void fc_turn_schedule(struct fc_turn *turn);

#endif
