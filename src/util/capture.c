/* capture.c: posix_spawn with a pipe on stdout, polled against a deadline. */
#include "util/capture.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "util/clock.h"

enum { REAP_STEP_MS = 10 };

static uint64_t remaining_ms(uint64_t deadline)
{
    uint64_t now = cg_clock_mono_ms();
    return now >= deadline ? 0 : deadline - now;
}

/* Waits for `pid` until `deadline`, then kills it; its exit status, or -1 when it was killed. */
static int reap(pid_t pid, uint64_t deadline)
{
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (r < 0 && errno != EINTR)
            return -1;
        if (remaining_ms(deadline) == 0)
            break;
        struct timespec step = {0, REAP_STEP_MS * 1000000L};
        nanosleep(&step, NULL);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        continue;
    return -1;
}

int cg_capture_run(char *const *argv, char *const *env, uint64_t timeout_ms, char *out,
                   size_t outlen)
{
    out[0] = '\0';
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (e != 0) {
        close(fds[0]);
        snprintf(out, outlen, "%s", strerror(e));
        return -1;
    }
    uint64_t deadline = cg_clock_mono_ms() + timeout_ms;
    size_t len = 0;
    while (len + 1 < outlen) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int ready = poll(&p, 1, (int)remaining_ms(deadline));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            break;
        ssize_t n = read(fds[0], out + len, outlen - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fds[0]);
    out[len] = '\0';
    return reap(pid, deadline);
}
