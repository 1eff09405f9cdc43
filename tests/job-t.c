/* job.c: ids, state names, times, the status object, progress lines. */
#include "config.h"

#include <string.h>
#include <time.h>

#include <json.h>

#include "extern.h"
#include "tap.h"

/* Only the canonical text of a v4 UUID reaches storage (RFC 9562 4). */
static void
test_ids(void)
{
	char	 id[SPOOLCGI_ID_LEN + 1];
	int	 i, good = 1;

	ok(job_id_check("2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11", 36),
	    "a v4 id");
	ok(!job_id_check("2F1C0B9E-8D4E-4C53-9A61-0B7F3C9D2E11", 36),
	    "upper case refused");
	ok(!job_id_check("2f1c0b9e-8d4e-1c53-9a61-0b7f3c9d2e11", 36),
	    "version 1 refused");
	ok(!job_id_check("2f1c0b9e-8d4e-4c53-1a61-0b7f3c9d2e11", 36),
	    "wrong variant refused");
	ok(!job_id_check("../../../../etc/passwd/aaaaaaaaaaaaaaa", 36),
	    "traversal refused");
	ok(!job_id_check("2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e1", 35),
	    "short refused");
	ok(!job_id_check("2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11\0", 37),
	    "NUL after refused");
	ok(!job_id_check(NULL, 0), "NULL refused");
	ok(!job_id_check(NULL, 36), "NULL refused whatever the length");
	for (i = 0; i < 1000; i++)
		if (job_id_new(id) == -1 || !job_id_check(id, strlen(id)))
			good = 0;
	ok(good, "1000 new ids all pass the check");
}

static void
test_progress(void)
{
	char	 msg[SPOOLCGI_MSG_MAX];
	int	 pct = -1;

	ok(job_progress_parse("progress: 42", 12, &pct, msg, sizeof(msg)) == 1,
	    "progress: 42 parses");
	is_int(pct, 42, "percentage");
	is_str(msg, "", "no message");
	ok(job_progress_parse("progress: 7 page 3 of 7\r", 24, &pct, msg,
	    sizeof(msg)) == 1, "with message and CR");
	is_int(pct, 7, "percentage 7");
	is_str(msg, "page 3 of 7", "message kept, CR dropped");
	ok(job_progress_parse("progress:100", 12, &pct, msg, sizeof(msg)) == 1,
	    "no space after the colon");
	is_int(pct, 100, "100");
	ok(job_progress_parse("progress: 101", 13, &pct, msg, sizeof(msg)) ==
	    0, "101 is a log line");
	ok(job_progress_parse("progress: -1", 12, &pct, msg, sizeof(msg)) == 0,
	    "negative is a log line");
	ok(job_progress_parse("progress: 1000", 14, &pct, msg, sizeof(msg)) ==
	    0, "four digits is a log line");
	ok(job_progress_parse("progress: 5x", 12, &pct, msg, sizeof(msg)) == 0,
	    "trailing junk is a log line");
	ok(job_progress_parse("Progress: 5", 11, &pct, msg, sizeof(msg)) == 0,
	    "prefix is case-sensitive");
	ok(job_progress_parse("progress:", 9, &pct, msg, sizeof(msg)) == 0,
	    "no number");
	ok(job_progress_parse("progress: 5 ", 4, &pct, msg, sizeof(msg)) == 0,
	    "length is respected");
	ok(job_progress_parse("progress: 50 \xc3\xa9t\xc3\xa9", 18, &pct, msg,
	    5) == 1 && strcmp(msg, "\xc3\xa9t") == 0,
	    "a long message is cut at a character boundary");
	ok(job_progress_parse("progress: 9 a\x01" "b", 15, &pct, msg,
	    sizeof(msg)) == 1 && strcmp(msg, "a b") == 0,
	    "control characters become spaces");
	ok(job_progress_parse("progress: 9 a\xff\xc0\xaf" "b", 17, &pct, msg,
	    sizeof(msg)) == 1 && strcmp(msg, "a???b") == 0,
	    "invalid UTF-8 becomes '?'");
}

static void
test_times(void)
{
	char	 buf[32];
	time_t	 t;

	job_time_format(0, buf, sizeof(buf));
	is_str(buf, "", "time 0 is null");
	job_time_format(1795338000, buf, sizeof(buf));
	is_str(buf, "2026-11-22T09:00:00Z", "RFC 3339 UTC");
	ok(job_time_parse(buf, &t) == 0 && t == 1795338000, "round trip");
	job_time_format(951782400, buf, sizeof(buf));
	is_str(buf, "2000-02-29T00:00:00Z", "a leap day");
	job_time_format(1, buf, sizeof(buf));
	is_str(buf, "1970-01-01T00:00:01Z", "the first second");
	job_time_format(4102444799, buf, sizeof(buf));
	is_str(buf, "2099-12-31T23:59:59Z", "the end of the century");
	{
		struct tm	 tm;
		char		 want[32];
		time_t		 x;
		int		 bad = 0;

		/* Every day for 200 years, against gmtime_r. */
		for (x = 0; x < 200LL * 366 * 86400; x += 86400 + 3661) {
			gmtime_r(&x, &tm);
			strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ",
			    &tm);
			job_time_format(x, buf, sizeof(buf));
			if (x > 0 && strcmp(buf, want) != 0)
				bad++;
		}
		is_int(bad, 0, "agrees with gmtime_r over 200 years");
	}
	ok(job_time_parse("2026-11-22 09:00:00", &t) == -1, "space refused");
	ok(job_time_parse("2026-11-22T09:00:00Zjunk", &t) == -1,
	    "trailing junk refused");
}

static void
test_status_json(void)
{
	struct jobstatus	 st;
	struct buf		 b = { 0 };
	json_object		*o, *v, *l;

	memset(&st, 0, sizeof(st));
	strcpy(st.id, "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11");
	strcpy(st.task, "wordcount");
	st.state = JOB_RUNNING;
	st.progress = 42;
	strcpy(st.message, "page 3 of 7");
	st.created_at = 1795338000;
	st.started_at = 1795338001;
	ok(reply_status_object(&b, &st, "/app", NULL) == 0, "status object built");
	o = json_tokener_parse(b.data);
	ok(o != NULL, "it is JSON");
	ok(json_object_object_length(o) == 15, "15 keys: the spec's 11, "
	    "status, done, elapsed_seconds and remaining_seconds");
	json_object_object_get_ex(o, "state", &v);
	is_str(json_object_get_string(v), "running", "state");
	json_object_object_get_ex(o, "progress", &v);
	is_int(json_object_get_int(v), 42, "progress");
	ok(json_object_object_get_ex(o, "queue_position", &v) && v == NULL,
	    "queue_position null while running");
	ok(json_object_object_get_ex(o, "finished_at", &v) && v == NULL,
	    "finished_at null");
	ok(json_object_object_get_ex(o, "elapsed_seconds", &v) &&
	    json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) >= (int64_t)(time(NULL) - st.started_at),
	    "elapsed_seconds: since started_at");
	ok(json_object_object_get_ex(o, "remaining_seconds", &v) &&
	    json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) >= 1,
	    "remaining_seconds: an estimate from 42 percent");
	ok(json_object_object_get_ex(o, "error", &v) && v == NULL,
	    "error null");
	json_object_object_get_ex(o, "started_at", &v);
	is_str(json_object_get_string(v), "2026-11-22T09:00:01Z", "started_at");
	json_object_object_get_ex(o, "links", &l);
	json_object_object_get_ex(l, "result", &v);
	is_str(json_object_get_string(v),
	    "/app/jobs/2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11/result",
	    "links.result from the base");
	json_object_put(o);

	buf_reset(&b);
	st.state = JOB_FAILED;
	st.progress = -1;
	strcpy(st.error_code, "exit");
	strcpy(st.error_message, "the task exited with status 3\n\"boom\"");
	ok(reply_status_object(&b, &st, "", NULL) == 0, "failed status built");
	o = json_tokener_parse(b.data);
	ok(json_object_object_get_ex(o, "progress", &v) && v == NULL,
	    "unknown progress is null");
	json_object_object_get_ex(o, "error", &v);
	json_object_object_get_ex(v, "code", &l);
	is_str(json_object_get_string(l), "exit", "error.code");
	json_object_object_get_ex(v, "message", &l);
	is_str(json_object_get_string(l),
	    "the task exited with status 3\n\"boom\"",
	    "error.message survives quotes and newlines");
	json_object_put(o);
	buf_free(&b);
}

static void
test_retry_after(void)
{
	struct jobstatus	 st;
	time_t			 now = 1795338000;

	memset(&st, 0, sizeof(st));
	st.state = JOB_QUEUED;
	is_int(job_retry_after(&st, now), 2, "queued: 2 s");
	st.state = JOB_RUNNING;
	st.progress = -1;
	st.started_at = now;
	is_int(job_retry_after(&st, now), 1, "just started: 1 s");
	st.started_at = now - 40;
	is_int(job_retry_after(&st, now), 10, "no progress: a quarter of 40 s");
	st.progress = 50;
	is_int(job_retry_after(&st, now), 13, "half done after 40 s: 40/3");
	st.progress = 1;
	st.started_at = now - 600;
	is_int(job_retry_after(&st, now), 30, "capped at 30 s");
	st.progress = 99;
	st.started_at = now - 10;
	is_int(job_retry_after(&st, now), 1, "nearly done: at least 1 s");
}

static void
test_estimate(void)
{
	struct jobstatus	 st;
	time_t			 now = 1795338000;

	memset(&st, 0, sizeof(st));
	st.state = JOB_QUEUED;
	st.progress = -1;
	ok(job_elapsed(&st, now) == -1 && job_remaining(&st, now) == -1,
	    "queued: no elapsed time, no estimate");
	st.state = JOB_RUNNING;
	st.started_at = now - 60;
	ok(job_elapsed(&st, now) == 60, "running: elapsed since started_at");
	ok(job_remaining(&st, now) == -1, "no progress: no estimate");
	st.progress = 0;
	ok(job_remaining(&st, now) == -1, "0 percent: no estimate");
	st.progress = 25;
	ok(job_remaining(&st, now) == 180, "25 percent after 60 s: 180 s left");
	st.progress = 100;
	ok(job_remaining(&st, now) == -1, "100 percent: no estimate");
	st.progress = 50;
	st.started_at = now - (JOB_ESTIMATE_AFTER - 1);
	ok(job_remaining(&st, now) == -1, "too early: no estimate");
	st.started_at = now - JOB_ESTIMATE_AFTER;
	ok(job_remaining(&st, now) == JOB_ESTIMATE_AFTER,
	    "half done after JOB_ESTIMATE_AFTER s: as long again");
	st.progress = 3;
	st.started_at = now - 10;
	ok(job_remaining(&st, now) == 323, "3 percent after 10 s: 323 s (rounded)");
	st.started_at = now + 5;
	ok(job_elapsed(&st, now) == 0, "a clock step back: 0, not negative");
	st.state = JOB_SUCCEEDED;
	st.started_at = now - 100;
	st.finished_at = now - 30;
	ok(job_elapsed(&st, now) == 70, "final: from start to finish");
	ok(job_remaining(&st, now) == -1, "final: no estimate");
}

/* A client's per-minute window of starts. */
static void
test_rate_window(void)
{
	long long	 start = 1000, count = 2;

	is_int(job_rate_window(1030, &start, &count, 3), 0,
	    "rate: a third start in the minute fits");
	ok(start == 1000 && count == 2, "rate: the window stays");
	count = 3;
	is_int(job_rate_window(1030, &start, &count, 3), 30,
	    "rate: a fourth waits for the rest of the minute");
	is_int(job_rate_window(1059, &start, &count, 3), 1,
	    "rate: at least a second");
	is_int(job_rate_window(1060, &start, &count, 3), 0,
	    "rate: a minute later it fits");
	ok(start == 1060 && count == 0, "rate: and the window begins anew");
	start = 5000;
	count = 9;
	is_int(job_rate_window(1000, &start, &count, 3), 0,
	    "rate: a window from the future (clock set back) begins anew");
	start = count = 0;
	is_int(job_rate_window(1000, &start, &count, 1), 0,
	    "rate: no window yet: the first start fits");
}

int
main(void)
{
	enum job_state	 s;

	is_str(job_state_name(JOB_CANCELLED), "cancelled", "state names");
	ok(job_state_parse("succeeded", &s) == 0 && s == JOB_SUCCEEDED,
	    "state parse");
	ok(job_state_parse("done", &s) == -1, "unknown state refused");
	ok(job_state_final(JOB_FAILED) && !job_state_final(JOB_RUNNING),
	    "final states");
	test_ids();
	test_progress();
	test_times();
	test_status_json();
	test_retry_after();
	test_estimate();
	test_rate_window();
	return tap_done();
}
