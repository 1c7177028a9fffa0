/*
 * lmdb.c — the embedded store: one LMDB environment, file `state.mdb` under state.path.
 *
 * Each value is stored as an 8-byte little-endian expiry followed by its bytes. Every update is one
 * short write transaction that LMDB commits durably (fsync), so a tally or a ban survives kill -9 the
 * moment the request that caused it is answered. Readers use MDB_NOTLS because the pool's threads are
 * shared; the environment is opened once per process and never crosses a fork.
 *
 * LMDB has no expiry of its own: sweep (called by the server every few seconds from a thread of its own,
 * never a worker) walks the database and deletes what has expired, in short write transactions so that
 * request writes never wait long behind it.
 *
 * Size: records may use state.max_size bytes of the map; the map itself is larger by a reserve that only
 * deletions use. LMDB copies pages on write, so even a deletion needs free pages: in a map filled to its
 * last page nothing could be deleted any more, and the store would stay full for good. A write that would
 * add data once the pages in use reach max_size fails instead (the caller answers 503), one line says so
 * per FULL_LOG_MS, and the sweep, working in the reserve, makes room again.
 */
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "state/store.h"

#define SWEEP_MAX 1024  /* expired keys removed per scan */
#define SWEEP_BATCH 256 /* expired keys deleted per write transaction of a sweep */
#define FULL_LOG_MS 10000

struct lmdb_store {
	struct sk_store base;
	MDB_env *env;
	MDB_dbi dbi;
	uint64_t max_size; /* bytes the records may use (state.max_size); the map adds a reserve */
	uint64_t psize;    /* LMDB's page size */
	atomic_uint_fast64_t full_logged; /* sk_now_ms() of the last "store full" line, 0 = never */
};

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void wr64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static bool live(const struct lmdb_store *s, const MDB_val *v)
{
	if (v->mv_size < 8)
		return false;
	uint64_t e = rd64(v->mv_data);
	return e == 0 || e > s->base.now_ms();
}

/* A value the store can hand out: our 8-byte expiry and at most SK_STORE_MAX_VALUE bytes (a longer one is
 * not ours, whatever wrote it, and reads as absent rather than overrunning a caller's buffer). */
static bool sane(const MDB_val *v)
{
	return v->mv_size >= 8 && v->mv_size - 8 <= SK_STORE_MAX_VALUE;
}

static enum sk_store_rc fail(struct lmdb_store *s, const char *what, int rc)
{
	if (rc != MDB_MAP_FULL) {
		sk_error("state store (lmdb): %s: %s", what, mdb_strerror(rc));
		return SK_ST_DOWN;
	}
	/* Every failed login would say it again: once per interval is enough to be seen. */
	uint64_t now = sk_now_ms(), last = atomic_load(&s->full_logged);
	if ((last == 0 || now - last >= FULL_LOG_MS) && atomic_compare_exchange_strong(&s->full_logged, &last, now))
		sk_error("state store full: state.mdb reached state.max_size (%" PRIu64 " KiB); logins, bans and "
			 "sessions answer 503 state_unavailable until expired records are swept; raise state.max_size "
			 "if live state needs more",
			 s->max_size >> 10);
	return SK_ST_DOWN;
}

static enum sk_store_rc l_get(struct sk_store *st, const char *key, uint8_t *out, size_t *len, uint64_t *expires)
{
	struct lmdb_store *s = (struct lmdb_store *)st;
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return fail(s, "mdb_txn_begin", rc);
	MDB_val k = { .mv_size = strlen(key), .mv_data = (void *)key }, v;
	enum sk_store_rc out_rc = SK_ST_ABSENT;
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc == 0 && sane(&v) && live(s, &v)) {
		*len = v.mv_size - 8;
		memcpy(out, (uint8_t *)v.mv_data + 8, *len);
		if (expires)
			*expires = rd64(v.mv_data);
		out_rc = SK_ST_OK;
	} else if (rc != 0 && rc != MDB_NOTFOUND) {
		out_rc = fail(s, "mdb_get", rc);
	}
	mdb_txn_abort(txn);
	return out_rc;
}

/*
 * Bytes of the map in use: the high-water mark less the pages LMDB keeps for reuse (its free-page
 * database holds lists of page numbers, each led by its count). Under max_size the high-water mark alone
 * settles it for a write, which is the common case and costs one read of the meta page; above it, or when
 * exact is asked for, the free lists are walked in a read transaction (LMDB allows no other; a handful of
 * records, since LMDB reuses the oldest first). txn: a read transaction to use, or NULL.
 */
static int used_bytes(struct lmdb_store *s, MDB_txn *txn, bool exact, uint64_t *used)
{
	MDB_envinfo info;
	int rc = mdb_env_info(s->env, &info);
	if (rc != 0)
		return rc;
	uint64_t high = ((uint64_t)info.me_last_pgno + 1) * s->psize;
	if (!exact && high < s->max_size) {
		*used = high;
		return 0;
	}
	MDB_txn *own = NULL;
	if (!txn && (rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &own)) != 0)
		return rc;
	MDB_cursor *cur;
	rc = mdb_cursor_open(txn ? txn : own, 0 /* FREE_DBI */, &cur);
	uint64_t free_pages = 0;
	if (rc == 0) {
		MDB_val k, v;
		while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
			size_t count;
			if (v.mv_size < sizeof(count))
				continue;
			memcpy(&count, v.mv_data, sizeof(count));
			free_pages += count;
		}
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (own)
		mdb_txn_abort(own);
	uint64_t free_bytes = free_pages * s->psize;
	*used = free_bytes < high ? high - free_bytes : 0;
	return rc;
}

static enum sk_store_rc l_update(struct sk_store *st, const char *key, sk_store_update_fn fn, void *arg)
{
	struct lmdb_store *s = (struct lmdb_store *)st;
	MDB_txn *txn;
	/* Measured before the write transaction (the free lists are readable only from a read one); writers
	 * running at the same moment can pass max_size by a few records, which the reserve absorbs. */
	uint64_t used;
	int rc = used_bytes(s, NULL, false, &used);
	if (rc != 0)
		return fail(s, "used pages", rc);
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return fail(s, "mdb_txn_begin", rc);
	MDB_val k = { .mv_size = strlen(key), .mv_data = (void *)key }, v;
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return fail(s, "mdb_get", rc);
	}
	bool have = rc == 0 && sane(&v) && live(s, &v);
	bool stale = rc == 0 && !have;
	uint8_t buf[8 + SK_STORE_MAX_VALUE];
	uint64_t expires = have ? rd64(v.mv_data) : 0;
	long n = fn(arg, have ? (uint8_t *)v.mv_data + 8 : NULL, have ? v.mv_size - 8 : 0, buf + 8, &expires);
	if (n == -2 && !stale) {
		mdb_txn_abort(txn);
		return SK_ST_OK;
	}
	if (n >= 0) {
		SK_ASSERT((size_t)n <= SK_STORE_MAX_VALUE);
		if (used >= s->max_size) {
			mdb_txn_abort(txn);
			return fail(s, "mdb_put", MDB_MAP_FULL);
		}
		wr64(buf, expires);
		MDB_val nv = { .mv_size = 8 + (size_t)n, .mv_data = buf };
		rc = mdb_put(txn, s->dbi, &k, &nv, 0);
	} else if (have || stale) {
		rc = mdb_del(txn, s->dbi, &k, NULL);
	} else {
		rc = 0;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return fail(s, "mdb_put", rc);
	}
	rc = mdb_txn_commit(txn);
	return rc == 0 ? SK_ST_OK : fail(s, "mdb_txn_commit", rc);
}

static enum sk_store_rc l_del(struct sk_store *st, const char *key)
{
	struct lmdb_store *s = (struct lmdb_store *)st;
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return fail(s, "mdb_txn_begin", rc);
	MDB_val k = { .mv_size = strlen(key), .mv_data = (void *)key }, v;
	bool had = mdb_get(txn, s->dbi, &k, &v) == 0 && live(s, &v);
	rc = mdb_del(txn, s->dbi, &k, NULL);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return SK_ST_ABSENT;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return fail(s, "mdb_del", rc);
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return fail(s, "mdb_txn_commit", rc);
	return had ? SK_ST_OK : SK_ST_ABSENT;
}

static enum sk_store_rc l_scan(struct sk_store *st, const char *prefix, sk_store_scan_fn fn, void *arg)
{
	struct lmdb_store *s = (struct lmdb_store *)st;
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return fail(s, "mdb_txn_begin", rc);
	rc = mdb_cursor_open(txn, s->dbi, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return fail(s, "mdb_cursor_open", rc);
	}
	size_t plen = strlen(prefix);
	char (*expired)[SK_STORE_MAX_KEY + 1] = NULL;
	size_t n_expired = 0;
	MDB_val k = { .mv_size = plen, .mv_data = (void *)prefix }, v;
	char key[SK_STORE_MAX_KEY + 1];
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (k.mv_size > SK_STORE_MAX_KEY || !sane(&v))
			continue;
		memcpy(key, k.mv_data, k.mv_size);
		key[k.mv_size] = '\0';
		if (!live(s, &v)) {
			if (!expired)
				expired = sk_calloc(SWEEP_MAX, sizeof(*expired));
			if (n_expired < SWEEP_MAX)
				memcpy(expired[n_expired++], key, k.mv_size + 1);
			continue;
		}
		if (fn(arg, key, (uint8_t *)v.mv_data + 8, v.mv_size - 8, rd64(v.mv_data)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		free(expired);
		return fail(s, "mdb_cursor_get", rc);
	}
	/* Expired records are dropped lazily, here and in update: LMDB has no expiry of its own. */
	if (n_expired && mdb_txn_begin(s->env, NULL, 0, &txn) == 0) {
		for (size_t i = 0; i < n_expired; i++) {
			MDB_val ek = { .mv_size = strlen(expired[i]), .mv_data = expired[i] }, ev;
			if (mdb_get(txn, s->dbi, &ek, &ev) == 0 && !live(s, &ev))
				mdb_del(txn, s->dbi, &ek, NULL);
		}
		mdb_txn_commit(txn);
	}
	free(expired);
	return SK_ST_OK;
}

/* Copies of the keys one sweep batch deletes (LMDB's keys are at most 511 bytes). */
struct batch {
	size_t n;
	size_t len[SWEEP_BATCH];
	char key[SWEEP_BATCH][512];
};

static bool doomed(const struct lmdb_store *s, const MDB_val *v)
{
	return !sane(v) || !live(s, v);
}

/* Deletes the batch's keys that are still expired; returns how many went. One transaction, or one per key
 * when the map is full (each one then frees the pages the next needs). */
static uint64_t delete_batch(struct lmdb_store *s, const struct batch *b, int *err)
{
	for (int single = 0; single <= 1; single++) {
		uint64_t gone = 0;
		size_t i = 0;
		while (i < b->n) {
			MDB_txn *txn;
			int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
			if (rc != 0) {
				*err = rc;
				return gone;
			}
			uint64_t here = 0;
			size_t stop = single ? i + 1 : b->n;
			for (; i < stop && rc == 0; i++) {
				MDB_val k = { .mv_size = b->len[i], .mv_data = (void *)b->key[i] }, v;
				if (mdb_get(txn, s->dbi, &k, &v) == 0 && doomed(s, &v)) {
					rc = mdb_del(txn, s->dbi, &k, NULL);
					here += rc == 0;
				}
			}
			if (rc == 0)
				rc = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
			if (rc == MDB_MAP_FULL && !single)
				break; /* again, one key per transaction */
			if (rc != 0) {
				*err = rc;
				return gone;
			}
			gone += here;
		}
		if (i >= b->n)
			return gone;
	}
	return 0;
}

static enum sk_store_rc l_sweep(struct sk_store *st, uint64_t *removed)
{
	struct lmdb_store *s = (struct lmdb_store *)st;
	struct batch *b = sk_malloc(sizeof(*b));
	char resume[512];
	size_t resume_len = 0;
	bool started = false, end = false;
	uint64_t total = 0;
	enum sk_store_rc out = SK_ST_OK;
	/* Batches: a read pass collects up to SWEEP_BATCH doomed keys, a short write transaction deletes
	 * them, and the next pass resumes after the last key seen. */
	while (!end) {
		MDB_txn *txn;
		MDB_cursor *cur;
		int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
		if (rc != 0) {
			out = fail(s, "mdb_txn_begin", rc);
			goto out;
		}
		rc = mdb_cursor_open(txn, s->dbi, &cur);
		if (rc != 0) {
			mdb_txn_abort(txn);
			out = fail(s, "mdb_cursor_open", rc);
			goto out;
		}
		MDB_val k = { .mv_size = resume_len, .mv_data = resume }, v;
		rc = mdb_cursor_get(cur, &k, &v, started ? MDB_SET_RANGE : MDB_FIRST);
		/* The resume key itself was seen already (it stayed because it was live). */
		if (rc == 0 && started && k.mv_size == resume_len && memcmp(k.mv_data, resume, resume_len) == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		b->n = 0;
		for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if (k.mv_size > sizeof(resume))
				continue;
			memcpy(resume, k.mv_data, k.mv_size);
			resume_len = k.mv_size;
			started = true;
			if (!doomed(s, &v))
				continue;
			memcpy(b->key[b->n], k.mv_data, k.mv_size);
			b->len[b->n++] = k.mv_size;
			if (b->n == SWEEP_BATCH)
				break;
		}
		end = rc != 0;
		mdb_cursor_close(cur);
		mdb_txn_abort(txn);
		if (rc != 0 && rc != MDB_NOTFOUND) {
			out = fail(s, "mdb_cursor_get", rc);
			goto out;
		}
		int err = 0;
		total += delete_batch(s, b, &err);
		if (err) {
			out = fail(s, "sweep", err);
			goto out;
		}
	}
out:
	free(b);
	if (removed)
		*removed = total;
	return out;
}

static int l_usage(struct sk_store *st, struct sk_store_usage *u)
{
	struct lmdb_store *s = (struct lmdb_store *)st;
	MDB_txn *txn;
	MDB_stat ms;
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	int rc = mdb_stat(txn, s->dbi, &ms);
	uint64_t used = 0;
	if (rc == 0)
		rc = used_bytes(s, txn, true, &used);
	if (rc != 0)
		sk_warn("state store (lmdb): usage: %s", mdb_strerror(rc));
	mdb_txn_abort(txn);
	if (rc != 0)
		return -1;
	u->records = ms.ms_entries;
	u->bytes = used;
	u->max_bytes = s->max_size;
	return 0;
}

static void l_close(struct sk_store *st)
{
	struct lmdb_store *s = (struct lmdb_store *)st;
	mdb_env_close(s->env);
	free(s);
}

static const struct sk_store_ops lmdb_ops = {
	.name = "lmdb",
	.get = l_get,
	.update = l_update,
	.del = l_del,
	.scan = l_scan,
	.sweep = l_sweep,
	.usage = l_usage,
	.close = l_close,
};

struct sk_store *sk_store_open_lmdb(const char *dir, uint64_t max_size, struct sk_err *err)
{
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		sk_err_set(err, dir, 0, 0, "cannot create the state directory: %s", strerror(errno));
		return NULL;
	}
	/* LMDB wants a whole number of pages. */
	long page = sysconf(_SC_PAGESIZE);
	uint64_t psz = page > 0 ? (uint64_t)page : 4096;
	if (max_size == 0)
		max_size = SK_STORE_DEFAULT_MAX_SIZE;
	max_size = (max_size + psz - 1) / psz * psz;
	uint64_t reserve = SK_MAX(max_size / 16, (uint64_t)256 << 10);
	reserve = (reserve + psz - 1) / psz * psz;
	struct lmdb_store *s = sk_calloc(1, sizeof(*s));
	s->base.ops = &lmdb_ops;
	s->base.now_ms = sk_store_wall_ms;
	s->max_size = max_size;
	char path[4096];
	snprintf(path, sizeof(path), "%s/state.mdb", dir);
	MDB_txn *txn = NULL;
	MDB_stat est;
	int rc = mdb_env_create(&s->env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, (size_t)(max_size + reserve));
	if (rc == 0)
		rc = mdb_env_set_maxreaders(s->env, 256);
	if (rc == 0)
		rc = mdb_env_open(s->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600);
	if (rc == 0)
		rc = mdb_env_stat(s->env, &est);
	if (rc == 0) {
		s->psize = est.ms_psize;
		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	}
	if (rc == 0)
		rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc != 0) {
		if (txn)
			mdb_txn_abort(txn);
		sk_err_set(err, path, 0, 0, "cannot open the state store: %s", mdb_strerror(rc));
		if (s->env)
			mdb_env_close(s->env);
		free(s);
		return NULL;
	}
	/* LMDB silently grows a map smaller than the file. What matters is the data, though: a file holding
	 * more than max_size would refuse every write, so that is a start error, not a silent resize. */
	uint64_t used = 0;
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) == 0) {
		rc = used_bytes(s, txn, false, &used);
		mdb_txn_abort(txn);
	}
	if (rc != 0 || used > max_size) {
		if (rc != 0)
			sk_err_set(err, path, 0, 0, "cannot read the state store: %s", mdb_strerror(rc));
		else
			sk_err_set(err, path, 0, 0,
				   "state.max_size (%" PRIu64 " KiB) is smaller than the data state.mdb already holds "
				   "(%" PRIu64 " KiB): raise state.max_size, or compact the file with `mdb_copy -c`",
				   max_size >> 10, used >> 10);
		mdb_env_close(s->env);
		free(s);
		return NULL;
	}
	/* Readers left behind by a process killed with -9 would pin old pages: clear them. */
	int dead = 0;
	mdb_reader_check(s->env, &dead);
	return &s->base;
}
