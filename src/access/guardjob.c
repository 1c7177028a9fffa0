/*
 * guardjob.c — state-store work for one request on the pool's state lane (see guardjob.h).
 *
 * Invariants: `work` runs on a pool thread and touches only the job (its copies of the inputs) and the
 * process-wide store; `done` runs on the request's loop. A request waits on at most one job
 * (req->gjob); a closed connection detaches (job->req = NULL) and the job frees itself in done. The
 * worker counts jobs in flight through its verifier and drains them before its loop goes away.
 *
 * Lockout without an oracle (DESIGN §3 "No oracle through timing or caching"): a failure is counted
 * before its answer, so the lock holds on every instance as soon as the 401 is out, and an unknown name
 * pays the same write: one of DECOY_KEYS decoy records gets a tally-shaped value (no record is made for
 * the name itself, so invented names cannot grow the store). The tally is read before the password by a
 * LOCK job, the same read for any name.
 */
#include "access/guardjob.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "access/users.h"
#include "access/verify.h"
#include "core/log.h"
#include "loop/loop.h"
#include "net/banlist.h"
#include "obs/metrics.h"

struct sk_guard_job {
	struct sk_job job;
	struct sk_access_req *req;
	struct sk_guard_out *out;     /* in req's scratch: written in done unless detached */
	struct sk_guard_session *ses; /* likewise, or NULL */
	struct sk_verifier *v;
	struct sk_store *store;
	/* settings copied from the snapshot */
	unsigned deny;
	uint64_t unlock_ms;
	unsigned max_retry;
	uint64_t find_ms, ban_ms;
	unsigned skew;
	uint64_t idle_ms, absolute_ms;
	bool totp_ready;
	uint8_t totp_key[SK_TOTP_KEY_LEN];
	struct sk_guard_in in;
	/* outcome */
	enum sk_reason reason;
	bool mfa;
	bool locked, settled; /* LOCK */
	struct sk_session session;
	char session_id[65];
};

static const char *lvl_text(uint8_t level)
{
	return level >= SK_SESSION_MFA ? "password and code" : "password";
}

/*
 * The write an unknown name pays in place of a tally: the same update (read, then a value of a tally's
 * shape) on one of a few decoy keys, picked at random so concurrent failures seldom contend on one key.
 * The records expire, so they stay a handful whatever the traffic.
 */
#define DECOY_KEYS 16
#define DECOY_TTL_MS (10 * 60 * 1000)

struct decoy_arg {
	uint64_t now;
	const char *from;
};

static long decoy_fn(void *arg, const uint8_t *val, size_t len, uint8_t *out, uint64_t *expires)
{
	struct decoy_arg *a = arg;
	uint32_t n = 0;
	if (val && len < 64) {
		char buf[64];
		memcpy(buf, val, len);
		buf[len] = '\0';
		n = (uint32_t)strtoul(buf, NULL, 10);
	}
	*expires = a->now + DECOY_TTL_MS;
	return snprintf((char *)out, SK_STORE_MAX_VALUE, "%" PRIu32 " %" PRIu64 " %s", n % 1000 + 1, a->now,
			a->from && *a->from ? a->from : "-");
}

static enum sk_store_rc decoy_write(struct sk_store *st, uint64_t now, const char *from)
{
	uint8_t r = 0;
	if (getrandom(&r, 1, 0) != 1)
		r = (uint8_t)now;
	char key[32];
	snprintf(key, sizeof(key), "decoy:%u", (unsigned)(r % DECOY_KEYS));
	struct decoy_arg a = { .now = now, .from = from };
	return sk_store_update(st, key, decoy_fn, &a);
}

/* Counts a credential failure toward the account's lockout (an unknown name: the decoy write) and the
 * client's ban. */
static enum sk_store_rc count_failure(struct sk_guard_job *j, uint64_t now)
{
	struct sk_guard_in *in = &j->in;
	if (j->deny && in->user_known) {
		struct sk_tally t;
		enum sk_store_rc rc = sk_tally_fail(j->store, in->user, now, in->ip, &t);
		if (rc == SK_ST_DOWN)
			return rc;
		if (rc == SK_ST_OK && t.failures == j->deny) {
			sk_metrics_lockout();
			sk_warn("lockout: account '%s' locked after %u consecutive failures (latest from %s)", in->user,
				t.failures, in->ip);
		}
	} else if (j->deny && in->named && decoy_write(j->store, now, in->ip) == SK_ST_DOWN) {
		return SK_ST_DOWN;
	}
	if (j->max_retry) {
		uint64_t until;
		bool banned;
		enum sk_store_rc rc =
			sk_ban_fail(j->store, in->ip, now, j->max_retry, j->find_ms, j->ban_ms, &until, &banned);
		if (rc == SK_ST_DOWN)
			return rc;
		if (banned) {
			sk_bans_add(in->ip, until);
			if (until)
				sk_warn("ban: %s banned for %llus after %u credential failures within %llus", in->ip,
					(unsigned long long)(j->ban_ms / 1000), j->max_retry,
					(unsigned long long)(j->find_ms / 1000));
			else
				sk_warn("ban: %s banned until removed, after %u credential failures", in->ip, j->max_retry);
		}
	}
	return SK_ST_OK;
}

/* 1 valid fresh code, 0 wrong or replayed, -1 store down. */
static int check_code(struct sk_guard_job *j, uint64_t now)
{
	struct sk_guard_in *in = &j->in;
	if (!in->totp_enc || !j->totp_ready)
		return 0;
	uint8_t secret[SK_TOTP_SECRET_MAX];
	size_t slen;
	if (sk_totp_open(j->totp_key, in->user, in->totp_enc, secret, sizeof(secret), &slen) == -1) {
		sk_error("totp: the stored secret of '%s' does not open with totp.key_file", in->user);
		return 0;
	}
	int64_t step;
	int ok = sk_totp_verify(secret, slen, in->code, strlen(in->code), (int64_t)(now / 1000), j->skew, -1, &step);
	explicit_bzero(secret, sizeof(secret));
	if (ok != 1)
		return 0;
	bool fresh;
	/* A step can match until skew steps after it: keep its mark that long, and a margin. */
	uint64_t keep = (uint64_t)(2 * j->skew + 2) * SK_TOTP_PERIOD * 1000;
	if (sk_totp_mark(j->store, in->user, step, now, keep, &fresh) == SK_ST_DOWN)
		return -1;
	return fresh ? 1 : 0;
}

/* Before the password: the presented name's tally, read the same way whether the name is a user. */
static void work_lock(struct sk_guard_job *j, uint64_t now)
{
	struct sk_tally t;
	if (sk_tally_get(j->store, j->in.user, &t) == SK_ST_DOWN) {
		j->reason = SK_R_STATE_UNAVAILABLE;
		return;
	}
	j->reason = SK_R_NONE;
	j->locked = sk_tally_locked(&t, j->deny, j->unlock_ms, now);
	j->settled = t.failures == 0;
}

static void work_auth(struct sk_guard_job *j, uint64_t now)
{
	struct sk_guard_in *in = &j->in;
	bool locked = false;
	struct sk_tally t = { 0 };
	/* Only a right password reads the tally again here (a failure landed since LOCK read it locks it
	 * too): a wrong one, or an unknown name, is refused whatever the lock says. */
	if (j->deny && in->user_known && in->password_ok) {
		if (sk_tally_get(j->store, in->user, &t) == SK_ST_DOWN)
			goto down;
		locked = sk_tally_locked(&t, j->deny, j->unlock_ms, now);
	}
	bool ok = in->password_ok && !locked;
	j->reason = ok ? SK_R_NONE : SK_R_BAD_CREDENTIALS;
	if (ok && in->need_mfa) {
		if (!in->have_code || !in->totp_enc) {
			j->reason = SK_R_MFA_REQUIRED; /* not a failure: the password was right */
			return;
		}
		int c = check_code(j, now);
		if (c == -1)
			goto down;
		if (c == 0) {
			ok = false;
			j->reason = SK_R_MFA_FAILED;
		} else {
			j->mfa = true;
		}
	}
	if (!ok) {
		if (count_failure(j, now) == SK_ST_DOWN)
			goto down;
		return;
	}
	if (t.failures > 0 && sk_tally_reset(j->store, in->user, NULL) == SK_ST_DOWN)
		goto down;
	return;
down:
	j->reason = SK_R_STATE_UNAVAILABLE;
}

/* The idle time is refreshed at most this often: a session read is then a write only once a minute. */
#define TOUCH_MS 60000

static void work_session(struct sk_guard_job *j, uint64_t now)
{
	enum sk_store_rc rc = sk_session_get(j->store, j->in.session_id, now, j->idle_ms, j->absolute_ms, &j->session);
	if (rc == SK_ST_DOWN) {
		j->reason = SK_R_STATE_UNAVAILABLE;
		return;
	}
	if (rc != SK_ST_OK) {
		j->reason = SK_R_AUTH_REQUIRED;
		return;
	}
	j->reason = SK_R_NONE;
	snprintf(j->session_id, sizeof(j->session_id), "%s", j->in.session_id);
	if (now - j->session.last >= TOUCH_MS) {
		j->session.last = now;
		if (sk_session_put(j->store, j->in.session_id, &j->session, j->idle_ms, j->absolute_ms) == SK_ST_DOWN)
			j->reason = SK_R_STATE_UNAVAILABLE;
	}
}

static void work_login(struct sk_guard_job *j, uint64_t now)
{
	/* A new id at every level change, so an id seen before the second factor is worth nothing after. */
	uint8_t raw[32];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		j->reason = SK_R_STATE_UNAVAILABLE;
		return;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(j->session_id + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
	if (j->in.session_id[0] && sk_session_del(j->store, j->in.session_id) == SK_ST_DOWN) {
		j->reason = SK_R_STATE_UNAVAILABLE;
		return;
	}
	j->session = (struct sk_session){ .level = j->in.level, .created = now, .last = now };
	snprintf(j->session.user, sizeof(j->session.user), "%s", j->in.user);
	if (sk_session_put(j->store, j->session_id, &j->session, j->idle_ms, j->absolute_ms) == SK_ST_DOWN) {
		j->reason = SK_R_STATE_UNAVAILABLE;
		return;
	}
	sk_info("session: '%s' signed in from %s (%s)", j->in.user, j->in.ip, lvl_text(j->in.level));
	j->reason = SK_R_NONE;
}

static void work(struct sk_job *job)
{
	struct sk_guard_job *j = SK_CONTAINER_OF(job, struct sk_guard_job, job);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	switch (j->in.kind) {
	case SK_GJ_AUTH:
		work_auth(j, now);
		break;
	case SK_GJ_SESSION:
		work_session(j, now);
		break;
	case SK_GJ_LOGIN:
		work_login(j, now);
		break;
	case SK_GJ_LOGOUT:
		j->reason = sk_session_del(j->store, j->in.session_id) == SK_ST_DOWN ? SK_R_STATE_UNAVAILABLE : SK_R_NONE;
		break;
	case SK_GJ_LOCK:
		work_lock(j, now);
		break;
	}
	explicit_bzero(j->in.code, sizeof(j->in.code));
	explicit_bzero(j->totp_key, sizeof(j->totp_key));
}

static void done(struct sk_job *job)
{
	struct sk_guard_job *j = SK_CONTAINER_OF(job, struct sk_guard_job, job);
	struct sk_access_req *req = j->req;
	sk_verifier_hold(j->v, -1);
	if (req) {
		req->gjob = NULL;
		*j->out = (struct sk_guard_out){
			.reason = (uint8_t)j->reason,
			.mfa = j->mfa || j->session.level >= SK_SESSION_MFA,
			.level = j->session.level,
			.locked = j->locked,
			.settled = j->settled,
		};
		if (j->ses) {
			snprintf(j->ses->user, sizeof(j->ses->user), "%s", j->session.user);
			snprintf(j->ses->id, sizeof(j->ses->id), "%s", j->session_id);
		}
	}
	free(j->in.totp_enc);
	free(j);
	if (req)
		req->resume(req);
}

void sk_guard_in_init(struct sk_guard_in *in, enum sk_guard_kind kind, const struct sk_access_req *req,
		      const struct sk_user *u, const char *name, size_t name_len)
{
	memset(in, 0, sizeof(*in));
	in->kind = kind;
	if (u) {
		snprintf(in->user, sizeof(in->user), "%s", u->name);
		in->user_known = true;
		in->totp_enc = u->totp ? sk_strdup(u->totp) : NULL;
	} else if (name && name_len <= SK_GUARD_MAX_USER) {
		memcpy(in->user, name, name_len);
		in->user[name_len] = '\0';
	}
	if (req->family == AF_INET)
		inet_ntop(AF_INET, req->addr, in->ip, sizeof(in->ip));
	else
		inet_ntop(AF_INET6, req->addr, in->ip, sizeof(in->ip));
}

int sk_guard_start(struct sk_access_req *req, const struct sk_access_env *env, struct sk_guard_in *in,
		   struct sk_guard_out *out, struct sk_guard_session *ses)
{
	SK_ASSERT(env->store && !req->gjob && out);
	const struct sk_config *cfg = env->cfg;
	struct sk_guard_job *j = sk_calloc(1, sizeof(*j));
	j->req = req;
	j->out = out;
	j->ses = ses;
	j->v = req->verifier;
	j->store = env->store;
	if (cfg->lockout.present) {
		j->deny = cfg->lockout.deny;
		j->unlock_ms = cfg->lockout.unlock_time_ms;
	}
	if (cfg->ban.present) {
		j->max_retry = cfg->ban.max_retry;
		j->find_ms = cfg->ban.find_time_ms;
		j->ban_ms = cfg->ban.ban_time_ms;
	}
	j->skew = cfg->totp.skew;
	j->idle_ms = cfg->session.idle_ms;
	j->absolute_ms = cfg->session.absolute_ms;
	j->totp_ready = env->totp_ready;
	if (env->totp_ready)
		memcpy(j->totp_key, env->totp_key, sizeof(j->totp_key));
	j->in = *in;
	in->totp_enc = NULL; /* the job owns it now */
	explicit_bzero(in->code, sizeof(in->code));
	j->job.work = work;
	j->job.done = done;
	if (sk_pool_submit_lane(SK_LANE_STATE, sk_verifier_loop(req->verifier), &j->job) == -1) {
		free(j->in.totp_enc);
		explicit_bzero(j, sizeof(*j));
		free(j);
		return -1;
	}
	sk_verifier_hold(req->verifier, 1);
	req->gjob = j;
	return 0;
}

void sk_guard_cancel(struct sk_access_req *req)
{
	if (req->gjob) {
		req->gjob->req = NULL;
		req->gjob = NULL;
	}
}
