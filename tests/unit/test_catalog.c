/* test_catalog.c: aliases resolve to a Codex model and effort. */
#include <criterion/criterion.h>
#include <string.h>
#include "core/catalog.h"

static const struct cg_model *find(const struct cg_catalog *c, const char *id)
{
    return cg_catalog_find(c, id, strlen(id));
}

Test(catalog, resolves_the_node_aliases)
{
    struct cg_catalog c;
    cr_assert_eq(cg_catalog_init(&c, "gpt-5.5"), 0);
    const struct cg_model *m = find(&c, "codex-5");
    cr_assert_str_eq(m->target, "gpt-5.5");
    cr_assert_null(m->effort);
    cr_assert_str_eq(find(&c, "codex-5-low")->effort, "low");
    cr_assert_str_eq(find(&c, "codex-5-high")->target, "gpt-5.5");
    m = find(&c, "gpt-5.2-codex-XH");
    cr_assert_str_eq(m->target, "gpt-5.2");
    cr_assert_str_eq(m->effort, "xhigh");
    cr_assert_str_eq(find(&c, "GPT-5.2-CODEX-m")->id, "gpt-5.2-codex-M");
    cr_assert_null(find(&c, "gpt-4o"));
    cr_assert_null(find(&c, "codex-5-"));
    cr_assert_str_eq(cg_catalog_default(&c)->id, "gpt-5.5");
}

Test(catalog, default_model_that_is_an_alias_is_listed_once)
{
    struct cg_catalog c;
    cr_assert_eq(cg_catalog_init(&c, "gpt-5.2"), 0);
    size_t n = 0;
    for (size_t i = 0; i < c.count; i++)
        n += strcmp(c.models[i].id, "gpt-5.2") == 0;
    cr_assert_eq(n, 1);
    const char *targets[8];
    cr_assert_eq(cg_catalog_targets(&c, targets, 8), 1);
}

Test(catalog, rejects_empty_and_huge_defaults)
{
    struct cg_catalog c;
    cr_assert_eq(cg_catalog_init(&c, ""), -1);
    char big[300];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(cg_catalog_init(&c, big), -1);
}

Test(catalog, efforts_are_validated)
{
    cr_assert(cg_catalog_effort_valid("low", 3));
    cr_assert(cg_catalog_effort_valid("xhigh", 5));
    cr_assert_not(cg_catalog_effort_valid("LOW", 3));
    cr_assert_not(cg_catalog_effort_valid("minimal", 7));
    cr_assert_not(cg_catalog_effort_valid("lo", 2));
}

Test(catalog, list_json_is_the_openai_shape)
{
    struct cg_catalog c;
    cr_assert_eq(cg_catalog_init(&c, "m1"), 0);
    struct cg_buf out;
    cg_buf_init(&out, 1 << 16);
    cr_assert_eq(cg_catalog_model_json(&c, find(&c, "m1"), &out), 0);
    cr_assert_str_eq(out.data, "{\"id\":\"m1\",\"object\":\"model\",\"created\":1735689600,"
                               "\"owned_by\":\"codex-gateway\"}");
    cg_buf_reset(&out);
    cr_assert_eq(cg_catalog_list_json(&c, NULL, NULL, &out), 0);
    cr_assert(strncmp(out.data, "{\"object\":\"list\",\"data\":[{\"id\":\"m1\"", 34) == 0);
    cg_buf_dispose(&out);
}
