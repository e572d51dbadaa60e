/* log.h: one JSON object per line on stderr. Each file defines LOG_COMPONENT before using the
 * macros; the macros test the level before evaluating their arguments (Redis's serverLog).
 * Client- or worker-provided text goes through cg_log_event with escaped fields, cut short;
 * never log keys, prompts or bodies. */
#ifndef CG_UTIL_LOG_H
#define CG_UTIL_LOG_H

#include <stdbool.h>
#include "util/common.h"

enum cg_log_level {
    CG_LOG_NOTICE = 0, /* lifecycle facts (start, listening, stop): written at every level */
    CG_LOG_ERROR = 1,
    CG_LOG_WARN = 2,
    CG_LOG_INFO = 3,
    CG_LOG_DEBUG = 4,
};

extern enum cg_log_level cg_log_threshold;

/* "error" | "warn" | "info" | "debug"; false for anything else (notice cannot be chosen). */
bool cg_log_parse_level(const char *s, enum cg_log_level *out);

/* {"ts","level","component","msg":<formatted, escaped>} */
void cg_log_emit(enum cg_log_level level, const char *component, const char *fmt, ...)
    CG_PRINTF(3, 4);

/* {"ts","level","component","event":event, <fields>}: `fields` is a JSON fragment of
 * `"key":value` pairs without braces, already escaped by the caller (may be NULL or "").
 * Dropped when `level` is below the threshold. */
void cg_log_event(enum cg_log_level level, const char *component, const char *event,
                  const char *fields);

/* Where log lines go (stderr by default; tests point it elsewhere). */
void cg_log_set_fd(int fd);

#define cg_log_enabled(level) ((level) <= cg_log_threshold)

#define cg_log_error(...)                                                                          \
    do {                                                                                           \
        if (cg_log_enabled(CG_LOG_ERROR))                                                          \
            cg_log_emit(CG_LOG_ERROR, LOG_COMPONENT, __VA_ARGS__);                                 \
    } while (0)
#define cg_log_warn(...)                                                                           \
    do {                                                                                           \
        if (cg_log_enabled(CG_LOG_WARN))                                                           \
            cg_log_emit(CG_LOG_WARN, LOG_COMPONENT, __VA_ARGS__);                                  \
    } while (0)
#define cg_log_info(...)                                                                           \
    do {                                                                                           \
        if (cg_log_enabled(CG_LOG_INFO))                                                           \
            cg_log_emit(CG_LOG_INFO, LOG_COMPONENT, __VA_ARGS__);                                  \
    } while (0)
#define cg_log_debug(...)                                                                          \
    do {                                                                                           \
        if (cg_log_enabled(CG_LOG_DEBUG))                                                          \
            cg_log_emit(CG_LOG_DEBUG, LOG_COMPONENT, __VA_ARGS__);                                 \
    } while (0)

#endif
