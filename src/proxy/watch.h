/*
 * watch.h — the users and API-key files, watched so that a change applies without SIGHUP (watch.c).
 * Main thread only (server.c).
 */
#ifndef SK_PROXY_WATCH_H
#define SK_PROXY_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"

/* What a watched file was when a snapshot read it: stat's identity, following symbolic links. */
struct sk_file_id {
	bool exists;
	uint64_t dev, ino;
	int64_t size;
	struct timespec mtime, ctime;
};

#define SK_WATCH_MAX_FILES 2

/* The watched files of one config, noted before its snapshot reads them (so that a change made while it
 * reads shows as a difference at the next check, never as no change). */
struct sk_watch_mark {
	size_t n;
	struct sk_file_id ids[SK_WATCH_MAX_FILES];
};

/* Notes the users file (or htpasswd) and the API-key file of cfg as they are now. */
void sk_watch_note(const struct sk_config *cfg, struct sk_watch_mark *mark);
/* Watches the files of cfg from now on, against mark (taken by sk_watch_note on the same config). */
void sk_watch_arm(const struct sk_config *cfg, const struct sk_watch_mark *mark, int64_t now_ms);
/* Called at every tick of the main loop: the path of a watched file that differs from its mark
 * (debounced), or NULL. The string stays valid until the next sk_watch_arm or sk_watch_stop. */
const char *sk_watch_poll(int64_t now_ms);
void sk_watch_stop(void);

#endif
