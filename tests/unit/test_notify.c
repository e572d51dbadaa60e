/* test_notify.c: the sd_notify datagram reaches a socket named by NOTIFY_SOCKET, a path or an
 * abstract "@name", and nothing is sent without one. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "util/notify.h"

static int bound_socket(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    cr_assert_eq(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
        0, "bind: %s", strerror(errno));
    return fd;
}

static void expect_message(int fd, const char *want)
{
    char got[64] = {0};
    ssize_t n = recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT);
    cr_assert_eq(n, (ssize_t)strlen(want), "recv: %zd", n);
    cr_assert_str_eq(got, want);
}

Test(notify, sends_to_a_socket_path)
{
    char dir[] = "/tmp/cg-notify-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/sock", dir);
    int fd = bound_socket(path);
    setenv("NOTIFY_SOCKET", path, 1);
    cr_assert_eq(cg_notify_send("READY=1"), 0);
    expect_message(fd, "READY=1");
    cr_assert_eq(cg_notify_send("STOPPING=1"), 0);
    expect_message(fd, "STOPPING=1");
    close(fd);
    unlink(path);
    rmdir(dir);
}

Test(notify, sends_to_an_abstract_socket)
{
    char name[64];
    snprintf(name, sizeof(name), "@cg-notify-unit-%d", (int)getpid());
    int fd = bound_socket(name);
    setenv("NOTIFY_SOCKET", name, 1);
    cr_assert_eq(cg_notify_send("READY=1"), 0);
    expect_message(fd, "READY=1");
    close(fd);
}

Test(notify, nothing_without_a_socket_and_an_error_for_a_bad_name)
{
    unsetenv("NOTIFY_SOCKET");
    cr_assert_eq(cg_notify_send("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "relative/name", 1);
    cr_assert_eq(cg_notify_send("READY=1"), -EINVAL);
    setenv("NOTIFY_SOCKET", "/nonexistent-dir-cg/sock", 1);
    cr_assert_lt(cg_notify_send("READY=1"), 0, "a named socket nobody listens on is an error");
}
