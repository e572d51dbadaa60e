/* test_gather.c: a loop iteration's writes held together: the first piece kept as it came,
 * later ones joined in order, the cap refusing whole pieces, take and drop leaving it empty. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "util/alloc.h"
#include "util/gather.h"

static char *piece(const char *s)
{
    return cg_xstrndup(s, strlen(s));
}

Test(gather, one_piece_is_handed_back_as_it_came)
{
    struct cg_gather g;
    cg_gather_init(&g, 64);
    cr_assert(cg_gather_is_empty(&g));
    char *p = piece("data: a\n\n");
    cr_assert(cg_gather_add(&g, p, 9));
    cr_assert_eq(cg_gather_len(&g), 9);
    size_t len = 0;
    char *out = cg_gather_take(&g, &len);
    cr_assert_eq(out, p, "no copy of a lone piece");
    cr_assert_eq(len, 9);
    cr_assert(cg_gather_is_empty(&g));
    free(out);
    cr_assert_null(cg_gather_take(&g, &len));
    cr_assert_eq(len, 0);
    cg_gather_dispose(&g);
}

Test(gather, pieces_join_in_order)
{
    struct cg_gather g;
    cg_gather_init(&g, 64);
    cr_assert(cg_gather_add(&g, piece("one,"), 4));
    cr_assert(cg_gather_add(&g, piece("two,"), 4));
    cr_assert(cg_gather_add(&g, piece("three"), 5));
    cr_assert_eq(cg_gather_len(&g), 13);
    size_t len = 0;
    char *out = cg_gather_take(&g, &len);
    cr_assert_eq(len, 13);
    cr_assert(memcmp(out, "one,two,three", 13) == 0);
    free(out);
    /* Usable again after a take. */
    cr_assert(cg_gather_add(&g, piece("x"), 1));
    cr_assert(cg_gather_add(&g, piece("y"), 1));
    out = cg_gather_take(&g, &len);
    cr_assert(len == 2 && memcmp(out, "xy", 2) == 0);
    free(out);
    cg_gather_dispose(&g);
}

Test(gather, a_piece_past_the_cap_is_refused_whole)
{
    struct cg_gather g;
    cg_gather_init(&g, 8);
    cr_assert(cg_gather_add(&g, piece("abcde"), 5));
    cr_assert_not(cg_gather_add(&g, piece("fghij"), 5));
    cr_assert_eq(cg_gather_len(&g), 5, "what was gathered before stays");
    cr_assert(cg_gather_add(&g, piece("fg"), 2));
    cr_assert_not(cg_gather_add(&g, piece("hij"), 3));
    size_t len = 0;
    char *out = cg_gather_take(&g, &len);
    cr_assert(len == 7 && memcmp(out, "abcdefg", 7) == 0);
    free(out);
    cg_gather_dispose(&g);
}

Test(gather, drop_forgets_everything)
{
    struct cg_gather g;
    cg_gather_init(&g, 64);
    cr_assert(cg_gather_add(&g, piece("lone"), 4));
    cg_gather_drop(&g);
    cr_assert(cg_gather_is_empty(&g));
    cr_assert(cg_gather_add(&g, piece("a"), 1));
    cr_assert(cg_gather_add(&g, piece("b"), 1));
    cg_gather_drop(&g);
    cr_assert(cg_gather_is_empty(&g));
    cr_assert_eq(cg_gather_len(&g), 0);
    cr_assert(cg_gather_add(&g, piece("again"), 5)); /* disposed with a piece held: no leak */
    cg_gather_dispose(&g);
}
