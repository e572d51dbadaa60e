/* util.h: small helpers for the fake app-server: checked allocation, a growable byte buffer,
 * a string-keyed hash map, id generation, wall-clock time and number parsing. */
#ifndef FC_UTIL_H
#define FC_UTIL_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_ID_MAX 48 /* every id we generate fits, NUL included */

/* Allocation that aborts with a message on OOM: the fake has no use for partial failure. */
void *fc_xmalloc(size_t size);
void *fc_xcalloc(size_t count, size_t size);
void *fc_xrealloc(void *ptr, size_t size);
char *fc_xstrdup(const char *s);
char *fc_xstrndup(const char *s, size_t len);

/* Growable byte buffer; `data` is always NUL-terminated once anything was appended. */
struct fc_buf {
    char *data;
    size_t len;
    size_t cap;
};

void fc_buf_reserve(struct fc_buf *b, size_t extra);
void fc_buf_append(struct fc_buf *b, const void *data, size_t len);
void fc_buf_appendc(struct fc_buf *b, char c);
void fc_buf_appendf(struct fc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `s` as the body of a JSON string (no quotes); `s` must be valid UTF-8. */
void fc_buf_append_json_escaped(struct fc_buf *b, const char *s, size_t len);
void fc_buf_dispose(struct fc_buf *b);

/* String-keyed hash map with borrowed values. Keys are copied. */
struct fc_map_entry;
struct fc_map {
    struct fc_map_entry **buckets;
    size_t nbuckets;
    size_t count;
};

void fc_map_init(struct fc_map *m);
void fc_map_dispose(struct fc_map *m);
void *fc_map_get(const struct fc_map *m, const char *key);
/* Inserts or replaces. */
void fc_map_put(struct fc_map *m, const char *key, void *value);
/* Removes `key` and returns its value, or NULL when absent. */
void *fc_map_remove(struct fc_map *m, const char *key);
/* Calls `fn` for each entry; `fn` must not modify the map. */
void fc_map_each(const struct fc_map *m, void (*fn)(const char *key, void *value, void *arg),
                 void *arg);

/* Ids. All are unique within the process; the random part makes them unlikely to collide
 * between processes. `out` must hold FC_ID_MAX bytes. */
void fc_id_seed(void);
void fc_id_uuid(char *out);                         /* UUIDv7-shaped: 01a214a2-13f6-7313-... */
void fc_id_prefixed(char *out, const char *prefix); /* <prefix><16 hex> */
void fc_id_call(char *out);                         /* call_<counter>_<8 hex> */
uint64_t fc_rand64(void);

/* Wall-clock milliseconds and seconds since the epoch. */
int64_t fc_now_ms(void);
int64_t fc_now_s(void);

/* Parses a whole decimal string as an unsigned number no larger than `max`. */
bool fc_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);
/* Reads an unsigned env knob; `def` when unset, empty or invalid (a warning on stderr). */
uint64_t fc_env_u64(const char *name, uint64_t def, uint64_t max);

/* Length of the longest prefix of s[0..len) no longer than `max` that ends on a UTF-8
 * character boundary (at least one character when max > 0 and len > 0). */
size_t fc_utf8_prefix(const char *s, size_t len, size_t max);

/* Describes a JSON value the way serde names an unexpected one (string "x", integer `5`,
 * sequence, map, ...), for "invalid type" error messages. */
void fc_json_describe(json_t *v, char *out, size_t size);

#endif
