/*
 * The job as clients see it: state names, times, the status object of the
 * HTTP contract (README "How a request flows"), the task's "progress:" lines and
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

#include <uuid/uuid.h>

#include "extern.h"

/*
 * The bytes a job id may hold at each of its 36 places: the canonical
 * lower-case text of a version 4, RFC 4122 variant UUID (RFC 9562 4).
 * H any lower-case hex digit, D '-', F '4' the version, V the variant
 * (8, 9, a or b): the classes a byte must be in at each place.
 */
#define H	1
#define V	2
#define D	4
#define F	8
static const unsigned char	 job_id_shape[SPOOLCGI_ID_LEN] = {
	H, H, H, H, H, H, H, H, D, H, H, H, H, D, F, H, H, H, D,
	V, H, H, H, D, H, H, H, H, H, H, H, H, H, H, H, H
};

/* The classes of each byte. */
static const unsigned char	 job_id_class[256] = {
	['0'] = H, ['1'] = H, ['2'] = H, ['3'] = H, ['4'] = H | F,
	['5'] = H, ['6'] = H, ['7'] = H, ['8'] = H | V, ['9'] = H | V,
	['a'] = H | V, ['b'] = H | V, ['c'] = H, ['d'] = H, ['e'] = H,
	['f'] = H, ['-'] = D,
};
#undef H
#undef V
#undef D
#undef F

/*
 * Is s (len bytes, not necessarily NUL-terminated) a job id?  Only such a
 * string ever reaches storage.  A table lookup per byte: this runs on
 * every poll.  Returns 1 if so, else 0.
 */
int
job_id_check(const char *s, size_t len)
{
	size_t		 i;
	unsigned char	 c;

	if (s == NULL || len != SPOOLCGI_ID_LEN)
		return 0;
	for (i = 0; i < SPOOLCGI_ID_LEN; i++) {
		c = (unsigned char)s[i];
		if ((job_id_class[c] & job_id_shape[i]) == 0)
			return 0;
	}
	return 1;
}

/*
 * A new job id from the kernel's random source (uuid_generate_random
 * reads getrandom), so ids cannot be guessed.  out holds 37 bytes.
 * Returns 0, or -1 (logged).
 */
int
job_id_new(char *out)
{
	uuid_t	 u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
	if (!job_id_check(out, strlen(out))) {
		log_warnx("uuid_generate_random gave a malformed id");
		return -1;
	}
	return 0;
}

/*
 * FNV-1a over len bytes of s, continuing from h (JOB_HASH_INIT to
 * begin): a cheap fingerprint, e.g. of what an idempotency key stands
 * for.  Not for anything an attacker must not forge.
 */
unsigned long long
job_hash(unsigned long long h, const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h;
}

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

/*
 * A client's starts in the minute that began at *start (*count of
 * them), at time now, against perminute: a window over, or from the
 * future (a clock set back), begins again at now.  Both stores keep the
 * window their own way and decide here.  Returns 0 when one more start
 * fits (the caller records *start, *count + 1), or the seconds until it
 * would (at least 1).
 */
int
job_rate_window(long long now, long long *start, long long *count,
    int perminute)
{
	long long	 wait;

	if (now - *start >= 60 || now < *start) {
		*start = now;
		*count = 0;
	}
	if (*count < perminute)
		return 0;
	wait = 60 - (now - *start);
	return wait < 1 ? 1 : (int)wait;
}

/*
 * RFC 3339 UTC with whole seconds, "2026-11-22T09:00:00Z"; "" for 0.
 * Civil date from days since the epoch (Howard Hinnant's algorithm):
 * the poll path formats three times per answer, and gmtime_r with
 * strftime cost more than the rest of the answer.
 */
void
job_time_format(time_t t, char *out, size_t sz)
{
	/* The day's "YYYY-MM-DDT", kept: a status's times share a day. */
	static long long	 cday = -1;
	static char		 cdate[12];
	long long	 days, secs, z, era, doe, yoe, y, doy, mp, d, m;
	char		*p;
	int		 i;

	if (sz == 0)
		return;
	out[0] = '\0';
	if (t <= 0 || sz < 21)
		return;
	days = (long long)t / 86400;
	secs = (long long)t % 86400;
	if (days != cday) {
		z = days + 719468;
		era = z / 146097;
		doe = z - era * 146097;
		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
		y = yoe + era * 400;
		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
		mp = (5 * doy + 2) / 153;
		d = doy - (153 * mp + 2) / 5 + 1;
		m = mp < 10 ? mp + 3 : mp - 9;
		y += m <= 2;
		if (y > 9999)
			return;
		/* By hand: printf was the poll's cost. */
		{
			long long v[3] = { y % 100, m, d };
			static const char sep[3] = { '-', '-', 'T' };

			cdate[0] = (char)('0' + y / 1000);
			cdate[1] = (char)('0' + y / 100 % 10);
			for (i = 0, p = cdate + 2; i < 3; i++, p += 3) {
				p[0] = (char)('0' + v[i] / 10);
				p[1] = (char)('0' + v[i] % 10);
				p[2] = sep[i];
			}
		}
		cday = days;
	}
	memcpy(out, cdate, 11);
	p = out + 11;
	i = (int)(secs / 3600);
	p[0] = (char)('0' + i / 10);
	p[1] = (char)('0' + i % 10);
	p[2] = ':';
	i = (int)(secs / 60 % 60);
	p[3] = (char)('0' + i / 10);
	p[4] = (char)('0' + i % 10);
	p[5] = ':';
	i = (int)(secs % 60);
	p[6] = (char)('0' + i / 10);
	p[7] = (char)('0' + i % 10);
	p[8] = 'Z';
	p[9] = '\0';
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
 * Copy len bytes of a message into dst (size sz), cut at a character
 * boundary, with control characters (a task's stray \r, say) replaced
 * by spaces and invalid UTF-8 by '?': messages come from tasks and end
 * up in JSON and HTML, which must stay valid.
 */
void
job_set_message(char *dst, size_t sz, const char *src, size_t len)
{
	const unsigned char	*s = (const unsigned char *)src;
	unsigned long		 cp;
	size_t			 i = 0, o = 0, n;

	if (sz == 0)
		return;
	while (i < len) {
		if ((n = utf8_seq(src + i, len - i, &cp)) == 0) {
			if (o + 1 >= sz)
				break;
			dst[o++] = '?';
			i++;
			continue;
		}
		if (o + n >= sz)
			break;
		if (n == 1 && ((s[i] < 0x20 && s[i] != '\n' &&
		    s[i] != '\t') || s[i] == 0x7f))
			dst[o++] = ' ';
		else
			memcpy(dst + o, s + i, n), o += n;
		i += n;
	}
	dst[o] = '\0';
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

/*
 * Seconds job st has run at now: since it started while it runs, from
 * start to finish once final.  Returns -1 for a job that never started.
 */
long long
job_elapsed(const struct jobstatus *st, time_t now)
{
	time_t	 end;

	if (st->started_at <= 0)
		return -1;
	end = job_state_final(st->state) ? st->finished_at : now;
	return end > st->started_at ? (long long)(end - st->started_at) : 0;
}

/*
 * Estimated seconds left of job st at now, from its own progress: after
 * e seconds at p percent, e * (100 - p) / p, which assumes the rate so
 * far goes on.  Only while it runs, with 0 < p < 100, after
 * JOB_ESTIMATE_AFTER seconds (earlier, start-up dominates the rate).
 * Returns -1 when there is no estimate: better none than a wrong one.
 */
long long
job_remaining(const struct jobstatus *st, time_t now)
{
	long long	 e = job_elapsed(st, now);
	int		 p = st->progress;

	if (st->state != JOB_RUNNING || p <= 0 || p >= 100 ||
	    e < JOB_ESTIMATE_AFTER)
		return -1;
	return (e * (100 - p) + p / 2) / p;
}
