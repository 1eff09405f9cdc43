/*
 * GET {base}/metrics: the store's counters and a few gauges in the
 * Prometheus text exposition format, version 0.0.4 (Prometheus,
 * "Exposition formats"), for a monitoring server to scrape.
 *
 * Off unless the configuration turns it on, with metrics_token (the
 * scraper sends "Authorization: Bearer TOKEN", RFC 6750 2.1),
 * metrics_allow (REMOTE_ADDR must be in one of the ranges), or both,
 * when both must hold: each key narrows who may read, so that adding an
 * address list never opens the page to a token holder elsewhere, and a
 * leaked token is no use from outside the listed hosts.
 *
 * A scrape is cheap whatever the spool holds: the counters are a
 * directory of a few files per task (store_metric_read), the queue's
 * length is its own directory (at most max_queued entries), the running
 * jobs are the run slots' locks, and the spool's size is the figure the
 * store keeps; no job directory is listed or read.
 *
 * Counting starts at the first scrape the configuration allows: until
 * then the store keeps no counter at all (store_metric_enable), so a
 * site without metrics pays nothing for them.
 */
#include "config.h"

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extern.h"

/*
 * The reasons a start is refused, as counted: a refusal's code when it
 * is one of these (README "Errors"), else "other", so that the label's
 * values stay a small fixed set.
 */
static const char *const metrics_reasons[] = {
	"body_too_large", "disk_full", "draining", "field_too_large",
	"idempotency_conflict", "internal", "invalid_body", "invalid_field",
	"queue_full", "spool_full", "too_many_jobs", "unsupported_media_type",
	"other"
};
#define METRICS_NREASONS	(sizeof(metrics_reasons) / \
	sizeof(metrics_reasons[0]))

static const char *const metrics_states[] = {
	"queued", "running", "succeeded", "failed", "cancelled"
};

/*
 * Count a refused start under its reason (a refusal's code), when the
 * metrics are on: then, and only then, a refusal leaves a trace (a byte
 * appended to a counter).
 */
void
metrics_refused(const struct server *srv, const char *code)
{
	size_t	 i;

	if (srv->cfg->metrics_token == NULL && srv->cfg->nmetrics_allow == 0)
		return;
	for (i = 0; i + 1 < METRICS_NREASONS; i++)
		if (code != NULL && strcmp(code, metrics_reasons[i]) == 0)
			break;
	(void)store_metric_refused(srv->store, metrics_reasons[i]);
}

/*
 * A label value, escaped as the format wants: backslash, double quote
 * and line feed as \\, \" and \n.  Returns 0, or -1.
 */
int
metrics_label(struct buf *b, const char *name, const char *v)
{
	if (buf_printf(b, "%s=\"", name) == -1)
		return -1;
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"') {
			if (buf_printf(b, "\\%c", *v) == -1)
				return -1;
		} else if (*v == '\n') {
			if (buf_puts(b, "\\n") == -1)
				return -1;
		} else if (buf_append(b, v, 1) == -1)
			return -1;
	}
	return buf_puts(b, "\"");
}

/* "# HELP" and "# TYPE" of a family. */
static int
metrics_family(struct buf *b, const char *name, const char *type,
    const char *help)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/*
 * One sample: name, up to two labels (a NULL name ends them), value.
 * Returns 0, or -1.
 */
static int
metrics_sample(struct buf *b, const char *name, const char *l1,
    const char *v1, const char *l2, const char *v2, long long value)
{
	if (buf_puts(b, name) == -1)
		return -1;
	if (l1 != NULL) {
		if (buf_puts(b, "{") == -1 || metrics_label(b, l1, v1) == -1)
			return -1;
		if (l2 != NULL && (buf_puts(b, ",") == -1 ||
		    metrics_label(b, l2, v2) == -1))
			return -1;
		if (buf_puts(b, "}") == -1)
			return -1;
	}
	return buf_printf(b, " %lld\n", value);
}

/* The value of (kind, task, label, bucket) in m, 0 when absent. */
static long long
metrics_value(const struct metric *m, size_t n, enum metric_kind kind,
    const char *task, const char *label, int bucket)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (m[i].kind == kind && m[i].bucket == bucket &&
		    strcmp(m[i].task, task) == 0 &&
		    strcmp(m[i].label, label) == 0)
			return m[i].value;
	return 0;
}

/*
 * The tasks to show: the configured ones, then any the counters know
 * from before (a task since removed keeps its history).  *out gets an
 * array of pointers into cfg and m.  Returns the count, or -1.
 */
static long
metrics_tasks(const struct config *cfg, const struct metric *m, size_t n,
    const char ***out)
{
	const char	**t;
	size_t		 i, j, nt = 0;

	if ((t = calloc(cfg->ntasks + n + 1, sizeof(*t))) == NULL)
		return -1;
	for (i = 0; i < cfg->ntasks; i++)
		t[nt++] = cfg->tasks[i].name;
	for (i = 0; i < n; i++) {
		if (m[i].task[0] == '\0')
			continue;
		for (j = 0; j < nt; j++)
			if (strcmp(t[j], m[i].task) == 0)
				break;
		if (j == nt)
			t[nt++] = m[i].task;
	}
	*out = t;
	return (long)nt;
}

/* A duration in milliseconds as seconds: "1", "0.25". */
static void
metrics_seconds(char *out, size_t sz, long long ms)
{
	if (ms % 1000 == 0)
		snprintf(out, sz, "%lld", ms / 1000);
	else
		snprintf(out, sz, "%lld.%03lld", ms / 1000, ms % 1000);
}

/* The run time histogram of one task. */
static int
metrics_histogram(struct buf *b, const struct metric *m, size_t n,
    const char *task)
{
	const char	*name = "spoolcgi_job_duration_seconds";
	char		 le[32];
	long long	 cum = 0, sum;
	int		 i;

	for (i = 0; i <= STORE_METRIC_NBUCKETS; i++) {
		cum += metrics_value(m, n, METRIC_BUCKET, task, "", i);
		if (i < STORE_METRIC_NBUCKETS)
			metrics_seconds(le, sizeof(le),
			    store_metric_bucket_ms[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		if (buf_printf(b, "%s_bucket", name) == -1 ||
		    buf_puts(b, "{") == -1 || metrics_label(b, "task",
		    task) == -1 || buf_puts(b, ",") == -1 ||
		    metrics_label(b, "le", le) == -1 ||
		    buf_printf(b, "} %lld\n", cum) == -1)
			return -1;
	}
	sum = metrics_value(m, n, METRIC_SUM_MS, task, "", 0);
	metrics_seconds(le, sizeof(le), sum);
	if (buf_printf(b, "%s_sum{", name) == -1 ||
	    metrics_label(b, "task", task) == -1 ||
	    buf_printf(b, "} %s\n", le) == -1 ||
	    buf_printf(b, "%s_count{", name) == -1 ||
	    metrics_label(b, "task", task) == -1 ||
	    buf_printf(b, "} %lld\n", cum) == -1)
		return -1;
	return 0;
}

/*
 * Render the exposition into b: the counters m (n entries, from
 * store_metric_read) for the tasks of cfg and any others they name, and
 * the gauges g.  Every configured task has every series, zero or not,
 * so that a rate starts at the first scrape.  Returns 0, or -1 when
 * memory ran out.
 */
int
metrics_render(struct buf *b, const struct config *cfg,
    const struct metric *m, size_t n, const struct metrics_gauges *g)
{
	const char	**tasks = NULL;
	long		 nt, i;
	size_t		 j;
	int		 rc = -1;

	if ((nt = metrics_tasks(cfg, m, n, &tasks)) == -1)
		return -1;
	if (metrics_family(b, "spoolcgi_jobs_started_total", "counter",
	    "Jobs accepted by a start (POST), by task.") == -1)
		goto done;
	for (i = 0; i < nt; i++)
		if (metrics_sample(b, "spoolcgi_jobs_started_total", "task",
		    tasks[i], NULL, NULL, metrics_value(m, n, METRIC_STARTED,
		    tasks[i], "", 0)) == -1)
			goto done;
	if (metrics_family(b, "spoolcgi_job_runs_total", "counter",
	    "Runs of a task begun by a supervisor; a retried job runs "
	    "again.") == -1)
		goto done;
	for (i = 0; i < nt; i++)
		if (metrics_sample(b, "spoolcgi_job_runs_total", "task",
		    tasks[i], NULL, NULL, metrics_value(m, n, METRIC_RUNS,
		    tasks[i], "", 0)) == -1)
			goto done;
	if (metrics_family(b, "spoolcgi_jobs_finished_total", "counter",
	    "Jobs that reached a final state, by task and outcome.") == -1)
		goto done;
	for (i = 0; i < nt; i++)
		for (j = 2; j < 5; j++)
			if (metrics_sample(b, "spoolcgi_jobs_finished_total",
			    "task", tasks[i], "outcome", metrics_states[j],
			    metrics_value(m, n, METRIC_FINISHED, tasks[i],
			    metrics_states[j], 0)) == -1)
				goto done;
	if (metrics_family(b, "spoolcgi_jobs", "gauge",
	    "Jobs in the store now, by task and state (recounted by every "
	    "clean-up).") == -1)
		goto done;
	for (i = 0; i < nt; i++)
		for (j = 0; j < 5; j++)
			if (metrics_sample(b, "spoolcgi_jobs", "task", tasks[i],
			    "state", metrics_states[j], metrics_value(m, n,
			    METRIC_JOBS, tasks[i], metrics_states[j], 0)) == -1)
				goto done;
	if (metrics_family(b, "spoolcgi_job_duration_seconds", "histogram",
	    "How long runs of a task took, from its start to its end.") == -1)
		goto done;
	for (i = 0; i < nt; i++)
		if (metrics_histogram(b, m, n, tasks[i]) == -1)
			goto done;
	if (metrics_family(b, "spoolcgi_starts_refused_total", "counter",
	    "Starts refused, by reason (the error code of the answer).") ==
	    -1)
		goto done;
	for (j = 0; j < METRICS_NREASONS; j++)
		if (metrics_sample(b, "spoolcgi_starts_refused_total",
		    "reason", metrics_reasons[j], NULL, NULL,
		    metrics_value(m, n, METRIC_REFUSED, "",
		    metrics_reasons[j], 0)) == -1)
			goto done;
	if (metrics_family(b, "spoolcgi_queue_length", "gauge",
	    "Jobs waiting for a run slot.") == -1 ||
	    metrics_sample(b, "spoolcgi_queue_length", NULL, NULL, NULL, NULL,
	    g->queued) == -1 ||
	    metrics_family(b, "spoolcgi_running_jobs", "gauge",
	    "Jobs running now (run slots held).") == -1 ||
	    metrics_sample(b, "spoolcgi_running_jobs", NULL, NULL, NULL, NULL,
	    g->running) == -1 ||
	    metrics_family(b, "spoolcgi_max_running_jobs", "gauge",
	    "The run slots, max_running.") == -1 ||
	    metrics_sample(b, "spoolcgi_max_running_jobs", NULL, NULL, NULL,
	    NULL, cfg->max_running) == -1 ||
	    metrics_family(b, "spoolcgi_max_queued_jobs", "gauge",
	    "The queue's limit, max_queued.") == -1 ||
	    metrics_sample(b, "spoolcgi_max_queued_jobs", NULL, NULL, NULL,
	    NULL, cfg->max_queued) == -1 ||
	    metrics_family(b, "spoolcgi_draining", "gauge",
	    "1 while new jobs are refused for maintenance, else 0.") == -1 ||
	    metrics_sample(b, "spoolcgi_draining", NULL, NULL, NULL, NULL,
	    g->draining) == -1)
		goto done;
	if (g->spool_bytes >= 0 && (metrics_family(b, "spoolcgi_spool_bytes",
	    "gauge", "The spool's size as the store keeps it (measured by "
	    "every clean-up).") == -1 || metrics_sample(b,
	    "spoolcgi_spool_bytes", NULL, NULL, NULL, NULL, g->spool_bytes) ==
	    -1))
		goto done;
	if (g->free_bytes >= 0 && (metrics_family(b,
	    "spoolcgi_disk_free_bytes", "gauge", "Bytes free to this user on "
	    "the spool's file system.") == -1 || metrics_sample(b,
	    "spoolcgi_disk_free_bytes", NULL, NULL, NULL, NULL,
	    g->free_bytes) == -1))
		goto done;
	rc = 0;
done:
	free(tasks);
	return rc;
}

/*
 * Compare the n bytes of a and b in time that depends on n only, so
 * that the answer's timing says nothing of how much of a token matched.
 */
static int
metrics_token_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	volatile unsigned char	 d = 0;
	size_t			 i;

	/* The configured token's length is no secret worth this much. */
	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return d == 0;
}

/*
 * May this request read the metrics?  Returns 0 when it may; else it
 * has answered (404 off, 403 from an address not listed, 401 without
 * the token) and returns -1.
 */
static int
metrics_allowed(struct req *r)
{
	const struct config	*cfg = r->srv->cfg;
	const char		*h, *tok;
	size_t			 n;

	if (cfg->metrics_token == NULL && cfg->nmetrics_allow == 0) {
		reply_not_found(r);
		return -1;
	}
	if (cfg->nmetrics_allow > 0 && !http_addr_in(r, cfg->metrics_allow,
	    cfg->nmetrics_allow)) {
		reply_error(r, 403, "forbidden", NULL, "the metrics may be "
		    "read only from the addresses in metrics_allow");
		return -1;
	}
	if (cfg->metrics_token == NULL)
		return 0;
	/* RFC 6750 2.1: "Bearer" is a scheme name, so any case. */
	h = http_param(r, "HTTP_AUTHORIZATION");
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
		for (tok = h + 7; *tok == ' '; tok++)
			;
		n = strlen(tok);
		while (n > 0 && tok[n - 1] == ' ')
			n--;
		if (metrics_token_eq(tok, n, cfg->metrics_token,
		    strlen(cfg->metrics_token)))
			return 0;
		/* RFC 6750 3.1: a token was sent and is not good. */
		http_header(r, "WWW-Authenticate", "Bearer realm=\"spoolcgi\", "
		    "error=\"invalid_token\"");
	} else
		http_header(r, "WWW-Authenticate", "Bearer realm=\"spoolcgi\"");
	reply_error(r, 401, "unauthorized", NULL, "the metrics need "
	    "\"Authorization: Bearer\" with the token of metrics_token");
	return -1;
}

/* GET {base}/metrics. */
void
metrics_serve(struct req *r)
{
	const struct config	*cfg = r->srv->cfg;
	struct store		*s = r->srv->store;
	struct metrics_gauges	 g;
	struct metric		*m = NULL;
	struct buf		 b = { 0 };
	size_t			 n = 0;
	int			 queued, running;

	if (metrics_allowed(r) == -1)
		return;
	/* The first scrape starts the counting (and a recount of the jobs). */
	if (store_metric_enable(s) == -1 ||
	    store_metric_read(s, &m, &n) == -1 ||
	    store_counts(s, cfg->max_running, &queued, &running) == -1) {
		free(m);
		reply_fail(r, "reading the metrics");
		return;
	}
	memset(&g, 0, sizeof(g));
	g.queued = queued;
	g.running = running;
	g.draining = cfg->drain || store_draining(s);
	g.spool_bytes = store_usage(s);
	g.free_bytes = store_free_bytes(s);
	if (metrics_render(&b, cfg, m, n, &g) == -1) {
		free(m);
		buf_free(&b);
		reply_fail(r, "rendering the metrics");
		return;
	}
	free(m);
	http_header(r, "Cache-Control", "no-store");
	(void)http_send(r, 200, "text/plain; version=0.0.4; charset=utf-8",
	    b.data ? b.data : "", b.len);
	buf_free(&b);
}
