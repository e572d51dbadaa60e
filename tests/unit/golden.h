/* golden.h: compares bytes with a file in tests/unit/data; CG_UPDATE_GOLDEN=1 rewrites the file
 * instead (then review the diff before committing). */
#ifndef CG_TESTS_GOLDEN_H
#define CG_TESTS_GOLDEN_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void check_golden(const char *name, const char *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", CG_TEST_DATA_DIR, name);
    const char *update = getenv("CG_UPDATE_GOLDEN");
    if (update && strcmp(update, "1") == 0) {
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f, "cannot write %s", path);
        fwrite(data, 1, len, f);
        fclose(f);
        return;
    }
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "missing golden file %s (run with CG_UPDATE_GOLDEN=1)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *want = malloc((size_t)n + 1);
    size_t got = fread(want, 1, (size_t)n, f);
    fclose(f);
    want[got] = '\0';
    cr_assert_eq(len, got, "%s: %zu bytes, golden has %zu:\n%.*s", name, len, got, (int)len, data);
    cr_assert(memcmp(want, data, len) == 0, "%s differs:\n--- got\n%.*s\n--- want\n%s", name,
              (int)len, data, want);
    free(want);
}

#endif
