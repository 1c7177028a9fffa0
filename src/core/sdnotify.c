/*
 * sdnotify.c — readiness and state for systemd (Type=notify), without libsystemd: one datagram per
 * state to the unix socket named by $NOTIFY_SOCKET (a path, or an abstract name written with a leading
 * '@'), as sd_notify(3) documents the protocol. Without the variable, nothing is sent.
 */
#include "core/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

int sk_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return 0;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path)) {
		sk_warn("NOTIFY_SOCKET '%s' is not a unix socket path; systemd is not notified", path);
		return -1;
	}
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		sk_warn("sd_notify: socket: %s", strerror(errno));
		return -1;
	}
	ssize_t w = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	int rc = 0;
	if (w == -1) {
		sk_warn("sd_notify to %s: %s", path, strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}

int sk_sd_notify_reloading(void)
{
	/* systemd 253+ (Type=notify-reload) wants the monotonic time with RELOADING=1; older ones ignore it. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char msg[80];
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	return sk_sd_notify(msg);
}
