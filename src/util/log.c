/* log.c: JSON-lines logger. One write(2) per line so lines from one process never interleave. */
#include "util/log.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "util/buf.h"
#include "util/clock.h"
#include "util/json.h"

enum { LOG_LINE_MAX_BYTES = 16384 };

enum cg_log_level cg_log_threshold = CG_LOG_INFO;
static int log_fd = STDERR_FILENO;

static const char *const level_names[] = {"notice", "error", "warn", "info", "debug"};

bool cg_log_parse_level(const char *s, enum cg_log_level *out)
{
    for (size_t i = 1; i < CG_ARRAY_SIZE(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum cg_log_level)i;
            return true;
        }
    }
    return false;
}

void cg_log_set_fd(int fd)
{
    log_fd = fd;
}

static void begin(struct cg_buf *b, enum cg_log_level level, const char *component)
{
    char ts[32];
    cg_clock_format_iso(cg_clock_wall_ms(), ts, sizeof(ts));
    int err = cg_buf_appendf(b, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"%s\"", ts,
                             level_names[level], component);
    (void)err; /* a line that does not fit is cut, never dropped */
}

static void finish(struct cg_buf *b)
{
    int err = cg_buf_append(b, "}\n", 2);
    (void)err; /* callers leave room: see cg_log_event */
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(log_fd, b->data + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

void cg_log_emit(enum cg_log_level level, const char *component, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = (int)sizeof(msg) - 1;
    struct cg_buf b;
    cg_buf_init(&b, LOG_LINE_MAX_BYTES);
    begin(&b, level, component);
    int err = cg_buf_append_str(&b, ",\"msg\":");
    if (!err)
        err = cg_json_string(&b, msg, (size_t)n);
    (void)err;
    finish(&b);
    cg_buf_dispose(&b);
}

void cg_log_event(enum cg_log_level level, const char *component, const char *event,
                  const char *fields)
{
    if (!cg_log_enabled(level))
        return;
    struct cg_buf b;
    cg_buf_init(&b, LOG_LINE_MAX_BYTES);
    begin(&b, level, component);
    int err = cg_buf_append_str(&b, ",\"event\":");
    if (!err)
        err = cg_json_cstring(&b, event);
    if (!err && fields && fields[0]) {
        size_t keep = b.len;
        size_t n = strlen(fields);
        if (keep + n + 64 > b.max) {
            /* Too long to log whole: keep the line one valid object and say so. */
            err = cg_buf_append_str(&b, ",\"truncated\":true");
        } else {
            err = cg_buf_append_char(&b, ',');
            if (!err)
                err = cg_buf_append(&b, fields, n);
        }
    }
    (void)err;
    finish(&b);
    cg_buf_dispose(&b);
}
