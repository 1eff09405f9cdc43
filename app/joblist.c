/*
 * GET {base}/jobs: the caller's own jobs, newest first, a page at a time
 * (README "My jobs"), as JSON or an HTML page.  Who the caller is,
 * owner.c says; the list comes from the store's index of that owner, so
 * a request reads one directory and one page of statuses, however many
 * jobs the spool holds.  A request that names no owner (no REMOTE_USER,
 * no cookie) has no list: a browser is told it has started nothing yet,
 * a JSON client gets 403 saying how to have one.
 */
#include "config.h"

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "extern.h"

/* Does query q name parameter name at all ("name=" or "name" alone)? */
static int
joblist_named(const char *q, const char *name)
{
	const char	*p;
	size_t		 n = strlen(name);

	for (p = q; p != NULL; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && (p[n] == '=' || p[n] == '&' ||
		    p[n] == '\0'))
			return 1;
	return 0;
}

/*
 * ?limit= and ?before= of the query: limit 1..JOBLIST_LIMIT_MAX in plain
 * digits, before a cursor of the store's (its shape is checked there).
 * Returns 0, or -1 with rf filled (400).
 */
static int
joblist_params(const struct req *r, size_t *limit, char *before, size_t sz,
    struct refusal *rf)
{
	char	 v[16];
	size_t	 i, n = 0;

	*limit = JOBLIST_LIMIT;
	before[0] = '\0';
	if (r->query == NULL)
		return 0;
	if (joblist_named(r->query, "limit")) {
		if (route_query_param(r->query, "limit", v, sizeof(v)) == -1 ||
		    v[0] == '\0' || strlen(v) > 3)
			goto badlimit;
		for (i = 0; v[i] != '\0'; i++) {
			if (v[i] < '0' || v[i] > '9')
				goto badlimit;
			n = n * 10 + (size_t)(v[i] - '0');
		}
		if (n < 1 || n > JOBLIST_LIMIT_MAX)
			goto badlimit;
		*limit = n;
	}
	if (joblist_named(r->query, "before") && (route_query_param(r->query,
	    "before", before, sz) == -1 || before[0] == '\0')) {
		before[0] = '\0';
		refuse(rf, 400, "invalid_field", "before", "before must be "
		    "the cursor of a page of this list (its \"next\" link)");
		return -1;
	}
	return 0;
badlimit:
	refuse(rf, 400, "invalid_field", "limit", "limit must be a whole "
	    "number from 1 to %d", JOBLIST_LIMIT_MAX);
	return -1;
}

/* The URL of the page after cursor next, into out. */
static void
joblist_next_url(const struct req *r, char *out, size_t sz, const char *next,
    size_t limit)
{
	char	 jobs[600];

	route_url(jobs, sizeof(jobs), r->base, ROUTE_JOBS, NULL);
	if (limit == JOBLIST_LIMIT)
		snprintf(out, sz, "%s?before=%s", jobs, next);
	else
		snprintf(out, sz, "%s?before=%s&limit=%zu", jobs, next, limit);
}

/* The JSON answer: {"owner": ..., "jobs": [...], "next": ...}. */
static void
joblist_json(struct req *r, const struct owner *o, const char *user,
    const struct jobstatus *st, size_t n, const char *nexturl)
{
	struct buf	 b = { 0 };
	size_t		 i;

	buf_puts(&b, "{\"owner\":");
	buf_puts(&b, o->kind == OWNER_USER ? "\"user\"" : "\"cookie\"");
	if (user != NULL) {
		/* The web server's name for the user, as a JSON string. */
		json_object	*u;
		struct buf	 clean = { 0 };

		buf_utf8_clean(&clean, user, strlen(user));
		u = json_object_new_string(clean.data != NULL ? clean.data :
		    "");
		buf_puts(&b, ",\"user\":");
		buf_puts(&b, json_object_to_json_string_ext(u,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(u);
		buf_free(&clean);
	}
	buf_puts(&b, ",\"jobs\":[");
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_puts(&b, ",");
		if (reply_status_object(&b, &st[i], r->base,
		    http_abs_base(r)) == -1)
			break;
	}
	buf_puts(&b, "],\"next\":");
	if (nexturl[0] != '\0') {
		buf_puts(&b, "\"");
		buf_puts(&b, nexturl);	/* hex, '-', '?', '&', '=': plain */
		buf_puts(&b, "\"");
	} else
		buf_puts(&b, "null");
	if (buf_puts(&b, "}") == -1 || i < n) {
		buf_free(&b);
		reply_fail(r, "building the list");
		return;
	}
	(void)http_send(r, 200, "application/json", b.data, b.len);
	buf_free(&b);
}

/* GET {base}/jobs: the caller's jobs.  Answers the request itself. */
void
joblist_get(struct req *r)
{
	struct refusal		 rf;
	struct owner		 o;
	struct jobstatus	*st = NULL;
	const char		*user = NULL;
	char			 before[128], next[128], nexturl[800];
	size_t			 limit, n = 0;
	int			 rc;

	memset(&rf, 0, sizeof(rf));
	http_header(r, "Cache-Control", "no-store");
	http_header(r, "Vary", "Accept, Cookie");
	if (joblist_params(r, &limit, before, sizeof(before), &rf) == -1) {
		reply_refuse(r, &rf);
		return;
	}
	switch (owner_identify(r, &o)) {
	case OWNER_ERR:
		reply_fail(r, "reading the spool's secret");
		return;
	case OWNER_FORGED:
		/* Cleared, so that the browser's next start gets a new one. */
		owner_cookie_set(r, &o, 1);
		reply_error(r, 400, "invalid_owner", NULL, "the "
		    "owner cookie of this request is not one this server "
		    "gave out, so it lists nothing; it has been cleared, and "
		    "the next job you start sets a new one");
		return;
	case OWNER_NONE:
		if (r->json) {
			reply_error(r, 403, "no_owner", NULL, "this request "
			    "names no owner: the list is of the jobs started "
			    "by the user the web server signed in "
			    "(REMOTE_USER), or by the browser that holds the "
			    "owner cookie set by its first start; send that "
			    "cookie, or sign in");
			return;
		}
		if (page_jobs(r, NULL, 0, "", NULL) == -1)
			reply_fail(r, "rendering the list");
		return;
	case OWNER_USER:
		user = http_param(r, "REMOTE_USER");
		break;
	default:
		break;
	}
	if ((st = calloc(limit, sizeof(*st))) == NULL) {
		log_warn("joblist: calloc");
		reply_fail(r, "listing the jobs");
		return;
	}
	rc = store_owner_list(r->srv->store, o.hash, before, limit, st, &n,
	    next, sizeof(next));
	if (rc == STORE_NOENT) {
		refuse(&rf, 400, "invalid_field", "before", "before must be "
		    "the cursor of a page of this list (its \"next\" link)");
		reply_refuse(r, &rf);
		goto done;
	}
	if (rc != STORE_OK) {
		reply_fail(r, "listing the jobs");
		goto done;
	}
	nexturl[0] = '\0';
	if (next[0] != '\0')
		joblist_next_url(r, nexturl, sizeof(nexturl), next, limit);
	if (r->json)
		joblist_json(r, &o, user, st, n, nexturl);
	else if (page_jobs(r, st, n, nexturl, user != NULL ? user : "") == -1)
		reply_fail(r, "rendering the list");
done:
	free(st);
}
