/*
 * banlist.c — the accept path's copy of the bans (see banlist.h).
 */
#include "net/banlist.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "net/ipset.h"

struct ban {
	uint8_t addr[16];
	uint64_t until; /* 0 = until removed */
};

struct sk_banlist {
	size_t n;
	struct ban bans[];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct ban *master; /* under mu: sorted by addr */
static size_t n_master;
static _Atomic(struct sk_banlist *) pending[SK_BANS_MAX_READERS];
static atomic_uint n_readers; /* highest reader index seen + 1 */

static int cmp_ban(const void *a, const void *b)
{
	return memcmp(((const struct ban *)a)->addr, ((const struct ban *)b)->addr, 16);
}

static void to16(int family, const uint8_t *addr, uint8_t out[16])
{
	if (family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, addr, 4);
	} else {
		memcpy(out, addr, 16);
	}
}

static bool parse_ip(const char *ip, uint8_t out[16])
{
	uint8_t a[16];
	if (inet_pton(AF_INET, ip, a) == 1) {
		to16(AF_INET, a, out);
		return true;
	}
	return inet_pton(AF_INET6, ip, out) == 1;
}

static struct sk_banlist *copy_master(void)
{
	struct sk_banlist *l = sk_malloc(sizeof(*l) + n_master * sizeof(struct ban));
	l->n = n_master;
	if (n_master)
		memcpy(l->bans, master, n_master * sizeof(struct ban));
	return l;
}

/* Hands a copy of master to every reader (mu held). */
static void publish(void)
{
	unsigned nr = atomic_load(&n_readers);
	for (unsigned r = 0; r < nr; r++)
		free(atomic_exchange(&pending[r], copy_master())); /* a list the reader never took */
}

void sk_bans_replace(const char *const *ips, const uint64_t *until, size_t n)
{
	struct ban *next = n ? sk_calloc(n, sizeof(*next)) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!parse_ip(ips[i], next[k].addr))
			continue;
		next[k++].until = until[i];
	}
	if (k)
		qsort(next, k, sizeof(*next), cmp_ban);
	pthread_mutex_lock(&mu);
	bool same = k == n_master && (k == 0 || memcmp(next, master, k * sizeof(*next)) == 0);
	if (same) {
		pthread_mutex_unlock(&mu);
		free(next);
		return;
	}
	free(master);
	master = next;
	n_master = k;
	publish();
	pthread_mutex_unlock(&mu);
}

void sk_bans_add(const char *ip, uint64_t until)
{
	struct ban b = { .until = until };
	if (!parse_ip(ip, b.addr))
		return;
	pthread_mutex_lock(&mu);
	struct ban *hit = n_master ? bsearch(&b, master, n_master, sizeof(b), cmp_ban) : NULL;
	if (hit) {
		hit->until = until;
	} else {
		master = realloc(master, (n_master + 1) * sizeof(*master));
		SK_ASSERT(master);
		master[n_master++] = b;
		qsort(master, n_master, sizeof(*master), cmp_ban);
	}
	publish();
	pthread_mutex_unlock(&mu);
}

void sk_bans_clear(void)
{
	pthread_mutex_lock(&mu);
	free(master);
	master = NULL;
	n_master = 0;
	for (unsigned r = 0; r < SK_BANS_MAX_READERS; r++)
		free(atomic_exchange(&pending[r], NULL));
	pthread_mutex_unlock(&mu);
}

/* A reader's first check: from now on it gets every publication, starting with the current list. */
static void register_reader(unsigned r)
{
	pthread_mutex_lock(&mu);
	unsigned cur = atomic_load(&n_readers);
	for (unsigned i = cur; i <= r; i++)
		if (!atomic_load(&pending[i]))
			atomic_store(&pending[i], copy_master());
	if (r >= cur)
		atomic_store(&n_readers, r + 1);
	pthread_mutex_unlock(&mu);
}

bool sk_bans_check_addr(unsigned r, struct sk_banlist **mine, int family, const uint8_t *addr)
{
	SK_ASSERT(r < SK_BANS_MAX_READERS);
	if (r >= atomic_load_explicit(&n_readers, memory_order_relaxed))
		register_reader(r);
	if (atomic_load_explicit(&pending[r], memory_order_relaxed)) {
		struct sk_banlist *l = atomic_exchange(&pending[r], NULL);
		if (l) {
			free(*mine);
			*mine = l;
		}
	}
	const struct sk_banlist *l = *mine;
	if (!l || l->n == 0)
		return false;
	struct ban key;
	to16(family, addr, key.addr);
	const struct ban *hit = bsearch(&key, l->bans, l->n, sizeof(key), cmp_ban);
	if (!hit)
		return false;
	if (hit->until == 0)
		return true;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return hit->until > (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool sk_bans_check(unsigned r, struct sk_banlist **mine, const struct sockaddr *peer)
{
	uint8_t addr[16];
	int family = sk_sa_to_bytes(peer, addr);
	if (family == -1)
		return false;
	return sk_bans_check_addr(r, mine, family, addr);
}

void sk_bans_release(unsigned r, struct sk_banlist **mine)
{
	free(*mine);
	*mine = NULL;
	if (r < SK_BANS_MAX_READERS)
		free(atomic_exchange(&pending[r], NULL));
}
