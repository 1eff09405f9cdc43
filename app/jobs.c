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

#include <json-c/json.h>

#include "extern.h"

#define JOBS_LOG_TAIL	65536		/* bytes of the log by default */
#define JOBS_LOG_MAX	(1024 * 1024)	/* and at most, whatever ?tail= says */
#define JOBS_NAME_FIELDS	32	/* fields a download name may use */
#define JOBS_NAME_PART		128	/* bytes of each */
#define JOBS_NAME_MAX		200	/* bytes of a download name */

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

/* Copy s into out with what would be HTML-escaped or quoted made '_'. */
static void
jobs_name_part(char *out, size_t sz, const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0' && i + 1 < sz; i++)
		out[i] = strchr("&<>\"'\\/%;", s[i]) != NULL ? '_' : s[i];
	out[i] = '\0';
}

/*
 * The Content-Disposition of job st's result (RFC 6266 4.1): attachment,
 * named by the task's result_filename template from the job's id, task,
 * finish date and fields, made safe (mp_safe_filename: no path, no
 * control or bidi characters), with an ASCII filename= for old clients
 * and the UTF-8 name in filename* (RFC 6266 4.3, RFC 8187 3.2).  Nothing
 * when the task names none or the name cannot be made.
 */
static void
jobs_disposition(struct req *r, const struct task *t,
    const struct jobstatus *st)
{
	struct tmpl_var		 v[3 + JOBS_NAME_FIELDS];
	char			 vals[JOBS_NAME_FIELDS][JOBS_NAME_PART];
	char			 date[32], safe[JOBS_NAME_MAX], ascii[JOBS_NAME_MAX];
	char			 err[256];
	struct buf		 in = { 0 }, name = { 0 }, ext = { 0 };
	struct json_object	*o = NULL, *fields;
	struct tm		 tm;
	size_t			 n = 0, i;
	const unsigned char	*p;

	if (t == NULL || t->result_filename == NULL)
		return;
	date[0] = '\0';
	if (gmtime_r(&st->finished_at, &tm) != NULL)
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	v[n].name = "id", v[n++].value = st->id;
	v[n].name = "task", v[n++].value = st->task;
	v[n].name = "date", v[n++].value = date;
	/* The fields only when the template could name one. */
	if (strstr(t->result_filename, "{{") != NULL &&
	    store_input_read(r->srv->store, st->id, &in) == STORE_OK &&
	    (o = json_tokener_parse(in.data != NULL ? in.data : "")) != NULL &&
	    json_object_object_get_ex(o, "fields", &fields) &&
	    json_object_is_type(fields, json_type_object)) {
		json_object_object_foreach(fields, k, fv) {
			if (n >= sizeof(v) / sizeof(v[0]))
				break;
			if (!json_object_is_type(fv, json_type_string))
				continue;
			jobs_name_part(vals[n - 3], sizeof(vals[0]),
			    json_object_get_string(fv));
			v[n].name = k;
			v[n].value = vals[n - 3];
			n++;
		}
	}
	if (tmpl_render(&name, t->result_filename, strlen(t->result_filename),
	    v, n, err, sizeof(err)) == -1 || name.data == NULL ||
	    mp_safe_filename(name.data, safe, sizeof(safe)) == -1)
		goto done;
	/* One '_' for each character outside ASCII. */
	for (i = 0, p = (const unsigned char *)safe; *p != '\0'; p++)
		if ((*p & 0xc0) != 0x80)
			ascii[i++] = *p >= 0x80 || *p == '"' || *p == '\\' ?
			    '_' : (char)*p;
	ascii[i] = '\0';
	for (p = (const unsigned char *)safe; *p != '\0'; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("!#$&+-.^_`|~", *p))
			buf_append(&ext, p, 1);
		else
			buf_printf(&ext, "%%%02X", *p);
	if (ext.data != NULL)
		http_header(r, "Content-Disposition", "attachment; "
		    "filename=\"%s\"; filename*=UTF-8''%s", ascii, ext.data);
done:
	if (o != NULL)
		json_object_put(o);
	buf_free(&in);
	buf_free(&name);
	buf_free(&ext);
}

/*
 * Is the result not modified for this request (RFC 9110 13.1.2,
 * 13.1.3)?  If-None-Match wins over If-Modified-Since, which is read only
 * without it.
 */
static int
jobs_not_modified(const struct req *r, const char *etag,
    const struct stat *sb)
{
	const char	*inm = http_param(r, "HTTP_IF_NONE_MATCH");
	time_t		 ims;

	if (inm != NULL)
		return http_etag_match(inm, etag, 1);
	return http_date_parse(http_param(r, "HTTP_IF_MODIFIED_SINCE"),
	    &ims) == 0 && sb->st_mtime <= ims;
}

/*
 * May the Range of this request be used (RFC 9110 13.1.5)?  Without
 * If-Range, yes; with one, only when it names the current
 * representation: the entity-tag by strong comparison, or the date of
 * Last-Modified exactly.
 */
static int
jobs_if_range(const struct req *r, const char *etag, const struct stat *sb)
{
	const char	*ir = http_param(r, "HTTP_IF_RANGE");
	time_t		 d;

	if (ir == NULL)
		return 1;
	if (ir[0] == '"')
		return http_etag_match(ir, etag, 0);
	return http_date_parse(ir, &d) == 0 && d == sb->st_mtime;
}

/*
 * Hand the result of job st to the web server when send_result (the
 * task's, else the configuration's) says so:
 * a header naming the file (lighttpd's and Apache mod_xsendfile's
 * X-Sendfile, nginx's X-Accel-Redirect) and no body; the server sends the
 * file, with ranges and validators of its own, while this process takes
 * the next request.  Returns 0 when answered, -1 when spoolcgi is to send
 * it (the default).
 */
static int
jobs_result_offload(struct req *r, const struct task *t,
    const struct jobstatus *st)
{
	const struct config	*cfg = r->srv->cfg;
	const char		*how = t != NULL && t->send_result != NULL ?
				    t->send_result : cfg->send_result;
	char			 name[1024];
	int			 accel;

	if (how == NULL || strcmp(how, "spoolcgi") == 0)
		return -1;
	accel = strcmp(how, "x-accel-redirect") == 0;
	if (store_result_name(r->srv->store, st->id, !accel, name,
	    sizeof(name)) == -1) {
		log_warnx("job %s: result path too long", st->id);
		reply_fail(r, "naming the job's result");
		return 0;
	}
	http_header(r, "Cache-Control", "private");
	jobs_disposition(r, t, st);
	if (accel)
		http_header(r, "X-Accel-Redirect", "%s%s",
		    cfg->send_result_prefix, name);
	else
		http_header(r, "X-Sendfile", "%s", name);
	(void)http_send_head(r, 200, t ? t->result_type :
	    "application/octet-stream", -1);
	return 0;
}

/*
 * GET/HEAD {base}/jobs/{id}/result, sent by spoolcgi itself: validators
 * (ETag, Last-Modified, 304), one byte range (206, 416), and the
 * download name.
 */
void
jobs_result(struct req *r, const char *id)
{
	const struct task	*t;
	struct jobstatus	 st;
	struct stat		 sb;
	char			 etag[96], lm[40], chunk[65536];
	long long		 first = 0, last = -1, left;
	ssize_t			 n = 0;
	int			 fd, status = 200, range;

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
	t = config_task(r->srv->cfg, st.task);
	if (jobs_result_offload(r, t, &st) == 0)
		return;
	if ((fd = store_result_open(r->srv->store, id, &sb)) == -1) {
		reply_fail(r, "opening the job's result");
		return;
	}
	if (store_result_etag(&sb, etag, sizeof(etag)) == -1)
		etag[0] = '\0';
	http_date_format(sb.st_mtime, lm, sizeof(lm));
	/* Cloudflare caches by extension: never by a shared cache. */
	http_header(r, "Cache-Control", "private");
	if (etag[0] != '\0')
		http_header(r, "ETag", "%s", etag);
	if (lm[0] != '\0')
		http_header(r, "Last-Modified", "%s", lm);
	http_header(r, "Accept-Ranges", "bytes");
	if (jobs_not_modified(r, etag, &sb)) {
		(void)http_send_head(r, 304, NULL, -1);
		goto done;
	}
	jobs_disposition(r, t, &st);
	last = (long long)sb.st_size - 1;
	/* Range is defined for GET only (RFC 9110 14.2). */
	range = r->method == METHOD_GET && jobs_if_range(r, etag, &sb) ?
	    http_range_parse(http_param(r, "HTTP_RANGE"),
	    (long long)sb.st_size, &first, &last) : HTTP_RANGE_NONE;
	if (range == HTTP_RANGE_BAD) {
		/* 15.5.17: the current length, so the client can resume. */
		http_header(r, "Content-Range", "bytes */%lld",
		    (long long)sb.st_size);
		reply_error(r, 416, "range_not_satisfiable", NULL, "the range "
		    "asked for is not inside the result, or names too many "
		    "pieces of it");
		goto done;
	}
	if (range == HTTP_RANGE_ONE) {
		status = 206;
		http_header(r, "Content-Range", "bytes %lld-%lld/%lld", first,
		    last, (long long)sb.st_size);
	} else {
		first = 0;
		last = (long long)sb.st_size - 1;
	}
	if (http_send_head(r, status, t ? t->result_type :
	    "application/octet-stream", last - first + 1) == -1 ||
	    r->method == METHOD_HEAD)
		goto done;
	for (left = last - first + 1; left > 0; left -= n) {
		n = pread(fd, chunk, left < (long long)sizeof(chunk) ?
		    (size_t)left : sizeof(chunk), (off_t)first);
		if (n <= 0)
			break;
		first += n;
		if (http_write(r, chunk, (size_t)n) == -1)
			break;
	}
	if (n == -1)
		log_warn("job %s: read result", id);
done:
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
	/* An empty log was never allocated: raw.data is NULL. */
	if (buf_utf8_clean(&text, raw.len > 0 ? raw.data + skip : "",
	    raw.len - skip) == -1) {
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
