/*
 * The routes of the HTTP contract (../shared/spec/http-api.md): reading a
 * job, waiting for it, cancelling it, its result, the task list, health
 * and the browser client; starting a job is start.c's.  Every route
 * answers in milliseconds; the work itself runs in the supervisor.
 *
 * Each handler ends in one answer.  Refusals go through handler_refuse,
 * internal failures through handler_fail: one 4xx/5xx each, in JSON or
 * HTML as the request asked, with the log line written where errno was
 * fresh (STYLE 11).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "extern.h"

#define HANDLER_TEXT_INLINE	(256 * 1024)	/* results shown in the page */

/*
 * Every HTML answer: scripts only from here (the client, served by
 * ROUTE_STATIC), no framing, no sniffing.  Styles are inline in the page
 * template.
 */
#define HANDLER_CSP	"default-src 'none'; script-src 'self'; " \
			"style-src 'self' 'unsafe-inline'; " \
			"img-src 'self' data:; connect-src 'self'; " \
			"form-action 'self'; frame-ancestors 'none'; " \
			"base-uri 'none'"

static const struct config	*cfg;
static struct spool		*spool;

/* The document root last seen, and whether the spool is inside it. */
static char	 docroot_seen[1024];
static int	 docroot_bad;

static int	 handler_cgi;		/* plain CGI: one request, then exit */
static time_t	 gc_checked;		/* when this process last looked */

#define HANDLER_GC_CHECK	10	/* seconds between looks at gc.stamp */
#define HANDLER_CANCEL_WAIT	2	/* seconds a cancel waits for the end */

void
handler_init(const struct config *c, struct spool *sp, int cgi)
{
	cfg = c;
	spool = sp;
	handler_cgi = cgi;
	start_init(c, sp);
}

/* The detached clean-up process (spool_gc); never returns. */
static void __attribute__((noreturn))
handler_gc_main(void *arg)
{
	struct spool	 sp;
	struct gcstats	 gs;
	int		 fd;

	(void)arg;
	/* Nothing of the request may stay open here (NOTES.md on fd 0). */
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		/* mod_cgi waits for EOF on stderr: let go of it too. */
		if (handler_cgi)
			dup2(fd, 2);
	}
#ifdef HAVE_CLOSE_RANGE
	close_range(3, ~0U, 0);
#else
	for (fd = 3; fd < 1024; fd++)
		close(fd);
#endif
	if (spool_open(&sp, cfg->spool) == -1)
		_exit(1);
	if (spool_gc(&sp, cfg, time(NULL), &gs) == 0 &&
	    (gs.expired || gs.tombstones || gs.temps || gs.keys || gs.settled))
		log_info("gc: removed %d expired jobs, %d tombstones, %d "
		    "stale temporaries, %d keys; %d interrupted jobs settled",
		    gs.expired, gs.tombstones, gs.temps, gs.keys, gs.settled);
	queue_dispatch(&sp, cfg, -1);
	spool_close(&sp);
	_exit(0);
}

/*
 * Start a clean-up when one is due, outside the request path: at most
 * one look at gc.stamp per HANDLER_GC_CHECK seconds per process, and the
 * work itself in a detached process.
 */
static void
handler_gc_maybe(void)
{
	time_t	 now = time(NULL);

	if (!handler_cgi && now - gc_checked < HANDLER_GC_CHECK)
		return;
	gc_checked = now;
	if (spool_gc_due(spool, cfg->gc_interval_seconds, now))
		(void)supervise_detach(handler_gc_main, NULL);
}

static const char *
handler_json_ctype(void)
{
	return "application/json";
}

/* Headers every HTML answer carries (issue: secure by default). */
void
handler_html_headers(struct req *r)
{
	http_header(r, "Content-Security-Policy", "%s", HANDLER_CSP);
	http_header(r, "X-Content-Type-Options", "nosniff");
	http_header(r, "X-Frame-Options", "DENY");
	http_header(r, "Referrer-Policy", "same-origin");
}

/*
 * Render template name with vars inside page.html and send it.
 * Returns 0, or -1 (logged) when rendering failed.
 */
static int
handler_page(struct req *r, int status, const char *title, const char *name,
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
	handler_html_headers(r);
	rc = http_send(r, status, "text/html; charset=utf-8",
	    page.data ? page.data : "", page.len);
	rc = 0;
done:
	buf_free(&inner);
	buf_free(&page);
	return rc;
}

/* The last resort when even the error page cannot be built. */
static void
handler_plain(struct req *r, int status, const char *msg)
{
	http_send(r, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

/* One error answer, JSON or HTML (spec "Refusals"). */
void
handler_error(struct req *r, int status, const char *code, const char *field,
    const char *message)
{
	json_object	*o, *e;
	const char	*s;
	char		 st[8];

	http_header(r, "Cache-Control", "no-store");
	if (r->json) {
		o = json_object_new_object();
		e = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_string(code));
		json_object_object_add(e, "message",
		    json_object_new_string(message));
		if (field != NULL && *field != '\0')
			json_object_object_add(e, "field",
			    json_object_new_string(field));
		json_object_object_add(o, "error", e);
		s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		http_header(r, "X-Content-Type-Options", "nosniff");
		http_send(r, status, handler_json_ctype(), s, strlen(s));
		json_object_put(o);
		return;
	}
	snprintf(st, sizeof(st), "%d", status);
	{
		struct tmpl_var v[] = {
			{ "status", st },
			{ "reason", http_reason(status) },
			{ "message", message },
			{ "field", field != NULL && *field ? field : NULL },
			{ "base", r->base },
		};

		if (handler_page(r, status, http_reason(status), "error.html",
		    v, sizeof(v) / sizeof(v[0]), 0) == -1)
			handler_plain(r, status, message);
	}
}

void
handler_refuse(struct req *r, const struct refusal *rf)
{
	handler_error(r, rf->status, rf->code, rf->field, rf->message);
}

/* An internal failure: 500 naming what failed (the log has the detail). */
void
handler_fail(struct req *r, const char *what)
{
	char	 msg[256];

	snprintf(msg, sizeof(msg), "internal error: %s; the server's error "
	    "log has the details", what);
	handler_error(r, 500, "internal", NULL, msg);
}

static void
handler_not_found(struct req *r)
{
	handler_error(r, 404, "not_found", NULL,
	    "there is no such job or page here");
}

/* Answer with the status object (JSON) for st. */
static void
handler_status_json(struct req *r, int status, const struct jobstatus *st)
{
	struct buf	 b = { 0 };

	if (job_status_json(&b, st, r->base) == -1) {
		buf_free(&b);
		handler_fail(r, "building the status object");
		return;
	}
	http_header(r, "X-Content-Type-Options", "nosniff");
	http_send(r, status, handler_json_ctype(), b.data, b.len);
	buf_free(&b);
}

/*
 * Read a small text result into out for the result page.  Returns 1 when
 * it was read, 0 when it is not text or too large to show inline.
 */
static int
handler_result_text(const struct task *t, const char *id, struct buf *out,
    off_t *size)
{
	struct stat	 sb;
	char		 chunk[8192];
	ssize_t		 n;
	int		 fd, shown = 0;

	*size = -1;
	if ((fd = spool_result_open(spool, id, &sb)) == -1)
		return 0;
	*size = sb.st_size;
	if (t != NULL && (strncmp(t->result_type, "text/", 5) == 0 ||
	    strncmp(t->result_type, "application/json", 16) == 0) &&
	    sb.st_size <= HANDLER_TEXT_INLINE) {
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

/* The HTML page of a job: progress while pending, the outcome when final. */
static void
handler_job_page(struct req *r, const struct jobstatus *st)
{
	const struct task	*t = config_task(cfg, st->task);
	const char		*title = t ? t->title : st->task;
	char			 self[640], cancel[640], result[640];
	char			 created[32], started[32], finished[32];
	char			 pct[8], qpos[16], refresh[16], size[32];
	struct buf		 text = { 0 };
	off_t			 rsize;
	int			 retry, shown = 0;

	snprintf(self, sizeof(self), "%s/jobs/%s", r->base, st->id);
	snprintf(cancel, sizeof(cancel), "%s/jobs/%s/cancel", r->base, st->id);
	snprintf(result, sizeof(result), "%s/jobs/%s/result", r->base, st->id);
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
		if (handler_page(r, 200, title, "job-progress.html", v,
		    sizeof(v) / sizeof(v[0]), retry) == -1)
			handler_fail(r, "rendering the job page");
		return;
	}
	if (st->state == JOB_SUCCEEDED)
		shown = handler_result_text(t, st->id, &text, &rsize);
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
		if (handler_page(r, 200, title, t != NULL &&
		    t->result_template != NULL ? t->result_template :
		    "job-result.html", v, sizeof(v) / sizeof(v[0]), 0) == -1)
			handler_fail(r, "rendering the result page");
	}
	buf_free(&text);
}

/*
 * Read job id for an answer: settle an interrupted job, give a waiting
 * job its queue position, and dispatch when a slot may be free (a poll is
 * one of the events that keep the queue moving).  On failure answers
 * 404, 410 or 500 itself and returns -1.
 */
int
handler_job_read(struct req *r, const char *id, struct jobstatus *st)
{
	if (spool_job_check(spool, cfg, id, st) == -1) {
		if (errno == ENOENT || errno == ENOTDIR) {
			if (spool_gone(spool, id))
				handler_error(r, 410, "gone", NULL, "this job "
				    "finished long ago and its files were "
				    "removed");
			else
				handler_not_found(r);
			return -1;
		}
		log_warn("job %s: read status", id);
		handler_fail(r, "reading the job's status");
		return -1;
	}
	if (st->state == JOB_QUEUED) {
		if (queue_dispatch(spool, cfg, -1) > 0 &&
		    spool_status_read(spool, id, st) == -1) {
			log_warn("job %s: read status", id);
			handler_fail(r, "reading the job's status");
			return -1;
		}
		if (st->state == JOB_QUEUED &&
		    (st->queue_position = spool_queue_position(spool, st)) == 0) {
			/*
			 * Its entry went while we looked: another process
			 * just started it.  Say what it is now.
			 */
			if (spool_status_read(spool, id, st) == 0 &&
			    st->state == JOB_QUEUED &&
			    queue_requeue_lost(spool, cfg, st) >= 0 &&
			    spool_status_read(spool, id, st) == 0 &&
			    st->state == JOB_QUEUED)
				st->queue_position =
				    spool_queue_position(spool, st);
			if (st->state == JOB_QUEUED &&
			    st->queue_position == 0)
				st->queue_position = 1;
		}
	}
	return 0;
}

/* The seconds of a "Prefer: wait=N" (RFC 7240 4.3), capped; 0: none. */
int
handler_prefer_wait(const struct req *r)
{
	const char	*p = http_param(r, "HTTP_PREFER");
	long		 n;

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
		return n > cfg->max_wait_seconds ? cfg->max_wait_seconds :
		    (int)n;
	}
	return 0;
}

/*
 * Wait up to secs seconds for job st to reach a final state, without
 * spinning: inotify tells when status.json is replaced.  st is refreshed.
 * Returns 1 when it is final, 0 when time ran out.
 */
int
handler_wait_final(struct req *r, struct jobstatus *st, int secs)
{
	struct pollfd	 pfd;
	char		 path[1024], ev[4096];
	long long	 deadline;
	struct timespec	 ts;
	int		 fd, n;

	if (job_state_final(st->state) || secs <= 0)
		return job_state_final(st->state);
	if ((fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) == -1) {
		log_warn("inotify_init1");
		return 0;
	}
	snprintf(path, sizeof(path), "%s/jobs/%s", cfg->spool, st->id);
	if (inotify_add_watch(fd, path, IN_MOVED_TO | IN_DELETE_SELF) ==
	    -1) {
		log_warn("inotify_add_watch %s", path);
		close(fd);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000 + secs * 1000LL;
	for (;;) {
		/* Re-read after the watch exists: no change can slip by. */
		if (handler_job_read(r, st->id, st) == -1) {
			close(fd);
			return -1;
		}
		if (job_state_final(st->state))
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		n = (int)(deadline - (ts.tv_sec * 1000LL +
		    ts.tv_nsec / 1000000));
		if (n <= 0)
			break;
		/*
		 * A queued job moves when another finishes, which this
		 * watch does not see: look again at least once a second.
		 */
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, n > 1000 ? 1000 : n) > 0)
			while (read(fd, ev, sizeof(ev)) > 0)
				;
	}
	close(fd);
	return job_state_final(st->state);
}

/*
 * Answer with job st's status: JSON or the HTML page (spec).  A start
 * answers 202 unless it honoured a wait (spec "Starting a job"), even
 * when a quick task is already done.
 */
void
handler_job_answer(struct req *r, struct jobstatus *st, int waited,
    int start)
{
	http_header(r, "Vary", "Prefer, Accept");
	if (waited > 0)
		http_header(r, "Preference-Applied", "wait=%d", waited);
	if (!r->json) {
		handler_job_page(r, st);
		return;
	}
	http_header(r, "Cache-Control", "no-store");
	if (!job_state_final(st->state) || (start && waited == 0)) {
		http_header(r, "Retry-After", "%d",
		    job_retry_after(st, time(NULL)));
		handler_status_json(r, 202, st);
	} else
		handler_status_json(r, 200, st);
}

/* GET/HEAD {base}/jobs/{id}: the status (spec "Reading a job"). */
static void
handler_job_get(struct req *r, const char *id)
{
	struct jobstatus	 st;
	int			 wait;

	if (handler_job_read(r, id, &st) == -1)
		return;
	if ((wait = handler_prefer_wait(r)) > 0 && !job_state_final(st.state))
		if (handler_wait_final(r, &st, wait) == -1)
			return;
	handler_job_answer(r, &st, wait, 0);
}

/*
 * POST {base}/jobs/{id}/cancel, and DELETE {base}/jobs/{id} (spec
 * "Cancelling and removing").  A queued job is cancelled here under its
 * lock and never starts; a running one is stopped by its supervisor,
 * which this request asks through the job's cancel file and then waits
 * for, briefly.
 */
static void
handler_cancel(struct req *r, const char *id)
{
	struct jobstatus	 st;
	char			 loc[640];
	int			 dfd, lfd;

	if (handler_job_read(r, id, &st) == -1)
		return;
	if (job_state_final(st.state)) {
		if (r->method == METHOD_DELETE) {
			if (spool_job_remove(spool, id, 0) == -1) {
				log_warn("job %s: remove", id);
				handler_fail(r, "removing the job");
				return;
			}
			log_info("job %s: removed", id);
			http_header(r, "Cache-Control", "no-store");
			http_send_head(r, 204, NULL, -1);
			return;
		}
		if (r->json) {
			http_header(r, "Cache-Control", "no-store");
			handler_status_json(r, 409, &st);
		} else
			handler_error(r, 409, "final", NULL, "this job has "
			    "already finished; there is nothing to cancel");
		return;
	}
	if (st.state == JOB_QUEUED && (dfd = spool_job_open(spool, id)) != -1) {
		if ((lfd = spool_job_lock(dfd, 1)) != -1) {
			if (spool_status_readat(dfd, &st) == 0 &&
			    st.state == JOB_QUEUED) {
				st.state = JOB_CANCELLED;
				st.finished_at = time(NULL);
				snprintf(st.message, sizeof(st.message),
				    "cancelled before it started");
				if (spool_status_write(dfd, &st, 1) == -1) {
					log_warn("job %s: write status", id);
					close(lfd);
					close(dfd);
					handler_fail(r, "cancelling the job");
					return;
				}
				spool_queue_remove(spool, &st);
			}
			close(lfd);
		}
		close(dfd);
	}
	if (!job_state_final(st.state)) {
		/* Running, or being started right now: ask its supervisor. */
		if (spool_cancel_request(spool, id) == -1) {
			log_warn("job %s: cancel request", id);
			handler_fail(r, "cancelling the job");
			return;
		}
		log_info("job %s: cancel requested", id);
		if (handler_wait_final(r, &st, HANDLER_CANCEL_WAIT) == -1)
			return;
	}
	http_header(r, "Cache-Control", "no-store");
	if (r->json) {
		handler_status_json(r, 200, &st);
		return;
	}
	snprintf(loc, sizeof(loc), "%s/jobs/%s", r->base, id);
	http_header(r, "Location", "%s", loc);
	handler_html_headers(r);
	http_send(r, 303, "text/plain; charset=utf-8", loc, strlen(loc));
}

/* GET/HEAD {base}/jobs/{id}/result. */
static void
handler_job_result(struct req *r, const char *id)
{
	const struct task	*t;
	struct jobstatus	 st;
	struct stat		 sb;
	char			 etag[96], chunk[65536];
	const char		*inm;
	ssize_t			 n;
	int			 fd;

	if (handler_job_read(r, id, &st) == -1)
		return;
	if (st.state != JOB_SUCCEEDED) {
		http_header(r, "Cache-Control", "no-store");
		if (r->json) {
			handler_status_json(r, 409, &st);
			return;
		}
		handler_error(r, 409, "not_ready", NULL, job_state_final(
		    st.state) ? "this job did not succeed, so it has no "
		    "result" : "this job has not finished yet; its page "
		    "shows how far it got");
		return;
	}
	if ((fd = spool_result_open(spool, id, &sb)) == -1) {
		log_warn("job %s: open result", id);
		handler_fail(r, "opening the job's result");
		return;
	}
	t = config_task(cfg, st.task);
	spool_result_etag(&sb, etag, sizeof(etag));
	/* Cloudflare caches by extension: never by a shared cache. */
	http_header(r, "Cache-Control", "private");
	http_header(r, "ETag", "%s", etag);
	http_header(r, "X-Content-Type-Options", "nosniff");
	if ((inm = http_param(r, "HTTP_IF_NONE_MATCH")) != NULL &&
	    strstr(inm, etag) != NULL) {
		http_send_head(r, 304, NULL, -1);
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














/* GET {base}/tasks, JSON: every task with its fields (spec "Routes"). */
static void
handler_tasks_json(struct req *r)
{
	json_object	*o, *arr, *to, *fa, *fo, *opts, *files;
	const char	*s;
	size_t		 i, j, k;
	char		 url[640];

	o = json_object_new_object();
	arr = json_object_new_array();
	snprintf(url, sizeof(url), "%s/jobs", r->base);
	for (i = 0; i < cfg->ntasks; i++) {
		const struct task *t = &cfg->tasks[i];

		to = json_object_new_object();
		json_object_object_add(to, "name",
		    json_object_new_string(t->name));
		json_object_object_add(to, "title",
		    json_object_new_string(t->title));
		json_object_object_add(to, "description", t->description ?
		    json_object_new_string(t->description) : NULL);
		fa = json_object_new_array();
		for (j = 0; j < t->nfields; j++) {
			const struct field *f = &t->fields[j];

			fo = json_object_new_object();
			json_object_object_add(fo, "name",
			    json_object_new_string(f->name));
			json_object_object_add(fo, "label",
			    json_object_new_string(f->label));
			json_object_object_add(fo, "type",
			    json_object_new_string(field_type_name(f->type)));
			json_object_object_add(fo, "required",
			    json_object_new_boolean(f->required));
			json_object_object_add(fo, "max_bytes",
			    json_object_new_int64((int64_t)f->max_bytes));
			if (f->type == FIELD_SELECT) {
				opts = json_object_new_array();
				for (k = 0; k < f->noptions; k++)
					json_object_array_add(opts,
					    json_object_new_string(
					    f->options[k]));
				json_object_object_add(fo, "options", opts);
			}
			if (f->has_min)
				json_object_object_add(fo, "min",
				    json_object_new_double(f->min));
			if (f->has_max)
				json_object_object_add(fo, "max",
				    json_object_new_double(f->max));
			json_object_array_add(fa, fo);
		}
		json_object_object_add(to, "fields", fa);
		files = json_object_new_array();
		for (j = 0; j < t->nfiles; j++) {
			fo = json_object_new_object();
			json_object_object_add(fo, "name",
			    json_object_new_string(t->files[j].name));
			json_object_object_add(fo, "label",
			    json_object_new_string(t->files[j].label));
			json_object_object_add(fo, "required",
			    json_object_new_boolean(t->files[j].required));
			json_object_object_add(fo, "max_bytes",
			    json_object_new_int64(
			    (int64_t)t->files[j].max_bytes));
			json_object_array_add(files, fo);
		}
		json_object_object_add(to, "files", files);
		json_object_object_add(to, "result_type",
		    json_object_new_string(t->result_type));
		json_object_object_add(to, "timeout_seconds",
		    json_object_new_int64(t->timeout_seconds));
		fo = json_object_new_object();
		json_object_object_add(fo, "start",
		    json_object_new_string(url));
		json_object_object_add(to, "links", fo);
		json_object_array_add(arr, to);
	}
	json_object_object_add(o, "tasks", arr);
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	http_header(r, "X-Content-Type-Options", "nosniff");
	http_send(r, 200, handler_json_ctype(), s, strlen(s));
	json_object_put(o);
}

/*
 * One task's form: its own template when it has one (given the action
 * URL, the task, its title and description and a one-time token), else
 * built here with every value escaped.
 */
static int
handler_task_form(struct buf *b, const struct req *r, const struct task *t)
{
	char	 token[SPOOLCGI_ID_LEN + 1], action[600], err[256];
	size_t	 j, k, len;

	if (t->form_template != NULL) {
		const char *text = tmpl_get(t->form_template, &len);

		if (spool_id_new(token) == -1)
			token[0] = '\0';
		snprintf(action, sizeof(action), "%s/jobs", r->base);
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
	if (spool_id_new(token) == 0)
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

/* GET {base}/tasks. */
static void
handler_tasks(struct req *r)
{
	struct buf	 forms = { 0 };
	size_t		 i;

	if (r->json) {
		handler_tasks_json(r);
		return;
	}
	/* The forms carry one-time tokens: never cache them. */
	http_header(r, "Cache-Control", "no-store");
	for (i = 0; i < cfg->ntasks; i++)
		if (handler_task_form(&forms, r, &cfg->tasks[i]) == -1) {
			buf_free(&forms);
			handler_fail(r, "building the task forms");
			return;
		}
	{
		struct tmpl_var v[] = {
			{ "forms", forms.data ? forms.data : "" },
			{ "base", r->base },
		};

		if (handler_page(r, 200, "Tasks", "tasks.html", v,
		    sizeof(v) / sizeof(v[0]), 0) == -1)
			handler_fail(r, "rendering the task list");
	}
	buf_free(&forms);
}

/*
 * GET {base}/static/NAME: the browser client, compiled in, so that it
 * works wherever the program is mounted and under a CSP of 'self'.
 */
static void
handler_static(struct req *r, const char *name)
{
	const char	*ct = NULL, *dot;
	size_t		 i;

	for (i = 0; i < static_nbuiltin; i++)
		if (strcmp(static_builtin[i].name, name) == 0)
			break;
	if (i == static_nbuiltin) {
		handler_not_found(r);
		return;
	}
	if ((dot = strrchr(name, '.')) != NULL && strcmp(dot, ".js") == 0)
		ct = "text/javascript; charset=utf-8";
	else if (dot != NULL && strcmp(dot, ".css") == 0)
		ct = "text/css; charset=utf-8";
	else
		ct = "application/octet-stream";
	http_header(r, "Cache-Control", "public, max-age=3600");
	{
		/* FNV-1a of the text: an edit of the same length differs. */
		unsigned long long	 h = 0xcbf29ce484222325ULL;
		const unsigned char	*p;

		for (p = (const unsigned char *)static_builtin[i].text;
		    *p != '\0'; p++)
			h = (h ^ *p) * 0x100000001b3ULL;
		http_header(r, "ETag", "\"%016llx\"", h);
	}
	http_header(r, "X-Content-Type-Options", "nosniff");
	http_send(r, 200, ct, static_builtin[i].text,
	    strlen(static_builtin[i].text));
}

/* GET {base}/health: always JSON; a monitor wants numbers. */
static void
handler_health(struct req *r)
{
	json_object	*o;
	const char	*s;
	int		 queued, running;

	if (spool_counts(spool, cfg, &queued, &running) == -1) {
		log_warn("health: count jobs in %s", spool->path);
		r->json = 1;
		handler_fail(r, "counting the jobs in the spool");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(
	    cfg->drain || spool_draining(spool) ? "draining" : "ok"));
	json_object_object_add(o, "version",
	    json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "queued", json_object_new_int(queued));
	json_object_object_add(o, "running", json_object_new_int(running));
	json_object_object_add(o, "spool_free_bytes",
	    json_object_new_int64(spool_free_bytes(spool)));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	http_header(r, "Cache-Control", "no-store");
	http_header(r, "X-Content-Type-Options", "nosniff");
	http_send(r, 200, handler_json_ctype(), s, strlen(s));
	json_object_put(o);
}

/*
 * Refuse to serve while the spool lies under the document root: job
 * files would be downloadable.  DOCUMENT_ROOT comes with each request
 * (FastCGI has no other way to learn it), so the verdict is cached per
 * value.  Returns 1 when the spool is exposed.
 */
static int
handler_spool_exposed(struct req *r)
{
	const char	*dr = http_param(r, "DOCUMENT_ROOT");

	if (dr == NULL || *dr == '\0' || strlen(dr) >= sizeof(docroot_seen))
		return 0;
	if (strcmp(dr, docroot_seen) != 0) {
		snprintf(docroot_seen, sizeof(docroot_seen), "%s", dr);
		docroot_bad = spool_inside(cfg->spool, dr) == 1;
		if (docroot_bad)
			log_warnx("%s: spool: %s is inside the document root "
			    "%s, where the web server would publish every "
			    "job's files; move it outside, e.g. beside the "
			    "document root", cfg->path, cfg->spool, dr);
	}
	return docroot_bad;
}

/* Serve one request. */
void
handler_serve(struct req *r)
{
	struct route	 rt;
	char		 job[SPOOLCGI_ID_LEN + 8];
	size_t		 plen;

	if (handler_spool_exposed(r)) {
		handler_fail(r, "the spool is inside the document root");
		return;
	}
	plen = r->path_info != NULL ? strlen(r->path_info) : 0;
	if (route_parse(&rt, r->path_info, plen) == -1) {
		handler_not_found(r);
		return;
	}
	if (!route_allows(rt.id, r->method)) {
		http_header(r, "Allow", "%s", route_allow_header(rt.id));
		handler_error(r, 405, "method_not_allowed", NULL,
		    "this method is not allowed here");
		return;
	}
	switch (rt.id) {
	case ROUTE_ROOT:
		if (r->method == METHOD_POST) {
			start_job(r);
			break;
		}
		/* Servers that pass no PATH_INFO: {base}?job={id}. */
		if (r->query != NULL && route_query_param(r->query, "job",
		    job, sizeof(job)) == 0) {
			if (!spool_id_check(job, strlen(job)))
				handler_not_found(r);
			else
				handler_job_get(r, job);
			break;
		}
		handler_tasks(r);
		break;
	case ROUTE_JOBS:
		start_job(r);
		break;
	case ROUTE_JOB:
		if (r->method == METHOD_DELETE)
			handler_cancel(r, rt.job);
		else
			handler_job_get(r, rt.job);
		break;
	case ROUTE_JOB_RESULT:
		handler_job_result(r, rt.job);
		break;
	case ROUTE_JOB_CANCEL:
		handler_cancel(r, rt.job);
		break;
	case ROUTE_TASKS:
		handler_tasks(r);
		break;
	case ROUTE_HEALTH:
		handler_health(r);
		break;
	case ROUTE_STATIC:
		handler_static(r, rt.asset);
		break;
	default:
		handler_not_found(r);
		break;
	}
	handler_gc_maybe();
}
