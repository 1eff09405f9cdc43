/*
 * The file spool: the first implementation of the store.  It and its
 * companions (spoolfile.c, spoolq.c, spoolrun.c, spoolgc.c) are the only
 * files that know paths, file names and the on-disk format, which this
 * comment documents whole (hence the file's length).
 *
 * Layout, under the configured spool directory (0700, never under the web
 * server's document root):
 *
 *   jobs/ID/            one directory per job; ID is a lower-case UUIDv4
 *     input.json        the task's stdin: {"id","task","fields","files"};
 *                       written once, before the job becomes visible
 *     status.json       the job's state (struct jobstatus) as "key value"
 *                       lines; replaced whole by rename from
 *                       status.json.PID (or, at the end of a run, from
 *                       the reserve), never written in place
 *     status.queued     the status a run's start replaced, kept (linked)
 *                       rather than freed: see spool_status_keep
 *     lock              the supervisor holds flock(LOCK_EX) on it for its
 *                       whole life; the kernel drops it when the process
 *                       dies.  Anyone else changes the status only while
 *                       holding it (store_update)
 *     log               the task's stderr (all but "progress:" lines) and
 *                       the supervisor's own messages, appended
 *     notify.log        the notifier's stdout and stderr, and what the
 *                       supervisor says about it, appended; never served
 *     result.tmp        the task's stdout while it runs; removed when the
 *                       job's run ends any other way than success
 *     result            renamed from result.tmp when the task succeeded
 *     work/             the task's working directory (uploads land here)
 *     reserve           16 KiB set aside at creation; the last write of a
 *                       run goes into it and renames it to status.json,
 *                       so that the final status fits even on a full disk
 *     cancel            created by a request to cancel a running job; the
 *                       supervisor looks for it every tick
 *   tmp/ID/             a job being created; renamed to jobs/ID when whole;
 *   tmp/ID.rm.PID       or a removed job on its way out
 *   queue/SEQ           one symbolic link per queued job, to its ID; SEQ is
 *                       16 hex digits, a sequence number given under
 *                       dispatch.lock (never twice), so names sort in the
 *                       order jobs were queued.  A job started at once, with
 *                       nobody waiting, never has one
 *   queue.idx           the queue's cursor and next number, mapped shared by
 *                       every process (spoolq.c); not synced, rebuilt from
 *                       queue/ after a boot or when missing
 *   slots/g.N           global run slots, N < max_running; a supervisor
 *   slots/t.TASK.N      holds flock on one global slot (and one of its
 *                       task's, when the task has its own max_running) for
 *                       its whole life
 *   dispatch.lock       flock(LOCK_EX) while an entry is added (one
 *                       appender at a time); dispatch takes no lock
 *   gone/ID             a tombstone: job ID expired and was removed; its
 *                       mtime is the removal time
 *   keys/k-KEY          an Idempotency-Key: "ID HASH\n", the job started for
 *                       it and a hash of its task and fields; KEY as
 *                       scoped by the front (owner_key_scope), so it may
 *                       begin with an owner's hash and a "~"
 *   clients/ADDR/ID     one empty file per pending job of client ADDR (an
 *                       IPv4 or IPv6 address), for max_jobs_per_client;
 *                       entries of finished jobs are dropped when counted
 *   clients/ADDR/rate   "START COUNT": the client's starts in the minute
 *                       that began at START, for client_starts_per_minute;
 *                       clients/ADDR/lock serialises both (with a
 *                       database, the database counts instead: pg.c)
 *   usage, usage.lock   the spool's size in bytes, for max_spool_bytes: kept
 *                       up to date by creations, supervisors and removals,
 *                       measured exactly by every clean-up
 *   gc.stamp, gc.lock   when the last clean-up started; who runs one now
 *   boot                the boot id under which the spool was last
 *                       recovered (store_recovery_due)
 *   drain               if it exists, new jobs are refused (503); made and
 *                       removed by "spoolcgi drain on|off" (store_drain_set)
 *   owners/HASH/KEY-ID  one empty file per job of each owner, for "my
 *   secret              jobs", and the key of their tokens (spoolown.c)
 *   metrics/            counters of state changes, run times and refusals,
 *                       one file each, whose size is the count (appended,
 *                       never synced); spoolmetric.c's top comment has
 *                       the names and who writes them
 *   running/ID/         on a host running "spoolcgi worker": the local
 *                       files of a job claimed from the database
 *                       (spoollocal.c's top comment has them)
 *
 * Creating a job (store_submit).  tmp/ID is built completely (input.json
 * and uploads fsynced, lock, reserve and an unsynced status.json, then
 * tmp/ID fsynced), and its owner's entry made and synced when it has an
 * owner.  A job run again (lifecycle_retry) is created the same way; its
 * uploads are copied from the old job's work/ into tmp/ID/work/ and
 * synced first (store_upload_copy), never linked: either job's task may
 * change its own working files.  When nobody waits and a run slot is free, the start
 * takes the slot, locks the job in tmp/ID, renames it to jobs/ID, claims
 * the idempotency key and fsyncs jobs/, then hands job and slot to its
 * supervisor: no queue entry, no queue lock.  Otherwise, under
 * dispatch.lock: the queue entry is made, tmp/ID renamed to jobs/ID, the
 * key claimed, and only then the entry published (queue.idx's tail), so a
 * dispatcher never sees an entry before its job; then jobs/ is fsynced.
 * Only then is the client answered, so a job answered with an id survives
 * any crash: a crash before the rename leaves a staging directory (the
 * clean-up removes it after an hour) and at most an unpublished entry
 * (the next appender passes it; a dispatcher drops it, its job not
 * found); after it, a queued job, with its entry or, when the entry or a
 * started job's supervisor was lost, without one, which a read or the
 * clean-up gives back (store_queue_readd).
 *
 * Readers.  status.json is always a whole file.  A state of "running" is
 * a claim; the lock is the proof.  A reader that finds "running" and can
 * take the lock itself has found a job whose supervisor died; it rereads
 * the status under the lock, and the state machine decides what the job
 * becomes (store_update).  The result is complete once "result" exists
 * and the state is "succeeded".
 *
 * Dispatch reads the entry at queue.idx's cursor by its name (and those
 * after it, past jobs whose task is at its limit, which keep their place)
 * and tries flock on at most max_running slot files; it lists neither
 * queue/ nor jobs/, and an empty queue costs it no system call.
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

/* Forward: defined below, used above. */
static int	spool_key_claim(struct store *, const char *, const char *,
		    unsigned long long, char *, unsigned long long *);
static void	spool_unpublish(struct store *, unsigned long long, const char *,
		    int);
static int	spool_withdraw(struct store *, const char *);

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
	static const char *const dirs[] = { "gone", "keys", "clients",
	    "owners" };
	struct store	*sp;
	size_t		 i;
	int		 fd;

	if ((sp = calloc(1, sizeof(*sp))) == NULL) {
		log_warn("spool: calloc");
		return NULL;
	}
	sp->dirfd = sp->jobsfd = sp->tmpfd = sp->queuefd = sp->slotsfd = -1;
	sp->watchfd = sp->watchwd = -1;
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
	if (spool_queue_open(sp) == -1)
		goto fail;
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

/*
 * Open the store of cfg: the spool, keeping the job records in the
 * database when cfg has one (spoolpg.c).  Returns the store, or NULL
 * (logged).
 */
struct store *
store_open_config(const struct config *cfg)
{
	struct store	*sp;

	if ((sp = store_open(cfg->spool)) == NULL)
		return NULL;
	if (cfg->database != NULL && spoolpg_attach(sp, cfg) == -1) {
		store_close(sp);
		return NULL;
	}
	return sp;
}

/*
 * Are jobs run from here (dispatch, supervisors, run slots)?  Not when
 * the records are in a database: workers claim them there.
 */
int
store_runs_here(const struct store *sp)
{
	return sp->ops == NULL;
}

/*
 * Did the last call find the database unreachable?  The request is then
 * answered 503 with Retry-After, not 500: nothing is wrong but the wait.
 */
int
store_unreachable(struct store *sp)
{
	return sp->ops != NULL && sp->ops->unreachable(sp);
}

void
store_close(struct store *sp)
{
	if (sp == NULL)
		return;
	if (sp->ops != NULL)
		sp->ops->close(sp);
	spool_queue_close(sp);
	if (sp->watchfd != -1)
		close(sp->watchfd);
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
 * The descriptors the store holds, into fds (room for max): what a
 * child forked to use this store must keep.  Returns how many.
 */
size_t
store_fds(const struct store *sp, int *fds, size_t max)
{
	const int	 all[] = { sp->dirfd, sp->jobsfd, sp->tmpfd,
			    sp->queuefd, sp->slotsfd };
	size_t		 i, n = 0;

	for (i = 0; i < sizeof(all) / sizeof(all[0]) && n < max; i++)
		if (all[i] != -1)
			fds[n++] = all[i];
	return n;
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

	if (sp->ops != NULL)
		return sp->ops->read(sp, id, st);

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
	char			 path[SPOOLCGI_ID_LEN + 8];
	int			 dfd, lfd, rc = STORE_ERR;

	if (sp->ops != NULL)
		return sp->ops->update(sp, id, change, arg, out);

	/* The lock first: for a running job, that is all a poll costs. */
	snprintf(path, sizeof(path), "%s/lock", id);
	if ((lfd = spool_job_lock(sp->jobsfd, path, 1)) == -1) {
		if (errno == EWOULDBLOCK)
			return STORE_BUSY;
		if (errno == ENOENT || errno == ENOTDIR)
			return STORE_NOENT;
		log_warn("spool: lock jobs/%s", path);
		return STORE_ERR;
	}
	if ((dfd = openat(sp->jobsfd, id, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		rc = errno == ENOENT ? STORE_NOENT : STORE_ERR;
		if (rc == STORE_ERR)
			log_warn("spool: open jobs/%s", id);
		close(lfd);
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
		(void)store_metric_move(sp, st.task, old, st.state);
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

/*
 * The n-th file of an upload, created in the staging work directory
 * workfd (store_stage) under a name of its own until store_upload_place
 * names it.  Returns its descriptor, or -1 (logged).
 */
int
store_upload_open(int workfd, size_t n)
{
	char	 name[32];
	int	 fd;

	snprintf(name, sizeof(name), "part-%zu", n);
	if ((fd = openat(workfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		log_warn("spool: create work/%s", name);
	return fd;
}

/* Give the n-th file its name in the task's directory.  Returns 0/-1. */
int
store_upload_place(int workfd, size_t n, const char *to)
{
	char	 name[32];

	snprintf(name, sizeof(name), "part-%zu", n);
	if (renameat(workfd, name, workfd, to) == -1) {
		log_warn("spool: rename work/%s to work/%s", name, to);
		return -1;
	}
	return 0;
}

/* Make the uploads' names durable (their data each writer synced). */
int
store_upload_sync(int workfd)
{
	if (fsync(workfd) == -1) {
		log_warn("spool: fsync a job's work/");
		return -1;
	}
	return 0;
}

/*
 * Copy upload name of job from (in its work/) into the staging work
 * directory workfd (store_stage) under the same name, synced, for a job
 * run again (lifecycle_retry).  A copy, not a link: the task of either
 * job may change its working files, and must not change the other's.
 * *size receives the bytes copied.  Returns STORE_OK, STORE_NOENT when
 * the job or the file is gone (a task may remove its uploads), or
 * STORE_ERR (logged; a name that is not one the store gives, too).
 */
int
store_upload_copy(struct store *sp, int workfd, const char *from,
    const char *name, long long *size)
{
	char		 path[SPOOLCGI_ID_LEN + SPOOLCGI_NAME_MAX + 32];
	char		 chunk[65536];
	struct stat	 sb;
	size_t		 i, len = strlen(name);
	ssize_t		 n = 0;
	int		 in, out, saved;

	if (sp->ops != NULL)
		return sp->ops->upload_copy(sp, workfd, from, name, size);
	*size = 0;
	/* Names are the configured upload's plus a tame extension. */
	for (i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' &&
		    name[i] <= 'Z') || (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '.' || name[i] == '_' || name[i] == '-'))
			break;
	if (len == 0 || i < len || name[0] == '.' ||
	    len > SPOOLCGI_NAME_MAX + 15) {
		log_warnx("spool: jobs/%s/input.json names an upload the "
		    "store did not name", from);
		errno = EINVAL;
		return STORE_ERR;
	}
	snprintf(path, sizeof(path), "%s/work/%s", from, name);
	if ((in = openat(sp->jobsfd, path, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT || errno == ELOOP)
			return STORE_NOENT;
		log_warn("spool: open jobs/%s", path);
		return STORE_ERR;
	}
	if (fstat(in, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(in);
		return STORE_NOENT;
	}
	if ((out = openat(workfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		saved = errno;
		log_warn("spool: create work/%s", name);
		close(in);
		errno = saved;
		return STORE_ERR;
	}
	while ((n = read(in, chunk, sizeof(chunk))) > 0) {
		if (spool_write_all(out, chunk, (size_t)n) == -1)
			break;
		*size += n;
	}
	if (n != 0 || fsync(out) == -1) {
		saved = errno;
		log_warn("spool: copy jobs/%s", path);
		close(in);
		close(out);
		unlinkat(workfd, name, 0);
		errno = saved;
		return STORE_ERR;
	}
	close(in);
	if (close(out) == -1) {
		saved = errno;
		log_warn("spool: close work/%s", name);
		unlinkat(workfd, name, 0);
		errno = saved;
		return STORE_ERR;
	}
	return STORE_OK;
}

/* Give up a staged job: nothing of it stays. */
void
store_abort(struct store *sp, const char *id)
{
	if (spool_remove_tree(sp->tmpfd, id) == -1)
		log_warn("spool: remove tmp/%s", id);
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
	    spool_file_reserve(dfd, SPOOL_RESERVE_FILE,
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

/*
 * Create staged job st (state queued) with the task's stdin in input and
 * queue it, as one step: nobody sees the job without its queue entry.
 * Unless the queue holds maxq jobs; with a key, unless the key belongs
 * to another job (its id in oid, its hash in *ohash).  With lockfd, the
 * caller holds run slots and starts the job itself: it is published with
 * its lock held (returned in *lockfd), without a queue entry or the
 * queue's lock; should the caller die before its supervisor holds the
 * lock, the job is queued without an entry, which a read or the clean-up
 * gives back (store_queue_readd).  The staging is used up whatever
 * happens.  Returns STORE_OK, STORE_FULL, STORE_TAKEN, or STORE_ERR
 * (logged; errno ENOSPC or EDQUOT for a full disk).
 */
int
store_submit(struct store *sp, const struct jobstatus *st, const char *input,
    size_t len, int maxq, const char *key, unsigned long long hash,
    char *oid, unsigned long long *ohash, int *lockfd)
{
	unsigned long long	 seq = 0;
	char			 oname[SPOOLCGI_ID_LEN + 24] = "";
	char			 path[SPOOLCGI_ID_LEN + 8];
	int			 lfd = -1, jfd = -1, rc, saved, full;

	if (sp->ops != NULL)
		return sp->ops->submit(sp, st, input, len, maxq, key, hash,
		    oid, ohash);

	if (spool_prepare(sp, st, input, len) == -1 ||
	    (st->owner[0] != '\0' && spool_owner_add(sp, st->owner, st->id,
	    oname, sizeof(oname)) == -1)) {
		saved = errno;
		store_abort(sp, st->id);
		errno = saved;
		return STORE_ERR;
	}
	if (lockfd != NULL) {
		snprintf(path, sizeof(path), "%s/lock", st->id);
		if ((jfd = spool_job_lock(sp->tmpfd, path, 1)) == -1) {
			log_warn("spool: lock tmp/%s", path);
			goto fail;
		}
	} else {
		if ((lfd = store_queue_lock(sp)) == -1)
			goto fail;
		if (spool_queue_full(sp, maxq, &full) == -1)
			goto unlock;
		if (full) {
			store_unlock(lfd);
			spool_owner_drop(sp, st->owner, oname);
			store_abort(sp, st->id);
			return STORE_FULL;
		}
		/* The entry first, seen once published: after the job. */
		if ((seq = spool_queue_append(sp, st->id)) == 0)
			goto unlock;
	}
	if (renameat(sp->tmpfd, st->id, sp->jobsfd, st->id) == -1) {
		log_warn("spool: rename tmp/%s to jobs/%s", st->id, st->id);
		spool_unpublish(sp, seq, st->id, 0);
		goto unlock;
	}
	if (key != NULL && *key != '\0') {
		/* Claimed once the job exists: a repeat finds a job. */
		rc = spool_key_claim(sp, key, st->id, hash, oid, ohash);
		if (rc != 0) {
			spool_unpublish(sp, seq, st->id, 1);
			store_unlock(lfd);
			if (jfd != -1)
				close(jfd);
			spool_owner_drop(sp, st->owner, oname);
			return rc == 1 ? STORE_TAKEN : STORE_ERR;
		}
	}
	if (seq != 0)
		spool_queue_publish(sp, seq);
	store_unlock(lfd);
	/*
	 * Outside the lock: others queue while this start syncs.  A failed
	 * sync is said, but the job is in place (others may run it now).
	 */
	if (fsync(sp->jobsfd) == -1)
		log_warn("spool: fsync %s/jobs after %s", sp->path, st->id);
	(void)store_metric_move(sp, st->task, -1, JOB_QUEUED);
	if (lockfd != NULL)
		*lockfd = jfd;
	return STORE_OK;
unlock:
	saved = errno;
	store_unlock(lfd);
	if (jfd != -1)
		close(jfd);
	errno = saved;
fail:
	saved = errno;
	spool_owner_drop(sp, st->owner, oname);
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
	struct jobstatus st;
	long long	 size;
	int		 fd, gfd, counted;

	if (sp->ops != NULL)
		return sp->ops->remove(sp, id, tombstone);

	size = spool_du(sp->jobsfd, id);
	/* Its task and state, for the counters: a move to none. */
	counted = spool_metric_on(sp) && store_read(sp, id, &st) == STORE_OK;
	/*
	 * The tombstone first: a reader between the two steps finds the job
	 * (readers look in jobs/ before gone/) or its tombstone, never a
	 * 404.  A removal that fails leaves a tombstone the clean-up ends.
	 */
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
	if (spool_withdraw(sp, id) == -1)
		return -1;
	store_usage_add(sp, -size);
	if (counted)
		(void)store_metric_move(sp, st.task, st.state, -1);
	return 0;
}

/*
 * Undo a submit: the entry, and the job when it was published (its
 * size was never counted in the usage, so it is not taken off either).
 */
static void
spool_unpublish(struct store *sp, unsigned long long key, const char *id,
    int published)
{
	struct qentry	 q;
	int		 saved = errno;

	if (published && spool_withdraw(sp, id) == -1)
		log_warnx("spool: job %s could not be withdrawn", id);
	if (key != 0) {
		q.key = key;
		memcpy(q.id, id, sizeof(q.id));
		(void)store_queue_drop(sp, &q);
	}
	errno = saved;
}

/* Ask the supervisor of job id to stop it.  Returns 0, or -1 (logged). */
int
store_cancel_request(struct store *sp, const char *id)
{
	char	 path[SPOOLCGI_ID_LEN + 16];
	int	 fd;

	if (sp->ops != NULL)
		return sp->ops->cancel(sp, id);

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

	if (sp->ops != NULL && sp->ops->result(sp, id) == -1)
		return -1;

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
 * The name of job id's result for a web server that sends it itself:
 * the absolute path (absolute: X-Sendfile), or the path under the spool
 * ("jobs/ID/result", for X-Accel-Redirect after nginx's prefix).
 * Returns 0, or -1 when out is too small.
 */
int
store_result_name(struct store *sp, const char *id, int absolute, char *out,
    size_t sz)
{
	int	 n;

	n = snprintf(out, sz, "%s%sjobs/%s/result", absolute ? sp->path : "",
	    absolute ? "/" : "", id);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/*
 * Append job id's input (input.json: its task, fields and uploads) to b.
 * Returns STORE_OK, STORE_NOENT when there is no such job, or STORE_ERR
 * (logged).
 */
int
store_input_read(struct store *sp, const char *id, struct buf *b)
{
	int	 dfd, saved;

	if (sp->ops != NULL)
		return sp->ops->input(sp, id, b);

	if ((dfd = openat(sp->jobsfd, id, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return STORE_NOENT;
		log_warn("spool: open jobs/%s", id);
		return STORE_ERR;
	}
	if (spool_input_read(dfd, b) == -1) {
		saved = errno;
		log_warn("spool: read jobs/%s/input.json", id);
		close(dfd);
		errno = saved;
		return saved == ENOENT ? STORE_NOENT : STORE_ERR;
	}
	close(dfd);
	return STORE_OK;
}

/*
 * The last tail bytes of job id's log (the task's stderr) into out, and
 * the log's whole size in *size.  The file is read through one open
 * descriptor (pread from its fstat size), so a log that grows meanwhile
 * gives a consistent piece.  Returns STORE_OK (an empty out when the task
 * has written nothing yet), STORE_NOENT when there is no such job, or
 * STORE_ERR (logged).
 */
int
store_log_read(struct store *sp, const char *id, long long tail,
    struct buf *out, long long *size)
{
	char		 path[SPOOLCGI_ID_LEN + 16], chunk[65536];
	struct stat	 sb;
	off_t		 off;
	ssize_t		 n;
	int		 fd, saved;

	if (sp->ops != NULL)
		return sp->ops->log(sp, id, tail, out, size);

	*size = 0;
	snprintf(path, sizeof(path), "%s/log", id);
	if ((fd = openat(sp->jobsfd, path, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno != ENOENT) {
			log_warn("spool: open jobs/%s", path);
			return STORE_ERR;
		}
		/* No log yet, or no job: which, its directory says. */
		if (faccessat(sp->jobsfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			return STORE_OK;
		return STORE_NOENT;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		saved = S_ISREG(sb.st_mode) ? errno : EINVAL;
		log_warn("spool: fstat jobs/%s", path);
		close(fd);
		errno = saved;
		return STORE_ERR;
	}
	*size = (long long)sb.st_size;
	off = tail < (long long)sb.st_size ? sb.st_size - (off_t)tail : 0;
	while (off < sb.st_size) {
		size_t want = (size_t)(sb.st_size - off) < sizeof(chunk) ?
		    (size_t)(sb.st_size - off) : sizeof(chunk);

		if ((n = pread(fd, chunk, want, off)) == -1) {
			saved = errno;
			log_warn("spool: read jobs/%s", path);
			close(fd);
			errno = saved;
			return STORE_ERR;
		}
		if (n == 0)
			break;
		if (buf_append(out, chunk, (size_t)n) == -1) {
			saved = errno;
			log_warn("spool: jobs/%s: reading the log", path);
			close(fd);
			errno = saved;
			return STORE_ERR;
		}
		off += n;
	}
	close(fd);
	return STORE_OK;
}

/*
 * A descriptor that becomes readable when job id's status is replaced or
 * the job removed (inotify; in a database, any job's end), for waiting
 * without spinning.  Returns it, or -1 (logged): then the caller reads
 * again now and then.
 */
int
store_watch(struct store *sp, const char *id)
{
	char	 path[PATH_MAX], ev[4096];
	int	 wd;

	if (sp->ops != NULL)
		return sp->ops->watch(sp, id);

	/*
	 * One inotify instance per process, kept: closing one waits for
	 * the kernel's SRCU grace period (fsnotify_destroy_group), which
	 * measured 20 ms, every one of them on the answer's path.
	 */
	if (sp->watchfd == -1 &&
	    (sp->watchfd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) == -1) {
		log_warn("spool: inotify_init1");
		return -1;
	}
	if (sp->watchwd != -1)
		store_watch_end(sp, sp->watchfd);
	/* What a watch before this one left: its IN_IGNORED. */
	while (read(sp->watchfd, ev, sizeof(ev)) > 0)
		;
	snprintf(path, sizeof(path), "%s/jobs/%s", sp->path, id);
	if ((wd = inotify_add_watch(sp->watchfd, path, IN_MOVED_TO |
	    IN_DELETE_SELF)) == -1) {
		log_warn("spool: inotify_add_watch %s", path);
		return -1;
	}
	sp->watchwd = wd;
	return sp->watchfd;
}

/*
 * Has watch fd seen a change that poll(2) on fd would not show (a
 * database's notifications its connection already read)?  Then they are
 * taken.  Returns 1 or 0.
 */
int
store_watch_pending(struct store *sp, int fd)
{
	return sp->ops != NULL && fd != -1 && sp->ops->watch_pending(sp, fd);
}

/* Take what made watch fd readable. */
void
store_watch_clear(struct store *sp, int fd)
{
	char	 ev[4096];

	if (sp->ops != NULL)
		(void)sp->ops->watch_pending(sp, fd);
	else
		while (read(fd, ev, sizeof(ev)) > 0)
			;
}

/* The end of watch fd (-1: none). */
void
store_watch_end(struct store *sp, int fd)
{
	if (fd == -1)
		return;
	if (sp->ops != NULL)
		sp->ops->watch_end(sp, fd);
	else if (fd == sp->watchfd) {
		/* The instance stays (store_watch); only its watch goes. */
		if (sp->watchwd != -1)
			(void)inotify_rm_watch(fd, sp->watchwd);
		sp->watchwd = -1;
	} else
		close(fd);
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

	/* Nothing runs here to recover. */
	if (sp->ops != NULL)
		return 0;

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

/*
 * Drain the spool (on) or stop draining it: the file "drain" made or
 * removed, and the spool directory synced, so the change survives a
 * crash.  Returns 0, or -1 (logged).
 */
int
store_drain_set(struct store *sp, int on)
{
	int	 fd;

	if (on) {
		if ((fd = openat(sp->dirfd, "drain", O_WRONLY | O_CREAT |
		    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
			log_warn("spool: create %s/drain", sp->path);
			return -1;
		}
		close(fd);
	} else if (unlinkat(sp->dirfd, "drain", 0) == -1 && errno != ENOENT) {
		log_warn("spool: unlink %s/drain", sp->path);
		return -1;
	}
	if (fsync(sp->dirfd) == -1) {
		log_warn("spool: fsync %s", sp->path);
		return -1;
	}
	return 0;
}

/* Bytes job id takes on disk (0 when it is gone). */
long long
store_job_size(struct store *sp, const char *id)
{
	return spool_du(sp->jobsfd, id);
}

/*
 * Claim Idempotency-Key key (as owner_key_scope made it: [A-Za-z0-9._:-],
 * 1..128, after a scope of hex digits and "~") for job id with the given hash of its task and fields.  The key file is
 * written whole under a temporary name and linked into place, so a
 * racing claim sees either nothing or all of it.  Returns 0 when claimed,
 * 1 when the key is taken (its job and hash in oid and *ohash), -1 on
 * error.
 */
static int
spool_key_claim(struct store *sp, const char *key, const char *id,
    unsigned long long hash, char *oid, unsigned long long *ohash)
{
	char		 name[OWNER_KEY_MAX + 2], tmp[200], line[128];
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
