/* test_home_check.c: the CODEX_HOME decisions (auth.json mode, strict or not, unusable
 * directory) and the checks on a real temporary directory. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backend/home_check.h"
#include "temp_db.h"

static struct temp_db tmp;

static void setup(void)
{
    temp_db_make(&tmp, "cg-home-check");
}

static void teardown(void)
{
    temp_db_remove(&tmp);
}

TestSuite(home_check, .init = setup, .fini = teardown);

static void write_auth(const char *dir, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/auth.json", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "{}", 2), 2);
    close(fd);
    cr_assert_eq(chmod(path, mode), 0);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

Test(home_check, any_group_or_other_bit_is_too_open)
{
    cr_assert_eq(cg_home_check_classify(0600, true), CG_HOME_AUTH_OK);
    cr_assert_eq(cg_home_check_classify(0400, true), CG_HOME_AUTH_OK);
    cr_assert_eq(cg_home_check_classify(0644, true), CG_HOME_AUTH_TOO_OPEN);
    cr_assert_eq(cg_home_check_classify(0640, true), CG_HOME_AUTH_TOO_OPEN);
    cr_assert_eq(cg_home_check_classify(0604, true), CG_HOME_AUTH_TOO_OPEN);
    cr_assert_eq(cg_home_check_classify(0620, true), CG_HOME_AUTH_TOO_OPEN);
    cr_assert_eq(cg_home_check_classify(0600, false), CG_HOME_AUTH_UNREADABLE);
}

Test(home_check, too_open_auth_warns_and_strict_refuses)
{
    struct cg_home_check r = {.writable = true, .auth = CG_HOME_AUTH_TOO_OPEN, .auth_mode = 0644};
    char msg[1024];
    cr_assert_eq(cg_home_check_verdict(&r, "/h", false, msg, sizeof(msg)), CG_HOME_WARN);
    cr_assert_not_null(strstr(msg, "/h/auth.json"), "%s", msg);
    cr_assert_not_null(strstr(msg, "mode 0644"), "%s", msg);
    cr_assert_not_null(strstr(msg, "chmod 600 /h/auth.json"), "%s", msg);
    cr_assert_eq(cg_home_check_verdict(&r, "/h", true, msg, sizeof(msg)), CG_HOME_REFUSED);
    cr_assert_not_null(strstr(msg, "PROXY_STRICT_HOME"), "%s", msg);
}

Test(home_check, good_or_absent_auth_is_usable_even_when_strict)
{
    char msg[256] = "x";
    struct cg_home_check ok = {.writable = true, .auth = CG_HOME_AUTH_OK, .auth_mode = 0600};
    cr_assert_eq(cg_home_check_verdict(&ok, "/h", true, msg, sizeof(msg)), CG_HOME_USABLE);
    cr_assert_str_empty(msg);
    struct cg_home_check absent = {.writable = true, .auth = CG_HOME_AUTH_ABSENT};
    cr_assert_eq(cg_home_check_verdict(&absent, "/h", true, msg, sizeof(msg)), CG_HOME_USABLE);
}

Test(home_check, unwritable_home_is_refused_without_strict)
{
    struct cg_home_check r = {.writable = false};
    snprintf(r.error, sizeof(r.error), "CODEX_HOME: /h is not writable");
    char msg[256];
    cr_assert_eq(cg_home_check_verdict(&r, "/h", false, msg, sizeof(msg)), CG_HOME_REFUSED);
    cr_assert_str_eq(msg, "CODEX_HOME: /h is not writable");
}

Test(home_check, unreadable_auth_warns)
{
    struct cg_home_check r = {.writable = true, .auth = CG_HOME_AUTH_UNREADABLE, .auth_mode = 0600};
    char msg[512];
    cr_assert_eq(cg_home_check_verdict(&r, "/h", true, msg, sizeof(msg)), CG_HOME_WARN);
    cr_assert_not_null(strstr(msg, "cannot be read"), "%s", msg);
}

Test(home_check, creates_a_missing_home_0700_and_leaves_no_probe)
{
    char home[192];
    snprintf(home, sizeof(home), "%s/a/b/home", tmp.dir);
    struct cg_home_check r;
    cr_assert_eq(cg_home_check_run(home, &r), 0, "%s", r.error);
    cr_assert(r.created);
    cr_assert(r.writable);
    cr_assert_eq(r.auth, CG_HOME_AUTH_ABSENT);
    struct stat st;
    cr_assert_eq(stat(home, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0700);
    cr_assert_eq(count_entries(home), 0, "the probe file was removed");

    cr_assert_eq(cg_home_check_run(home, &r), 0);
    cr_assert_not(r.created, "an existing home is not reported as created");
}

Test(home_check, home_under_a_regular_file_is_unusable)
{
    char file[192];
    snprintf(file, sizeof(file), "%s/file", tmp.dir);
    int fd = open(file, O_WRONLY | O_CREAT, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
    char home[256];
    snprintf(home, sizeof(home), "%s/home", file);
    struct cg_home_check r;
    cr_assert_eq(cg_home_check_run(home, &r), -1);
    cr_assert_not(r.writable);
    cr_assert_not_null(strstr(r.error, "CODEX_HOME: cannot create"), "%s", r.error);
    char msg[1024];
    cr_assert_eq(cg_home_check_verdict(&r, home, false, msg, sizeof(msg)), CG_HOME_REFUSED);
}

Test(home_check, reads_auth_json_mode)
{
    struct cg_home_check r;
    write_auth(tmp.dir, 0644);
    cr_assert_eq(cg_home_check_run(tmp.dir, &r), 0);
    cr_assert_eq(r.auth, CG_HOME_AUTH_TOO_OPEN);
    cr_assert_eq(r.auth_mode, 0644);
    write_auth(tmp.dir, 0600);
    cg_home_check_auth(tmp.dir, &r);
    cr_assert_eq(r.auth, CG_HOME_AUTH_OK);
    cr_assert_eq(r.auth_mode, 0600);
}

Test(home_check, json_names_path_state_and_mode)
{
    struct cg_buf b;
    cg_buf_init(&b, 4096);
    struct cg_home_check r = {.writable = true, .auth = CG_HOME_AUTH_TOO_OPEN, .auth_mode = 0644};
    cr_assert_eq(cg_home_check_json(&r, "/h", &b), 0);
    cr_assert_str_eq(b.data, "{\"path\":\"/h\",\"created\":false,\"writable\":true,"
                             "\"auth_json\":\"too_open\",\"mode\":\"0644\",\"error\":null}");
    cg_buf_dispose(&b);
    cg_buf_init(&b, 4096);
    struct cg_home_check absent = {.created = true, .writable = true};
    cr_assert_eq(cg_home_check_json(&absent, "/h", &b), 0);
    cr_assert_str_eq(b.data, "{\"path\":\"/h\",\"created\":true,\"writable\":true,"
                             "\"auth_json\":\"absent\",\"mode\":null,\"error\":null}");
    cg_buf_dispose(&b);
}

Test(home_check, a_home_others_may_write_in_warns_and_strict_refuses)
{
    char home[192];
    snprintf(home, sizeof(home), "%s/shared", tmp.dir);
    cr_assert_eq(mkdir(home, 0700), 0);
    cr_assert_eq(chmod(home, 0777), 0);
    struct cg_home_check r;
    cr_assert_eq(cg_home_check_run(home, &r), 0, "%s", r.error);
    cr_assert(r.dir_open);
    cr_assert_not(r.dir_foreign);
    cr_assert_eq(r.dir_mode, 0777);
    char msg[1024];
    cr_assert_eq(cg_home_check_verdict(&r, home, false, msg, sizeof(msg)), CG_HOME_WARN);
    cr_assert_not_null(strstr(msg, "writable by group or others (mode 0777"), "%s", msg);
    cr_assert_eq(cg_home_check_verdict(&r, home, true, msg, sizeof(msg)), CG_HOME_REFUSED);
    cr_assert_eq(chmod(home, 0700), 0);
    cr_assert_eq(cg_home_check_run(home, &r), 0);
    cr_assert_eq(cg_home_check_verdict(&r, home, true, msg, sizeof(msg)), CG_HOME_USABLE, "%s",
                 msg);
}

Test(home_check, a_home_of_another_user_warns)
{
    struct cg_home_check r = {
        .writable = true, .dir_foreign = true, .dir_mode = 0700, .dir_uid = 4242};
    char msg[1024];
    cr_assert_eq(cg_home_check_verdict(&r, "/h", false, msg, sizeof(msg)), CG_HOME_WARN);
    cr_assert_not_null(strstr(msg, "owned by another user (mode 0700, owner uid 4242)"), "%s", msg);
    cr_assert_eq(cg_home_check_verdict(&r, "/h", true, msg, sizeof(msg)), CG_HOME_REFUSED);
}
