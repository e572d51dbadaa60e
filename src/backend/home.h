/* home.h: keeps CODEX_HOME bounded. Codex appends its own debug log to
 * CODEX_HOME/logs_2.sqlite on every turn (tens of kilobytes each, whatever RUST_LOG says). On a
 * timer, off the event loop (libuv's thread pool), this measures CODEX_HOME and, when that log
 * database passes its limit, deletes all but its newest rows and compacts it. The size and the
 * last result are reported in /healthz. */
#ifndef CG_BACKEND_HOME_H
#define CG_BACKEND_HOME_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include "util/buf.h"
#include "util/common.h"

struct cg_home {
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_work_t work;
    bool busy;    /* a check is running on the thread pool */
    bool closing;
    void (*on_closed)(struct cg_home *h);
    char *dir;
    uint64_t max_log_bytes; /* 0 = measure only */
    uint64_t interval_ms;

    /* The thread-pool job writes only `job`; the loop copies it below once the job is done,
     * so /healthz never reads what another thread is writing. */
    struct cg_home_result {
        uint64_t total_bytes;
        uint64_t log_bytes;
        uint64_t log_bytes_before_trim; /* 0 when no trim was needed */
        bool trimmed;
        char error[160];
    } job;

    uint64_t total_bytes;
    uint64_t log_bytes;
    uint64_t trims;
    uint64_t checks;
    uint64_t checked_at_ms; /* wall clock */
    char last_error[160];
};

/* Starts checking `dir` every `interval_ms` (the first check soon after start). */
void cg_home_start(struct cg_home *h, uv_loop_t *loop, const char *dir, uint64_t max_log_bytes,
                   uint64_t interval_ms);
/* Stops; `on_closed` runs once no check is running and the timer is closed. */
void cg_home_stop(struct cg_home *h, void (*on_closed)(struct cg_home *h));

/* {"path","bytes","log_bytes","log_limit_bytes","trims","checked_at","last_error"} */
int cg_home_status_json(const struct cg_home *h, struct cg_buf *out) CG_MUST_CHECK;

#endif
