/*
 * The job as clients see it: state names, times, the status object of the
 * HTTP contract (spec "Reading a job"), the task's "progress:" lines and
 * the Retry-After a poller is told.  Pure functions: no file is touched.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

#include "extern.h"

static const char *const job_states[] = {
	[JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running",
	[JOB_SUCCEEDED] = "succeeded",
	[JOB_FAILED] = "failed",
	[JOB_CANCELLED] = "cancelled",
};

const char *
job_state_name(enum job_state s)
{
	if ((unsigned)s >= sizeof(job_states) / sizeof(job_states[0]))
		return "failed";
	return job_states[s];
}

/* Returns 0 and sets *s, or -1 for a name that is not a state. */
int
job_state_parse(const char *name, enum job_state *s)
{
	size_t	 i;

	for (i = 0; i < sizeof(job_states) / sizeof(job_states[0]); i++)
		if (strcmp(name, job_states[i]) == 0) {
			*s = (enum job_state)i;
			return 0;
		}
	return -1;
}

int
job_state_final(enum job_state s)
{
	return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELLED;
}

/* RFC 3339 UTC with whole seconds, "2026-11-22T09:00:00Z"; "" for 0. */
void
job_time_format(time_t t, char *out, size_t sz)
{
	struct tm	 tm;

	if (sz == 0)
		return;
	out[0] = '\0';
	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		return;
	strftime(out, sz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The inverse of job_time_format.  Returns 0, or -1 for anything else. */
int
job_time_parse(const char *s, time_t *t)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0')
		return -1;
	*t = timegm(&tm);
	return *t == (time_t)-1 ? -1 : 0;
}

/*
 * Copy len bytes of a message into dst (size sz), cut at a UTF-8 character
 * boundary so that a long message never ends in half a character, and
 * with control characters (a task's stray \r, say) replaced by spaces.
 */
void
job_set_message(char *dst, size_t sz, const char *src, size_t len)
{
	size_t	 i;

	if (sz == 0)
		return;
	if (len >= sz) {
		len = sz - 1;
		/* Back off continuation bytes, then the lead byte they follow. */
		while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80)
			len--;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ?
		    ' ' : (char)c;
	}
	dst[len] = '\0';
}

static json_object *
job_json_time(time_t t)
{
	char	 buf[32];

	if (t == 0)
		return NULL;
	job_time_format(t, buf, sizeof(buf));
	return json_object_new_string(buf);
}

/*
 * Append the status object of the contract for st to out; links are built
 * from base, the program's SCRIPT_NAME.  Returns 0, or -1 on allocation
 * failure.
 */
int
job_status_json(struct buf *out, const struct jobstatus *st, const char *base)
{
	json_object	*o, *links, *err;
	char		 url[1024];
	const char	*s;
	int		 rc = -1;

	if ((o = json_object_new_object()) == NULL)
		return -1;
	json_object_object_add(o, "id", json_object_new_string(st->id));
	json_object_object_add(o, "task", json_object_new_string(st->task));
	json_object_object_add(o, "state",
	    json_object_new_string(job_state_name(st->state)));
	json_object_object_add(o, "progress", st->progress < 0 ? NULL :
	    json_object_new_int(st->progress));
	json_object_object_add(o, "message", st->message[0] == '\0' ? NULL :
	    json_object_new_string(st->message));
	json_object_object_add(o, "queue_position",
	    st->state == JOB_QUEUED && st->queue_position > 0 ?
	    json_object_new_int(st->queue_position) : NULL);
	json_object_object_add(o, "created_at", job_json_time(st->created_at));
	json_object_object_add(o, "started_at", job_json_time(st->started_at));
	json_object_object_add(o, "finished_at",
	    job_json_time(st->finished_at));
	err = NULL;
	if (st->error_code[0] != '\0') {
		err = json_object_new_object();
		json_object_object_add(err, "code",
		    json_object_new_string(st->error_code));
		json_object_object_add(err, "message",
		    json_object_new_string(st->error_message));
	}
	json_object_object_add(o, "error", err);

	links = json_object_new_object();
	snprintf(url, sizeof(url), "%s/jobs/%s", base, st->id);
	json_object_object_add(links, "self", json_object_new_string(url));
	snprintf(url, sizeof(url), "%s/jobs/%s/result", base, st->id);
	json_object_object_add(links, "result", json_object_new_string(url));
	snprintf(url, sizeof(url), "%s/jobs/%s/cancel", base, st->id);
	json_object_object_add(links, "cancel", json_object_new_string(url));
	json_object_object_add(o, "links", links);

	s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s != NULL && buf_puts(out, s) == 0)
		rc = 0;
	json_object_put(o);
	return rc;
}

/*
 * Parse one line a task wrote to stderr (without its newline).  The task
 * protocol: "progress: N" or "progress: N message", N an integer 0..100.
 * Returns 1 and sets *pct and msg (size msgsz, "" when none) for such a
 * line, 0 for any other line, which belongs in the log.
 */
int
job_progress_parse(const char *line, size_t len, int *pct, char *msg,
    size_t msgsz)
{
	static const char	 prefix[] = "progress:";
	size_t			 i = sizeof(prefix) - 1;
	int			 n = 0, digits = 0;

	if (len < i || memcmp(line, prefix, i) != 0)
		return 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	while (i < len && line[i] >= '0' && line[i] <= '9') {
		if (++digits > 3)
			return 0;
		n = n * 10 + (line[i++] - '0');
	}
	if (digits == 0 || n > 100)
		return 0;
	if (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
		return 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	while (len > i && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	*pct = n;
	if (msg != NULL && msgsz > 0)
		job_set_message(msg, msgsz, line + i, len - i);
	return 1;
}

/*
 * Seconds a poller should wait before asking again (RFC 9110 10.2.3).
 * Queued: 2.  Running with known progress p > 0 after e seconds: the
 * remaining time is estimated as e * (100 - p) / p, and the poller is told
 * to come back after a third of it, so a client that obeys polls a few
 * times per job however long it takes.  Without progress: a quarter of the
 * job's age.  Always between 1 and 30 seconds: under Cloudflare's 100 s
 * read timeout and soon enough for a page to feel alive.
 */
int
job_retry_after(const struct jobstatus *st, time_t now)
{
	long long	 age, remain, r;

	if (st->state == JOB_QUEUED)
		return 2;
	age = st->started_at > 0 && now > st->started_at ?
	    (long long)(now - st->started_at) : 0;
	if (st->progress > 0 && st->progress < 100) {
		remain = age * (100 - st->progress) / st->progress;
		r = remain / 3;
	} else
		r = age / 4;
	if (r < 1)
		r = 1;
	if (r > 30)
		r = 30;
	return (int)r;
}
