/*
 * exchange.h — one request and its response, whatever protocol carries them (DESIGN §9).
 *
 * A protocol front (h1_server.c for HTTP/1.1; an HTTP/2 connection runs one exchange per stream) parses a
 * request into ex->hreq, fills the connection facts (worker, snapshot, listener, peer, TLS) and calls
 * sk_exchange_begin. The exchange routes it (Host → distribution, path → compiled behavior), runs the
 * access pipeline, and hands it to a handler: an origin (the HTTP/1.1 client, h1_client.c), a static
 * root, sekisho's own replies (errors, redirects), the login pages or the admin endpoints. Every handler
 * ends in a described response (ex->resp: status, fields, body source) that the front serialises with its
 * own writer; an origin's body is pulled through sk_exchange_body_peek/consume, a request body through the
 * front's ops. Nothing here knows the front's protocol.
 *
 * Deadlines: while the exchange runs it arms ex->timer (the front's: one timer per HTTP/1.1 connection,
 * one per HTTP/2 stream) and the front calls sk_exchange_timeout when it fires.
 */
#ifndef SK_EXCHANGE_H
#define SK_EXCHANGE_H

#include "proxy/forward.h"
#include "proxy/h1_client.h"
#include "proxy/proxy.h"

struct sk_exchange;

/* What sk_front_ops.body_peek and sk_exchange_body_peek answer. */
enum sk_body_step {
	SK_BODY_DATA = 0, /* *out holds the next bytes (valid until the next peek) */
	SK_BODY_WAIT,     /* nothing now: the exchange runs again when more can come */
	SK_BODY_END,      /* the body is complete */
	SK_BODY_BAD,      /* malformed framing (400 for a request body) */
	SK_BODY_GONE,     /* the peer went away or failed */
};

/* What the protocol carrying an exchange does for it. All calls are on the connection's worker thread. */
struct sk_front_ops {
	/* The request body, decoded (no framing). */
	enum sk_body_step (*body_peek)(struct sk_exchange *ex, struct sk_slice *out);
	void (*body_consume)(struct sk_exchange *ex, size_t n);
	/* Something the exchange waited on is ready (the blocking pool, an origin socket): run it again. */
	void (*wake)(struct sk_exchange *ex);
};

enum sk_ex_state {
	SK_EX_ACCESS = 0, /* running the access pipeline (possibly waiting on the blocking pool) */
	SK_EX_PORTAL,     /* a page under /.sekisho/: reading its form, then waiting on the pool */
	SK_EX_ORIGIN,     /* the HTTP/1.1 client works toward the origin (connect, send, response head) */
	SK_EX_RESPOND,    /* ex->resp is described: the front writes it */
	SK_EX_TUNNEL,     /* ex->resp is a 101 (or a tcp listener's connection): the front writes it, then tunnels */
	SK_EX_EGRESS,     /* an egress request waits for its DNS lookup (proxy/egress.c) */
};

/* What sk_exchange_run tells the front. */
enum sk_ex_step {
	SK_EXS_WAIT = 0, /* waiting: the front returns to the loop (the exchange will be woken) */
	SK_EXS_RESPOND,  /* ex->resp is ready (state RESPOND or TUNNEL) */
	SK_EXS_CLOSE,    /* give up on the connection (the viewer went away, or a response was cut short) */
};

/* Where a described response's body comes from. */
enum sk_resp_src {
	SK_SRC_NONE = 0,
	SK_SRC_MEM,    /* body_mem[0..resp.length) */
	SK_SRC_FILE,   /* file_fd from file_off, resp.length bytes (static roots; HTTP/1.1 uses sendfile) */
	SK_SRC_ORIGIN, /* pulled from the origin through sk_exchange_body_peek/consume */
};

#define SK_REPLY_FIELDS 24
#define SK_FRONT_STATE 512

/* Egress destinations (DESIGN §5a): idle connections kept per destination and worker, the connect
 * timeout, and the time to a response head (an egress entry has no origin to say them). */
#define SK_EGRESS_MAX_IDLE 64
#define SK_EGRESS_CONNECT_MS (10 * 1000)
#define SK_EGRESS_RESPONSE_MS (60 * 1000)

struct sk_exchange {
	void *free_link; /* the worker's free list (core/freelist.h) keeps its link here while it is free */
	/* ---- set by the front before sk_exchange_begin ---- */
	const struct sk_front_ops *front;
	void *front_ctx;
	struct sk_worker *w;
	struct sk_runtime *rt;
	struct sk_timer *timer;
	const struct sockaddr_in6 *peer;   /* sockaddr_in or sockaddr_in6 */
	struct ssl_st *ssl;                /* the viewer's TLS (client certificates), or NULL */
	uint16_t listener;                 /* index into rt->cfg->listeners, or SK_ADMIN_LISTENER */
	bool secure;                       /* the viewer's connection is TLS */
	struct sk_http_request hreq;       /* the request; hreq.headers points at headers[] below */
	/* ---- routing ---- */
	uint8_t state;                     /* enum sk_ex_state */
	const struct sk_distribution *dist;
	const struct sk_behavior_rt *brt;  /* the compiled behavior (NULL: sekisho answers itself) */
	const struct sk_origin *origin;
	struct sk_slice query;             /* into the request's memory, kept for the origin request */
	struct sk_slice viewer_host;       /* idem */
	bool head_method;
	bool upgrade;                      /* a WebSocket upgrade is forwarded */
	bool tcp_mode;                     /* a tcp listener's connection: no HTTP at all */
	bool close_after;                  /* the response ends the connection (the request was refused unread) */
	/* ---- the response ---- */
	struct sk_http_response resp;
	uint8_t resp_src;                  /* enum sk_resp_src */
	const char *body_mem;
	int file_fd;
	off_t file_off;
	struct sk_buf *hbuf;               /* the origin request head; or a reply's field text and body */
	uint32_t hbuf_used;                /* bytes of hbuf the handler still needs (a front may write after) */
	char *admin_body;                  /* an admin answer (heap) */
	/* ---- the origin ---- */
	struct sk_h1c client;
	/* ---- access ---- */
	struct sk_access_req areq;
	struct sk_portal *portal;
	char *form;                        /* a login form's body (heap, SK_PORTAL_MAX_BODY) */
	uint32_t form_len, form_want;
	unsigned astage;
	bool access_ready;                 /* the pipeline (or the portal) can run (again) */
	/* ---- egress (proxy/egress.c) ---- */
	bool egress;                       /* a request on an egress listener */
	bool egress_connect;               /* CONNECT: connect, answer 200, then tunnel */
	bool dns_done;                     /* the lookup answered (dns_status) */
	uint8_t dns_status;                /* enum sk_egress_dns */
	uint8_t n_eaddrs, eaddr_next;      /* checked addresses, and the next one to try */
	int16_t auth_idx[2];               /* fields renamed for the access checks (Proxy-Authorization...) */
	struct sk_egress_lookup *elookup;  /* the lookup in flight */
	/* ---- log ---- */
	enum sk_reason reason;
	int status;
	uint64_t start_ms, start_wall_ms, last_io_ms;
	uint64_t bytes_in, bytes_out;
	uint8_t method_len;
	char method[16];
	uint8_t host_len;
	char host[255];
	const char *auth_user;
	char auth_groups[512];
	/* ---- not cleared per request (sk_exchange_get): each is written before it is read. Ordered so that
	 * what every request touches (the front's state, the client, the first fields, the path's start)
	 * shares few pages: a tunnel keeps its exchange for its whole life. ---- */
	/* The front's own per-request state (HTTP/1.1: struct sk_h1s), opaque here; the front clears it. */
	_Alignas(16) unsigned char front_state[SK_FRONT_STATE];
	struct sk_client client_addr;
	struct sk_http_field headers[SK_MAX_HEADERS];
	struct sk_http_field resp_headers[SK_MAX_HEADERS]; /* the origin's response fields */
	uint32_t path_len;
	char path[SK_MAX_LINE];
	struct sk_http_field reply_fields[SK_REPLY_FIELDS];
	struct sk_jwt_ident jwt_ident;     /* areq.jwt_buf: written only when a token is verified */
	char cert_ids[320];                /* the viewer's client-certificate identities (areq.client_cert_ids) */
	struct sk_egress_target etarget;   /* egress: the target as read (valid when egress) */
	struct sockaddr_storage eaddrs[SK_EGRESS_MAX_ADDRS]; /* egress: the checked addresses (n_eaddrs) */
	char eaddr_text[64];               /* egress: the address logged (the refused or connected one) */
};

/* A cleared exchange from the worker's free list (or the heap). */
struct sk_exchange *sk_exchange_get(struct sk_worker *w);
/* An exchange for a request that begins on connection c: the connection facts filled (worker, snapshot,
 * listener, peer, TLS), the start times taken, front and timer set. */
struct sk_exchange *sk_exchange_open(struct sk_conn *c, const struct sk_front_ops *front, void *front_ctx,
				     struct sk_timer *timer);
/* Releases what ex holds (origin connection, buffers, files, pool jobs) and returns it to the free list. */
void sk_exchange_put(struct sk_exchange *ex);

/*
 * Starts a parsed request (ex->hreq and the connection facts set): routing, bans behind trusted proxies,
 * the pipeline's inputs. Then run it with sk_exchange_run.
 */
void sk_exchange_begin(struct sk_exchange *ex);
/* Starts a request that was refused before it could be parsed (the parser's 400/414/431/501, a 408). */
void sk_exchange_refuse(struct sk_exchange *ex, enum sk_reason reason);
/* Starts a tcp listener's connection: sk_exchange_run connects to the listener's origin, then answers
 * SK_EXS_RESPOND in state TUNNEL with no response to write. */
void sk_exchange_begin_tcp(struct sk_exchange *ex, const struct sk_origin *origin);
/* Advances the exchange until it waits, has a response, or must close. */
enum sk_ex_step sk_exchange_run(struct sk_exchange *ex);
/* ex->timer fired while the exchange ran (not while the front wrote the response). */
enum sk_ex_step sk_exchange_timeout(struct sk_exchange *ex);
/* The origin's response body, decoded (state RESPOND, resp_src ORIGIN). */
enum sk_body_step sk_exchange_body_peek(struct sk_exchange *ex, struct sk_slice *out);
void sk_exchange_body_consume(struct sk_exchange *ex, size_t n);
/* The origin's body is known to be complete without another read (all of it was consumed). */
bool sk_exchange_body_ended(const struct sk_exchange *ex);
/* The front has written the whole response (all: true) or gave up (false): returns the origin
 * connection to its pool when it can be reused, logs and counts the request. */
void sk_exchange_finish(struct sk_exchange *ex, bool all);
/* Describes sekisho's own answer for reason (an error page, with the challenge on a 401). */
void sk_exchange_reply_error(struct sk_exchange *ex, enum sk_reason reason);

/* Wakes the exchange that owns an origin connection (upstream.c). */
void sk_exchange_origin_event(struct sk_exchange *ex);

/* For proxy/egress.c: a refusal through the reason table (close_after: the connection ends after it); the
 * access checks started with the exchange's inputs; a CONNECT's 200 described (state TUNNEL). */
void sk_exchange_refuse_reason(struct sk_exchange *ex, enum sk_reason reason, bool close_after);
void sk_exchange_start_access(struct sk_exchange *ex);
void sk_exchange_reply_tunnel(struct sk_exchange *ex);

/*
 * proxy/egress.c — requests on egress listeners (DESIGN §5a). sk_egress_begin replaces routing: it reads
 * the target and starts the entry's access checks; sk_egress_continue runs once they allow it (the allow
 * list, DNS, the guard, then the HTTP/1.1 client toward the checked addresses); sk_egress_run and
 * sk_egress_timeout drive the DNS wait; sk_egress_put releases what an exchange holds.
 */
void sk_egress_begin(struct sk_exchange *ex);
enum sk_ex_step sk_egress_continue(struct sk_exchange *ex);
enum sk_ex_step sk_egress_run(struct sk_exchange *ex);
enum sk_ex_step sk_egress_timeout(struct sk_exchange *ex);
enum sk_reason sk_egress_deny_reason(enum sk_reason reason);
void sk_egress_put(struct sk_exchange *ex);
/* The worker's resolvers, freed when it stops. */
void sk_egress_worker_free(struct sk_worker *w);

#endif
