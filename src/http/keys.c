/* keys.c: the keys-file parser, digest matching and the allow-list check. */
#include "http/keys.h"
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"
#include "util/log.h"
#define LOG_COMPONENT "keys"

/* The entries of a file being parsed, and where the first error went. */
struct parse {
    struct cg_key_entry *entries;
    size_t count;
    size_t line;
    char *errbuf;
    size_t errlen;
};

static int fail(struct parse *p, const char *fmt, ...) CG_PRINTF(2, 3);
static int fail(struct parse *p, const char *fmt, ...)
{
    int n = snprintf(p->errbuf, p->errlen, "line %zu: ", p->line);
    if (n < 0 || (size_t)n >= p->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errbuf + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static const char hex_digits[] = "0123456789abcdef";

static int hex_value(char c)
{
    const char *d = c ? strchr(hex_digits, cg_ascii_lower(c)) : NULL;
    return d ? (int)(d - hex_digits) : -1;
}

static bool label_ok(struct cg_str s)
{
    if (s.len == 0 || s.len >= CG_KEYS_LABEL_MAX_BYTES)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static int parse_digest(struct parse *p, struct cg_str s, uint8_t out[CG_SHA256_BYTES])
{
    static const char prefix[] = "sha256:";
    size_t plen = sizeof(prefix) - 1;
    if (s.len != plen + 2 * CG_SHA256_BYTES || memcmp(s.ptr, prefix, plen) != 0)
        return fail(p, "expected sha256:<64 hex digits> after the label "
                       "(codex-gateway hash-key prints it)");
    for (size_t i = 0; i < CG_SHA256_BYTES; i++) {
        int hi = hex_value(s.ptr[plen + 2 * i]);
        int lo = hex_value(s.ptr[plen + 2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fail(p, "the sha256: digest has a character that is not a hex digit");
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

enum { COUNT_MAX = 1000000, TPM_MAX = 1000000000 };

static int parse_count(struct parse *p, const char *name, struct cg_str v, uint64_t max,
                       uint64_t *out)
{
    char text[16];
    if (v.len == 0 || v.len >= sizeof(text))
        return fail(p, "%s= needs a number from 1 to %" PRIu64, name, max);
    memcpy(text, v.ptr, v.len);
    text[v.len] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno || *end != '\0' || text[0] == '-' || n < 1 || n > max)
        return fail(p, "%s= needs a number from 1 to %" PRIu64 ", got \"%s\"", name, max, text);
    *out = n;
    return 0;
}

static int parse_models(struct parse *p, struct cg_str v, struct cg_key_entry *e)
{
    if (v.len == 0 || v.len >= CG_KEYS_MODELS_MAX_BYTES)
        return fail(p, "models= needs a comma-separated list of model ids (at most %d bytes)",
                    CG_KEYS_MODELS_MAX_BYTES - 1);
    if (v.ptr[v.len - 1] == ',')
        return fail(p, "models= has an empty model id");
    struct cg_str rest = v;
    while (rest.len) {
        struct cg_str m = cg_str_split(&rest, ',');
        if (m.len == 0)
            return fail(p, "models= has an empty model id");
    }
    e->models = cg_xstrndup(v.ptr, v.len);
    return 0;
}

static int parse_option(struct parse *p, struct cg_str opt, struct cg_key_entry *e)
{
    const char *eq = memchr(opt.ptr, '=', opt.len);
    struct cg_str name = {opt.ptr, eq ? (size_t)(eq - opt.ptr) : opt.len};
    struct cg_str value = {eq ? eq + 1 : opt.ptr + opt.len, eq ? opt.len - name.len - 1 : 0};
    if (cg_str_eq(opt, CG_STR("admin"))) {
        e->admin = true;
        return 0;
    }
    if (eq && cg_str_eq(name, CG_STR("rpm")))
        return parse_count(p, "rpm", value, COUNT_MAX, &e->rpm);
    if (eq && cg_str_eq(name, CG_STR("tpm")))
        return parse_count(p, "tpm", value, TPM_MAX, &e->tpm);
    if (eq && cg_str_eq(name, CG_STR("concurrent")))
        return parse_count(p, "concurrent", value, COUNT_MAX, &e->concurrent);
    if (eq && cg_str_eq(name, CG_STR("models")) && e->models == NULL)
        return parse_models(p, value, e);
    return fail(p, "unknown or repeated option \"%.*s\" (rpm=, tpm=, concurrent=, models=, admin)",
                (int)CG_MIN(opt.len, 40), opt.ptr);
}

/* Splits on spaces and tabs, skipping runs of them. */
static struct cg_str next_word(struct cg_str *rest)
{
    size_t i = 0;
    while (i < rest->len && (rest->ptr[i] == ' ' || rest->ptr[i] == '\t'))
        i++;
    size_t start = i;
    while (i < rest->len && rest->ptr[i] != ' ' && rest->ptr[i] != '\t')
        i++;
    struct cg_str w = {rest->ptr + start, i - start};
    rest->ptr += i;
    rest->len -= i;
    return w;
}

static int parse_line(struct parse *p, struct cg_str line)
{
    const char *hash = memchr(line.ptr, '#', line.len);
    if (hash)
        line.len = (size_t)(hash - line.ptr);
    if (line.len && line.ptr[line.len - 1] == '\r')
        line.len--;
    struct cg_str rest = line;
    struct cg_str label = next_word(&rest);
    if (label.len == 0)
        return 0;
    if (!label_ok(label))
        return fail(p, "a label is 1 to %d of A-Z a-z 0-9 . _ -", CG_KEYS_LABEL_MAX_BYTES - 1);
    if (p->count == CG_KEYS_MAX)
        return fail(p, "more than %d keys", CG_KEYS_MAX);
    struct cg_key_entry e = {0};
    memcpy(e.label, label.ptr, label.len);
    int err = parse_digest(p, next_word(&rest), e.digest);
    for (struct cg_str opt = next_word(&rest); !err && opt.len; opt = next_word(&rest))
        err = parse_option(p, opt, &e);
    for (size_t i = 0; !err && i < p->count; i++) {
        if (strcmp(p->entries[i].label, e.label) == 0)
            err = fail(p, "the label %s is used twice", e.label);
        else if (memcmp(p->entries[i].digest, e.digest, CG_SHA256_BYTES) == 0)
            err = fail(p, "the same key is listed as %s and %s", p->entries[i].label, e.label);
    }
    if (err) {
        free(e.models);
        return -1;
    }
    p->entries[p->count++] = e;
    return 0;
}

int cg_keys_parse(const char *text, size_t len, struct cg_keys **out, char *errbuf, size_t errlen)
{
    struct parse p = {.errbuf = errbuf, .errlen = errlen};
    int err = 0;
    if (errlen)
        errbuf[0] = '\0';
    p.entries = cg_xcalloc(CG_KEYS_MAX, sizeof(*p.entries));
    if (memchr(text, '\0', len)) {
        snprintf(errbuf, errlen, "the file has a NUL byte");
        err = -1;
        goto out;
    }
    struct cg_str rest = {text, len};
    while (!err && rest.len) {
        p.line++;
        err = parse_line(&p, cg_str_split(&rest, '\n'));
    }
    if (err)
        goto out;
    struct cg_keys *keys = cg_xcalloc(1, sizeof(*keys));
    keys->entries = p.entries;
    keys->count = p.count;
    p.entries = NULL;
    *out = keys;
out:
    if (p.entries) {
        for (size_t i = 0; i < p.count; i++)
            free(p.entries[i].models);
        free(p.entries);
    }
    return err;
}

int cg_keys_load(const char *path, struct cg_keys **out, char *errbuf, size_t errlen)
{
    int err = -1;
    char *text = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    text = cg_xmalloc(CG_KEYS_FILE_MAX_BYTES + 1);
    size_t n = fread(text, 1, CG_KEYS_FILE_MAX_BYTES + 1, f);
    if (ferror(f)) {
        snprintf(errbuf, errlen, "%s: read failed", path);
        goto out;
    }
    if (n > CG_KEYS_FILE_MAX_BYTES) {
        snprintf(errbuf, errlen, "%s: larger than %d bytes", path, CG_KEYS_FILE_MAX_BYTES);
        goto out;
    }
    char line[256];
    err = cg_keys_parse(text, n, out, line, sizeof(line));
    if (err)
        snprintf(errbuf, errlen, "%s: %s", path, line);
out:
    if (f)
        fclose(f);
    free(text);
    return err;
}

void cg_keys_free(struct cg_keys *keys)
{
    if (keys == NULL)
        return;
    for (size_t i = 0; i < keys->count; i++)
        free(keys->entries[i].models);
    free(keys->entries);
    free(keys);
}

const struct cg_key_entry *cg_keys_match(const struct cg_keys *keys, struct cg_str token)
{
    if (keys == NULL || keys->count == 0)
        return NULL;
    uint8_t d[CG_SHA256_BYTES];
    cg_sha256(token.ptr, token.len, d);
    size_t match = 0;
    size_t index = 0;
    for (size_t i = 0; i < keys->count; i++) {
        volatile unsigned char diff = 0;
        for (size_t j = 0; j < CG_SHA256_BYTES; j++)
            diff |= keys->entries[i].digest[j] ^ d[j];
        /* Masks instead of branches (as for PROXY_API_KEY), so the timing does not show which entry
         * matched. */
        size_t eq = diff == 0;
        size_t take = (size_t)0 - (eq & (match ^ 1));
        index = (index & ~take) | (i & take);
        match |= eq;
    }
    return match ? &keys->entries[index] : NULL;
}

bool cg_keys_model_allowed(const char *models, const char *model)
{
    if (models == NULL)
        return true;
    struct cg_str want = cg_str_from(model);
    struct cg_str rest = cg_str_from(models);
    while (rest.len) {
        if (cg_str_ieq(cg_str_split(&rest, ','), want))
            return true;
    }
    return false;
}

void cg_keys_hash_text(const char *key, size_t len, char out[CG_KEYS_HASH_TEXT_BYTES])
{
    uint8_t d[CG_SHA256_BYTES];
    cg_sha256(key, len, d);
    memcpy(out, "sha256:", 7);
    cg_sha256_hex(d, CG_SHA256_BYTES, out + 7);
}

/* A changed file is polled for: inotify misses an editor's rename-over, polling does not. */
enum { POLL_INTERVAL_MS = 1000 };

static void publish(struct cg_keys_watch *w, struct cg_keys *keys)
{
    struct cg_keys *old = w->current;
    w->current = keys;
    *w->slot = keys;
    cg_keys_free(old);
}

int cg_keys_watch_reload(struct cg_keys_watch *w)
{
    char err[512];
    struct cg_keys *keys = NULL;
    if (cg_keys_load(w->path, &keys, err, sizeof(err)) != 0) {
        cg_log_error("keys file not reloaded, the previous %zu key(s) stay in use: %s",
                     w->current ? w->current->count : (size_t)0, err);
        return -1;
    }
    publish(w, keys);
    cg_log_info("keys file reloaded: %zu key(s)", keys->count);
    return 0;
}

static void on_sighup(uv_signal_t *sig, int signum)
{
    (void)signum;
    struct cg_keys_watch *w = CG_CONTAINER_OF(sig, struct cg_keys_watch, sighup);
    (void)cg_keys_watch_reload(w);
}

static void on_file_changed(uv_fs_poll_t *poll, int status, const uv_stat_t *prev,
                            const uv_stat_t *curr)
{
    (void)prev;
    (void)curr;
    struct cg_keys_watch *w = CG_CONTAINER_OF(poll, struct cg_keys_watch, poll);
    /* A vanished file (status < 0) is reported too: the reload logs it and keeps the keys. */
    (void)status;
    (void)cg_keys_watch_reload(w);
}

int cg_keys_watch_start(struct cg_keys_watch *w, uv_loop_t *loop, const char *path,
                        const struct cg_keys **slot, char *errbuf, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    struct cg_keys *keys = NULL;
    if (cg_keys_load(path, &keys, errbuf, errlen) != 0)
        return -1;
    w->path = cg_xstrdup(path);
    w->slot = slot;
    publish(w, keys);
    if (loop == NULL)
        return 0;
    uv_signal_init(loop, &w->sighup);
    uv_fs_poll_init(loop, &w->poll);
    w->handles_open = 2;
    uv_signal_start(&w->sighup, on_sighup, SIGHUP);
    uv_fs_poll_start(&w->poll, on_file_changed, path, POLL_INTERVAL_MS);
    return 0;
}

static void release(struct cg_keys_watch *w)
{
    *w->slot = NULL;
    cg_keys_free(w->current);
    w->current = NULL;
    free(w->path);
    w->path = NULL;
}

static void on_closed(uv_handle_t *h)
{
    struct cg_keys_watch *w = h->data;
    if (--w->handles_open == 0)
        release(w);
}

void cg_keys_watch_stop(struct cg_keys_watch *w)
{
    if (w->path == NULL)
        return;
    if (w->handles_open == 0) {
        release(w);
        return;
    }
    if (uv_is_closing((uv_handle_t *)&w->poll))
        return;
    w->sighup.data = w;
    w->poll.data = w;
    uv_close((uv_handle_t *)&w->sighup, on_closed);
    uv_close((uv_handle_t *)&w->poll, on_closed);
}
