/* jsonrpc.h: JSON-RPC over newline-delimited JSON, as `codex app-server` speaks it on stdio.
 * This layer has no I/O of its own: the worker feeds it the bytes read from the child's stdout
 * and gives it a `send` function for the child's stdin, and tells it the time. That keeps it
 * testable and fuzzable as a pure function of its input.
 *
 * Ids are ours (integers from 1). Each call has a deadline; a response is matched by id; a
 * message with a method and no id is a notification, with both a server request. A response
 * that comes after its call timed out goes to the owner's `late` hook. Lines longer
 * than the limit, invalid JSON and messages of no known shape are counted and logged, never
 * fatal. */
#ifndef CG_BACKEND_JSONRPC_H
#define CG_BACKEND_JSONRPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"
#include "util/map.h"
#include "util/str.h"

struct cg_rpc_error {
    int64_t code; /* the JSON-RPC error code, or one of the CG_RPC_E* below */
    char message[256];
};

enum {
    CG_RPC_ETIMEOUT = -32099, /* no response before the call's deadline */
    CG_RPC_ECLOSED = -32098,  /* the peer went away with the call pending */
};

/* Bytes kept from each end of an oversized line: enough for "method" at the start and the
 * threadId/turnId that Codex writes after the (large) item. */
#define CG_RPC_KEEP_BYTES 512

/* `result` is borrowed (NULL on error); `err` is NULL on success. */
typedef void (*cg_rpc_result_cb)(void *data, json_t *result, const struct cg_rpc_error *err);

struct cg_rpc_ops {
    /* Takes ownership of a malloc'd line that ends in '\n'. */
    void (*send)(void *owner, char *line, size_t len);
    /* `params` borrowed; may be NULL. */
    void (*notification)(void *owner, const char *method, json_t *params);
    /* A request from the peer: answer with cg_rpc_respond*. `id` and `params` borrowed. */
    void (*request)(void *owner, json_t *id, const char *method, json_t *params);
    /* A line over the limit was dropped; `head` and `tail` are its first and last bytes, so the
     * owner can tell whose message was lost (may be NULL). */
    void (*oversized)(void *owner, const char *head, size_t head_len, const char *tail,
                      size_t tail_len);
    /* May be NULL. Offered a notification's method and its whole raw line (both borrowed for
     * the call; the line is not yet known to be valid JSON) before the line is parsed. False
     * means "skip it unparsed": it is of no use, or the owner has already acted on it from the
     * raw bytes (the hot notifications; it may deliver events and call back into this rpc
     * meanwhile). Parsing is most of the cost of a line. Offered only for a line whose
     * top-level members, read from the raw bytes, include a string "method" and no "id": a
     * server request is always parsed and handed to `request`, whatever order its members
     * are in. */
    bool (*wanted)(void *owner, struct cg_str method, struct cg_str line);
    /* May be NULL. A successful response to a call that had already timed out (its callback
     * got CG_RPC_ETIMEOUT): whatever the call created (a thread, a turn) is the owner's to
     * release. `thread_id` is the call's params.threadId ("" if none); `result` borrowed. Only the
     * last CG_RPC_LATE_MAX timed-out calls are remembered. */
    void (*late)(void *owner, const char *method, const char *thread_id, json_t *result);
    /* May be NULL. Offered first, before anything else reads it, a line whose first member is
     * "method" with a string without escapes (`method`, borrowed with the line): true when the
     * owner read the whole line itself and acted on it, which it may do only when its read
     * (cg_line_scan_fields, with "method" and "id" among its fields) found the line valid, with
     * this one method and no top-level id: a notification, read in one pass. False: the line
     * goes the usual way (`wanted`, then the parse). */
    bool (*take)(void *owner, struct cg_str method, struct cg_str line);
};

struct cg_rpc_stats {
    uint64_t lines;
    uint64_t invalid;   /* not JSON, or not an object */
    uint64_t oversized; /* longer than the limit, skipped */
    uint64_t unknown;   /* responses to ids we never sent or already settled */
    uint64_t skipped;   /* notifications not parsed: of no use, or taken from the raw bytes */
    uint64_t late;      /* responses to calls that had timed out */
};

/* How many timed-out calls are remembered for their late answers. */
enum { CG_RPC_LATE_MAX = 64, CG_RPC_METHOD_BYTES = 48, CG_RPC_THREAD_BYTES = 96 };

struct cg_rpc_late {
    uint64_t id; /* 0 = free slot */
    char method[CG_RPC_METHOD_BYTES];
    char thread_id[CG_RPC_THREAD_BYTES]; /* the call's params.threadId, "" if none */
};

struct cg_rpc {
    const struct cg_rpc_ops *ops;
    void *owner;
    struct cg_buf line; /* partial line carried between reads */
    bool skipping;      /* inside an oversized line: drop bytes until '\n' */
    char skip_head[CG_RPC_KEEP_BYTES];
    size_t skip_head_len;
    char skip_tail[CG_RPC_KEEP_BYTES];
    size_t skip_tail_len;
    uint64_t next_id;
    struct cg_map pending; /* id → struct pending_call */
    struct cg_rpc_late late[CG_RPC_LATE_MAX];
    size_t late_next; /* the ring's oldest slot */
    struct cg_rpc_stats stats;
    const char *log_name; /* e.g. "worker 0" */
};

void cg_rpc_init(struct cg_rpc *rpc, const struct cg_rpc_ops *ops, void *owner,
                 size_t max_line_bytes, const char *log_name);
/* Settles every pending call with CG_RPC_ECLOSED, then frees. */
void cg_rpc_dispose(struct cg_rpc *rpc);

/* Sends a request; `params` is stolen (may be NULL). `cb` may be NULL for fire-and-forget.
 * Returns the call id (never 0). */
uint64_t cg_rpc_call(struct cg_rpc *rpc, const char *method, json_t *params, uint64_t timeout_ms,
                     uint64_t now_ms, cg_rpc_result_cb cb, void *data);
/* As cg_rpc_call, for a caller that reads at most one member of the result: `want` (static
 * storage, NULL-terminated, at most CG_RPC_WANT_MAX names) is its path below the result, e.g.
 * {"thread", "id", NULL}; {NULL} for none. A plain success (a result object, no error) whose
 * member is a string or absent is then read from the raw line, and `cb` gets a result object
 * holding that member only; any other answer is parsed and handed over whole, as by
 * cg_rpc_call. A NULL `want` is cg_rpc_call. */
enum { CG_RPC_WANT_MAX = 2 };
uint64_t cg_rpc_call_want(struct cg_rpc *rpc, const char *method, json_t *params,
                          uint64_t timeout_ms, uint64_t now_ms, const char *const *want,
                          cg_rpc_result_cb cb, void *data);

/* Params a caller wrote itself: the bytes of one JSON object (borrowed until the call
 * returns) and the threadId they name, if any (NULL), kept for a late answer. */
struct cg_rpc_raw {
    struct cg_str json;
    const char *thread_id;
};
/* As cg_rpc_call_want, with the params already written: no value is built or dumped, and
 * nothing can fail on the way (`method` is one of ours, so UTF-8). */
uint64_t cg_rpc_call_raw(struct cg_rpc *rpc, const char *method, const struct cg_rpc_raw *params,
                         uint64_t timeout_ms, uint64_t now_ms, const char *const *want,
                         cg_rpc_result_cb cb, void *data);

/* Forgets a pending call without calling its callback (its owner is going away). */
void cg_rpc_forget(struct cg_rpc *rpc, uint64_t id);

void cg_rpc_notify(struct cg_rpc *rpc, const char *method, json_t *params);
void cg_rpc_respond(struct cg_rpc *rpc, json_t *id, json_t *result);
void cg_rpc_respond_error(struct cg_rpc *rpc, json_t *id, int64_t code, const char *message);

/* Bytes from the peer. */
void cg_rpc_feed(struct cg_rpc *rpc, const char *data, size_t len);

/* Settles calls whose deadline is <= now with CG_RPC_ETIMEOUT. */
void cg_rpc_expire(struct cg_rpc *rpc, uint64_t now_ms);
/* Settles every pending call with `code`. */
void cg_rpc_fail_all(struct cg_rpc *rpc, int64_t code, const char *message);
/* Earliest deadline, or UINT64_MAX when nothing is pending. */
uint64_t cg_rpc_next_deadline(const struct cg_rpc *rpc);
size_t cg_rpc_pending(const struct cg_rpc *rpc);

#endif
