/* test_ratelimit.c: bucket math and concurrency slots against an injected clock, the failed-auth
 * slowdown and OpenAI's duration text. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include "http/ratelimit.h"

static uint64_t now;
static uint64_t fake_now(void)
{
    return now;
}

static struct cg_ratelimit rl;

static void fini(void)
{
    cg_ratelimit_dispose(&rl);
}

TestSuite(ratelimit, .fini = fini);

static void init_rl(bool enabled, uint64_t window_ms, uint64_t max, uint64_t concurrent,
                    uint64_t tpm, uint64_t auth_failures_max)
{
    struct cg_ratelimit_limits d = {
        .max = max, .window_ms = window_ms, .concurrent = concurrent, .tpm = tpm};
    cg_ratelimit_init(&rl, enabled, &d, auth_failures_max, fake_now);
}

static void enter_own(const char *key, uint64_t max, uint64_t window_ms, uint64_t concurrent,
                      uint64_t tpm, struct cg_ratelimit_verdict *v)
{
    struct cg_ratelimit_limits own = {
        .max = max, .window_ms = window_ms, .concurrent = concurrent, .tpm = tpm};
    cg_ratelimit_enter(&rl, key, &own, v);
}

static enum cg_err take(const char *key, struct cg_ratelimit_verdict *v)
{
    enter_own(key, 0, 0, 0, 0, v);
    return v->err;
}

Test(ratelimit, a_bucket_admits_max_per_window_then_refills_continuously)
{
    now = 1000;
    init_rl(true, 60000, 3, 0, 0, 0);
    struct cg_ratelimit_verdict v;
    for (uint64_t i = 0; i < 3; i++) {
        cr_assert_eq(take("k_a", &v), CG_OK);
        cr_assert_eq(v.requests.limit, 3);
        cr_assert_eq(v.requests.remaining, 2 - i);
    }
    cr_assert_eq(v.requests.reset_ms, 60000, "empty: a whole window until full");
    cr_assert_eq(take("k_a", &v), CG_ERR_RATE_LIMITED);
    cr_assert_eq(v.requests.remaining, 0);
    cr_assert_eq(v.retry_after_ms, 20000, "one token per window/max");
    cr_assert_eq(rl.refused_rate, 1);
    cr_assert_eq(take("k_b", &v), CG_OK, "another key has its own bucket");
    now += 19999;
    cr_assert_eq(take("k_a", &v), CG_ERR_RATE_LIMITED);
    cr_assert_eq(v.retry_after_ms, 1);
    now += 1;
    cr_assert_eq(take("k_a", &v), CG_OK);
    cr_assert_eq(v.requests.remaining, 0);
    now += 10u * 60000;
    cr_assert_eq(take("k_a", &v), CG_OK);
    cr_assert_eq(v.requests.remaining, 2, "a long pause fills the bucket, never beyond max");
    cr_assert_eq(v.requests.reset_ms, 20000);
}

Test(ratelimit, off_admits_everything_without_counting)
{
    now = 0;
    init_rl(false, 1000, 1, 1, 0, 0);
    struct cg_ratelimit_verdict v;
    for (int i = 0; i < 10; i++)
        cr_assert_eq(take("k_a", &v), CG_OK);
    cr_assert_null(v.slot);
    cr_assert_eq(rl.bucket_count, 0);
}

Test(ratelimit, the_concurrency_cap_counts_slots_until_they_are_left)
{
    now = 0;
    init_rl(true, 1000, 100, 2, 0, 0);
    struct cg_ratelimit_verdict a, b, c;
    cr_assert_eq(take("k_a", &a), CG_OK);
    cr_assert_eq(take("k_a", &b), CG_OK);
    cr_assert_not_null(a.slot);
    cr_assert_eq(take("k_a", &c), CG_ERR_RATE_LIMITED);
    cr_assert_null(c.slot);
    cr_assert_eq(c.retry_after_ms, 1000);
    cr_assert_eq(c.requests.remaining, 98, "a request refused for concurrency spends no token");
    cr_assert_eq(rl.refused_concurrent, 1);
    cr_assert_eq(rl.refused_rate, 0);
    cg_ratelimit_leave(a.slot);
    cr_assert_eq(take("k_a", &c), CG_OK);
    cg_ratelimit_leave(b.slot);
    cg_ratelimit_leave(c.slot);
    cr_assert_eq(rl.buckets[0].active, 0);
}

Test(ratelimit, per_key_limits_override_the_defaults)
{
    now = 0;
    init_rl(true, 1000, 100, 0, 0, 0);
    struct cg_ratelimit_verdict v;
    enter_own("k_a", 1, 1000, 0, 0, &v);
    cr_assert_eq(v.err, CG_OK);
    cr_assert_eq(v.requests.limit, 1);
    enter_own("k_a", 1, 1000, 0, 0, &v);
    cr_assert_eq(v.err, CG_ERR_RATE_LIMITED);
    enter_own("k_b", 0, 0, 1, 0, &v);
    cr_assert_eq(v.err, CG_OK);
    cr_assert_eq(v.requests.limit, 100);
    struct cg_ratelimit_verdict w;
    enter_own("k_b", 0, 0, 1, 0, &w);
    cr_assert_eq(w.err, CG_ERR_RATE_LIMITED);
    cg_ratelimit_leave(v.slot);
}

Test(ratelimit, a_keys_own_limits_apply_with_the_defaults_off)
{
    now = 0;
    init_rl(false, 1000, 100, 0, 0, 0);
    struct cg_ratelimit_verdict v;
    enter_own("k_default", 0, 0, 0, 0, &v);
    cr_assert_eq(v.err, CG_OK);
    cr_assert_eq(v.requests.limit, 0, "no limit: no headers");
    enter_own("k_own", 2, 60000, 0, 0, &v);
    enter_own("k_own", 2, 60000, 0, 0, &v);
    cr_assert_eq(v.err, CG_OK);
    enter_own("k_own", 2, 60000, 0, 0, &v);
    cr_assert_eq(v.err, CG_ERR_RATE_LIMITED);
    cr_assert_eq(v.retry_after_ms, 30000);
    enter_own("k_cap", 0, 0, 1, 0, &v);
    cr_assert_eq(v.err, CG_OK);
    cr_assert_eq(v.requests.limit, 0);
    struct cg_ratelimit_verdict w;
    enter_own("k_cap", 0, 0, 1, 0, &w);
    cr_assert_eq(w.err, CG_ERR_RATE_LIMITED);
    cg_ratelimit_leave(v.slot);
    now = 30000;
    enter_own("k_own", 4, 60000, 0, 0, &v);
    cr_assert_eq(v.err, CG_OK, "a raised limit keeps the tokens earned: 1 refilled, now spent");
    cr_assert_eq(v.requests.remaining, 0);
}

Test(ratelimit, a_full_table_reuses_the_least_recently_used_idle_bucket)
{
    now = 0;
    init_rl(true, 1000, 1, 1, 0, 0);
    rl.bucket_cap = 2;
    struct cg_ratelimit_verdict a, b, c;
    cr_assert_eq(take("k_a", &a), CG_OK);
    now = 1;
    cr_assert_eq(take("k_b", &b), CG_OK);
    cg_ratelimit_leave(b.slot);
    now = 2;
    cr_assert_eq(take("k_c", &c), CG_OK, "k_b's idle bucket is reused; k_a holds a slot");
    cr_assert_eq(rl.bucket_count, 2);
    cr_assert_str_eq(a.slot->key_id, "k_a");
    cr_assert_str_eq(c.slot->key_id, "k_c");
    struct cg_ratelimit_verdict d;
    cr_assert_eq(take("k_d", &d), CG_OK, "no idle bucket: admitted, not counted");
    cr_assert_null(d.slot);
    cg_ratelimit_leave(a.slot);
    cg_ratelimit_leave(c.slot);
}

Test(ratelimit, a_peer_past_its_failures_is_blocked_for_the_rest_of_its_minute)
{
    now = 5000;
    init_rl(false, 1000, 1, 0, 0, 3);
    uint64_t wait;
    cr_assert_not(cg_ratelimit_peer_blocked(&rl, "10.0.0.1", &wait));
    for (int i = 0; i < 3; i++)
        cg_ratelimit_peer_failed(&rl, "10.0.0.1");
    cr_assert_not(cg_ratelimit_peer_blocked(&rl, "10.0.0.1", &wait), "3 is not more than 3");
    cg_ratelimit_peer_failed(&rl, "10.0.0.1");
    now += 15000;
    cr_assert(cg_ratelimit_peer_blocked(&rl, "10.0.0.1", &wait));
    cr_assert_eq(wait, 45000);
    cr_assert_eq(rl.refused_auth, 1);
    cr_assert(cg_ratelimit_peer_blocked(&rl, "10.0.0.1", &wait));
    cr_assert_not(cg_ratelimit_peer_blocked(&rl, "10.0.0.2", &wait), "per address");
    now += 45000;
    cr_assert_not(cg_ratelimit_peer_blocked(&rl, "10.0.0.1", &wait), "a new minute");
}

Test(ratelimit, the_peer_table_evicts_its_oldest)
{
    now = 0;
    init_rl(false, 1000, 1, 0, 0, 1);
    rl.peer_cap = 2;
    uint64_t wait;
    cg_ratelimit_peer_failed(&rl, "a");
    cg_ratelimit_peer_failed(&rl, "a");
    now = 1;
    cg_ratelimit_peer_failed(&rl, "b");
    cg_ratelimit_peer_failed(&rl, "b");
    now = 2;
    cg_ratelimit_peer_failed(&rl, "c");
    cr_assert_eq(rl.peer_count, 2);
    cr_assert_not(cg_ratelimit_peer_blocked(&rl, "a", &wait), "a was the oldest");
    cr_assert(cg_ratelimit_peer_blocked(&rl, "b", &wait));
}

Test(ratelimit, durations_are_written_as_openai_writes_them)
{
    static const struct {
        uint64_t ms;
        const char *text;
    } cases[] = {{0, "0ms"},         {20, "20ms"},         {999, "999ms"},
                 {1000, "1s"},       {1500, "1.5s"},       {1001, "1.001s"},
                 {60000, "1m0s"},    {360000, "6m0s"},     {61250, "1m1.25s"},
                 {3600000, "1h0m0s"}, {3723000, "1h2m3s"}};
    for (size_t i = 0; i < CG_ARRAY_SIZE(cases); i++) {
        char out[32];
        cg_ratelimit_format_duration(cases[i].ms, out, sizeof(out));
        cr_assert_str_eq(out, cases[i].text, "%" PRIu64 " ms", cases[i].ms);
    }
}

Test(ratelimit, a_token_budget_is_charged_after_the_fact_and_holds_a_key_in_debt)
{
    now = 0;
    init_rl(false, 1000, 100, 0, 0, 0);
    struct cg_ratelimit_verdict v;
    enter_own("k_t", 0, 0, 0, 600, &v);
    cr_assert_eq(v.err, CG_OK);
    cr_assert_eq(v.tokens.limit, 600);
    cr_assert_eq(v.tokens.remaining, 600);
    cr_assert_eq(v.tokens.reset_ms, 0);
    cr_assert_eq(v.requests.limit, 0, "no request limit of its own, defaults off");
    cg_ratelimit_charge(&rl, "k_t", 200);
    enter_own("k_t", 0, 0, 0, 600, &v);
    cr_assert_eq(v.err, CG_OK, "admitted while the budget is above zero");
    cr_assert_eq(v.tokens.remaining, 400);
    cr_assert_eq(v.tokens.reset_ms, 20000, "200 tokens at 10 per second");
    cg_ratelimit_charge(&rl, "k_t", 800); /* one request may overspend: it is charged after */
    enter_own("k_t", 0, 0, 0, 600, &v);
    cr_assert_eq(v.err, CG_ERR_RATE_LIMITED);
    cr_assert_eq(v.tokens.remaining, 0);
    cr_assert_eq(v.retry_after_ms, 40001, "400 tokens of debt, then past zero");
    cr_assert_eq(rl.refused_tokens, 1);
    cr_assert_eq(rl.refused_rate, 0);
    now = 40001;
    enter_own("k_t", 0, 0, 0, 600, &v);
    cr_assert_eq(v.err, CG_OK);
    cr_assert_eq(v.tokens.remaining, 0, "a fraction of a token is not one");
    now += 60000;
    enter_own("k_t", 0, 0, 0, 600, &v);
    cr_assert_eq(v.tokens.remaining, 600, "never beyond the budget");
}

Test(ratelimit, the_default_token_budget_applies_only_when_limits_are_on)
{
    now = 0;
    init_rl(true, 60000, 1000, 0, 50, 0);
    struct cg_ratelimit_verdict v;
    cr_assert_eq(take("k_a", &v), CG_OK);
    cr_assert_eq(v.tokens.limit, 50);
    cg_ratelimit_charge(&rl, "k_a", 50);
    cr_assert_eq(take("k_a", &v), CG_ERR_RATE_LIMITED);
    cg_ratelimit_dispose(&rl);
    init_rl(false, 60000, 1000, 0, 50, 0);
    cr_assert_eq(take("k_a", &v), CG_OK);
    cr_assert_eq(v.tokens.limit, 0);
    cg_ratelimit_charge(&rl, "k_a", 1000000);
    cg_ratelimit_charge(&rl, "k_unknown", 1000000);
    cr_assert_eq(take("k_a", &v), CG_OK, "no budget, nothing charged");
}

Test(ratelimit, a_huge_charge_is_a_bounded_debt)
{
    now = 0;
    init_rl(false, 1000, 1, 0, 0, 0);
    struct cg_ratelimit_verdict v;
    enter_own("k_t", 0, 0, 0, 1000000000, &v);
    cg_ratelimit_charge(&rl, "k_t", INT64_MAX);
    cg_ratelimit_charge(&rl, "k_t", INT64_MAX / 60000);
    enter_own("k_t", 0, 0, 0, 1000000000, &v);
    cr_assert_eq(v.err, CG_ERR_RATE_LIMITED);
    cr_assert_eq(v.retry_after_ms, 1440u * 60000 + 1, "a day of debt at most");
    cg_ratelimit_charge(&rl, "k_t", -5);
    enter_own("k_t", 0, 0, 0, 1000000000, &v);
    cr_assert_eq(v.err, CG_ERR_RATE_LIMITED, "a negative count charges nothing");
}
