/*
 * Starting a job (spec "Starting a job"): the body read and checked
 * (urlencoded, JSON, or multipart streamed into the job's staging), the
 * limits of the server, the disk and the client, the idempotency key,
 * then the job prepared, published and queued in one step under the
 * dispatch lock (queue.c), and the answer: 202 with the status object, or
 * 303 to the job page.  No refusal leaves anything in the spool.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

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

static const struct config	*cfg;
static struct spool		*spool;

void
start_init(const struct config *c, struct spool *sp)
{
	cfg = c;
	spool = sp;
}

/* An idempotency key to claim for a new job (queue_submit's claim). */
struct claim {
	const char		*key;
	const char		*id;
	unsigned long long	 hash;
	char			 oid[SPOOLCGI_ID_LEN + 1];	/* the owner */
	unsigned long long	 ohash;
};

/*
 * The task's stdin (spec "How a task is run"), fields as configured, in
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
	uint64_t	 h = 0xcbf29ce484222325ULL;	/* FNV-1a */

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
	for (s = t->name; ; s++) {
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
		if (*s == '\0')
			break;
	}
	for (s = fs; s != NULL && *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	json_object_object_add(o, "fields", fields);
	files = json_object_new_object();
	upload_json(files, up);
	/* The files count too: the same fields with another file differ. */
	fs = json_object_to_json_string_ext(files, JSON_C_TO_STRING_PLAIN);
	for (s = fs; s != NULL && *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
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
	if (n == 0 || n >= sz || n > 128) {
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
	const char		*cl = http_param(r, "CONTENT_LENGTH");
	char			*end;
	unsigned long long	 len;

	if (cl == NULL || *cl == '\0') {
		len = 0;
	} else {
		errno = 0;
		len = strtoull(cl, &end, 10);
		if (*end != '\0' || errno != 0 || *cl == '-' || *cl == '+') {
			refuse(rf, 400, "invalid_body", NULL,
			    "the Content-Length is not a number");
			return -1;
		}
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
start_max_field(void)
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
	char	 loc[640];

	snprintf(loc, sizeof(loc), "%s/jobs/%s", r->base, st->id);
	http_header(r, "Location", "%s", loc);
	if (r->json) {
		if (wait > 0 && handler_wait_final(r, st, wait) == -1)
			return;
		handler_job_answer(r, st, wait, 1);
		return;
	}
	/* Post/redirect/get: a reload never starts a second job. */
	http_header(r, "Cache-Control", "no-store");
	handler_html_headers(r);
	http_send(r, 303, "text/plain; charset=utf-8", loc, strlen(loc));
}

/* Is the address in a (family, bytes) form inside proxy range p? */
static int
start_in_range(int family, const unsigned char *a, const struct proxy *p)
{
	int	 full = p->bits / 8, rest = p->bits % 8;

	if (family != p->family)
		return 0;
	if (memcmp(a, p->addr, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((a[full] ^ p->addr[full]) &
	    (0xff << (8 - rest))) == 0;
}

/* Parse and normalise an IP address.  Returns the family, or 0. */
static int
start_addr(const char *s, unsigned char *bin, char *out, size_t sz)
{
	int	 fam;

	if (s == NULL)
		return 0;
	fam = inet_pton(AF_INET, s, bin) == 1 ? AF_INET :
	    inet_pton(AF_INET6, s, bin) == 1 ? AF_INET6 : 0;
	if (fam == 0 || inet_ntop(fam, bin, out, (socklen_t)sz) == NULL)
		return 0;
	return fam;
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
	size_t		 i;
	int		 fam;

	if ((fam = start_addr(http_param(r, "REMOTE_ADDR"), bin, out,
	    sz)) == 0) {
		snprintf(out, sz, "local");
		return;
	}
	for (i = 0; i < cfg->nproxies; i++)
		if (start_in_range(fam, bin, &cfg->proxies[i])) {
			if (start_addr(http_param(r, "HTTP_CF_CONNECTING_IP"),
			    bin, cf, sizeof(cf)) != 0)
				snprintf(out, sz, "%s", cf);
			return;
		}
}

/*
 * Room for a new job of len bytes: the disk's free space and the spool's
 * size limit.  Returns 0, or -1 with rf filled (503).
 */
static int
start_room(size_t len, struct refusal *rf)
{
	long long	 free_b = spool_free_bytes(spool), used;

	if (free_b >= 0 && free_b < cfg->min_free_bytes + (long long)len) {
		log_warnx("spool %s: %lld bytes free, under min_free_bytes "
		    "(%lld): refusing new jobs", cfg->spool, free_b,
		    cfg->min_free_bytes);
		refuse(rf, 503, "disk_full", NULL, "the server's disk is "
		    "full; try again later");
		return -1;
	}
	if (cfg->max_spool_bytes > 0 && (used = spool_usage(spool)) >= 0 &&
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
 * Claim the key for the new job, which exists by now, so that a racing
 * repeat (a double click) finds a job behind every claimed key.  Returns
 * 0 when claimed, 1 when another job has it (in oid), -1 on error.
 */
static int
start_claim(void *arg)
{
	struct claim	*c = arg;
	int		 rc;

	rc = spool_key_claim(spool, c->key, c->id, c->hash, c->oid, &c->ohash);
	if (rc == -1)
		log_warn("idempotency key: claim");
	return rc;
}

/*
 * POST {base}/jobs (or {base}): start a job (spec "Starting a job").
 * Answers the request itself, whatever happens.
 */
void
start_job(struct req *r)
{
	struct refusal		 rf;
	struct form		 f = { 0 };
	struct buf		 body = { 0 }, input = { 0 };
	struct jobstatus	 st, old;
	const struct task	*t;
	char			 mt[128], key[160], client[64];
	unsigned long long	 hash;
	const char		*ct;
	struct uploads		 up;
	struct claim		 claim;
	size_t			 len;
	int			 rc, retry, clock_fd = -1, cdir_fd = -1;
	int			 multipart, staged = 0, workfd = -1;

	memset(&rf, 0, sizeof(rf));
	if (cfg->drain || spool_draining(spool)) {
		http_header(r, "Retry-After", "300");
		refuse(&rf, 503, "draining", NULL, "this server is being "
		    "drained for maintenance and takes no new jobs; jobs "
		    "already started will finish");
		goto refused;
	}
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
	if (start_room(len, &rf) == -1) {
		http_header(r, "Retry-After", "60");
		goto refused;
	}
	memset(&st, 0, sizeof(st));
	if (spool_id_new(st.id) == -1) {
		handler_fail(r, "making a job id");
		goto done;
	}
	if (multipart) {
		/* Files stream into the job's staging, never into memory. */
		if ((workfd = spool_job_stage(spool, st.id)) == -1) {
			if (errno == ENOSPC || errno == EDQUOT) {
				http_header(r, "Retry-After", "60");
				refuse(&rf, 503, "disk_full", NULL, "the "
				    "server's disk is full; try again later");
				goto refused;
			}
			handler_fail(r, "staging the upload");
			goto done;
		}
		staged = 1;
		if (upload_read(r, http_param(r, "CONTENT_TYPE"), len, workfd,
		    start_max_field(), &f, &up, &rf) == -1) {
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
	if (cfg->max_jobs_per_client > 0 || cfg->client_starts_per_minute > 0) {
		start_client(r, client, sizeof(client));
		rc = spool_client_admit(spool, client,
		    cfg->max_jobs_per_client, cfg->client_starts_per_minute,
		    time(NULL), &retry, &clock_fd, &cdir_fd);
		if (rc == 1) {
			http_header(r, "Retry-After", "%d", retry);
			refuse(&rf, 429, "too_many_jobs", NULL, "you have "
			    "started too many jobs; wait for them to finish, "
			    "or try again in %d seconds", retry);
			goto refused;
		}
		if (rc == -1)
			log_warn("client %s: limits", client);	/* admit */
	}

	snprintf(st.task, sizeof(st.task), "%s", t->name);
	st.state = JOB_QUEUED;
	st.progress = -1;
	st.created_at = time(NULL);
	if (start_input_json(&input, &hash, st.id, t, &f,
	    multipart ? &up : NULL) == -1) {
		handler_fail(r, "encoding the job's input");
		goto done;
	}
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		st.queue_key = (unsigned long long)ts.tv_sec * 1000000000ULL +
		    (unsigned long long)ts.tv_nsec;
	}
	if (!staged) {
		if ((rc = spool_job_stage(spool, st.id)) != -1)
			close(rc);
		staged = rc != -1;
	}
	rc = staged ? spool_job_prepare(spool, &st, input.data, input.len) :
	    -1;
	staged = rc == 0;	/* a failed prepare removed the staging */
	if (rc == -1) {
		if (errno == ENOSPC || errno == EDQUOT) {
			http_header(r, "Retry-After", "60");
			refuse(&rf, 503, "disk_full", NULL, "the server's disk "
			    "is full; try again later");
			goto refused;
		}
		handler_fail(r, "writing the job to the spool");
		goto done;
	}
	claim.key = key;
	claim.id = st.id;
	claim.hash = hash;
	rc = queue_submit(spool, cfg, &st, key[0] != '\0' ? start_claim :
	    NULL, &claim);
	if (rc != 1)
		staged = 0;	/* published (and perhaps withdrawn) */
	switch (rc) {
	case 0:
		break;
	case 1:
		http_header(r, "Retry-After", "30");
		refuse(&rf, 503, "queue_full", NULL, "the queue is full (%d "
		    "jobs are waiting); try again later", cfg->max_queued);
		goto refused;
	case 2:
		/* The key was the first job's: answer with that one. */
		if (claim.ohash != hash) {
			refuse(&rf, 400, "idempotency_conflict",
			    http_param(r, "HTTP_IDEMPOTENCY_KEY") ?
			    "Idempotency-Key" : "_token", "this key was used "
			    "for a different request: send a new key for new "
			    "work");
			goto refused;
		}
		spool_client_done(clock_fd, cdir_fd, NULL);
		clock_fd = cdir_fd = -1;
		if (handler_job_read(r, claim.oid, &old) == -1)
			goto done;
		start_answer(r, &old, handler_prefer_wait(r));
		goto done;
	default:
		handler_fail(r, "queueing the job");
		goto done;
	}
	if (cfg->max_spool_bytes > 0)
		spool_usage_add(spool, spool_du(spool->jobsfd, st.id), 0);
	spool_client_done(clock_fd, cdir_fd, st.id);
	clock_fd = cdir_fd = -1;
	log_info("job %s: created (task %s)", st.id, t->name);
	if (handler_job_read(r, st.id, &st) == -1)
		goto done;
	start_answer(r, &st, handler_prefer_wait(r));
	goto done;
refused:
	handler_refuse(r, &rf);
done:
	/* Unlock the client; a job that was not queued is not counted. */
	spool_client_done(clock_fd, cdir_fd, NULL);
	if (workfd != -1)
		close(workfd);
	if (staged)
		spool_job_abort(spool, st.id);
	form_free(&f);
	buf_free(&body);
	buf_free(&input);
}
