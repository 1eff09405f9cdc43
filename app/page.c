/*
 * HTML pages: every page is a template rendered inside page.html, with
 * every value escaped unless the template says otherwise.  A page
 * function renders and sends; when rendering fails it returns -1 having
 * sent nothing, and the caller answers 500.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define PAGE_TEXT_INLINE	(256 * 1024)	/* results shown in the page */
#define PAGE_LOG_TAIL		4096	/* bytes of the log shown in the page */

/*
 * Every HTML answer: scripts and styles only from here (the client and
 * its stylesheet, served by ROUTE_STATIC; no inline style or script
 * anywhere, so none is allowed), no framing.
 */
#define PAGE_CSP	"default-src 'none'; script-src 'self'; " \
			"style-src 'self'; " \
			"img-src 'self' data:; connect-src 'self'; " \
			"form-action 'self'; frame-ancestors 'none'; " \
			"base-uri 'none'"

/* Headers every HTML answer carries: secure by default. */
void
page_headers(struct req *r)
{
	http_header(r, "Content-Security-Policy", "%s", PAGE_CSP);
	http_header(r, "X-Frame-Options", "DENY");
	http_header(r, "Referrer-Policy", "same-origin");
}

/*
 * Render template name with vars inside page.html and send it with
 * status (refresh: seconds for a meta refresh, 0 for none).  Returns 0,
 * or -1 (logged) when rendering failed and nothing was sent.
 */
int
page_render(struct req *r, int status, const char *title, const char *name,
    const struct tmpl_var *vars, size_t nvars, int refresh)
{
	struct buf	 inner = { 0 }, page = { 0 };
	const char	*t;
	size_t		 len;
	char		 err[256], rbuf[16];
	int		 rc = -1;

	if ((t = tmpl_get(name, &len)) == NULL ||
	    tmpl_render(&inner, t, len, vars, nvars, err, sizeof(err)) == -1) {
		log_warnx("template %s: %s", name, t ? err : "missing");
		goto done;
	}
	snprintf(rbuf, sizeof(rbuf), "%d", refresh);
	{
		struct tmpl_var pv[] = {
			{ "title", title },
			{ "content", inner.data ? inner.data : "" },
			{ "refresh", refresh > 0 ? rbuf : NULL },
			{ "base", r->base },
		};

		if ((t = tmpl_get("page.html", &len)) == NULL ||
		    tmpl_render(&page, t, len, pv, sizeof(pv) / sizeof(pv[0]),
		    err, sizeof(err)) == -1) {
			log_warnx("template page.html: %s",
			    t ? err : "missing");
			goto done;
		}
	}
	page_headers(r);
	/* A client gone away is no failure of the page. */
	(void)http_send(r, status, "text/html; charset=utf-8",
	    page.data ? page.data : "", page.len);
	rc = 0;
done:
	buf_free(&inner);
	buf_free(&page);
	return rc;
}

/*
 * Read a small text result into out for the result page.  Returns 1 when
 * it was read, 0 when it is not text or too large to show inline.
 */
static int
page_result_text(struct store *s, const struct task *t, const char *id, struct buf *out,
    off_t *size)
{
	struct stat	 sb;
	char		 chunk[8192];
	ssize_t		 n;
	int		 fd, shown = 0;

	*size = -1;
	if ((fd = store_result_open(s, id, &sb)) == -1)
		return 0;
	*size = sb.st_size;
	if (t != NULL && (strncmp(t->result_type, "text/", 5) == 0 ||
	    strncmp(t->result_type, "application/json", 16) == 0) &&
	    sb.st_size <= PAGE_TEXT_INLINE) {
		shown = 1;
		while ((n = read(fd, chunk, sizeof(chunk))) > 0)
			if (buf_append(out, chunk, (size_t)n) == -1) {
				shown = 0;
				break;
			}
		if (n == -1)
			shown = 0;
	}
	close(fd);
	return shown;
}

/*
 * The last whole lines of job st's log, as UTF-8, into out, for the page
 * of a running or failed job whose task shows its log.  Returns 1 when
 * there is something to show, else 0 (a log that cannot be read is
 * logged by the store and left out of the page).
 */
static int
page_log_tail(struct req *r, const struct task *t, const struct jobstatus *st,
    struct buf *out)
{
	struct buf	 raw = { 0 };
	long long	 size;
	const char	*p;
	size_t		 skip = 0;
	int		 shown = 0;

	if ((t != NULL && !t->log) ||
	    (st->state != JOB_RUNNING && st->state != JOB_FAILED))
		return 0;
	if (store_log_read(r->srv->store, st->id, PAGE_LOG_TAIL, &raw,
	    &size) == STORE_OK && raw.len > 0) {
		/* Cut: start at the first whole line. */
		if (size > PAGE_LOG_TAIL &&
		    (p = memchr(raw.data, '\n', raw.len)) != NULL)
			skip = (size_t)(p - raw.data) + 1;
		while (raw.len > skip && raw.data[raw.len - 1] == '\n')
			raw.len--;
		shown = raw.len > skip && buf_utf8_clean(out, raw.data + skip,
		    raw.len - skip) == 0 && out->len > 0;
	}
	buf_free(&raw);
	return shown;
}

/*
 * Seconds s in words into out: "45 seconds", "2 minutes 5 seconds",
 * "1 hour 2 minutes"; rough, an estimate's words as the browser client
 * says them (htdocs/spoolcgi.js, duration()): "a few seconds",
 * "about 40 seconds", "about 3 minutes", "about 2 hours".
 */
static void
page_duration(char *out, size_t sz, long long s, int rough)
{
	long long	 h = s / 3600, m = s % 3600 / 60, sec = s % 60, r;

	if (rough) {
		if (s < 10)
			snprintf(out, sz, "a few seconds");
		else if (s < 60)
			snprintf(out, sz, "about %lld seconds", (s + 2) / 5 * 5);
		else if (s < 90 * 60) {
			r = (s + 30) / 60;
			snprintf(out, sz, "about %lld minute%s", r,
			    r == 1 ? "" : "s");
		} else
			snprintf(out, sz, "about %lld hours", (s + 1800) / 3600);
		return;
	}
	if (h > 0)
		snprintf(out, sz, "%lld hour%s %lld minute%s", h,
		    h == 1 ? "" : "s", m, m == 1 ? "" : "s");
	else if (m > 0)
		snprintf(out, sz, "%lld minute%s %lld second%s", m,
		    m == 1 ? "" : "s", sec, sec == 1 ? "" : "s");
	else
		snprintf(out, sz, "%lld second%s", sec, sec == 1 ? "" : "s");
}

/*
 * The HTML page of a job: progress while pending, the outcome when final,
 * in the task's own result template when it has one.  Returns 0, or -1
 * (logged) when it could not be rendered and nothing was sent.
 */
int
page_job(struct req *r, const struct jobstatus *st)
{
	const struct task	*t = config_task(r->srv->cfg, st->task);
	const char		*title = t ? t->title : st->task;
	char			 self[640], cancel[640], result[640], logu[640];
	char			 retryu[640], token[SPOOLCGI_ID_LEN + 1];
	char			 created[32], started[32], finished[32];
	char			 pct[8], qpos[16], refresh[16], size[32];
	char			 el[64], els[24], left[64], lefts[24];
	struct buf		 text = { 0 }, log = { 0 };
	off_t			 rsize;
	long long		 elapsed, remaining;
	time_t			 now = time(NULL);
	int			 retry, shown = 0, logged, rc;

	route_url(self, sizeof(self), r->base, ROUTE_JOB, st->id);
	route_url(cancel, sizeof(cancel), r->base, ROUTE_JOB_CANCEL, st->id);
	route_url(result, sizeof(result), r->base, ROUTE_JOB_RESULT, st->id);
	route_url(logu, sizeof(logu), r->base, ROUTE_JOB_LOG, st->id);
	/*
	 * "Run again" for a failed or cancelled job whose task is still
	 * offered, with a one-time token: a double click makes one job.
	 */
	retryu[0] = '\0';
	if ((st->state == JOB_FAILED || st->state == JOB_CANCELLED) &&
	    t != NULL && job_id_new(token) == 0)
		route_url(retryu, sizeof(retryu), r->base, ROUTE_JOB_RETRY,
		    st->id);
	logged = page_log_tail(r, t, st, &log);
	job_time_format(st->created_at, created, sizeof(created));
	job_time_format(st->started_at, started, sizeof(started));
	job_time_format(st->finished_at, finished, sizeof(finished));
	http_header(r, "Cache-Control", "no-store");
	/* As the status object says them; in words, and for <time>. */
	if ((elapsed = job_elapsed(st, now)) >= 0) {
		page_duration(el, sizeof(el), elapsed, 0);
		snprintf(els, sizeof(els), "%lld", elapsed);
	}
	if ((remaining = job_remaining(st, now)) >= 0) {
		page_duration(left, sizeof(left), remaining, 1);
		snprintf(lefts, sizeof(lefts), "%lld", remaining);
	}

	if (!job_state_final(st->state)) {
		retry = job_retry_after(st, now);
		snprintf(pct, sizeof(pct), "%d", st->progress);
		snprintf(qpos, sizeof(qpos), "%d", st->queue_position);
		snprintf(refresh, sizeof(refresh), "%d", retry);
		struct tmpl_var v[] = {
			{ "id", st->id },
			{ "task", st->task },
			{ "task_title", title },
			{ "state", job_state_name(st->state) },
			{ "progress", st->progress >= 0 ? pct : NULL },
			{ "message", st->message[0] ? st->message : NULL },
			{ "queue_position", st->state == JOB_QUEUED &&
			    st->queue_position > 0 ? qpos : NULL },
			{ "created_at", created[0] ? created : NULL },
			{ "started_at", started[0] ? started : NULL },
			{ "self_url", self },
			{ "cancel_url", cancel },
			{ "refresh", refresh },
			{ "log_tail", logged ? log.data : NULL },
			{ "log_url", logu },
			{ "log_live", t == NULL || t->log ? "1" : NULL },
			{ "elapsed", elapsed >= 0 ? el : NULL },
			{ "elapsed_seconds", elapsed >= 0 ? els : NULL },
			{ "remaining", remaining >= 0 ? left : NULL },
			{ "remaining_seconds", remaining >= 0 ? lefts : NULL },
		};
		rc = page_render(r, 200, title, "job-progress.html", v,
		    sizeof(v) / sizeof(v[0]), retry);
		buf_free(&log);
		return rc;
	}
	if (st->state == JOB_SUCCEEDED)
		shown = page_result_text(r->srv->store, t, st->id, &text,
		    &rsize);
	else
		rsize = -1;
	snprintf(size, sizeof(size), "%lld", (long long)rsize);
	{
		struct tmpl_var v[] = {
			{ "id", st->id },
			{ "task_title", title },
			{ "state", job_state_name(st->state) },
			{ "succeeded", st->state == JOB_SUCCEEDED ? "1" : NULL },
			{ "failed", st->state == JOB_FAILED ? "1" : NULL },
			{ "cancelled", st->state == JOB_CANCELLED ? "1" : NULL },
			{ "error_code", st->error_code[0] ?
			    st->error_code : NULL },
			{ "error_message", st->error_message[0] ?
			    st->error_message : NULL },
			{ "result_text", shown ? (text.data ? text.data : "") :
			    NULL },
			{ "result_url", result },
			{ "result_type", t ? t->result_type : NULL },
			{ "result_size", rsize >= 0 ? size : NULL },
			{ "created_at", created[0] ? created : NULL },
			{ "started_at", started[0] ? started : NULL },
			{ "finished_at", finished[0] ? finished : NULL },
			{ "self_url", self },
			{ "base", r->base },
			{ "log_tail", logged ? log.data : NULL },
			{ "log_url", logu },
			{ "elapsed", elapsed >= 0 ? el : NULL },
			{ "elapsed_seconds", elapsed >= 0 ? els : NULL },
			{ "retry_url", retryu[0] ? retryu : NULL },
			{ "retry_token", retryu[0] ? token : NULL },
		};
		/* An empty text result still counts as shown. */
		if (shown && text.data == NULL)
			v[8].value = " ";
		rc = page_render(r, 200, title, t != NULL &&
		    t->result_template != NULL ? t->result_template :
		    "job-result.html", v, sizeof(v) / sizeof(v[0]), 0);
	}
	buf_free(&text);
	buf_free(&log);
	return rc;
}

/* Render built-in (or configured) template name with vars into b. */
static int
page_fragment(struct buf *b, const char *name, const struct tmpl_var *v,
    size_t nv)
{
	const char	*text;
	size_t		 len;
	char		 err[256];

	if ((text = tmpl_get(name, &len)) == NULL ||
	    tmpl_render(b, text, len, v, nv, err, sizeof(err)) == -1) {
		log_warnx("template %s: %s", name, text ? err : "missing");
		return -1;
	}
	return 0;
}

/* One field of a task's form (task-field.html), a plain one or a file. */
static int
page_task_field(struct buf *b, const struct task *t, const struct field *f,
    const struct filespec *fs)
{
	struct buf	 opts = { 0 };
	char		 id[2 * SPOOLCGI_NAME_MAX + 8], max[24], lo[32], hi[32];
	size_t		 k;
	int		 rc;

	snprintf(id, sizeof(id), "f-%s-%s", t->name, f != NULL ? f->name :
	    fs->name);
	snprintf(max, sizeof(max), "%zu", f != NULL ? f->max_bytes :
	    fs->max_bytes);
	if (f != NULL && f->has_min)
		snprintf(lo, sizeof(lo), "%g", f->min);
	if (f != NULL && f->has_max)
		snprintf(hi, sizeof(hi), "%g", f->max);
	for (k = 0; f != NULL && f->type == FIELD_SELECT && k < f->noptions;
	    k++) {
		struct tmpl_var ov[] = { { "value", f->options[k] } };

		if (page_fragment(&opts, "task-option.html", ov, 1) == -1) {
			buf_free(&opts);
			return -1;
		}
	}
	{
		int type = f != NULL ? (int)f->type : -1;
		struct tmpl_var v[] = {
			{ "id", id },
			{ "name", f != NULL ? f->name : fs->name },
			{ "label", f != NULL ? f->label : fs->label },
			{ "required", (f != NULL ? f->required :
			    fs->required) ? "1" : NULL },
			{ "max_bytes", max },
			{ "textarea", type == FIELD_TEXTAREA ? "1" : NULL },
			{ "select", type == FIELD_SELECT ? "1" : NULL },
			{ "options", opts.data != NULL ? opts.data : "" },
			{ "number", type == FIELD_NUMBER ? "1" : NULL },
			{ "min", f != NULL && f->has_min ? lo : NULL },
			{ "max", f != NULL && f->has_max ? hi : NULL },
			{ "text", type == FIELD_TEXT ? "1" : NULL },
			{ "file", f == NULL ? "1" : NULL },
		};

		rc = page_fragment(b, "task-field.html", v,
		    sizeof(v) / sizeof(v[0]));
	}
	buf_free(&opts);
	return rc;
}

/*
 * One task's form: its own template when it has one, else the built-in
 * task-form.html with a task-field.html per field and upload; either is
 * given the action URL, the task, its title and description and a
 * one-time token.  Returns 0, or -1 (logged).
 */
static int
page_task_form(struct buf *b, const struct req *r, const struct task *t)
{
	struct buf	 fields = { 0 };
	char		 token[SPOOLCGI_ID_LEN + 1], action[600];
	size_t		 j;
	int		 rc = -1;

	/* One-time token: a double click or a re-post finds the first job. */
	if (job_id_new(token) == -1)
		token[0] = '\0';
	route_url(action, sizeof(action), r->base, ROUTE_JOBS, NULL);
	for (j = 0; t->form_template == NULL && j < t->nfields; j++)
		if (page_task_field(&fields, t, &t->fields[j], NULL) == -1)
			goto done;
	for (j = 0; t->form_template == NULL && j < t->nfiles; j++)
		if (page_task_field(&fields, t, NULL, &t->files[j]) == -1)
			goto done;
	{
		struct tmpl_var v[] = {
			{ "action", action },
			{ "base", r->base },
			{ "task", t->name },
			{ "title", t->title },
			{ "description", t->description },
			{ "token", token[0] ? token : NULL },
			{ "multipart", t->nfiles > 0 ? "1" : NULL },
			{ "fields", fields.data != NULL ? fields.data : "" },
		};

		rc = page_fragment(b, t->form_template != NULL ?
		    t->form_template : "task-form.html", v,
		    sizeof(v) / sizeof(v[0]));
	}
done:
	buf_free(&fields);
	return rc;
}

/*
 * The HTML index of the tasks: a form for each.  Returns 0, or -1
 * (logged) when it could not be rendered and nothing was sent.
 */
int
page_tasks(struct req *r)
{
	const struct config	*cfg = r->srv->cfg;
	struct buf		 forms = { 0 };
	size_t			 i;
	int			 rc;

	/* The forms carry one-time tokens: never cache them. */
	http_header(r, "Cache-Control", "no-store");
	for (i = 0; i < cfg->ntasks; i++)
		if (page_task_form(&forms, r, &cfg->tasks[i]) == -1) {
			buf_free(&forms);
			return -1;
		}
	{
		struct tmpl_var v[] = {
			{ "forms", forms.data ? forms.data : "" },
			{ "base", r->base },
		};

		rc = page_render(r, 200, "Tasks", "tasks.html", v,
		    sizeof(v) / sizeof(v[0]), 0);
	}
	buf_free(&forms);
	return rc;
}

/*
 * The HTML list of the caller's jobs (README "My jobs"): a row per job of
 * st (n of them), a link to the next page when nexturl is not "", and who
 * they belong to: user, the web server's name for the user, "" for the
 * owner cookie, or NULL when the request named no owner (then st is
 * empty).  Returns 0, or -1 (logged) when nothing was sent.
 */
int
page_jobs(struct req *r, const struct jobstatus *st, size_t n,
    const char *nexturl, const char *user)
{
	const struct task	*t;
	struct buf		 rows = { 0 };
	char			 self[640], result[640], created[32];
	char			 finished[32], pct[8], cday[16], ctime_[16];
	char			 fday[16], ftime_[16];
	size_t			 i;
	int			 rc = -1;

	for (i = 0; i < n; i++) {
		t = config_task(r->srv->cfg, st[i].task);
		route_url(self, sizeof(self), r->base, ROUTE_JOB, st[i].id);
		route_url(result, sizeof(result), r->base, ROUTE_JOB_RESULT,
		    st[i].id);
		job_time_format(st[i].created_at, created, sizeof(created));
		job_time_format(st[i].finished_at, finished, sizeof(finished));
		snprintf(pct, sizeof(pct), "%d", st[i].progress);
		/* Shown as "2026-11-22 09:00:00": RFC 3339 in datetime. */
		snprintf(cday, sizeof(cday), "%.10s", created);
		snprintf(ctime_, sizeof(ctime_), "%.8s", created[0] ?
		    created + 11 : "");
		snprintf(fday, sizeof(fday), "%.10s", finished);
		snprintf(ftime_, sizeof(ftime_), "%.8s", finished[0] ?
		    finished + 11 : "");
		{
			struct tmpl_var v[] = {
				{ "id", st[i].id },
				{ "task", st[i].task },
				{ "task_title", t != NULL ? t->title :
				    st[i].task },
				{ "state", job_state_name(st[i].state) },
				{ "progress", st[i].progress >= 0 &&
				    !job_state_final(st[i].state) ? pct : NULL },
				{ "message", st[i].message[0] ?
				    st[i].message : NULL },
				{ "created_at", created[0] ? created : NULL },
				{ "created_date", cday },
				{ "created_time", ctime_ },
				{ "finished_at", finished[0] ? finished :
				    NULL },
				{ "finished_date", fday },
				{ "finished_time", ftime_ },
				{ "self_url", self },
				{ "result_url", st[i].state == JOB_SUCCEEDED ?
				    result : NULL },
			};

			if (page_fragment(&rows, "jobs-row.html", v,
			    sizeof(v) / sizeof(v[0])) == -1)
				goto done;
		}
	}
	{
		char		 jobs[600];
		struct tmpl_var	 v[] = {
			{ "rows", rows.data != NULL ? rows.data : NULL },
			{ "next_url", nexturl[0] != '\0' ? nexturl : NULL },
			{ "user", user != NULL && *user != '\0' ? user : NULL },
			{ "cookie", user != NULL && *user == '\0' ? "1" :
			    NULL },
			{ "no_owner", user == NULL ? "1" : NULL },
			{ "jobs_url", jobs },
			{ "base", r->base },
		};

		route_url(jobs, sizeof(jobs), r->base, ROUTE_JOBS, NULL);
		rc = page_render(r, 200, "My jobs", "jobs.html", v,
		    sizeof(v) / sizeof(v[0]), 0);
	}
done:
	buf_free(&rows);
	return rc;
}
