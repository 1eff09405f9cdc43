/*
 * tests/fuzz/fuzz-route.c: route_parse(), route_query_param() and
 * job_id_check() on any bytes.
 *
 * The input reads like the end of a URL: the bytes before the first '?'
 * are PATH_INFO, those after it QUERY_STRING (a C string, so cut at a NUL,
 * as the web server would pass it).  Checked: a known route is the answer
 * 0 and a job route carries an id that passes job_id_check() and is in
 * the path; the 405 Allow header agrees with route_allows(); a query value
 * fits its buffer with its NUL; job_id_check() accepts only canonical
 * lower-case version 4 UUIDs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uuid.h>

#include "extern.h"
#include "fuzz.h"

static const char *const method_names[] = {
	"GET", "HEAD", "POST", "DELETE"
};

static void
check_route(const char *p, size_t len)
{
	struct route	 r;
	char		 again[64];
	const char	*allow;
	int		 rc, m;

	memset(&r, 0xa5, sizeof(r));
	rc = route_parse(&r, p, len);
	FUZZ_CHECK((rc == 0) == (r.id != ROUTE_NONE));
	FUZZ_CHECK(fuzz_terminated(r.job, sizeof(r.job)));
	if (r.bad_id)
		FUZZ_CHECK(r.id == ROUTE_NONE && len >= 6 &&
		    memcmp(p, "/jobs/", 6) == 0);
	switch (r.id) {
	case ROUTE_JOB:
	case ROUTE_JOB_RESULT:
	case ROUTE_JOB_CANCEL:
		FUZZ_CHECK(strlen(r.job) == SPOOLCGI_ID_LEN);
		FUZZ_CHECK(job_id_check(r.job, strlen(r.job)));
		FUZZ_CHECK(len >= 6 + SPOOLCGI_ID_LEN &&
		    memcmp(p + 6, r.job, SPOOLCGI_ID_LEN) == 0);
		/* The id alone is a job route again. */
		snprintf(again, sizeof(again), "/jobs/%s", r.job);
		FUZZ_CHECK(route_parse(&r, again, strlen(again)) == 0 &&
		    r.id == ROUTE_JOB);
		break;
	case ROUTE_NONE:
		FUZZ_CHECK(r.job[0] == '\0');
		break;
	default:
		FUZZ_CHECK(r.job[0] == '\0');
		break;
	}
	/* No path is ever taken with "..", "//" or a control byte. */
	if (r.id != ROUTE_NONE && r.id != ROUTE_ROOT) {
		FUZZ_CHECK(memchr(p, '\0', len) == NULL);
		FUZZ_CHECK(p[0] == '/');
	}
	allow = route_allow_header(r.id);
	FUZZ_CHECK((allow == NULL) == (r.id == ROUTE_NONE));
	for (m = METHOD_GET; m <= METHOD_DELETE; m++) {
		if (allow == NULL) {
			FUZZ_CHECK(!route_allows(r.id, m));
			continue;
		}
		FUZZ_CHECK(route_allows(r.id, m) ==
		    (strstr(allow, method_names[m]) != NULL &&
		    (m != METHOD_HEAD || strstr(allow, "HEAD") != NULL)));
	}
	FUZZ_CHECK(!route_allows(r.id, METHOD_OTHER));
}

static void
check_query(const char *q, const char *name, size_t outsz)
{
	struct route	 r;
	char		*out, path[64];
	int		 rc;

	if ((out = malloc(outsz)) == NULL)
		abort();
	memset(out, 'x', outsz);
	rc = route_query_param(q, name, out, outsz);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(fuzz_terminated(out, outsz));
		if (strcmp(name, "job") == 0 &&
		    job_id_check(out, strlen(out))) {
			snprintf(path, sizeof(path), "/jobs/%s", out);
			FUZZ_CHECK(route_parse(&r, path, strlen(path)) == 0 &&
			    strcmp(r.job, out) == 0);
		}
	}
	free(out);
}

static void
check_id(const char *s, size_t len)
{
	char	 tmp[SPOOLCGI_ID_LEN + 1], canon[SPOOLCGI_ID_LEN + 1];
	uuid_t	 u;

	if (!job_id_check(s, len))
		return;
	FUZZ_CHECK(len == SPOOLCGI_ID_LEN);
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	FUZZ_CHECK(uuid_parse(tmp, u) == 0);
	uuid_unparse_lower(u, canon);
	FUZZ_CHECK(strcmp(canon, tmp) == 0);
	FUZZ_CHECK(tmp[14] == '4');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*qm;
	char		*path, *query;
	size_t		 plen;

	qm = memchr(data, '?', size);
	plen = qm != NULL ? (size_t)(qm - data) : size;
	path = fuzz_dup(data, plen);
	query = fuzz_strndup(qm != NULL ? qm + 1 : data + size,
	    qm != NULL ? size - plen - 1 : 0);

	check_route(path, plen);
	check_id(path, plen);
	if (plen > 6)
		check_id(path + 6, plen - 6);

	check_query(query, "job", SPOOLCGI_ID_LEN + 1);
	check_query(query, "format", 16);
	check_query(query, "format", 1);
	check_query(query, "a b", 4);
	/* A buffer as long as the query can hold every decoded value. */
	check_query(query, "job", strlen(query) + 1);

	free(query);
	free(path);
	return 0;
}
