/*
 * h2.h — the HTTP/2 side of the protocol-neutral messages (msg.h): the one place an HTTP/2 response head
 * is written (DESIGN §9), as the name/value list libnghttp2 frames. Pure: no I/O, no allocation.
 */
#ifndef SK_HTTP_H2_H
#define SK_HTTP_H2_H

#include <sys/types.h>

#include <nghttp2/nghttp2.h>

#include "http/msg.h"

/*
 * Writes r as an HTTP/2 response head into nv[0..cap): ":status", then the end-to-end fields with their
 * names lower-cased into scratch (an origin's filtered with sk_http_resp_field, as the HTTP/1.1 writer
 * does; sekisho's own are filtered too, since no connection-specific field may reach an HTTP/2 viewer),
 * then "content-length" when r->body is LENGTH (an origin's Content-Length is kept on a bodiless 2xx/3xx
 * answer that describes one: HEAD, 304). An unknown length needs nothing: END_STREAM ends the body.
 * Values point into r's fields (libnghttp2 copies them when the head is submitted). Returns the number of
 * entries, or -1 when nv or scratch is too small or the status is not three digits.
 */
ssize_t sk_h2_write_head(const struct sk_http_response *r, nghttp2_nv *nv, size_t cap, char *scratch, size_t scap);

#endif
