/* notify.h: systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram to the
 * unix socket named by $NOTIFY_SOCKET ("@name" is an abstract socket). Without that variable
 * (no Type=notify supervisor) it does nothing. */
#ifndef CG_UTIL_NOTIFY_H
#define CG_UTIL_NOTIFY_H

#include "util/common.h"

/* Sends `state` ("READY=1", "STOPPING=1", ...). 0 when sent or when nobody listens (no
 * NOTIFY_SOCKET); a negative errno when the socket is named but the send failed. Never blocks. */
int cg_notify_send(const char *state) CG_MUST_CHECK;

#endif
