/*
 * The file spool's own helpers, beneath the store's functions: whole-file
 * writes, the status file's format, the job's lock, directory walks and
 * removal, the files a task is handed, and the usage estimate.  Only the
 * spool's files call them; spool.c's top comment says what the files are.
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

/* Room for the final status and its temporary, on a full disk. */
const char	 spool_reserve_bytes[SPOOL_RESERVE];

/* Forward: defined below, used above. */
static void	 spool_usage_change(struct store *, long long, int);

/* write(2) all of buf.  Returns 0, or -1 with errno set. */
int
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
int
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
	buf_lit(b, " ");
	for (p = v; *p != '\0'; p++) {
		if (*p == '\\')
			buf_lit(b, "\\\\");
		else if (*p == '\n')
			buf_lit(b, "\\n");
		else if (*p == '\r')
			buf_lit(b, "\\r");
		else
			buf_append(b, p, 1);
	}
	buf_lit(b, "\n");
}

static int
spool_status_encode(const struct jobstatus *st, struct buf *out)
{
	buf_lit(out, "spoolcgi-status 1\n");
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
	/* Only when there is one: statuses without stay as they were. */
	if (st->owner[0] != '\0')
		spool_put_text(out, "owner", st->owner);
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
		else if (KEY("owner") && vlen == SPOOLCGI_OWNER_LEN &&
		    strspn(v, "0123456789abcdef") >= vlen) {
			memcpy(st->owner, v, vlen);
			st->owner[vlen] = '\0';
		}
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
 * durable, the file and then the directory are fsynced, so the new state
 * survives a crash; a failure of that last sync is logged, and the write
 * counts as made, since every reader sees it.  The status replaced is
 * freed (spool_status_keep, which does the work, can keep it).  Returns
 * 0, or -1 with errno set.
 */
int
spool_status_write(int dfd, const struct jobstatus *st, int durable)
{
	return spool_status_keep(dfd, st, NULL, NULL, durable);
}

/*
 * Write st as dfd's status.json, synced (file, then directory) when
 * durable, freeing as few inodes as can be: ext4 without a journal skips
 * every inode freed in the last minutes when it looks for a free one
 * (recently_deleted()), so a spool that frees a few per job makes every
 * later creation scan thousands of them under load.  The status being
 * replaced keeps the name keep, unless keep is NULL (a keep that exists
 * already is replaced: a run after an interrupted one).  The new status
 * is written into the existing file into when that is not NULL (the
 * reserve: its blocks are allocated, so the final status fits on a full
 * disk) and cut to its length, else into a fresh temporary.  Returns 0,
 * or -1 with errno set and status.json as it was.
 */
int
spool_status_keep(int dfd, const struct jobstatus *st, const char *into,
    const char *keep, int durable)
{
	struct buf	 b = { 0 };
	char		 tmp[sizeof(SPOOL_STATUS) + 16];
	const char	*from = into;
	int		 fd = -1, saved;

	if (spool_status_encode(st, &b) == -1) {
		buf_free(&b);
		errno = ENOMEM;
		return -1;
	}
	if (from == NULL) {
		snprintf(tmp, sizeof(tmp), "%s.%ld", SPOOL_STATUS,
		    (long)getpid());
		from = tmp;
	}
	if ((fd = openat(dfd, from, O_WRONLY | O_NOFOLLOW | O_CLOEXEC |
	    (into == NULL ? O_CREAT | O_TRUNC : 0), 0600)) == -1)
		goto fail;
	if (spool_write_all(fd, b.data, b.len) == -1 ||
	    (into != NULL && ftruncate(fd, (off_t)b.len) == -1) ||
	    (durable && fsync(fd) == -1))
		goto fail;
	saved = close(fd);
	fd = -1;
	if (saved == -1)
		goto fail;
	if (keep != NULL && linkat(dfd, SPOOL_STATUS, dfd, keep, 0) == -1 &&
	    errno == EEXIST && unlinkat(dfd, keep, 0) == 0)
		(void)linkat(dfd, SPOOL_STATUS, dfd, keep, 0);
	if (renameat(dfd, from, dfd, SPOOL_STATUS) == -1)
		goto fail;
	if (durable && fsync(dfd) == -1)
		log_warn("spool: fsync a job's directory after %s",
		    SPOOL_STATUS);
	buf_free(&b);
	return 0;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	if (into == NULL)
		(void)unlinkat(dfd, from, 0);
	buf_free(&b);
	errno = saved;
	return -1;
}

/*
 * Make dfd's status.json, as last written without a sync, durable: the
 * file, then the directory that names it.  Returns 0, or -1 with errno
 * set.
 */
int
spool_status_sync(int dfd)
{
	int	 fd, rc, saved;

	if ((fd = openat(dfd, SPOOL_STATUS, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc == -1 ? -1 : fsync(dfd);
}

/* Read and decode the status file open on fd, and close fd. */
int
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
		len += (size_t)n;
		/*
		 * A regular file reads whole up to its end: a short read is
		 * the end, and the poll path saves the read that says so.
		 */
		if (n == 0 || len < sizeof(buf))
			break;
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
 * Take a job's lock, the file name under dfd ("lock" in the job's
 * directory, or "ID/lock" in jobs/): exclusive, and without waiting when
 * nonblock.  Returns the lock's descriptor (close it to release), or -1
 * with errno set (EWOULDBLOCK: somebody holds it).
 */
int
spool_job_lock(int dfd, const char *name, int nonblock)
{
	int	 fd, saved;

	if ((fd = openat(dfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1)
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
DIR *
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

/* Remove what a run of the job in dfd leaves: its temporaries. */
void
spool_run_leftovers(int dfd, int final)
{
	struct dirent	*de;
	DIR		*d;

	(void)unlinkat(dfd, "result.tmp", 0);
	if (final)
		(void)unlinkat(dfd, SPOOL_RESERVE_FILE, 0);
	/* status.json.PID of a writer that died before its rename. */
	if ((d = spool_opendir(dfd, ".")) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, SPOOL_STATUS ".",
		    sizeof(SPOOL_STATUS)) == 0)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

/* Create name in dfd, empty, with size bytes allocated to it. */
int
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
 * Open what the supervisor hands its task: input.json for stdin, a fresh
 * result.tmp for stdout, the log (appended) and work/.  All close-on-exec
 * and above 2 (proc_fd_high), so that the supervisor can dup2 them into
 * place in the task's process without one landing on another.  Returns
 * 0, or -1 with errno set, with nothing left open.
 */
int
spool_task_open(int dfd, struct taskfds *t)
{
	int	 saved;

	t->in = t->out = t->log = t->work = -1;
	if ((t->in = openat(dfd, "input.json", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || (t->in = proc_fd_high(t->in)) == -1 ||
	    (t->out = openat(dfd, "result.tmp", O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1 ||
	    (t->out = proc_fd_high(t->out)) == -1 ||
	    (t->log = openat(dfd, "log", O_WRONLY | O_CREAT | O_APPEND |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1 ||
	    (t->log = proc_fd_high(t->log)) == -1 ||
	    (t->work = openat(dfd, "work", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    (t->work = proc_fd_high(t->work)) == -1) {
		saved = errno;
		if (t->in != -1)
			close(t->in);
		if (t->out != -1)
			close(t->out);
		if (t->log != -1)
			close(t->log);
		t->in = t->out = t->log = t->work = -1;
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
	/* The final status's directory sync makes the new name durable. */
	return renameat(dfd, "result.tmp", dfd, "result");
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
void
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
