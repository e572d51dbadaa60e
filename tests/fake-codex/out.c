/* out.c: stdout buffer and JSON-RPC line writers for the fake app-server, and the
 * FAKE_CODEX_LOG file (append-only, one write() per line so several processes can share it). */
#include "out.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "main.h"
#include "util.h"

/* Flush early once this much is buffered, so a long burst (deltas=1000000) stays bounded. */
#define OUT_EARLY_FLUSH_BYTES (4u << 20)
/* After a flush, give back buffers that grew past this (a hugeline turn). */
#define OUT_KEEP_BYTES (1u << 20)
/* Room made before each JSON dump; bigger messages take a second pass. */
#define DUMP_SPARE_BYTES 8192

static struct fc_buf out;
static size_t out_off; /* bytes of `out` before this are already written */
static bool muted;
static bool broken;
static int log_fd = -1;
static uv_poll_t writable;
static bool writable_init;
static bool writable_wait; /* stdout is full: on_writable will continue */

/* Notification methods the client opted out of at initialize (as the real app-server honours
 * capabilities.optOutNotificationMethods). */
static json_t *opted_out;

static void try_write(void);

static int append_cb(const char *buffer, size_t size, void *data)
{
    fc_buf_append(data, buffer, size);
    return 0;
}

static void end_line(void)
{
    fc_buf_appendc(&out, '\n');
    if (out.len - out_off >= OUT_EARLY_FLUSH_BYTES && !writable_wait)
        try_write();
}

/* Blocking write for the log file. */
static bool write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return false;
    }
    return true;
}

static void on_writable(uv_poll_t *poll, int status, int events)
{
    try_write();
}

/* Writes what stdout takes without blocking; when it is full, a poll handle finishes the job
 * while the loop keeps reading stdin, so a client that writes a big batch before reading
 * cannot deadlock against us. */
static void try_write(void)
{
    while (!broken && out_off < out.len) {
        ssize_t n = write(STDOUT_FILENO, out.data + out_off, out.len - out_off);
        if (n > 0) {
            out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!writable_init) {
                uv_poll_init(fc_loop, &writable, STDOUT_FILENO);
                writable_init = true;
            }
            uv_poll_start(&writable, UV_WRITABLE, on_writable);
            writable_wait = true;
            return;
        }
        fprintf(stderr, "fake-codex: stdout write failed: %s\n", strerror(errno));
        broken = true;
    }
    if (writable_init)
        uv_poll_stop(&writable);
    writable_wait = false;
    out.len = 0;
    out_off = 0;
    if (out.cap > OUT_KEEP_BYTES)
        fc_buf_dispose(&out);
}

size_t fc_out_pending(void)
{
    return out.len - out_off;
}

static void log_line(json_t *obj)
{
    struct fc_buf b = {0};
    json_dump_callback(obj, append_cb, &b, JSON_COMPACT);
    fc_buf_appendc(&b, '\n');
    if (!write_all(log_fd, b.data, b.len))
        fprintf(stderr, "fake-codex: FAKE_CODEX_LOG write failed: %s\n", strerror(errno));
    fc_buf_dispose(&b);
}

void fc_out_init(int argc, char **argv)
{
    const char *path = getenv("FAKE_CODEX_LOG");
    if (!path || !*path)
        return;
    log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "fake-codex: cannot open FAKE_CODEX_LOG %s: %s\n", path, strerror(errno));
        return;
    }
    json_t *args = json_array();
    for (int i = 0; i < argc; i++)
        json_array_append_new(args, json_string(argv[i]));
    char cwd[4096];
    const char *home = getenv("CODEX_HOME");
    json_t *start =
        json_pack("{s:s, s:I, s:o, s:s?, s:s?, s:I}", "event", "start", "pid", (json_int_t)getpid(),
                  "argv", args, "cwd", getcwd(cwd, sizeof(cwd)) ? cwd : NULL, "codex_home", home,
                  "ts", (json_int_t)fc_now_ms());
    if (start)
        log_line(start);
    json_decref(start);
}

void fc_out_dispose(void)
{
    fc_out_opt_out(NULL);
    fc_buf_dispose(&out);
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
}

void fc_out_mute(void)
{
    muted = true;
    out.len = 0;
    out_off = 0;
}

void fc_out_set_nonblocking(void)
{
    if (uv_guess_handle(STDOUT_FILENO) != UV_NAMED_PIPE)
        return; /* files never block; ttys are left alone */
    int flags = fcntl(STDOUT_FILENO, F_GETFL);
    if (flags >= 0)
        fcntl(STDOUT_FILENO, F_SETFL, flags | O_NONBLOCK);
}

bool fc_out_flush(void)
{
    try_write();
    return !broken;
}

void fc_out_drain(int timeout_ms)
{
    int64_t deadline = fc_now_ms() + timeout_ms;
    try_write();
    while (!broken && out_off < out.len) {
        int64_t left = deadline - fc_now_ms();
        if (left <= 0) {
            fprintf(stderr, "fake-codex: gave up writing %zu bytes to stdout\n", out.len - out_off);
            break;
        }
        struct pollfd pfd = {.fd = STDOUT_FILENO, .events = POLLOUT};
        poll(&pfd, 1, (int)left);
        try_write();
    }
    out.len = 0;
    out_off = 0;
}

void fc_out_raw(const char *line, size_t len)
{
    if (muted)
        return;
    fc_buf_append(&out, line, len);
    end_line();
}

void fc_out_json(json_t *msg)
{
    if (muted)
        return;
    /* json_dumpb into spare room is much cheaper than a callback per token. */
    fc_buf_reserve(&out, DUMP_SPARE_BYTES);
    size_t room = out.cap - out.len - 1;
    size_t n = json_dumpb(msg, out.data + out.len, room, JSON_COMPACT);
    if (n > room) {
        fc_buf_reserve(&out, n);
        n = json_dumpb(msg, out.data + out.len, n, JSON_COMPACT);
    }
    out.len += n;
    out.data[out.len] = '\0';
    end_line();
}

void fc_out_result(json_t *id, json_t *result)
{
    json_t *msg = json_object();
    json_object_set(msg, "id", id);
    json_object_set_new(msg, "result", result ? result : json_object());
    fc_out_json(msg);
    json_decref(msg);
}

void fc_out_error(json_t *id, int code, const char *message)
{
    json_t *msg = json_object();
    json_object_set(msg, "id", id);
    json_object_set_new(msg, "error", json_pack("{s:i, s:s}", "code", code, "message", message));
    fc_out_json(msg);
    json_decref(msg);
}

void fc_out_opt_out(json_t *methods)
{
    json_decref(opted_out);
    opted_out = json_is_array(methods) ? json_deep_copy(methods) : NULL;
}

static bool is_opted_out(const char *method)
{
    size_t i;
    json_t *m;
    json_array_foreach(opted_out, i, m)
    {
        if (json_is_string(m) && strcmp(json_string_value(m), method) == 0)
            return true;
    }
    return false;
}

void fc_out_notify(const char *method, json_t *params)
{
    if (opted_out && is_opted_out(method)) {
        json_decref(params);
        return;
    }
    json_t *msg = json_object();
    json_object_set_new(msg, "method", json_string(method));
    json_object_set_new(msg, "params", params ? params : json_object());
    json_object_set_new(msg, "emittedAtMs", json_integer(fc_now_ms()));
    fc_out_json(msg);
    json_decref(msg);
}

void fc_out_request(int64_t id, const char *method, json_t *params)
{
    json_t *msg = json_object();
    json_object_set_new(msg, "id", json_integer(id));
    json_object_set_new(msg, "method", json_string(method));
    json_object_set(msg, "params", params);
    fc_out_json(msg);
    json_decref(msg);
}

void fc_out_delta(const char *thread_id, const char *turn_id, const char *item_id,
                  const char *delta, size_t len)
{
    if (muted)
        return;
    /* Ids are our own (hex, dashes, underscores), so only the delta needs escaping. */
    fc_buf_appendf(&out,
                   "{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":\"%s\","
                   "\"turnId\":\"%s\",\"itemId\":\"%s\",\"delta\":\"",
                   thread_id, turn_id, item_id);
    fc_buf_append_json_escaped(&out, delta, len);
    fc_buf_appendf(&out, "\"},\"emittedAtMs\":%lld}", (long long)fc_now_ms());
    end_line();
}

void fc_out_log_recv(const char *line, size_t len, json_t *parsed)
{
    if (log_fd < 0)
        return;
    json_t *value = parsed ? json_incref(parsed) : json_stringn(line, len);
    if (!value) {
        /* Not UTF-8: log it with the offending bytes replaced. */
        char *copy = fc_xstrndup(line, len);
        for (size_t i = 0; i < len; i++) {
            if ((unsigned char)copy[i] >= 0x80)
                copy[i] = '?';
        }
        value = json_stringn(copy, len);
        free(copy);
    }
    json_t *ev = json_object();
    json_object_set_new(ev, "event", json_string("recv"));
    json_object_set_new(ev, "ts", json_integer(fc_now_ms()));
    json_object_set_new(ev, "line", value ? value : json_null());
    log_line(ev);
    json_decref(ev);
}
