/*
 * One request, from its route to its handler: the routes of the HTTP
 * contract as a table, the checks every request passes first, and the
 * clean-up started when one is due.  Every route answers in milliseconds;
 * the work itself runs in a supervisor.
 */
#include "config.h"

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extern.h"

#define SERVE_GC_CHECK	10	/* seconds between looks at the clean-up */

/*
 * Refuse to serve while the spool lies under the document root: job
 * files would be downloadable.  DOCUMENT_ROOT comes with each request
 * (FastCGI has no other way to learn it), so the verdict is cached per
 * value.  Returns 1 when the spool is exposed.
 */
static int
serve_spool_exposed(struct req *r)
{
	struct server	*srv = r->srv;
	const char	*dr = http_param(r, "DOCUMENT_ROOT");

	if (dr == NULL || *dr == '\0' || strlen(dr) >= sizeof(srv->docroot_seen))
		return 0;
	if (strcmp(dr, srv->docroot_seen) != 0) {
		snprintf(srv->docroot_seen, sizeof(srv->docroot_seen), "%s",
		    dr);
		srv->docroot_bad = store_inside(srv->cfg->spool, dr) == 1;
		if (srv->docroot_bad)
			log_warnx("%s: spool: %s is inside the document root "
			    "%s, where the web server would publish every "
			    "job's files; move it outside, e.g. beside the "
			    "document root", srv->cfg->path, srv->cfg->spool, dr);
	}
	return srv->docroot_bad;
}

/* {base} alone: POST starts, GET ?job={id} reads, else the task list. */
static void
serve_root(struct req *r, const struct route *rt)
{
	char	 job[SPOOLCGI_ID_LEN + 8];

	(void)rt;
	if (r->method == METHOD_POST)
		start_job(r);
	else if (r->query != NULL && route_query_param(r->query, "job", job,
	    sizeof(job)) == 0) {
		/* Servers that pass no PATH_INFO: {base}?job={id}. */
		if (!job_id_check(job, strlen(job)))
			reply_not_found(r);
		else
			jobs_get(r, job);
	} else
		info_tasks(r);
}

/* {base}/jobs: POST starts, GET lists the caller's own jobs. */
static void
serve_jobs(struct req *r, const struct route *rt)
{
	(void)rt;
	if (r->method == METHOD_POST)
		start_job(r);
	else
		joblist_get(r);
}

static void
serve_job(struct req *r, const struct route *rt)
{
	if (r->method == METHOD_DELETE)
		jobs_cancel(r, rt->job);
	else
		jobs_get(r, rt->job);
}

static void
serve_result(struct req *r, const struct route *rt)
{
	jobs_result(r, rt->job);
}

static void
serve_cancel(struct req *r, const struct route *rt)
{
	jobs_cancel(r, rt->job);
}

static void
serve_log(struct req *r, const struct route *rt)
{
	jobs_log(r, rt->job);
}

static void
serve_retry(struct req *r, const struct route *rt)
{
	start_retry(r, rt->job);
}

static void
serve_tasks(struct req *r, const struct route *rt)
{
	(void)rt;
	info_tasks(r);
}

static void
serve_health(struct req *r, const struct route *rt)
{
	(void)rt;
	info_health(r);
}

static void
serve_metrics(struct req *r, const struct route *rt)
{
	(void)rt;
	metrics_serve(r);
}

static void
serve_static(struct req *r, const struct route *rt)
{
	info_static(r, rt->asset);
}

/* Which handler answers each route of route.c's table. */
static void (*const serve_handlers[])(struct req *, const struct route *) = {
	[ROUTE_ROOT] = serve_root,
	[ROUTE_JOBS] = serve_jobs,
	[ROUTE_JOB] = serve_job,
	[ROUTE_JOB_RESULT] = serve_result,
	[ROUTE_JOB_CANCEL] = serve_cancel,
	[ROUTE_JOB_LOG] = serve_log,
	[ROUTE_JOB_RETRY] = serve_retry,
	[ROUTE_TASKS] = serve_tasks,
	[ROUTE_HEALTH] = serve_health,
	[ROUTE_METRICS] = serve_metrics,
	[ROUTE_STATIC] = serve_static,
};

/*
 * Start a clean-up when one is due: at most one look per SERVE_GC_CHECK
 * seconds per process, and the work itself detached.
 */
static void
serve_gc_maybe(struct server *srv)
{
	time_t	 now = time(NULL);

	if (!srv->cgi && now - srv->gc_checked < SERVE_GC_CHECK)
		return;
	srv->gc_checked = now;
	lifecycle_gc_spawn(srv->store, srv->cfg, srv->cgi);
}

/* Serve one request; r->srv holds what every request shares. */
void
serve_request(struct req *r)
{
	struct route	 rt;
	size_t		 plen;

	if (serve_spool_exposed(r)) {
		reply_fail(r, "the spool is inside the document root");
		return;
	}
	plen = r->path_info != NULL ? strlen(r->path_info) : 0;
	if (route_parse(&rt, r->path_info, plen) == -1 ||
	    (size_t)rt.id >= sizeof(serve_handlers) / sizeof(serve_handlers[0])
	    || serve_handlers[rt.id] == NULL) {
		reply_not_found(r);
		return;
	}
	if (!route_allows(rt.id, r->method)) {
		http_header(r, "Allow", "%s", route_allow_header(rt.id));
		reply_error(r, 405, "method_not_allowed", NULL,
		    "this method is not allowed here");
		return;
	}
	if ((r->method == METHOD_POST || r->method == METHOD_DELETE) &&
	    http_cross_site(r)) {
		/* Before the body is read: nothing reaches the spool. */
		reply_error(r, 403, "cross_site", NULL, "this request came "
		    "from a page on another site, which may not start or "
		    "cancel jobs here (a form of cross-site request forgery); "
		    "use this site's own pages, or ask its administrator to "
		    "list that site in allowed_origins");
		return;
	}
	serve_handlers[rt.id](r, &rt);
	serve_gc_maybe(r->srv);
}
