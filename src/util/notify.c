/* notify.c: the sd_notify datagram, as systemd documents it: no credentials or descriptors are
 * passed, so a plain sendto() is the whole protocol. */
#include "util/notify.h"
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "util/log.h"
#define LOG_COMPONENT "notify"

int cg_notify_send(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (name == NULL || name[0] == '\0')
        return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len >= sizeof(sa.sun_path)) {
        cg_log_warn("NOTIFY_SOCKET: not a unix socket path or @name; \"%s\" not sent", state);
        return -EINVAL;
    }
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = 0;
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
               salen) < 0) {
        rc = -errno;
        cg_log_warn("NOTIFY_SOCKET: sending \"%s\": %s", state, strerror(errno));
    }
    close(fd);
    return rc;
}
