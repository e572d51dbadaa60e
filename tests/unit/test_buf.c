/* test_buf.c: the capped buffer never grows past its maximum and keeps its contents. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/buf.h"

Test(buf, append_past_max_fails_and_keeps_contents)
{
    struct cg_buf b;
    cg_buf_init(&b, 8);
    cr_assert_eq(cg_buf_append(&b, "abcdef", 6), 0);
    cr_assert_eq(cg_buf_append(&b, "ghi", 3), -E2BIG);
    cr_assert_eq(b.len, 6);
    cr_assert_str_eq(b.data, "abcdef");
    cr_assert_eq(cg_buf_append(&b, "gh", 2), 0);
    cr_assert_str_eq(b.data, "abcdefgh");
    cg_buf_dispose(&b);
}

Test(buf, appendf_formats_long_strings)
{
    struct cg_buf b;
    cg_buf_init(&b, 4096);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(cg_buf_appendf(&b, "%d,", i), 0);
    cr_assert_eq(cg_buf_appendf(&b, "%0300d", 7), 0);
    cr_assert_eq(b.len, 290 + 300);
    cr_assert_eq(b.data[b.len], '\0');
    cg_buf_dispose(&b);
}

/* The conversions formatted without stdio give exactly what snprintf gives. */
#define SAME_AS_SNPRINTF(...)                                                                      \
    do {                                                                                           \
        char want[512];                                                                            \
        snprintf(want, sizeof(want), __VA_ARGS__);                                                 \
        struct cg_buf b;                                                                           \
        cg_buf_init(&b, 4096);                                                                     \
        cr_assert_eq(cg_buf_append_str(&b, "<"), 0);                                               \
        cr_assert_eq(cg_buf_appendf(&b, __VA_ARGS__), 0);                                          \
        cr_assert_str_eq(b.data + 1, want);                                                        \
        cr_assert_eq(b.len, 1 + strlen(want));                                                     \
        cg_buf_dispose(&b);                                                                        \
    } while (0)

Test(buf, appendf_matches_snprintf)
{
    SAME_AS_SNPRINTF("plain, no conversion");
    SAME_AS_SNPRINTF("%s|%s|%s", "a", "", "end");
    SAME_AS_SNPRINTF("%.*s|%.*s|%.*s", 3, "abcdef", 0, "abc", -1, "whole");
    SAME_AS_SNPRINTF("%.*s", 10, "short");
    SAME_AS_SNPRINTF("%c%c%%%c", 'x', '"', '!');
    SAME_AS_SNPRINTF("%d %d %d %i", 0, INT_MIN, INT_MAX, -42);
    SAME_AS_SNPRINTF("%u %u", 0u, UINT_MAX);
    SAME_AS_SNPRINTF("%ld %lu %lld %llu", LONG_MIN, ULONG_MAX, LLONG_MIN, ULLONG_MAX);
    SAME_AS_SNPRINTF("%" PRId64 " %" PRIu64 " %" PRId64, INT64_MIN, UINT64_MAX, (int64_t)7);
    SAME_AS_SNPRINTF("%zu %zd %zu", (size_t)0, (ssize_t)-5, SIZE_MAX);
    /* Left to vsnprintf: flags, widths, other conversions. */
    SAME_AS_SNPRINTF("%5d|%-4s|%04o|%x|%.2f|%+d", 42, "ab", 8u, 255u, 1.5, 3);
    SAME_AS_SNPRINTF("%s then %5s", "fast", "slow");
}

/* Into a fixed array: snprintf's bytes, truncation and return value. */
#define FORMAT_AS_SNPRINTF(size, ...)                                                              \
    do {                                                                                           \
        char want[64];                                                                             \
        char got[64];                                                                              \
        volatile size_t sz = (size); /* not a constant: truncation is the point */                 \
        memset(got, 'x', sizeof(got));                                                             \
        int wn = snprintf(want, sz, __VA_ARGS__);                                                  \
        int gn = cg_buf_format(got, sz, __VA_ARGS__);                                              \
        cr_assert_eq(gn, wn);                                                                      \
        cr_assert_str_eq(got, want);                                                               \
    } while (0)

Test(buf, format_matches_snprintf)
{
    FORMAT_AS_SNPRINTF(64, "messages[%zu].tool_calls[%zu]", (size_t)3, (size_t)12);
    FORMAT_AS_SNPRINTF(64, "%s", "a thread id");
    FORMAT_AS_SNPRINTF(8, "%s", "longer than eight");  /* truncated */
    FORMAT_AS_SNPRINTF(8, "ab%dcd%s", 123456, "tail"); /* truncated inside a conversion */
    FORMAT_AS_SNPRINTF(1, "%s", "nothing fits");
    FORMAT_AS_SNPRINTF(8, "%s", "");            /* nothing appended, yet a string */
    FORMAT_AS_SNPRINTF(16, "%5d|%x", 42, 255u); /* vsnprintf's */
    FORMAT_AS_SNPRINTF(6, "%5d|%x", 42, 255u);
}

Test(buf, appendf_of_nothing_leaves_a_string)
{
    struct cg_buf b;
    cg_buf_init(&b, 16);
    cr_assert_eq(cg_buf_appendf(&b, "%s", ""), 0);
    cr_assert_not_null(b.data);
    cr_assert_str_eq(b.data, "");
    cg_buf_dispose(&b);
}

Test(buf, appendf_past_max_keeps_contents)
{
    struct cg_buf b;
    cg_buf_init(&b, 10);
    cr_assert_eq(cg_buf_append_str(&b, "ab"), 0);
    cr_assert_eq(cg_buf_appendf(&b, "%s-%d-%s", "cdef", 12345, "never"), -E2BIG);
    cr_assert_eq(b.len, 2);
    cr_assert_str_eq(b.data, "ab");
    cr_assert_eq(cg_buf_appendf(&b, "%05d|%s", 1, "much too long"), -E2BIG);
    cr_assert_str_eq(b.data, "ab");
    cr_assert_eq(cg_buf_appendf(&b, "%s%u", "cd", 99u), 0);
    cr_assert_str_eq(b.data, "abcd99");
    cg_buf_dispose(&b);
}

Test(buf, consume_and_take)
{
    struct cg_buf b;
    cg_buf_init(&b, 64);
    cr_assert_eq(cg_buf_append_str(&b, "hello world"), 0);
    cg_buf_consume(&b, 6);
    cr_assert_str_eq(b.data, "world");
    size_t n;
    char *p = cg_buf_take(&b, &n);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(p, "world");
    cr_assert_null(b.data);
    free(p);
    char *empty = cg_buf_take(&b, &n);
    cr_assert_eq(n, 0);
    cr_assert_str_eq(empty, "");
    free(empty);
}
