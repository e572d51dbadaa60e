/* test_buf.c: the capped buffer never grows past its maximum and keeps its contents. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
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
