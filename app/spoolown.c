/*
 * The file spool's index of owners, for "my jobs" (README "My jobs"), and
 * the secret their tokens are signed with (spool.c's top comment has the
 * layout):
 *
 *   owners/HASH/KEY-ID  one empty file per job that owner HASH started;
 *                       HASH is 32 hex digits (owner_hash: never the
 *                       cookie or the user name itself), KEY 16 hex digits
 *                       of the clock in nanoseconds at the start, so that
 *                       names sort in the order jobs were started
 *   secret              32 random bytes, made once, never served; with a
 *                       database, the database's instead (one for every
 *                       front), this one offered as its first value
 *
 * An owner's list reads its own directory and the statuses of one page
 * of jobs; it never walks jobs/.  The entry is created and synced before
 * the job is published (store_submit), so a job answered with an id is
 * listed after any crash; a crash in between leaves an entry without a
 * job, which the list skips and the clean-up removes, as it removes the
 * entries of jobs that expired or were deleted (spool_gc_owners).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/random.h>
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

#define SPOOL_OWNER_KEY		16	/* hex digits of an entry's key */
#define SPOOL_OWNER_ENTRY	(SPOOL_OWNER_KEY + 1 + SPOOLCGI_ID_LEN)

/* Is s (len bytes) n lower-case hex digits? */
static int
spool_hex(const char *s, size_t len, size_t n)
{
	size_t	 i;

	if (len != n)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return 0;
	return 1;
}

/* Is name an entry of an owner's directory, KEY-ID? */
static int
spool_owner_entry(const char *name)
{
	size_t	 len = strlen(name);

	return len == SPOOL_OWNER_ENTRY &&
	    spool_hex(name, SPOOL_OWNER_KEY, SPOOL_OWNER_KEY) &&
	    name[SPOOL_OWNER_KEY] == '-' &&
	    job_id_check(name + SPOOL_OWNER_KEY + 1, SPOOLCGI_ID_LEN);
}

/* Open owners/, or NULL-like -1 (errno set). */
static int
spool_owners_fd(struct store *sp)
{
	return openat(sp->dirfd, "owners", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
}

/*
 * Record job id as started by owner (SPOOLCGI_OWNER_LEN hex digits),
 * durably: the entry and its directory synced.  Called before the job is
 * published.  The entry's name goes to name (size sz) for
 * spool_owner_drop.  Returns 0, or -1 (logged).
 */
int
spool_owner_add(struct store *sp, const char *owner, const char *id,
    char *name, size_t sz)
{
	struct timespec	 ts;
	int		 ofd, hfd = -1, fd, tries, made;

	if (!spool_hex(owner, strlen(owner), SPOOLCGI_OWNER_LEN) ||
	    !job_id_check(id, strlen(id)) || sz <= SPOOL_OWNER_ENTRY) {
		log_warnx("spool: owner entry for %s: bad arguments", id);
		errno = EINVAL;
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sz, "%016llx-%s", (unsigned long long)ts.tv_sec *
	    1000000000ULL + (unsigned long long)ts.tv_nsec, id);
	if ((ofd = spool_owners_fd(sp)) == -1) {
		log_warn("spool: open %s/owners", sp->path);
		return -1;
	}
	/*
	 * The clean-up removes an owner's directory once it is empty: an
	 * entry that finds it gone (ENOENT) makes it again.
	 */
	for (tries = 0; tries < 3; tries++) {
		made = mkdirat(ofd, owner, 0700) == 0;
		if (!made && errno != EEXIST)
			break;
		if ((hfd = openat(ofd, owner, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1)
			continue;
		if ((fd = openat(hfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
			close(hfd);
			hfd = -1;
			continue;
		}
		close(fd);
		if (fsync(hfd) == -1 || (made && fsync(ofd) == -1)) {
			log_warn("spool: fsync owners/%s", owner);
			unlinkat(hfd, name, 0);
			close(hfd);
			close(ofd);
			return -1;
		}
		close(hfd);
		close(ofd);
		return 0;
	}
	log_warn("spool: create owners/%s/%s", owner, name);
	close(ofd);
	return -1;
}

/* Take back entry name of owner (a start that was refused after all). */
void
spool_owner_drop(struct store *sp, const char *owner, const char *name)
{
	char	 path[SPOOLCGI_OWNER_LEN + SPOOL_OWNER_ENTRY + 2];
	int	 ofd, saved = errno;

	if (owner[0] == '\0' || name[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/%s", owner, name);
	if ((ofd = spool_owners_fd(sp)) == -1 ||
	    (unlinkat(ofd, path, 0) == -1 && errno != ENOENT))
		log_warn("spool: unlink owners/%s", path);
	/* A directory made for this entry goes too: a refusal leaves none. */
	if (ofd != -1) {
		(void)unlinkat(ofd, owner, AT_REMOVEDIR);
		close(ofd);
	}
	errno = saved;
}

/* Newest first: entries sort by their key, then by id. */
static int
spool_owner_cmp(const void *a, const void *b)
{
	return -strcmp((const char *)a, (const char *)b);
}

/*
 * One page of owner's jobs, newest first: at most limit statuses into out
 * (which holds limit), their number in *n, starting after the entry
 * before ("" or NULL: from the newest; else a cursor this function gave).
 * next (size nextsz) receives the cursor of the following page, or ""
 * when this is the last.  Entries whose job is gone are skipped.
 * Returns STORE_OK (an owner with no jobs has an empty list), STORE_NOENT
 * when before is not a cursor of this store (refuse it: 400), or
 * STORE_ERR (logged).
 */
int
store_owner_list(struct store *sp, const char *owner, const char *before,
    size_t limit, struct jobstatus *out, size_t *n, char *next,
    size_t nextsz)
{
	char		(*names)[SPOOL_OWNER_ENTRY + 1] = NULL, *id;
	char		 path[SPOOLCGI_ID_LEN + sizeof(SPOOL_STATUS) + 2];
	struct dirent	*de;
	size_t		 count = 0, cap = 0, i;
	DIR		*d;
	void		*p;
	int		 ofd, fd;

	if (sp->ops != NULL)
		return sp->ops->owner_list(sp, owner, before, limit, out, n,
		    next, nextsz);

	*n = 0;
	if (nextsz > 0)
		next[0] = '\0';
	if (before != NULL && *before != '\0' && !spool_owner_entry(before))
		return STORE_NOENT;
	if (!spool_hex(owner, strlen(owner), SPOOLCGI_OWNER_LEN)) {
		log_warnx("spool: owner list: not an owner's hash");
		errno = EINVAL;
		return STORE_ERR;
	}
	if ((ofd = spool_owners_fd(sp)) == -1) {
		if (errno == ENOENT)
			return STORE_OK;
		log_warn("spool: open %s/owners", sp->path);
		return STORE_ERR;
	}
	d = spool_opendir(ofd, owner);
	close(ofd);
	if (d == NULL) {
		if (errno == ENOENT)
			return STORE_OK;
		log_warn("spool: opendir owners/%s", owner);
		return STORE_ERR;
	}
	while ((de = readdir(d)) != NULL) {
		if (!spool_owner_entry(de->d_name) || (before != NULL &&
		    *before != '\0' && strcmp(de->d_name, before) >= 0))
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 64;
			if ((p = reallocarray(names, cap, sizeof(*names))) ==
			    NULL) {
				log_warn("spool: owners/%s: reallocarray",
				    owner);
				closedir(d);
				free(names);
				return STORE_ERR;
			}
			names = p;
		}
		memcpy(names[count++], de->d_name, SPOOL_OWNER_ENTRY + 1);
	}
	closedir(d);
	if (count > 0)
		qsort(names, count, sizeof(*names), spool_owner_cmp);
	for (i = 0; i < count; i++) {
		if (*n == limit) {
			/* More follow: the page ends at the last one shown. */
			if (*n > 0)
				snprintf(next, nextsz, "%s", names[i - 1]);
			break;
		}
		id = names[i] + SPOOL_OWNER_KEY + 1;
		snprintf(path, sizeof(path), "%s/%s", id, SPOOL_STATUS);
		if ((fd = openat(sp->jobsfd, path, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1) {
			if (errno != ENOENT && errno != ENOTDIR)
				log_warn("spool: open jobs/%s", path);
			continue;	/* removed, or not yet published */
		}
		if (spool_status_fd(fd, &out[*n]) == -1) {
			log_warn("spool: read jobs/%s", path);
			continue;
		}
		/*
		 * The index names the owner; a status that names another
		 * is not listed.  One that names none (rebuilt after a crash
		 * took it) is the index's word.
		 */
		if (out[*n].owner[0] != '\0' &&
		    strcmp(out[*n].owner, owner) != 0)
			continue;
		(*n)++;
	}
	free(names);
	return STORE_OK;
}

/*
 * The clean-up's part: entries whose job is gone (expired, deleted, or
 * never published after a crash), and owners left with none.  A job
 * being started is in tmp/ with its entry made, so both places are
 * looked at.
 */
void
spool_gc_owners(struct store *sp)
{
	struct dirent	*de, *e;
	struct stat	 sb;
	const char	*id;
	DIR		*d, *od;
	int		 ofd;

	if ((ofd = spool_owners_fd(sp)) == -1)
		return;
	if ((d = spool_opendir(ofd, ".")) == NULL) {
		close(ofd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!spool_hex(de->d_name, strlen(de->d_name),
		    SPOOLCGI_OWNER_LEN))
			continue;
		if ((od = spool_opendir(ofd, de->d_name)) == NULL)
			continue;
		while ((e = readdir(od)) != NULL) {
			if (!spool_owner_entry(e->d_name))
				continue;
			/*
			 * Staging first, then jobs/: a job renamed from one
			 * to the other between the looks is seen in jobs/.
			 */
			id = e->d_name + SPOOL_OWNER_KEY + 1;
			if (fstatat(sp->tmpfd, id, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0 ||
			    fstatat(sp->jobsfd, id, &sb,
			    AT_SYMLINK_NOFOLLOW) == 0)
				continue;
			if (unlinkat(dirfd(od), e->d_name, 0) == -1 &&
			    errno != ENOENT)
				log_warn("spool: unlink owners/%s/%s",
				    de->d_name, e->d_name);
		}
		closedir(od);
		/* Fails while an entry is left: as it should. */
		(void)unlinkat(ofd, de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
	close(ofd);
}

/*
 * The secret of a store whose fronts share a database: the database's
 * (ops->secret), so that a token one front gave out is good on all.  The
 * first front to need it offers this spool's own secret when it has one
 * (the tokens it gave out stay good), else, with create, fresh bytes.
 * Returns as store_secret.
 */
static int
spool_secret_shared(struct store *sp, unsigned char out[STORE_SECRET_LEN],
    int create)
{
	unsigned char	 offer[STORE_SECRET_LEN];
	ssize_t		 got = 0;
	int		 fd, rc;

	if (sp->ops->secret(sp, out, NULL) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	if ((fd = openat(sp->dirfd, "secret", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) != -1) {
		got = read(fd, offer, sizeof(offer));
		close(fd);
	}
	if (got != (ssize_t)sizeof(offer)) {
		if (!create) {
			errno = ENOENT;
			return -1;
		}
		if (getrandom(offer, sizeof(offer), 0) !=
		    (ssize_t)sizeof(offer)) {
			log_warn("spool: getrandom");
			return -1;
		}
	}
	rc = sp->ops->secret(sp, out, offer);
	explicit_bzero(offer, sizeof(offer));
	return rc;
}

/*
 * The spool's secret (STORE_SECRET_LEN random bytes) into out; with
 * create, made on first use: written whole under a name of its own,
 * synced, and linked into place, so that of two first uses one wins and
 * both read its bytes.  Without create, a spool that has none yet is
 * left as it is (a request that only checks a token leaves nothing
 * behind).  Returns 0, or -1 (logged; without create, errno ENOENT and
 * not logged when there is none).
 */
int
store_secret(struct store *sp, unsigned char out[STORE_SECRET_LEN],
    int create)
{
	unsigned char	 fresh[STORE_SECRET_LEN];
	char		 tmp[64];
	ssize_t		 got;
	int		 fd, tries;

	if (sp->ops != NULL)
		return spool_secret_shared(sp, out, create);
	for (tries = 0; tries < 3; tries++) {
		if ((fd = openat(sp->dirfd, "secret", O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC)) != -1) {
			got = read(fd, out, STORE_SECRET_LEN);
			close(fd);
			if (got == STORE_SECRET_LEN)
				return 0;
			log_warnx("spool: %s/secret is not %d bytes: remove "
			    "it (the owner cookies given so far will be "
			    "refused)", sp->path, STORE_SECRET_LEN);
			errno = EINVAL;
			return -1;
		}
		if (errno != ENOENT) {
			log_warn("spool: open %s/secret", sp->path);
			return -1;
		}
		if (!create)
			return -1;
		if (getrandom(fresh, sizeof(fresh), 0) != (ssize_t)sizeof(fresh)) {
			log_warn("spool: getrandom");
			return -1;
		}
		snprintf(tmp, sizeof(tmp), "secret.%ld", (long)getpid());
		unlinkat(sp->dirfd, tmp, 0);
		if (spool_file_create(sp->dirfd, tmp, (const char *)fresh,
		    sizeof(fresh)) == -1) {
			log_warn("spool: create %s/%s", sp->path, tmp);
			return -1;
		}
		if (linkat(sp->dirfd, tmp, sp->dirfd, "secret", 0) == -1 &&
		    errno != EEXIST) {
			log_warn("spool: link %s/secret", sp->path);
			unlinkat(sp->dirfd, tmp, 0);
			return -1;
		}
		unlinkat(sp->dirfd, tmp, 0);
		(void)fsync(sp->dirfd);
		/* Read back: another process's may have won. */
	}
	log_warnx("spool: %s/secret could not be made", sp->path);
	errno = EIO;
	return -1;
}
