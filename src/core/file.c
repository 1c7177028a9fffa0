/*
 * file.c — atomic file replacement (see file.h).
 */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Makes the rename durable; a failure is worth a warning, not an error (the data is already safe). */
static void sync_dir(const char *path, const char *label)
{
	char *dir = sk_strdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, strlen(dir) + 1, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (fsync(fd) == -1 && errno != EINVAL))
		fprintf(stderr, "sekisho: warning: %s: cannot sync directory %s: %s\n", label, dir, strerror(errno));
	if (fd != -1)
		close(fd);
	free(dir);
}

static bool changed(const char *path, const struct stat *keep)
{
	struct stat now;
	int sr = stat(path, &now);
	if (!keep)
		return sr == 0;
	return sr == -1 || now.st_ino != keep->st_ino || now.st_dev != keep->st_dev || now.st_size != keep->st_size ||
	       now.st_mtim.tv_sec != keep->st_mtim.tv_sec || now.st_mtim.tv_nsec != keep->st_mtim.tv_nsec;
}

int sk_file_read(const char *path, size_t max, char **buf, size_t *len, struct sk_err *err)
{
	int rc = -1;
	char *b = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return sk_err_set(err, path, 0, 0, "cannot read: %s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) == -1) {
		sk_err_set(err, path, 0, 0, "fstat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		sk_err_set(err, path, 0, 0, "not a regular file of at most %zu KiB", max >> 10);
		goto out;
	}
	size_t cap = (size_t)st.st_size + 1, n = 0;
	b = sk_malloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			/* The file grew while being read: follow it up to the cap. */
			if (cap > max) {
				sk_err_set(err, path, 0, 0, "larger than %zu KiB", max >> 10);
				goto out;
			}
			cap *= 2;
			b = sk_realloc(b, cap);
		}
		ssize_t r = read(fd, b + n, cap - n - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			sk_err_set(err, path, 0, 0, "read: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
	rc = 0;
out:
	free(b);
	close(fd);
	return rc;
}

int sk_file_replace(const char *path, const char *label, const struct stat *keep, const void *buf, size_t len,
		    struct sk_err *err)
{
	int rc = -1, fd = -1;
	bool created = false;
	size_t pl = strlen(path);
	char *tmp = sk_malloc(pl + sizeof(".tmp"));
	memcpy(tmp, path, pl);
	memcpy(tmp + pl, ".tmp", sizeof(".tmp"));

	/* Someone else's edit since we read the file would be lost by the rename: refuse instead. */
	if (changed(path, keep)) {
		sk_err_set(err, label, 0, 0, "changed while being edited; left as it is now");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		if (errno == EEXIST)
			sk_err_set(err, label, 0, 0, "%s already exists (another edit in progress, or a leftover to remove)",
				   tmp);
		else
			sk_err_set(err, label, 0, 0, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	created = true;
	if (keep) {
		/* Owner first: fchown may clear set-id bits that fchmod then restores. */
		if ((keep->st_uid != geteuid() || keep->st_gid != getegid()) &&
		    fchown(fd, keep->st_uid, keep->st_gid) == -1)
			fprintf(stderr, "sekisho: warning: %s: cannot keep owner %u:%u: %s\n", label,
				(unsigned)keep->st_uid, (unsigned)keep->st_gid, strerror(errno));
		if (fchmod(fd, keep->st_mode & 07777) == -1) {
			sk_err_set(err, label, 0, 0, "fchmod %s: %s", tmp, strerror(errno));
			goto out;
		}
	}
	if (write_all(fd, buf, len) == -1 || fsync(fd) == -1) {
		sk_err_set(err, label, 0, 0, "write %s: %s", tmp, strerror(errno));
		goto out;
	}
	int cr = close(fd);
	fd = -1;
	if (cr == -1) {
		sk_err_set(err, label, 0, 0, "close %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) == -1) {
		sk_err_set(err, label, 0, 0, "rename %s: %s", tmp, strerror(errno));
		goto out;
	}
	created = false;
	sync_dir(path, label);
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (created)
		unlink(tmp);
	free(tmp);
	return rc;
}
