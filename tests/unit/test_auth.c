/* test_auth.c: bearer parsing, constant-time comparison, the loopback rule. */
#include <criterion/criterion.h>
#include "http/auth.h"

Test(auth, parses_bearer_case_insensitively)
{
    struct cg_str tok;
    cr_assert(cg_auth_parse_bearer(CG_STR("Bearer abc"), &tok));
    cr_assert(cg_str_eq(tok, CG_STR("abc")));
    cr_assert(cg_auth_parse_bearer(CG_STR("bEaReR \t abc  "), &tok));
    cr_assert(cg_str_eq(tok, CG_STR("abc")));
    cr_assert_not(cg_auth_parse_bearer(CG_STR("Bearer"), &tok));
    cr_assert_not(cg_auth_parse_bearer(CG_STR("Bearer   "), &tok));
    cr_assert_not(cg_auth_parse_bearer(CG_STR("Bearerabc"), &tok));
    cr_assert_not(cg_auth_parse_bearer(CG_STR("Basic abc"), &tok));
}

Test(auth, key_equality_is_exact)
{
    cr_assert(cg_auth_key_equal(CG_STR("secret"), CG_STR("secret")));
    cr_assert_not(cg_auth_key_equal(CG_STR("secret"), CG_STR("secreT")));
    cr_assert_not(cg_auth_key_equal(CG_STR("secret"), CG_STR("secre")));
    cr_assert_not(cg_auth_key_equal(CG_STR("secret"), CG_STR("secrets")));
    cr_assert_not(cg_auth_key_equal(CG_STR("secret"), CG_STR("")));
    cr_assert_not(cg_auth_key_equal(CG_STR("s\0x"), CG_STR("s\0y")));
}

Test(auth, check_covers_the_matrix)
{
    char *keys[] = {"k1", "k2"};
    struct cg_auth a;
    cg_auth_init(&a, keys, 2);
    struct cg_str none = {NULL, 0};
    cr_assert_eq(cg_auth_check(&a, CG_STR("Bearer k2"), false), CG_OK);
    cr_assert_eq(cg_auth_check(&a, CG_STR("Bearer k3"), true), CG_ERR_INVALID_API_KEY);
    cr_assert_eq(cg_auth_check(&a, none, true), CG_ERR_MISSING_API_KEY);
    struct cg_auth open;
    cg_auth_init(&open, NULL, 0);
    cr_assert_eq(cg_auth_check(&open, none, true), CG_OK);
    cr_assert_eq(cg_auth_check(&open, CG_STR("Bearer whatever"), false), CG_ERR_LOOPBACK_ONLY);
}
