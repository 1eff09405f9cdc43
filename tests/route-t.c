/*
 * route.c: paths to routes, job ids, methods and Allow values, query
 * parameters.
 */
#include "config.h"

#include <string.h>

#include "extern.h"
#include "tap.h"

#define ID	"2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11"

/* Parse a C string path; returns the route id, with *bad the bad_id flag. */
static enum route_id
parse(const char *p, int *bad, int *rc)
{
	struct route	 r;

	*rc = route_parse(&r, p, p ? strlen(p) : 0);
	*bad = r.bad_id;
	return r.id;
}

static void
route_is(const char *p, enum route_id want)
{
	struct route	 r;
	int		 rc;

	rc = route_parse(&r, p, strlen(p));
	is_int(r.id, want, "route of \"%s\"", p);
	is_int(rc, want == ROUTE_NONE ? -1 : 0, "return of \"%s\"", p);
	is_int(r.bad_id, 0, "\"%s\" is not a bad id", p);
}

static void
bad_id_is(const char *p, size_t len, int bad, const char *what)
{
	struct route	 r;
	int		 rc;

	rc = route_parse(&r, p, len);
	is_int(rc, -1, "%s: refused", what);
	is_int(r.id, ROUTE_NONE, "%s: ROUTE_NONE", what);
	is_int(r.bad_id, bad, "%s: bad_id %d", what, bad);
	is_str(r.job, "", "%s: no job id", what);
}

static void
test_routes(void)
{
	struct route	 r;
	int		 bad, rc;

	is_int(parse(NULL, &bad, &rc), ROUTE_ROOT, "NULL PATH_INFO is root");
	is_int(rc, 0, "NULL PATH_INFO: 0");
	is_int(parse("", &bad, &rc), ROUTE_ROOT, "empty PATH_INFO is root");
	is_int(route_parse(&r, "/jobs", 0), 0, "len 0 is root whatever p");
	is_int(r.id, ROUTE_ROOT, "len 0: ROUTE_ROOT");
	route_is("/", ROUTE_ROOT);
	route_is("/jobs", ROUTE_JOBS);
	route_is("/tasks", ROUTE_TASKS);
	route_is("/health", ROUTE_HEALTH);
	route_is("/static/spoolcgi.js", ROUTE_STATIC);
	is_int(route_parse(&r, "/static/spoolcgi.js", 19), 0, "static route");
	is_str(r.asset, "spoolcgi.js", "static: the name");
	route_is("/static/", ROUTE_NONE);
	route_is("/static/../x", ROUTE_NONE);
	route_is("/static/.htspoolcgi.json", ROUTE_NONE);
	route_is("/static/a/b.js", ROUTE_NONE);
	route_is("/static/A.js", ROUTE_NONE);
	route_is("/static/"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    ROUTE_NONE);

	is_int(route_parse(&r, "/jobs/" ID, strlen("/jobs/" ID)), 0,
	    "job route");
	is_int(r.id, ROUTE_JOB, "job: ROUTE_JOB");
	is_str(r.job, ID, "job: id copied");
	is_int(r.bad_id, 0, "job: bad_id 0");

	is_int(route_parse(&r, "/jobs/" ID "/result",
	    strlen("/jobs/" ID "/result")), 0, "result route");
	is_int(r.id, ROUTE_JOB_RESULT, "result: ROUTE_JOB_RESULT");
	is_str(r.job, ID, "result: id copied");

	is_int(route_parse(&r, "/jobs/" ID "/cancel",
	    strlen("/jobs/" ID "/cancel")), 0, "cancel route");
	is_int(r.id, ROUTE_JOB_CANCEL, "cancel: ROUTE_JOB_CANCEL");
	is_str(r.job, ID, "cancel: id copied");

	is_int(route_parse(&r, "/jobs/" ID "/retry",
	    strlen("/jobs/" ID "/retry")), 0, "retry route");
	is_int(r.id, ROUTE_JOB_RETRY, "retry: ROUTE_JOB_RETRY");
	is_str(r.job, ID, "retry: id copied");
	{
		char	 url[128];

		ok(route_url(url, sizeof(url), "/app", ROUTE_JOB_RETRY, ID) ==
		    0 && strcmp(url, "/app/jobs/" ID "/retry") == 0,
		    "retry: route_url is route_parse's inverse");
	}

	/* The explicit length is what counts, not a NUL further on. */
	is_int(route_parse(&r, "/jobsXYZ", 5), 0, "length bounds the path");
	is_int(r.id, ROUTE_JOBS, "\"/jobs\" of \"/jobsXYZ\"");

	/* Unknown paths, trailing slashes, odd spellings. */
	route_is("/jobs/" ID "/", ROUTE_NONE);
	route_is("/jobs/" ID "/result/", ROUTE_NONE);
	route_is("/jobs/" ID "/cancel/", ROUTE_NONE);
	route_is("/jobs/" ID "/retry/", ROUTE_NONE);
	route_is("/jobs/" ID "/retryx", ROUTE_NONE);
	route_is("/jobs/" ID "/other", ROUTE_NONE);
	route_is("/jobs/" ID "/resultx", ROUTE_NONE);
	route_is("/tasks/", ROUTE_NONE);
	route_is("/health/", ROUTE_NONE);
	route_is("/jobsx", ROUTE_NONE);
	route_is("/Jobs", ROUTE_NONE);
	route_is("/TASKS", ROUTE_NONE);
	route_is("jobs", ROUTE_NONE);
	route_is("//", ROUTE_NONE);
	route_is("//jobs", ROUTE_NONE);
	route_is("/nothing", ROUTE_NONE);
	route_is("/index.html", ROUTE_NONE);
	is_int(route_parse(&r, "/tasks\n", 7), -1, "newline after /tasks");
	is_int(route_parse(&r, "/tas\tks", 8), -1, "tab inside");
	is_int(route_parse(&r, "/tasks\x7f", 7), -1, "DEL after /tasks");
	route_is("/..", ROUTE_NONE);
	route_is("/./jobs", ROUTE_NONE);
	is_int(route_parse(&r, "/tasks\0x", 8), -1, "NUL after /tasks");
	is_int(r.id, ROUTE_NONE, "NUL after /tasks: ROUTE_NONE");
	is_int(route_parse(&r, "/\0", 2), -1, "\"/\" then NUL");
}

static void
test_bad_ids(void)
{
	char	 p[128];

	bad_id_is("/jobs/", 6, 1, "trailing slash on /jobs");
	bad_id_is("/jobs/2F1C0B9E-8D4E-4C53-9A61-0B7F3C9D2E11",
	    strlen("/jobs/") + 36, 1, "upper case");
	bad_id_is("/jobs/2f1c0b9e-8d4e-1c53-9a61-0b7f3c9d2e11",
	    strlen("/jobs/") + 36, 1, "version 1 nibble");
	bad_id_is("/jobs/2f1c0b9e-8d4e-4c53-ca61-0b7f3c9d2e11",
	    strlen("/jobs/") + 36, 1, "wrong variant");
	bad_id_is("/jobs/2f1c0b9e-8d4e-4c53-7a61-0b7f3c9d2e11",
	    strlen("/jobs/") + 36, 1, "NCS variant");
	bad_id_is("/jobs/2f1c0b9e8d4e4c539a610b7f3c9d2e11",
	    strlen("/jobs/") + 32, 1, "no dashes");
	bad_id_is("/jobs/2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e1",
	    strlen("/jobs/") + 35, 1, "short");
	bad_id_is("/jobs/2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e111",
	    strlen("/jobs/") + 37, 1, "long");
	bad_id_is("/jobs/2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e111/result",
	    strlen("/jobs/") + 37 + 7, 1, "long, with /result");
	bad_id_is("/jobs/2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e1g",
	    strlen("/jobs/") + 36, 1, "non-hex digit");
	bad_id_is("/jobs/{2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e1}",
	    strlen("/jobs/") + 38, 1, "braces");
	bad_id_is("/jobs/../etc", 12, 1, "/jobs/../etc");
	bad_id_is("/jobs/../../etc/passwd", 22, 1, "/jobs/../../etc/passwd");
	bad_id_is("/jobs/%2e%2e", 12, 1, "/jobs/%2e%2e");
	bad_id_is("/jobs/%2e%2e/etc", 16, 1, "/jobs/%2e%2e/etc");
	bad_id_is("/jobs/.", 7, 1, "/jobs/.");
	bad_id_is("/jobs//" ID, 7 + 36, 1, "/jobs//id");

	/* A NUL inside the id, the length says it is there. */
	snprintf(p, sizeof(p), "/jobs/%s", ID);
	p[10] = '\0';
	bad_id_is(p, 6 + 36, 1, "NUL inside the id");
	snprintf(p, sizeof(p), "/jobs/%s/result", ID);
	p[6 + 36] = '\0';
	bad_id_is(p, 6 + 36 + 7, 1, "NUL in place of the slash");
	snprintf(p, sizeof(p), "/jobs/%s", ID);
	p[12] = '\n';
	bad_id_is(p, 6 + 36, 1, "newline inside the id");

	/* A good id with an unknown tail is no route, but not a bad id. */
	bad_id_is("/jobs/" ID "/x", 6 + 36 + 2, 0, "good id, unknown tail");
	bad_id_is("/jobs/" ID "/", 6 + 36 + 1, 0, "good id, trailing slash");
}

static void
test_methods(void)
{
	static const struct {
		enum route_id	 id;
		const char	*allow;
		int		 get, head, post, del;
	} t[] = {
		{ ROUTE_ROOT, "GET, HEAD, POST", 1, 1, 1, 0 },
		{ ROUTE_JOBS, "GET, HEAD, POST", 1, 1, 1, 0 },
		{ ROUTE_JOB, "GET, HEAD, DELETE", 1, 1, 0, 1 },
		{ ROUTE_JOB_RESULT, "GET, HEAD", 1, 1, 0, 0 },
		{ ROUTE_JOB_CANCEL, "POST", 0, 0, 1, 0 },
		{ ROUTE_JOB_RETRY, "POST", 0, 0, 1, 0 },
		{ ROUTE_TASKS, "GET, HEAD", 1, 1, 0, 0 },
		{ ROUTE_HEALTH, "GET, HEAD", 1, 1, 0, 0 },
	};
	size_t	 i;

	is_int(route_method("GET"), METHOD_GET, "GET");
	is_int(route_method("HEAD"), METHOD_HEAD, "HEAD");
	is_int(route_method("POST"), METHOD_POST, "POST");
	is_int(route_method("DELETE"), METHOD_DELETE, "DELETE");
	is_int(route_method("get"), METHOD_OTHER, "get: case-sensitive");
	is_int(route_method("Post"), METHOD_OTHER, "Post: case-sensitive");
	is_int(route_method("PUT"), METHOD_OTHER, "PUT");
	is_int(route_method("OPTIONS"), METHOD_OTHER, "OPTIONS");
	is_int(route_method("GET "), METHOD_OTHER, "GET with a space");
	is_int(route_method(""), METHOD_OTHER, "empty");
	is_int(route_method(NULL), METHOD_OTHER, "NULL");

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		is_str(route_allow_header(t[i].id), t[i].allow,
		    "Allow of route %d", (int)t[i].id);
		is_int(route_allows(t[i].id, METHOD_GET), t[i].get,
		    "route %d GET", (int)t[i].id);
		is_int(route_allows(t[i].id, METHOD_HEAD), t[i].head,
		    "route %d HEAD", (int)t[i].id);
		is_int(route_allows(t[i].id, METHOD_POST), t[i].post,
		    "route %d POST", (int)t[i].id);
		is_int(route_allows(t[i].id, METHOD_DELETE), t[i].del,
		    "route %d DELETE", (int)t[i].id);
		is_int(route_allows(t[i].id, METHOD_OTHER), 0,
		    "route %d other method", (int)t[i].id);
		/* HEAD is answered wherever GET is (RFC 9110, 9.1). */
		is_int(t[i].get, t[i].head, "route %d: HEAD iff GET",
		    (int)t[i].id);
	}
	is_str(route_allow_header(ROUTE_NONE), NULL, "no Allow on a 404");
	is_int(route_allows(ROUTE_NONE, METHOD_GET), 0, "ROUTE_NONE GET");
}

static void
test_query(void)
{
	char	 out[64], small[4];

	is_int(route_query_param("job=" ID, "job", out, sizeof(out)), 0,
	    "job=");
	is_str(out, ID, "job value");
	is_int(route_query_param("format=json&job=" ID, "job", out,
	    sizeof(out)), 0, "second param");
	is_str(out, ID, "job value, second");
	is_int(route_query_param("format=json&job=x", "format", out,
	    sizeof(out)), 0, "format=json");
	is_str(out, "json", "format value");

	is_int(route_query_param("a=x%20y%2Bz", "a", out, sizeof(out)), 0,
	    "percent-encoded");
	is_str(out, "x y+z", "percent-decoded");
	is_int(route_query_param("a=x+y", "a", out, sizeof(out)), 0, "plus");
	is_str(out, "x y", "plus is a space");
	is_int(route_query_param("%6Aob=1", "job", out, sizeof(out)), 0,
	    "encoded name");
	is_str(out, "1", "encoded name's value");
	is_int(route_query_param("a+b=1", "a b", out, sizeof(out)), 0,
	    "plus in the name");
	is_int(route_query_param("a=%C3%A9", "a", out, sizeof(out)), 0,
	    "UTF-8");
	is_str(out, "\xc3\xa9", "UTF-8 decoded");
	is_int(route_query_param("a=b=c", "a", out, sizeof(out)), 0,
	    "'=' in the value");
	is_str(out, "b=c", "value keeps its '='");

	is_int(route_query_param("job=", "job", out, sizeof(out)), 0,
	    "empty value found");
	is_str(out, "", "empty value");
	is_int(route_query_param("a=1&job&b=2", "job", out, sizeof(out)), 0,
	    "no '=' found");
	is_str(out, "", "no '=': empty value");

	is_int(route_query_param("job=1&job=2", "job", out, sizeof(out)), 0,
	    "duplicated");
	is_str(out, "1", "first wins");
	is_int(route_query_param("job=1&job=2%00", "job", out, sizeof(out)),
	    0, "a bad later duplicate is never read");

	is_int(route_query_param("jobs=1", "job", out, sizeof(out)), -1,
	    "longer name is not the name");
	is_int(route_query_param("xjob=1&ob=2", "job", out, sizeof(out)), -1,
	    "no suffix match");
	is_int(route_query_param("Job=1", "job", out, sizeof(out)), -1,
	    "names are case-sensitive");
	is_int(route_query_param("", "job", out, sizeof(out)), -1,
	    "empty query");
	is_int(route_query_param(NULL, "job", out, sizeof(out)), -1,
	    "NULL query");
	is_int(route_query_param("&&", "job", out, sizeof(out)), -1,
	    "only separators");
	is_int(route_query_param("a&&b", "", out, sizeof(out)), -1,
	    "empty name is never found");
	is_int(route_query_param("job%00=1", "job", out, sizeof(out)), -1,
	    "NUL in the name");

	is_int(route_query_param("job=" ID "%00x", "job", out, sizeof(out)),
	    -1, "NUL in the value");
	is_int(route_query_param("job=%00", "job", out, sizeof(out)), -1,
	    "value only NUL");

	is_int(route_query_param("a=abc", "a", small, sizeof(small)), 0,
	    "exactly fits");
	is_str(small, "abc", "exactly fits: value");
	is_int(route_query_param("a=abcd", "a", small, sizeof(small)), -1,
	    "truncation refused");
	is_int(route_query_param("a=%41%42%43", "a", small, sizeof(small)), 0,
	    "fits once decoded");
	is_str(small, "ABC", "decoded before measured");
	is_int(route_query_param("a=1", "a", out, 0), -1, "no room at all");
}

int
main(void)
{
	test_routes();
	test_bad_ids();
	test_methods();
	test_query();
	return tap_done();
}
