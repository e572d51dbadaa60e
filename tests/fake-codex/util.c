/* util.c: checked allocation, byte buffer, hash map, ids, clock and number parsing for the
 * fake app-server. */
#include "util.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAP_MIN_BUCKETS 64

struct fc_map_entry {
    struct fc_map_entry *next;
    uint64_t hash;
    void *value;
    char key[]; /* NUL-terminated copy */
};

static uint64_t rng_state;
static uint64_t id_counter;
static uint64_t call_counter;

static void oom(size_t size)
{
    fprintf(stderr, "fake-codex: out of memory (%zu bytes)\n", size);
    abort();
}

void *fc_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

void *fc_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *fc_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

char *fc_xstrndup(const char *s, size_t len)
{
    char *p = fc_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *fc_xstrdup(const char *s)
{
    return fc_xstrndup(s, strlen(s));
}

void fc_buf_reserve(struct fc_buf *b, size_t extra)
{
    size_t need;
    if (__builtin_add_overflow(b->len, extra + 1, &need))
        oom(SIZE_MAX);
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (__builtin_mul_overflow(cap, 2, &cap))
            oom(SIZE_MAX);
    }
    b->data = fc_xrealloc(b->data, cap);
    b->cap = cap;
}

void fc_buf_append(struct fc_buf *b, const void *data, size_t len)
{
    fc_buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void fc_buf_appendc(struct fc_buf *b, char c)
{
    fc_buf_append(b, &c, 1);
}

void fc_buf_appendf(struct fc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    fc_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void fc_buf_append_json_escaped(struct fc_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    fc_buf_reserve(b, len);
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        fc_buf_append(b, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"':
            fc_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            fc_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            fc_buf_append(b, "\\n", 2);
            break;
        case '\r':
            fc_buf_append(b, "\\r", 2);
            break;
        case '\t':
            fc_buf_append(b, "\\t", 2);
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            fc_buf_append(b, esc, sizeof(esc));
            break;
        }
        }
    }
    fc_buf_append(b, s + start, len - start);
}

void fc_buf_dispose(struct fc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void fc_map_init(struct fc_map *m)
{
    m->nbuckets = MAP_MIN_BUCKETS;
    m->buckets = fc_xcalloc(m->nbuckets, sizeof(*m->buckets));
    m->count = 0;
}

void fc_map_dispose(struct fc_map *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct fc_map_entry *e = m->buckets[i];
        while (e) {
            struct fc_map_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

static void map_grow(struct fc_map *m)
{
    size_t n = m->nbuckets * 2;
    struct fc_map_entry **buckets = fc_xcalloc(n, sizeof(*buckets));
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct fc_map_entry *e = m->buckets[i];
        while (e) {
            struct fc_map_entry *next = e->next;
            size_t slot = e->hash & (n - 1);
            e->next = buckets[slot];
            buckets[slot] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = buckets;
    m->nbuckets = n;
}

void *fc_map_get(const struct fc_map *m, const char *key)
{
    uint64_t h = hash_str(key);
    for (struct fc_map_entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next) {
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e->value;
    }
    return NULL;
}

void fc_map_put(struct fc_map *m, const char *key, void *value)
{
    uint64_t h = hash_str(key);
    size_t slot = h & (m->nbuckets - 1);
    for (struct fc_map_entry *e = m->buckets[slot]; e; e = e->next) {
        if (e->hash == h && strcmp(e->key, key) == 0) {
            e->value = value;
            return;
        }
    }
    size_t klen = strlen(key);
    struct fc_map_entry *e = fc_xmalloc(sizeof(*e) + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->value = value;
    e->next = m->buckets[slot];
    m->buckets[slot] = e;
    m->count++;
    if (m->count > m->nbuckets)
        map_grow(m);
}

void *fc_map_remove(struct fc_map *m, const char *key)
{
    uint64_t h = hash_str(key);
    struct fc_map_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        struct fc_map_entry *e = *pp;
        if (e->hash == h && strcmp(e->key, key) == 0) {
            void *value = e->value;
            *pp = e->next;
            free(e);
            m->count--;
            return value;
        }
    }
    return NULL;
}

void fc_map_each(const struct fc_map *m, void (*fn)(const char *key, void *value, void *arg),
                 void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (struct fc_map_entry *e = m->buckets[i]; e; e = e->next)
            fn(e->key, e->value, arg);
    }
}

void fc_id_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rng_state = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
                ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    if (!rng_state)
        rng_state = 1;
}

uint64_t fc_rand64(void)
{
    /* xorshift64*: ids only need to look random, not be unpredictable. */
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 2685821657736338717ULL;
}

void fc_id_uuid(char *out)
{
    uint64_t ms = (uint64_t)fc_now_ms();
    uint64_t seq = ++id_counter;
    uint64_t r = fc_rand64();
    /* time (48 bits) | version 7 + 12 bits of counter | variant + 14 random bits | 48 bits
     * mixing the counter's high part with randomness, so ids stay unique per process. */
    snprintf(out, FC_ID_MAX, "%08x-%04x-7%03x-%04x-%04x%08x", (unsigned)(ms >> 16),
             (unsigned)(ms & 0xffff), (unsigned)(seq & 0xfff), (unsigned)(0x8000 | (r & 0x3fff)),
             (unsigned)((seq >> 12) & 0xffff), (unsigned)(r >> 32));
}

void fc_id_prefixed(char *out, const char *prefix)
{
    uint64_t seq = ++id_counter;
    snprintf(out, FC_ID_MAX, "%s%06llx%010llx", prefix, (unsigned long long)(seq & 0xffffff),
             (unsigned long long)(fc_rand64() >> 24));
}

void fc_id_call(char *out)
{
    uint64_t seq = ++call_counter;
    snprintf(out, FC_ID_MAX, "call_%04llu_%08x", (unsigned long long)seq,
             (unsigned)(fc_rand64() >> 32));
}

int64_t fc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fc_now_s(void)
{
    return fc_now_ms() / 1000;
}

bool fc_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
            return false;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

uint64_t fc_env_u64(const char *name, uint64_t def, uint64_t max)
{
    const char *s = getenv(name);
    uint64_t v = 0;
    if (!s || !*s)
        return def;
    if (!fc_parse_u64(s, strlen(s), max, &v)) {
        fprintf(stderr, "fake-codex: ignoring %s=%s (want 0..%llu)\n", name, s,
                (unsigned long long)max);
        return def;
    }
    return v;
}

size_t fc_utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* Back up over continuation bytes so the cut lands before a lead byte. */
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    if (n == 0) {
        /* A single character longer than `max`: take it whole. */
        n = 1;
        while (n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
            n++;
    }
    return n;
}

void fc_json_describe(json_t *v, char *out, size_t size)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        snprintf(out, size, "string \"%s\"", json_string_value(v));
        break;
    case JSON_INTEGER:
        snprintf(out, size, "integer `%lld`", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(out, size, "floating point `%g`", json_real_value(v));
        break;
    case JSON_TRUE:
        snprintf(out, size, "boolean `true`");
        break;
    case JSON_FALSE:
        snprintf(out, size, "boolean `false`");
        break;
    case JSON_NULL:
        snprintf(out, size, "null");
        break;
    case JSON_ARRAY:
        snprintf(out, size, "sequence");
        break;
    case JSON_OBJECT:
        snprintf(out, size, "map");
        break;
    }
}
