/*
 * The spool: the only file that knows paths and the on-disk format.
 *
 * Layout, under the configured spool directory (0700, never under the web
 * server's document root):
 *
 *   jobs/ID/            one directory per job; ID is a lower-case UUIDv4
 *     input.json        the task's stdin: {"id","task","fields","files"};
 *                       written once, before the job becomes visible
 *     status.json       the job's state (struct jobstatus); replaced whole
 *                       by rename, never written in place
 *     lock              the supervisor holds flock(LOCK_EX) on it for its
 *                       whole life; the kernel drops it when the process dies
 *     log               the task's stderr (all but "progress:" lines) and
 *                       the supervisor's own messages, appended
 *     result.tmp        the task's stdout while it runs; removed when the
 *                       task did not succeed
 *     result            renamed from result.tmp when the task succeeded
 *     work/             the task's working directory (uploads land here)
 *     reserve           16 KiB set aside at creation; the supervisor removes
 *                       it before its last write, so that the final status
 *                       fits even on a full disk
 *     cancel            created by a request to cancel a running job; the
 *                       supervisor sees it within a tick and stops the task
 *   tmp/ID/             a job being created; renamed to jobs/ID when whole,
 *                       or a removed job on its way out (tmp/ID.rm)
 *   queue/KEY-ID        one empty file per queued job; KEY is 16 hex digits
 *                       of the enqueue time in nanoseconds, so the names
 *                       sort first in, first out
 *   slots/g.N           global run slots, N < max_running; a supervisor
 *   slots/t.TASK.N      holds flock on one global slot (and one of its
 *                       task's, when the task has its own max_running) for
 *                       its whole life
 *   dispatch.lock       flock(LOCK_EX) while dispatching: one dispatcher at
 *                       a time decides which queued job gets which slot
 *   gone/ID             a tombstone: job ID expired and was removed; its
 *                       mtime is the removal time
 *   keys/k-KEY          an Idempotency-Key: "ID HASH\n", the job started for
 *                       it and a hash of its task and fields
 *   clients/ADDR/ID     one empty file per pending job of client ADDR (an
 *                       IPv4 or IPv6 address), for max_jobs_per_client;
 *                       entries of finished jobs are dropped when counted
 *   clients/ADDR/rate   "START COUNT": the client's starts in the minute
 *                       that began at START, for client_starts_per_minute;
 *                       clients/ADDR/lock serialises both
 *   usage, usage.lock   the spool's size in bytes, for max_spool_bytes: kept
 *                       up to date by creations, supervisors and removals,
 *                       measured exactly by every clean-up
 *   gc.stamp, gc.lock   when the last clean-up started; who runs one now
 *   drain               if it exists, new jobs are refused (503)
 *
 * Writers.  The FastCGI process creates a job: it builds tmp/ID completely
 * (every file fsynced, the directory fsynced), renames it to jobs/ID and
 * fsyncs jobs/, all before it answers, so a job that was answered with an
 * id survives any crash.  A leftover tmp/ID is a creation that never
 * answered; it is junk.  From then on the supervisor of the job is the
 * only writer of status.json while it holds the lock; anyone else writes
 * it only while holding the lock itself.
 *
 * Status writes go to status.json.XXXXXX in the job's directory, are
 * fsynced and renamed over status.json; final states also fsync the
 * directory.  Progress updates skip the fsyncs: losing one to a crash
 * costs nothing, since the lock tells the truth about the process.
 *
 * Readers.  status.json is always a whole file.  A state of "running" is
 * a claim; the lock is the proof.  A reader that finds "running" and can
 * take the lock itself re-reads the status under the lock: still running
 * means the supervisor died (host restart, OOM kill, the web server's
 * cgroup killed), and the reader records the job as failed with
 * error.code "interrupted" (or queues it again, when its task allows
 * retries).  The result is complete once "result" exists and the state is
 * "succeeded".
 *
 * Dispatch.  Its cost does not grow with the number of jobs in the spool:
 * a dispatcher lists queue/ (only the waiting jobs, at most max_queued)
 * and tries flock on at most max_running slot files; it never reads
 * jobs/.  Whether a job runs is known from the locks the kernel keeps,
 * so a supervisor killed with -9 frees its slot at once, and no count can
 * drift.  A job runs at most once: a supervisor starts a job only while
 * holding the job's lock and only if its status still says "queued".
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "extern.h"

#define SPOOL_STATUS		"status.json"

/* Room for the final status and its temporary, on a full disk. */
static const char	 spool_reserve_bytes[16384];
#define SPOOL_STATUS_MAX	16384

/*
 * Is s (len bytes, not necessarily NUL-terminated) a job id: the canonical
 * lower-case form of a version 4, RFC 4122 variant UUID?  Only such a string
 * ever becomes part of a path.  Returns 1 if so, else 0; it touches nothing.
 */
int
spool_id_check(const char *s, size_t len)
{
	char	 tmp[SPOOLCGI_ID_LEN + 1];
	uuid_t	 u;
	size_t	 i;

	if (s == NULL || len != SPOOLCGI_ID_LEN)
		return 0;
	for (i = 0; i < len; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	if (s[14] != '4' || strchr("89ab", s[19]) == NULL)
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return uuid_parse(tmp, u) == 0;
}

/*
 * A new job id from the kernel's random source (uuid_generate_random reads
 * getrandom), so ids cannot be guessed.  Returns 0, or -1.
 */
int
spool_id_new(char *out)
{
	uuid_t	 u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
	if (!spool_id_check(out, strlen(out))) {
		log_warnx("uuid_generate_random gave a malformed id");
		return -1;
	}
	return 0;
}

/* mkdirat that accepts an existing directory.  Returns 0, or -1. */
static int
spool_mkdirat(int dfd, const char *name)
{
	struct stat	 sb;

	if (mkdirat(dfd, name, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if (!S_ISDIR(sb.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/*
 * Open (creating what is missing) the spool at path, which must be
 * absolute.  The descriptors are close-on-exec.  Returns 0, or -1 after
 * logging what failed.
 */
int
spool_open(struct spool *sp, const char *path)
{
	memset(sp, 0, sizeof(*sp));
	sp->dirfd = sp->jobsfd = sp->tmpfd = sp->queuefd = sp->slotsfd = -1;
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		log_warn("spool: mkdir %s", path);
		return -1;
	}
	if ((sp->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		log_warn("spool: open %s", path);
		return -1;
	}
	if (spool_mkdirat(sp->dirfd, "jobs") == -1 ||
	    spool_mkdirat(sp->dirfd, "tmp") == -1 ||
	    spool_mkdirat(sp->dirfd, "queue") == -1 ||
	    spool_mkdirat(sp->dirfd, "slots") == -1 ||
	    spool_mkdirat(sp->dirfd, "gone") == -1 ||
	    spool_mkdirat(sp->dirfd, "keys") == -1 ||
	    spool_mkdirat(sp->dirfd, "clients") == -1) {
		log_warn("spool: mkdir under %s", path);
		goto fail;
	}
	if ((sp->jobsfd = openat(sp->dirfd, "jobs",
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    (sp->tmpfd = openat(sp->dirfd, "tmp",
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    (sp->queuefd = openat(sp->dirfd, "queue",
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    (sp->slotsfd = openat(sp->dirfd, "slots",
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		log_warn("spool: open %s/jobs", path);
		goto fail;
	}
	if ((sp->path = strdup(path)) == NULL) {
		log_warn("strdup");
		goto fail;
	}
	return 0;
fail:
	spool_close(sp);
	return -1;
}

void
spool_close(struct spool *sp)
{
	if (sp->queuefd != -1)
		close(sp->queuefd);
	if (sp->slotsfd != -1)
		close(sp->slotsfd);
	if (sp->tmpfd != -1)
		close(sp->tmpfd);
	if (sp->jobsfd != -1)
		close(sp->jobsfd);
	if (sp->dirfd != -1)
		close(sp->dirfd);
	free(sp->path);
	sp->dirfd = sp->jobsfd = sp->tmpfd = sp->queuefd = sp->slotsfd = -1;
	sp->path = NULL;
}

/* write(2) all of buf.  Returns 0, or -1 with errno set. */
static int
spool_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Create name in dfd exclusively with the given contents, fsynced.
 * Returns 0, or -1 with errno set.
 */
static int
spool_file_create(int dfd, const char *name, const char *buf, size_t len)
{
	int	 fd, saved;

	if ((fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return -1;
	if (spool_write_all(fd, buf, len) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlinkat(dfd, name, 0);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/*
 * The on-disk form of a status: one "key value" line per member, text
 * values with backslash, newline and CR escaped (\\, \n, \r).  Not JSON:
 * every poll reads it, and this parses in a few hundred instructions
 * where a JSON parser took tens of thousands.  The file keeps the name
 * status.json for continuity with the layout above.
 */
static void
spool_put_text(struct buf *b, const char *key, const char *v)
{
	const char	*p;

	buf_puts(b, key);
	buf_puts(b, " ");
	for (p = v; *p != '\0'; p++) {
		if (*p == '\\')
			buf_puts(b, "\\\\");
		else if (*p == '\n')
			buf_puts(b, "\\n");
		else if (*p == '\r')
			buf_puts(b, "\\r");
		else
			buf_append(b, p, 1);
	}
	buf_puts(b, "\n");
}

static int
spool_status_encode(const struct jobstatus *st, struct buf *out)
{
	buf_puts(out, "spoolcgi-status 1\n");
	spool_put_text(out, "id", st->id);
	spool_put_text(out, "task", st->task);
	spool_put_text(out, "state", job_state_name(st->state));
	buf_printf(out, "progress %d\n", st->progress);
	spool_put_text(out, "message", st->message);
	buf_printf(out, "created %lld\nstarted %lld\nfinished %lld\n",
	    (long long)st->created_at, (long long)st->started_at,
	    (long long)st->finished_at);
	spool_put_text(out, "error_code", st->error_code);
	spool_put_text(out, "error_message", st->error_message);
	buf_printf(out, "attempts %d\nqueue_key %llu\n", st->attempts,
	    st->queue_key);
	return out->data != NULL && out->len > 0 ? 0 : -1;
}

/* Unescape the value at v (len bytes) into dst (size sz). */
static void
spool_get_text(char *dst, size_t sz, const char *v, size_t len)
{
	char	 tmp[SPOOLCGI_ERRMSG_MAX];
	size_t	 i, o;

	for (i = o = 0; i < len && o < sizeof(tmp); i++) {
		if (v[i] == '\\' && i + 1 < len) {
			i++;
			tmp[o++] = v[i] == 'n' ? '\n' : v[i] == 'r' ? '\r' :
			    v[i];
		} else
			tmp[o++] = v[i];
	}
	job_set_message(dst, sz, tmp, o);
}

static long long
spool_get_num(const char *v, size_t len)
{
	long long	 n = 0;
	size_t		 i = 0;
	int		 neg = 0;

	if (len > 0 && v[0] == '-') {
		neg = 1;
		i = 1;
	}
	for (; i < len && v[i] >= '0' && v[i] <= '9' && n < LLONG_MAX / 10;
	    i++)
		n = n * 10 + (v[i] - '0');
	return neg ? -n : n;
}

/* Parse a status file.  Returns 0, or -1 with errno EINVAL. */
static int
spool_status_decode(const char *buf, size_t len, struct jobstatus *st)
{
	const char	*p = buf, *end = buf + len, *nl, *sp, *v;
	size_t		 klen, vlen;
	int		 have = 0;
	char		 state[16];

	memset(st, 0, sizeof(*st));
	st->progress = -1;
	if (len < 18 || memcmp(buf, "spoolcgi-status 1\n", 18) != 0)
		goto bad;
	for (p = buf + 18; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		if ((sp = memchr(p, ' ', (size_t)(nl - p))) == NULL)
			continue;
		klen = (size_t)(sp - p);
		v = sp + 1;
		vlen = (size_t)(nl - v);
#define KEY(k)	(klen == sizeof(k) - 1 && memcmp(p, k, klen) == 0)
		if (KEY("id")) {
			if (vlen != SPOOLCGI_ID_LEN ||
			    !spool_id_check(v, vlen))
				goto bad;
			memcpy(st->id, v, vlen);
			st->id[vlen] = '\0';
			have |= 1;
		} else if (KEY("task")) {
			if (vlen >= sizeof(st->task))
				goto bad;
			memcpy(st->task, v, vlen);
			st->task[vlen] = '\0';
			have |= 2;
		} else if (KEY("state")) {
			if (vlen >= sizeof(state))
				goto bad;
			memcpy(state, v, vlen);
			state[vlen] = '\0';
			if (job_state_parse(state, &st->state) == -1)
				goto bad;
			have |= 4;
		} else if (KEY("progress")) {
			st->progress = (int)spool_get_num(v, vlen);
			if (st->progress < -1 || st->progress > 100)
				st->progress = -1;
		} else if (KEY("message"))
			spool_get_text(st->message, sizeof(st->message), v,
			    vlen);
		else if (KEY("created"))
			st->created_at = (time_t)spool_get_num(v, vlen);
		else if (KEY("started"))
			st->started_at = (time_t)spool_get_num(v, vlen);
		else if (KEY("finished"))
			st->finished_at = (time_t)spool_get_num(v, vlen);
		else if (KEY("error_code"))
			spool_get_text(st->error_code, sizeof(st->error_code),
			    v, vlen);
		else if (KEY("error_message"))
			spool_get_text(st->error_message,
			    sizeof(st->error_message), v, vlen);
		else if (KEY("attempts"))
			st->attempts = (int)spool_get_num(v, vlen);
		else if (KEY("queue_key"))
			st->queue_key = strtoull(v, NULL, 10);
#undef KEY
	}
	if (have == 7)
		return 0;
bad:
	errno = EINVAL;
	return -1;
}

/*
 * Write st as dfd's status.json: a temporary file, fsync, rename.  When
 * durable, the directory is fsynced too, so the new state survives a
 * crash.  Returns 0, or -1 with errno set.
 */
int
spool_status_write(int dfd, const struct jobstatus *st, int durable)
{
	struct buf	 b = { 0 };
	char		 tmp[sizeof(SPOOL_STATUS) + 16];
	int		 fd, saved;

	if (spool_status_encode(st, &b) == -1) {
		buf_free(&b);
		errno = ENOMEM;
		return -1;
	}
	/* The name is unique to this writer: only a lock holder writes. */
	snprintf(tmp, sizeof(tmp), "%s.%ld", SPOOL_STATUS, (long)getpid());
	if ((fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		goto fail;
	if (spool_write_all(fd, b.data, b.len) == -1 ||
	    (durable && fsync(fd) == -1)) {
		saved = errno;
		close(fd);
		errno = saved;
		goto unlink;
	}
	if (close(fd) == -1 || renameat(dfd, tmp, dfd, SPOOL_STATUS) == -1)
		goto unlink;
	if (durable && fsync(dfd) == -1)
		goto fail;
	buf_free(&b);
	return 0;
unlink:
	saved = errno;
	unlinkat(dfd, tmp, 0);
	errno = saved;
fail:
	saved = errno;
	buf_free(&b);
	errno = saved;
	return -1;
}

/* Read and decode the status file open on fd, and close fd. */
static int
spool_status_fd(int fd, struct jobstatus *st)
{
	char	 buf[SPOOL_STATUS_MAX];
	ssize_t	 n;
	size_t	 len = 0;
	int	 saved;

	while (len < sizeof(buf)) {
		if ((n = read(fd, buf + len, sizeof(buf) - len)) == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return spool_status_decode(buf, len, st);
}

/* Read a job directory's status.json.  Returns 0, or -1 with errno set. */
int
spool_status_readat(int dfd, struct jobstatus *st)
{
	int	 fd;

	if ((fd = openat(dfd, SPOOL_STATUS, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	return spool_status_fd(fd, st);
}

/*
 * Open jobs/ID as a directory.  id must have passed spool_id_check.
 * Returns the descriptor, or -1 with errno set (ENOENT: no such job).
 */
int
spool_job_open(struct spool *sp, const char *id)
{
	return openat(sp->jobsfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
}

/* Read the status of job id.  Returns 0, or -1 with errno (ENOENT). */
int
spool_status_read(struct spool *sp, const char *id, struct jobstatus *st)
{
	char	 path[SPOOLCGI_ID_LEN + sizeof(SPOOL_STATUS) + 2];
	int	 fd;

	/* One openat from the jobs directory: the poll path stays cheap. */
	snprintf(path, sizeof(path), "%s/%s", id, SPOOL_STATUS);
	if ((fd = openat(sp->jobsfd, path, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	return spool_status_fd(fd, st);
}

/*
 * Take the job's lock: exclusive, and without waiting when nonblock.
 * Returns the lock's descriptor (close it to release), or -1 with errno
 * set (EWOULDBLOCK: somebody holds it).
 */
int
spool_job_lock(int dfd, int nonblock)
{
	int	 fd, saved;

	if ((fd = openat(dfd, "lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	while (flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0)) == -1) {
		if (errno == EINTR)
			continue;
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * Begin job id in tmp/ID, with its work/ directory, where uploads are
 * streamed before the job exists.  Returns a descriptor of work/ (the
 * caller closes it), or -1 after logging; nothing is left on failure.
 */
int
spool_job_stage(struct spool *sp, const char *id)
{
	int	 dfd, wfd, saved;

	if (mkdirat(sp->tmpfd, id, 0700) == -1) {
		log_warn("spool: mkdir tmp/%s", id);
		return -1;
	}
	if ((dfd = openat(sp->tmpfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || mkdirat(dfd, "work", 0700) == -1 ||
	    (wfd = openat(dfd, "work", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		saved = errno;
		log_warn("spool: create tmp/%s", id);
		if (dfd != -1)
			close(dfd);
		spool_remove_tree(sp->tmpfd, id);
		errno = saved;
		return -1;
	}
	close(dfd);
	return wfd;
}

/* Give up a staged job: nothing of it stays. */
void
spool_job_abort(struct spool *sp, const char *id)
{
	if (spool_remove_tree(sp->tmpfd, id) == -1)
		log_warn("spool: remove tmp/%s", id);
}

/*
 * Complete staged job st->id with the task's stdin in input (len bytes)
 * and st as its first status, every file and the directory on disk.  On
 * failure the staging is removed.  Returns 0, or -1 after logging (errno
 * kept).
 */
int
spool_job_prepare(struct spool *sp, const struct jobstatus *st,
    const char *input, size_t len)
{
	int	 dfd, saved;

	/* Uploads in work/ were fsynced, with work/, by their writer. */
	if ((dfd = openat(sp->tmpfd, st->id, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		log_warn("spool: open tmp/%s", st->id);
		goto fail;
	}
	if (spool_file_create(dfd, "input.json", input, len) == -1 ||
	    spool_file_create(dfd, "lock", "", 0) == -1 ||
	    spool_file_create(dfd, "reserve", spool_reserve_bytes,
	    sizeof(spool_reserve_bytes)) == -1 ||
	    spool_status_write(dfd, st, 1) == -1) {
		saved = errno;
		log_warn("spool: write tmp/%s", st->id);
		close(dfd);
		errno = saved;
		goto fail;
	}
	close(dfd);
	return 0;
fail:
	saved = errno;
	spool_remove_tree(sp->tmpfd, st->id);
	errno = saved;
	return -1;
}

/*
 * Move prepared job id from tmp/ into jobs/, whole, and make that
 * durable: from here on it exists.  On failure the staging is removed.
 * Returns 0, or -1 after logging.
 */
int
spool_job_publish(struct spool *sp, const char *id)
{
	int	 saved;

	if (renameat(sp->tmpfd, id, sp->jobsfd, id) == -1) {
		saved = errno;
		log_warn("spool: rename tmp/%s to jobs/%s", id, id);
		spool_remove_tree(sp->tmpfd, id);
		errno = saved;
		return -1;
	}
	if (fsync(sp->jobsfd) == -1) {
		/* It is in place; say so, but the job exists. */
		log_warn("spool: fsync jobs/ after %s", id);
	}
	return 0;
}

/*
 * Create job st->id with the task's stdin in input (len bytes) and st as
 * its first status: stage, prepare, publish.  Returns 0, or -1 after
 * logging.
 */
int
spool_job_create(struct spool *sp, const struct jobstatus *st,
    const char *input, size_t len)
{
	int	 wfd;

	if ((wfd = spool_job_stage(sp, st->id)) == -1)
		return -1;
	close(wfd);
	if (spool_job_prepare(sp, st, input, len) == -1)
		return -1;
	return spool_job_publish(sp, st->id);
}

/*
 * Open directory name under dfd ("." for dfd itself, with an offset of
 * its own) for readdir, without following a symlink.  Returns the DIR,
 * or NULL with errno set.
 */
static DIR *
spool_opendir(int dfd, const char *name)
{
	DIR	*d;
	int	 fd, saved;

	if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
	}
	return d;
}

/*
 * Remove name under dfd and everything in it (no symlinks are followed).
 * Returns 0, or -1 with errno set.
 */
int
spool_remove_tree(int dfd, const char *name)
{
	DIR		*d;
	struct dirent	*de;
	int		 saved;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if ((d = spool_opendir(dfd, name)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (spool_remove_tree(dirfd(d), de->d_name) == -1) {
			saved = errno;
			closedir(d);
			errno = saved;
			return -1;
		}
	}
	closedir(d);
	return unlinkat(dfd, name, AT_REMOVEDIR);
}

/*
 * Read the status of job id and settle what only the lock can tell: a
 * job that claims to run while nobody holds its lock was interrupted.  It
 * is recorded as failed with error.code "interrupted", or, while its task
 * allows retries, queued again; either durably, under the lock, before it
 * is reported.  Returns 0, or -1 with errno set (ENOENT: no such job).
 */
int
spool_job_check(struct spool *sp, const struct config *cfg, const char *id,
    struct jobstatus *st)
{
	const struct task	*t;
	char			 path[SPOOLCGI_ID_LEN + 8];
	int			 dfd, lfd, requeue = 0, saved;

	if (spool_status_read(sp, id, st) == -1)
		return -1;
	if (st->state != JOB_RUNNING)
		return 0;
	/* The poll of a running job: one open and one flock, no more. */
	snprintf(path, sizeof(path), "%s/lock", id);
	if ((lfd = openat(sp->jobsfd, path, O_RDWR | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if (flock(lfd, LOCK_EX | LOCK_NB) == -1) {
		saved = errno;
		close(lfd);
		if (saved == EWOULDBLOCK)
			return 0;	/* the supervisor is alive */
		errno = saved;
		return -1;
	}
	if ((dfd = spool_job_open(sp, id)) == -1) {
		saved = errno;
		close(lfd);
		errno = saved;
		return -1;
	}
	/* We hold the lock: what the status says now is settled. */
	if (spool_status_readat(dfd, st) == 0 && st->state == JOB_RUNNING) {
		t = cfg != NULL ? config_task(cfg, st->task) : NULL;
		if (t != NULL && st->attempts <= t->retries) {
			requeue = 1;
			st->state = JOB_QUEUED;
			st->started_at = 0;
			st->progress = -1;
			snprintf(st->message, sizeof(st->message),
			    "interrupted; queued again (retry %d of %d)",
			    st->attempts, t->retries);
			st->queue_key = 0;
			if (spool_queue_add(sp, st) == -1)
				requeue = -1;
		}
		if (requeue != 1) {
			st->state = JOB_FAILED;
			st->finished_at = time(NULL);
			snprintf(st->error_code, sizeof(st->error_code),
			    "interrupted");
			snprintf(st->error_message,
			    sizeof(st->error_message), "the process running "
			    "this job vanished (a host or web server restart, "
			    "or an out-of-memory kill)");
		}
		/* The queue entry exists before the status says queued. */
		if (spool_status_write(dfd, st, 1) == -1)
			log_warn("spool: write jobs/%s/%s", id, SPOOL_STATUS);
		else
			log_warnx("job %s: interrupted: its supervisor is "
			    "gone%s", id, requeue == 1 ? "; queued again" : "");
	}
	close(lfd);
	close(dfd);
	return 0;
}

/*
 * Open job id's result for reading; sb receives its fstat.  Returns the
 * descriptor, or -1 with errno set (ENOENT: no result).
 */
int
spool_result_open(struct spool *sp, const char *id, struct stat *sb)
{
	char	 path[SPOOLCGI_ID_LEN + 16];
	int	 fd, saved;

	snprintf(path, sizeof(path), "%s/result", id);
	if ((fd = openat(sp->jobsfd, path, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, sb) == -1 || !S_ISREG(sb->st_mode)) {
		saved = S_ISREG(sb->st_mode) ? errno : EINVAL;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * A strong entity tag for a result (RFC 9110 8.8.3): the result never
 * changes once renamed into place, so inode, size and time name it.
 * Returns 0, or -1 when out is too small.
 */
int
spool_result_etag(const struct stat *sb, char *out, size_t sz)
{
	int	 n;

	n = snprintf(out, sz, "\"%llx-%llx-%llx\"",
	    (unsigned long long)sb->st_ino, (unsigned long long)sb->st_size,
	    (unsigned long long)sb->st_mtim.tv_sec * 1000000000ULL +
	    (unsigned long long)sb->st_mtim.tv_nsec);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/*
 * Open what the supervisor hands its task: input.json for stdin, a fresh
 * result.tmp for stdout, the log (appended) and work/.  All close-on-exec;
 * the supervisor dup2s them into place in the task's process.  Returns 0,
 * or -1 with errno set, with nothing left open.
 */
int
spool_task_open(int dfd, struct taskfds *t)
{
	int	 saved;

	t->in = t->out = t->log = t->work = -1;
	if ((t->in = openat(dfd, "input.json", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 ||
	    (t->out = openat(dfd, "result.tmp", O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1 ||
	    (t->log = openat(dfd, "log", O_WRONLY | O_CREAT | O_APPEND |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1 ||
	    (t->work = openat(dfd, "work", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		saved = errno;
		if (t->in != -1)
			close(t->in);
		if (t->out != -1)
			close(t->out);
		if (t->log != -1)
			close(t->log);
		t->in = t->out = t->log = -1;
		errno = saved;
		return -1;
	}
	return 0;
}

/* Read input.json whole into b.  Returns 0, or -1 with errno set. */
int
spool_input_read(int dfd, struct buf *b)
{
	char	 chunk[8192];
	ssize_t	 n;
	int	 fd, saved;

	if ((fd = openat(dfd, "input.json", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	for (;;) {
		if ((n = read(fd, chunk, sizeof(chunk))) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		if (buf_append(b, chunk, (size_t)n) == -1)
			goto fail;
	}
	close(fd);
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Make the task's stdout the job's result: fsync result.tmp (outfd), rename
 * it to result, fsync the directory.  Returns 0, or -1 with errno set.
 */
int
spool_result_commit(int dfd, int outfd)
{
	if (fsync(outfd) == -1)
		return -1;
	if (renameat(dfd, "result.tmp", dfd, "result") == -1)
		return -1;
	return fsync(dfd);
}

/*
 * The last nlines lines of the job's log, for the message of a failed job.
 * Returns 0 with out NUL-terminated ("" when there is no log), or -1.
 */
int
spool_log_tail(int dfd, char *out, size_t sz, int nlines)
{
	char		 buf[SPOOLCGI_ERRMSG_MAX];
	struct stat	 sb;
	ssize_t		 n;
	off_t		 off;
	int		 fd;
	char		*p;

	if (sz == 0)
		return -1;
	out[0] = '\0';
	if ((fd = openat(dfd, "log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &sb) == -1) {
		close(fd);
		return -1;
	}
	off = sb.st_size > (off_t)(sizeof(buf) - 1) ?
	    sb.st_size - (off_t)(sizeof(buf) - 1) : 0;
	n = pread(fd, buf, sizeof(buf) - 1, off);
	close(fd);
	if (n <= 0)
		return n == 0 ? 0 : -1;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	for (p = buf + n; p > buf; p--)
		if (p[-1] == '\n' && --nlines == 0)
			break;
	job_set_message(out, sz, p, strlen(p));
	return 0;
}

/*
 * Count queued and running jobs for /health: queue entries and held
 * global slots, so the cost is that of a dispatch, whatever the spool
 * holds.  Returns 0, or -1 with errno set.
 */
int
spool_counts(struct spool *sp, const struct config *cfg, int *queued,
    int *running)
{
	struct qentry	*q = NULL;
	size_t		 n = 0;
	int		 lfd;

	*queued = *running = 0;
	if ((lfd = spool_dispatch_lock(sp)) == -1)
		return -1;
	if (spool_queue_list(sp, &q, &n) == -1) {
		close(lfd);
		return -1;
	}
	free(q);
	*queued = (int)n;
	*running = spool_slots_busy(sp, "g", cfg->max_running);
	close(lfd);
	return 0;
}

/* Bytes free to an unprivileged user on the spool's file system, or -1. */
long long
spool_free_bytes(struct spool *sp)
{
	struct statvfs	 vfs;

	if (fstatvfs(sp->dirfd, &vfs) == -1)
		return -1;
	return (long long)vfs.f_bavail * (long long)vfs.f_frsize;
}

/*
 * Is path inside (or equal to) dir?  Both are resolved with realpath, so
 * symlinks cannot hide a spool under the document root.  Returns 1 if so,
 * 0 if not, -1 when either cannot be resolved.
 */
int
spool_inside(const char *path, const char *dir)
{
	char	 rp[PATH_MAX], rd[PATH_MAX], head[PATH_MAX], *slash;
	size_t	 n;

	if (realpath(dir, rd) == NULL)
		return -1;
	/* A spool not made yet: resolve its nearest existing parent. */
	if (snprintf(head, sizeof(head), "%s", path) >= (int)sizeof(head))
		return -1;
	while (realpath(head, rp) == NULL) {
		if (errno != ENOENT || (slash = strrchr(head, '/')) == NULL ||
		    slash == head)
			return -1;
		*slash = '\0';
	}
	n = strlen(head);
	if (strlen(rp) + strlen(path + n) >= sizeof(rp))
		return -1;
	strcat(rp, path + n);
	n = strlen(rd);
	if (n == 1 && rd[0] == '/')
		return 1;
	return strncmp(rp, rd, n) == 0 && (rp[n] == '\0' || rp[n] == '/');
}

/*
 * Take the dispatch lock, waiting for it: dispatchers, counters and the
 * queue-full check run one at a time.  Returns its descriptor, or -1.
 */
int
spool_dispatch_lock(struct spool *sp)
{
	int	 fd, saved;

	if ((fd = openat(sp->dirfd, "dispatch.lock", O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		log_warn("spool: open %s/dispatch.lock", sp->path);
		return -1;
	}
	while (flock(fd, LOCK_EX) == -1) {
		if (errno == EINTR)
			continue;
		saved = errno;
		log_warn("spool: flock %s/dispatch.lock", sp->path);
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static void
spool_queue_name(char *out, size_t sz, unsigned long long key, const char *id)
{
	snprintf(out, sz, "%016llx-%s", key, id);
}

/*
 * Put job st in the queue as queue/KEY-ID, made durable.  A zero
 * st->queue_key becomes now in nanoseconds (the caller writes the status
 * after).  Returns 0, or -1 after logging.
 */
int
spool_queue_add(struct spool *sp, struct jobstatus *st)
{
	struct timespec	 ts;
	char		 name[SPOOLCGI_ID_LEN + 24];
	int		 fd;

	if (st->queue_key == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		st->queue_key = (unsigned long long)ts.tv_sec * 1000000000ULL +
		    (unsigned long long)ts.tv_nsec;
	}
	spool_queue_name(name, sizeof(name), st->queue_key, st->id);
	if ((fd = openat(sp->queuefd, name, O_WRONLY | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("spool: create queue/%s", name);
		return -1;
	}
	close(fd);
	if (fsync(sp->queuefd) == -1) {
		log_warn("spool: fsync queue/");
		return -1;
	}
	return 0;
}

/* Remove job st's queue entry.  Returns 0 (also when none), or -1. */
int
spool_queue_remove(struct spool *sp, const struct jobstatus *st)
{
	char	 name[SPOOLCGI_ID_LEN + 24];

	spool_queue_name(name, sizeof(name), st->queue_key, st->id);
	if (unlinkat(sp->queuefd, name, 0) == -1 && errno != ENOENT) {
		log_warn("spool: unlink queue/%s", name);
		return -1;
	}
	return 0;
}

static int
spool_qentry_cmp(const void *a, const void *b)
{
	const struct qentry *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->id, y->id);
}

/*
 * The queue, first in first out, in a new array (free it).  Reads only
 * queue/, never jobs/.  Returns 0, or -1 with errno set.
 */
int
spool_queue_list(struct spool *sp, struct qentry **out, size_t *n)
{
	struct qentry	*q = NULL, *p;
	struct dirent	*de;
	size_t		 cap = 0, len;
	DIR		*d;
	char		*end;
	int		 saved;

	*out = NULL;
	*n = 0;
	if ((d = spool_opendir(sp->queuefd, ".")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len != 17 + SPOOLCGI_ID_LEN || de->d_name[16] != '-' ||
		    !spool_id_check(de->d_name + 17, SPOOLCGI_ID_LEN))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((p = reallocarray(q, cap, sizeof(*q))) == NULL) {
				saved = errno;
				free(q);
				closedir(d);
				errno = saved;
				return -1;
			}
			q = p;
		}
		q[*n].key = strtoull(de->d_name, &end, 16);
		memcpy(q[*n].id, de->d_name + 17, SPOOLCGI_ID_LEN + 1);
		(*n)++;
	}
	closedir(d);
	if (*n > 1)
		qsort(q, *n, sizeof(*q), spool_qentry_cmp);
	*out = q;
	return 0;
}

/* Job st's 1-based place in the queue, or 0 when it is not queued. */
int
spool_queue_position(struct spool *sp, const struct jobstatus *st)
{
	struct qentry	*q;
	size_t		 n, i;
	int		 pos = 0;

	if (spool_queue_list(sp, &q, &n) == -1)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(q[i].id, st->id) == 0) {
			pos = (int)i + 1;
			break;
		}
	free(q);
	return pos;
}

/*
 * Take a free slot of class ("g" or "t.TASK") among max: flock on
 * slots/CLASS.N without waiting.  Returns the slot's descriptor (holding
 * the lock), or -1 with errno EWOULDBLOCK when all are busy.
 */
int
spool_slot_take(struct spool *sp, const char *class, int max)
{
	char	 name[SPOOLCGI_NAME_MAX + 32];
	int	 i, fd;

	for (i = 0; i < max; i++) {
		snprintf(name, sizeof(name), "%s.%d", class, i);
		if ((fd = openat(sp->slotsfd, name, O_RDWR | O_CREAT |
		    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
			log_warn("spool: open slots/%s", name);
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		close(fd);
	}
	errno = EWOULDBLOCK;
	return -1;
}

/*
 * How many of class's max slots are held.  Only under the dispatch lock:
 * the probe takes free slots for an instant.
 */
int
spool_slots_busy(struct spool *sp, const char *class, int max)
{
	char	 name[SPOOLCGI_NAME_MAX + 32];
	int	 i, fd, busy = 0;

	for (i = 0; i < max; i++) {
		snprintf(name, sizeof(name), "%s.%d", class, i);
		if ((fd = openat(sp->slotsfd, name, O_RDWR | O_NOFOLLOW |
		    O_CLOEXEC)) == -1)
			continue;	/* never used: free */
		if (flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK)
			busy++;
		close(fd);
	}
	return busy;
}

/* Ask the supervisor of running job id to stop it.  Returns 0, or -1. */
int
spool_cancel_request(struct spool *sp, const char *id)
{
	char	 path[SPOOLCGI_ID_LEN + 16];
	int	 fd;

	snprintf(path, sizeof(path), "%s/cancel", id);
	if ((fd = openat(sp->jobsfd, path, O_WRONLY | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return -1;
	return close(fd);
}

/* Has a cancel been asked for the job whose directory is dfd? */
int
spool_cancel_requested(int dfd)
{
	return faccessat(dfd, "cancel", F_OK, 0) == 0;
}

/*
 * Remove job id: renamed out of jobs/ first, so that it disappears at
 * once and whole, then deleted.  With tombstone, gone/ID is left so that
 * the id answers 410 for a while.  Returns 0, or -1 with errno set.
 */
int
spool_job_remove(struct spool *sp, const char *id, int tombstone)
{
	char		 tmp[SPOOLCGI_ID_LEN + 32];
	long long	 size;
	int		 fd, gfd;

	snprintf(tmp, sizeof(tmp), "%s.rm.%ld", id, (long)getpid());
	size = spool_du(sp->jobsfd, id);
	if (renameat(sp->jobsfd, id, sp->tmpfd, tmp) == -1)
		return -1;
	spool_usage_add(sp, -size, 0);
	if (tombstone) {
		if ((gfd = openat(sp->dirfd, "gone", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) != -1) {
			if ((fd = openat(gfd, id, O_WRONLY | O_CREAT |
			    O_NOFOLLOW | O_CLOEXEC, 0600)) != -1)
				close(fd);
			close(gfd);
		}
	}
	(void)fsync(sp->jobsfd);
	return spool_remove_tree(sp->tmpfd, tmp);
}

/* Is there a tombstone for id (it expired and was removed)? */
int
spool_gone(struct spool *sp, const char *id)
{
	char	 path[SPOOLCGI_ID_LEN + 8];

	snprintf(path, sizeof(path), "gone/%s", id);
	return faccessat(sp->dirfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Is the spool draining (the file "drain" exists)? */
int
spool_draining(struct spool *sp)
{
	return faccessat(sp->dirfd, "drain", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * Claim Idempotency-Key key (already checked: [A-Za-z0-9._:-], 1..128)
 * for job id with the given hash of its task and fields.  The key file is
 * written whole under a temporary name and linked into place, so a
 * racing claim sees either nothing or all of it.  Returns 0 when claimed,
 * 1 when the key is taken (its job and hash in oid and *ohash), -1 on
 * error.
 */
int
spool_key_claim(struct spool *sp, const char *key, const char *id,
    unsigned long long hash, char *oid, unsigned long long *ohash)
{
	char		 name[160], tmp[200], line[128];
	struct stat	 sb;
	ssize_t		 n;
	int		 kfd, fd, saved, tries;

	snprintf(name, sizeof(name), "k-%s", key);
	snprintf(tmp, sizeof(tmp), ".%s.%ld", id, (long)getpid());
	if ((kfd = openat(sp->dirfd, "keys", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return -1;
	n = snprintf(line, sizeof(line), "%s %016llx\n", id, hash);
	if (spool_file_create(kfd, tmp, line, (size_t)n) == -1)
		goto fail;
	for (tries = 0; tries < 3; tries++) {
		if (linkat(kfd, tmp, kfd, name, 0) == 0) {
			unlinkat(kfd, tmp, 0);
			(void)fsync(kfd);
			close(kfd);
			return 0;
		}
		if (errno != EEXIST)
			break;
		if ((fd = openat(kfd, name, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1)
			continue;	/* removed meanwhile: try again */
		n = read(fd, line, sizeof(line) - 1);
		close(fd);
		if (n < SPOOLCGI_ID_LEN + 2)
			break;
		line[n] = '\0';
		memcpy(oid, line, SPOOLCGI_ID_LEN);
		oid[SPOOLCGI_ID_LEN] = '\0';
		*ohash = strtoull(line + SPOOLCGI_ID_LEN + 1, NULL, 16);
		/* A key whose job is gone can be claimed again. */
		if (!spool_id_check(oid, SPOOLCGI_ID_LEN) ||
		    fstatat(sp->jobsfd, oid, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
			unlinkat(kfd, name, 0);
			continue;
		}
		unlinkat(kfd, tmp, 0);
		close(kfd);
		return 1;
	}
fail:
	saved = errno;
	unlinkat(kfd, tmp, 0);
	close(kfd);
	errno = saved;
	return -1;
}

/*
 * Is a clean-up due?  True when gc.stamp is older than interval seconds
 * (or missing).  The caller then claims it with gc.lock in spool_gc.
 */
int
spool_gc_due(struct spool *sp, long interval, time_t now)
{
	struct stat	 sb;

	if (fstatat(sp->dirfd, "gc.stamp", &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return 1;
	return now - sb.st_mtime >= interval;
}

/* Remove entries of directory name older than age seconds. */
static int
spool_gc_dir(struct spool *sp, const char *name, time_t now, long age,
    int (*keep)(struct spool *, const char *), int *count)
{
	struct dirent	*de;
	struct stat	 sb;
	DIR		*d;

	if ((d = spool_opendir(sp->dirfd, name)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb,
		    AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (now - sb.st_mtime < age)
			continue;
		if (keep != NULL && keep(sp, de->d_name))
			continue;
		if (spool_remove_tree(dirfd(d), de->d_name) == 0)
			(*count)++;
	}
	closedir(d);
	return 0;
}

/* Keep a key file while its job exists. */
static int
spool_gc_key_live(struct spool *sp, const char *name)
{
	char		 line[128];
	struct stat	 sb;
	ssize_t		 n;
	int		 kfd, fd;

	if (strncmp(name, "k-", 2) != 0)
		return 0;
	if ((kfd = openat(sp->dirfd, "keys", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return 1;
	fd = openat(kfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(kfd);
	if (fd == -1)
		return 0;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n < SPOOLCGI_ID_LEN)
		return 0;
	line[SPOOLCGI_ID_LEN] = '\0';
	return spool_id_check(line, SPOOLCGI_ID_LEN) &&
	    fstatat(sp->jobsfd, line, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Forget clients with no pending job and no start in the last minute. */
static void
spool_gc_clients(struct spool *sp, time_t now)
{
	struct dirent	*de, *e;
	struct stat	 sb;
	DIR		*d, *cd;
	int		 cfd, lfd, live;

	if ((d = spool_opendir(sp->dirfd, "clients")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((cfd = openat(dirfd(d), de->d_name, O_RDONLY |
		    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
			continue;
		if ((lfd = openat(cfd, "lock", O_RDWR | O_NOFOLLOW |
		    O_CLOEXEC)) == -1 || flock(lfd, LOCK_EX | LOCK_NB) == -1) {
			if (lfd != -1)
				close(lfd);
			close(cfd);
			continue;
		}
		live = fstatat(cfd, "rate", &sb, 0) == 0 &&
		    now - sb.st_mtime < 60;
		if ((cd = spool_opendir(cfd, ".")) != NULL) {
			while ((e = readdir(cd)) != NULL)
				if (spool_id_check(e->d_name,
				    strlen(e->d_name)) &&
				    fstatat(sp->jobsfd, e->d_name, &sb,
				    AT_SYMLINK_NOFOLLOW) == 0)
					live = 1;
			closedir(cd);
		}
		if (!live)
			spool_remove_tree(dirfd(d), de->d_name);
		close(lfd);
		close(cfd);
	}
	closedir(d);
}

/*
 * The clean-up: remove finished jobs older than keep_finished_seconds
 * (leaving tombstones), tombstones older than tombstone_seconds, staging
 * leftovers older than an hour, keys whose job is gone; settle jobs whose
 * supervisor died; give queued jobs that lost their queue entry (a crash
 * between the two writes) a new one.  This is the only place that reads
 * every job, and it runs outside any request, at most once per
 * gc_interval_seconds.  Returns 0, or -1 when another clean-up runs.
 */
int
spool_gc(struct spool *sp, const struct config *cfg, time_t now,
    struct gcstats *gs)
{
	struct jobstatus	 st;
	struct dirent		*de;
	struct timespec		 ts[2];
	DIR			*d;
	int			 lfd, sfd;
	char			 qname[SPOOLCGI_ID_LEN + 24];

	memset(gs, 0, sizeof(*gs));
	if ((lfd = openat(sp->dirfd, "gc.lock", O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return -1;
	if (flock(lfd, LOCK_EX | LOCK_NB) == -1) {
		close(lfd);
		return -1;
	}
	if ((sfd = openat(sp->dirfd, "gc.stamp", O_WRONLY | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) != -1) {
		ts[0].tv_sec = ts[1].tv_sec = now;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		(void)futimens(sfd, ts);
		close(sfd);
	}
	if ((d = spool_opendir(sp->jobsfd, ".")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (!spool_id_check(de->d_name, strlen(de->d_name)))
				continue;
			if (spool_job_check(sp, cfg, de->d_name, &st) == -1)
				continue;
			if (st.state == JOB_FAILED &&
			    strcmp(st.error_code, "interrupted") == 0 &&
			    st.finished_at >= now - 1)
				gs->settled++;
			if (st.state == JOB_QUEUED) {
				spool_queue_name(qname, sizeof(qname),
				    st.queue_key, st.id);
				if (faccessat(sp->queuefd, qname, F_OK,
				    AT_SYMLINK_NOFOLLOW) == -1 &&
				    errno == ENOENT) {
					/* Lost entry: queue it (again). */
					int dfd = spool_job_open(sp, st.id);
					int jl = dfd == -1 ? -1 :
					    spool_job_lock(dfd, 1);

					if (jl != -1 &&
					    spool_status_readat(dfd, &st) == 0 &&
					    st.state == JOB_QUEUED &&
					    spool_queue_add(sp, &st) == 0)
						(void)spool_status_write(dfd,
						    &st, 1);
					if (jl != -1)
						close(jl);
					if (dfd != -1)
						close(dfd);
				}
				continue;
			}
			if (!job_state_final(st.state) || st.finished_at == 0 ||
			    now - st.finished_at < cfg->keep_finished_seconds)
				continue;
			if (spool_job_remove(sp, st.id, 1) == 0)
				gs->expired++;
		}
		closedir(d);
	}
	spool_gc_dir(sp, "gone", now, cfg->tombstone_seconds, NULL,
	    &gs->tombstones);
	spool_gc_dir(sp, "tmp", now, 3600, NULL, &gs->temps);
	spool_gc_dir(sp, "keys", now, 60, spool_gc_key_live, &gs->keys);
	spool_gc_clients(sp, now);
	spool_usage_add(sp, spool_du(sp->dirfd, "."), 1);
	close(lfd);
	return 0;
}

/*
 * Bytes on disk under name in dfd (st_blocks, so sparse files count as
 * little as they use).  Symlinks are not followed.
 */
long long
spool_du(int dfd, const char *name)
{
	struct dirent	*de;
	struct stat	 sb;
	long long	 sum;
	DIR		*d;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	sum = (long long)sb.st_blocks * 512;
	if (!S_ISDIR(sb.st_mode))
		return sum;
	if ((d = spool_opendir(dfd, name)) == NULL)
		return sum;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			sum += spool_du(dirfd(d), de->d_name);
	closedir(d);
	return sum;
}

/* The spool's size as last recorded, or -1 when unknown. */
long long
spool_usage(struct spool *sp)
{
	char	 buf[32];
	ssize_t	 n;
	int	 fd;

	if ((fd = openat(sp->dirfd, "usage", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

/* Replace the usage file with v (temporary, rename), under its lock. */
static void
spool_usage_write(struct spool *sp, long long v)
{
	char	 buf[32], tmp[32];
	int	 n, fd, ok;

	/* No fsync: an estimate, which every clean-up measures anew. */
	n = snprintf(buf, sizeof(buf), "%lld\n", v < 0 ? 0 : v);
	snprintf(tmp, sizeof(tmp), "usage.%ld", (long)getpid());
	if ((fd = openat(sp->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		return;
	ok = spool_write_all(fd, buf, (size_t)n) == 0;
	if (close(fd) == -1 || !ok ||
	    renameat(sp->dirfd, tmp, sp->dirfd, "usage") == -1)
		unlinkat(sp->dirfd, tmp, 0);
}

/*
 * Add delta bytes to the recorded size of the spool (or set it, when
 * absolute).  Best effort: the clean-up measures it exactly.
 */
void
spool_usage_add(struct spool *sp, long long delta, int absolute)
{
	long long	 v;
	int		 lfd;

	if ((lfd = openat(sp->dirfd, "usage.lock", O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		return;
	if (flock(lfd, LOCK_EX) == 0) {
		v = absolute ? delta : spool_usage(sp);
		if (!absolute)
			v = (v < 0 ? 0 : v) + delta;
		spool_usage_write(sp, v);
	}
	close(lfd);
}

/* Open (creating) clients/ADDR and take its lock.  Returns the lock fd. */
static int
spool_client_lock(struct spool *sp, const char *addr, int *cfd)
{
	int	 clfd, fd;

	if ((clfd = openat(sp->dirfd, "clients", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return -1;
	if (spool_mkdirat(clfd, addr) == -1 ||
	    (*cfd = openat(clfd, addr, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		close(clfd);
		return -1;
	}
	close(clfd);
	if ((fd = openat(*cfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1 || flock(fd, LOCK_EX) == -1) {
		if (fd != -1)
			close(fd);
		close(*cfd);
		return -1;
	}
	return fd;
}

/*
 * Admit a start from client addr (a normalised IP address) under the
 * per-client limits: fewer than maxjobs pending jobs (0: no limit) and
 * fewer than perminute starts this minute (0: no limit).  On admission
 * the start is counted and the client stays locked until
 * spool_client_done; *lockfd and *dirfd receive the handles.  Returns 0
 * when admitted, 1 when over a limit (*retry: seconds to wait), -1 on
 * error.
 */
int
spool_client_admit(struct spool *sp, const char *addr, int maxjobs,
    int perminute, time_t now, int *retry, int *lockfd, int *cdirfd)
{
	struct jobstatus	 st;
	struct dirent		*de;
	char			 buf[64];
	long long		 start = 0, count = 0;
	ssize_t			 n;
	DIR			*d;
	int			 fd, cfd, lfd, pending = 0;

	*lockfd = *cdirfd = -1;
	if ((lfd = spool_client_lock(sp, addr, &cfd)) == -1)
		return -1;
	if (maxjobs > 0) {
		if ((d = spool_opendir(cfd, ".")) != NULL) {
			while ((de = readdir(d)) != NULL) {
				if (!spool_id_check(de->d_name,
				    strlen(de->d_name)))
					continue;
				/* Count what still waits or runs. */
				if (spool_status_read(sp, de->d_name, &st) ==
				    0 && !job_state_final(st.state))
					pending++;
				else
					unlinkat(dirfd(d), de->d_name, 0);
			}
			closedir(d);
		}
		if (pending >= maxjobs) {
			*retry = 30;
			goto over;
		}
	}
	if (perminute > 0) {
		if ((fd = openat(cfd, "rate", O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC)) != -1) {
			if ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
				buf[n] = '\0';
				if (sscanf(buf, "%lld %lld", &start, &count) !=
				    2)
					start = count = 0;
			}
			close(fd);
		}
		if (now - start >= 60 || now < start) {
			start = now;
			count = 0;
		}
		if (count >= perminute) {
			*retry = (int)(60 - (now - start));
			if (*retry < 1)
				*retry = 1;
			goto over;
		}
		n = snprintf(buf, sizeof(buf), "%lld %lld\n", start,
		    count + 1);
		unlinkat(cfd, "rate.tmp", 0);
		if (spool_file_create(cfd, "rate.tmp", buf, (size_t)n) == 0)
			(void)renameat(cfd, "rate.tmp", cfd, "rate");
	}
	*lockfd = lfd;
	*cdirfd = cfd;
	return 0;
over:
	close(lfd);
	close(cfd);
	return 1;
}

/* Record job id (or nothing: id NULL) for the admitted client; unlock. */
void
spool_client_done(int lockfd, int cdirfd, const char *id)
{
	int	 fd;

	if (cdirfd != -1 && id != NULL && (fd = openat(cdirfd, id, O_WRONLY |
	    O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) != -1)
		close(fd);
	if (cdirfd != -1)
		close(cdirfd);
	if (lockfd != -1)
		close(lockfd);
}
