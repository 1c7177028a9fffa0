/*
 * h2_int.h — what the HTTP/2 viewer side's two files share (h2_server.c: the session, its callbacks and the
 * connection; h2_stream.c: a stream's exchange, its request body and its response). Internal to them.
 */
#ifndef SK_H2_INT_H
#define SK_H2_INT_H

#include <nghttp2/nghttp2.h>

#include "proxy/exchange.h"

/* The guards of DESIGN §2 "HTTP/2" (h2_server.c) and a stream's request-body ring (h2_stream.c). */
#define SK_H2_RESET_MAX 100
#define SK_H2_RESET_WINDOW_MS 10000
#define SK_H2_MAX_CONTINUATIONS 8
#define SK_H2_FLOOD_MAX 1000
#define SK_H2_FLOOD_WINDOW_MS 10000
#define SK_H2_BODY_RING 65536 /* the default stream window: what a viewer may send before we grant more */
#define SK_H2_MAX_NV (SK_REPLY_FIELDS > SK_MAX_HEADERS ? SK_REPLY_FIELDS + 2 : SK_MAX_HEADERS + 2)
/* A stream's decoded fields live in the stream itself up to this many bytes (an h2load or curl request
 * head takes ~100, a browser's ~0.5–1.5 KiB), in a worker buffer past it: a stream in flight no longer
 * holds a 32 KiB buffer for a few hundred bytes of head. */
#define SK_H2_FIELDS_INLINE 1536

enum st_phase {
	ST_HEADERS = 0, /* the request's header block is being decoded */
	ST_HOLD,        /* a GET or HEAD without END_STREAM: waits for its first DATA or its end (stream timer) */
	ST_READY,       /* decoded: waits in the run queue for sk_exchange_begin */
	ST_EXCHANGE,    /* the exchange runs (routing, access, the origin's response head) */
	ST_WRITE,       /* the response is submitted: nghttp2 pulls its body */
	ST_DONE,        /* the response ended (or the stream was refused): the exchange is gone */
};

struct sk_h2stream {
	struct sk_h2 *h2;
	struct sk_h2stream *prev, *next;   /* the connection's streams */
	struct sk_h2stream *qprev, *qnext; /* the run queue */
	bool queued;
	uint8_t phase;                     /* enum st_phase */
	int32_t id;
	struct sk_exchange *ex;
	struct sk_timer timer;             /* ex->timer */
	char *fmem;                        /* the decoded names and values ex->hreq points into: finline or */
	struct sk_buf *fbuf;               /* this worker buffer, once they outgrew finline */
	uint32_t flen, fcap;               /* bytes used in fmem, its size */
	uint32_t list_size;                /* RFC 9113 §6.5.2: name + value + 32 per field */
	uint16_t n_cookies;
	enum sk_reason refuse;             /* the head is refused (431 or 400) */
	bool have_cl;
	bool req_end;                      /* END_STREAM received */
	bool no_body;                      /* END_STREAM came with the request's HEADERS */
	bool sent_continue;
	bool deferred;                     /* the data provider waits on the origin */
	char *ring;                        /* the request body not yet consumed (SK_H2_BODY_RING bytes, on first DATA) */
	uint32_t r_off, r_len;
	uint64_t mem_off;                  /* SK_SRC_MEM: bytes of the body handed to nghttp2 */
	uint64_t file_left;                /* SK_SRC_FILE */
	uint64_t last_io_ms;               /* the response's last progress (the send timeout is inactivity) */
	char finline[SK_H2_FIELDS_INLINE]; /* past the part sk_h2s_new clears: written before it is read */
};

struct sk_h2 {
	struct sk_conn *c;
	nghttp2_session *s;
	struct sk_h2stream *streams, *qhead, *qtail;
	uint32_t n_active;                 /* streams with an exchange */
	uint32_t requests;
	struct sk_buf *wbuf;               /* output being written */
	struct sk_out wout;
	const uint8_t *pend;               /* the rest of nghttp2's last chunk that did not fit in wbuf */
	size_t pend_len;
	uint8_t continuations;             /* CONTINUATION frames of the header block being read */
	uint32_t resets, floods;
	uint64_t reset_since, flood_since;
	bool draining;                     /* GOAWAY submitted: close once the streams have ended */
	int32_t last_id;                   /* the GOAWAY's last stream id */
	bool abuse;                        /* ended for abuse: counted once */
	bool followed;                     /* the connection moved to this worker's newest snapshot, or may not */
	bool idle_armed;                   /* the connection's timer holds the idle (or preface) deadline */
	struct sk_timer flush;             /* 0 ms: streams woken in one loop round run and write once, after it */
};

static inline const struct sk_config *sk_h2_cfg(const struct sk_h2 *h)
{
	return h->c->rt->cfg;
}

static inline uint64_t sk_h2_now(const struct sk_h2 *h)
{
	return sk_loop_now(h->c->w->loop);
}

/* h2_server.c */
/* A graceful GOAWAY: streams up to last go on, later ones are refused; the connection closes when they
 * have ended. */
void sk_h2_goaway(struct sk_h2 *h, int32_t last);

/* h2_stream.c */
/* A stream whose request head begins: its exchange (connection facts filled) and its field buffer. */
struct sk_h2stream *sk_h2s_new(struct sk_h2 *h, int32_t id);
/* Room for n more bytes of fields (moved to a worker buffer if finline is too small). */
char *sk_h2s_field_room(struct sk_h2stream *st, size_t n);
/* Queues st to run after nghttp2 returns (its head is decoded, body bytes came, the origin woke it). */
void sk_h2s_enqueue(struct sk_h2stream *st);
void sk_h2s_run_queue(struct sk_h2 *h);
/* The exchange is over (answered: all, or abandoned): logged, counted, given back. */
void sk_h2s_end(struct sk_h2stream *st, bool all);
/* Gives the rest of the request body's window back: nobody will read it. */
void sk_h2s_drop_body(struct sk_h2stream *st);
void sk_h2s_free(struct sk_h2stream *st);

#endif
