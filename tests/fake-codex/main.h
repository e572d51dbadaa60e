/* main.h: process-wide settings of the fake app-server (from the environment and -c flags),
 * its event loop, and how it exits. */
#ifndef FC_MAIN_H
#define FC_MAIN_H
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

enum fc_handshake {
    FC_HANDSHAKE_OK,      /* answer initialize */
    FC_HANDSHAKE_FAIL,    /* answer with a JSON-RPC error */
    FC_HANDSHAKE_TIMEOUT, /* never answer */
    FC_HANDSHAKE_EXIT,    /* exit with status 3 */
    FC_HANDSHAKE_GARBAGE, /* answer with a non-JSON line, then say nothing more */
};

struct fc_config {
    enum fc_handshake handshake;
    const char *handshake_while; /* the mode applies only while this file exists */
    uint64_t startup_delay_ms;
    uint64_t exit_after_ms;      /* 0: never */
    uint64_t unload_delay_ms;    /* unsubscribe -> thread/closed */
    uint64_t thread_bytes;       /* heap held by each loaded thread */
    uint64_t delta_delay_ms;     /* pause between deltas in every scenario */
    uint64_t interrupt_delay_ms; /* turn/interrupt -> turn/completed */
    uint64_t interrupt_tail;     /* output ops still sent after turn/interrupt */
    bool requires_auth;
    const char *scenario;   /* FAKE_CODEX_SCENARIO, or NULL */
    const char *codex_home; /* $CODEX_HOME or "" */
    char *model;            /* -c model=..., default "fake-model" */
};

extern struct fc_config fc_cfg;
extern uv_loop_t *fc_loop;

/* Stops serving: flushes stdout, mutes further output, and makes main() tear everything down
 * and return `code` once the current loop iteration ends. Safe to call from any callback; the
 * caller must not rely on further output. */
void fc_main_quit(int code);
/* Like fc_main_quit, but a negative code kills the process with SIGKILL right away. */
void fc_main_crash(int code);
bool fc_main_is_quitting(void);
/* Stops reading stdin for good (lines already read but not handled are dropped); the process
 * stays alive and keeps writing what its turns produce. */
void fc_main_stop_reading(void);

#endif
