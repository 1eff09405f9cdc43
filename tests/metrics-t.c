/*
 * The counters (spoolmetric.c, through the store's interface) and their
 * exposition (metrics.c): events counted and read back, the run time
 * histogram and its exact sum, counts from processes at once, the
 * clean-up's recount, and the text format, checked line by line against
 * the grammar of the Prometheus text exposition format 0.0.4.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"
#include "tap.h"
#include "fixture.h"

static char		 root[256];
static struct metric	*m;
static size_t		 nm;

/* Read the store's counters into m, nm.  Returns 0 or -1. */
static int
reread(struct store *s)
{
	free(m);
	m = NULL;
	return store_metric_read(s, &m, &nm);
}

/* The value of (kind, task, label, bucket) in m, or -1 when absent. */
static long long
val(enum metric_kind kind, const char *task, const char *label, int bucket)
{
	size_t	 i;

	for (i = 0; i < nm; i++)
		if (m[i].kind == kind && m[i].bucket == bucket &&
		    strcmp(m[i].task, task) == 0 &&
		    strcmp(m[i].label, label) == 0)
			return m[i].value;
	return -1;
}

static void
test_counts(struct store *s)
{
	int	 i, n;

	ok(reread(s) == 0 && nm == 0, "nothing counted: nothing read");
	store_metric_move(s, "ocr", -1, JOB_QUEUED);
	store_metric_refused(s, "queue_full");
	store_metric_run(s, "ocr", 5);
	ok(reread(s) == 0 && nm == 0 && fx_entries("spool/metrics") == -1,
	    "metrics off: nothing counted, no directory made");
	i = open("spool/gc.stamp", O_WRONLY | O_CREAT, 0600);
	ok(i != -1 && close(i) == 0, "a clean-up was done (gc.stamp)");
	ok(store_metric_enable(s) == 0 && store_metric_enable(s) == 0 &&
	    fx_entries("spool/metrics") == 0,
	    "enabled (twice): an empty directory");
	ok(access("spool/gc.stamp", F_OK) == -1, "enabled: a clean-up is due, "
	    "to count the jobs");
	for (i = 0; i < 3; i++)
		store_metric_move(s, "ocr", -1, JOB_QUEUED);
	store_metric_move(s, "ocr", JOB_QUEUED, JOB_RUNNING);
	store_metric_move(s, "ocr", JOB_QUEUED, JOB_RUNNING);
	store_metric_move(s, "ocr", JOB_RUNNING, JOB_SUCCEEDED);
	store_metric_move(s, "ocr", JOB_RUNNING, JOB_FAILED);
	store_metric_move(s, "ocr", JOB_QUEUED, JOB_CANCELLED);
	store_metric_move(s, "ocr", JOB_SUCCEEDED, -1);
	store_metric_refused(s, "queue_full");
	store_metric_refused(s, "queue_full");
	ok(reread(s) == 0, "read the counters");
	is_int(val(METRIC_STARTED, "ocr", "", 0), 3, "started: 3");
	is_int(val(METRIC_RUNS, "ocr", "", 0), 2, "runs: 2");
	is_int(val(METRIC_FINISHED, "ocr", "succeeded", 0), 1, "succeeded: 1");
	is_int(val(METRIC_FINISHED, "ocr", "failed", 0), 1, "failed: 1");
	is_int(val(METRIC_FINISHED, "ocr", "cancelled", 0), 1, "cancelled: 1");
	is_int(val(METRIC_JOBS, "ocr", "queued", 0), 0, "jobs queued: 3 in, "
	    "3 out");
	is_int(val(METRIC_JOBS, "ocr", "running", 0), 0, "jobs running: 0");
	is_int(val(METRIC_JOBS, "ocr", "succeeded", 0), 0, "jobs succeeded: "
	    "removed");
	is_int(val(METRIC_JOBS, "ocr", "failed", 0), 1, "jobs failed: 1");
	is_int(val(METRIC_REFUSED, "", "queue_full", 0), 2, "refused: 2");
	is_int(val(METRIC_IN_, "ocr", "queued", 0), -1, "the raw moves are "
	    "the store's own");

	/* Names that are no task or reason are not counted, nor written. */
	n = fx_entries("spool/metrics");
	store_metric_move(s, "../x", -1, JOB_QUEUED);
	store_metric_move(s, "a.b", -1, JOB_QUEUED);
	store_metric_move(s, "", -1, JOB_QUEUED);
	store_metric_refused(s, "a/b");
	ok(reread(s) == 0 && val(METRIC_STARTED, "a", "", 0) == -1 &&
	    val(METRIC_STARTED, "../x", "", 0) == -1,
	    "bad names: not counted");
	is_int(fx_entries("spool/metrics"), n, "bad names: no file made");

	/* A removal the counters never saw enter (an upgrade): not < 0. */
	store_metric_move(s, "old", JOB_SUCCEEDED, -1);
	ok(reread(s) == 0, "read again");
	is_int(val(METRIC_JOBS, "old", "succeeded", 0), 0, "a gauge never "
	    "goes below 0");
}

static void
test_runs(struct store *s)
{
	ok(store_metric_run(s, "ocr", 250) == 0 &&
	    store_metric_run(s, "ocr", 1000) == 0 &&
	    store_metric_run(s, "ocr", 1500) == 0 &&
	    store_metric_run(s, "ocr", 4000) == 0 &&
	    store_metric_run(s, "ocr", 90000000) == 0 &&
	    store_metric_run(s, "ocr", 0) == 0, "six runs counted");
	ok(reread(s) == 0, "read the runs");
	is_int(val(METRIC_BUCKET, "ocr", "", 0), 3, "<= 1 s: 0, 0.25 and 1 s");
	is_int(val(METRIC_BUCKET, "ocr", "", 1), 2, "<= 5 s: 1.5 and 4 s");
	is_int(val(METRIC_BUCKET, "ocr", "", STORE_METRIC_NBUCKETS), 1,
	    "+Inf: 25 h");
	is_int(val(METRIC_SUM_MS, "ocr", "", 0), 250 + 1000 + 1500 + 4000 +
	    90000000LL, "the sum is exact, in ms");
}

/* Processes counting at once lose nothing: each append is whole. */
static void
test_concurrent(struct store *s)
{
	pid_t	 pid[4];
	int	 i, j, st, good = 1;

	for (i = 0; i < 4; i++) {
		if ((pid[i] = fork()) == 0) {
			struct store *c = store_open(store_path(s));

			for (j = 0; j < 300; j++)
				store_metric_move(c, "many", -1, JOB_QUEUED);
			for (j = 0; j < 100; j++)
				store_metric_run(c, "many", 1234);
			/* The child's copies too, for valgrind. */
			store_close(c);
			store_close(s);
			free(m);
			_exit(0);
		}
	}
	for (i = 0; i < 4; i++)
		if (pid[i] == -1 || waitpid(pid[i], &st, 0) == -1 ||
		    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			good = 0;
	ok(good, "four processes counted");
	ok(reread(s) == 0, "read their counts");
	is_int(val(METRIC_STARTED, "many", "", 0), 1200, "1200 starts, none "
	    "lost");
	is_int(val(METRIC_JOBS, "many", "queued", 0), 1200, "1200 queued");
	is_int(val(METRIC_SUM_MS, "many", "", 0), 400 * 1234LL,
	    "the sum of 400 runs, exact");
}

/* The clean-up's recount replaces what the moves say, then moves add. */
static void
test_rebase(struct store *s)
{
	struct metric	 t[2];
	FILE		*f;

	memset(t, 0, sizeof(t));
	t[0].kind = t[1].kind = METRIC_JOBS;
	snprintf(t[0].task, sizeof(t[0].task), "ocr");
	snprintf(t[0].label, sizeof(t[0].label), "failed");
	t[0].value = 5;
	snprintf(t[1].task, sizeof(t[1].task), "fresh");
	snprintf(t[1].label, sizeof(t[1].label), "queued");
	t[1].value = 2;
	ok(store_metric_rebase(s, t, 2) == 0, "rebase");
	ok(reread(s) == 0, "read after the rebase");
	is_int(val(METRIC_JOBS, "ocr", "failed", 0), 5, "the recount wins");
	is_int(val(METRIC_JOBS, "ocr", "cancelled", 0), 0, "a state the "
	    "recount did not find: 0");
	is_int(val(METRIC_JOBS, "many", "queued", 0), 0, "another task the "
	    "recount did not find: 0");
	is_int(val(METRIC_JOBS, "fresh", "queued", 0), 2, "a task only the "
	    "recount knows");
	is_int(val(METRIC_STARTED, "many", "", 0), 1200, "counters are not "
	    "touched by a rebase");
	store_metric_move(s, "ocr", JOB_FAILED, -1);
	store_metric_move(s, "many", -1, JOB_QUEUED);
	ok(reread(s) == 0, "read after more moves");
	is_int(val(METRIC_JOBS, "ocr", "failed", 0), 4, "moves after the "
	    "recount count from it");
	is_int(val(METRIC_JOBS, "many", "queued", 0), 1, "a new job after "
	    "the recount");

	/* A damaged snapshot: its bad lines are skipped, never trusted. */
	f = fopen("spool/metrics/snapshot", "w");
	ok(f != NULL && fputs("snap queued 7 0 0\nnot a line\n"
	    "../x queued 5 0 0\nsnap nosuch 1 0 0\n"
	    "snap running 3 0 0", f) >= 0 && fclose(f) == 0,
	    "a snapshot damaged by hand");
	ok(reread(s) == 0, "it is read");
	is_int(val(METRIC_JOBS, "snap", "queued", 0), 7, "its good line");
	is_int(val(METRIC_JOBS, "snap", "running", 0), -1, "a last line "
	    "without its line feed: skipped");
	is_int(val(METRIC_JOBS, "snap", "nosuch", 0), -1, "a state that is "
	    "none: skipped");
	is_int(val(METRIC_JOBS, "../x", "queued", 0), -1, "a task name that "
	    "is none: skipped");
	ok(store_metric_rebase(s, t, 2) == 0 && reread(s) == 0 &&
	    val(METRIC_JOBS, "snap", "queued", 0) == -1 &&
	    val(METRIC_JOBS, "ocr", "failed", 0) == 5, "the next rebase "
	    "replaces it whole");
}

/* Is s a metric name, [a-zA-Z_:][a-zA-Z0-9_:]*, of n bytes? */
static int
name_ok(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || isdigit((unsigned char)s[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != ':')
			return 0;
	return 1;
}

/*
 * Check the exposition text line by line: HELP then TYPE once per
 * family, before its samples; each sample of the family announced last
 * (a histogram's _bucket, _sum and _count), labels quoted with only the
 * format's escapes, a number for a value, a line feed at the end.
 * Returns the number of the first bad line, or 0.
 */
static int
format_check(const char *text, int *nsamples)
{
	char		 family[128] = "", type[16] = "", seen[64][128];
	const char	*p = text, *e, *q;
	size_t		 n, nseen = 0, i;
	int		 line = 0;
	char		*end;

	*nsamples = 0;
	while (*p != '\0') {
		line++;
		if ((e = strchr(p, '\n')) == NULL)
			return line;		/* no final line feed */
		if (strncmp(p, "# HELP ", 7) == 0) {
			q = p + 7;
			n = strcspn(q, " \n");
			if (!name_ok(q, n) || n >= sizeof(family) ||
			    q[n] != ' ' || nseen == 64)
				return line;
			for (i = 0; i < nseen; i++)
				if (strncmp(seen[i], q, n) == 0 &&
				    seen[i][n] == '\0')
					return line;	/* a family twice */
			memcpy(family, q, n);
			family[n] = '\0';
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", family);
			type[0] = '\0';
		} else if (strncmp(p, "# TYPE ", 7) == 0) {
			q = p + 7;
			n = strlen(family);
			if (family[0] == '\0' || strncmp(q, family, n) != 0 ||
			    q[n] != ' ' || type[0] != '\0')
				return line;
			q += n + 1;
			n = (size_t)(e - q);
			if (n >= sizeof(type))
				return line;
			memcpy(type, q, n);
			type[n] = '\0';
			if (strcmp(type, "counter") != 0 &&
			    strcmp(type, "gauge") != 0 &&
			    strcmp(type, "histogram") != 0)
				return line;
		} else if (*p == '#') {
			return line;	/* no other comments are written */
		} else {
			n = strcspn(p, "{ ");
			if (!name_ok(p, n) || type[0] == '\0')
				return line;
			if (!(n == strlen(family) && strncmp(p, family, n) ==
			    0) && !(strcmp(type, "histogram") == 0 &&
			    strncmp(p, family, strlen(family)) == 0 &&
			    (strncmp(p + strlen(family), "_bucket{", 8) == 0 ||
			    strncmp(p + strlen(family), "_sum", 4) == 0 ||
			    strncmp(p + strlen(family), "_count", 6) == 0)))
				return line;
			q = p + n;
			if (*q == '{') {
				q++;
				for (;;) {
					n = strcspn(q, "=");
					if (!name_ok(q, n) || q[n + 1] != '"')
						return line;
					for (q += n + 2; *q != '"'; q++) {
						if (*q == '\n' || *q == '\0')
							return line;
						if (*q == '\\' && q[1] != '\\' &&
						    q[1] != '"' && q[1] != 'n')
							return line;
						if (*q == '\\')
							q++;
					}
					q++;
					if (*q == '}')
						break;
					if (*q++ != ',')
						return line;
				}
				q++;
			}
			if (*q++ != ' ')
				return line;
			(void)strtod(q, &end);
			if (end == q || end != e)
				return line;
			(*nsamples)++;
		}
		p = e + 1;
	}
	return 0;
}

static void
test_render(struct store *s)
{
	struct config		 cfg;
	struct metrics_gauges	 g = { 3, 2, 4096, 1 << 20, 0 };
	struct server		 srv;
	struct buf		 b = { 0 };
	char			 err[256];
	const char		*conf = "{\"spool\": \"/nonexistent/spool\", "
	    "\"tasks\": {\"ocr\": {\"command\": [\"/bin/true\"]}, "
	    "\"idle\": {\"command\": [\"/bin/true\"]}}}";
	int			 bad, ns;

	memset(&cfg, 0, sizeof(cfg));
	memset(&srv, 0, sizeof(srv));
	if (config_parse(&cfg, conf, strlen(conf), "/x.json", err,
	    sizeof(err)) == -1) {
		printf("Bail out! %s\n", err);
		exit(1);
	}
	ok(reread(s) == 0, "read for the exposition");
	ok(metrics_render(&b, &cfg, m, nm, &g) == 0 && b.len > 0,
	    "rendered");
	bad = format_check(b.data, &ns);
	is_int(bad, 0, "every line keeps to the text format");
	if (bad)
		printf("# %s\n", b.data);
	ok(ns > 50, "many samples (%d)", ns);
	ok(strstr(b.data, "\nspoolcgi_jobs_started_total{task=\"ocr\"} 3\n")
	    != NULL, "started, by task");
	ok(strstr(b.data, "\nspoolcgi_jobs_started_total{task=\"idle\"} 0\n")
	    != NULL, "a configured task without jobs: 0, not absent");
	ok(strstr(b.data, "\nspoolcgi_jobs_started_total{task=\"many\"} "
	    "1201\n") != NULL, "a task the counters know: shown");
	ok(strstr(b.data, "\nspoolcgi_jobs_finished_total{task=\"ocr\","
	    "outcome=\"failed\"} 1\n") != NULL, "finished, by outcome");
	ok(strstr(b.data, "\nspoolcgi_jobs{task=\"ocr\",state=\"failed\"} 5\n")
	    != NULL, "jobs by task and state");
	ok(strstr(b.data, "\nspoolcgi_job_duration_seconds_bucket{task=\"ocr\","
	    "le=\"1\"} 3\n") != NULL && strstr(b.data,
	    "\nspoolcgi_job_duration_seconds_bucket{task=\"ocr\",le=\"5\"} 5\n")
	    != NULL, "buckets are cumulative");
	ok(strstr(b.data, "\nspoolcgi_job_duration_seconds_bucket{task=\"ocr\","
	    "le=\"+Inf\"} 6\n") != NULL && strstr(b.data,
	    "\nspoolcgi_job_duration_seconds_count{task=\"ocr\"} 6\n") != NULL,
	    "+Inf equals the count");
	ok(strstr(b.data, "\nspoolcgi_job_duration_seconds_sum{task=\"ocr\"} "
	    "90006.750\n") != NULL, "the sum in seconds, exact");
	ok(strstr(b.data, "\nspoolcgi_starts_refused_total{reason="
	    "\"queue_full\"} 2\n") != NULL && strstr(b.data,
	    "\nspoolcgi_starts_refused_total{reason=\"other\"} 0\n") != NULL,
	    "refusals, every reason shown");
	ok(strstr(b.data, "\nspoolcgi_queue_length 3\n") != NULL &&
	    strstr(b.data, "\nspoolcgi_running_jobs 2\n") != NULL &&
	    strstr(b.data, "\nspoolcgi_spool_bytes 4096\n") != NULL &&
	    strstr(b.data, "\nspoolcgi_disk_free_bytes 1048576\n") != NULL,
	    "the gauges");
	ok(strncmp(b.data, "# HELP ", 7) == 0, "starts with a HELP line");

	/* The checker itself refuses what the format does not allow. */
	ok(format_check("# TYPE x counter\nx 1\n", &ns) == 1,
	    "checker: TYPE without HELP");
	ok(format_check("# HELP x h\n# TYPE x counter\nx{a=\"\\t\"} 1\n",
	    &ns) == 3, "checker: a bad escape");
	ok(format_check("# HELP x h\n# TYPE x counter\nx 1", &ns) == 3,
	    "checker: no final line feed");
	ok(format_check("# HELP x h\n# TYPE x counter\ny 1\n", &ns) == 3,
	    "checker: a sample of another family");

	buf_reset(&b);
	ok(metrics_label(&b, "task", "a\\b\"c\nd") == 0, "escape a label");
	is_str(b.data, "task=\"a\\\\b\\\"c\\nd\"", "backslash, quote, line "
	    "feed escaped");
	buf_free(&b);

	srv.cfg = &cfg;
	srv.store = s;
	metrics_refused(&srv, "too_many_jobs");
	ok(reread(s) == 0 && val(METRIC_REFUSED, "", "too_many_jobs", 0) ==
	    -1, "metrics off: a refusal is not counted");
	cfg.nmetrics_allow = 1;		/* on; nothing reads the ranges */
	metrics_refused(&srv, "no_such_code");
	metrics_refused(&srv, "too_many_jobs");
	cfg.nmetrics_allow = 0;
	ok(reread(s) == 0, "read the refusals");
	is_int(val(METRIC_REFUSED, "", "other", 0), 1, "an unknown code "
	    "counts as other");
	is_int(val(METRIC_REFUSED, "", "no_such_code", 0), -1, "and not "
	    "under its own name");
	is_int(val(METRIC_REFUSED, "", "too_many_jobs", 0), 1, "a known code");
	config_free(&cfg);
}

int
main(void)
{
	struct store	*s;
	char		 spool[300], cmd[300];

	snprintf(root, sizeof(root), "/tmp/metrics-t.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;
	snprintf(spool, sizeof(spool), "%s/spool", root);
	if (chdir(root) == -1 || (s = store_open(spool)) == NULL) {
		printf("Bail out! no store\n");
		return 1;
	}
	test_counts(s);
	test_runs(s);
	test_concurrent(s);
	test_rebase(s);
	test_render(s);
	free(m);
	store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
	return tap_done();
}
