/*
 * portal.c — the login, code and logout pages under /.sekisho/ (see portal.h).
 *
 * Invariants: every value that reaches a page is HTML-escaped; every value that reaches a header has
 * passed safe_target (printable ASCII without quotes, angle brackets, backslashes or spaces); the redirect
 * target is a path on this host or an absolute URL whose host is one of this distribution's aliases.
 * Passwords and codes are wiped from the portal's memory once handed to the checks, and never logged.
 */
#include "proxy/portal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/credentials.h"
#include "access/login.h"
#include "access/session.h"
#include "access/users.h"
#include "proxy/route.h"

#define MAX_TARGET 1024

enum page { PAGE_NONE = 0, PAGE_LOGIN, PAGE_TOTP, PAGE_LOGOUT };
/* What a POST waits on; the sign-in steps themselves (and their protections) are login.c's. */
enum phase { PH_START = 0, PH_PASSWORD, PH_SESSION, PH_CODE, PH_LOGIN, PH_LOGOUT };

struct sk_portal {
	uint8_t phase;
	char rd[MAX_TARGET + 1];      /* validated target, "" = / */
	char old_session[65];
	char code[SK_TOTP_DIGITS + 1];
	struct sk_login_opts opts;    /* the login form's: state always kept, no code with the password */
	struct sk_login login;        /* the sign-in in progress (its user: login.user) */
};

struct sk_portal *sk_portal_new(void)
{
	return sk_calloc(1, sizeof(struct sk_portal));
}

void sk_portal_free(struct sk_portal *p)
{
	if (!p)
		return;
	explicit_bzero(p, sizeof(*p));
	free(p);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the redirect target ---- */

static bool safe_chars(const char *t)
{
	for (const char *p = t; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c))
			return false;
	}
	return true;
}

/* True when t may be redirected to: a local path, or http(s)://ALIAS/... of this distribution. */
static bool safe_target(const struct sk_portal_io *io, const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > MAX_TARGET || !safe_chars(t))
		return false;
	if (t[0] == '/')
		return t[1] != '/' && strncmp(t, SK_PORTAL_PREFIX, strlen(SK_PORTAL_PREFIX)) != 0;
	const char *rest;
	if (strncmp(t, "https://", 8) == 0)
		rest = t + 8;
	else if (strncmp(t, "http://", 7) == 0)
		rest = t + 7;
	else
		return false;
	size_t alen = strcspn(rest, "/?#");
	if (alen == 0 || memchr(rest, '@', alen))
		return false;
	if (rest[alen] == '/' && strncmp(rest + alen, SK_PORTAL_PREFIX, strlen(SK_PORTAL_PREFIX)) == 0)
		return false;
	struct sk_slice host = { .ptr = rest, .len = alen };
	return sk_routes_find(io->rt->routes, io->listener, host) == io->dist;
}

/* Percent-encodes t for a query value. */
static size_t pct_encode(const char *t, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const char *p = t; *p && o + 4 < cap; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~/", c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return o;
}

/* ---- output ---- */

struct out {
	char *p;
	size_t cap, n;
	bool full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	if (o->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= o->cap - o->n)
		o->full = true;
	else
		o->n += (size_t)k;
}

static void put_html(struct out *o, const char *s)
{
	for (; *s && !o->full; s++) {
		switch (*s) {
		case '&': put(o, "&amp;"); break;
		case '<': put(o, "&lt;"); break;
		case '>': put(o, "&gt;"); break;
		case '"': put(o, "&quot;"); break;
		case '\'': put(o, "&#39;"); break;
		default: put(o, "%c", *s);
		}
	}
}

static const char STYLE[] =
	"<style>body{font:16px/1.5 system-ui,sans-serif;background:#f4f4f5;color:#18181b;margin:0}"
	"main{max-width:22rem;margin:12vh auto;background:#fff;padding:2rem;border-radius:.5rem;"
	"box-shadow:0 1px 3px rgba(0,0,0,.15)}h1{font-size:1.4rem;margin:0 0 1rem}"
	"label{display:block;margin:.8rem 0 .2rem;font-weight:600}"
	"input{box-sizing:border-box;width:100%;padding:.5rem;font-size:1rem;border:1px solid #a1a1aa;border-radius:.3rem}"
	"button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem;border:0;border-radius:.3rem;"
	"background:#1d4ed8;color:#fff;cursor:pointer}button:focus,input:focus{outline:3px solid #93c5fd}"
	".error{color:#b91c1c;font-weight:600}</style>";

/* A page with its head; body_fn writes the <main> content. extra: more header lines. */
static void page_start(struct out *o, int status, const char *title)
{
	(void)status;
	put(o, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	       "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
	       "<meta name=\"robots\" content=\"noindex\"><title>%s</title>%s</head><body><main>",
	    title, STYLE);
}

static void page_end(struct out *o)
{
	put(o, "</main></body></html>\n");
}

/* Describes the page's response (fields and body kept in out, through io->reply); returns the bytes used. */
static size_t respond(const struct sk_portal_io *io, char *out, size_t cap, int status, const char *extra,
		      const char *body, size_t blen)
{
	struct sk_reply *r = io->reply;
	sk_reply_init(r, r->resp, r->fields, r->max_fields, out, cap, status);
	sk_reply_field_str(r, "Content-Type", "text/html; charset=utf-8");
	sk_reply_field_str(r, "Cache-Control", "no-store");
	sk_reply_field_str(r, "X-Frame-Options", "DENY");
	sk_reply_field_str(r, "Referrer-Policy", "no-referrer");
	sk_reply_field_str(r, "X-Content-Type-Options", "nosniff");
	sk_reply_field_str(r, "Content-Security-Policy",
			   "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
	if (extra)
		sk_reply_lines(r, extra);
	sk_reply_body(r, body, blen);
	SK_ASSERT(!r->overflow);
	return r->used;
}

static const char *secure_attr(const struct sk_portal_io *io)
{
	return io->tls ? "; Secure" : "";
}

/* The hidden fields and the CSRF cookie every form carries. */
struct form_ctx {
	char csrf[SK_CSRF_LEN + 1];
	char cookie[SK_CSRF_LEN + 128];
};

static int form_ctx_init(const struct sk_portal_io *io, struct form_ctx *f)
{
	if (sk_csrf_make(io->rt->access.session_key, wall_ms(), f->csrf) == -1)
		return -1;
	snprintf(f->cookie, sizeof(f->cookie), "Set-Cookie: " SK_CSRF_COOKIE "=%s; Path=/.sekisho/; HttpOnly; "
		 "SameSite=Strict%s\r\n", f->csrf, secure_attr(io));
	return 0;
}

static void hidden(struct out *o, const struct form_ctx *f, const char *rd)
{
	put(o, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", f->csrf);
	put(o, "<input type=\"hidden\" name=\"rd\" value=\"");
	put_html(o, rd);
	put(o, "\">");
}

static size_t login_page(const struct sk_portal_io *io, const char *rd, const char *error, int status, char *out,
			 size_t cap, const char *extra_cookie)
{
	struct form_ctx f;
	if (form_ctx_init(io, &f) == -1)
		return 0;
	char body[8192];
	struct out o = { .p = body, .cap = sizeof(body) };
	page_start(&o, status, "Sign in");
	put(&o, "<h1>Sign in</h1>");
	if (error)
		put(&o, "<p class=\"error\" role=\"alert\">%s</p>", error);
	put(&o, "<form method=\"post\" action=\"/.sekisho/login\">");
	hidden(&o, &f, rd);
	put(&o, "<label for=\"username\">Username</label>"
		"<input id=\"username\" name=\"username\" autocomplete=\"username\" autocapitalize=\"none\" "
		"spellcheck=\"false\" required%s>"
		"<label for=\"password\">Password</label>"
		"<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>"
		"<button type=\"submit\">Sign in</button></form>",
	    error ? "" : " autofocus");
	page_end(&o);
	char extra[512];
	snprintf(extra, sizeof(extra), "%s%s", f.cookie, extra_cookie ? extra_cookie : "");
	return respond(io, out, cap, status, extra, body, o.n);
}

static size_t totp_page(const struct sk_portal_io *io, const char *rd, const char *error, int status, char *out,
			size_t cap)
{
	struct form_ctx f;
	if (form_ctx_init(io, &f) == -1)
		return 0;
	char body[8192];
	struct out o = { .p = body, .cap = sizeof(body) };
	page_start(&o, status, "Enter your code");
	put(&o, "<h1>Enter your code</h1>");
	if (error)
		put(&o, "<p class=\"error\" role=\"alert\">%s</p>", error);
	put(&o, "<p>Open your authenticator app and enter the 6-digit code it shows.</p>"
		"<form method=\"post\" action=\"/.sekisho/totp\">");
	hidden(&o, &f, rd);
	put(&o, "<label for=\"code\">Code</label>"
		"<input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" "
		"pattern=\"[0-9]{6}\" maxlength=\"6\" required autofocus>"
		"<button type=\"submit\">Verify</button></form>");
	page_end(&o);
	return respond(io, out, cap, status, f.cookie, body, o.n);
}

static size_t logout_page(const struct sk_portal_io *io, char *out, size_t cap)
{
	struct form_ctx f;
	if (form_ctx_init(io, &f) == -1)
		return 0;
	char body[4096];
	struct out o = { .p = body, .cap = sizeof(body) };
	page_start(&o, 200, "Sign out");
	put(&o, "<h1>Sign out</h1><form method=\"post\" action=\"/.sekisho/logout\">");
	hidden(&o, &f, "");
	put(&o, "<button type=\"submit\">Sign out</button></form>");
	page_end(&o);
	return respond(io, out, cap, 200, f.cookie, body, o.n);
}

static size_t message_page(const struct sk_portal_io *io, int status, const char *title, const char *text,
			   const char *extra, char *out, size_t cap)
{
	char body[4096];
	struct out o = { .p = body, .cap = sizeof(body) };
	page_start(&o, status, title);
	put(&o, "<h1>%s</h1><p>%s</p><p><a href=\"/.sekisho/login\">Sign in</a></p>", title, text);
	page_end(&o);
	return respond(io, out, cap, status, extra, body, o.n);
}

static size_t redirect(const struct sk_portal_io *io, int status, const char *location, const char *extra, char *out,
		       size_t cap)
{
	char hdr[MAX_TARGET * 3 + 1024];
	snprintf(hdr, sizeof(hdr), "Location: %s\r\n%s", location, extra ? extra : "");
	return respond(io, out, cap, status, hdr, "", 0);
}

/* "/.sekisho/<page>?rd=<target>" (or without rd when the target is /). */
static void page_url(const char *page, const char *rd, char *out, size_t cap)
{
	char enc[MAX_TARGET * 3 + 1];
	pct_encode(rd, enc, sizeof(enc));
	if (rd[0])
		snprintf(out, cap, "/.sekisho/%s?rd=%s", page, enc);
	else
		snprintf(out, cap, "/.sekisho/%s", page);
}

static void session_cookie(const struct sk_portal_io *io, const char *id, char *out, size_t cap)
{
	char v[SK_SESSION_COOKIE_LEN + 1];
	sk_session_cookie_make(io->rt->access.session_key, id, v);
	snprintf(out, cap, "Set-Cookie: " SK_SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Lax%s\r\n", v,
		 secure_attr(io));
}

/* ---- the pages ---- */

static enum page page_of(struct sk_slice path)
{
	if (sk_slice_eq(path, "/.sekisho/login"))
		return PAGE_LOGIN;
	if (sk_slice_eq(path, "/.sekisho/totp"))
		return PAGE_TOTP;
	if (sk_slice_eq(path, "/.sekisho/logout"))
		return PAGE_LOGOUT;
	return PAGE_NONE;
}

/* The target from the query (GET) or the form (POST), kept only when safe. */
static void read_target(struct sk_portal *p, const struct sk_portal_io *io)
{
	char t[MAX_TARGET + 1];
	struct sk_slice q = io->query;
	if (q.len && q.ptr[0] == '?') {
		q.ptr++;
		q.len--;
	}
	long n = sk_form_get(io->post ? io->body : q, "rd", t, sizeof(t));
	p->rd[0] = '\0';
	if (n > 0 && safe_target(io, t))
		memcpy(p->rd, t, (size_t)n + 1);
}

static bool csrf_ok(const struct sk_portal_io *io)
{
	char form[SK_CSRF_LEN + 2];
	long n = sk_form_get(io->body, "csrf", form, sizeof(form));
	if (n < 0)
		return false;
	struct sk_slice f = { .ptr = form, .len = (size_t)n };
	return sk_csrf_check(io->rt->access.session_key, f, sk_cookie_find(io->hreq, SK_CSRF_COOKIE), wall_ms());
}

static bool cookie_session(const struct sk_portal_io *io, char *id)
{
	return sk_session_cookie_find(io->rt->access.session_key, io->hreq, id);
}

struct result {
	size_t n;
	int status;
	enum sk_reason reason;
};

static enum sk_verdict fail_page(const struct sk_portal_io *io, enum sk_reason reason, char *out, size_t cap,
				 struct result *res)
{
	res->reason = reason;
	if (reason == SK_R_STATE_UNAVAILABLE) {
		res->status = 503;
		res->n = message_page(io, 503, "Try again later", "Sign-in is unavailable right now.", NULL, out, cap);
	} else if (reason == SK_R_TOO_MANY_ATTEMPTS) {
		res->status = 429;
		res->n = message_page(io, 429, "Too many attempts", "Wait a moment, then try again.", NULL, out, cap);
	} else if (reason == SK_R_CSRF_FAILED) {
		res->status = 403;
		res->n = message_page(io, 403, "This form has expired",
				      "Go back, reload the page and try again.", NULL, out, cap);
	} else {
		res->status = 405;
		res->n = message_page(io, 405, "Not allowed", "This page does not take that method.", NULL, out, cap);
	}
	return SK_V_ALLOW;
}

/* The form's name and password handed to the sign-in (login.c); false when the form lacks them. */
static bool form_password(struct sk_portal *p, const struct sk_portal_io *io, enum sk_login_rc *rc)
{
	char user[SK_GUARD_MAX_USER + 2], pw[SK_CRED_MAX];
	long ul = sk_form_get(io->body, "username", user, sizeof(user));
	long pl = sk_form_get(io->body, "password", pw, sizeof(pw));
	if (ul <= 0 || pl < 0) {
		explicit_bzero(pw, sizeof(pw));
		return false;
	}
	*rc = sk_login_password(&p->login, &p->opts, &io->rt->access, io->areq,
				(struct sk_slice){ .ptr = user, .len = (size_t)ul },
				(struct sk_slice){ .ptr = pw, .len = (size_t)pl }, NULL);
	explicit_bzero(pw, sizeof(pw));
	return true;
}

static enum sk_verdict wrong_password(struct sk_portal *p, const struct sk_portal_io *io, char *out, size_t cap,
				      struct result *res)
{
	io->areq->user = NULL;
	res->status = 401;
	res->reason = SK_R_BAD_CREDENTIALS;
	res->n = login_page(io, p->rd, "Wrong username or password.", 401, out, cap, NULL);
	return SK_V_ALLOW;
}

/* POST /.sekisho/login: the password (with lockout, the name's tally first; see login.c), then a session
 * at the password level. */
static enum sk_verdict login_post(struct sk_portal *p, const struct sk_portal_io *io, char *out, size_t cap,
				  struct result *res)
{
	const struct sk_access_env *env = &io->rt->access;
	struct sk_access_req *areq = io->areq;
	struct sk_login *l = &p->login;
	enum sk_login_rc rc;
	switch (p->phase) {
	case PH_START:
		if (!csrf_ok(io))
			return fail_page(io, SK_R_CSRF_FAILED, out, cap, res);
		sk_login_opts_init(&p->opts, env, false, true);
		p->phase = PH_PASSWORD;
		if (!form_password(p, io, &rc))
			return wrong_password(p, io, out, cap, res);
		break;
	case PH_PASSWORD:
		rc = sk_login_resume(l, &p->opts, env, areq);
		if (rc == SK_LOGIN_CRED && !form_password(p, io, &rc)) /* the tally is read: the form again */
			return wrong_password(p, io, out, cap, res);
		break;
	case PH_LOGIN: {
		if (sk_login_resume(l, &p->opts, env, areq) != SK_LOGIN_OK)
			return fail_page(io, SK_R_STATE_UNAVAILABLE, out, cap, res);
		char cookie[256], loc[MAX_TARGET * 3 + 64];
		session_cookie(io, l->session.id, cookie, sizeof(cookie));
		if (l->user->totp && env->totp_ready)
			page_url("totp", p->rd, loc, sizeof(loc));
		else
			snprintf(loc, sizeof(loc), "%s", p->rd[0] ? p->rd : "/");
		res->status = 303;
		res->n = redirect(io, 303, loc, cookie, out, cap);
		return SK_V_ALLOW;
	}
	default:
		SK_ASSERT(!"login: bad phase");
		return SK_V_DENY;
	}
	if (rc == SK_LOGIN_AGAIN)
		return SK_V_AGAIN;
	if (rc == SK_LOGIN_FAIL) {
		if (l->reason == SK_R_STATE_UNAVAILABLE || l->reason == SK_R_TOO_MANY_ATTEMPTS)
			return fail_page(io, (enum sk_reason)l->reason, out, cap, res);
		return wrong_password(p, io, out, cap, res);
	}
	SK_ASSERT(rc == SK_LOGIN_OK && l->user); /* the portal always keeps state: no user, no match */
	char old[65];
	if (sk_login_open(l, env, areq, l->user, SK_SESSION_PASSWORD, cookie_session(io, old) ? old : NULL) ==
	    SK_LOGIN_FAIL)
		return fail_page(io, SK_R_STATE_UNAVAILABLE, out, cap, res);
	p->phase = PH_LOGIN;
	return SK_V_AGAIN;
}

/* POST /.sekisho/totp: the password-level session, the code (checked and marked used), then a new
 * session at the MFA level. */
static enum sk_verdict totp_post(struct sk_portal *p, const struct sk_portal_io *io, char *out, size_t cap,
				 struct result *res)
{
	const struct sk_access_env *env = &io->rt->access;
	struct sk_access_req *areq = io->areq;
	struct sk_login *l = &p->login;
	switch (p->phase) {
	case PH_START: {
		if (!csrf_ok(io))
			return fail_page(io, SK_R_CSRF_FAILED, out, cap, res);
		char id[65];
		if (!cookie_session(io, id))
			goto to_login;
		long n = sk_form_get(io->body, "code", p->code, sizeof(p->code));
		if (n != SK_TOTP_DIGITS)
			p->code[0] = '\0';
		memcpy(p->old_session, id, sizeof(id));
		if (sk_login_session(l, env, areq, id) == SK_LOGIN_FAIL)
			return fail_page(io, SK_R_STATE_UNAVAILABLE, out, cap, res);
		p->phase = PH_SESSION;
		return SK_V_AGAIN;
	}
	case PH_SESSION: {
		if (sk_login_resume(l, &p->opts, env, areq) == SK_LOGIN_FAIL) {
			if (l->reason == SK_R_STATE_UNAVAILABLE)
				return fail_page(io, SK_R_STATE_UNAVAILABLE, out, cap, res);
			goto to_login;
		}
		const struct sk_user *u = sk_users_find(env->users, l->session.user, strlen(l->session.user));
		if (!u)
			goto to_login;
		areq->user = u;
		enum sk_login_rc rc = sk_login_code(l, env, areq, u, p->code);
		explicit_bzero(p->code, sizeof(p->code));
		if (rc == SK_LOGIN_FAIL)
			return fail_page(io, SK_R_STATE_UNAVAILABLE, out, cap, res);
		p->phase = PH_CODE;
		return SK_V_AGAIN;
	}
	case PH_CODE: {
		if (sk_login_resume(l, &p->opts, env, areq) == SK_LOGIN_FAIL) {
			if (l->reason == SK_R_STATE_UNAVAILABLE)
				return fail_page(io, SK_R_STATE_UNAVAILABLE, out, cap, res);
			res->status = 401;
			res->reason = l->reason == SK_R_MFA_REQUIRED ? SK_R_MFA_REQUIRED : SK_R_MFA_FAILED;
			res->n = totp_page(io, p->rd, "Wrong code.", 401, out, cap);
			return SK_V_ALLOW;
		}
		if (sk_login_open(l, env, areq, l->user, SK_SESSION_MFA, p->old_session) == SK_LOGIN_FAIL)
			return fail_page(io, SK_R_STATE_UNAVAILABLE, out, cap, res);
		p->phase = PH_LOGIN;
		return SK_V_AGAIN;
	}
	case PH_LOGIN: {
		if (sk_login_resume(l, &p->opts, env, areq) != SK_LOGIN_OK)
			return fail_page(io, SK_R_STATE_UNAVAILABLE, out, cap, res);
		char cookie[256];
		session_cookie(io, l->session.id, cookie, sizeof(cookie));
		res->status = 303;
		res->n = redirect(io, 303, p->rd[0] ? p->rd : "/", cookie, out, cap);
		return SK_V_ALLOW;
	}
	default:
		SK_ASSERT(!"totp: bad phase");
		return SK_V_DENY;
	}
to_login: {
	char loc[MAX_TARGET * 3 + 64];
	page_url("login", p->rd, loc, sizeof(loc));
	res->status = 303;
	res->reason = SK_R_AUTH_REQUIRED;
	res->n = redirect(io, 303, loc, NULL, out, cap);
	return SK_V_ALLOW;
}
}

static const char CLEAR_SESSION[] = "Set-Cookie: " SK_SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax\r\n";

/* POST /.sekisho/logout */
static enum sk_verdict logout_post(struct sk_portal *p, const struct sk_portal_io *io, char *out, size_t cap,
				   struct result *res)
{
	const struct sk_access_env *env = &io->rt->access;
	if (p->phase == PH_START) {
		if (!csrf_ok(io))
			return fail_page(io, SK_R_CSRF_FAILED, out, cap, res);
		char id[65];
		if (cookie_session(io, id)) {
			if (sk_login_close(&p->login, env, io->areq, id) == SK_LOGIN_FAIL)
				return fail_page(io, SK_R_STATE_UNAVAILABLE, out, cap, res);
			p->phase = PH_LOGOUT;
			return SK_V_AGAIN;
		}
	} else if (sk_login_resume(&p->login, &p->opts, env, io->areq) != SK_LOGIN_OK) {
		return fail_page(io, SK_R_STATE_UNAVAILABLE, out, cap, res);
	}
	res->status = 200;
	res->n = message_page(io, 200, "Signed out", "You are signed out.", CLEAR_SESSION, out, cap);
	return SK_V_ALLOW;
}

enum sk_verdict sk_portal_run(struct sk_portal *p, const struct sk_portal_io *io, char *out, size_t cap, size_t *n,
			      int *status, enum sk_reason *reason)
{
	struct result res = { .status = 200, .reason = SK_R_NONE };
	enum page page = page_of(io->path);
	const struct sk_access_env *env = &io->rt->access;
	enum sk_verdict v = SK_V_ALLOW;
	if (p->phase == PH_START)
		read_target(p, io);
	if (page == PAGE_NONE) {
		res.status = 404;
		res.reason = SK_R_NOT_FOUND;
		res.n = message_page(io, 404, "Not found", "There is no such page.", NULL, out, cap);
	} else if (!env->session_ready || !env->store || !env->users) {
		/* No behavior of this config takes sessions: there is nothing to sign in to. */
		res.status = 404;
		res.reason = SK_R_NOT_FOUND;
		res.n = message_page(io, 404, "Not found", "Sign-in is not enabled here.", NULL, out, cap);
	} else if (!io->post) {
		char id[65];
		if (page == PAGE_LOGIN)
			res.n = login_page(io, p->rd, NULL, 200, out, cap, NULL);
		else if (page == PAGE_LOGOUT)
			res.n = logout_page(io, out, cap);
		else if (cookie_session(io, id))
			res.n = totp_page(io, p->rd, NULL, 200, out, cap);
		else {
			char loc[MAX_TARGET * 3 + 64];
			page_url("login", p->rd, loc, sizeof(loc));
			res.status = 303;
			res.n = redirect(io, 303, loc, NULL, out, cap);
		}
	} else if (page == PAGE_LOGIN) {
		v = login_post(p, io, out, cap, &res);
	} else if (page == PAGE_TOTP) {
		v = totp_post(p, io, out, cap, &res);
	} else {
		v = logout_post(p, io, out, cap, &res);
	}
	if (v == SK_V_AGAIN)
		return v;
	*n = res.n;
	*status = res.status;
	*reason = res.reason;
	return SK_V_ALLOW;
}

bool sk_portal_redirect(const struct sk_behavior *beh, const struct sk_http_request *hreq, enum sk_reason reason,
			struct sk_slice path, struct sk_slice query, struct sk_reply *r, char *out, size_t cap)
{
	if (reason != SK_R_AUTH_REQUIRED && reason != SK_R_MFA_REQUIRED)
		return false;
	bool session = false;
	for (size_t i = 0; i < beh->access.n_auth; i++)
		session |= beh->access.auth[i] == SK_AUTH_SESSION;
	if (!session)
		return false;
	if (!sk_slice_eq(hreq->method, "GET") && !sk_slice_eq(hreq->method, "HEAD"))
		return false;
	/* A browser navigating asks for HTML; an API client gets the 401 it can act on. */
	const struct sk_http_field *acc = sk_http_find(hreq->headers, hreq->n_headers, "accept");
	if (!acc || !memmem(acc->value.ptr, acc->value.len, "text/html", 9))
		return false;
	char target[MAX_TARGET + 1];
	if (path.len + 1 + query.len > MAX_TARGET) {
		snprintf(target, sizeof(target), "/");
	} else {
		memcpy(target, path.ptr, path.len);
		size_t t = path.len;
		if (query.len) {
			if (query.ptr[0] != '?')
				target[t++] = '?';
			memcpy(target + t, query.ptr, query.len);
			t += query.len;
		}
		target[t] = '\0';
	}
	char loc[MAX_TARGET * 3 + 64];
	page_url(reason == SK_R_MFA_REQUIRED ? "totp" : "login", target, loc, sizeof(loc));
	sk_reply_init(r, r->resp, r->fields, r->max_fields, out, cap, 302);
	sk_reply_field_str(r, "Location", loc);
	sk_reply_field_str(r, "Cache-Control", "no-store");
	sk_reply_body(r, "", 0);
	return !r->overflow;
}
