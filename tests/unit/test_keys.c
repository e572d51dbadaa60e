/* test_keys.c: the keys-file parser and its errors, digest matching, the allow-list, the
 * hash-key text, and a reload that keeps the old keys when the new file is bad. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "http/keys.h"

#define BETA  "sha256:f44e64e75f3948e9f73f8dfa94721c4ce8cbb4f265c4790c702b2d41cfbf2753"
#define ALPHA "sha256:8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8"

static struct cg_keys *parse_ok(const char *text)
{
    struct cg_keys *k = NULL;
    char err[256];
    cr_assert_eq(cg_keys_parse(text, strlen(text), &k, err, sizeof(err)), 0, "%s", err);
    cr_assert_not_null(k);
    return k;
}

static const char *parse_error(const char *text)
{
    static char err[256];
    struct cg_keys *k = NULL;
    cr_assert_eq(cg_keys_parse(text, strlen(text), &k, err, sizeof(err)), -1, "%s", text);
    cr_assert_null(k);
    return err;
}

Test(keys, lines_give_labels_digests_and_options)
{
    struct cg_keys *k = parse_ok("# team keys\n"
                                 "\n"
                                 "ci-bot " BETA " rpm=30 tpm=250000 concurrent=2   # the CI\r\n"
                                 "  alice\t" ALPHA " models=codex-5,gpt-5.5 admin\n");
    cr_assert_eq(k->count, 2);
    cr_assert_str_eq(k->entries[0].label, "ci-bot");
    cr_assert_eq(k->entries[0].rpm, 30);
    cr_assert_eq(k->entries[0].tpm, 250000);
    cr_assert_eq(k->entries[0].concurrent, 2);
    cr_assert_null(k->entries[0].models);
    cr_assert_not(k->entries[0].admin);
    cr_assert_eq(k->entries[0].digest[0], 0xf4);
    cr_assert_eq(k->entries[0].digest[31], 0x53);
    cr_assert_str_eq(k->entries[1].label, "alice");
    cr_assert_str_eq(k->entries[1].models, "codex-5,gpt-5.5");
    cr_assert(k->entries[1].admin);
    cr_assert_eq(k->entries[1].rpm, 0);
    cg_keys_free(k);
    k = parse_ok("# nothing but comments\n\n   \n");
    cr_assert_eq(k->count, 0);
    cg_keys_free(k);
}

Test(keys, a_bad_line_is_named_with_its_number)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"a " BETA "\nb sha256:abc\n", "line 2: expected sha256:"},
        {"a " BETA "\nb beta\n", "line 2: expected sha256:"},
        {"a\n", "line 1: expected sha256:"},
        {"a " BETA "x\n", "line 1: expected sha256:"},
        {"a sha256:g44e64e75f3948e9f73f8dfa94721c4ce8cbb4f265c4790c702b2d41cfbf2753\n",
         "line 1: the sha256: digest has a character that is not a hex digit"},
        {"a/b " BETA "\n", "line 1: a label is"},
        {"a " BETA " rpm=0\n", "line 1: rpm= needs a number from 1 to 1000000"},
        {"a " BETA " rpm=-1\n", "line 1: rpm= needs a number"},
        {"a " BETA " rpm=12x\n", "line 1: rpm= needs a number"},
        {"a " BETA " tpm=0\n", "line 1: tpm= needs a number from 1 to 1000000000"},
        {"a " BETA " tpm=1000000001\n", "line 1: tpm= needs a number from 1 to 1000000000"},
        {"a " BETA " concurrent=\n", "line 1: concurrent= needs a number"},
        {"a " BETA " models=\n", "line 1: models= needs"},
        {"a " BETA " models=a,,b\n", "line 1: models= has an empty model id"},
        {"a " BETA " models=a,\n", "line 1: models= has an empty model id"},
        {"a " BETA " models=a models=b\n", "line 1: unknown or repeated option \"models=b\""},
        {"a " BETA " rate=1\n", "line 1: unknown or repeated option \"rate=1\""},
        {"a " BETA "\na " ALPHA "\n", "line 2: the label a is used twice"},
        {"a " BETA "\nb " BETA "\n", "line 2: the same key is listed as a and b"},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(cases); i++) {
        const char *err = parse_error(cases[i].text);
        cr_assert_eq(strncmp(err, cases[i].want, strlen(cases[i].want)), 0, "%s\ngot: %s",
                     cases[i].text, err);
    }
    static const char nul[] = "a " BETA "\n\0";
    struct cg_keys *k = NULL;
    char err[128];
    cr_assert_eq(cg_keys_parse(nul, sizeof(nul) - 1, &k, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "NUL"));
}

Test(keys, a_key_matches_the_entry_of_its_digest)
{
    struct cg_keys *k = parse_ok("a " ALPHA "\nb " BETA "\n");
    const struct cg_key_entry *e = cg_keys_match(k, CG_STR("beta"));
    cr_assert_not_null(e);
    cr_assert_str_eq(e->label, "b");
    cr_assert_str_eq(cg_keys_match(k, CG_STR("alpha"))->label, "a");
    cr_assert_null(cg_keys_match(k, CG_STR("bet")));
    cr_assert_null(cg_keys_match(k, CG_STR(BETA)), "the digest itself is not a key");
    cr_assert_null(cg_keys_match(NULL, CG_STR("beta")));
    cg_keys_free(k);
}

Test(keys, the_allow_list_names_whole_model_ids)
{
    cr_assert(cg_keys_model_allowed(NULL, "anything"));
    cr_assert(cg_keys_model_allowed("codex-5,gpt-5.5", "codex-5"));
    cr_assert(cg_keys_model_allowed("codex-5,gpt-5.5", "gpt-5.5"));
    cr_assert_not(cg_keys_model_allowed("codex-5,gpt-5.5", "codex"));
    cr_assert_not(cg_keys_model_allowed("codex-5,gpt-5.5", "codex-5,gpt-5.5"));
    cr_assert_not(cg_keys_model_allowed("codex-5", ""));
}

Test(keys, hash_text_is_the_sha256_form_the_file_takes)
{
    char text[CG_KEYS_HASH_TEXT_BYTES];
    cg_keys_hash_text("beta", 4, text);
    cr_assert_str_eq(text, BETA);
}

static char dir[64];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    cr_assert_eq(fclose(f), 0);
}

Test(keys, a_bad_reload_keeps_the_keys_in_use)
{
    snprintf(dir, sizeof(dir), "/tmp/cg-keys-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/keys", dir);
    write_file(path, "a " ALPHA "\n");
    const struct cg_keys *in_use = NULL;
    struct cg_keys_watch w;
    char err[256];
    cr_assert_eq(cg_keys_watch_start(&w, NULL, path, &in_use, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cg_keys_match(in_use, CG_STR("alpha"))->label, "a");

    write_file(path, "a " ALPHA "\nb sha256:nothex\n");
    cr_assert_eq(cg_keys_watch_reload(&w), -1);
    cr_assert_not_null(cg_keys_match(in_use, CG_STR("alpha")), "the old table stays");
    cr_assert_null(cg_keys_match(in_use, CG_STR("beta")));

    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(cg_keys_watch_reload(&w), -1, "a missing file keeps the keys too");
    cr_assert_not_null(cg_keys_match(in_use, CG_STR("alpha")));

    write_file(path, "b " BETA "\n");
    cr_assert_eq(cg_keys_watch_reload(&w), 0);
    cr_assert_null(cg_keys_match(in_use, CG_STR("alpha")), "a good file replaces the table");
    cr_assert_str_eq(cg_keys_match(in_use, CG_STR("beta"))->label, "b");
    cg_keys_watch_stop(&w);
    cr_assert_null(in_use);
    unlink(path);
    rmdir(dir);
}

Test(keys, a_bad_file_at_start_is_an_error)
{
    const struct cg_keys *in_use = NULL;
    struct cg_keys_watch w;
    char err[256];
    cr_assert_eq(cg_keys_watch_start(&w, NULL, "/nonexistent/keys", &in_use, err, sizeof(err)),
                 -1);
    cr_assert_not_null(strstr(err, "/nonexistent/keys: No such file"), "%s", err);
    cr_assert_null(in_use);
}
