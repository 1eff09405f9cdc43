/*
 * The file spool's side of a running job: the supervisor's claim on it
 * (the job's lock, taken by the dispatcher or here, held for the
 * supervisor's whole life), its status writes, the files handed to the
 * task, the result's commit and what a run leaves behind (spool.c's top
 * comment has the protocol).
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
	int	 fd;

	snprintf(path, sizeof(path), "%s/lock", id);
	if ((fd = spool_job_lock(sp->jobsfd, path, 1)) == -1 &&
	    errno != ENOENT && errno != ENOTDIR && errno != EWOULDBLOCK)
		log_warn("spool: lock jobs/%s", path);
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
	    (run->lockfd = spool_job_lock(run->dirfd, "lock", 1)) == -1) {
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
	run->written = run->st.state;
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
 * Write run->st, durably or not (progress: a lost update costs nothing,
 * the lock tells the truth about the process).  Returns 0, or -1 (logged).
 */
int
store_run_write(struct run *run, int durable)
{
	int	 rc;

	/*
	 * The two writes of every run, start and end, free one inode
	 * between them, not three (see spool_status_keep): the start keeps
	 * the status it replaces as status.queued, and the end is written
	 * into the reserve.  Keeping the running status too would free
	 * none, for one more block per job kept until it expires.
	 */
	if (run->written == JOB_QUEUED && run->st.state == JOB_RUNNING)
		rc = spool_status_keep(run->dirfd, &run->st, NULL,
		    SPOOL_STATUS_QUEUED, durable);
	else if (durable && job_state_final(run->st.state)) {
		rc = spool_status_keep(run->dirfd, &run->st,
		    SPOOL_RESERVE_FILE, NULL, 1);
		if (rc == -1 && errno == ENOENT)
			rc = spool_status_keep(run->dirfd, &run->st, NULL,
			    NULL, 1);
	} else
		rc = spool_status_write(run->dirfd, &run->st, durable);
	if (rc == -1) {
		log_warn("spool: write jobs/%s/%s", run->st.id, SPOOL_STATUS);
		return -1;
	}
	if (run->st.state != run->written)
		(void)store_metric_move(run->store, run->st.task,
		    run->written, run->st.state);
	run->written = run->st.state;
	return 0;
}

/* Make the last unsynced write of run durable.  Returns 0, or -1. */
int
store_run_sync(struct run *run)
{
	if (spool_status_sync(run->dirfd) == -1) {
		log_warn("spool: sync jobs/%s/%s", run->st.id, SPOOL_STATUS);
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
	return 0;
}

/*
 * Open the job's notify.log (appended) for its notifier's output and the
 * supervisor's word on it: apart from the log, which whoever holds the
 * job's link may read.  Close-on-exec and above 2.  Returns the
 * descriptor, or -1 (logged).
 */
int
store_run_notify_log(struct run *run)
{
	int	 fd;

	if ((fd = openat(run->dirfd, "notify.log", O_WRONLY | O_CREAT |
	    O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1 ||
	    (fd = proc_fd_high(fd)) == -1) {
		log_warn("spool: open jobs/%s/notify.log", run->st.id);
		return -1;
	}
	return fd;
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
	/* The reserve stays: the final status is written into it. */
	spool_run_leftovers(run->dirfd, 0);
}
