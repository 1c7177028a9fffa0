/*
 * sdnotify.h — telling systemd (Type=notify) that the service is ready, reloading or stopping.
 */
#ifndef SK_SDNOTIFY_H
#define SK_SDNOTIFY_H

/* Sends state ("READY=1", "STOPPING=1", …) to $NOTIFY_SOCKET when it is set. 0, or -1 (logged). */
int sk_sd_notify(const char *state);
/* "RELOADING=1" with the MONOTONIC_USEC that newer systemd versions expect. */
int sk_sd_notify_reloading(void);

#endif
