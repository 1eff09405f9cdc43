/*
 * The file spool's clean-up and per-client counters: gc.lock and
 * gc.stamp, the walk over jobs/, tombstones, stale staging, keys whose job
 * is gone, and clients/ADDR for the per-client limits (spool.c's top
 * comment has the layout).
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
	/* After a boot, the queue's cursor may be older than its entries. */
	if (sp->recovery == 1)
		(void)spool_queue_recover(sp);
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
 * Call fn(arg, id) for every job in the store: the clean-up's walk, and
 * the operator's listing ("spoolcgi jobs"); no request walks the jobs.
 * Returns 0, or -1 (logged).
 */
int
store_gc_jobs(struct store *sp, int (*fn)(void *, const char *), void *arg)
{
	struct dirent	*de;
	DIR		*d;

	/* The records are rows: the clean-up's work is ops->gc's. */
	if (sp->ops != NULL)
		return 0;

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
 * Call fn(arg, id) for every job: the operator's listing ("spoolcgi
 * jobs").  The clean-up's walk above on the file spool; the rows of a
 * database.  Returns 0, or -1 (logged).
 */
int
store_jobs(struct store *sp, int (*fn)(void *, const char *), void *arg)
{
	if (sp->ops != NULL)
		return sp->ops->jobs(sp, fn, arg);
	return store_gc_jobs(sp, fn, arg);
}

/*
 * The store's own leftovers, then release the clean-up (lock lfd):
 * tombstones older than tombstone seconds, staging older than an hour,
 * keys whose job is gone, clients with nothing pending, owners' entries
 * of jobs that are gone (spoolown.c); the spool's size
 * measured anew.
 */
void
store_gc_end(struct store *sp, int lfd, long tombstone, time_t now,
    struct gcstats *gs)
{
	if (sp->ops != NULL)
		sp->ops->gc(sp, now, gs);
	spool_gc_dir(sp, "gone", now, tombstone, NULL, &gs->tombstones);
	spool_gc_dir(sp, "tmp", now, 3600, NULL, &gs->temps);
	spool_gc_dir(sp, "keys", now, 60, spool_gc_key_live, &gs->keys);
	spool_gc_clients(sp, now);
	spool_gc_owners(sp);
	spool_usage_set(sp, spool_du(sp->dirfd, "."));
	store_unlock(lfd);
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
 * store_client_done.  With a database, both are the database's, so that
 * a client's starts count alike on every front (pg_client_admit).  Returns 0 when admitted, 1 when over a limit
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
	cl->shared = NULL;
	if (sp->ops != NULL) {
		/* Counted in the database: exact across fronts. */
		if ((n = sp->ops->client_admit(sp, addr, maxjobs, perminute,
		    retry)) == 0) {
			cl->shared = sp;
			snprintf(cl->addr, sizeof(cl->addr), "%s", addr);
		}
		return (int)n;
	}
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
		if ((*retry = job_rate_window(now, &start, &count,
		    perminute)) > 0)
			goto over;
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

	if (cl->shared != NULL) {
		cl->shared->ops->client_done(cl->shared, cl->addr, id);
		cl->shared = NULL;
	}
	if (cl->dirfd != -1 && id != NULL && (fd = openat(cl->dirfd, id,
	    O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) != -1)
		close(fd);
	if (cl->dirfd != -1)
		close(cl->dirfd);
	if (cl->lockfd != -1)
		close(cl->lockfd);
	cl->dirfd = cl->lockfd = -1;
}
