/*
 * file.h — replacing a file atomically, for the CLI commands that rewrite operator files (users, API
 * keys, IP sets): readers see the old file or the new one, never half of one.
 */
#ifndef SK_FILE_H
#define SK_FILE_H

#include <sys/stat.h>

#include "core/core.h"

/*
 * Replaces path with buf[0..len): writes PATH.tmp (created exclusively, so a concurrent edit or a stale
 * leftover is noticed, never overwritten), keeps the owner and mode of keep (the file as it was read;
 * NULL for a new file, created 0600), fsyncs, renames over path and fsyncs the directory.
 * It refuses, leaving everything as it is, when the file changed since keep was taken (inode, size,
 * mtime) or, with keep NULL, appeared meanwhile. label names the file in messages (as the operator typed
 * it). Returns 0, or -1 with err filled.
 */
int sk_file_replace(const char *path, const char *label, const struct stat *keep, const void *buf, size_t len,
		    struct sk_err *err);

#endif
