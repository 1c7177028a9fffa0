/*
 * tickets.c — session tickets (RFC 5077, and TLS 1.3's NewSessionTicket) under a process-wide key ring.
 *
 * The ring holds a current key, which encrypts new tickets, and the previous one, which still decrypts
 * (the client then gets a fresh ticket under the current key). Keys are random at start and rotate every
 * SK_TLS_TICKET_ROTATE_S, so a ticket lives at most two periods and a stolen key exposes little. The ring
 * is the process's, not a snapshot's: tickets survive configuration reloads. Keys never leave memory, so
 * a restart invalidates every ticket (several instances behind a balancer each resume their own).
 *
 * Threads: workers read the ring in the ticket callback under a read lock; the main thread rotates it
 * under the write lock. Rotation is checked on the main thread's clock, several times a second.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "core/log.h"
#include "tls/tls.h"
#include "tls/tls_int.h"

struct ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
	int64_t created;
	bool set;
};

struct ticket_ring {
	struct ticket_key cur, prev;
};

static struct ticket_ring ring;
static pthread_rwlock_t ring_lock = PTHREAD_RWLOCK_INITIALIZER;

/* AES-256-CBC fetched once: EVP_aes_256_cbc() is a legacy handle that OpenSSL 3 resolves to its provider
 * implementation on every init, a fetch (a lock and a shared reference count) in every handshake that
 * issues or opens a ticket. Set before the workers start, read-only after. */
static EVP_CIPHER *ticket_cipher;

static int key_new(struct ticket_key *k, int64_t now)
{
	if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
	    RAND_bytes(k->hmac, sizeof(k->hmac)) != 1)
		return -1;
	k->created = now;
	k->set = true;
	return 0;
}

/* Shifts current to previous and makes a new current when the current is due (or absent). Returns 1
 * when it rotated, 0 when not due, -1 when no random bytes could be had (the ring is then unchanged). */
static int ring_rotate(struct ticket_ring *r, int64_t now, int64_t period)
{
	if (r->cur.set && now - r->cur.created < period)
		return 0;
	struct ticket_key k;
	if (key_new(&k, now) == -1)
		return -1;
	if (r->cur.set)
		r->prev = r->cur;
	r->cur = k;
	explicit_bzero(&k, sizeof(k));
	return 1;
}

/* The key a ticket names: 1 = current, 2 = previous (renew the ticket), 0 = unknown. */
static int ring_find(const struct ticket_ring *r, const unsigned char name[16], struct ticket_key *out)
{
	if (r->cur.set && memcmp(r->cur.name, name, 16) == 0) {
		*out = r->cur;
		return 1;
	}
	if (r->prev.set && memcmp(r->prev.name, name, 16) == 0) {
		*out = r->prev;
		return 2;
	}
	return 0;
}

int sk_tls_tickets_init(void)
{
	if (!ticket_cipher)
		ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	if (!ticket_cipher)
		return -1;
	pthread_rwlock_wrlock(&ring_lock);
	int rc = ring.cur.set ? 0 : ring_rotate(&ring, (int64_t)time(NULL), SK_TLS_TICKET_ROTATE_S);
	pthread_rwlock_unlock(&ring_lock);
	return rc < 0 ? -1 : 0;
}

void sk_tls_tickets_tick(int64_t now)
{
	pthread_rwlock_rdlock(&ring_lock);
	bool due = !ring.cur.set || now - ring.cur.created >= SK_TLS_TICKET_ROTATE_S;
	pthread_rwlock_unlock(&ring_lock);
	if (!due)
		return;
	pthread_rwlock_wrlock(&ring_lock);
	int rc = ring_rotate(&ring, now, SK_TLS_TICKET_ROTATE_S);
	pthread_rwlock_unlock(&ring_lock);
	if (rc == 1)
		sk_info("TLS session-ticket key rotated (the previous key still decrypts for one period)");
	else if (rc == -1)
		sk_error("TLS session-ticket key rotation: no random bytes; keeping the current key");
}

static int set_mac(EVP_MAC_CTX *hctx, const unsigned char *key)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key, 32),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

/* OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb). Returning 2 on decryption asks
 * OpenSSL for a new ticket in that handshake; 1 resumes without one. */
static int ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *ctx,
		     EVP_MAC_CTX *hctx, int enc)
{
	struct ticket_key k;
	int rc;
	pthread_rwlock_rdlock(&ring_lock);
	if (enc) {
		k = ring.cur;
		rc = k.set ? 1 : -1;
	} else {
		rc = ring_find(&ring, key_name, &k);
	}
	pthread_rwlock_unlock(&ring_lock);
	if (rc <= 0) {
		explicit_bzero(&k, sizeof(k));
		return rc; /* -1: no ticket issued; 0: unknown key, full handshake */
	}
	if (enc) {
		if (RAND_bytes(iv, 16) != 1) {
			rc = -1;
			goto out;
		}
		memcpy(key_name, k.name, 16);
		if (EVP_EncryptInit_ex(ctx, ticket_cipher, NULL, k.aes, iv) != 1 || set_mac(hctx, k.hmac) == -1)
			rc = -1;
	} else {
		if (EVP_DecryptInit_ex(ctx, ticket_cipher, NULL, k.aes, iv) != 1 || set_mac(hctx, k.hmac) == -1)
			rc = -1;
		else if (SSL_version(s) == TLS1_3_VERSION)
			rc = 2; /* TLS 1.3 clients use a ticket once (RFC 8446 C.4; OpenSSL's drop a session once it
				 * resumed): without a fresh ticket, every other reconnect was a full handshake */
	}
out:
	explicit_bzero(&k, sizeof(k));
	return rc;
}

void sk_tls_tickets_attach(SSL_CTX *ctx)
{
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}
