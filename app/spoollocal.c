/*
 * A worker's local files (README "Scaling out on PostgreSQL"): the jobs a
 * worker claimed from the database run from here, exactly as on one host,
 * and only this file knows where that is.  Under the configured spool,
 * on the worker's own disk:
 *
 *   running/ID/        one directory per job this host runs; its
 *                      supervisor holds flock(LOCK_EX) on the directory
 *                      itself for its whole life
 *     input.json       the task's stdin, copied from the database
 *     log              the task's stderr (all but "progress:" lines)
 *     result.tmp       the task's stdout; the supervisor streams it into
 *                      the database in its final write
 *     work/            the task's working directory
 *
 * The database holds the job; these are scratch: a directory whose lock
 * is free belongs to a supervisor that is gone, and any worker starting
 * on this spool removes it (store_local_sweep).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

#define LOCAL_DIR	"running"

/* spool/running, created when missing.  Returns its descriptor or -1. */
static int
local_dir(struct store *sp)
{
	int	 fd;

	if ((fd = openat(sp->dirfd, LOCAL_DIR, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1 && errno == ENOENT) {
		if (mkdirat(sp->dirfd, LOCAL_DIR, 0700) == -1 &&
		    errno != EEXIST)
			return -1;
		fd = openat(sp->dirfd, LOCAL_DIR, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
	}
	return fd;
}

/*
 * Make job id's local directory afresh (what an earlier run of it left is
 * removed), lock it, and write input (len bytes) as its input.json,
 * synced: the task reads its stdin from the disk, as on one host.
 * Returns 0, or -1 (logged).
 */
int
store_local_open(struct store *sp, const char *id, const char *input,
    size_t len, struct local *lc)
{
	struct stat	 sb;
	int		 dfd, tries;

	memset(lc, 0, sizeof(*lc));
	lc->dirfd = -1;
	lc->store = sp;
	if (!job_id_check(id, strlen(id))) {
		errno = EINVAL;
		log_warn("spool: local job %s", id);
		return -1;
	}
	snprintf(lc->id, sizeof(lc->id), "%s", id);
	if ((dfd = local_dir(sp)) == -1) {
		log_warn("spool: open %s/%s", sp->path, LOCAL_DIR);
		return -1;
	}
	/*
	 * A sweep by another worker on this spool may remove the directory
	 * between its creation and its lock: then it is made again.
	 */
	for (tries = 0; tries < 3; tries++) {
		if (spool_remove_tree(dfd, id) == -1 ||
		    (mkdirat(dfd, id, 0700) == -1 && errno != EEXIST))
			break;
		if ((lc->dirfd = openat(dfd, id, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1) {
			if (errno == ENOENT)
				continue;
			break;
		}
		if (flock(lc->dirfd, LOCK_EX | LOCK_NB) == 0 &&
		    fstat(lc->dirfd, &sb) == 0 && sb.st_nlink > 0)
			break;
		close(lc->dirfd);
		lc->dirfd = -1;
	}
	if (lc->dirfd == -1 || mkdirat(lc->dirfd, "work", 0700) == -1 ||
	    spool_file_create(lc->dirfd, "input.json", input, len) == -1) {
		log_warn("spool: make %s/%s/%s", sp->path, LOCAL_DIR, id);
		if (lc->dirfd != -1)
			close(lc->dirfd);
		lc->dirfd = -1;
		(void)spool_remove_tree(dfd, id);
		close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

/*
 * An upload of the job, new in its work/ under name (one the front's
 * store gave it: no path, no dot first), for pg_uploads_copy; arg is the
 * struct local.  Returns its descriptor, or -1 (logged).
 */
int
store_local_upload(void *arg, const char *name)
{
	struct local	*lc = arg;
	size_t		 len = strlen(name);
	int		 wfd, fd, saved;

	if (len == 0 || name[0] == '.' || strspn(name, "abcdefghijklmnopqrstu"
	    "vwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len) {
		log_warnx("spool: %s/%s: an upload's name the store did not "
		    "give", LOCAL_DIR, lc->id);
		errno = EINVAL;
		return -1;
	}
	if ((wfd = openat(lc->dirfd, "work", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		log_warn("spool: open %s/%s/work", LOCAL_DIR, lc->id);
		return -1;
	}
	if ((fd = openat(wfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		saved = errno;
		log_warn("spool: create %s/%s/work/%s", LOCAL_DIR, lc->id, name);
		errno = saved;
	}
	close(wfd);
	return fd;
}

/*
 * Open what the task is given, as store_run_files does on one host:
 * input.json, a fresh result.tmp, the log and work/, close-on-exec and
 * above 2.  Returns 0, or -1 (logged).
 */
int
store_local_files(struct local *lc, struct taskfds *t)
{
	if (spool_task_open(lc->dirfd, t) == -1) {
		log_warn("spool: open the files of %s/%s", LOCAL_DIR, lc->id);
		return -1;
	}
	return 0;
}

/* The task's working directory, for SPOOLCGI_JOB_DIR.  Returns 0 or -1. */
int
store_local_workdir(struct local *lc, char *out, size_t sz)
{
	int	 n;

	n = snprintf(out, sz, "%s/%s/%s/work", lc->store->path, LOCAL_DIR,
	    lc->id);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/*
 * The last nlines lines of the log, cleaned for a message.  Returns 0, or
 * -1 (logged).
 */
int
store_local_log_tail(struct local *lc, char *out, size_t sz, int nlines)
{
	if (spool_log_tail(lc->dirfd, out, sz, nlines) == -1) {
		log_warn("spool: read %s/%s/log", LOCAL_DIR, lc->id);
		return -1;
	}
	return 0;
}

/*
 * The log's last bytes as they are (at most sz), for the heartbeat, and
 * its size in *size.  Returns how many, 0 when there is no log, or -1.
 */
ssize_t
store_local_log_end(struct local *lc, char *out, size_t sz, long long *size)
{
	struct stat	 sb;
	ssize_t		 n;
	off_t		 off;
	int		 fd;

	*size = 0;
	if ((fd = openat(lc->dirfd, "log", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &sb) == -1) {
		close(fd);
		return -1;
	}
	*size = (long long)sb.st_size;
	off = sb.st_size > (off_t)sz ? sb.st_size - (off_t)sz : 0;
	n = pread(fd, out, sz, off);
	close(fd);
	return n;
}

/*
 * The task's stdout, open for reading from its start, so that the result
 * can be streamed into the database.  Returns the descriptor
 * (close-on-exec), or -1 (logged).
 */
int
store_local_result(struct local *lc)
{
	int	 fd;

	if ((fd = openat(lc->dirfd, "result.tmp", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		log_warn("spool: open %s/%s/result.tmp", LOCAL_DIR, lc->id);
	return fd;
}

/* Let go of the job's local files: removed, and their lock released. */
void
store_local_close(struct local *lc)
{
	int	 dfd;

	if (lc->dirfd == -1)
		return;
	if ((dfd = local_dir(lc->store)) != -1) {
		if (spool_remove_tree(dfd, lc->id) == -1)
			log_warn("spool: remove %s/%s", LOCAL_DIR, lc->id);
		close(dfd);
	}
	close(lc->dirfd);
	lc->dirfd = -1;
}

/*
 * Remove the local directories whose lock is free: what supervisors that
 * are gone left.  Returns how many, or -1 (logged).
 */
int
store_local_sweep(struct store *sp)
{
	struct dirent	*de;
	DIR		*d;
	int		 dfd, fd, n = 0;

	if ((dfd = local_dir(sp)) == -1) {
		log_warn("spool: open %s/%s", sp->path, LOCAL_DIR);
		return -1;
	}
	if ((d = spool_opendir(dfd, ".")) == NULL) {
		log_warn("spool: read %s/%s", sp->path, LOCAL_DIR);
		close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!job_id_check(de->d_name, strlen(de->d_name)))
			continue;
		if ((fd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 &&
		    spool_remove_tree(dfd, de->d_name) == 0)
			n++;
		close(fd);
	}
	closedir(d);
	close(dfd);
	return n;
}
