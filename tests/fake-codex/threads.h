/* threads.h: the fake app-server's loaded threads: thread/start validation, injected history,
 * token totals, subscription, and unloading (thread/closed) after thread/unsubscribe. */
#ifndef FC_THREADS_H
#define FC_THREADS_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "turn.h"
#include "util.h"

struct fc_thread {
    char id[FC_ID_MAX];
    json_t *params;   /* thread/start params as received */
    json_t *tools;    /* callable dynamic tools: [{name, namespace, inputSchema}] */
    json_t *injected; /* items kept by thread/inject_items, in order */
    char *model;
    bool ephemeral;
    bool raw_events;
    bool subscribed;
    bool context_sent; /* the initial context went out as raw items (first turn) */
    struct fc_usage total;
    void *ballast; /* FAKE_CODEX_THREAD_BYTES, so leaked threads show up as RSS */
    struct fc_turn *turn;
    /* Unload queue (FIFO: every thread waits the same delay). */
    struct fc_thread *unload_prev;
    struct fc_thread *unload_next;
    bool unload_queued;
    uint64_t unload_at; /* uv_now() deadline */
};

void fc_threads_init(void);
/* Frees every thread and turn (at exit). */
void fc_threads_dispose(void);

struct fc_thread *fc_threads_find(const char *id);

/* Request handlers: each writes the response (and notifications) itself. `id` is borrowed. */
void fc_threads_start(json_t *id, json_t *params, bool experimental);
void fc_threads_inject(json_t *id, json_t *params);
void fc_threads_unsubscribe(json_t *id, json_t *params);
void fc_threads_loaded_list(json_t *id, json_t *params);

/* The thread's turn ended: an unsubscribed thread now starts its unload delay. */
void fc_threads_turn_done(struct fc_thread *thread);
/* A turn starts on the thread: cancels a pending unload. */
void fc_threads_turn_begins(struct fc_thread *thread);

#endif
