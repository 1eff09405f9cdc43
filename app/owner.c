/*
 * Who is asking, for "my jobs" (README "My jobs"): the user the web server
 * signed in (REMOTE_USER, which a client cannot send: FastCGI and CGI
 * pass request headers only as HTTP_*), or else the owner token of a
 * cookie this server set on the browser's first start.
 *
 * A token is 16 random bytes and the first 16 bytes of their HMAC-SHA256
 * under the spool's secret (store_secret), in hex: a token the server did
 * not issue is told at once, without any table of issued tokens, and is
 * refused; nothing is created for it.  The store knows an owner only by
 * a hash of "user" and the name, or of "token" and the token's random
 * half (owner_hash), so no path is ever built from a client's bytes and
 * the spool never holds a cookie's value.  A job's own URLs stay
 * capabilities: whoever holds one reads the job; an owner only decides
 * what is listed.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "extern.h"

#define OWNER_RANDOM	16	/* bytes of a token's random half */
#define OWNER_MAX_AGE	34560000	/* 400 days, browsers' cap (RFC 6265bis) */
#define OWNER_MAC_LABEL	"spoolcgi owner token"

static const char	 owner_hexdigits[] = "0123456789abcdef";

static void
owner_hex(char *out, const unsigned char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = owner_hexdigits[p[i] >> 4];
		out[2 * i + 1] = owner_hexdigits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * The name the store keeps an owner by: the first 16 bytes of the
 * SHA-256 of kind, a NUL and the len bytes of v, in hex, into out
 * (SPOOLCGI_OWNER_LEN + 1 bytes).  Kinds never collide: a user named
 * like a token is another owner.  Pure.
 */
void
owner_hash(const char *kind, const char *v, size_t len, char *out)
{
	unsigned char	 md[SHA256_LEN];
	char		 buf[512];
	size_t		 klen = strlen(kind) + 1;

	if (klen + len <= sizeof(buf)) {
		memcpy(buf, kind, klen);
		memcpy(buf + klen, v, len);
		sha256(buf, klen + len, md);
	} else {
		/* A long name: hashed first, so any length fits. */
		sha256(v, len, md);
		memcpy(buf, kind, klen);
		memcpy(buf + klen, md, sizeof(md));
		sha256(buf, klen + sizeof(md), md);
	}
	owner_hex(out, md, SPOOLCGI_OWNER_LEN / 2);
}

/* The MAC half of a token with random half rnd, in hex, into out (33). */
static void
owner_mac(const unsigned char *secret, const unsigned char *rnd, char *out)
{
	unsigned char	 msg[sizeof(OWNER_MAC_LABEL) + OWNER_RANDOM];
	unsigned char	 md[SHA256_LEN];

	memcpy(msg, OWNER_MAC_LABEL, sizeof(OWNER_MAC_LABEL));
	memcpy(msg + sizeof(OWNER_MAC_LABEL), rnd, OWNER_RANDOM);
	hmac_sha256(secret, STORE_SECRET_LEN, msg, sizeof(msg), md);
	owner_hex(out, md, OWNER_RANDOM);
}

/*
 * The token of random half rnd (OWNER_RANDOM bytes) under secret into out
 * (OWNER_TOKEN_LEN + 1 bytes).  Returns 0.  Pure.
 */
int
owner_token_make(const unsigned char *secret, const unsigned char *rnd,
    char *out)
{
	owner_hex(out, rnd, OWNER_RANDOM);
	owner_mac(secret, rnd, out + 2 * OWNER_RANDOM);
	return 0;
}

/*
 * Is s (len bytes) a token this server issued under secret: exactly
 * OWNER_TOKEN_LEN lower-case hex digits whose MAC half is right?  The
 * halves are compared in constant time.  Returns 1 or 0.  Pure.
 */
int
owner_token_check(const unsigned char *secret, const char *s, size_t len)
{
	unsigned char	 rnd[OWNER_RANDOM], diff = 0;
	char		 mac[2 * OWNER_RANDOM + 1];
	const char	*h;
	size_t		 i;
	int		 hi, lo;

	if (s == NULL || len != OWNER_TOKEN_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (strchr(owner_hexdigits, s[i]) == NULL || s[i] == '\0')
			return 0;
	for (i = 0; i < OWNER_RANDOM; i++) {
		h = strchr(owner_hexdigits, s[2 * i]);
		hi = (int)(h - owner_hexdigits);
		h = strchr(owner_hexdigits, s[2 * i + 1]);
		lo = (int)(h - owner_hexdigits);
		rnd[i] = (unsigned char)(hi << 4 | lo);
	}
	owner_mac(secret, rnd, mac);
	for (i = 0; i < 2 * OWNER_RANDOM; i++)
		diff |= (unsigned char)(mac[i] ^ s[2 * OWNER_RANDOM + i]);
	return diff == 0;
}

/*
 * Find cookie name in a Cookie header h (RFC 6265 5.4: "a=b; c=d") and
 * copy its value into out.  The first of that name counts (the most
 * specific path comes first, 5.4 step 2).  Returns 1 when found, 0 when
 * absent, -1 when found but longer than out can hold.  Pure.
 */
int
owner_cookie_find(const char *h, const char *name, char *out, size_t sz)
{
	const char	*p, *end, *eq;
	size_t		 nlen = strlen(name), vlen;

	for (p = h; p != NULL && *p != '\0'; p = *end ? end + 1 : end) {
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, ";");
		if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL ||
		    (size_t)(eq - p) != nlen || memcmp(p, name, nlen) != 0)
			continue;
		vlen = (size_t)(end - eq - 1);
		while (vlen > 0 && (eq[vlen] == ' ' || eq[vlen] == '\t'))
			vlen--;
		if (vlen >= sz)
			return -1;
		memcpy(out, eq + 1, vlen);
		out[vlen] = '\0';
		return 1;
	}
	return 0;
}

/*
 * Who sent request r, into o: REMOTE_USER first (a cookie is then not
 * looked at), else the owner cookie.  Returns o->kind: OWNER_USER or
 * OWNER_TOKEN with o->hash set, OWNER_NONE, OWNER_FORGED (a cookie of
 * that name that is not a token this server issued), or OWNER_ERR (the
 * secret could not be read; logged by the store).
 */
int
owner_identify(struct req *r, struct owner *o)
{
	unsigned char	 secret[STORE_SECRET_LEN];
	const char	*user;
	char		 val[OWNER_TOKEN_LEN + 1];
	int		 rc;

	memset(o, 0, sizeof(*o));
	if ((user = http_param(r, "REMOTE_USER")) != NULL && *user != '\0') {
		owner_hash("user", user, strlen(user), o->hash);
		return o->kind = OWNER_USER;
	}
	rc = owner_cookie_find(http_param(r, "HTTP_COOKIE"), OWNER_COOKIE,
	    val, sizeof(val));
	if (rc == 0)
		return o->kind = OWNER_NONE;
	if (rc == -1)
		return o->kind = OWNER_FORGED;
	/* No secret yet: no token was ever given out. */
	if (store_secret(r->srv->store, secret, 0) == -1)
		return o->kind = errno == ENOENT ? OWNER_FORGED : OWNER_ERR;
	if (!owner_token_check(secret, val, strlen(val)))
		return o->kind = OWNER_FORGED;
	owner_hash("token", val, 2 * OWNER_RANDOM, o->hash);
	return o->kind = OWNER_TOKEN;
}

/*
 * Is request r a browser's?  A form post answered with a page, or any
 * request with Fetch Metadata (every current browser sends Sec-Fetch-Site,
 * also with the client's fetch); scripts send neither.
 */
static int
owner_browser(const struct req *r)
{
	return !r->json || http_param(r, "HTTP_SEC_FETCH_SITE") != NULL ||
	    http_param(r, "HTTP_SEC_FETCH_MODE") != NULL;
}

/*
 * The owner of a job request r starts: as owner_identify, but a browser
 * with no valid cookie is given a new token (in o->token, for
 * owner_cookie_set once the job exists).  A script with neither
 * REMOTE_USER nor the cookie starts a job of no owner (OWNER_NONE): a
 * token it would throw away would only cost its start an owner's entry.
 * Returns o->kind; on OWNER_ERR the job is started without an owner
 * (o->hash "").
 */
int
owner_for_start(struct req *r, struct owner *o)
{
	unsigned char	 secret[STORE_SECRET_LEN], rnd[OWNER_RANDOM];

	switch (owner_identify(r, o)) {
	case OWNER_USER:
	case OWNER_TOKEN:
	case OWNER_ERR:
		return o->kind;
	default:
		break;
	}
	memset(o, 0, sizeof(*o));
	if (!owner_browser(r))
		return o->kind = OWNER_NONE;
	if (store_secret(r->srv->store, secret, 1) == -1)
		return o->kind = OWNER_ERR;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		log_warn("owner: getrandom");
		return o->kind = OWNER_ERR;
	}
	owner_token_make(secret, rnd, o->token);
	owner_hash("token", o->token, 2 * OWNER_RANDOM, o->hash);
	return o->kind = OWNER_TOKEN;
}

/*
 * Add the Set-Cookie of o's new token to the answer (nothing when it has
 * none), or with clear one that removes the cookie.  HttpOnly: no script
 * reads it; SameSite=Lax: no other site's request carries it; Secure
 * over HTTPS; Path the program's base (RFC 6265 4.1.2), left out when the
 * base holds a ';', so the browser's default (the base's directory) holds.
 */
void
owner_cookie_set(struct req *r, const struct owner *o, int clear)
{
	char	 path[sizeof(r->base) + 8];

	if (!clear && o->token[0] == '\0')
		return;
	if (strchr(r->base, ';') != NULL)
		path[0] = '\0';
	else
		snprintf(path, sizeof(path), "; Path=%s", r->base[0] != '\0' ?
		    r->base : "/");
	http_header(r, "Set-Cookie", "%s=%s%s; Max-Age=%d; HttpOnly; "
	    "SameSite=Lax%s", OWNER_COOKIE, clear ? "" : o->token, path,
	    clear ? 0 : OWNER_MAX_AGE, http_https(r) ? "; Secure" : "");
}

/*
 * The name the store keeps a start's key under, into out: an
 * Idempotency-Key (header set) is scoped to the owner the request
 * presented, REMOTE_USER or a valid cookie ("HASH~KEY"), so that a
 * client who guesses another's key learns nothing of their job; requests
 * that present neither share one scope ("KEY"), as scripts did before
 * owners.  A form's one-time _token is a random id the server put in its
 * page, which nobody guesses; it has a scope of its own ("~KEY"), the
 * same for a new browser's first post (no cookie yet) and its re-post
 * (with the cookie the first answer set), so both land on one job.  A
 * key is at most OWNER_KEY_LEN of [A-Za-z0-9._:-] (start.c), never "~",
 * so scopes never meet.  "" stays "".  Pure.
 */
void
owner_key_scope(const struct owner *o, int header, const char *key,
    char out[OWNER_KEY_MAX + 1])
{
	int	 presented;

	presented = o->kind == OWNER_USER || (o->kind == OWNER_TOKEN &&
	    o->token[0] == '\0');
	if (key[0] == '\0')
		out[0] = '\0';
	else if (!header)
		snprintf(out, OWNER_KEY_MAX + 1, "~%.*s", OWNER_KEY_LEN, key);
	else if (presented)
		snprintf(out, OWNER_KEY_MAX + 1, "%s~%.*s", o->hash,
		    OWNER_KEY_LEN, key);
	else
		snprintf(out, OWNER_KEY_MAX + 1, "%.*s", OWNER_KEY_LEN, key);
}
