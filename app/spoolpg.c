/*
 * The store's second home for job records: PostgreSQL (README
 * "Scaling out on PostgreSQL"), attached to the file spool of a
 * configuration with "database" (store_open_config).  The rest of the
 * program still calls store_*; the file spool's functions hand a job's
 * record to the operations here, and keep what is the front host's own.
 *
 * What lives where:
 *
 *   the database (pg.c)   every job's row (state, progress, log tail,
 *                         input, result), its uploads, tombstones,
 *                         idempotency keys; and what every front behind
 *                         one address must agree on: the owners' secret
 *                         (read once per process, then kept), the
 *                         per-client limits (counted from the rows)
 *   the local spool       tmp/ID: a start being staged, its uploads in
 *                         work/ (removed once the row and the uploads
 *                         are committed); jobs/ID/result: a result
 *                         copied from the row on its first read, then
 *                         served as on one host (ranges, X-Sendfile),
 *                         dropped by the clean-up after an hour and
 *                         copied again when asked; drain, as on one
 *                         host: the maintenance of this front
 *
 * A reader may trust a local copy because a result is written once, with
 * the job's final state, and every request reads the row first: a job
 * that expired or was removed answers 410 or 404 before its copy is
 * looked at.
 *
 * The connection.  One per process, opened at the first need and kept: a
 * FastCGI process polls over it for its whole life; plain CGI connects
 * once per request, since its process is the request.  When a call finds
 * the connection broken (the server restarted), it reconnects; a read is
 * then tried once more.  While the server cannot be reached the store
 * says so (store_unreachable), and the request is answered 503 with
 * Retry-After instead of 500; a start is answered 202 only after its
 * COMMIT returned, so no job is acknowledged that was not committed.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#if defined(HAVE_LIBPQ) && !defined(SPOOLCGI_WITHOUT_LIBPQ)

#define SPOOLPG_CACHE_SECONDS	3600	/* a local copy of a result */
#define SPOOLPG_GC_BATCH	500	/* rows per expiry transaction */
#define SPOOLPG_GC_ROUNDS	20	/* batches per clean-up */

struct spoolpg {
	char		*conninfo;
	struct pg	*pg;		/* NULL until the first need */
	int		 down;		/* the last attempt could not connect */
	long		 keep;		/* keep_finished_seconds */
	long		 tomb;		/* tombstone_seconds */
	const struct config *cfg;	/* its tasks' retries, at a submit */
	/*
	 * The job last read as running, and how: a poll's settle question
	 * (store_update) is then answered without a second round trip, as
	 * the front never settles a running row here (pg_update).
	 */
	char		 running[SPOOLCGI_ID_LEN + 1];
	struct jobstatus runst;
	unsigned char	 secret[STORE_SECRET_LEN];	/* once read */
	int		 have_secret;
	/*
	 * The job this process committed last, as it was written: the read
	 * that follows a start's COMMIT, should the server go away between
	 * the two, answers with it (the job is there: 202, not 503).
	 */
	char		 submitted[SPOOLCGI_ID_LEN + 1];
	struct jobstatus subst;
};

/*
 * Look at the schema of a new session (a connect, a reconnect: a "db
 * upgrade" may have run meanwhile).  One this program was not built for
 * is answered as an outage, 503 with Retry-After, not as a bug: the log
 * names the fix (pg_schema_check: "spoolcgi db upgrade"), and the next
 * request connects and looks again.  Returns 0, or -1 (the connection
 * closed, store_unreachable() true).
 */
static int
spg_schema(struct store *sp)
{
	struct spoolpg	*d = sp->pg;

	if (pg_schema_check(d->pg) == 0)
		return 0;
	pg_close(d->pg);
	d->pg = NULL;
	d->down = 1;
	errno = EPROTO;
	return -1;
}

/*
 * The connection, opened or repaired as needed.  Returns it, or NULL
 * (logged; store_unreachable() says whether the server was unreachable
 * or the schema is wrong).
 */
static struct pg *
spg_conn(struct store *sp)
{
	struct spoolpg	*d = sp->pg;

	if (d->pg != NULL && pg_broken(d->pg)) {
		if (pg_reconnect(d->pg) == -1) {
			d->down = 1;
			return NULL;
		}
		if (spg_schema(sp) == -1)
			return NULL;
	}
	if (d->pg == NULL) {
		if ((d->pg = pg_open(d->conninfo)) == NULL) {
			d->down = errno == ECONNREFUSED;
			return NULL;
		}
		if (spg_schema(sp) == -1)
			return NULL;
	}
	d->down = 0;
	return d->pg;
}

/*
 * After a call that failed: was the connection lost?  libpq does not
 * always say so at once (a write into a closed socket fails later), so
 * the connection is tried (pg_reconnect: a "SELECT 1", then a reset).
 * Or did a "db upgrade" change the tables under a kept connection (an
 * undefined column)?  So the schema is looked at again.  Returns 1 when
 * it works again and a read may be tried once more.
 */
static int
spg_retry(struct store *sp, int rc)
{
	struct spoolpg	*d = sp->pg;

	if (rc != STORE_ERR || d->pg == NULL)
		return 0;
	if (pg_reconnect(d->pg) == -1) {
		d->down = 1;
		return 0;
	}
	return spg_schema(sp) == 0;
}

/*
 * After a write that failed: a connection lost is an outage, even when
 * the server is back by the time it is made again (a crash and a quick
 * restart): the write was cut off by it, and is answered 503, not 500.
 */
static void
spg_check(struct store *sp)
{
	struct spoolpg	*d = sp->pg;

	if (d->pg != NULL && pg_reconnect(d->pg) != 0)
		d->down = 1;
}

static int
spg_read(struct store *sp, const char *id, struct jobstatus *st)
{
	struct pg	*pg;
	int		 rc;

	if ((pg = spg_conn(sp)) == NULL)
		rc = STORE_ERR;
	else if (spg_retry(sp, rc = pg_read(pg, id, st, NULL)))
		rc = pg_read(sp->pg->pg, id, st, NULL);
	if (rc == STORE_ERR && strcmp(sp->pg->submitted, id) == 0) {
		log_warnx("database: job %s: answered as committed", id);
		*st = sp->pg->subst;
		rc = STORE_OK;
	}
	sp->pg->submitted[0] = '\0';
	sp->pg->running[0] = '\0';
	if (rc == STORE_OK && st->state == JOB_RUNNING) {
		memcpy(sp->pg->running, st->id, sizeof(sp->pg->running));
		sp->pg->runst = *st;
	}
	return rc;
}

static int
spg_update(struct store *sp, const char *id, store_change_fn change,
    void *arg, struct jobstatus *st)
{
	struct spoolpg	*d = sp->pg;
	struct pg	*pg;
	int		 rc;

	/* Read as running just now: pg_update would say busy. */
	if (d->running[0] != '\0' && strcmp(d->running, id) == 0) {
		d->running[0] = '\0';
		*st = d->runst;
		return STORE_BUSY;
	}
	if ((pg = spg_conn(sp)) == NULL)
		return STORE_ERR;
	if ((rc = pg_update(pg, id, change, arg, st)) == STORE_ERR)
		spg_check(sp);
	return rc;
}

/* Is name one the store gives an upload (store_upload_place's)? */
static int
spg_upload_name(const char *name)
{
	size_t	 len = strlen(name);

	return len > 0 && len <= SPOOLCGI_NAME_MAX + 15 && name[0] != '.' &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == len;
}

/*
 * Commit the job's row and its uploads, the files its staging holds
 * (pg_submit_files: one transaction, with its key, and its task's
 * retries), then drop the staging: everything it held is in the
 * database.
 */
static int
spg_submit(struct store *sp, const struct jobstatus *st, const char *input,
    size_t len, int maxq, const char *key, unsigned long long hash,
    char *oid, unsigned long long *ohash)
{
	char		 path[SPOOLCGI_ID_LEN + 8];
	char		 names[UPLOAD_FILES_MAX][SPOOLCGI_NAME_MAX + 16];
	const char	*np[UPLOAD_FILES_MAX];
	int		 fds[UPLOAD_FILES_MAX];
	struct dirent	*de;
	const struct task *t;
	struct pg	*pg;
	DIR		*d;
	size_t		 n = 0, i;
	int		 rc = STORE_ERR, saved;

	snprintf(path, sizeof(path), "%s/work", st->id);
	if ((d = spool_opendir(sp->tmpfd, path)) == NULL) {
		log_warn("spool: opendir tmp/%s", path);
		goto done;
	}
	while ((de = readdir(d)) != NULL) {
		if (!spg_upload_name(de->d_name))
			continue;
		if (n == UPLOAD_FILES_MAX) {
			log_warnx("spool: tmp/%s holds too many files", path);
			goto done;
		}
		snprintf(names[n], sizeof(names[n]), "%s", de->d_name);
		if ((fds[n] = openat(dirfd(d), de->d_name, O_RDONLY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1) {
			log_warn("spool: open tmp/%s/%s", path, de->d_name);
			goto done;
		}
		np[n] = names[n];
		n++;
	}
	if ((pg = spg_conn(sp)) != NULL &&
	    (rc = pg_submit_files(pg, st, st->owner, input, len, maxq, key,
	    hash, oid, ohash, np, fds, n, (t = config_task(sp->pg->cfg,
	    st->task)) != NULL ? t->retries : 0)) == STORE_ERR)
		spg_check(sp);
	if (rc == STORE_OK) {
		memcpy(sp->pg->submitted, st->id, sizeof(sp->pg->submitted));
		sp->pg->subst = *st;
		sp->pg->subst.state = JOB_QUEUED;
	}
done:
	saved = errno;
	for (i = 0; i < n; i++)
		close(fds[i]);
	if (d != NULL)
		closedir(d);
	if (spool_remove_tree(sp->tmpfd, st->id) == -1 && errno != ENOENT)
		log_warn("spool: remove tmp/%s", st->id);
	errno = saved;
	return rc;
}

/* pg_uploads_copy's file: the upload, new in the staging (arg: its fd). */
static int
spg_upload_create(void *arg, const char *name)
{
	int	 fd;

	if (!spg_upload_name(name)) {
		log_warnx("database: an upload the store did not name");
		errno = EINVAL;
		return -1;
	}
	if ((fd = openat(*(int *)arg, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		log_warn("spool: create work/%s", name);
	return fd;
}

/*
 * A retry's copy of upload name of job from into the staging workfd,
 * from the database (as store_upload_copy).
 */
static int
spg_upload_copy(struct store *sp, int workfd, const char *from,
    const char *name, long long *size)
{
	struct stat	 sb;
	struct pg	*pg;
	int		 rc;

	*size = 0;
	if (!spg_upload_name(name)) {
		log_warnx("database: job %s's input names an upload the store "
		    "did not name", from);
		errno = EINVAL;
		return STORE_ERR;
	}
	if ((pg = spg_conn(sp)) == NULL)
		return STORE_ERR;
	if ((rc = pg_uploads_copy(pg, from, name, spg_upload_create,
	    &workfd)) == STORE_ERR)
		spg_check(sp);
	if (rc == STORE_OK) {
		if (fstatat(workfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
			log_warn("spool: stat work/%s", name);
			return STORE_ERR;
		}
		*size = (long long)sb.st_size;
	}
	return rc;
}

/* A result's local copy, and the directory that holds it. */
static void
spg_uncache(struct store *sp, const char *id)
{
	if (spool_remove_tree(sp->jobsfd, id) == -1 && errno != ENOENT)
		log_warn("spool: remove jobs/%s", id);
}

static int
spg_remove(struct store *sp, const char *id, int tombstone)
{
	struct pg	*pg;
	int		 rc;

	(void)tombstone;	/* expiry is pg_expire's, in the clean-up */
	if ((pg = spg_conn(sp)) == NULL)
		return -1;
	if ((rc = pg_remove(pg, id)) == STORE_ERR) {
		spg_check(sp);
		return -1;
	}
	spg_uncache(sp, id);
	return 0;
}

static int
spg_cancel(struct store *sp, const char *id)
{
	struct jobstatus	 st;
	struct pg		*pg;
	int			 rc;

	if ((pg = spg_conn(sp)) == NULL)
		return -1;
	if ((rc = pg_cancel(pg, id, &st)) == STORE_ERR) {
		spg_check(sp);
		return -1;
	}
	return 0;
}

static int
spg_input(struct store *sp, const char *id, struct buf *b)
{
	struct buf	 in = { 0 };
	struct pg	*pg;
	int		 rc;

	if ((pg = spg_conn(sp)) == NULL)
		return STORE_ERR;
	if (spg_retry(sp, rc = pg_blob_read(pg, id, 0, &in)))
		rc = pg_blob_read(sp->pg->pg, id, 0, &in);
	if (rc == STORE_OK && in.len > 0 &&
	    buf_append(b, in.data, in.len) == -1) {
		log_warn("database: input of %s", id);
		rc = STORE_ERR;
	}
	buf_free(&in);
	return rc;
}

/*
 * Copy job id's result into jobs/ID/result unless it is there: streamed
 * from its large object (pg_result_copy, never whole in memory) into
 * result.PID, then renamed, so a reader sees all of it or nothing.
 * Returns 0, or -1 with errno set (ENOENT: no result; logged otherwise).
 */
static int
spg_result(struct store *sp, const char *id)
{
	struct pg	*pg;
	long long	 size;
	char		 tmp[32];
	int		 dfd, fd, rc, saved;

	if (!job_id_check(id, strlen(id))) {
		errno = ENOENT;
		return -1;
	}
	if ((mkdirat(sp->jobsfd, id, 0700) == -1 && errno != EEXIST) ||
	    (dfd = openat(sp->jobsfd, id, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		log_warn("spool: open jobs/%s", id);
		return -1;
	}
	if (faccessat(dfd, "result", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		close(dfd);
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "result.%ld", (long)getpid());
	if ((fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		saved = errno;
		log_warn("spool: create jobs/%s/%s", id, tmp);
		close(dfd);
		errno = saved;
		return -1;
	}
	if ((pg = spg_conn(sp)) == NULL)
		rc = STORE_ERR;
	else if (spg_retry(sp, rc = pg_result_copy(pg, id, fd, &size)) &&
	    ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0)
		rc = pg_result_copy(sp->pg->pg, id, fd, &size);
	if (rc != STORE_OK) {
		(void)unlinkat(dfd, tmp, 0);
		close(fd);
		close(dfd);
		errno = rc == STORE_NOENT ? ENOENT : EIO;
		return -1;
	}
	if (close(fd) == -1 || renameat(dfd, tmp, dfd, "result") == -1) {
		saved = errno;
		log_warn("spool: write jobs/%s/result", id);
		(void)unlinkat(dfd, tmp, 0);
		close(dfd);
		errno = saved;
		return -1;
	}
	close(dfd);
	return 0;
}

static int
spg_log(struct store *sp, const char *id, long long tail, struct buf *out,
    long long *size)
{
	struct pg	*pg;
	int		 rc;

	if ((pg = spg_conn(sp)) == NULL)
		return STORE_ERR;
	if (spg_retry(sp, rc = pg_log_read(pg, id, tail, out, size)))
		rc = pg_log_read(sp->pg->pg, id, tail, out, size);
	return rc;
}

static int
spg_counts(struct store *sp, int *queued, int *running)
{
	struct pg	*pg;
	int		 rc;

	*queued = *running = 0;
	if ((pg = spg_conn(sp)) == NULL)
		return -1;
	if (spg_retry(sp, rc = pg_counts(pg, queued, running)))
		rc = pg_counts(sp->pg->pg, queued, running);
	return rc;
}

static int
spg_owner_list(struct store *sp, const char *owner, const char *before,
    size_t limit, struct jobstatus *out, size_t *n, char *next, size_t nsz)
{
	struct pg	*pg;
	int		 rc;

	*n = 0;
	next[0] = '\0';
	if ((pg = spg_conn(sp)) == NULL)
		return STORE_ERR;
	if (spg_retry(sp, rc = pg_owner_list(pg, owner, before, limit, out, n,
	    next, nsz)))
		rc = pg_owner_list(sp->pg->pg, owner, before, limit, out, n,
		    next, nsz);
	return rc;
}

/*
 * The clean-up's part in the database: interrupted jobs settled, expired
 * ones turned into tombstones and old tombstones removed, in small
 * batches; then local copies of results older than SPOOLPG_CACHE_SECONDS.
 */
static void
spg_gc(struct store *sp, time_t now, struct gcstats *gs)
{
	struct spoolpg	*d = sp->pg;
	struct dirent	*de;
	struct stat	 sb;
	struct pg	*pg;
	DIR		*dir;
	int		 i, n, jobs, tombs;

	if ((pg = spg_conn(sp)) != NULL) {
		if (pg_settle(pg, PG_GRACE_SECONDS, &n) == 0)
			gs->settled += n;
		for (i = 0; i < SPOOLPG_GC_ROUNDS; i++) {
			if (pg_expire(pg, d->keep, d->tomb, SPOOLPG_GC_BATCH,
			    &jobs, &tombs) == -1)
				break;
			gs->expired += jobs;
			gs->tombstones += tombs;
			if (jobs < SPOOLPG_GC_BATCH && tombs < SPOOLPG_GC_BATCH)
				break;
		}
		(void)pg_client_gc(pg, &n);
	}
	if ((dir = spool_opendir(sp->jobsfd, ".")) == NULL) {
		log_warn("spool: opendir %s/jobs", sp->path);
		return;
	}
	while ((de = readdir(dir)) != NULL)
		if (job_id_check(de->d_name, strlen(de->d_name)) &&
		    fstatat(sp->jobsfd, de->d_name, &sb,
		    AT_SYMLINK_NOFOLLOW) == 0 &&
		    sb.st_mtime + SPOOLPG_CACHE_SECONDS < now)
			spg_uncache(sp, de->d_name);
	closedir(dir);
}

static int
spg_jobs(struct store *sp, int (*fn)(void *, const char *), void *arg)
{
	struct pg	*pg;

	if ((pg = spg_conn(sp)) == NULL)
		return -1;
	return pg_jobs(pg, fn, arg);
}

/*
 * The watch: LISTEN on the kept connection, whose socket poll(2) watches;
 * the notifications are libpq's to read, never the caller's.
 */
static int
spg_watch(struct store *sp, const char *id)
{
	struct pg	*pg;

	(void)id;	/* any job's end wakes; the waiter reads its own */
	if ((pg = spg_conn(sp)) == NULL || pg_watch(pg, 1) == -1)
		return -1;
	return pg_socket(pg);
}

static int
spg_watch_pending(struct store *sp, int fd)
{
	(void)fd;
	return sp->pg->pg != NULL && pg_notified(sp->pg->pg, NULL) > 0;
}

static void
spg_watch_end(struct store *sp, int fd)
{
	(void)fd;
	if (sp->pg->pg != NULL && !pg_broken(sp->pg->pg))
		(void)pg_watch(sp->pg->pg, 0);
}

/*
 * The owners' secret, the database's (pg_secret), read once and then
 * kept: a token is checked on every request that carries one.
 */
static int
spg_secret(struct store *sp, unsigned char *out, const unsigned char *offer)
{
	struct spoolpg	*d = sp->pg;
	struct pg	*pg;
	int		 rc;

	if (!d->have_secret) {
		if ((pg = spg_conn(sp)) == NULL)
			return -1;
		if ((rc = pg_secret(pg, offer, d->secret)) == -1) {
			spg_check(sp);
			return -1;
		}
		if (rc == 1) {
			errno = ENOENT;
			return -1;
		}
		d->have_secret = 1;
	}
	memcpy(out, d->secret, STORE_SECRET_LEN);
	return 0;
}

static int
spg_client_admit(struct store *sp, const char *addr, int maxjobs,
    int perminute, int *retry)
{
	struct pg	*pg;
	int		 rc;

	if ((pg = spg_conn(sp)) == NULL)
		return -1;
	if ((rc = pg_client_admit(pg, addr, maxjobs, perminute, retry)) == -1)
		spg_check(sp);
	return rc;
}

static void
spg_client_done(struct store *sp, const char *addr, const char *id)
{
	if (sp->pg->pg != NULL && pg_client_done(sp->pg->pg, addr, id) == -1)
		spg_check(sp);
}

/*
 * Was the last failure an outage: the server could not be reached, or
 * the connection broke under the call (a read tried again after a
 * reconnect that failed once more)?
 */
static int
spg_unreachable(struct store *sp)
{
	return sp->pg->down || (sp->pg->pg != NULL && pg_broken(sp->pg->pg));
}

static void
spg_close(struct store *sp)
{
	struct spoolpg	*d = sp->pg;

	pg_close(d->pg);
	explicit_bzero(d->secret, sizeof(d->secret));
	free(d->conninfo);
	free(d);
	sp->pg = NULL;
	sp->ops = NULL;
}

static const struct store_ops spoolpg_ops = {
	.read = spg_read,
	.update = spg_update,
	.submit = spg_submit,
	.upload_copy = spg_upload_copy,
	.remove = spg_remove,
	.cancel = spg_cancel,
	.input = spg_input,
	.result = spg_result,
	.log = spg_log,
	.counts = spg_counts,
	.owner_list = spg_owner_list,
	.gc = spg_gc,
	.jobs = spg_jobs,
	.watch = spg_watch,
	.watch_pending = spg_watch_pending,
	.watch_end = spg_watch_end,
	.unreachable = spg_unreachable,
	.close = spg_close,
	.secret = spg_secret,
	.client_admit = spg_client_admit,
	.client_done = spg_client_done,
};

/*
 * Keep sp's job records in cfg's database from now on.  Nothing is
 * connected yet: a front must start, and answer 503, while the database
 * is down.  Returns 0, or -1 (logged).
 */
int
spoolpg_attach(struct store *sp, const struct config *cfg)
{
	struct spoolpg	*d;

	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->conninfo = strdup(cfg->database)) == NULL) {
		log_warn("database: attach");
		free(d);
		return -1;
	}
	d->keep = cfg->keep_finished_seconds;
	d->tomb = cfg->tombstone_seconds;
	d->cfg = cfg;
	sp->pg = d;
	sp->ops = &spoolpg_ops;
	return 0;
}

#else /* !HAVE_LIBPQ */

int
spoolpg_attach(struct store *sp, const struct config *cfg)
{
	(void)sp;
	log_warnx("%s: database: %s", cfg->path, pg_unavailable());
	errno = ENOTSUP;
	return -1;
}

#endif /* HAVE_LIBPQ */
