/*
 * Starting a job (README "How a request flows"): the body read and checked
 * (urlencoded, JSON, or multipart streamed into the job's staging), the
 * limits of the server, the disk and the client, the idempotency key,
 * then the job stored and queued in one step (lifecycle_submit), and the
 * answer: 202 with the status object, or 303 to the job page.  No refusal
 * leaves anything in the spool.  A failed or cancelled job run again
 * (POST {base}/jobs/{id}/retry) is a start too: the same limits, keys and
 * answers, its input the old job's (lifecycle_retry).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "extern.h"

#define START_RETRY_BODY_MAX	4096	/* a retry's body: a token at most */

/*
 * The task's stdin (README "Writing a task"), fields as configured, in
 * out; *hash gets a hash of the task and its fields, which an
 * Idempotency-Key is bound to.  Returns 0, or -1.
 */
static int
start_input_json(struct buf *out, unsigned long long *hash, const char *id,
    const struct task *t, const struct form *f, const struct uploads *up)
{
	json_object	*files;
	json_object	*o, *fields;
	const char	*s, *v, *fs;
	size_t		 i;
	int		 rc = -1;
	unsigned long long h;

	if ((o = json_object_new_object()) == NULL)
		return -1;
	fields = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "task", json_object_new_string(t->name));
	for (i = 0; i < t->nfields; i++)
		if ((v = form_get(f, t->fields[i].name)) != NULL)
			json_object_object_add(fields, t->fields[i].name,
			    json_object_new_string(v));
	fs = json_object_to_json_string_ext(fields, JSON_C_TO_STRING_PLAIN);
	/* The task's name with its NUL, so "ab"+"c" is not "a"+"bc". */
	h = job_hash(JOB_HASH_INIT, t->name, strlen(t->name) + 1);
	if (fs != NULL)
		h = job_hash(h, fs, strlen(fs));
	json_object_object_add(o, "fields", fields);
	files = json_object_new_object();
	upload_json(files, up);
	/* The files count too: the same fields with another file differ. */
	fs = json_object_to_json_string_ext(files, JSON_C_TO_STRING_PLAIN);
	if (fs != NULL)
		h = job_hash(h, fs, strlen(fs));
	*hash = h;
	json_object_object_add(o, "files", files);
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s != NULL && buf_puts(out, s) == 0 && buf_puts(out, "\n") == 0)
		rc = 0;
	json_object_put(o);
	return rc;
}

/*
 * The idempotency key of a start: the Idempotency-Key header, or the
 * one-time "_token" field of our HTML forms.  Returns 0 with key ("" when
 * none), or -1 with rf filled for a malformed key.
 */
static int
start_idem_key(const struct req *r, const struct form *f, char *key,
    size_t sz, struct refusal *rf)
{
	const char	*k = http_param(r, "HTTP_IDEMPOTENCY_KEY");
	const char	*field = "Idempotency-Key";
	size_t		 i, n;

	key[0] = '\0';
	if (k == NULL) {
		k = form_get(f, "_token");
		field = "_token";
	}
	if (k == NULL || *k == '\0')
		return 0;
	/* RFC 8941 says a string; we keep to what is safe as a file name. */
	if (*k == '"' && (n = strlen(k)) >= 2 && k[n - 1] == '"') {
		k++;
		n -= 2;
	} else
		n = strlen(k);
	if (n == 0 || n >= sz || n > OWNER_KEY_LEN) {
		refuse(rf, 400, "invalid_field", field, "the key must be 1 to "
		    "128 characters");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' &&
		    k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9') ||
		    strchr("._:-", k[i]) != NULL)) {
			refuse(rf, 400, "invalid_field", field, "the key may "
			    "hold only letters, digits and . _ : -");
			return -1;
		}
	memcpy(key, k, n);
	key[n] = '\0';
	return 0;
}

/*
 * The body's length from CONTENT_LENGTH, refused over max before a byte
 * is read.  Returns 0, or -1 with rf filled.
 */
static int
start_body_length(struct req *r, size_t max, size_t *lenp,
    struct refusal *rf)
{
	unsigned long long	 len;

	if (http_content_length(r, &len) == -1) {
		refuse(rf, 400, "invalid_body", NULL,
		    "the Content-Length is not a number");
		return -1;
	}
	if (len > max) {
		refuse(rf, 413, "body_too_large", NULL, "the request body "
		    "(%llu bytes) is larger than this server accepts (%zu "
		    "bytes, max_body_bytes)", len, max);
		return -1;
	}
	*lenp = (size_t)len;
	return 0;
}

/* Read the whole body of len bytes.  Returns 0, or -1 with rf filled. */
static int
start_read_body(struct req *r, struct buf *body, size_t len,
    struct refusal *rf)
{
	char		 chunk[16384];
	ssize_t		 n;

	while (body->len < len) {
		size_t want = len - body->len;

		if (want > sizeof(chunk))
			want = sizeof(chunk);
		if ((n = http_read(r, chunk, want)) <= 0)
			break;
		if (buf_append(body, chunk, (size_t)n) == -1) {
			refuse(rf, 500, "internal", NULL, "out of memory");
			return -1;
		}
	}
	if (body->len < len) {
		refuse(rf, 400, "invalid_body", NULL, "the request body was "
		    "cut off: %zu of %zu bytes arrived", body->len, len);
		return -1;
	}
	return 0;
}

/* The longest plain field any task takes: a multipart field's limit. */
static size_t
start_max_field(const struct config *cfg)
{
	size_t	 i, j, max = 0;

	for (i = 0; i < cfg->ntasks; i++)
		for (j = 0; j < cfg->tasks[i].nfields; j++)
			if (cfg->tasks[i].fields[j].max_bytes > max)
				max = cfg->tasks[i].fields[j].max_bytes;
	/* Room for the task name and the one-time token, too. */
	return max < 256 ? 256 : max;
}

/* Answer a start with job st (new, or the one an idempotency key found). */
static void
start_answer(struct req *r, struct jobstatus *st, int wait)
{
	char	 loc[1200];
	int	 rc;

	if (r->json) {
		/*
		 * Absolute, as the Microsoft REST API guidelines want the
		 * operation's URL: clients that join a relative reference
		 * onto a base URL of their own would double the base path.
		 */
		route_url(loc, sizeof(loc), http_abs_base(r), ROUTE_JOB,
		    st->id);
		http_header(r, "Location", "%s", loc);
		http_header(r, "Operation-Location", "%s", loc);
		if (wait > 0 && (rc = lifecycle_wait(r->srv->store,
		    r->srv->cfg, st, wait)) != LC_OK) {
			reply_lookup(r, rc);
			return;
		}
		reply_job(r, st, wait, 1);
		return;
	}
	/* Post/redirect/get: a reload never starts a second job. */
	route_url(loc, sizeof(loc), r->base, ROUTE_JOB, st->id);
	reply_redirect(r, loc);
}

/*
 * The client, for per-client limits: REMOTE_ADDR, or CF-Connecting-IP
 * when the request comes from a proxy the configuration trusts (anyone
 * else could send that header).  Normalised, so it is safe as a file
 * name; "local" when the server gives no address.
 */
static void
start_client(const struct req *r, char *out, size_t sz)
{
	unsigned char	 bin[16];
	char		 cf[64];

	if (!http_from_proxy(r, out, sz)) {
		if (out[0] == '\0')
			snprintf(out, sz, "local");
		return;
	}
	if (http_addr_parse(http_param(r, "HTTP_CF_CONNECTING_IP"), bin, cf,
	    sizeof(cf)) != 0)
		snprintf(out, sz, "%s", cf);
}

/*
 * Room for a new job of len bytes: the disk's free space and the spool's
 * size limit.  Returns 0, or -1 with rf filled (503).
 */
static int
start_room(struct server *srv, size_t len, struct refusal *rf)
{
	const struct config	*cfg = srv->cfg;
	long long		 free_b = store_free_bytes(srv->store), used;

	if (free_b >= 0 && free_b < cfg->min_free_bytes + (long long)len) {
		log_warnx("spool %s: %lld bytes free, under min_free_bytes "
		    "(%lld): refusing new jobs", cfg->spool, free_b,
		    cfg->min_free_bytes);
		refuse(rf, 503, "disk_full", NULL, "the server's disk is "
		    "full; try again later");
		return -1;
	}
	if (cfg->max_spool_bytes > 0 && (used = store_usage(srv->store)) >= 0 &&
	    used + (long long)len > cfg->max_spool_bytes) {
		log_warnx("spool %s: %lld bytes used, at max_spool_bytes "
		    "(%lld): refusing new jobs", cfg->spool, used,
		    cfg->max_spool_bytes);
		refuse(rf, 503, "spool_full", NULL, "the server's job storage "
		    "is full; try again later");
		return -1;
	}
	return 0;
}

/*
 * Refuse a start while the server drains (the drain key, or the spool's
 * flag: "spoolcgi drain on").  Returns 0, or -1 with rf filled (503).
 */
static int
start_draining(struct req *r, struct refusal *rf)
{
	if (!r->srv->cfg->drain && !store_draining(r->srv->store))
		return 0;
	http_header(r, "Retry-After", "300");
	refuse(rf, 503, "draining", NULL, "this server is being drained for "
	    "maintenance and takes no new jobs; jobs already started will "
	    "finish");
	return -1;
}

/*
 * Admit a start under the per-client limits, holding the client in cl
 * (store_client_done releases it).  A failure of the limits' own files
 * admits the start.  Returns 0, or -1 with rf filled (429).
 */
static int
start_admit(struct req *r, struct client *cl, struct refusal *rf)
{
	const struct config	*cfg = r->srv->cfg;
	char			 client[64];
	int			 retry;

	if (cfg->max_jobs_per_client <= 0 && cfg->client_starts_per_minute <= 0)
		return 0;
	start_client(r, client, sizeof(client));
	if (store_client_admit(r->srv->store, client, cfg->max_jobs_per_client,
	    cfg->client_starts_per_minute, time(NULL), &retry, cl) != 1)
		return 0;
	http_header(r, "Retry-After", "%d", retry);
	refuse(rf, 429, "too_many_jobs", NULL, "you have started too many "
	    "jobs; wait for them to finish, or try again in %d seconds",
	    retry);
	return -1;
}

/*
 * A submit the queue refused: LC_FULL (503, to be tried later) or
 * LC_CONFLICT (400: the idempotency key names another request).  Fills
 * rf; a start and a run again answer both alike.
 */
static void
start_submit_refused(struct req *r, int rc, struct refusal *rf)
{
	if (rc == LC_FULL) {
		http_header(r, "Retry-After", "30");
		refuse(rf, 503, "queue_full", NULL, "the queue is full (%d "
		    "jobs are waiting); try again later",
		    r->srv->cfg->max_queued);
		return;
	}
	refuse(rf, 400, "idempotency_conflict",
	    http_param(r, "HTTP_IDEMPOTENCY_KEY") ? "Idempotency-Key" :
	    "_token", "this key was used for a different request: "
	    "send a new key for new work");
}

/*
 * POST {base}/jobs (or {base}): start a job (README "How a request flows").
 * Answers the request itself, whatever happens.
 */
void
start_job(struct req *r)
{
	struct server		*srv = r->srv;
	const struct config	*cfg = srv->cfg;
	struct refusal		 rf;
	struct form		 f = { 0 };
	struct buf		 body = { 0 }, input = { 0 };
	struct jobstatus	 st, old;
	const struct task	*t;
	char			 mt[128], key[160], skey[OWNER_KEY_MAX + 1];
	const char		*ct;
	struct uploads		 up;
	struct submit		 sub;
	struct client		 cl = { -1, -1, NULL, "" };
	struct owner		 own;
	size_t			 len;
	int			 rc, multipart, staged = 0, workfd = -1;

	memset(&rf, 0, sizeof(rf));
	memset(&sub, 0, sizeof(sub));
	if (start_draining(r, &rf) == -1)
		goto refused;
	ct = http_media_type(http_param(r, "CONTENT_TYPE"), mt, sizeof(mt));
	multipart = ct != NULL && strcmp(ct, "multipart/form-data") == 0;
	if (ct == NULL || (strcmp(ct, "application/x-www-form-urlencoded") !=
	    0 && strcmp(ct, "application/json") != 0 && !multipart)) {
		refuse(&rf, 415, "unsupported_media_type", NULL,
		    "send the job as application/x-www-form-urlencoded, "
		    "multipart/form-data or application/json");
		goto refused;
	}
	if (start_body_length(r, cfg->max_body_bytes, &len, &rf) == -1)
		goto refused;
	if (start_room(srv, len, &rf) == -1) {
		http_header(r, "Retry-After", "60");
		goto refused;
	}
	memset(&st, 0, sizeof(st));
	if (job_id_new(st.id) == -1) {
		reply_fail(r, "making a job id");
		goto done;
	}
	if (multipart) {
		/* Files stream into the job's staging, never into memory. */
		if ((workfd = store_stage(srv->store, st.id)) == -1) {
			if (errno == ENOSPC || errno == EDQUOT)
				goto disk_full;
			reply_fail(r, "staging the upload");
			goto done;
		}
		staged = 1;
		if (upload_read(r, http_param(r, "CONTENT_TYPE"), len, workfd,
		    start_max_field(cfg), &f, &up, &rf) == -1) {
			if (rf.status == 503)
				http_header(r, "Retry-After", "60");
			goto refused;
		}
	} else {
		if (start_read_body(r, &body, len, &rf) == -1)
			goto refused;
		if (strcmp(ct, "application/json") == 0) {
			if (form_parse_json(&f, body.data ? body.data : "",
			    body.len, &rf) == -1)
				goto refused;
		} else if (form_parse_urlencoded(&f, body.data ?
		    body.data : "", body.len, &rf) == -1)
			goto refused;
	}
	if (form_validate(&f, cfg, &t, &rf) == -1 ||
	    start_idem_key(r, &f, key, sizeof(key), &rf) == -1)
		goto refused;
	if (multipart && upload_check(&up, t, workfd, &rf) == -1)
		goto refused;
	if (start_admit(r, &cl, &rf) == -1)
		goto refused;

	snprintf(st.task, sizeof(st.task), "%s", t->name);
	/* "My jobs": whose it is; a new browser's token is set below. */
	(void)owner_for_start(r, &own);
	memcpy(st.owner, own.hash, sizeof(st.owner));
	st.state = JOB_QUEUED;
	st.progress = -1;
	st.created_at = time(NULL);
	if (start_input_json(&input, &sub.hash, st.id, t, &f,
	    multipart ? &up : NULL) == -1) {
		reply_fail(r, "encoding the job's input");
		goto done;
	}
	if (!staged) {
		if ((workfd = store_stage(srv->store, st.id)) == -1) {
			if (errno == ENOSPC || errno == EDQUOT)
				goto disk_full;
			reply_fail(r, "writing the job to the spool");
			goto done;
		}
		staged = 1;
	}
	owner_key_scope(&own, http_param(r, "HTTP_IDEMPOTENCY_KEY") != NULL,
	    key, skey);
	sub.key = skey;
	staged = 0;	/* lifecycle_submit uses the staging up */
	rc = lifecycle_submit(srv->store, cfg, &st, input.data, input.len,
	    &sub);
	switch (rc) {
	case LC_OK:
		break;
	case LC_FULL:
	case LC_CONFLICT:
		start_submit_refused(r, rc, &rf);
		goto refused;
	case LC_DUPLICATE:
		/* The key was the first job's: answer with that one. */
		store_client_done(&cl, NULL);
		if (jobs_read(r, sub.existing, &old) == -1)
			goto done;
		start_answer(r, &old, jobs_prefer_wait(r));
		goto done;
	default:
		if (errno == ENOSPC || errno == EDQUOT)
			goto disk_full;
		reply_fail(r, "writing the job to the spool");
		goto done;
	}
	if (cfg->max_spool_bytes > 0)
		store_usage_add(srv->store, store_job_size(srv->store, st.id));
	store_client_done(&cl, st.id);
	owner_cookie_set(r, &own, 0);
	start_answer(r, &st, jobs_prefer_wait(r));
	goto done;
disk_full:
	http_header(r, "Retry-After", "60");
	refuse(&rf, 503, "disk_full", NULL, "the server's disk is full; try "
	    "again later");
refused:
	metrics_refused(srv, rf.code);
	reply_refuse(r, &rf);
done:
	/* Unlock the client; a job that was not queued is not counted. */
	store_client_done(&cl, NULL);
	if (workfd != -1)
		close(workfd);
	if (staged)
		store_abort(srv->store, st.id);
	form_free(&f);
	buf_free(&body);
	buf_free(&input);
}

/* The answer to a retry of job old, which is not failed or cancelled. */
static void
start_not_retryable(struct req *r, const struct jobstatus *old)
{
	if (r->json) {
		http_header(r, "Cache-Control", "no-store");
		reply_status(r, 409, old);
		return;
	}
	reply_error(r, 409, "not_retryable", NULL, job_state_final(old->state) ?
	    "this job succeeded; only a failed or cancelled job can be run "
	    "again" : "this job has not finished yet; only a failed or "
	    "cancelled job can be run again");
}

/*
 * POST {base}/jobs/{id}/retry: run failed or cancelled job id again, as
 * a new job with the same task, fields and uploads (lifecycle_retry),
 * under every limit of a start.  The body is empty, a form with the job
 * page's one-time _token, or JSON (read for nothing: Idempotency-Key is
 * a header).  Answers as a start does: 202 with the new job's status, or
 * 303 to its page; a repeat of the key or token answers with the same
 * new job.  409 unless the job is failed or cancelled.
 */
void
start_retry(struct req *r, const char *id)
{
	struct server		*srv = r->srv;
	const struct config	*cfg = srv->cfg;
	struct refusal		 rf;
	struct form		 f = { 0 };
	struct buf		 body = { 0 };
	struct jobstatus	 old, st;
	struct submit		 sub;
	struct client		 cl = { -1, -1, NULL, "" };
	struct owner		 own;
	char			 mt[128], key[160], skey[OWNER_KEY_MAX + 1];
	const char		*ct;
	size_t			 len;
	int			 rc;

	memset(&rf, 0, sizeof(rf));
	memset(&sub, 0, sizeof(sub));
	/* The job first: an unknown id is a 404 whatever else holds. */
	if (jobs_read(r, id, &old) == -1)
		goto done;
	if (old.state != JOB_FAILED && old.state != JOB_CANCELLED) {
		start_not_retryable(r, &old);
		goto done;
	}
	if (start_draining(r, &rf) == -1 ||
	    start_body_length(r, START_RETRY_BODY_MAX, &len, &rf) == -1)
		goto refused;
	ct = http_media_type(http_param(r, "CONTENT_TYPE"), mt, sizeof(mt));
	if (len > 0 && (ct == NULL || (strcmp(ct,
	    "application/x-www-form-urlencoded") != 0 &&
	    strcmp(ct, "application/json") != 0))) {
		refuse(&rf, 415, "unsupported_media_type", NULL, "send no "
		    "body, a form (application/x-www-form-urlencoded) or "
		    "application/json");
		goto refused;
	}
	if (len > 0 && (start_read_body(r, &body, len, &rf) == -1 ||
	    (strcmp(ct, "application/json") != 0 &&
	    form_parse_urlencoded(&f, body.data, body.len, &rf) == -1)))
		goto refused;
	if (start_idem_key(r, &f, key, sizeof(key), &rf) == -1)
		goto refused;
	/* The old job's size bounds the new one's: its uploads and input. */
	if (start_room(srv, (size_t)store_job_size(srv->store, id), &rf) == -1) {
		http_header(r, "Retry-After", "60");
		goto refused;
	}
	if (start_admit(r, &cl, &rf) == -1)
		goto refused;

	/*
	 * The new job belongs to the caller ("my jobs"), not to the old
	 * job's owner, whom a holder of the old job's link need not be;
	 * lifecycle_retry keeps the owner set here.
	 */
	memset(&st, 0, sizeof(st));
	(void)owner_for_start(r, &own);
	memcpy(st.owner, own.hash, sizeof(st.owner));
	owner_key_scope(&own, http_param(r, "HTTP_IDEMPOTENCY_KEY") != NULL,
	    key, skey);
	sub.key = skey;
	rc = lifecycle_retry(srv->store, cfg, id, &old, &st, &sub);
	switch (rc) {
	case LC_OK:
		break;
	case LC_NOENT:
	case LC_GONE:
		reply_lookup(r, rc);
		goto done;
	case LC_STATE:
		start_not_retryable(r, &old);
		goto done;
	case LC_NOTASK:
		refuse(&rf, 409, "task_gone", NULL, "this job's task is no "
		    "longer offered here, so it cannot run again");
		goto refused;
	case LC_INPUT:
		refuse(&rf, 409, "input_gone", NULL, "this job's input or "
		    "uploaded files are no longer as they were (its task may "
		    "have changed them), so it cannot run again; start a new "
		    "job instead");
		goto refused;
	case LC_FULL:
	case LC_CONFLICT:
		start_submit_refused(r, rc, &rf);
		goto refused;
	case LC_DUPLICATE:
		/* The key's retry was made before: answer with that job. */
		store_client_done(&cl, NULL);
		if (jobs_read(r, sub.existing, &st) == 0)
			start_answer(r, &st, jobs_prefer_wait(r));
		goto done;
	default:
		if (errno == ENOSPC || errno == EDQUOT) {
			http_header(r, "Retry-After", "60");
			refuse(&rf, 503, "disk_full", NULL, "the server's disk "
			    "is full; try again later");
			goto refused;
		}
		reply_fail(r, "writing the job to the spool");
		goto done;
	}
	store_client_done(&cl, st.id);
	owner_cookie_set(r, &own, 0);
	start_answer(r, &st, jobs_prefer_wait(r));
	goto done;
refused:
	reply_refuse(r, &rf);
done:
	store_client_done(&cl, NULL);
	form_free(&f);
	buf_free(&body);
}
