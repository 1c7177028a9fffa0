/*
 * forward.h — the header policy toward origins and back to viewers (DESIGN §1 "Origin request").
 * Pure functions: they write a complete HTTP/1.1 head into a caller's buffer.
 */
#ifndef SK_FORWARD_H
#define SK_FORWARD_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "access/access.h"
#include "config/config.h"
#include "http/h1.h"
#include "net/ipset.h"

/*
 * Works out the client address from the TCP peer, the request's X-Forwarded-For fields (all of them,
 * in order, as one comma-separated list) and the trusted proxies. If the peer is not trusted, the client
 * is the peer and a received X-Forwarded-For is ignored. If it is, the list is walked right to left,
 * skipping trusted entries; the first untrusted (or the leftmost, if all are trusted) entry is the client.
 * Invalid entries stop the walk (the last trusted hop is the client).
 * Writes: client_ip (text, v4-mapped shown as IPv4), *client_family/client_addr (bytes for ACL
 * and geo lookups), and xff_out: the X-Forwarded-For to send — the received list plus ", peer" when the
 * peer is trusted, or just the peer otherwise. Sets *peer_trusted.
 */
struct sk_client {
	char ip[64];
	int family;
	uint8_t addr[16];
	bool peer_trusted;
	char xff[1024];   /* truncated lists are cut at a comma boundary, keeping the rightmost entries */
};
void sk_forward_client(const struct sockaddr *peer, const struct sk_http_request *req,
		       const struct sk_ipset *trusted, struct sk_client *out);

struct sk_fwd_request {
	const struct sk_http_request *req;
	struct sk_slice path;            /* normalised path */
	struct sk_slice query;           /* "?..." or empty */
	struct sk_slice viewer_host;     /* the Host the viewer asked for (from target or Host field) */
	const struct sk_behavior *beh;
	const struct sk_origin *origin;
	const struct sk_client *client;
	bool tls;                        /* the viewer connection is TLS */
	bool upgrade;                    /* forward "Upgrade: websocket" + Connection: upgrade */
	bool underscores;                /* the listener's underscores_in_headers: forward */
	unsigned strip;                  /* SK_CONSUMED_* (access.h): credential fields not to forward */
	enum sk_http_body body;            /* framing to send: NONE, LENGTH (content_length) or CHUNKED */
	uint64_t content_length;
	const char *auth_user;           /* identity headers; NULL = not authenticated */
	const char *auth_groups;         /* comma-separated */
	const char *auth_method;
	const struct sk_jwt_env *claim_names; /* its issuers' claim headers are stripped from the viewer's */
	struct sk_slice claim_headers;   /* "Name: value\r\n" lines from a verified token's claims */
};

/*
 * Writes the request head toward the origin into out[0..cap):
 *   "METHOD path+query HTTP/1.1", Host (viewer's if beh->forward_host else origin->host), the viewer's
 *   headers filtered by the behavior's forward_headers (all | none | list, case-insensitive), minus
 *   hop-by-hop fields, minus Host, Content-Length, Transfer-Encoding, Expect, X-Forwarded-*, Forwarded and
 *   X-Auth-User/-Groups/-Method, minus names with '_' unless underscores (and, even then, any name that
 *   reads as one of those or a credential field once '_' is read as '-' and runs of '-' are merged),
 *   minus the credentials in strip (Authorization, X-Api-Key, X-OTP, the session cookie's pairs out of
 *   Cookie fields, a Cookie left empty dropped); then the origin's headers; then X-Forwarded-For (client->xff),
 *   X-Forwarded-Proto (http/https; a trusted peer's value is kept), X-Forwarded-Host (viewer host);
 *   identity headers when set; the framing field for body; "Upgrade: websocket" + "Connection: upgrade"
 *   when upgrade and the viewer sent an Upgrade field, else nothing (HTTP/1.1 keep-alive is the default toward origins).
 * Returns the head length, or -1 if it does not fit in cap.
 */
ssize_t sk_forward_request_head(const struct sk_fwd_request *f, char *out, size_t cap);

#endif
