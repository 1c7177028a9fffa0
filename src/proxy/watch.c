/*
 * watch.c — the files that change without a reload (DESIGN §3): the users file (or htpasswd) and the
 * API-key file named by the snapshot in service. `sekisho passwd` and `sekisho apikey` rewrite them by
 * rename, so the DIRECTORIES are watched (inotify), not the files: a watch on a file would stay on the
 * replaced inode. Any event in a watched directory only marks a check as due; the check compares each
 * file's identity (device, inode, size, mtime, ctime, as stat follows symbolic links) with what it was when
 * the snapshot read it, so unrelated files in the same directory (the access log) cause no reload, and a
 * symbolic link swapped to another target (a Kubernetes ConfigMap) does. The same check also runs every
 * few seconds without any event, for file systems where inotify sees nothing (NFS).
 *
 * Invariants: main thread only; nothing here reads or parses the files (the server reloads the snapshot);
 * a failure to watch is logged once and leaves the periodic check. Events are debounced: the check runs
 * once the directory has been quiet for DEBOUNCE_MS, so a file written in several steps is read whole.
 */
#include "proxy/watch.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define DEBOUNCE_MS 100
#define PERIODIC_MS 2000 /* the check without events: NFS and watches that could not be set */

static struct {
	int fd; /* inotify, or -1 */
	size_t n;
	char *paths[SK_WATCH_MAX_FILES];
	struct sk_file_id ids[SK_WATCH_MAX_FILES];
	bool due;           /* an event arrived: check once it is quiet */
	int64_t last_event; /* ms */
	int64_t last_check; /* ms */
} W = { .fd = -1 };

static struct sk_file_id id_of(const char *path)
{
	struct sk_file_id id = { 0 };
	struct stat st;
	if (stat(path, &st) == 0)
		id = (struct sk_file_id){ .exists = true, .dev = (uint64_t)st.st_dev, .ino = (uint64_t)st.st_ino,
					  .size = (int64_t)st.st_size, .mtime = st.st_mtim, .ctime = st.st_ctim };
	return id;
}

static bool id_eq(const struct sk_file_id *a, const struct sk_file_id *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* The watched files of cfg, in a fixed order; returns how many. */
static size_t files_of(const struct sk_config *cfg, const char *out[SK_WATCH_MAX_FILES])
{
	size_t n = 0;
	const char *users = cfg->users.file ? cfg->users.file : cfg->users.htpasswd;
	if (users)
		out[n++] = users;
	if (cfg->api_keys.file)
		out[n++] = cfg->api_keys.file;
	return n;
}

static void clear(void)
{
	if (W.fd != -1)
		close(W.fd);
	W.fd = -1;
	for (size_t i = 0; i < W.n; i++)
		free(W.paths[i]);
	W.n = 0;
	W.due = false;
}

void sk_watch_note(const struct sk_config *cfg, struct sk_watch_mark *mark)
{
	const char *paths[SK_WATCH_MAX_FILES];
	mark->n = files_of(cfg, paths);
	for (size_t i = 0; i < mark->n; i++)
		mark->ids[i] = id_of(paths[i]);
}

void sk_watch_arm(const struct sk_config *cfg, const struct sk_watch_mark *mark, int64_t now_ms)
{
	clear();
	const char *paths[SK_WATCH_MAX_FILES];
	W.n = files_of(cfg, paths);
	SK_ASSERT(W.n == mark->n);
	for (size_t i = 0; i < W.n; i++) {
		W.paths[i] = sk_strdup(paths[i]);
		W.ids[i] = mark->ids[i];
	}
	W.last_check = now_ms;
	/* A change made between the mark and these new watches sent its events to nobody: compare at the
	 * next tick instead of waiting for the periodic check. */
	W.due = true;
	W.last_event = now_ms - DEBOUNCE_MS;
	if (W.n == 0)
		return;
	W.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (W.fd == -1) {
		sk_warn("inotify_init1: %s; users and API-key files are checked every %d s instead", strerror(errno),
			PERIODIC_MS / 1000);
		return;
	}
	for (size_t i = 0; i < W.n; i++) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", W.paths[i]);
		char *slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0'; /* config paths are absolute */
		/* Not IN_MODIFY: a log file in the same directory would wake this for every line. */
		if (inotify_add_watch(W.fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
							 IN_ATTRIB | IN_ONLYDIR) == -1)
			sk_warn("inotify_add_watch %s: %s; %s is checked every %d s instead", dir, strerror(errno),
				W.paths[i], PERIODIC_MS / 1000);
	}
}

const char *sk_watch_poll(int64_t now_ms)
{
	if (W.n == 0)
		return NULL;
	if (W.fd != -1) {
		/* The events themselves do not matter, only that one came: drain them all. */
		char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		ssize_t r;
		while ((r = read(W.fd, buf, sizeof(buf))) > 0) {
			W.due = true;
			W.last_event = now_ms;
		}
	}
	bool check = (W.due && now_ms - W.last_event >= DEBOUNCE_MS) || now_ms - W.last_check >= PERIODIC_MS;
	if (!check)
		return NULL;
	W.due = false;
	W.last_check = now_ms;
	for (size_t i = 0; i < W.n; i++) {
		struct sk_file_id id = id_of(W.paths[i]);
		if (!id_eq(&id, &W.ids[i]))
			return W.paths[i];
	}
	return NULL;
}

void sk_watch_stop(void)
{
	clear();
}
