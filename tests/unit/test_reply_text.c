/* test_reply_text.c: delta / completed / retry reconciliation of a turn's answer text. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "backend/reply_text.h"

static struct cg_reply_text rt;
static char sent[512];

static void setup(void)
{
    cg_reply_text_init(&rt, 1024);
    sent[0] = '\0';
}

static void teardown(void)
{
    cg_reply_text_dispose(&rt);
}

TestSuite(reply_text, .init = setup, .fini = teardown);

static void take(struct cg_reply_text_out out)
{
    size_t have = strlen(sent);
    snprintf(sent + have, sizeof(sent) - have, "%.*s%.*s", (int)out.sep.len, out.sep.ptr,
             (int)out.text.len, out.text.ptr);
}

static void delta(const char *item, const char *s)
{
    take(cg_reply_text_delta(&rt, item, cg_str_from(s)));
}

static bool completed(const char *item, const char *s)
{
    struct cg_reply_text_out out = cg_reply_text_completed(&rt, item, cg_str_from(s));
    take(out);
    return out.diverged;
}

Test(reply_text, deltas_pass_through_and_completed_adds_the_missing_rest)
{
    delta("a", "Hel");
    cr_assert_str_eq(sent, "Hel");
    delta("a", "lo");
    cr_assert(!completed("a", "Hello, world."));
    cr_assert_str_eq(sent, "Hello, world.");
}

Test(reply_text, a_completed_item_that_was_never_streamed_is_sent_whole)
{
    cr_assert(!completed("a", "Whole."));
    cr_assert_str_eq(sent, "Whole.");
}

Test(reply_text, message_items_are_joined_with_a_blank_line)
{
    delta("a", "One.");
    completed("a", "One.");
    delta("b", "Two.");
    completed("b", "Two.");
    completed("c", "Three.");
    cr_assert_str_eq(sent, "One.\n\nTwo.\n\nThree.");
}

Test(reply_text, completed_text_that_contradicts_the_deltas_is_not_sent)
{
    delta("a", "Hello");
    cr_assert(completed("a", "Goodbye"));
    cr_assert_str_eq(sent, "Hello");
}

Test(reply_text, after_a_retry_the_repeated_part_is_not_sent_twice)
{
    delta("a", "Hel");
    delta("a", "lo");
    cg_reply_text_retry(&rt);
    delta("b", "Hel");
    cr_assert_str_eq(sent, "Hello", "still repeating what the client has");
    delta("b", "lo after");
    delta("b", " retry.");
    cr_assert(!completed("b", "Hello after retry."));
    cr_assert_str_eq(sent, "Hello after retry.");
}

Test(reply_text, a_retry_before_any_text_changes_nothing)
{
    cg_reply_text_retry(&rt);
    delta("b", "Fresh.");
    cr_assert_str_eq(sent, "Fresh.");
}

Test(reply_text, two_retries_in_a_row_keep_the_first_sent_text)
{
    delta("a", "Hello");
    cg_reply_text_retry(&rt);
    delta("b", "Hel");
    cg_reply_text_retry(&rt);
    delta("c", "Hello there");
    cr_assert_str_eq(sent, "Hello there");
}

Test(reply_text, a_retry_that_streams_different_text_sends_only_what_is_new)
{
    delta("a", "Hello");
    cg_reply_text_retry(&rt);
    struct cg_reply_text_out out = cg_reply_text_delta(&rt, "b", CG_STR("Help me"));
    take(out);
    cr_assert(out.diverged);
    cr_assert_str_eq(sent, "Hellome", "the client keeps what it had; the rest past it follows");
}

Test(reply_text, a_retried_item_completing_shorter_than_sent_adds_nothing)
{
    delta("a", "Hello world");
    cg_reply_text_retry(&rt);
    cr_assert(!completed("b", "Hello"));
    cr_assert_str_eq(sent, "Hello world");
    delta("c", "Next");
    cr_assert_str_eq(sent, "Hello world\n\nNext");
}

Test(reply_text, deltas_past_the_cap_are_dropped)
{
    char big[1100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    delta("a", "ok");
    delta("a", big);
    cr_assert_str_eq(sent, "ok");
}

Test(reply_text, an_item_id_longer_than_kept_is_still_one_item)
{
    char id[200];
    memset(id, 'i', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    struct cg_reply_text_out a = cg_reply_text_delta(&rt, id, CG_STR("Hel"));
    cr_assert_eq(a.sep.len, 0);
    struct cg_reply_text_out b = cg_reply_text_delta(&rt, id, CG_STR("lo"));
    cr_assert_eq(b.sep.len, 0, "the same item: no separator");
    cr_assert_eq(b.text.len, 2);
    struct cg_reply_text_out c = cg_reply_text_completed(&rt, id, CG_STR("Hello"));
    cr_assert_eq(c.text.len, 0, "nothing new at its completion");
    cr_assert(!c.diverged);
}
