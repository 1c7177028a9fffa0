/*
 * tls_int.h — what the files of src/tls/ share with each other (OpenSSL types allowed here).
 */
#ifndef SK_TLS_INT_H
#define SK_TLS_INT_H

#include <openssl/ssl.h>

/* Makes ctx issue and accept tickets under the process-wide key ring (tickets.c). */
void sk_tls_tickets_attach(SSL_CTX *ctx);

/* Modes every context of sekisho uses: partial writes and moving buffers for non-blocking retries,
 * buffers released while a connection is idle (an idle keep-alive connection holds no buffer). */
#define SK_TLS_MODES (SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS)

#endif
