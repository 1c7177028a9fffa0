/*
 * fuzz_h2.c — libFuzzer target for the HTTP/2 viewer side (src/proxy/h2_server.c, h2_stream.c): the input
 * is what a viewer sends after the client preface, fed through the real path (a connection accepted on an
 * h2c listener of a real snapshot, over a socketpair) so that nghttp2's input path runs with sekisho's
 * callbacks: header decoding into the stream's buffer, the header-list limit, cookies, the body ring and
 * its window, resets, the flood and CONTINUATION guards, GOAWAY. Streams that complete run their exchange
 * (routing, then an origin that refuses connections: 502). The loop turns a bounded number of times, then
 * whatever is left is closed; ASan/UBSan and sekisho's asserts are the oracle.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "obs/metrics.h"
#include "proxy/proxy.h"
#include "proxy/worker.h"

static const char CONFIG[] = "workers: 1\n"
			     "access_log: { path: off }\n"
			     "listeners:\n  - { name: web, listen: \"127.0.0.1:1\", h2c: true }\n"
			     "origins:\n  app: { servers: [\"127.0.0.1:1\"], connect_timeout: 1s }\n"
			     "limits: { h2: { max_concurrent_streams: 8, max_header_list: 4KiB } }\n"
			     "distributions:\n  - name: main\n    aliases: [app.test]\n"
			     "    behaviors: [ { path: \"/static/*\", origin: app }, { path: \"*\", origin: app } ]\n";

static struct sk_worker *w;

static void setup(void)
{
	char path[] = "/tmp/fuzz_h2_XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, CONFIG, sizeof(CONFIG) - 1) != (ssize_t)(sizeof(CONFIG) - 1))
		abort();
	close(fd);
	struct sk_err err;
	struct sk_config *cfg = sk_config_load(path, &err);
	unlink(path);
	if (!cfg) {
		fprintf(stderr, "fuzz_h2: config: %s\n", err.msg);
		abort();
	}
	struct sk_runtime *rt = sk_runtime_build(cfg, 1, &err);
	if (!rt) {
		fprintf(stderr, "fuzz_h2: runtime: %s\n", err.msg);
		abort();
	}
	sk_metrics_set_workers(1);
	w = sk_worker_new(0, rt);
	sk_runtime_unref(rt); /* the worker holds its own reference */
	if (!w)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	if (!w)
		setup();
	if (size > 60000)
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		abort();
	int big = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (write(sv[1], preface, sizeof(preface) - 1) != (ssize_t)(sizeof(preface) - 1) ||
	    (size && write(sv[1], data, size) != (ssize_t)size))
		abort();
	shutdown(sv[1], SHUT_WR);
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(40000), .sin_addr = { htonl(0x7f000001) } };
	sk_conn_accept(w, sv[0], (const struct sockaddr *)&peer, sizeof(peer), 0);
	char sink[65536];
	for (int i = 0; i < 50 && w->conns; i++) {
		sk_loop_run_once(w->loop, 0);
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
	}
	while (w->conns)
		sk_conn_force_close(w->conns);
	sk_loop_run_once(w->loop, 0); /* deferred frees */
	close(sv[1]);
	return 0;
}
