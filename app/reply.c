/*
 * Answers: the status object and the answers that carry it, refusals
 * and internal failures (one 4xx/5xx each, in JSON or HTML as the request
 * asked), redirects, and the headers every HTML answer carries.
 */
#include "config.h"

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

#include "extern.h"

/* Append s as a JSON string (RFC 8259 7); s is valid UTF-8. */
static void
reply_json_str(struct buf *b, const char *s)
{
	static const char	 hex[] = "0123456789abcdef";
	const char		*run = s;
	char			 esc[7];

	buf_append(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_append(b, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': buf_append(b, "\\\"", 2); break;
		case '\\': buf_append(b, "\\\\", 2); break;
		case '\n': buf_append(b, "\\n", 2); break;
		case '\t': buf_append(b, "\\t", 2); break;
		case '\r': buf_append(b, "\\r", 2); break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			buf_append(b, esc, 6);
		}
	}
	buf_append(b, run, (size_t)(s - run));
	buf_append(b, "\"", 1);
}

static void
reply_json_time(struct buf *b, const char *key, time_t t)
{
	char	 ts[32];

	buf_puts(b, key);
	job_time_format(t, ts, sizeof(ts));
	if (ts[0] == '\0')
		buf_lit(b, "null");
	else {
		buf_append(b, "\"", 1);
		buf_puts(b, ts);
		buf_append(b, "\"", 1);
	}
}

/*
 * The state as the Microsoft REST API guidelines' operation "status"
 * (read by azure-core's OperationResourcePolling): an interrupted job is
 * simply failed.
 */
static const char *
reply_ms_status(enum job_state s)
{
	switch (s) {
	case JOB_QUEUED:	return "NotStarted";
	case JOB_RUNNING:	return "Running";
	case JOB_SUCCEEDED:	return "Succeeded";
	case JOB_FAILED:	return "Failed";
	case JOB_CANCELLED:	return "Canceled";
	}
	return "Failed";
}

/*
 * Append the status object of the contract for st to out; links are built
 * from base, the program's SCRIPT_NAME (already safe in a URL), and the
 * result's absolute URL of a succeeded job ("resourceLocation") from
 * absbase (http_abs_base; base when NULL).  Besides the contract's own
 * fields it carries "status" (Microsoft REST API guidelines, the
 * operation resource) and "done" (Google AIP-151), so generic pollers
 * need no code of their own; "error" serves all three; and
 * "elapsed_seconds" and "remaining_seconds" (job_elapsed, job_remaining)
 * for the pages and the browser client.  Written
 * directly, not through json-c: this is the poll path.  Returns 0, or -1
 * on allocation failure.
 */
int
reply_status_object(struct buf *out, const struct jobstatus *st,
    const char *base, const char *absbase)
{
	char		 url[1200];
	size_t		 start = out->len, ulen;
	long long	 secs;
	time_t		 now;

	buf_lit(out, "{\"id\":\"");
	buf_puts(out, st->id);
	buf_lit(out, "\",\"task\":");
	reply_json_str(out, st->task);
	buf_lit(out, ",\"state\":\"");
	buf_puts(out, job_state_name(st->state));
	buf_lit(out, "\",\"status\":\"");
	buf_puts(out, reply_ms_status(st->state));
	buf_puts(out, job_state_final(st->state) ? "\",\"done\":true" :
	    "\",\"done\":false");
	buf_lit(out, ",\"progress\":");
	if (st->progress < 0)
		buf_lit(out, "null");
	else
		buf_putint(out, st->progress);
	buf_lit(out, ",\"message\":");
	if (st->message[0] == '\0')
		buf_lit(out, "null");
	else
		reply_json_str(out, st->message);
	if (st->state == JOB_QUEUED && st->queue_position > 0) {
		buf_lit(out, ",\"queue_position\":");
		buf_putint(out, st->queue_position);
	} else
		buf_lit(out, ",\"queue_position\":null");
	/* Computed at each answer; a final job's are its duration and null. */
	now = time(NULL);
	buf_lit(out, ",\"elapsed_seconds\":");
	if ((secs = job_elapsed(st, now)) < 0)
		buf_lit(out, "null");
	else
		buf_putint(out, secs);
	buf_lit(out, ",\"remaining_seconds\":");
	if ((secs = job_remaining(st, now)) < 0)
		buf_lit(out, "null");
	else
		buf_putint(out, secs);
	reply_json_time(out, ",\"created_at\":", st->created_at);
	reply_json_time(out, ",\"started_at\":", st->started_at);
	reply_json_time(out, ",\"finished_at\":", st->finished_at);
	buf_lit(out, ",\"error\":");
	if (st->error_code[0] == '\0')
		buf_lit(out, "null");
	else {
		buf_lit(out, "{\"code\":");
		reply_json_str(out, st->error_code);
		buf_lit(out, ",\"message\":");
		reply_json_str(out, st->error_message);
		buf_lit(out, "}");
	}
	if (st->state == JOB_SUCCEEDED) {
		/*
		 * Absolute: a client joins a path onto its own base.  Not
		 * escaped, as the links below are not: the absolute base has
		 * only URL characters (http_abs_base: a host that host_valid
		 * passed, or public_url, which the configuration checks), so
		 * nothing in it ends or escapes a JSON string.
		 */
		buf_lit(out, ",\"resourceLocation\":\"");
		route_url(url, sizeof(url), absbase != NULL ? absbase : base,
		    ROUTE_JOB_RESULT, st->id);
		buf_puts(out, url);
		buf_lit(out, "\"");
	}
	/* The job's own URL once, and each link is it and a suffix. */
	buf_lit(out, ",\"links\":{\"self\":\"");
	route_url(url, sizeof(url), base, ROUTE_JOB, st->id);
	ulen = strlen(url);
	buf_append(out, url, ulen);
	buf_lit(out, "\",\"result\":\"");
	buf_append(out, url, ulen);
	buf_puts(out, route_job_suffix(ROUTE_JOB_RESULT));
	buf_lit(out, "\",\"cancel\":\"");
	buf_append(out, url, ulen);
	buf_puts(out, route_job_suffix(ROUTE_JOB_CANCEL));
	if (st->state == JOB_FAILED || st->state == JOB_CANCELLED) {
		/* POST it to run the job again (start_retry). */
		buf_lit(out, "\",\"retry\":\"");
		buf_append(out, url, ulen);
		buf_puts(out, route_job_suffix(ROUTE_JOB_RETRY));
	}
	buf_lit(out, "\"}}");
	/* buf_* fail only on allocation; the data ends short then. */
	return out->data != NULL && out->len > start &&
	    out->data[out->len - 1] == '}' ? 0 : -1;
}

/* The last resort when even the error page cannot be built. */
static void
reply_plain(struct req *r, int status, const char *msg)
{
	(void)http_send(r, status, "text/plain; charset=utf-8", msg,
	    strlen(msg));
}

/* One error answer, JSON or HTML (README "How a request flows"). */
void
reply_error(struct req *r, int status, const char *code, const char *field,
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
		(void)http_send(r, status, "application/json", s, strlen(s));
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

		if (page_render(r, status, http_reason(status), "error.html",
		    v, sizeof(v) / sizeof(v[0]), 0) == -1)
			reply_plain(r, status, message);
	}
}

/* Answer a refusal found by a parser or a check. */
void
reply_refuse(struct req *r, const struct refusal *rf)
{
	reply_error(r, rf->status, rf->code, rf->field, rf->message);
}

/* An internal failure: 500 naming what failed (the log has the detail). */
void
reply_fail(struct req *r, const char *what)
{
	char	 msg[256];

	/* A database that is restarting or out of reach: a wait, not a bug. */
	if (r->srv != NULL && r->srv->store != NULL &&
	    store_unreachable(r->srv->store)) {
		http_header(r, "Retry-After", "%d", STORE_RETRY_AFTER);
		reply_error(r, 503, "unavailable", NULL, "the job database "
		    "cannot be reached just now; try again shortly");
		return;
	}
	snprintf(msg, sizeof(msg), "internal error: %s; the server's error "
	    "log has the details", what);
	reply_error(r, 500, "internal", NULL, msg);
}

void
reply_not_found(struct req *r)
{
	reply_error(r, 404, "not_found", NULL,
	    "there is no such job or page here");
}

/* Answer with the status object (JSON) for st. */
void
reply_status(struct req *r, int status, const struct jobstatus *st)
{
	struct buf	 b;
	char		 space[2048];

	buf_on(&b, space, sizeof(space));
	if (reply_status_object(&b, st, r->base, st->state == JOB_SUCCEEDED ?
	    http_abs_base(r) : NULL) == -1) {
		buf_free(&b);
		reply_fail(r, "building the status object");
		return;
	}
	(void)http_send(r, status, "application/json", b.data, b.len);
	buf_free(&b);
}

/*
 * Answer with job st's status: JSON or the HTML page.  A start
 * answers 202 unless it honoured a wait (README "How a request flows"), even
 * when a quick task is already done.
 */
void
reply_job(struct req *r, struct jobstatus *st, int waited,
    int start)
{
	http_header(r, "Vary", "Prefer, Accept");
	if (waited > 0)
		http_header(r, "Preference-Applied", "wait=%d", waited);
	if (!r->json) {
		if (page_job(r, st) == -1)
			reply_fail(r, "rendering the job page");
		return;
	}
	http_header(r, "Cache-Control", "no-store");
	if (!job_state_final(st->state) || (start && waited == 0)) {
		http_header(r, "Retry-After", "%d",
		    job_retry_after(st, time(NULL)));
		reply_status(r, 202, st);
	} else
		reply_status(r, 200, st);
}

/* 303 See Other to loc (post/redirect/get: a reload repeats nothing). */
void
reply_redirect(struct req *r, const char *loc)
{
	http_header(r, "Location", "%s", loc);
	http_header(r, "Cache-Control", "no-store");
	page_headers(r);
	(void)http_send(r, 303, "text/plain; charset=utf-8", loc,
	    strlen(loc));
}

/*
 * Answer a lookup of a job that found none (rc from lifecycle.c): 404,
 * 410 for an expired job whose tombstone stands, 500 for a failure.
 * Returns -1, so that a handler can "return reply_lookup(r, rc);".
 */
int
reply_lookup(struct req *r, int rc)
{
	switch (rc) {
	case LC_NOENT:
		reply_not_found(r);
		break;
	case LC_GONE:
		reply_error(r, 410, "gone", NULL, "this job finished long ago "
		    "and its files were removed");
		break;
	default:
		reply_fail(r, "reading the job's status");
		break;
	}
	return -1;
}

/* Send o as a JSON answer, and free it.  Returns 0, or -1. */
int
reply_json(struct req *r, int status, struct json_object *o)
{
	const char	*s;
	int		 rc = -1;

	if (o != NULL && (s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) != NULL)
		rc = http_send(r, status, "application/json", s, strlen(s));
	else
		reply_fail(r, "building a JSON answer");
	json_object_put(o);
	return rc;
}
