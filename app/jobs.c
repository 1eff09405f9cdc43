/*
 * The routes of one job (README "How a request flows", "Job
 * lifecycle"): its status, waiting for it, its result, cancel and DELETE.
 * Each asks the state machine (lifecycle.c) and ends in one answer.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define JOBS_LOG_TAIL	65536		/* bytes of the log by default */
#define JOBS_LOG_MAX	(1024 * 1024)	/* and at most, whatever ?tail= says */

/*
 * Read job id for an answer (lifecycle_read).  On failure answers 404,
 * 410 or 500 itself and returns -1.
 */
int
jobs_read(struct req *r, const char *id, struct jobstatus *st)
{
	int	 rc;

	if ((rc = lifecycle_read(r->srv->store, r->srv->cfg, id, st)) != LC_OK)
		return reply_lookup(r, rc);
	return 0;
}

/* The seconds of a "Prefer: wait=N" (RFC 7240 4.3), capped; 0: none. */
int
jobs_prefer_wait(const struct req *r)
{
	const char	*p = http_param(r, "HTTP_PREFER");
	long		 n, max;

	for (; p != NULL && (p = strstr(p, "wait")) != NULL; p += 4) {
		const char *q = p + 4;

		while (*q == ' ')
			q++;
		if (*q++ != '=')
			continue;
		while (*q == ' ')
			q++;
		if (*q < '0' || *q > '9')
			continue;
		n = strtol(q, NULL, 10);
		max = r->srv->cfg->max_wait_seconds;
		return n > max ? max : (int)n;
	}
	return 0;
}

/* GET/HEAD {base}/jobs/{id}: the status (README "How a request flows"). */
void
jobs_get(struct req *r, const char *id)
{
	struct jobstatus	 st;
	int			 wait, rc;

	if (jobs_read(r, id, &st) == -1)
		return;
	if ((wait = jobs_prefer_wait(r)) > 0 && !job_state_final(st.state) &&
	    (rc = lifecycle_wait(r->srv->store, r->srv->cfg, &st, wait)) !=
	    LC_OK) {
		reply_lookup(r, rc);
		return;
	}
	reply_job(r, &st, wait, 0);
}

/*
 * POST {base}/jobs/{id}/cancel, and DELETE {base}/jobs/{id}: cancel a
 * pending job (lifecycle_cancel); DELETE removes a final one.
 */
void
jobs_cancel(struct req *r, const char *id)
{
	struct jobstatus	 st;
	char			 loc[640];
	int			 rc;

	rc = lifecycle_cancel(r->srv->store, r->srv->cfg, id, &st);
	if (rc == LC_FINAL && r->method == METHOD_DELETE) {
		if (lifecycle_remove(r->srv->store, id) != LC_OK) {
			reply_fail(r, "removing the job");
			return;
		}
		http_header(r, "Cache-Control", "no-store");
		(void)http_send_head(r, 204, NULL, -1);
		return;
	}
	if (rc == LC_FINAL) {
		if (r->json) {
			http_header(r, "Cache-Control", "no-store");
			reply_status(r, 409, &st);
		} else
			reply_error(r, 409, "final", NULL, "this job has "
			    "already finished; there is nothing to cancel");
		return;
	}
	if (rc != LC_OK) {
		if (rc == LC_ERR)
			reply_fail(r, "cancelling the job");
		else
			reply_lookup(r, rc);
		return;
	}
	if (r->json) {
		http_header(r, "Cache-Control", "no-store");
		reply_status(r, 200, &st);
		return;
	}
	route_url(loc, sizeof(loc), r->base, ROUTE_JOB, id);
	reply_redirect(r, loc);
}

/* GET/HEAD {base}/jobs/{id}/result. */
void
jobs_result(struct req *r, const char *id)
{
	const struct task	*t;
	struct jobstatus	 st;
	struct stat		 sb;
	char			 etag[96], chunk[65536];
	const char		*inm;
	ssize_t			 n;
	int			 fd;

	if (jobs_read(r, id, &st) == -1)
		return;
	if (st.state != JOB_SUCCEEDED) {
		http_header(r, "Cache-Control", "no-store");
		if (r->json) {
			reply_status(r, 409, &st);
			return;
		}
		reply_error(r, 409, "not_ready", NULL, job_state_final(
		    st.state) ? "this job did not succeed, so it has no "
		    "result" : "this job has not finished yet; its page "
		    "shows how far it got");
		return;
	}
	if ((fd = store_result_open(r->srv->store, id, &sb)) == -1) {
		reply_fail(r, "opening the job's result");
		return;
	}
	t = config_task(r->srv->cfg, st.task);
	if (store_result_etag(&sb, etag, sizeof(etag)) == -1)
		etag[0] = '\0';
	/* Cloudflare caches by extension: never by a shared cache. */
	http_header(r, "Cache-Control", "private");
	if (etag[0] != '\0')
		http_header(r, "ETag", "%s", etag);
	if (etag[0] != '\0' &&
	    (inm = http_param(r, "HTTP_IF_NONE_MATCH")) != NULL &&
	    strstr(inm, etag) != NULL) {
		(void)http_send_head(r, 304, NULL, -1);
		close(fd);
		return;
	}
	if (http_send_head(r, 200, t ? t->result_type :
	    "application/octet-stream", (long long)sb.st_size) == -1 ||
	    r->method == METHOD_HEAD) {
		close(fd);
		return;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (http_write(r, chunk, (size_t)n) == -1)
			break;
	if (n == -1)
		log_warn("job %s: read result", id);
	close(fd);
}

/*
 * The bytes ?tail= asks for, in *tail: digits only, so "-1", "1e99",
 * "0x10" and "" are refused; a larger number than JOBS_LOG_MAX is cut to
 * it.  Returns 0, or -1 for a malformed value.
 */
static int
jobs_tail_param(const struct req *r, long long *tail)
{
	char		 v[32];
	const char	*p;

	*tail = JOBS_LOG_TAIL;
	if (r->query == NULL || route_query_param(r->query, "tail", v,
	    sizeof(v)) == -1) {
		/* Absent is the default; present but too long is malformed. */
		return r->query != NULL && strstr(r->query, "tail=") != NULL ?
		    -1 : 0;
	}
	if (v[0] == '\0')
		return -1;
	*tail = 0;
	for (p = v; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (*tail < JOBS_LOG_MAX)
			*tail = *tail * 10 + (*p - '0');
	}
	if (*tail > JOBS_LOG_MAX)
		*tail = JOBS_LOG_MAX;
	return 0;
}

/*
 * GET/HEAD {base}/jobs/{id}/log: the last ?tail= bytes of the task's
 * stderr as UTF-8 text, invalid bytes replaced; never cached, since it
 * grows while the job runs.  A task with "log": false answers 404.
 */
void
jobs_log(struct req *r, const char *id)
{
	const struct task	*t;
	struct jobstatus	 st;
	struct buf		 raw = { 0 }, text = { 0 };
	long long		 tail, size;
	size_t			 skip = 0;
	int			 rc;

	if (jobs_tail_param(r, &tail) == -1) {
		reply_error(r, 400, "invalid_tail", "tail", "tail must be a "
		    "number of bytes, written in digits only");
		return;
	}
	if (jobs_read(r, id, &st) == -1)
		return;
	t = config_task(r->srv->cfg, st.task);
	if (t != NULL && !t->log) {
		reply_error(r, 404, "log_hidden", NULL, "this task's log is "
		    "not shown");
		return;
	}
	if ((rc = store_log_read(r->srv->store, id, tail, &raw, &size)) !=
	    STORE_OK) {
		if (rc == STORE_NOENT)
			reply_lookup(r, LC_NOENT);
		else
			reply_fail(r, "reading the job's log");
		goto done;
	}
	/* A cut log starts after the character it cut, if it cut one. */
	if (size > tail)
		while (skip < raw.len && skip < 3 &&
		    ((unsigned char)raw.data[skip] & 0xc0) == 0x80)
			skip++;
	if (buf_utf8_clean(&text, raw.data + skip, raw.len - skip) == -1) {
		log_warn("job %s: log", id);
		reply_fail(r, "reading the job's log");
		goto done;
	}
	http_header(r, "Cache-Control", "no-store");
	(void)http_send(r, 200, "text/plain; charset=utf-8",
	    text.data != NULL ? text.data : "", text.len);
done:
	buf_free(&raw);
	buf_free(&text);
}
