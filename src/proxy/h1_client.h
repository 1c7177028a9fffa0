/*
 * h1_client.h — the HTTP/1.1 client side of an exchange: toward an origin server (and, for the egress
 * proxy, toward an outside host). It picks a server (round robin, skipping failed ones), connects (or
 * reuses a pooled connection) with TLS when the origin has it, sends the request head and streams the
 * request body pulled from the viewer's protocol (re-framed: Content-Length or chunked), reads the
 * response head, then hands out the response body decoded (no framing) for the viewer's writer to frame.
 * A reused idle connection that fails before any byte of the response is retried once on a fresh one
 * when that is safe (an idempotent request without a body).
 *
 * Request bodies are sent before the response is read (like nginx); a response that an origin sends early
 * is read once the body is through, and an origin that closes early ends the exchange with 502.
 */
#ifndef SK_H1_CLIENT_H
#define SK_H1_CLIENT_H

#include "http/h1.h"
#include "net/endpoint.h"
#include "proxy/proxy.h"

struct sk_exchange;
struct sk_server_pool;
struct sk_upconn;

enum sk_h1c_state {
	SK_H1C_IDLE = 0,
	SK_H1C_CONNECT,   /* connecting (and the TLS handshake) */
	SK_H1C_SEND,      /* sending the request head and body */
	SK_H1C_RESP_HEAD, /* waiting for the response head */
	SK_H1C_RESP_BODY, /* the response head is in: its body is pulled by the viewer's writer */
	SK_H1C_TUNNEL,    /* the connection was handed to a tunnel */
};

struct sk_h1c {
	uint8_t state;                 /* enum sk_h1c_state */
	struct sk_server_pool *server;
	struct sk_upconn *up;
	struct sk_buf *ubuf;           /* bytes from the origin */
	struct sk_out uout;            /* pending toward the origin */
	struct sk_h1_response hresp;
	uint32_t head_out_len;         /* length of the request head in the exchange's hbuf */
	uint32_t connect_attempts;
	uint8_t req_body;              /* framing toward the origin: NONE, LENGTH or CHUNKED */
	uint8_t resp_in;               /* the origin's framing */
	uint64_t resp_remaining;
	uint32_t dec_end;              /* chunked: ubuf holds decoded data up to here */
	struct sk_h1_chunked resp_chunk;
	bool head_queued;
	bool req_body_done;
	bool req_last_chunk;           /* the final "0\r\n\r\n" is still to be queued */
	bool resp_done;
	bool resp_last;                /* chunked: the last chunk was decoded; the body ends with ubuf's data */
	bool resp_any;                 /* a byte of the response arrived */
	bool up_reused;
	bool up_reusable;
	bool retried;
	char chunk_line[24];
};

/* Picks a server of ex->origin and starts connecting (ex->hbuf holds the request head, head_out_len long;
 * body: the framing toward the origin). */
enum sk_ex_step sk_h1c_start(struct sk_exchange *ex, enum sk_http_body body);
/* Advances connect → send → response head. */
enum sk_ex_step sk_h1c_run(struct sk_exchange *ex);
/* The deadline of the current state passed. */
enum sk_ex_step sk_h1c_timeout(struct sk_exchange *ex);
/* The response body, decoded. */
int sk_h1c_body_peek(struct sk_exchange *ex, struct sk_slice *out);
void sk_h1c_body_consume(struct sk_exchange *ex, size_t n);
/* Returns the connection to its pool when the exchange is complete and the origin kept it sound; else
 * closes it. */
void sk_h1c_release(struct sk_exchange *ex, bool complete);

#endif
