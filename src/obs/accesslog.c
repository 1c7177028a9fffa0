/*
 * accesslog.c — JSON access log lines (see accesslog.h). Strings are escaped; values that come from the
 * viewer (host, path, method) are capped so one line always fits the buffer.
 */
#include "obs/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

int sk_accesslog_open(struct sk_log_buf *lb, const char *path)
{
	lb->len = 0;
	lb->fd = -1;
	if (!path || strcmp(path, "off") == 0)
		return 0;
	if (strcmp(path, "-") == 0) {
		lb->fd = dup(STDOUT_FILENO);
		return lb->fd == -1 ? -1 : 0;
	}
	lb->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	return lb->fd == -1 ? -1 : 0;
}

void sk_accesslog_close(struct sk_log_buf *lb)
{
	sk_accesslog_flush(lb);
	if (lb->fd >= 0)
		close(lb->fd);
	lb->fd = -1;
}

size_t sk_json_escape(char *out, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			if (o + 2 > cap)
				break;
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			if (o + 6 > cap)
				break;
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[ch >> 4];
			out[o + 5] = hex[ch & 15];
			o += 6;
		} else {
			if (o + 1 > cap)
				break;
			out[o++] = (char)ch;
		}
	}
	return o;
}

/* Appends "key":"value", with value escaped and capped at 1 KiB of input. */
static size_t put_str(char *out, size_t cap, const char *key, const char *v, size_t len, bool comma)
{
	if (cap < 64)
		return 0;
	size_t o = (size_t)snprintf(out, cap, "%s\"%s\":", comma ? "," : "", key);
	if (!v) {
		memcpy(out + o, "null", 4);
		return o + 4;
	}
	out[o++] = '"';
	o += sk_json_escape(out + o, cap - o - 2, v, SK_MIN(len, (size_t)1024));
	out[o++] = '"';
	return o;
}

void sk_accesslog_write(struct sk_log_buf *lb, const struct sk_access_entry *e)
{
	if (lb->fd < 0)
		return;
	if (sizeof(lb->data) - lb->len < 8192)
		sk_accesslog_flush(lb);
	char *out = lb->data + lb->len;
	size_t cap = sizeof(lb->data) - lb->len;
	char ts[32];
	sk_time_rfc3339(e->start_wall_ms, ts, sizeof(ts));
	size_t o = 0;
	o += (size_t)snprintf(out + o, cap - o, "{\"ts\":\"%s\"", ts);
	o += put_str(out + o, cap - o, "client", e->client, e->client ? strlen(e->client) : 0, true);
	o += put_str(out + o, cap - o, "listener", e->listener, e->listener ? strlen(e->listener) : 0, true);
	o += put_str(out + o, cap - o, "distribution", e->distribution,
		     e->distribution ? strlen(e->distribution) : 0, true);
	if (e->behavior >= 0)
		o += (size_t)snprintf(out + o, cap - o, ",\"behavior\":%d", e->behavior);
	else
		o += (size_t)snprintf(out + o, cap - o, ",\"behavior\":null");
	o += put_str(out + o, cap - o, "method", e->method.len ? e->method.ptr : NULL, e->method.len, true);
	o += put_str(out + o, cap - o, "host", e->host.len ? e->host.ptr : NULL, e->host.len, true);
	o += put_str(out + o, cap - o, "path", e->path.len ? e->path.ptr : NULL, e->path.len, true);
	o += (size_t)snprintf(out + o, cap - o,
			      ",\"status\":%d,\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
			      ",\"duration_ms\":%" PRIu64,
			      e->status, e->bytes_in, e->bytes_out, e->duration_ms);
	o += put_str(out + o, cap - o, "upstream", e->upstream, e->upstream ? strlen(e->upstream) : 0, true);
	o += put_str(out + o, cap - o, "user", e->user, e->user ? strlen(e->user) : 0, true);
	o += put_str(out + o, cap - o, "auth", e->auth, e->auth ? strlen(e->auth) : 0, true);
	o += put_str(out + o, cap - o, "reason", e->reason, e->reason ? strlen(e->reason) : 0, true);
	o += put_str(out + o, cap - o, "protocol", e->protocol, e->protocol ? strlen(e->protocol) : 0, true);
	o += put_str(out + o, cap - o, "policy", e->policy, e->policy ? strlen(e->policy) : 0, true);
	o += put_str(out + o, cap - o, "policy_sid", e->policy_sid, e->policy_sid ? strlen(e->policy_sid) : 0, true);
	if (e->target) { /* egress lines only (DESIGN §5a) */
		o += put_str(out + o, cap - o, "target", e->target, strlen(e->target), true);
		o += put_str(out + o, cap - o, "address", e->address, e->address ? strlen(e->address) : 0, true);
	}
	if (o + 2 >= cap)
		return; /* cannot happen with the caps above; drop the line rather than write half of it */
	out[o++] = '}';
	out[o++] = '\n';
	lb->len += o;
}

void sk_accesslog_flush(struct sk_log_buf *lb)
{
	size_t off = 0;
	while (off < lb->len && lb->fd >= 0) {
		ssize_t n = write(lb->fd, lb->data + off, lb->len - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			sk_error("access log write: %s", strerror(errno));
			break;
		}
		off += (size_t)n;
	}
	lb->len = 0;
}
