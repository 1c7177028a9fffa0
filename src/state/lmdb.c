/*
 * lmdb.c — the embedded store: one LMDB environment, file `state.mdb` under state.path.
 *
 * Each value is stored as an 8-byte little-endian expiry followed by its bytes. Every update is one
 * short write transaction that LMDB commits durably (fsync), so a tally or a ban survives kill -9 the
 * moment the request that caused it is answered. Readers use MDB_NOTLS because the pool's threads are
 * shared; the environment is opened once per process and never crosses a fork.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "state/store.h"

#define MAP_SIZE (256UL << 20)
#define SWEEP_MAX 1024 /* expired keys removed per scan */

struct lmdb_store {
	struct sk_store base;
	MDB_env *env;
	MDB_dbi dbi;
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

static enum sk_store_rc fail(const char *what, int rc)
{
	sk_error("state store (lmdb): %s: %s", what, mdb_strerror(rc));
	return SK_ST_DOWN;
}

static enum sk_store_rc l_get(struct sk_store *st, const char *key, uint8_t *out, size_t *len, uint64_t *expires)
{
	struct lmdb_store *s = (struct lmdb_store *)st;
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return fail("mdb_txn_begin", rc);
	MDB_val k = { .mv_size = strlen(key), .mv_data = (void *)key }, v;
	enum sk_store_rc out_rc = SK_ST_ABSENT;
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc == 0 && live(s, &v) && v.mv_size - 8 <= SK_STORE_MAX_VALUE) {
		*len = v.mv_size - 8;
		memcpy(out, (uint8_t *)v.mv_data + 8, *len);
		if (expires)
			*expires = rd64(v.mv_data);
		out_rc = SK_ST_OK;
	} else if (rc != 0 && rc != MDB_NOTFOUND) {
		out_rc = fail("mdb_get", rc);
	}
	mdb_txn_abort(txn);
	return out_rc;
}

static enum sk_store_rc l_update(struct sk_store *st, const char *key, sk_store_update_fn fn, void *arg)
{
	struct lmdb_store *s = (struct lmdb_store *)st;
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return fail("mdb_txn_begin", rc);
	MDB_val k = { .mv_size = strlen(key), .mv_data = (void *)key }, v;
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return fail("mdb_get", rc);
	}
	bool have = rc == 0 && live(s, &v) && v.mv_size - 8 <= SK_STORE_MAX_VALUE;
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
		return fail("mdb_put", rc);
	}
	rc = mdb_txn_commit(txn);
	return rc == 0 ? SK_ST_OK : fail("mdb_txn_commit", rc);
}

static enum sk_store_rc l_del(struct sk_store *st, const char *key)
{
	struct lmdb_store *s = (struct lmdb_store *)st;
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return fail("mdb_txn_begin", rc);
	MDB_val k = { .mv_size = strlen(key), .mv_data = (void *)key }, v;
	bool had = mdb_get(txn, s->dbi, &k, &v) == 0 && live(s, &v);
	rc = mdb_del(txn, s->dbi, &k, NULL);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return SK_ST_ABSENT;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return fail("mdb_del", rc);
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return fail("mdb_txn_commit", rc);
	return had ? SK_ST_OK : SK_ST_ABSENT;
}

static enum sk_store_rc l_scan(struct sk_store *st, const char *prefix, sk_store_scan_fn fn, void *arg)
{
	struct lmdb_store *s = (struct lmdb_store *)st;
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return fail("mdb_txn_begin", rc);
	rc = mdb_cursor_open(txn, s->dbi, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return fail("mdb_cursor_open", rc);
	}
	size_t plen = strlen(prefix);
	char (*expired)[SK_STORE_MAX_KEY + 1] = NULL;
	size_t n_expired = 0;
	MDB_val k = { .mv_size = plen, .mv_data = (void *)prefix }, v;
	char key[SK_STORE_MAX_KEY + 1];
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (k.mv_size > SK_STORE_MAX_KEY)
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
		return fail("mdb_cursor_get", rc);
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
	.close = l_close,
};

struct sk_store *sk_store_open_lmdb(const char *dir, struct sk_err *err)
{
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		sk_err_set(err, dir, 0, 0, "cannot create the state directory: %s", strerror(errno));
		return NULL;
	}
	struct lmdb_store *s = sk_calloc(1, sizeof(*s));
	s->base.ops = &lmdb_ops;
	s->base.now_ms = sk_store_wall_ms;
	char path[4096];
	snprintf(path, sizeof(path), "%s/state.mdb", dir);
	MDB_txn *txn = NULL;
	int rc = mdb_env_create(&s->env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, MAP_SIZE);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(s->env, 256);
	if (rc == 0)
		rc = mdb_env_open(s->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
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
	/* Readers left behind by a process killed with -9 would pin old pages: clear them. */
	int dead = 0;
	mdb_reader_check(s->env, &dead);
	return &s->base;
}
