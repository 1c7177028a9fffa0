/*
 * proxy.h — the serving side: the immutable runtime snapshot, workers, viewer connections, the upstream
 * pool and tunnels. Internal to src/proxy (and src/cli/run.c, which starts it).
 *
 * Threads: the main thread loads configs and builds snapshots; each worker thread owns an epoll loop
 * with its own listening sockets (SO_REUSEPORT), connections, upstream pools and buffers. A connection
 * lives on one worker from accept to close; it keeps the snapshot it was accepted under, moving to the
 * worker's newest one when a new request begins on it (conn.c, follow_snapshot).
 */
#ifndef SK_PROXY_H
#define SK_PROXY_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/uio.h>

#include "access/access.h"
#include "config/config.h"
#include "core/core.h"
#include "core/reason.h"
#include "http/h1.h"
#include "loop/loop.h"
#include "net/ipset.h"
#include "obs/accesslog.h"
#include "proxy/route.h"
#include "tls/tls.h"

#define SK_BUF_SIZE (32 * 1024)
#define SK_MAX_HEADERS 128
#define SK_MAX_LINE 16384
#define SK_MAX_WORKERS 256
#define SK_ADMIN_LISTENER UINT16_MAX /* listener index of admin connections (/metrics, /healthz) */

/* ---- runtime snapshot (runtime.c) ---- */

struct sk_origin_rt {
	int root_fd; /* static origins: O_PATH directory; -1 otherwise */
	struct sk_tls_client *tls; /* origins with `tls:`; NULL otherwise */
};

struct sk_listener_rt {
	int fds[SK_MAX_WORKERS]; /* one SO_REUSEPORT socket per worker, owned by the server's table */
	struct sk_tls_server *tls; /* listeners with `tls:`; NULL otherwise */
};

struct sk_runtime {
	atomic_uint refs;
	uint64_t generation;
	struct sk_config *cfg;
	struct sk_routes *routes;
	struct sk_ipset *trusted;
	struct sk_origin_rt *origins;     /* parallel to cfg->origins */
	struct sk_listener_rt *listeners; /* parallel to cfg->listeners */
	struct sk_listener_rt admin;      /* when cfg->admin.present */
	struct sk_tls_cert *certs;        /* parallel to cfg->certificates, all loaded */
	struct sk_h1_limits limits;       /* as configured: the reader caps them to what the buffers hold */
	uint32_t max_connections;         /* per worker: the configured value, or sk_max_connections_auto */
	struct sk_access_env access;      /* IP sets and the country database for the checks */
	struct sk_pipeline **pipelines;   /* one per behavior, see sk_runtime_pipeline */
	size_t *beh_base;                 /* per distribution: index of its first behavior */
	size_t n_pipelines;
};

/* The compiled access pipeline of a behavior of distribution d. */
static inline const struct sk_pipeline *sk_runtime_pipeline(const struct sk_runtime *rt,
							    const struct sk_distribution *d,
							    const struct sk_behavior *b)
{
	return rt->pipelines[rt->beh_base[d - rt->cfg->distributions] + (size_t)(b - d->behaviors)];
}

/* Builds a snapshot of generation (takes ownership of cfg) or returns NULL with err filled (and cfg
 * freed). Sockets are attached later. */
struct sk_runtime *sk_runtime_build(struct sk_config *cfg, uint64_t generation, struct sk_err *err);
/*
 * Everything `run` checks before it binds, without creating anything and without the state store: the
 * same build as sk_runtime_build (files named by the config must exist and parse: certificates and keys,
 * users, API keys, the country database, the TOTP key when mfa is required, key-file directories), then
 * freed. `check-config` and `run` share it, so they refuse the same configs with the same message.
 * Takes ownership of cfg. Returns 0, or -1 with err filled (CONFIG:LINE:COL at the key naming the file).
 */
int sk_runtime_check(struct sk_config *cfg, struct sk_err *err);
void sk_runtime_ref(struct sk_runtime *rt);
/* Logs a warning for each certificate of rt that expires within 30 days or has expired. */
void sk_runtime_warn_expiry(const struct sk_runtime *rt, int64_t now);
void sk_runtime_unref(struct sk_runtime *rt);

#define SK_MAX_CONNECTIONS_AUTO 20000
/* What `limits.max_connections` means when it is not set: 20000 per worker, or fewer so that the current
 * open-file limit holds them all (two descriptors a proxied connection, plus listeners and a margin). */
uint32_t sk_max_connections_auto(const struct sk_config *cfg, unsigned workers);
/* Descriptors that workers x max_connections need with the listeners and a margin. */
unsigned long long sk_open_files_needed(const struct sk_config *cfg, unsigned workers, uint32_t max_connections);

/*
 * A worker's reference to a snapshot and its count of connections on it (see worker.c). Only that worker
 * touches it until it is handed to sk_runtime_release_later, which queues the reference for the main
 * thread: the last unref frees IP tries, the country database and TLS contexts, work that must not stall
 * a worker (DESIGN §9).
 */
struct sk_snapref {
	struct sk_runtime *rt;
	uint32_t conns;
	struct sk_snapref *next; /* the worker's list, then the release queue */
};

/* Any thread: queues ref (its reference to ref->rt and the node itself) for sk_runtime_reap. Lock-free. */
void sk_runtime_release_later(struct sk_snapref *ref);
/* Main thread: drops every queued reference, freeing the snapshots whose last one it was. */
void sk_runtime_reap(void);
/* Marks the calling thread as a worker: a snapshot freed on it is a bug, caught by an assert. */
void sk_runtime_on_worker_thread(void);

/* ---- buffers (worker.c) ---- */

struct sk_buf {
	struct sk_buf *next; /* free-list link */
	uint32_t off;        /* first unconsumed byte */
	uint32_t len;        /* bytes filled */
	char data[SK_BUF_SIZE];
};

/* ---- upstream pool (upstream.c) ---- */

struct sk_conn;

struct sk_upconn {
	struct sk_io io;
	struct ssl_st *ssl;            /* TLS toward the origin, or NULL */
	struct sk_timer idle_timer;
	struct sk_upconn *next;        /* idle list link */
	struct sk_server_pool *pool;
	struct sk_conn *owner;         /* NULL while idle */
	bool can_read, can_write;
	bool hup;                      /* the peer has half-closed or failed: read until EOF */
	bool connected;
	bool tls_ready;                /* the TLS handshake is done */
	uint32_t uses;                 /* requests sent on this connection */
};

/* Per worker, per server address: idle connections (LIFO) and passive health. */
struct sk_server_pool {
	struct sk_addr addr;
	uint64_t tls_id;               /* 0 = plain; else sk_tls_client_id: part of the pool's key */
	struct ssl_session_st *tls_session; /* the last TLS session the server gave, for resumption */
	struct sk_upconn *idle;
	uint32_t n_idle;
	uint32_t max_idle;
	uint64_t failed_until; /* passive failure marking: skip until this time (ms) */
	struct sk_worker *w;
};

/* ---- worker (worker.c) ---- */

struct sk_worker {
	unsigned id;
	pthread_t thread;
	struct sk_loop *loop;
	struct sk_runtime *rt;           /* current snapshot */
	struct sk_snapref *snaps;        /* rt's first, then older ones that still have connections */
	_Atomic(struct sk_runtime *) next_rt; /* published by the main thread */
	atomic_bool stopping;
	atomic_bool reopen_logs;
	atomic_uint_fast64_t acked_generation;
	struct sk_io *listen_io;         /* one per listener of rt */
	size_t n_listen_io;
	struct sk_buf *free_bufs;
	unsigned n_free_bufs;
	struct sk_req *free_reqs;
	unsigned n_free_reqs;
	struct sk_server_pool **pools;   /* by server address */
	size_t n_pools;
	uint32_t rr;                     /* round-robin cursor */
	uint32_t n_conns;
	struct sk_conn *conns;           /* all live connections (for draining) */
	struct sk_log_buf *access_log;
	struct sk_verifier *verifier;    /* password verifications of this worker (access/verify.h) */
	struct sk_banlist *bans;         /* this worker's copy of the bans (net/banlist.h) */
	int access_log_fd;
};

struct sk_buf *sk_buf_get(struct sk_worker *w);
void sk_buf_put(struct sk_worker *w, struct sk_buf *b);

/* ---- connections (conn.c, tunnel.c) ---- */

/* Pending output toward one socket: up to 6 slices (a head, a framed chunk, the last chunk) that must stay valid until flushed. */
struct sk_out {
	struct iovec iov[6];
	uint8_t n;
};

enum sk_conn_state {
	SK_CS_IDLE = 0,    /* keep-alive: waiting for the first byte of a request; holds no buffer */
	SK_CS_HEAD,        /* reading a request head */
	SK_CS_ACCESS,      /* running the access pipeline (possibly waiting on the blocking pool) */
	SK_CS_CONNECT,     /* connecting to an upstream server */
	SK_CS_SEND,        /* sending the request head and body upstream */
	SK_CS_RESP_HEAD,   /* waiting for the response head */
	SK_CS_RESP_BODY,   /* streaming the response to the viewer */
	SK_CS_STATIC,      /* sending a static file */
	SK_CS_REPLY,       /* sending a response sekisho made itself (error page) */
	SK_CS_TUNNEL,      /* bytes both ways (WebSocket after 101, tcp listeners) */
	SK_CS_PORTAL,      /* a page under /.sekisho/: reading its form, then waiting on the pool */
};

struct sk_req;

struct sk_conn {
	struct sk_io io;
	struct ssl_st *ssl;            /* TLS listeners: the viewer's TLS, else NULL */
	struct sk_timer timer;
	struct sk_worker *w;
	struct sk_runtime *rt;
	struct sk_conn *prev, *next;   /* worker's list */
	struct sk_buf *rbuf;           /* bytes from the viewer */
	struct sk_req *req;            /* the request in progress, or NULL */
	struct sk_upconn *up;
	struct sockaddr_in6 peer;      /* sockaddr_in or sockaddr_in6 */
	uint16_t listener;             /* index into rt->cfg->listeners */
	uint8_t state;                 /* enum sk_conn_state */
	bool can_read, can_write;
	bool hup;                      /* the viewer has half-closed or failed: read until EOF */
	bool tls;
	bool tls_ready;                /* the TLS handshake is done */
	bool closing;                  /* close once the pending output is flushed */
};

void sk_conn_accept(struct sk_worker *w, int fd, const struct sockaddr *peer, socklen_t plen,
		    uint16_t listener);
/* Closes every idle keep-alive connection and marks the others to close after their request. */
void sk_conn_drain_all(struct sk_worker *w);
/* Closes c now, whatever its state (shutdown after the drain period). */
void sk_conn_force_close(struct sk_conn *c);
void sk_conn_free_reqs(struct sk_worker *w);

/* upstream.c */
struct sk_server_pool *sk_upstream_pool(struct sk_worker *w, const struct sk_addr *addr, uint64_t tls_id,
				       uint32_t max_idle);
/* Takes an idle connection (reused = true) or starts a new non-blocking connect, with TLS through tls
 * when not NULL (its id must be the pool's). NULL on socket errors. */
struct sk_upconn *sk_upstream_get(struct sk_server_pool *p, struct sk_conn *owner, bool fresh, bool *reused,
				  const struct sk_tls_client *tls);
/* Returns a healthy connection to its pool (or closes it when the pool is full). */
void sk_upstream_release(struct sk_upconn *u);
void sk_upstream_close(struct sk_upconn *u);
/* Picks the next server of an origin (round robin, skipping ones marked failed). */
struct sk_server_pool *sk_upstream_pick(struct sk_worker *w, const struct sk_origin *o, uint64_t tls_id);
void sk_upstream_mark_failed(struct sk_server_pool *p);
/* Called by the upstream socket's events while owned. */
void sk_conn_upstream_event(struct sk_conn *c);


/* ---- state store (statesvc.c) ---- */
/* Opens the state store when cfg is the first config that needs one. Returns 0, or -1 with err filled. */
int sk_statesvc_prepare(const struct sk_config *cfg, struct sk_err *err);
void sk_statesvc_stop(void);

/* ---- server (server.c) ---- */
int sk_server_run(const char *config_path);

#endif
