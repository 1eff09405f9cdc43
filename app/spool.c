/*
 * The file spool: the first implementation of the store, and the only
 * file that knows paths, file names and the on-disk format.
 *
 * Layout, under the configured spool directory (0700, never under the web
 * server's document root):
 *
 *   jobs/ID/            one directory per job; ID is a lower-case UUIDv4
 *     input.json        the task's stdin: {"id","task","fields","files"};
 *                       written once, before the job becomes visible
 *     status.json       the job's state (struct jobstatus) as "key value"
 *                       lines; replaced whole by rename from
 *                       status.json.PID, never written in place
 *     lock              the supervisor holds flock(LOCK_EX) on it for its
 *                       whole life; the kernel drops it when the process
 *                       dies.  Anyone else changes the status only while
 *                       holding it (store_update)
 *     log               the task's stderr (all but "progress:" lines) and
 *                       the supervisor's own messages, appended
 *     result.tmp        the task's stdout while it runs; removed when the
 *                       job's run ends any other way than success
 *     result            renamed from result.tmp when the task succeeded
 *     work/             the task's working directory (uploads land here)
 *     reserve           16 KiB set aside at creation; removed before the
 *                       last write of a run, so that the final status fits
 *                       even on a full disk
 *     cancel            created by a request to cancel a running job; the
 *                       supervisor looks for it every tick
 *   tmp/ID/             a job being created; renamed to jobs/ID when whole;
 *   tmp/ID.rm.PID       or a removed job on its way out
 *   queue/KEY-ID        one empty file per queued job; KEY is 16 hex digits,
 *                       given under dispatch.lock as the larger of the
 *                       clock in nanoseconds and the last key plus one, so
 *                       names sort in the order jobs were accepted
 *   slots/g.N           global run slots, N < max_running; a supervisor
 *   slots/t.TASK.N      holds flock on one global slot (and one of its
 *                       task's, when the task has its own max_running) for
 *                       its whole life
 *   dispatch.lock       flock(LOCK_EX) while the queue is changed or read
 *                       for a decision: one dispatcher at a time
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
 *   boot                the boot id under which the spool was last
 *                       recovered (store_recovery_due)
 *   drain               if it exists, new jobs are refused (503)
 *
 * Creating a job (store_submit).  tmp/ID is built completely (input.json,
 * lock, reserve, status.json, uploads in work/; every file fsynced).  Then,
 * under dispatch.lock: the queue entry is created and queue/ fsynced, tmp/ID
 * is renamed to jobs/ID and jobs/ fsynced, the idempotency key is claimed.
 * Only then is the client answered, so a job answered with an id survives
 * any crash.  A crash before the rename leaves an entry without a job (a
 * dispatcher drops it) and a staging directory (the clean-up removes it
 * after an hour); after it, a queued job with its entry.  Nobody sees the
 * steps in between: every reader of the queue takes dispatch.lock.
 *
 * Readers.  status.json is always a whole file.  A state of "running" is
 * a claim; the lock is the proof.  A reader that finds "running" and can
 * take the lock itself has found a job whose supervisor died; it rereads
 * the status under the lock, and the state machine decides what the job
 * becomes (store_update).  The result is complete once "result" exists
 * and the state is "succeeded".
 *
 * Dispatch reads queue/ (only the waiting jobs, at most max_queued) and
 * tries flock on at most max_running slot files; it never lists jobs/.
 * Whether a job runs is known from the locks the kernel keeps, so a
 * supervisor killed with -9 frees its slot at once, and no count can
 * drift.  A job runs at most once: a supervisor starts a job only while
 * holding the job's lock and only if its status still says "queued".
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/inotify.h>
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

#include "extern.h"

#define SPOOL_STATUS		"status.json"

/* Room for the final status and its temporary, on a full disk. */
static const char	 spool_reserve_bytes[16384];
#define SPOOL_STATUS_MAX	16384

struct store {
	int		 dirfd;		/* the spool directory */
	int		 jobsfd;	/* spool/jobs */
	int		 tmpfd;		/* spool/tmp: staging */
	int		 queuefd;	/* spool/queue */
	int		 slotsfd;	/* spool/slots */
	char		*path;
	int		 recovery;	/* -1 unknown, 0 done, 1 due */
	char		 boot[40];	/* this boot's id, "" when unknown */
};

static DIR	*spool_opendir(int, const char *);
static int	 spool_remove_tree(int, const char *);
static long long spool_du(int, const char *);
static int	 spool_task_open(int, struct taskfds *);
static int	 spool_input_read(int, struct buf *);
static int	 spool_result_commit(int, int);
static int	 spool_log_tail(int, char *, size_t, int);
static void	 spool_usage_set(struct store *, long long);

/*
 * Open directory name under dfd, creating it when missing (no mkdir
 * when it exists: this runs in every process that opens the store).
 * Returns the descriptor, or -1 with errno set.
 */
static int
spool_subdir(int dfd, const char *name)
{
	int	 fd;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		if (mkdirat(dfd, name, 0700) == -1 && errno != EEXIST)
			return -1;
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	}
	return fd;
}

/*
 * Open (creating what is missing) the spool at path, which must be
 * absolute.  The descriptors are close-on-exec.  Returns the store, or
 * NULL after logging what failed.
 */
struct store *
store_open(const char *path)
{
	static const char *const dirs[] = { "gone", "keys", "clients" };
	struct store	*sp;
	size_t		 i;
	int		 fd;

	if ((sp = calloc(1, sizeof(*sp))) == NULL) {
		log_warn("spool: calloc");
		return NULL;
	}
	sp->dirfd = sp->jobsfd = sp->tmpfd = sp->queuefd = sp->slotsfd = -1;
	sp->recovery = -1;
	if ((sp->path = strdup(path)) == NULL) {
		log_warn("spool: strdup");
		goto fail;
	}
	if ((sp->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 && errno == ENOENT) {
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			log_warn("spool: mkdir %s", path);
			goto fail;
		}
		sp->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (sp->dirfd == -1) {
		log_warn("spool: open %s", path);
		goto fail;
	}
	if ((sp->jobsfd = spool_subdir(sp->dirfd, "jobs")) == -1 ||
	    (sp->tmpfd = spool_subdir(sp->dirfd, "tmp")) == -1 ||
	    (sp->queuefd = spool_subdir(sp->dirfd, "queue")) == -1 ||
	    (sp->slotsfd = spool_subdir(sp->dirfd, "slots")) == -1) {
		log_warn("spool: open a directory under %s", path);
		goto fail;
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if ((fd = spool_subdir(sp->dirfd, dirs[i])) == -1) {
			log_warn("spool: open %s/%s", path, dirs[i]);
			goto fail;
		}
		close(fd);
	}
	return sp;
fail:
	store_close(sp);
	return NULL;
}

void
store_close(struct store *sp)
{
	if (sp == NULL)
		return;
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
	free(sp);
}

const char *
store_path(const struct store *sp)
{
	return sp->path;
}

/*
 * What would make jobs vanish or never start: a spool this user cannot
 * write, or a file system without flock (a network file system): the
 * lock is how a job is known to run.  Returns 0, or -1 with *what saying
 * which (logged by the caller with the configuration's name).
 */
int
store_selftest(struct store *sp, const char **what)
{
	int	 fd;

	if (faccessat(sp->dirfd, ".", W_OK, AT_EACCESS) == -1 ||
	    faccessat(sp->jobsfd, ".", W_OK, AT_EACCESS) == -1) {
		*what = "writable";
		return -1;
	}
	if ((fd = openat(sp->dirfd, "dispatch.lock", O_RDWR | O_CREAT |
	    O_CLOEXEC, 0600)) == -1) {
		*what = "writable";
		return -1;
	}
	if (flock(fd, LOCK_SH) == -1) {
		*what = "flock";
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
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
	buf_printf(out, "attempts %d\n", st->attempts);
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
			    !job_id_check(v, vlen))
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
 * crash; a failure of that last sync is logged, and the write counts as
 * made, since every reader sees it.  Returns 0, or -1 with errno set.
 */
static int
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
		log_warn("spool: fsync a job's directory after %s",
		    SPOOL_STATUS);
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
static int
spool_status_readat(int dfd, struct jobstatus *st)
{
	int	 fd;

	if ((fd = openat(dfd, SPOOL_STATUS, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	return spool_status_fd(fd, st);
}

/*
 * Take the job's lock: exclusive, and without waiting when nonblock.
 * Returns the lock's descriptor (close it to release), or -1 with errno
 * set (EWOULDBLOCK: somebody holds it).
 */
static int
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
static int
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

/* Is there a tombstone for id (it expired and was removed)? */
static int
spool_gone(struct store *sp, const char *id)
{
	char	 path[SPOOLCGI_ID_LEN + 8];

	snprintf(path, sizeof(path), "gone/%s", id);
	return faccessat(sp->dirfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * The status of a job whose status.json a crash took (it is written
 * unsynced at creation): the job exists, with its input, so it is
 * queued, as it was when created; input.json names its task and its
 * mtime is the creation time.  Returns 0, or -1 with errno ENOENT.
 */
static int
spool_status_rebuild(struct store *sp, const char *id, struct jobstatus *st)
{
	char		 path[SPOOLCGI_ID_LEN + 16], buf[512], *p, *q;
	struct stat	 sb;
	ssize_t		 n;
	int		 fd;

	snprintf(path, sizeof(path), "%s/input.json", id);
	if ((fd = openat(sp->jobsfd, path, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		errno = ENOENT;
		return -1;
	}
	n = fstat(fd, &sb) == 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	close(fd);
	/* {"id":"ID","task":"NAME",...: written by us, names are tame. */
	if (n <= 0 || (buf[n] = '\0', p = strstr(buf, "\"task\":\"")) == NULL ||
	    (q = strchr(p + 8, '"')) == NULL ||
	    (size_t)(q - (p + 8)) >= sizeof(st->task)) {
		errno = ENOENT;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	memcpy(st->id, id, SPOOLCGI_ID_LEN);
	memcpy(st->task, p + 8, (size_t)(q - (p + 8)));
	st->state = JOB_QUEUED;
	st->progress = -1;
	st->created_at = sb.st_mtime;
	log_warnx("spool: jobs/%s had lost its status (a crash?): queued, "
	    "as created", id);
	return 0;
}

/*
 * Read the status of job id (checked by job_id_check).  Returns STORE_OK,
 * STORE_NOENT, STORE_GONE, or STORE_ERR (logged).
 */
int
store_read(struct store *sp, const char *id, struct jobstatus *st)
{
	char	 path[SPOOLCGI_ID_LEN + sizeof(SPOOL_STATUS) + 2];
	int	 fd;

	/* One openat from the jobs directory: the poll path stays cheap. */
	memcpy(path, id, SPOOLCGI_ID_LEN);
	path[SPOOLCGI_ID_LEN] = '/';
	memcpy(path + SPOOLCGI_ID_LEN + 1, SPOOL_STATUS, sizeof(SPOOL_STATUS));
	if ((fd = openat(sp->jobsfd, path, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT && spool_status_rebuild(sp, id, st) == 0)
			return STORE_OK;
		if (errno == ENOENT || errno == ENOTDIR)
			return spool_gone(sp, id) ? STORE_GONE : STORE_NOENT;
		log_warn("spool: open jobs/%s", path);
		return STORE_ERR;
	}
	if (spool_status_fd(fd, st) == -1) {
		if (errno == EINVAL && spool_status_rebuild(sp, id, st) == 0)
			return STORE_OK;
		log_warn("spool: read jobs/%s", path);
		return STORE_ERR;
	}
	return STORE_OK;
}

/* Remove what a run of the job in dfd leaves: its temporaries. */
static void
spool_run_leftovers(int dfd, int final)
{
	struct dirent	*de;
	DIR		*d;

	(void)unlinkat(dfd, "result.tmp", 0);
	if (final)
		(void)unlinkat(dfd, "reserve", 0);
	/* status.json.PID of a writer that died before its rename. */
	if ((d = spool_opendir(dfd, ".")) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, SPOOL_STATUS ".",
		    sizeof(SPOOL_STATUS)) == 0)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

static int	spool_queue_add(struct store *, const char *);
static int	spool_queue_remove_id(struct store *, const char *);

/*
 * The one read-modify-write of a job by anyone but its supervisor: take
 * the job's lock without waiting, reread the status, let change decide,
 * write the result durably, and keep the queue consistent (an entry made
 * before the status says queued, removed after it says anything else).
 * out receives the status as it stands.  Returns STORE_OK, STORE_BUSY
 * (the lock is held: a supervisor lives), STORE_NOENT, or STORE_ERR
 * (logged).  A change that was renamed into place but whose directory
 * could not be synced counts as made: it is what every reader sees.
 */
int
store_update(struct store *sp, const char *id, store_change_fn change,
    void *arg, struct jobstatus *out)
{
	struct jobstatus	 st;
	enum job_state		 old;
	int			 dfd, lfd, rc = STORE_ERR;

	if ((dfd = openat(sp->jobsfd, id, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return STORE_NOENT;
		log_warn("spool: open jobs/%s", id);
		return STORE_ERR;
	}
	if ((lfd = spool_job_lock(dfd, 1)) == -1) {
		if (errno == EWOULDBLOCK)
			rc = STORE_BUSY;
		else
			log_warn("spool: lock jobs/%s/lock", id);
		close(dfd);
		return rc;
	}
	if (spool_status_readat(dfd, &st) == -1) {
		log_warn("spool: read jobs/%s/%s", id, SPOOL_STATUS);
		goto done;
	}
	old = st.state;
	if (change(&st, arg)) {
		if (st.state == JOB_QUEUED && old != JOB_QUEUED &&
		    spool_queue_add(sp, id) == -1)
			goto done;
		if (spool_status_write(dfd, &st, 1) == -1) {
			log_warn("spool: write jobs/%s/%s", id, SPOOL_STATUS);
			goto done;
		}
		if (old == JOB_QUEUED && st.state != JOB_QUEUED)
			(void)spool_queue_remove_id(sp, id);
		if (old == JOB_RUNNING && st.state != JOB_RUNNING)
			spool_run_leftovers(dfd, job_state_final(st.state));
	}
	*out = st;
	rc = STORE_OK;
done:
	close(lfd);
	close(dfd);
	return rc;
}

/*
 * Begin job id in tmp/ID, with its work/ directory, where uploads are
 * streamed before the job exists.  Returns a descriptor of work/ (the
 * caller closes it), or -1 (logged); nothing is left on failure.
 */
int
store_stage(struct store *sp, const char *id)
{
	int	 dfd, wfd = -1, saved;

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
store_abort(struct store *sp, const char *id)
{
	if (spool_remove_tree(sp->tmpfd, id) == -1)
		log_warn("spool: remove tmp/%s", id);
}

/* Create name in dfd, empty, with size bytes allocated to it. */
static int
spool_file_reserve(int dfd, const char *name, off_t size)
{
	int	 fd, saved;

	if ((fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return -1;
	if (size > 0 && posix_fallocate(fd, 0, size) != 0 &&
	    spool_write_all(fd, spool_reserve_bytes, (size_t)size) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/*
 * Complete staged job st->id with three files and one sync beyond
 * input.json's own: what must survive a crash is the input (synced) and
 * the names (the directory, synced).  The lock and the reserve only need
 * to exist.  status.json is not synced: a job directory whose status was
 * lost to a crash reads as queued, rebuilt from input.json (store_read).
 */
static int
spool_prepare(struct store *sp, const struct jobstatus *st,
    const char *input, size_t len)
{
	int	 dfd, saved;

	/* Uploads in work/ were fsynced, with work/, by their writer. */
	if ((dfd = openat(sp->tmpfd, st->id, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		log_warn("spool: open tmp/%s", st->id);
		return -1;
	}
	if (spool_file_create(dfd, "input.json", input, len) == -1 ||
	    spool_file_reserve(dfd, "lock", 0) == -1 ||
	    spool_file_reserve(dfd, "reserve",
	    (off_t)sizeof(spool_reserve_bytes)) == -1 ||
	    spool_status_write(dfd, st, 0) == -1 || fsync(dfd) == -1) {
		saved = errno;
		log_warn("spool: write tmp/%s", st->id);
		close(dfd);
		errno = saved;
		return -1;
	}
	close(dfd);
	return 0;
}

static int	spool_key_claim(struct store *, const char *, const char *,
		    unsigned long long, char *, unsigned long long *);
static int	spool_queue_key(struct store *, unsigned long long *, size_t *);
static int	spool_queue_create(struct store *, unsigned long long,
		    const char *);
static void	spool_unpublish(struct store *, unsigned long long, const char *,
		    int);
static int	spool_withdraw(struct store *, const char *);

/*
 * Create staged job st (state queued) with the task's stdin in input and
 * queue it, as one step: nobody sees the job without its queue entry.
 * Unless the queue holds maxq jobs; with a key, unless the key belongs
 * to another job (its id in oid, its hash in *ohash).  The staging is
 * used up whatever happens.  Returns STORE_OK, STORE_FULL, STORE_TAKEN,
 * or STORE_ERR (logged; errno ENOSPC or EDQUOT for a full disk).
 */
int
store_submit(struct store *sp, const struct jobstatus *st, const char *input,
    size_t len, int maxq, const char *key, unsigned long long hash,
    char *oid, unsigned long long *ohash)
{
	unsigned long long	 qkey;
	size_t			 n;
	int			 lfd, rc, saved;

	if (spool_prepare(sp, st, input, len) == -1) {
		saved = errno;
		store_abort(sp, st->id);
		errno = saved;
		return STORE_ERR;
	}
	if ((lfd = store_queue_lock(sp)) == -1)
		goto fail;
	if (spool_queue_key(sp, &qkey, &n) == -1) {
		log_warn("spool: list %s/queue", sp->path);
		goto unlock;
	}
	if (n >= (size_t)maxq) {
		store_unlock(lfd);
		store_abort(sp, st->id);
		return STORE_FULL;
	}
	/* The entry first: a crash then leaves an entry with no job. */
	if (spool_queue_create(sp, qkey, st->id) == -1)
		goto unlock;
	if (renameat(sp->tmpfd, st->id, sp->jobsfd, st->id) == -1) {
		log_warn("spool: rename tmp/%s to jobs/%s", st->id, st->id);
		spool_unpublish(sp, qkey, st->id, 0);
		goto unlock;
	}
	if (key != NULL && *key != '\0') {
		/* Claimed once the job exists: a repeat finds a job. */
		rc = spool_key_claim(sp, key, st->id, hash, oid, ohash);
		if (rc != 0) {
			spool_unpublish(sp, qkey, st->id, 1);
			store_unlock(lfd);
			return rc == 1 ? STORE_TAKEN : STORE_ERR;
		}
	}
	store_unlock(lfd);
	/*
	 * Outside the lock: others queue while this start syncs.  A failed
	 * sync is said, but the job is in place (others may run it now).
	 */
	if (fsync(sp->jobsfd) == -1)
		log_warn("spool: fsync %s/jobs after %s", sp->path, st->id);
	return STORE_OK;
unlock:
	saved = errno;
	store_unlock(lfd);
	errno = saved;
fail:
	saved = errno;
	store_abort(sp, st->id);
	errno = saved;
	return STORE_ERR;
}

/*
 * Take job id out of jobs/: renamed away first, so that it disappears at
 * once and whole, then deleted.  Returns 0, or -1 (logged).
 */
static int
spool_withdraw(struct store *sp, const char *id)
{
	char	 tmp[SPOOLCGI_ID_LEN + 32];

	snprintf(tmp, sizeof(tmp), "%s.rm.%ld", id, (long)getpid());
	if (renameat(sp->jobsfd, id, sp->tmpfd, tmp) == -1) {
		log_warn("spool: rename jobs/%s to tmp/%s", id, tmp);
		return -1;
	}
	if (fsync(sp->jobsfd) == -1)
		log_warn("spool: fsync %s/jobs after removing %s", sp->path,
		    id);
	if (spool_remove_tree(sp->tmpfd, tmp) == -1)
		log_warn("spool: remove tmp/%s (the clean-up will)", tmp);
	return 0;
}

/*
 * Remove job id and its files, and take its size off the usage.  With
 * tombstone, gone/ID is left so that the id answers 410 for a while.
 * Returns 0, or -1 (logged).
 */
int
store_remove(struct store *sp, const char *id, int tombstone)
{
	long long	 size;
	int		 fd, gfd;

	size = spool_du(sp->jobsfd, id);
	if (spool_withdraw(sp, id) == -1)
		return -1;
	store_usage_add(sp, -size);
	if (tombstone) {
		if ((gfd = openat(sp->dirfd, "gone", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1 || (fd = openat(gfd, id, O_WRONLY |
		    O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
			log_warn("spool: create gone/%s", id);
		else
			close(fd);
		if (gfd != -1)
			close(gfd);
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
store_queue_list(struct store *sp, struct qentry **out, size_t *n)
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
		    !job_id_check(de->d_name + 17, SPOOLCGI_ID_LEN))
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

/*
 * Take the queue's lock, waiting for it: whoever changes the queue or
 * decides from it (dispatch, a start, /health) does so alone.  Returns
 * its descriptor, or -1 (logged).
 */
int
store_queue_lock(struct store *sp)
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

/* Release a lock of the store (queue, clean-up): close its descriptor. */
void
store_unlock(int fd)
{
	if (fd != -1)
		close(fd);
}

static void
spool_queue_name(char *out, size_t sz, unsigned long long key, const char *id)
{
	snprintf(out, sz, "%016llx-%s", key, id);
}

/*
 * Under the queue's lock: how many entries there are, and the key the
 * next one gets: the clock in nanoseconds, or the last key plus one when
 * the clock is behind it, so that FIFO order is the order in which jobs
 * were accepted.  Returns 0, or -1 with errno set.
 */
static int
spool_queue_key(struct store *sp, unsigned long long *key, size_t *n)
{
	struct qentry	*q;
	struct timespec	 ts;

	if (store_queue_list(sp, &q, n) == -1)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	*key = (unsigned long long)ts.tv_sec * 1000000000ULL +
	    (unsigned long long)ts.tv_nsec;
	if (*n > 0 && q[*n - 1].key >= *key)
		*key = q[*n - 1].key + 1;
	free(q);
	return 0;
}

/*
 * Create queue/KEY-ID.  Not synced: an entry lost to a power cut is
 * made again by the recovery that follows every boot (store_recovery_due).
 * Returns 0, or -1 (logged).
 */
static int
spool_queue_create(struct store *sp, unsigned long long key, const char *id)
{
	char	 name[SPOOLCGI_ID_LEN + 24];
	int	 fd;

	spool_queue_name(name, sizeof(name), key, id);
	if ((fd = openat(sp->queuefd, name, O_WRONLY | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("spool: create queue/%s", name);
		return -1;
	}
	return close(fd);
}

/*
 * Undo a submit: the entry, and the job when it was published (its
 * size was never counted in the usage, so it is not taken off either).
 */
static void
spool_unpublish(struct store *sp, unsigned long long key, const char *id,
    int published)
{
	char	 name[SPOOLCGI_ID_LEN + 24];
	int	 saved = errno;

	if (published && spool_withdraw(sp, id) == -1)
		log_warnx("spool: job %s could not be withdrawn", id);
	spool_queue_name(name, sizeof(name), key, id);
	if (unlinkat(sp->queuefd, name, 0) == -1 && errno != ENOENT)
		log_warn("spool: unlink queue/%s", name);
	errno = saved;
}

/* Queue job id with a new entry, under the queue's lock.  Returns 0/-1. */
static int
spool_queue_add(struct store *sp, const char *id)
{
	unsigned long long	 key;
	size_t			 n;
	int			 lfd, rc = -1;

	if ((lfd = store_queue_lock(sp)) == -1)
		return -1;
	if (spool_queue_key(sp, &key, &n) == -1)
		log_warn("spool: list %s/queue", sp->path);
	else
		rc = spool_queue_create(sp, key, id);
	store_unlock(lfd);
	return rc;
}

/* Remove every entry of job id.  Returns 0, or -1 (logged). */
static int
spool_queue_remove_id(struct store *sp, const char *id)
{
	struct qentry	*q;
	size_t		 n, i;
	int		 rc = 0;

	if (store_queue_list(sp, &q, &n) == -1) {
		log_warn("spool: list %s/queue", sp->path);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (strcmp(q[i].id, id) == 0 && store_queue_drop(sp, &q[i]) ==
		    -1)
			rc = -1;
	free(q);
	return rc;
}

/*
 * Remove queue entry q whose job was not found: under the queue's lock,
 * so that it is never the entry of a job being published right now (a
 * start makes the entry, then renames the job into place, under that
 * lock).  Returns 0, or -1 (logged).
 */
int
store_queue_drop_orphan(struct store *sp, const struct qentry *q)
{
	struct stat	 sb;
	int		 lfd, rc = 0;

	if ((lfd = store_queue_lock(sp)) == -1)
		return -1;
	if (fstatat(sp->jobsfd, q->id, &sb, AT_SYMLINK_NOFOLLOW) == -1 &&
	    errno == ENOENT)
		rc = store_queue_drop(sp, q);
	store_unlock(lfd);
	return rc;
}

/* Remove queue entry q.  Returns 0 (also when it was gone), or -1. */
int
store_queue_drop(struct store *sp, const struct qentry *q)
{
	char	 name[SPOOLCGI_ID_LEN + 24];

	spool_queue_name(name, sizeof(name), q->key, q->id);
	if (unlinkat(sp->queuefd, name, 0) == -1 && errno != ENOENT) {
		log_warn("spool: unlink queue/%s", name);
		return -1;
	}
	return 0;
}

/* Job id's 1-based place in the queue, or 0 when it has no entry. */
int
store_queue_position(struct store *sp, const char *id)
{
	struct qentry	*q;
	size_t		 n, i;
	int		 pos = 0;

	if (store_queue_list(sp, &q, &n) == -1) {
		log_warn("spool: list %s/queue", sp->path);
		return 0;
	}
	for (i = 0; i < n; i++)
		if (strcmp(q[i].id, id) == 0) {
			pos = (int)i + 1;
			break;
		}
	free(q);
	return pos;
}

/*
 * Give queued job id a queue entry if it has none (it lost it to a crash
 * or a failed write), under the queue's lock and the job's.  Returns 1
 * when an entry was made, 0 when none was needed (or the job is busy or
 * gone), -1 (logged).
 */
int
store_queue_readd(struct store *sp, const char *id)
{
	struct jobstatus	 st;
	unsigned long long	 key;
	size_t			 n;
	int			 qfd, dfd, jl, rc = 0;

	if ((qfd = store_queue_lock(sp)) == -1)
		return -1;
	if (store_queue_position(sp, id) > 0)
		goto done;
	if ((dfd = openat(sp->jobsfd, id, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		goto done;
	if ((jl = spool_job_lock(dfd, 1)) != -1) {
		if (spool_status_readat(dfd, &st) == 0 &&
		    st.state == JOB_QUEUED) {
			if (spool_queue_key(sp, &key, &n) == -1 ||
			    spool_queue_create(sp, key, id) == -1)
				rc = -1;
			else
				rc = 1;
		}
		close(jl);
	}
	close(dfd);
done:
	store_unlock(qfd);
	return rc;
}

/*
 * Count queued and running jobs for /health: queue entries and held
 * global slots of max, so the cost is that of a dispatch, whatever the
 * spool holds.  Returns 0, or -1 (logged).
 */
int
store_counts(struct store *sp, int max, int *queued, int *running)
{
	struct qentry	*q = NULL;
	size_t		 n = 0;
	int		 lfd;

	*queued = *running = 0;
	if ((lfd = store_queue_lock(sp)) == -1)
		return -1;
	if (store_queue_list(sp, &q, &n) == -1) {
		log_warn("spool: list %s/queue", sp->path);
		store_unlock(lfd);
		return -1;
	}
	free(q);
	*queued = (int)n;
	*running = store_slots_busy(sp, "g", max);
	store_unlock(lfd);
	return 0;
}

/*
 * Take a free slot of class ("g" or "t.TASK") among max: flock on
 * slots/CLASS.N without waiting.  Returns the slot's descriptor (holding
 * the lock), or -1 with errno EWOULDBLOCK when all are busy.
 */
int
store_slot_take(struct store *sp, const char *class, int max)
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
store_slots_busy(struct store *sp, const char *class, int max)
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

/*
 * Take job id's lock without waiting, for a dispatcher that hands it to
 * the job's supervisor (store_claim).  Returns the lock's descriptor, or
 * -1 with errno EWOULDBLOCK (somebody holds it) or ENOENT (no such job);
 * other faults are logged.
 */
int
store_job_lock(struct store *sp, const char *id)
{
	char	 path[SPOOLCGI_ID_LEN + 8];
	int	 fd, saved;

	snprintf(path, sizeof(path), "%s/lock", id);
	if ((fd = openat(sp->jobsfd, path, O_RDWR | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno != ENOENT && errno != ENOTDIR)
			log_warn("spool: open jobs/%s", path);
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EINTR)
			continue;
		saved = errno;
		if (saved != EWOULDBLOCK)
			log_warn("spool: flock jobs/%s", path);
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * Take job id for its supervisor: its lock (lockfd, when the dispatcher
 * took it already, or taken here when -1), held until store_run_release
 * and by the kernel until the process dies, and its status in run->st.
 * Returns STORE_OK, STORE_BUSY (another process holds it), STORE_NOENT,
 * or STORE_ERR (logged).
 */
int
store_claim(struct store *sp, const char *id, int lockfd, struct run *run)
{
	memset(run, 0, sizeof(*run));
	run->store = sp;
	run->lockfd = lockfd;
	if ((run->dirfd = openat(sp->jobsfd, id, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return STORE_NOENT;
		log_warn("spool: open jobs/%s", id);
		return STORE_ERR;
	}
	if (lockfd == -1 &&
	    (run->lockfd = spool_job_lock(run->dirfd, 1)) == -1) {
		int busy = errno == EWOULDBLOCK;

		if (!busy)
			log_warn("spool: lock jobs/%s/lock", id);
		close(run->dirfd);
		run->dirfd = -1;
		return busy ? STORE_BUSY : STORE_ERR;
	}
	if (spool_status_readat(run->dirfd, &run->st) == -1) {
		log_warn("spool: read jobs/%s/%s", id, SPOOL_STATUS);
		store_run_release(run);
		return STORE_ERR;
	}
	return STORE_OK;
}

/* Let go of a claimed job: its lock and its directory. */
void
store_run_release(struct run *run)
{
	if (run->lockfd != -1)
		close(run->lockfd);
	if (run->dirfd != -1)
		close(run->dirfd);
	run->lockfd = run->dirfd = -1;
}

/*
 * Make run->st, written before without a sync, durable: the status file
 * and the directory.  Returns 0, or -1 (logged).
 */
int
store_run_sync(struct run *run)
{
	int	 fd, rc;

	if ((fd = openat(run->dirfd, SPOOL_STATUS, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		log_warn("spool: open jobs/%s/%s", run->st.id, SPOOL_STATUS);
		return -1;
	}
	rc = fsync(fd);
	close(fd);
	if (rc == -1 || fsync(run->dirfd) == -1) {
		log_warn("spool: fsync jobs/%s/%s", run->st.id, SPOOL_STATUS);
		return -1;
	}
	return 0;
}

/*
 * Write run->st, durably or not (progress: a lost update costs nothing,
 * the lock tells the truth about the process).  Returns 0, or -1 (logged).
 */
int
store_run_write(struct run *run, int durable)
{
	if (spool_status_write(run->dirfd, &run->st, durable) == -1) {
		log_warn("spool: write jobs/%s/%s", run->st.id, SPOOL_STATUS);
		return -1;
	}
	return 0;
}

/*
 * Open what the supervisor hands its task: input.json for stdin, a fresh
 * result.tmp for stdout, the log (appended) and work/.  All close-on-exec
 * and above 2.  Returns 0, or -1 (logged) with nothing left open.
 */
int
store_run_files(struct run *run, struct taskfds *t)
{
	if (spool_task_open(run->dirfd, t) == -1) {
		log_warn("spool: open the files of jobs/%s", run->st.id);
		return -1;
	}
	if ((t->in = proc_fd_high(t->in)) == -1 ||
	    (t->out = proc_fd_high(t->out)) == -1 ||
	    (t->log = proc_fd_high(t->log)) == -1 ||
	    (t->work = proc_fd_high(t->work)) == -1) {
		log_warn("spool: fcntl F_DUPFD");
		return -1;
	}
	return 0;
}

/* Read input.json whole into b.  Returns 0, or -1 (logged). */
int
store_run_input(struct run *run, struct buf *b)
{
	if (spool_input_read(run->dirfd, b) == -1) {
		log_warn("spool: read jobs/%s/input.json", run->st.id);
		return -1;
	}
	return 0;
}

/* The task's working directory, for SPOOLCGI_JOB_DIR.  Returns 0 or -1. */
int
store_run_workdir(struct run *run, char *out, size_t sz)
{
	int	 n;

	n = snprintf(out, sz, "%s/jobs/%s/work", run->store->path,
	    run->st.id);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/*
 * Make the task's stdout (outfd, result.tmp) the job's result: fsync and
 * rename to result; the final status, written durably next, syncs the
 * directory for both names.  Returns 0, or -1 (logged).
 */
int
store_run_commit(struct run *run, int outfd)
{
	if (spool_result_commit(run->dirfd, outfd) == -1) {
		log_warn("spool: commit jobs/%s/result", run->st.id);
		return -1;
	}
	return 0;
}

/* The last nlines lines of the job's log.  Returns 0, or -1 (logged). */
int
store_run_log_tail(struct run *run, char *out, size_t sz, int nlines)
{
	if (spool_log_tail(run->dirfd, out, sz, nlines) == -1) {
		log_warn("spool: read jobs/%s/log", run->st.id);
		return -1;
	}
	return 0;
}

/* Has a cancel been asked for the claimed job? */
int
store_run_cancelled(struct run *run)
{
	return faccessat(run->dirfd, "cancel", F_OK, 0) == 0;
}

/*
 * A descriptor that becomes readable when something is created in the
 * claimed job's directory (a cancel request, above all), non-blocking,
 * or -1 where inotify is not available (the supervisor then looks each
 * tick).
 */
int
store_run_watch(struct run *run)
{
	char	 path[PATH_MAX];
	int	 fd;

	if ((fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/jobs/%s", run->store->path,
	    run->st.id);
	if (inotify_add_watch(fd, path, IN_CREATE) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Bytes the claimed job takes on disk. */
long long
store_run_size(struct run *run)
{
	return spool_du(run->dirfd, ".");
}

/*
 * Before the last write of a run: the reserve makes room for the final
 * status on a full disk, and the output of a task that did not succeed
 * is no result.
 */
void
store_run_settle(struct run *run)
{
	spool_run_leftovers(run->dirfd, 1);
}

/* Ask the supervisor of job id to stop it.  Returns 0, or -1 (logged). */
int
store_cancel_request(struct store *sp, const char *id)
{
	char	 path[SPOOLCGI_ID_LEN + 16];
	int	 fd;

	snprintf(path, sizeof(path), "%s/cancel", id);
	if ((fd = openat(sp->jobsfd, path, O_WRONLY | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("spool: create jobs/%s", path);
		return -1;
	}
	return close(fd);
}

/*
 * Open job id's result for reading; sb receives its fstat.  Returns the
 * descriptor, or -1 with errno set (ENOENT: no result; logged otherwise).
 */
int
store_result_open(struct store *sp, const char *id, struct stat *sb)
{
	char	 path[SPOOLCGI_ID_LEN + 16];
	int	 fd, saved;

	snprintf(path, sizeof(path), "%s/result", id);
	if ((fd = openat(sp->jobsfd, path, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("spool: open jobs/%s", path);
		return -1;
	}
	if (fstat(fd, sb) == -1) {
		saved = errno;
		log_warn("spool: fstat jobs/%s", path);
		close(fd);
		errno = saved;
		return -1;
	}
	if (!S_ISREG(sb->st_mode)) {
		log_warnx("spool: jobs/%s is not a regular file", path);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/*
 * A descriptor that becomes readable when job id's status is replaced or
 * the job removed (inotify), for waiting without spinning.  Returns it,
 * or -1 (logged).
 */
int
store_watch(struct store *sp, const char *id)
{
	char	 path[PATH_MAX];
	int	 fd;

	if ((fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) == -1) {
		log_warn("spool: inotify_init1");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/jobs/%s", sp->path, id);
	if (inotify_add_watch(fd, path, IN_MOVED_TO | IN_DELETE_SELF) == -1) {
		log_warn("spool: inotify_add_watch %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* This boot's id, from the kernel; "" where there is no /proc. */
static void
spool_boot_id(char *out, size_t sz)
{
	ssize_t	 n;
	int	 fd;

	out[0] = '\0';
	if ((fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY |
	    O_CLOEXEC)) == -1)
		return;
	n = read(fd, out, sz - 1);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
}

/*
 * Is a recovery due: has the machine restarted since the spool was last
 * recovered (the file "boot" holds the boot id it was recovered under)?
 * A power cut may have taken what was written without a sync (queue
 * entries, a new job's first status, a supervisor's "running" not yet
 * synced): the recovery that follows (lifecycle_gc) settles and requeues
 * what it finds.  Cheap once known: a look per process, then none.
 */
int
store_recovery_due(struct store *sp)
{
	char	 seen[sizeof(sp->boot)];
	ssize_t	 n;
	int	 fd;

	if (sp->recovery == 0)
		return 0;
	if (sp->boot[0] == '\0') {
		spool_boot_id(sp->boot, sizeof(sp->boot));
		if (sp->boot[0] == '\0')
			return sp->recovery = 0;
	}
	seen[0] = '\0';
	if ((fd = openat(sp->dirfd, "boot", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) != -1) {
		n = read(fd, seen, sizeof(seen) - 1);
		seen[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	sp->recovery = strcmp(seen, sp->boot) != 0;
	return sp->recovery;
}

/* The recovery of this boot is done: record it. */
void
store_recovery_done(struct store *sp)
{
	char	 tmp[32];
	int	 fd, ok;

	if (sp->boot[0] == '\0')
		spool_boot_id(sp->boot, sizeof(sp->boot));
	if (sp->boot[0] == '\0')
		return;
	snprintf(tmp, sizeof(tmp), "boot.%ld", (long)getpid());
	if ((fd = openat(sp->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		log_warn("spool: create %s/%s", sp->path, tmp);
		return;
	}
	ok = spool_write_all(fd, sp->boot, strlen(sp->boot)) == 0;
	if (close(fd) == -1 || !ok ||
	    renameat(sp->dirfd, tmp, sp->dirfd, "boot") == -1) {
		log_warn("spool: write %s/boot", sp->path);
		unlinkat(sp->dirfd, tmp, 0);
		return;
	}
	sp->recovery = 0;
}

/* Is the spool draining (the file "drain" exists)? */
int
store_draining(struct store *sp)
{
	return faccessat(sp->dirfd, "drain", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Bytes job id takes on disk (0 when it is gone). */
long long
store_job_size(struct store *sp, const char *id)
{
	return spool_du(sp->jobsfd, id);
}

/*
 * Open what the supervisor hands its task: input.json for stdin, a fresh
 * result.tmp for stdout, the log (appended) and work/.  All close-on-exec;
 * the supervisor dup2s them into place in the task's process.  Returns 0,
 * or -1 with errno set, with nothing left open.
 */
static int
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
static int
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
static int
spool_result_commit(int dfd, int outfd)
{
	if (fsync(outfd) == -1)
		return -1;
	/* The final status's directory sync makes the new name durable. */
	return renameat(dfd, "result.tmp", dfd, "result");
}

/*
 * The last nlines lines of the job's log, for the message of a failed job.
 * Returns 0 with out NUL-terminated ("" when there is no log), or -1.
 */
static int
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
 * A strong entity tag for a result (RFC 9110 8.8.3): the result never
 * changes once renamed into place, so inode, size and time name it.
 * Returns 0, or -1 when out is too small.
 */
int
store_result_etag(const struct stat *sb, char *out, size_t sz)
{
	int	 n;

	n = snprintf(out, sz, "\"%llx-%llx-%llx\"",
	    (unsigned long long)sb->st_ino, (unsigned long long)sb->st_size,
	    (unsigned long long)sb->st_mtim.tv_sec * 1000000000ULL +
	    (unsigned long long)sb->st_mtim.tv_nsec);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/*
 * Claim Idempotency-Key key (already checked: [A-Za-z0-9._:-], 1..128)
 * for job id with the given hash of its task and fields.  The key file is
 * written whole under a temporary name and linked into place, so a
 * racing claim sees either nothing or all of it.  Returns 0 when claimed,
 * 1 when the key is taken (its job and hash in oid and *ohash), -1 on
 * error.
 */
static int
spool_key_claim(struct store *sp, const char *key, const char *id,
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
		if (!job_id_check(oid, SPOOLCGI_ID_LEN) ||
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
store_gc_due(struct store *sp, long interval, time_t now)
{
	struct stat	 sb;

	if (fstatat(sp->dirfd, "gc.stamp", &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return 1;
	return now - sb.st_mtime >= interval;
}

/* Remove entries of directory name older than age seconds. */
static int
spool_gc_dir(struct store *sp, const char *name, time_t now, long age,
    int (*keep)(struct store *, const char *), int *count)
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
spool_gc_key_live(struct store *sp, const char *name)
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
	return job_id_check(line, SPOOLCGI_ID_LEN) &&
	    fstatat(sp->jobsfd, line, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Forget clients with no pending job and no start in the last minute. */
static void
spool_gc_clients(struct store *sp, time_t now)
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
				if (job_id_check(e->d_name,
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
 * Claim the clean-up: gc.lock without waiting, and gc.stamp set to now.
 * Returns the lock (store_gc_end releases it), or -1 with errno
 * EWOULDBLOCK when another clean-up runs (other errors logged).
 */
int
store_gc_begin(struct store *sp, time_t now)
{
	struct timespec	 ts[2];
	int		 lfd, sfd, saved;

	if ((lfd = openat(sp->dirfd, "gc.lock", O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("spool: open %s/gc.lock", sp->path);
		return -1;
	}
	if (flock(lfd, LOCK_EX | LOCK_NB) == -1) {
		saved = errno;
		if (saved != EWOULDBLOCK)
			log_warn("spool: flock %s/gc.lock", sp->path);
		close(lfd);
		errno = saved;
		return -1;
	}
	if ((sfd = openat(sp->dirfd, "gc.stamp", O_WRONLY | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		log_warn("spool: open %s/gc.stamp", sp->path);
		return lfd;
	}
	ts[0].tv_sec = ts[1].tv_sec = now;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (futimens(sfd, ts) == -1)
		log_warn("spool: futimens %s/gc.stamp", sp->path);
	close(sfd);
	return lfd;
}

/*
 * Call fn(arg, id) for every job in the store (the clean-up's walk; the
 * only one).  Returns 0, or -1 (logged).
 */
int
store_gc_jobs(struct store *sp, int (*fn)(void *, const char *), void *arg)
{
	struct dirent	*de;
	DIR		*d;

	if ((d = spool_opendir(sp->jobsfd, ".")) == NULL) {
		log_warn("spool: opendir %s/jobs", sp->path);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (job_id_check(de->d_name, strlen(de->d_name)))
			(void)fn(arg, de->d_name);
	closedir(d);
	return 0;
}

/*
 * The store's own leftovers, then release the clean-up (lock lfd):
 * tombstones older than tombstone seconds, staging older than an hour,
 * keys whose job is gone, clients with nothing pending; the spool's size
 * measured anew.
 */
void
store_gc_end(struct store *sp, int lfd, long tombstone, time_t now,
    struct gcstats *gs)
{
	spool_gc_dir(sp, "gone", now, tombstone, NULL, &gs->tombstones);
	spool_gc_dir(sp, "tmp", now, 3600, NULL, &gs->temps);
	spool_gc_dir(sp, "keys", now, 60, spool_gc_key_live, &gs->keys);
	spool_gc_clients(sp, now);
	spool_usage_set(sp, spool_du(sp->dirfd, "."));
	store_unlock(lfd);
}

/*
 * Bytes on disk under name in dfd (st_blocks, so sparse files count as
 * little as they use).  Symlinks are not followed.
 */
static long long
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
store_usage(struct store *sp)
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
spool_usage_write(struct store *sp, long long v)
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

/* Add delta bytes to the recorded size of the spool, or set it. */
static void
spool_usage_change(struct store *sp, long long delta, int absolute)
{
	long long	 v;
	int		 lfd;

	if ((lfd = openat(sp->dirfd, "usage.lock", O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		return;
	if (flock(lfd, LOCK_EX) == 0) {
		v = absolute ? delta : store_usage(sp);
		if (!absolute)
			v = (v < 0 ? 0 : v) + delta;
		spool_usage_write(sp, v);
	}
	close(lfd);
}

/* Record the spool's measured size. */
static void
spool_usage_set(struct store *sp, long long v)
{
	spool_usage_change(sp, v, 1);
}

/*
 * Add delta bytes to the recorded size of the spool.  Best effort: the
 * clean-up measures it exactly.
 */
void
store_usage_add(struct store *sp, long long delta)
{
	spool_usage_change(sp, delta, 0);
}

/* Bytes free to an unprivileged user on the spool's file system, or -1. */
long long
store_free_bytes(struct store *sp)
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
store_inside(const char *path, const char *dir)
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

/* Open (creating) clients/ADDR and take its lock.  Returns the lock fd. */
static int
spool_client_lock(struct store *sp, const char *addr, int *cfd)
{
	int	 clfd, fd;

	if ((clfd = openat(sp->dirfd, "clients", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return -1;
	if ((mkdirat(clfd, addr, 0700) == -1 && errno != EEXIST) ||
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
 * store_client_done.  Returns 0 when admitted, 1 when over a limit
 * (*retry: seconds to wait), -1 (logged).
 */
int
store_client_admit(struct store *sp, const char *addr, int maxjobs,
    int perminute, time_t now, int *retry, struct client *cl)
{
	struct jobstatus	 st;
	struct dirent		*de;
	char			 buf[64];
	long long		 start = 0, count = 0;
	ssize_t			 n;
	DIR			*d;
	int			 fd, cfd, lfd, pending = 0;

	cl->lockfd = cl->dirfd = -1;
	if ((lfd = spool_client_lock(sp, addr, &cfd)) == -1) {
		log_warn("spool: lock clients/%s", addr);
		return -1;
	}
	if (maxjobs > 0) {
		if ((d = spool_opendir(cfd, ".")) != NULL) {
			while ((de = readdir(d)) != NULL) {
				if (!job_id_check(de->d_name,
				    strlen(de->d_name)))
					continue;
				/* Count what still waits or runs. */
				if (store_read(sp, de->d_name, &st) ==
				    STORE_OK && !job_state_final(st.state))
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
	cl->lockfd = lfd;
	cl->dirfd = cfd;
	return 0;
over:
	close(lfd);
	close(cfd);
	return 1;
}

/*
 * Record job id (or nothing: id NULL) for the admitted client, and
 * unlock it.  Safe to call twice, and on a client never admitted.
 */
void
store_client_done(struct client *cl, const char *id)
{
	int	 fd;

	if (cl->dirfd != -1 && id != NULL && (fd = openat(cl->dirfd, id,
	    O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) != -1)
		close(fd);
	if (cl->dirfd != -1)
		close(cl->dirfd);
	if (cl->lockfd != -1)
		close(cl->lockfd);
	cl->dirfd = cl->lockfd = -1;
}
