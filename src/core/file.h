/*
 * file.h — reading an operator's file whole (users, API keys, policies, key sets), and replacing one
 * atomically for the CLI commands that rewrite them (users, API keys, IP sets): readers see the old file
 * or the new one, never half of one.
 */
#ifndef SK_FILE_H
#define SK_FILE_H

#include <sys/stat.h>

#include "core/core.h"

/*
 * Reads the regular file path whole, up to max bytes (a file that grows past it while being read is
 * refused too). Returns 0 with *buf (NUL-terminated, the caller frees) and *len, or -1 with err filled
 * ("cannot read: …", "not a regular file of at most …").
 */
int sk_file_read(const char *path, size_t max, char **buf, size_t *len, struct sk_err *err);

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
