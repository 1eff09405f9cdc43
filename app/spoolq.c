/*
 * The file spool's queue and run slots: queue/KEY-ID entries in FIFO
 * order, dispatch.lock, and slots/CLASS.N held by supervisors (spool.c's
 * top comment has the protocol).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/mman.h>
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
 * queue.idx, mapped shared by every process of the spool: the cursor
 * (head: no entry lies below it) and the next sequence number (tail: every
 * entry below it is visible to dispatch).  Only the appender, under
 * dispatch.lock, raises tail, after its entry exists; dispatchers raise
 * head over entries that are gone, without a lock (compare-and-swap), so a
 * dispatch reads the next entry by its name, never a listing.  Neither is
 * synced: a power cut may leave them stale, and the recovery of that boot
 * rebuilds them from a listing (spool_queue_rebuild), as does the first
 * open of a spool without the file.  Sequence numbers start at 1 and are
 * never used twice, so an entry's name is its own.
 */
struct spool_qidx {
	unsigned long long	 magic;
	unsigned long long	 head;
	unsigned long long	 tail;
};
#define SPOOL_QIDX_MAGIC	0x73706f6f6c717831ULL	/* "spoolqx1" */

static int
spool_qentry_cmp(const void *a, const void *b)
{
	const struct qentry *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* An entry's name: its sequence number in 16 hex digits. */
static void
spool_queue_seqname(char *out, unsigned long long seq)
{
	static const char hex[] = "0123456789abcdef";
	int	 i;

	for (i = 15; i >= 0; i--, seq >>= 4)
		out[i] = hex[seq & 0xf];
	out[16] = '\0';
}

/* The sequence number a name gives, or 0 when it is not an entry's. */
static unsigned long long
spool_queue_seqof(const char *name)
{
	unsigned long long	 v = 0;
	int			 i, c;

	for (i = 0; i < 16; i++) {
		if ((c = hex_value((unsigned char)name[i])) == -1 ||
		    (name[i] >= 'A' && name[i] <= 'F'))
			return 0;
		v = v << 4 | (unsigned long long)c;
	}
	return name[16] == '\0' ? v : 0;
}

/*
 * Entry seq: 1 with its job's id in q, 0 when there is none, -1 (logged)
 * on error.
 */
static int
spool_queue_read(struct store *sp, unsigned long long seq, struct qentry *q)
{
	char	 name[17], id[SPOOLCGI_ID_LEN + 2];
	ssize_t	 n;

	spool_queue_seqname(name, seq);
	if ((n = readlinkat(sp->queuefd, name, id, sizeof(id))) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("spool: readlink queue/%s", name);
		return -1;
	}
	if (n != SPOOLCGI_ID_LEN || !job_id_check(id, SPOOLCGI_ID_LEN)) {
		log_warnx("spool: queue/%s is not a queue entry: removed",
		    name);
		(void)unlinkat(sp->queuefd, name, 0);
		return 0;
	}
	q->key = seq;
	memcpy(q->id, id, SPOOLCGI_ID_LEN);
	q->id[SPOOLCGI_ID_LEN] = '\0';
	return 1;
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
	size_t		 cap = 0;
	DIR		*d;
	unsigned long long seq;
	int		 saved;

	*out = NULL;
	*n = 0;
	if ((d = spool_opendir(sp->queuefd, ".")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if ((seq = spool_queue_seqof(de->d_name)) == 0)
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
		if (spool_queue_read(sp, seq, &q[*n]) == 1)
			(*n)++;		/* else gone meanwhile */
	}
	closedir(d);
	if (*n > 1)
		qsort(q, *n, sizeof(*q), spool_qentry_cmp);
	*out = q;
	return 0;
}

/*
 * How many entries queue/ holds, from their names alone (no readlink).
 * Returns the count, or -1 with errno set.
 */
static int
spool_queue_count(struct store *sp)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = spool_opendir(sp->queuefd, ".")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (spool_queue_seqof(de->d_name) != 0)
			n++;
	closedir(d);
	return n;
}

static int
spool_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Give the entries of the format before sequence numbers (KEY-ID, an
 * empty file; KEY sorts as the order of acceptance) numbers from *tail
 * on, in their order.  Under dispatch.lock.  Returns 0, or -1 (logged).
 */
static int
spool_queue_migrate(struct store *sp, unsigned long long *tail)
{
	struct dirent	*de;
	DIR		*d;
	char		**names = NULL, **p, to[17];
	size_t		 n = 0, cap = 0, i;
	int		 rc = 0;

	if ((d = spool_opendir(sp->queuefd, ".")) == NULL) {
		log_warn("spool: list %s/queue", sp->path);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 17 + SPOOLCGI_ID_LEN ||
		    de->d_name[16] != '-' ||
		    !job_id_check(de->d_name + 17, SPOOLCGI_ID_LEN))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((p = reallocarray(names, cap, sizeof(*p))) ==
			    NULL) {
				rc = -1;
				break;
			}
			names = p;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == -1)
		log_warn("spool: list %s/queue", sp->path);
	if (n > 1)
		qsort(names, n, sizeof(*names), spool_name_cmp);
	for (i = 0; i < n; i++) {
		if (rc == 0) {
			spool_queue_seqname(to, *tail);
			if (symlinkat(names[i] + 17, sp->queuefd, to) == -1 &&
			    errno != EEXIST) {
				log_warn("spool: symlink queue/%s", to);
				rc = -1;
			} else if (errno = 0, unlinkat(sp->queuefd, names[i],
			    0) == -1) {
				log_warn("spool: unlink queue/%s", names[i]);
				rc = -1;
			}
			(*tail)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/*
 * Rebuild queue.idx from a listing, under dispatch.lock: head at the
 * first entry, tail after the last; entries of the format before sequence
 * numbers get numbers after the others.  Returns 0, or -1 (logged).
 */
static int
spool_queue_rebuild(struct store *sp)
{
	struct qentry	*q;
	size_t		 n, i;
	unsigned long long head = 0, tail = 1;

	if (store_queue_list(sp, &q, &n) == -1) {
		log_warn("spool: list %s/queue", sp->path);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (head == 0)
			head = q[i].key;
		tail = q[i].key + 1;
	}
	free(q);
	if (head == 0)
		head = tail;
	if (spool_queue_migrate(sp, &tail) == -1)
		return -1;
	__atomic_store_n(&sp->qidx->head, head, __ATOMIC_SEQ_CST);
	__atomic_store_n(&sp->qidx->tail, tail, __ATOMIC_SEQ_CST);
	__atomic_store_n(&sp->qidx->magic, SPOOL_QIDX_MAGIC, __ATOMIC_SEQ_CST);
	return 0;
}

/*
 * Map queue.idx (spool_qidx), made and filled from a listing when it is
 * new or not whole.  Returns 0, or -1 (logged).
 */
int
spool_queue_open(struct store *sp)
{
	struct stat	 sb;
	void		*m;
	int		 fd, lfd, rc = 0;

	if ((fd = openat(sp->dirfd, "queue.idx", O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		log_warn("spool: open %s/queue.idx", sp->path);
		return -1;
	}
	if (fstat(fd, &sb) == -1 || (sb.st_size < (off_t)sizeof(*sp->qidx) &&
	    ftruncate(fd, (off_t)sizeof(*sp->qidx)) == -1) ||
	    (m = mmap(NULL, sizeof(*sp->qidx), PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0)) == MAP_FAILED) {
		log_warn("spool: map %s/queue.idx", sp->path);
		close(fd);
		return -1;
	}
	close(fd);
	sp->qidx = m;
	if (__atomic_load_n(&sp->qidx->magic, __ATOMIC_ACQUIRE) ==
	    SPOOL_QIDX_MAGIC)
		return 0;
	if ((lfd = store_queue_lock(sp)) == -1)
		return -1;
	if (sp->qidx->magic != SPOOL_QIDX_MAGIC)
		rc = spool_queue_rebuild(sp);
	store_unlock(lfd);
	return rc;
}

/* Unmap queue.idx. */
void
spool_queue_close(struct store *sp)
{
	if (sp->qidx != NULL)
		munmap(sp->qidx, sizeof(*sp->qidx));
	sp->qidx = NULL;
}

/*
 * The recovery after a boot: queue.idx may be older than the entries a
 * power cut left, so it is rebuilt.  Returns 0, or -1 (logged).
 */
int
spool_queue_recover(struct store *sp)
{
	int	 lfd, rc;

	if ((lfd = store_queue_lock(sp)) == -1)
		return -1;
	rc = spool_queue_rebuild(sp);
	store_unlock(lfd);
	return rc;
}

/* Is the queue empty?  No system call: the first test of every dispatch. */
int
store_queue_empty(struct store *sp)
{
	return __atomic_load_n(&sp->qidx->head, __ATOMIC_ACQUIRE) >=
	    __atomic_load_n(&sp->qidx->tail, __ATOMIC_ACQUIRE);
}

/* Begin a walk of the queue at its cursor. */
void
store_queue_first(struct store *sp, struct qcursor *c)
{
	c->seq = __atomic_load_n(&sp->qidx->head, __ATOMIC_ACQUIRE);
	c->end = __atomic_load_n(&sp->qidx->tail, __ATOMIC_ACQUIRE);
}

/*
 * The next entry of walk c, first in first out: one readlink per entry,
 * and one per gap left by an entry that went.  The cursor moves over the
 * gaps at its place, so the next walk begins at the first entry that
 * waits.  Returns 1 with the entry in q, 0 at the end, -1 (logged).
 */
int
store_queue_next(struct store *sp, struct qcursor *c, struct qentry *q)
{
	unsigned long long	 h;
	int			 rc;

	for (; c->seq < c->end; c->seq++) {
		if ((rc = spool_queue_read(sp, c->seq, q)) != 0) {
			if (rc == 1)
				c->seq++;
			return rc;
		}
		/* A gap: no entry appears below tail again. */
		h = c->seq;
		(void)__atomic_compare_exchange_n(&sp->qidx->head, &h,
		    c->seq + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
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

/*
 * Append job id to the queue, under dispatch.lock (the caller's): its
 * entry queue/SEQ, a symbolic link to the id (made whole, exclusively, in
 * one call), at the first free number from tail on (one a crashed
 * appender left is passed).  Not visible to dispatch until
 * spool_queue_publish.  Not synced: an entry lost to a power cut is made
 * again by the recovery that follows every boot (store_recovery_due).
 * Returns its sequence number, or 0 (logged).
 */
unsigned long long
spool_queue_append(struct store *sp, const char *id)
{
	unsigned long long	 seq;
	char			 name[17];

	seq = __atomic_load_n(&sp->qidx->tail, __ATOMIC_ACQUIRE);
	if (seq == 0)
		seq = 1;
	for (;; seq++) {
		spool_queue_seqname(name, seq);
		if (symlinkat(id, sp->queuefd, name) == 0)
			return seq;
		if (errno != EEXIST) {
			log_warn("spool: symlink queue/%s", name);
			return 0;
		}
	}
}

/* Make entry seq (and those below it) visible to dispatch. */
void
spool_queue_publish(struct store *sp, unsigned long long seq)
{
	__atomic_store_n(&sp->qidx->tail, seq + 1, __ATOMIC_RELEASE);
}

/*
 * Does the queue hold maxq entries (under dispatch.lock)? the cursor's span counts gaps too, so only a span that
 * large is counted by a listing.  Returns 0, or -1 (logged).
 */
int
spool_queue_full(struct store *sp, int maxq, int *full)
{
	int	 n;

	*full = 0;
	if (__atomic_load_n(&sp->qidx->tail, __ATOMIC_ACQUIRE) -
	    __atomic_load_n(&sp->qidx->head, __ATOMIC_ACQUIRE) <
	    (unsigned long long)maxq)
		return 0;
	if ((n = spool_queue_count(sp)) == -1) {
		log_warn("spool: list %s/queue", sp->path);
		return -1;
	}
	*full = n >= maxq;
	return 0;
}

/* Queue job id with a new entry, under the queue's lock.  Returns 0/-1. */
int
spool_queue_add(struct store *sp, const char *id)
{
	unsigned long long	 seq;
	int			 lfd;

	if ((lfd = store_queue_lock(sp)) == -1)
		return -1;
	if ((seq = spool_queue_append(sp, id)) != 0)
		spool_queue_publish(sp, seq);
	store_unlock(lfd);
	return seq != 0 ? 0 : -1;
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
 * Remove queue entry q whose job was not found.  An entry is visible only
 * once its job was published, so one without a job is left by a crash, or
 * its job was removed since; unless the job is still being created
 * (tmp/ID), looked at first: a job leaves tmp/ only for jobs/.  Returns
 * 0, or -1 (logged).
 */
int
store_queue_drop_orphan(struct store *sp, const struct qentry *q)
{
	struct stat	 sb;

	if (fstatat(sp->tmpfd, q->id, &sb, AT_SYMLINK_NOFOLLOW) == 0 ||
	    fstatat(sp->jobsfd, q->id, &sb, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT)
		return 0;
	return store_queue_drop(sp, q);
}

/* Remove queue entry q.  Returns 0 (also when it was gone), or -1. */
int
store_queue_drop(struct store *sp, const struct qentry *q)
{
	char	 name[SPOOLCGI_ID_LEN + 24];

	if (q->key == 0)	/* none: a job started without one */
		return 0;
	spool_queue_seqname(name, q->key);
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
	unsigned long long	 seq;
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
			if ((seq = spool_queue_append(sp, id)) == 0)
				rc = -1;
			else {
				spool_queue_publish(sp, seq);
				rc = 1;
			}
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
	int	 lfd, n;

	if (sp->ops != NULL)
		return sp->ops->counts(sp, queued, running);

	*queued = *running = 0;
	if ((lfd = store_queue_lock(sp)) == -1)
		return -1;
	if ((n = spool_queue_count(sp)) == -1) {
		log_warn("spool: list %s/queue", sp->path);
		store_unlock(lfd);
		return -1;
	}
	*queued = n;
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
