/*
 * The file spool's queue and run slots: queue/KEY-ID entries in FIFO
 * order, dispatch.lock, and slots/CLASS.N held by supervisors (spool.c's
 * top comment has the protocol).
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

void
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
int
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
int
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

/* Queue job id with a new entry, under the queue's lock.  Returns 0/-1. */
int
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
int
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

	/* The row's read gave it. */
	if (sp->ops != NULL)
		return 0;

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

	if (sp->ops != NULL)
		return 0;	/* the row is its own entry */

	if ((qfd = store_queue_lock(sp)) == -1)
		return -1;
	if (store_queue_position(sp, id) > 0)
		goto done;
	if ((dfd = openat(sp->jobsfd, id, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		goto done;
	if ((jl = spool_job_lock(dfd, "lock", 1)) != -1) {
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

	if (sp->ops != NULL)
		return sp->ops->counts(sp, queued, running);

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
