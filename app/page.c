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
 * The HTML page of a job: progress while pending, the outcome when final,
 * in the task's own result template when it has one.  Returns 0, or -1
 * (logged) when it could not be rendered and nothing was sent.
 */
int
page_job(struct req *r, const struct jobstatus *st)
{
	const struct task	*t = config_task(r->srv->cfg, st->task);
	const char		*title = t ? t->title : st->task;
	char			 self[640], cancel[640], result[640];
	char			 created[32], started[32], finished[32];
	char			 pct[8], qpos[16], refresh[16], size[32];
	struct buf		 text = { 0 };
	off_t			 rsize;
	int			 retry, shown = 0, rc;

	route_url(self, sizeof(self), r->base, ROUTE_JOB, st->id);
	route_url(cancel, sizeof(cancel), r->base, ROUTE_JOB_CANCEL, st->id);
	route_url(result, sizeof(result), r->base, ROUTE_JOB_RESULT, st->id);
	job_time_format(st->created_at, created, sizeof(created));
	job_time_format(st->started_at, started, sizeof(started));
	job_time_format(st->finished_at, finished, sizeof(finished));
	http_header(r, "Cache-Control", "no-store");

	if (!job_state_final(st->state)) {
		retry = job_retry_after(st, time(NULL));
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
		};
		return page_render(r, 200, title, "job-progress.html", v,
		    sizeof(v) / sizeof(v[0]), retry);
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
		};
		/* An empty text result still counts as shown. */
		if (shown && text.data == NULL)
			v[8].value = " ";
		rc = page_render(r, 200, title, t != NULL &&
		    t->result_template != NULL ? t->result_template :
		    "job-result.html", v, sizeof(v) / sizeof(v[0]), 0);
	}
	buf_free(&text);
	return rc;
}

/*
 * One task's form: its own template when it has one (given the action
 * URL, the task, its title and description and a one-time token), else
 * built here with every value escaped.
 */
static int
page_task_form(struct buf *b, const struct req *r, const struct task *t)
{
	char	 token[SPOOLCGI_ID_LEN + 1], action[600], err[256];
	size_t	 j, k, len;

	if (t->form_template != NULL) {
		const char *text = tmpl_get(t->form_template, &len);

		if (job_id_new(token) == -1)
			token[0] = '\0';
		route_url(action, sizeof(action), r->base, ROUTE_JOBS, NULL);
		{
			struct tmpl_var v[] = {
				{ "action", action },
				{ "base", r->base },
				{ "task", t->name },
				{ "title", t->title },
				{ "description", t->description },
				{ "token", token[0] ? token : NULL },
			};

			if (text == NULL || tmpl_render(b, text, len, v,
			    sizeof(v) / sizeof(v[0]), err, sizeof(err)) == -1) {
				log_warnx("template %s: %s", t->form_template,
				    text ? err : "missing");
				return -1;
			}
		}
		return 0;
	}

	buf_puts(b, "<section class=\"task\"><h2>");
	buf_html_escape(b, t->title, strlen(t->title));
	buf_puts(b, "</h2>\n");
	if (t->description != NULL) {
		buf_puts(b, "<p>");
		buf_html_escape(b, t->description, strlen(t->description));
		buf_puts(b, "</p>\n");
	}
	buf_printf(b, "<form method=\"post\"%s action=\"", t->nfiles > 0 ?
	    " enctype=\"multipart/form-data\"" : "");
	buf_html_escape(b, r->base, strlen(r->base));
	buf_puts(b, "/jobs\">\n<input type=\"hidden\" name=\"task\" value=\"");
	buf_html_escape(b, t->name, strlen(t->name));
	/* One-time token: a double click or a re-post finds the first job. */
	if (job_id_new(token) == 0)
		buf_printf(b, "\">\n<input type=\"hidden\" name=\"_token\" "
		    "value=\"%s", token);
	buf_puts(b, "\">\n");
	for (j = 0; j < t->nfields; j++) {
		const struct field *f = &t->fields[j];

		buf_printf(b, "<p><label for=\"f-%s-%s\">", t->name, f->name);
		buf_html_escape(b, f->label, strlen(f->label));
		buf_printf(b, "%s</label>\n", f->required ? " *" : "");
		switch (f->type) {
		case FIELD_TEXTAREA:
			buf_printf(b, "<textarea id=\"f-%s-%s\" name=\"%s\" "
			    "rows=\"6\" maxlength=\"%zu\"%s></textarea>",
			    t->name, f->name, f->name, f->max_bytes,
			    f->required ? " required" : "");
			break;
		case FIELD_SELECT:
			buf_printf(b, "<select id=\"f-%s-%s\" name=\"%s\"%s>",
			    t->name, f->name, f->name,
			    f->required ? " required" : "");
			for (k = 0; k < f->noptions; k++) {
				buf_puts(b, "<option>");
				buf_html_escape(b, f->options[k],
				    strlen(f->options[k]));
				buf_puts(b, "</option>");
			}
			buf_puts(b, "</select>");
			break;
		case FIELD_NUMBER:
			buf_printf(b, "<input type=\"number\" step=\"any\" "
			    "id=\"f-%s-%s\" name=\"%s\"%s", t->name, f->name,
			    f->name, f->required ? " required" : "");
			if (f->has_min)
				buf_printf(b, " min=\"%g\"", f->min);
			if (f->has_max)
				buf_printf(b, " max=\"%g\"", f->max);
			buf_puts(b, ">");
			break;
		default:
			buf_printf(b, "<input type=\"text\" id=\"f-%s-%s\" "
			    "name=\"%s\" maxlength=\"%zu\"%s>", t->name,
			    f->name, f->name, f->max_bytes,
			    f->required ? " required" : "");
			break;
		}
		buf_puts(b, "</p>\n");
	}
	for (j = 0; j < t->nfiles; j++) {
		const struct filespec *fs = &t->files[j];

		buf_printf(b, "<p><label for=\"f-%s-%s\">", t->name, fs->name);
		buf_html_escape(b, fs->label, strlen(fs->label));
		buf_printf(b, "%s</label>\n<input type=\"file\" id=\"f-%s-%s\" "
		    "name=\"%s\" data-max-bytes=\"%zu\"%s></p>\n",
		    fs->required ? " *" : "", t->name, fs->name, fs->name,
		    fs->max_bytes, fs->required ? " required" : "");
	}
	return buf_puts(b, "<p><button type=\"submit\">Start</button></p>\n"
	    "</form></section>\n");
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
