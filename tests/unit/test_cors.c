/* test_cors.c: origin allow-list parsing and matching. */
#include <criterion/criterion.h>
#include <string.h>
#include "http/cors.h"

static bool allowed(const struct cg_cors *c, const char *origin)
{
    return cg_cors_allowed(c, cg_str_from(origin));
}

Test(cors, exact_port_and_subdomain_patterns)
{
    struct cg_cors c;
    char err[128];
    cr_assert_eq(cg_cors_init(&c, true, "https://App.Example.com/, http://localhost:*, "
                                        "https://*.corp.test, http://[::1]:8080",
                              err, sizeof(err)),
                 0, "%s", err);
    cr_assert(allowed(&c, "https://app.example.com"));
    cr_assert(allowed(&c, "HTTPS://APP.EXAMPLE.COM"));
    cr_assert_not(allowed(&c, "https://app.example.com:8443"));
    cr_assert_not(allowed(&c, "http://app.example.com"));
    cr_assert(allowed(&c, "http://localhost"));
    cr_assert(allowed(&c, "http://localhost:3000"));
    cr_assert(allowed(&c, "https://x.corp.test"));
    cr_assert(allowed(&c, "https://a.b.corp.test"));
    cr_assert_not(allowed(&c, "https://corp.test"));
    cr_assert_not(allowed(&c, "https://evilcorp.test"));
    cr_assert(allowed(&c, "http://[::1]:8080"));
    cr_assert_not(allowed(&c, "null"));
    cr_assert_not(allowed(&c, ""));
}

Test(cors, star_allows_real_origins_only)
{
    struct cg_cors c;
    char err[128];
    cr_assert_eq(cg_cors_init(&c, true, "*", err, sizeof(err)), 0);
    cr_assert(allowed(&c, "https://anything.example"));
    cr_assert_not(allowed(&c, "null"));
    cr_assert_not(allowed(&c, "file://"));
}

Test(cors, disabled_allows_nothing)
{
    struct cg_cors c;
    char err[128];
    cr_assert_eq(cg_cors_init(&c, false, "*", err, sizeof(err)), 0);
    cr_assert_not(allowed(&c, "https://a.example"));
}

Test(cors, malformed_entries_are_reported)
{
    struct cg_cors c;
    char err[128];
    cr_assert_eq(cg_cors_init(&c, true, "https://ok.example, example.com", err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "example.com"));
    cr_assert_eq(cg_cors_init(&c, true, "https://x.example/path", err, sizeof(err)), -1);
}
