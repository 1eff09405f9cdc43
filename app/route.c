/*
 * Routing: which of the routes of the HTTP contract (README "How a request flows") a
 * request names, which methods each route takes, and the query parameters
 * the handler reads (?job=, ?format=).  Everything here is a pure function
 * of its arguments: no I/O, no logging, so a fuzz driver can call it.
 *
 * Paths are matched strictly: no trailing slash, no "//", no "..", no
 * control characters.  A job id is checked by job_id_check() here, so a
 * malformed one never reaches the file system.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "extern.h"

#define ROUTE_JOBS_PREFIX	"/jobs/"

/*
 * The method of a request line.  Method names are case-sensitive
 * (RFC 9110 9.1), so "get" is METHOD_OTHER.
 */
enum method
route_method(const char *s)
{
	if (s == NULL)
		return METHOD_OTHER;
	if (strcmp(s, "GET") == 0)
		return METHOD_GET;
	if (strcmp(s, "HEAD") == 0)
		return METHOD_HEAD;
	if (strcmp(s, "POST") == 0)
		return METHOD_POST;
	if (strcmp(s, "DELETE") == 0)
		return METHOD_DELETE;
	return METHOD_OTHER;
}

/* Does s (len bytes) equal the C string lit? */
static int
route_eq(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/*
 * Is the path acceptable at all: no NUL or control byte, no empty segment
 * ("//") and no "..".  Every route is plain ASCII, so this only has to keep
 * out what a later reader of the path could misread.
 */
static int
route_path_clean(const char *s, size_t len)
{
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < len; i++) {
		/* Letters and digits, most of a path, are past '/'. */
		if ((c = (unsigned char)s[i]) > '/' && c != 0x7f)
			continue;
		if (c < 0x20 || c == 0x7f)
			return 0;
		if ((c == '/' || c == '.') && i + 1 < len && s[i + 1] == c)
			return 0;
	}
	return 1;
}

static int
route_none(struct route *r, int bad_id)
{
	r->id = ROUTE_NONE;
	r->bad_id = bad_id;
	r->job[0] = '\0';
	return -1;
}

/*
 * Map PATH_INFO (len bytes; NULL or empty when the server passed none) to a
 * route.  A job path fills r->job with the checked id.  A path under
 * /jobs/ whose id is malformed gives ROUTE_NONE with r->bad_id set, so the
 * caller answers 404 without touching the disk (README "How a request flows").
 * Returns 0 for a known route, or -1 with r->id ROUTE_NONE.
 */
int
route_parse(struct route *r, const char *p, size_t len)
{
	const char	*id, *rest;
	size_t		 plen, restlen;
	int		 jobpath;

	memset(r, 0, sizeof(*r));
	r->id = ROUTE_NONE;

	if (p == NULL || len == 0 || route_eq(p, len, "/")) {
		r->id = ROUTE_ROOT;
		return 0;
	}

	plen = strlen(ROUTE_JOBS_PREFIX);
	jobpath = len >= plen && memcmp(p, ROUTE_JOBS_PREFIX, plen) == 0;

	if (p[0] != '/' || !route_path_clean(p, len))
		return route_none(r, jobpath);

	if (route_eq(p, len, "/jobs")) {
		r->id = ROUTE_JOBS;
		return 0;
	}
	if (route_eq(p, len, "/tasks")) {
		r->id = ROUTE_TASKS;
		return 0;
	}
	if (route_eq(p, len, "/health")) {
		r->id = ROUTE_HEALTH;
		return 0;
	}
	if (route_eq(p, len, "/metrics")) {
		r->id = ROUTE_METRICS;
		return 0;
	}
	if (len > 8 && memcmp(p, "/static/", 8) == 0) {
		/* The browser client, built in: [a-z0-9][a-z0-9.-]*. */
		size_t i, n = len - 8;

		if (n >= sizeof(r->asset) || p[8] == '.' || p[8] == '-')
			return route_none(r, 0);
		for (i = 8; i < len; i++)
			if (!((p[i] >= 'a' && p[i] <= 'z') ||
			    (p[i] >= '0' && p[i] <= '9') || p[i] == '.' ||
			    p[i] == '-'))
				return route_none(r, 0);
		memcpy(r->asset, p + 8, n);
		r->asset[n] = '\0';
		r->id = ROUTE_STATIC;
		return 0;
	}
	if (!jobpath)
		return route_none(r, 0);

	/* /jobs/{id}[/result|/cancel|/log|/retry] */
	id = p + plen;
	if (len - plen < SPOOLCGI_ID_LEN ||
	    !job_id_check(id, SPOOLCGI_ID_LEN))
		return route_none(r, 1);
	rest = id + SPOOLCGI_ID_LEN;
	restlen = len - plen - SPOOLCGI_ID_LEN;
	if (restlen == 0)
		r->id = ROUTE_JOB;
	else if (route_eq(rest, restlen, "/result"))
		r->id = ROUTE_JOB_RESULT;
	else if (route_eq(rest, restlen, "/cancel"))
		r->id = ROUTE_JOB_CANCEL;
	else if (route_eq(rest, restlen, "/log"))
		r->id = ROUTE_JOB_LOG;
	else if (route_eq(rest, restlen, "/retry"))
		r->id = ROUTE_JOB_RETRY;
	else if (rest[0] != '/')
		/* A longer id segment: malformed, not an unknown sub-route. */
		return route_none(r, 1);
	else
		return route_none(r, 0);

	memcpy(r->job, id, SPOOLCGI_ID_LEN);
	r->job[SPOOLCGI_ID_LEN] = '\0';
	return 0;
}

/*
 * The methods each route takes (README "How a request flows"): HEAD wherever GET.  The
 * Allow value of a 405 is built from the same table, so the two cannot
 * disagree.
 */
static const struct {
	enum route_id	 id;
	unsigned int	 methods;	/* 1 << enum method */
	const char	*allow;
} route_table[] = {
	{ ROUTE_ROOT, 1u << METHOD_GET | 1u << METHOD_HEAD | 1u << METHOD_POST,
	    "GET, HEAD, POST" },
	{ ROUTE_JOBS, 1u << METHOD_GET | 1u << METHOD_HEAD | 1u << METHOD_POST,
	    "GET, HEAD, POST" },
	{ ROUTE_JOB, 1u << METHOD_GET | 1u << METHOD_HEAD |
	    1u << METHOD_DELETE, "GET, HEAD, DELETE" },
	{ ROUTE_JOB_RESULT, 1u << METHOD_GET | 1u << METHOD_HEAD,
	    "GET, HEAD" },
	{ ROUTE_JOB_CANCEL, 1u << METHOD_POST, "POST" },
	{ ROUTE_JOB_LOG, 1u << METHOD_GET | 1u << METHOD_HEAD, "GET, HEAD" },
	{ ROUTE_JOB_RETRY, 1u << METHOD_POST, "POST" },
	{ ROUTE_TASKS, 1u << METHOD_GET | 1u << METHOD_HEAD, "GET, HEAD" },
	{ ROUTE_HEALTH, 1u << METHOD_GET | 1u << METHOD_HEAD, "GET, HEAD" },
	{ ROUTE_METRICS, 1u << METHOD_GET | 1u << METHOD_HEAD, "GET, HEAD" },
	{ ROUTE_STATIC, 1u << METHOD_GET | 1u << METHOD_HEAD, "GET, HEAD" },
};

/* Returns 1 if route id takes method m, else 0 (always 0 for ROUTE_NONE). */
int
route_allows(enum route_id id, enum method m)
{
	size_t	 i;

	if (m == METHOD_OTHER)
		return 0;
	for (i = 0; i < sizeof(route_table) / sizeof(route_table[0]); i++)
		if (route_table[i].id == id)
			return (route_table[i].methods & (1u << m)) != 0;
	return 0;
}

/*
 * The value of the Allow header of a 405 on route id (RFC 9110 10.2.1),
 * e.g. "GET, HEAD, DELETE".  Returns NULL for ROUTE_NONE, which answers
 * 404 and has no Allow.
 */
const char *
route_allow_header(enum route_id id)
{
	size_t	 i;

	for (i = 0; i < sizeof(route_table) / sizeof(route_table[0]); i++)
		if (route_table[i].id == id)
			return route_table[i].allow;
	return NULL;
}

/*
 * What follows {base}/jobs/{id} in the URL of route id ("" for the job
 * itself and for routes that are no job's): route_url's last part, which
 * a caller holding the job's URL may append itself.
 */
const char *
route_job_suffix(enum route_id id)
{
	switch (id) {
	case ROUTE_JOB_RESULT:	return "/result";
	case ROUTE_JOB_CANCEL:	return "/cancel";
	case ROUTE_JOB_LOG:	return "/log";
	case ROUTE_JOB_RETRY:	return "/retry";
	default:		return "";
	}
}

/*
 * The URL of route id under base (the program's SCRIPT_NAME, already
 * safe in a URL), for job id where the route names a job (the file's
 * name for ROUTE_STATIC): the inverse of route_parse, and the only place
 * a URL is built.  Returns 0, or -1 when out is too small ("" then).
 */
int
route_url(char *out, size_t sz, const char *base, enum route_id id,
    const char *job)
{
	const char	*tail, *parts[4];
	size_t		 i, n, len;

	switch (id) {
	case ROUTE_JOBS:	tail = "/jobs"; break;
	case ROUTE_JOB:		tail = "/jobs/"; break;
	case ROUTE_JOB_RESULT:	tail = "/jobs/"; break;
	case ROUTE_JOB_CANCEL:	tail = "/jobs/"; break;
	case ROUTE_JOB_LOG:	tail = "/jobs/"; break;
	case ROUTE_JOB_RETRY:	tail = "/jobs/"; break;
	case ROUTE_TASKS:	tail = "/tasks"; break;
	case ROUTE_HEALTH:	tail = "/health"; break;
	case ROUTE_METRICS:	tail = "/metrics"; break;
	case ROUTE_STATIC:	tail = "/static/"; break;
	default:		tail = ""; break;
	}
	if (job == NULL || (id != ROUTE_JOB && id != ROUTE_JOB_RESULT &&
	    id != ROUTE_JOB_CANCEL && id != ROUTE_JOB_LOG &&
	    id != ROUTE_JOB_RETRY && id != ROUTE_STATIC))
		job = "";
	/* Concatenated by hand: three of these go into every status. */
	parts[0] = base;
	parts[1] = tail;
	parts[2] = job;
	parts[3] = route_job_suffix(id);
	for (i = 0, n = 0; i < 4; i++) {
		len = strlen(parts[i]);
		if (n + len >= sz) {
			if (sz > 0)
				out[0] = '\0';
			return -1;
		}
		memcpy(out + n, parts[i], len);
		n += len;
	}
	out[n] = '\0';
	return 0;
}

/*
 * Percent-decode (and '+' to space) the n bytes at s into a fresh string.
 * *outlen is the decoded length, which may hold a NUL from "%00": the
 * decoder returns the length, so a NUL is seen, never silently
 * truncated.  Returns the string, or NULL with errno set.
 */
static char *
route_unescape(const char *s, size_t n, size_t *outlen)
{
	return form_pct_decode(s, n, outlen);
}

/*
 * Find the first name=value pair of QUERY_STRING q whose decoded name is
 * name, and copy its decoded value, NUL-terminated, into out.  A pair with
 * no '=' has the empty value.  The query is split here, not with
 * uriDissectQueryMallocExA, because that decodes "%00" into a NUL and drops
 * the length, so "job=ID%00junk" would pass as "job=ID".
 * Returns 0 when found and the value fits and holds no NUL byte; -1 when
 * absent, or the value would be truncated or holds a NUL, or memory ran out
 * (errno ENOMEM).
 */
int
route_query_param(const char *q, const char *name, char *out, size_t outsz)
{
	const char	*seg, *amp, *eq, *end;
	char		*key, *val;
	size_t		 keylen, vallen;
	int		 match;

	if (q == NULL || name == NULL || name[0] == '\0' || out == NULL ||
	    outsz == 0)
		return -1;
	end = q + strlen(q);
	for (seg = q; seg < end; seg = amp + 1) {
		if ((amp = memchr(seg, '&', (size_t)(end - seg))) == NULL)
			amp = end;
		if ((eq = memchr(seg, '=', (size_t)(amp - seg))) == NULL)
			eq = amp;
		if ((key = route_unescape(seg, (size_t)(eq - seg),
		    &keylen)) == NULL)
			return -1;
		match = keylen == strlen(name) && memcmp(key, name, keylen) == 0;
		free(key);
		if (!match)
			continue;
		/* First wins: a later duplicate is never looked at. */
		if (eq == amp) {
			out[0] = '\0';
			return 0;
		}
		if ((val = route_unescape(eq + 1, (size_t)(amp - eq - 1),
		    &vallen)) == NULL)
			return -1;
		if (vallen >= outsz || memchr(val, '\0', vallen) != NULL) {
			free(val);
			return -1;
		}
		memcpy(out, val, vallen + 1);
		free(val);
		return 0;
	}
	return -1;
}
