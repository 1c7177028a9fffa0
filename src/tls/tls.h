/*
 * tls.h — TLS for sekisho (DESIGN §1 "[TLS + SNI]", §6 `sekisho cert`, §7 `certificates:`,
 * `listeners[].tls`, `origins.X.tls`). The public face of src/tls/, the only folder that includes
 * OpenSSL's ssl.h: everything else sees opaque pointers (struct ssl_st is OpenSSL's SSL).
 *
 *   sni.c      host name ↔ certificate name matching (pure: exact or one-label wildcard, any case)
 *   cert.c     loading a `certificates:` entry (leaf, chain, key), checking it, describing it
 *   server.c   per-listener SSL_CTX set: one context per listed certificate, SNI picks one, ALPN,
 *              ciphers, client certificates
 *   client.c   per-origin client context for upstream TLS (trust store or private CA, host check)
 *   tickets.c  the process-wide session-ticket key ring (current + previous, rotated every 12 h)
 *   io.c       non-blocking handshake, read, writev and shutdown on one SSL
 *
 * Ownership: server and client contexts belong to the runtime snapshot that built them and are freed
 * with it; an SSL made from a context holds its own reference to that context (OpenSSL counts), so a
 * connection accepted under an old snapshot keeps working after a reload. Tickets are encrypted under
 * the process-wide ring, so they stay valid across reloads.
 */
#ifndef SK_TLS_H
#define SK_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "config/config.h"
#include "core/core.h"

struct ssl_st;         /* OpenSSL's SSL */
struct ssl_session_st; /* OpenSSL's SSL_SESSION */
struct x509_st;
struct evp_pkey_st;
struct stack_st_X509;

/* ---- names (sni.c, pure) ---- */

/*
 * True when host (a DNS name, maybe with a trailing dot) is covered by the certificate name pattern:
 * equal ignoring ASCII case, or pattern "*.rest" and host "label.rest" with exactly one non-empty label
 * in place of the '*'. A '*' anywhere else in the pattern matches nothing.
 */
bool sk_tls_name_match(const char *pattern, const char *host, size_t host_len);
/* True when host equals pattern exactly (ignoring case and a trailing dot on host), no wildcard. */
bool sk_tls_name_exact(const char *pattern, const char *host, size_t host_len);

/*
 * Picks a certificate for an SNI name among n candidates, each with its names (DNS SANs):
 * the first with an exact name, else the first with a matching wildcard, else 0 (the default, the
 * first listed). host NULL (no SNI) gives 0.
 */
size_t sk_tls_sni_pick(const char *const *const *names, const size_t *n_names, size_t n, const char *host);

/* ---- certificates (cert.c) ---- */

struct sk_tls_cert {
	char *name;                  /* the `certificates:` key */
	struct x509_st *leaf;
	struct stack_st_X509 *chain; /* intermediates: after the leaf in the cert file, then the chain file */
	struct evp_pkey_st *key;
	char subject[256];           /* one line, RFC 2253 */
	char **names;                /* DNS SANs, lower case (the subject CN when there are none) */
	size_t n_names;
	int64_t not_after;           /* Unix time */
};

/* Loads and checks one certificate (the key must match the leaf). Returns 0, or -1 with err filled
 * (err->file = the file at fault). */
int sk_tls_cert_load(struct sk_tls_cert *c, const char *name, const char *cert_file, const char *key_file,
		     const char *chain_file, struct sk_err *err);
void sk_tls_cert_fini(struct sk_tls_cert *c);
/*
 * Checks that each certificate of the chain signed the one before it (leaf first). Returns 0 with note
 * saying whether the chain also reaches a root trusted by the system (or a self-signed root in the
 * chain), or -1 with err filled.
 */
int sk_tls_cert_check_chain(const struct sk_tls_cert *c, char *note, size_t cap, struct sk_err *err);
/* Whole days from now to not_after, rounded down (negative once expired). */
int64_t sk_tls_days_left(int64_t not_after, int64_t now);
/* Writes "a, b, c" (the DNS SANs) into out. */
void sk_tls_cert_names(const struct sk_tls_cert *c, char *out, size_t cap);
/* not_after as "YYYY-MM-DD HH:MM:SS UTC". */
void sk_tls_format_time(int64_t t, char *out, size_t cap);

/* ---- listeners (server.c) ---- */

struct sk_tls_server;

/*
 * Builds the TLS contexts of listener l (l->tls.present). certs is parallel to cfg->certificates,
 * already loaded. Errors name the config file and the listener (or the client_ca file).
 */
struct sk_tls_server *sk_tls_server_new(const struct sk_config *cfg, const struct sk_listener *l,
					const struct sk_tls_cert *certs, struct sk_err *err);
void sk_tls_server_free(struct sk_tls_server *s);
/* A server-side SSL on fd (accept state), or NULL (logged). */
struct ssl_st *sk_tls_server_ssl(const struct sk_tls_server *s, int fd);
/* After the handshake: true when ALPN chose "h2". */
bool sk_tls_alpn_h2(const struct ssl_st *ssl);

/* ---- origins (client.c) ---- */

struct sk_tls_client;

/* Builds the client context of an origin with `tls:` (o->tls.present). */
struct sk_tls_client *sk_tls_client_new(const struct sk_config *cfg, const struct sk_origin *o, struct sk_err *err);
void sk_tls_client_free(struct sk_tls_client *t);
/*
 * Identity of the settings that a pooled connection depends on (name checked, CA file, verify): two
 * clients with the same id may share idle connections, also across reloads. Never 0.
 */
uint64_t sk_tls_client_id(const struct sk_tls_client *t);
/*
 * A client-side SSL on fd (connect state) with SNI and host verification set. *session_slot (may be
 * NULL) offers a session to resume and receives new ones; it must outlive the SSL (free it with
 * sk_tls_session_free).
 */
struct ssl_st *sk_tls_client_ssl(const struct sk_tls_client *t, int fd, struct ssl_session_st **session_slot);
void sk_tls_session_free(struct ssl_session_st *s);

/* ---- I/O on one SSL (io.c) ---- */

/* Results of the calls below besides a byte count (> 0) and 0 (clean end of stream, reads only). */
enum {
	SK_TLS_WAIT = -1,       /* wait for the socket to be ready in this call's own direction */
	SK_TLS_ERROR = -2,      /* the connection failed: close it */
	SK_TLS_WAIT_OTHER = -3, /* wait for the other direction (a read that must write, or the reverse) */
};

/* Advances the handshake: 1 done, or SK_TLS_WAIT (wants to read), SK_TLS_WAIT_OTHER (wants to write),
 * SK_TLS_ERROR with why filled, or 0 when the peer closed before sending a byte (a port probe: close
 * quietly, it is not a failed handshake). */
int sk_tls_handshake(struct ssl_st *ssl, char *why, size_t cap);
ssize_t sk_tls_read(struct ssl_st *ssl, void *buf, size_t n);
/* Writes a prefix of iov (small slices are coalesced into one record). */
ssize_t sk_tls_writev(struct ssl_st *ssl, const struct iovec *iov, int iovcnt);
/* Sends close_notify (best effort, never waits). */
void sk_tls_shutdown(struct ssl_st *ssl);
void sk_tls_free(struct ssl_st *ssl);
/* True when the handshake resumed a session (a ticket). */
bool sk_tls_resumed(const struct ssl_st *ssl);
/* Bytes already decrypted and waiting in the SSL: a read will return them without the socket. */
bool sk_tls_pending(const struct ssl_st *ssl);
/* Whether OpenSSL holds any byte the peer sent that was not handed out yet: decrypted, or still a record
 * (whole or partial) in its read-ahead buffer. */
bool sk_tls_buffered(const struct ssl_st *ssl);

enum sk_tls_peer { SK_TLS_PEER_NONE = 0, SK_TLS_PEER_UNTRUSTED, SK_TLS_PEER_VERIFIED };
/*
 * The viewer's client certificate: NONE, UNTRUSTED (presented, did not verify against the listener's
 * client_ca), or VERIFIED with its identities written to out as NUL-terminated strings one after the
 * other (subject CN first, then each SAN e-mail), ended by an empty string.
 */
enum sk_tls_peer sk_tls_peer_identity(const struct ssl_st *ssl, char *out, size_t cap);

/* ---- session tickets (tickets.c) ---- */

#define SK_TLS_TICKET_ROTATE_S (12 * 3600)

/* Fills the ring with a random key (once, at start). 0 / -1. */
int sk_tls_tickets_init(void);
/* Rotates the ring when the current key is older than SK_TLS_TICKET_ROTATE_S (main thread, often). */
void sk_tls_tickets_tick(int64_t now);

/* ---- process-wide ---- */

/* Logs the OpenSSL error queue's oldest message into buf ("" when empty) and clears the queue. */
void sk_tls_last_error(char *buf, size_t cap);

#endif
