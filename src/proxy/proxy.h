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
#include "core/freelist.h"
#include "core/reason.h"
#include "egress/egress.h"
#include "http/h1.h"
#include "loop/loop.h"
#include "net/endpoint.h"
#include "net/ipset.h"
#include "net/splice.h"
#include "obs/accesslog.h"
#include "obs/flowlog.h"
#include "proxy/route.h"
#include "tls/tls.h"

#define SK_MAX_HEADERS 128
#define SK_MAX_LINE 16384
#define SK_MAX_WORKERS 256
#define SK_ADMIN_LISTENER UINT16_MAX /* listener index of admin connections (/metrics, /healthz) */
/* Listener indexes of egress entries (DESIGN §5a): SK_EGRESS_LISTENER + the entry's index. */
#define SK_EGRESS_LISTENER 0xF000u
static inline bool sk_listener_is_egress(uint16_t l)
{
	return l >= SK_EGRESS_LISTENER && l != SK_ADMIN_LISTENER;
}

/* ---- runtime snapshot (runtime.c) ---- */

struct sk_origin_rt {
	int root_fd; /* static origins: O_PATH directory; -1 otherwise */
	struct sk_tls_client *tls; /* origins with `tls:`; NULL otherwise */
	uint16_t mslot;            /* metrics slot (obs/metrics.h) */
};

struct sk_listener_rt {
	int fds[SK_MAX_WORKERS]; /* one SO_REUSEPORT socket per worker, owned by the server's table */
	struct sk_tls_server *tls; /* listeners with `tls:`; NULL otherwise */
	uint16_t mslot;            /* metrics slot (obs/metrics.h) */
};

/*
 * A behavior as the request path uses it, resolved when the snapshot is built (route lookup returns it):
 * nothing per request reads or scans the config for these.
 */
struct sk_behavior_rt {
	const struct sk_behavior *cfg;       /* NULL: the admin listener's */
	const struct sk_distribution *dist;  /* NULL: the admin listener's */
	const struct sk_pipeline *pipeline;  /* NULL: no checks (an open admin listener) */
	const struct sk_origin *origin;      /* NULL: the admin listener's */
	const struct sk_origin_rt *ort;
	uint16_t dist_mslot;                 /* metrics slot of its distribution */
	bool session;                        /* takes login sessions: a refused browser goes to the login page */
	uint64_t idle_timeout_ms;            /* tunnels after a WebSocket upgrade */
	char challenge[300];                 /* a 401's WWW-Authenticate value; "" when Basic is not taken */
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
	struct sk_pipeline **pipelines;   /* one per behavior, parallel to behaviors */
	struct sk_behavior_rt *behaviors; /* every behavior compiled, distribution by distribution */
	size_t *beh_base;                 /* per distribution: index of its first behavior */
	size_t n_pipelines;
	uint16_t *dist_mslot;             /* per distribution: its metrics slot (obs/metrics.h) */
	struct sk_pipeline *admin_pipeline; /* admin.access compiled; NULL when the admin listener is open */
	struct sk_behavior_rt admin_behavior; /* the admin listener's */
	/* Egress entries (DESIGN §5a), parallel to cfg->egress: sockets and slots, the compiled allow-list
	 * and guard, and a behavior each (its access pipeline, 407 challenge, tunnel idle timeout). */
	struct sk_listener_rt *egress_l;
	struct sk_egress_rt *egress;
	struct sk_pipeline **egress_pipelines;
	struct sk_behavior_rt *egress_behaviors;
	struct sk_behavior *egress_beh_cfg; /* what the header policy reads: every field forwarded, Host kept */
};

/* The compiled behavior of d that a normalised path selects, or NULL (404). */
const struct sk_behavior_rt *sk_runtime_behavior(const struct sk_runtime *rt, const struct sk_distribution *d,
						 struct sk_slice path);

/* The metrics slot of a listener index of rt (SK_ADMIN_LISTENER included). */
static inline uint16_t sk_runtime_listener_mslot(const struct sk_runtime *rt, uint16_t listener)
{
	if (listener == UINT16_MAX)
		return rt->admin.mslot;
	if (sk_listener_is_egress(listener))
		return rt->egress_l[listener - SK_EGRESS_LISTENER].mslot;
	return rt->listeners[listener].mslot;
}

/* The name of a listener index of rt, for logs. */
static inline const char *sk_runtime_listener_name(const struct sk_runtime *rt, uint16_t listener)
{
	if (listener == UINT16_MAX)
		return "admin";
	if (sk_listener_is_egress(listener))
		return rt->cfg->egress[listener - SK_EGRESS_LISTENER].name;
	return rt->cfg->listeners[listener].name;
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

/* ---- buffers (worker.c; struct sk_buf is core/buf.h) ---- */

/* ---- upstream pool (upstream.c) ---- */

struct sk_exchange;

/* What a connection last reported to the flow log (flow.c). */
struct sk_flowstate {
	bool enabled;          /* the snapshot it was accepted under has a flow log */
	int64_t since_s;       /* accept, then the last report (Unix seconds) */
	uint32_t segs_in, segs_out;
	uint64_t bytes_in, bytes_out;
};

struct sk_upconn {
	struct sk_endpoint ep;         /* ep.ssl: TLS toward the origin, or NULL */
	struct sk_timer idle_timer;
	struct sk_upconn *next;        /* idle list link */
	struct sk_server_pool *pool;
	struct sk_exchange *owner;     /* NULL while idle */
	bool connected;
	uint32_t uses;                 /* requests sent on this connection */
	struct sk_flowstate flow;      /* egress destinations: what it last reported to the flow log */
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
	uint16_t mslot;        /* metrics slot of the address (sekisho_upstream_up) */
	uint64_t fail_ms;      /* fail_timeout of the origin that last picked it */
	struct sk_worker *w;
	/* Egress destinations (sk_upstream_egress_pool): freed when nothing refers to it any more. */
	bool egress;
	uint32_t refs;         /* connections (idle or busy) and exchanges that hold it */
	struct sk_server_pool *eg_next, *eg_prev;
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
	struct sk_freelist bufs;         /* struct sk_buf (sk_buf_get/put) */
	struct sk_pipe_pool pipes;       /* tunnels between plain endpoints (net/splice.h) */
	struct sk_freelist exchanges;    /* struct sk_exchange (sk_exchange_get/put) */
	struct sk_freelist h2streams;    /* struct sk_h2stream (h2_stream.c) */
	uint64_t trim_at_ms;             /* the next trim of the two lists above (after_round) */
	struct sk_server_pool **pools;   /* by server address */
	size_t n_pools;
	struct sk_server_pool *egress_pools; /* egress destinations (list; freed with their last reference) */
	struct sk_egress_worker *egress; /* this worker's DNS resolvers (proxy/egress.c) */
	uint32_t rr;                     /* round-robin cursor */
	uint32_t n_conns;
	struct sk_conn *conns;           /* all live connections (for draining) */
	struct sk_log_buf *access_log;
	struct sk_verifier *verifier;    /* password verifications of this worker (access/verify.h) */
	struct sk_banlist *bans;         /* this worker's copy of the bans (net/banlist.h) */
	struct sk_flowbuf flow;          /* flow-log records not yet handed to the writer (flow.c) */
	struct sk_timer flow_timer;      /* the end of the current flow-log window */
	atomic_uint flow_req, flow_ack;  /* the main thread asks for the open window (SIGUSR1, SIGTERM) */
	int access_log_fd;
};

struct sk_buf *sk_buf_get(struct sk_worker *w);
void sk_buf_put(struct sk_worker *w, struct sk_buf *b);

/* ---- connections (conn.c: lifetime; h1_server.c: the HTTP/1.1 viewer side; tunnel.c) ---- */

/* Where a viewer connection is (h1_server.c drives it). */
enum sk_conn_phase {
	SK_CP_IDLE = 0,  /* keep-alive: waiting for the first byte of a request; holds no buffer */
	SK_CP_HEAD,      /* reading a request head (after the TLS handshake) */
	SK_CP_EXCHANGE,  /* the exchange runs: routing, access, the origin's response head (exchange.h) */
	SK_CP_WRITE,     /* writing the response */
	SK_CP_TUNNEL,    /* bytes both ways (WebSocket after 101, tcp listeners) */
	SK_CP_LINGER,    /* our side is shut: waiting briefly for the viewer to close */
	SK_CP_H2,        /* HTTP/2 (h2_server.c): the connection's streams each run an exchange */
};

/* Bytes both ways between two endpoints (tunnel.c): after a 101, for tcp listeners, for CONNECT. */
struct sk_tunnel {
	struct sk_buf *ab, *ba;        /* a → b and b → a; given back while they hold nothing */
	struct sk_pipe *abp, *bap;     /* the same through pipes (both ends plain); given back when empty */
	struct sk_out a_out, b_out;    /* pending toward a and toward b */
	bool a_eof, b_eof;             /* a (b) has ended its direction */
	bool a_shut, b_shut;           /* our direction toward a (b) is shut */
	bool tuned;                    /* plain ends: both sockets' unsent bytes capped (net/splice.h) */
};

/* The HTTP/1.1 server side's state for the request in progress (h1_server.c), kept in the exchange's
 * front area (struct sk_exchange.front_state): an idle connection holds none of it. */
struct sk_h1s {
	struct sk_out vout;            /* pending toward the viewer */
	struct sk_buf *fbuf;           /* a static file's bytes on their way through TLS */
	uint8_t req_body;              /* the viewer's framing: NONE, LENGTH or CHUNKED */
	uint8_t resp_out;              /* the framing written: NONE, LENGTH, CHUNKED or CLOSE */
	bool req_body_done;
	bool req_last;                 /* chunked: the last chunk was decoded; the body ends with rbuf's data */
	bool sent_continue;
	bool resp_any;                 /* something of the response body was queued or written */
	bool resp_done;
	bool resp_last_chunk;          /* the final "0\r\n\r\n" is still to be queued */
	bool keep_alive;
	bool viewer_closes;            /* the request itself asked to close (Connection: close, HTTP/1.0) */
	uint32_t dec_end;              /* chunked: rbuf holds decoded data up to here */
	uint64_t req_remaining;
	uint64_t file_left;
	uint64_t last_io_ms;
	struct sk_h1_chunked req_chunk;
	char chunk_line[24];
	char interim[32];              /* "HTTP/1.1 100 Continue" on its way */
	struct sk_tunnel tun;          /* after a 101, and tcp listeners */
};

struct sk_conn {
	struct sk_endpoint ep;         /* ep.ssl: TLS listeners: the viewer's TLS, else NULL */
	struct sk_timer timer;
	struct sk_worker *w;
	struct sk_runtime *rt;
	struct sk_conn *prev, *next;   /* worker's list */
	struct sk_buf *rbuf;           /* bytes from the viewer */
	struct sk_exchange *ex;        /* the request in progress, or NULL */
	struct sockaddr_in6 peer;      /* sockaddr_in or sockaddr_in6 */
	uint16_t listener;             /* index into rt->cfg->listeners */
	uint8_t phase;                 /* enum sk_conn_phase */
	bool tls;
	struct sk_flowstate flow;
	struct sk_h2 *h2;              /* phase SK_CP_H2: the HTTP/2 session and its streams (h2_server.c) */
};

void sk_conn_accept(struct sk_worker *w, int fd, const struct sockaddr *peer, socklen_t plen,
		    uint16_t listener);
/* Closes every idle keep-alive connection and marks the others to close after their request. */
void sk_conn_drain_all(struct sk_worker *w);
/* Closes c now, whatever its state (shutdown after the drain period). */
void sk_conn_force_close(struct sk_conn *c);
/* Runs c's state machine (h1_server.c). */
void sk_conn_run(struct sk_conn *c);
/* Closes c now (conn.c): logs what is in progress, frees everything. */
void sk_conn_close(struct sk_conn *c);
/* A keep-alive connection moves to its worker's newest snapshot when its next request begins (conn.c). */
bool sk_conn_follow_snapshot(struct sk_conn *c);
/* Gives back what the HTTP/1.1 state of the request in progress holds (tunnel and file buffers). */
void sk_h1s_release(struct sk_conn *c);
/* Viewer events and deadlines (h1_server.c). */
void sk_h1s_on_io(struct sk_io *io, uint32_t ev);
void sk_h1s_on_timer(struct sk_timer *t);
/* Starts serving a new connection: a TLS handshake and a head, or a tcp listener's tunnel. */
void sk_h1s_start(struct sk_conn *c);

/* h2_server.c: the HTTP/2 viewer side (DESIGN §2 "HTTP/2"). */
/* True when c's listener takes prior-knowledge h2c and b starts like the client preface (len bytes of it
 * at least; *need says whether more must be read to decide). */
bool sk_h2_preface_start(const struct sk_conn *c, const char *p, size_t len, bool *need);
/* Switches c to HTTP/2 (ALPN chose h2, or an h2c preface arrived: what c->rbuf holds is fed first). */
void sk_h2_start(struct sk_conn *c);
/* Reads, runs the streams, writes. Returns 0 to wait, 1 when the session has ended (a lingering close),
 * -1 to close c now. sk_conn_run calls it in phase SK_CP_H2. */
int sk_h2_run(struct sk_conn *c);
/* The connection's timer (idle, handshake, the end of a drain). */
void sk_h2_on_timer(struct sk_conn *c);
/* Graceful shutdown: GOAWAY with the last stream id; in-flight streams end, then c closes. */
void sk_h2_drain(struct sk_conn *c);
/* Frees the session and every stream (their exchanges are finished as abandoned). */
void sk_h2_free(struct sk_conn *c);

/* tunnel.c */
void sk_tunnel_start(struct sk_tunnel *t, struct sk_buf *ab, struct sk_buf *ba, const struct sk_out *to_a);
/* Moves bytes both ways. Returns 1 when both directions have ended (close), 0 to wait, -1 on an error.
 * *progress is set when a byte moved; the byte counts grow. */
int sk_tunnel_run(struct sk_tunnel *t, struct sk_worker *w, struct sk_endpoint *a, struct sk_endpoint *b,
		  uint64_t *a_to_b, uint64_t *b_to_a, bool *progress);
/* Gives back every buffer and pipe that holds nothing still to be sent (a silent tunnel holds none). */
void sk_tunnel_release(struct sk_tunnel *t, struct sk_worker *w);
/* Frees the tunnel's buffers and pipes (at close; a pipe with bytes still in it is closed). */
void sk_tunnel_free(struct sk_tunnel *t, struct sk_worker *w);

/* flow.c (see there) */
void sk_flow_accept(struct sk_conn *c);
void sk_flow_report(struct sk_worker *w, struct sk_conn *c, int64_t win_start, int64_t win_end);
void sk_flow_reject(struct sk_worker *w, int fd, const struct sockaddr_storage *peer, uint16_t listener);
void sk_flow_window(struct sk_worker *w, int64_t win_start, int64_t win_end);
/* The proxy → target connection of an egress exchange: its flow state starts when it is connected, and
 * it reports for a window (win_start < 0: the open window, when the exchange lets it go). */
void sk_flow_upstream_start(struct sk_exchange *ex);
void sk_flow_upstream(struct sk_worker *w, struct sk_exchange *ex, int64_t win_start, int64_t win_end);
/* (Re)arms w's window timer for its current snapshot. */
void sk_flow_arm(struct sk_worker *w);
/* Reports the open window of every connection of w and hands the records to the writer. */
void sk_flow_flush(struct sk_worker *w);

/* upstream.c */
struct sk_server_pool *sk_upstream_pool(struct sk_worker *w, const struct sk_addr *addr, uint64_t tls_id,
				       uint32_t max_idle);
/* Takes an idle connection (reused = true) or starts a new non-blocking connect, with TLS through tls
 * when not NULL (its id must be the pool's). NULL on socket errors. */
struct sk_upconn *sk_upstream_get(struct sk_server_pool *p, struct sk_exchange *owner, bool fresh, bool *reused,
				  const struct sk_tls_client *tls);
/* Returns a healthy connection to its pool (or closes it when the pool is full). */
void sk_upstream_release(struct sk_upconn *u);
void sk_upstream_close(struct sk_upconn *u);
/* Picks the next server of an origin (round robin, skipping ones marked failed). */
struct sk_server_pool *sk_upstream_pick(struct sk_worker *w, const struct sk_origin *o, uint64_t tls_id);
/*
 * The pool of an egress destination (a checked address, port included), with a reference for the caller
 * (sk_upstream_egress_unref). Pools of destinations are created on demand and freed with their last
 * reference (each connection holds one while it lives, idle ones until their idle timer): destinations are
 * many, so none outlives its connections, and none has a metrics slot.
 */
struct sk_server_pool *sk_upstream_egress_pool(struct sk_worker *w, const struct sockaddr_storage *addr,
					       uint32_t max_idle);
void sk_upstream_egress_unref(struct sk_server_pool *p);
void sk_upstream_mark_failed(struct sk_server_pool *p);


/* ---- state store (statesvc.c) ---- */
/* Opens the state store when cfg is the first config that needs one. Returns 0, or -1 with err filled. */
int sk_statesvc_prepare(const struct sk_config *cfg, struct sk_err *err);
void sk_statesvc_stop(void);
/* False when the last periodic scan of the state store failed (it is down); true without a store. */
bool sk_statesvc_reachable(void);
/* Queues the removal of a ban (ip, canonical text) or of an account's lockout tally, done by the sync
 * thread within a second. -1 when there is no state store. */
int sk_statesvc_request_delete(bool lockout, const char *name);

/* ---- server (server.c) ---- */
int sk_server_run(const char *config_path);

#endif
