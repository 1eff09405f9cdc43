/*
 * The file spool's counters, for GET {base}/metrics: events of a job's
 * life counted as they happen, so that a scrape never walks jobs/.
 *
 * Layout, under spool/metrics/ (spool.c's top comment has the rest):
 *
 *   new.TASK            jobs of TASK accepted by a start
 *   in.TASK.STATE       moves of a job of TASK into STATE
 *   out.TASK.STATE      moves out of STATE (removal is a move to none)
 *   dur.TASK.I          runs of TASK that took at most bucket I (+Inf for
 *                       I = STORE_METRIC_NBUCKETS); not cumulative
 *   ms.TASK.K           the run times of TASK in milliseconds, digit K
 *                       (units, tens, ...): each run adds its K-th
 *                       decimal digit, so the sum is sum(size * 10^K)
 *   refused.REASON      refused starts
 *   snapshot            the clean-up's count of jobs by task and state,
 *                       with the in/out counts it saw, "TASK STATE N IN
 *                       OUT" lines, replaced whole by rename
 *
 * A counter's value is its file's size.  An event appends as many bytes
 * as it counts with one write(2) on an O_APPEND descriptor, which the
 * kernel applies whole at the end of the file (POSIX write, O_APPEND):
 * any number of FastCGI processes and supervisors count at once without
 * a lock, and a reader's fstat sees every finished append.  Nothing is
 * fsynced: a power cut may lose the last increments, never corrupt a
 * counter or the jobs (which are durable on their own).  A run time is
 * its digits, so the exact sum costs a few bytes a run and one fstat per
 * digit to read, where a file of records would cost a read of every run
 * at every scrape.
 *
 * Jobs by state are the moves in minus the moves out.  A crash between a
 * status write and its count, or a power cut, would leave such a gauge
 * wrong for ever; so every clean-up, which reads every status anyway,
 * counts the jobs itself and writes that count with the in/out values it
 * saw then (the snapshot), and a reader adds only the moves since.  A
 * move during the clean-up's walk may be off by one until the next.
 *
 * Nothing is counted while metrics/ does not exist: the first scrape
 * makes it (store_metric_enable), so a spool whose metrics are off pays
 * one failed openat per counter and keeps no trace.  The files grow by
 * about 40 bytes per job (the run time's digits dominate): a million
 * jobs is some tens of MB.  Removing metrics/ stops the counting until
 * the next scrape, which starts it again from zero (a counter reset, to
 * Prometheus).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

#define SM_DIR		"metrics"
#define SM_SNAPSHOT	"snapshot"
#define SM_SNAP_MAX	(1024 * 1024)
#define SM_DIGITS	19	/* of a long long */

/* Upper bounds of the run time buckets, in milliseconds. */
const long long	 store_metric_bucket_ms[STORE_METRIC_NBUCKETS] = {
	1000, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
	7200000, 21600000, 86400000
};

/* A task name or a label as it may stand in a file name. */
static int
sm_word_ok(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '-'))
			return 0;
	return i > 0 && i <= SPOOLCGI_NAME_MAX;
}

/* Open metrics/.  Returns the fd, or -1 (errno ENOENT: not counting). */
static int
sm_dir(struct store *sp)
{
	return openat(sp->dirfd, SM_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
}

/* Is the store counting (does metrics/ exist)?  Returns 1 or 0. */
int
spool_metric_on(struct store *sp)
{
	return faccessat(sp->dirfd, SM_DIR, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * Start counting, if not yet: make metrics/ (the metrics were turned
 * on).  The jobs already there are counted by the next clean-up, so a
 * clean-up is made due at once.  Returns 0, or -1 (logged).
 */
int
store_metric_enable(struct store *sp)
{
	if (mkdirat(sp->dirfd, SM_DIR, 0700) == -1) {
		if (errno == EEXIST)
			return 0;
		log_warn("spool: mkdir %s/%s", sp->path, SM_DIR);
		return -1;
	}
	if (unlinkat(sp->dirfd, "gc.stamp", 0) == -1 && errno != ENOENT)
		log_warn("spool: unlink %s/gc.stamp", sp->path);
	return 0;
}

/*
 * Add n (1 to 64) to counter name: one append of n bytes.  Returns 0, or
 * -1 (logged).
 */
static int
sm_add(struct store *sp, const char *name, unsigned int n)
{
	static const char	 ones[64];
	char			 path[NAME_MAX + sizeof(SM_DIR) + 1];
	ssize_t			 w;
	int			 fd;

	if (n == 0)
		return 0;
	if (n > sizeof(ones))
		n = sizeof(ones);
	/* One open: without metrics/, O_CREAT fails with ENOENT. */
	snprintf(path, sizeof(path), "%s/%s", SM_DIR, name);
	if ((fd = openat(sp->dirfd, path, O_WRONLY | O_APPEND | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		if (errno == ENOENT)
			return 0;	/* the metrics are off */
		log_warn("spool: open %s/%s", sp->path, path);
		return -1;
	}
	/* One write: a short one is an increment lost, never a torn one. */
	if ((w = write(fd, ones, n)) == -1)
		log_warn("spool: append to %s/%s", sp->path, path);
	close(fd);
	return w == -1 ? -1 : 0;
}

static const char *
sm_state(int s)
{
	return s < 0 ? NULL : job_state_name((enum job_state)s);
}

/*
 * Count a move of a job of task from state from to state to (either -1:
 * none, i.e. created or removed).  Returns 0, or -1 (logged).
 */
int
store_metric_move(struct store *sp, const char *task, int from, int to)
{
	char	 name[SPOOLCGI_NAME_MAX + 32];
	int	 rc = 0;

	if (!sm_word_ok(task) || from == to)
		return 0;
	if (from < 0 && to == JOB_QUEUED) {
		snprintf(name, sizeof(name), "new.%s", task);
		rc |= sm_add(sp, name, 1);
	}
	if (from >= 0) {
		snprintf(name, sizeof(name), "out.%s.%s", task, sm_state(from));
		rc |= sm_add(sp, name, 1);
	}
	if (to >= 0) {
		snprintf(name, sizeof(name), "in.%s.%s", task, sm_state(to));
		rc |= sm_add(sp, name, 1);
	}
	return rc;
}

/* Count a run of task that took ms milliseconds.  Returns 0, or -1. */
int
store_metric_run(struct store *sp, const char *task, long long ms)
{
	char	 name[SPOOLCGI_NAME_MAX + 32];
	int	 i, rc;

	if (!sm_word_ok(task))
		return 0;
	if (ms < 0)
		ms = 0;
	for (i = 0; i < STORE_METRIC_NBUCKETS; i++)
		if (ms <= store_metric_bucket_ms[i])
			break;
	snprintf(name, sizeof(name), "dur.%s.%d", task, i);
	rc = sm_add(sp, name, 1);
	for (i = 0; ms > 0; i++, ms /= 10) {
		snprintf(name, sizeof(name), "ms.%s.%d", task, i);
		rc |= sm_add(sp, name, (unsigned int)(ms % 10));
	}
	return rc;
}

/* Count a refused start; reason is a refusal's code.  Returns 0, or -1. */
int
store_metric_refused(struct store *sp, const char *reason)
{
	char	 name[64];

	if (!sm_word_ok(reason) || strlen(reason) > 32)
		return 0;
	snprintf(name, sizeof(name), "refused.%s", reason);
	return sm_add(sp, name, 1);
}

/* ---------------------------------------------------------- reading */

struct sm_list {
	struct metric	*m;
	size_t		 n, cap;
};

/* The entry of (kind, task, label, bucket), added as 0 when missing. */
static struct metric *
sm_get(struct sm_list *l, enum metric_kind kind, const char *task,
    const char *label, int bucket)
{
	struct metric	*m;
	size_t		 i;

	for (i = 0; i < l->n; i++) {
		m = &l->m[i];
		if (m->kind == kind && m->bucket == bucket &&
		    strcmp(m->task, task) == 0 && strcmp(m->label, label) == 0)
			return m;
	}
	if (l->n == l->cap) {
		size_t	 cap = l->cap ? l->cap * 2 : 64;

		if ((m = reallocarray(l->m, cap, sizeof(*m))) == NULL)
			return NULL;
		l->m = m;
		l->cap = cap;
	}
	m = &l->m[l->n++];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->bucket = bucket;
	snprintf(m->task, sizeof(m->task), "%s", task);
	snprintf(m->label, sizeof(m->label), "%s", label);
	return m;
}

/*
 * One file of metrics/, of size v: split "KIND.TASK[.LABEL]" and add it
 * to l.  METRIC_IN_/OUT_ are the raw moves, folded later.  Unknown names
 * are skipped.  Returns 0, or -1 when memory ran out.
 */
static int
sm_file(struct sm_list *l, const char *name, long long v)
{
	char		 buf[NAME_MAX + 1], *task, *label;
	struct metric	*m;
	enum job_state	 s;
	long		 k;
	char		*end;

	if (snprintf(buf, sizeof(buf), "%s", name) >= (int)sizeof(buf) ||
	    (task = strchr(buf, '.')) == NULL)
		return 0;
	*task++ = '\0';
	if ((label = strchr(task, '.')) != NULL)
		*label++ = '\0';
	if (strcmp(buf, "refused") == 0) {
		if (label != NULL || !sm_word_ok(task) || strlen(task) >= 32)
			return 0;
		m = sm_get(l, METRIC_REFUSED, "", task, 0);
	} else if (!sm_word_ok(task))
		return 0;
	else if (strcmp(buf, "new") == 0 && label == NULL)
		m = sm_get(l, METRIC_STARTED, task, "", 0);
	else if ((strcmp(buf, "in") == 0 || strcmp(buf, "out") == 0) &&
	    label != NULL && job_state_parse(label, &s) == 0)
		m = sm_get(l, buf[0] == 'i' ? METRIC_IN_ : METRIC_OUT_, task,
		    label, 0);
	else if ((strcmp(buf, "dur") == 0 || strcmp(buf, "ms") == 0) &&
	    label != NULL && *label >= '0' && *label <= '9') {
		k = strtol(label, &end, 10);
		if (*end != '\0' || k > (buf[0] == 'd' ?
		    STORE_METRIC_NBUCKETS : SM_DIGITS - 1))
			return 0;
		if (buf[0] == 'd')
			m = sm_get(l, METRIC_BUCKET, task, "", (int)k);
		else {
			/* The sum of the digits times their weight. */
			if ((m = sm_get(l, METRIC_SUM_MS, task, "", 0)) ==
			    NULL)
				return -1;
			while (k-- > 0)
				v *= 10;
			m->value += v;
			return 0;
		}
	} else
		return 0;
	if (m == NULL)
		return -1;
	m->value += v;
	return 0;
}

/*
 * Read metrics/snapshot into l as METRIC_JOBS entries: the count, less
 * the moves it had seen (the caller adds every move).  Returns 0, or -1
 * when memory ran out.
 */
static int
sm_snapshot(struct sm_list *l, int dfd)
{
	char		*buf, *line, *next, task[SPOOLCGI_NAME_MAX + 1];
	char		 state[16];
	long long	 n, in, out;
	struct metric	*m;
	struct stat	 sb;
	enum job_state	 s;
	ssize_t		 r;
	size_t		 len = 0;
	int		 fd, rc = 0;

	/* Whole or not at all: it is replaced by rename, never written. */
	if ((fd = openat(dfd, SM_SNAPSHOT, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return 0;
	if (fstat(fd, &sb) == -1 || sb.st_size > SM_SNAP_MAX) {
		close(fd);
		return 0;	/* counted from the moves alone, then */
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return -1;
	}
	while (len < (size_t)sb.st_size && (r = read(fd, buf + len,
	    (size_t)sb.st_size - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = '\0';
	for (line = buf; *line != '\0' && rc == 0; line = next) {
		if ((next = strchr(line, '\n')) == NULL)
			break;		/* a torn last line: never written so */
		*next++ = '\0';
		if (sscanf(line, "%64s %15s %lld %lld %lld", task, state, &n,
		    &in, &out) != 5 || !sm_word_ok(task) ||
		    job_state_parse(state, &s) == -1)
			continue;
		if ((m = sm_get(l, METRIC_JOBS, task, state, 0)) == NULL) {
			rc = -1;
			break;
		}
		/* The moves it saw are in its count already. */
		m->value += n - in + out;
	}
	free(buf);
	return rc;
}

/* Every counter file of metrics/ into l.  Returns 0, or -1 (logged). */
static int
sm_scan(struct store *sp, int dfd, struct sm_list *l)
{
	struct stat	 sb;
	struct dirent	*de;
	DIR		*d;
	int		 rc = 0;

	if ((d = spool_opendir(dfd, ".")) == NULL) {
		log_warn("spool: opendir %s/%s", sp->path, SM_DIR);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strchr(de->d_name, '.') == NULL)
			continue;
		if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(sb.st_mode))
			continue;	/* gone meanwhile, or not ours */
		if (sm_file(l, de->d_name, (long long)sb.st_size) == -1) {
			log_warn("spool: reading %s/%s", sp->path, SM_DIR);
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

/*
 * Every counter, with the jobs by task and state computed: *out gets an
 * array of *n entries (free it).  Costs one directory read of metrics/,
 * whose size is bounded by the tasks, states, buckets and reasons, never
 * by the jobs; jobs/ is never listed.  Returns 0, or -1 (logged).
 */
int
store_metric_read(struct store *sp, struct metric **out, size_t *n)
{
	struct sm_list	 l = { 0 };
	struct metric	*m, *j;
	enum job_state	 s;
	size_t		 i, cnt;
	int		 dfd;

	*out = NULL;
	*n = 0;
	if ((dfd = sm_dir(sp)) == -1) {
		if (errno == ENOENT)
			return 0;	/* nothing counted yet */
		log_warn("spool: open %s/%s", sp->path, SM_DIR);
		return -1;
	}
	if (sm_scan(sp, dfd, &l) == -1)
		goto fail;
	if (sm_snapshot(&l, dfd) == -1) {
		log_warn("spool: read %s/%s/%s", sp->path, SM_DIR, SM_SNAPSHOT);
		goto fail;
	}
	close(dfd);
	/* Jobs by state: the snapshot's count, plus moves in, less out. */
	cnt = l.n;
	for (i = 0; i < cnt; i++) {
		m = &l.m[i];
		if (m->kind != METRIC_IN_ && m->kind != METRIC_OUT_)
			continue;
		if ((j = sm_get(&l, METRIC_JOBS, m->task, m->label, 0)) ==
		    NULL) {
			log_warn("spool: reading %s/%s", sp->path, SM_DIR);
			free(l.m);
			return -1;
		}
		m = &l.m[i];	/* sm_get may have moved the array */
		j->value += m->kind == METRIC_IN_ ? m->value : -m->value;
	}
	/*
	 * The runs are the moves into running, the finishes the moves into
	 * a final state; the raw moves go.
	 */
	for (i = 0, cnt = 0; i < l.n; i++) {
		m = &l.m[i];
		if (m->kind == METRIC_JOBS && m->value < 0)
			m->value = 0;	/* a count lost to a power cut */
		if (m->kind == METRIC_IN_ && strcmp(m->label, "running") == 0) {
			m->kind = METRIC_RUNS;
			m->label[0] = '\0';
		} else if (m->kind == METRIC_IN_ &&
		    job_state_parse(m->label, &s) == 0 && job_state_final(s))
			m->kind = METRIC_FINISHED;
		else if (m->kind == METRIC_IN_ || m->kind == METRIC_OUT_)
			continue;
		l.m[cnt++] = *m;
	}
	l.n = cnt;
	*out = l.m;
	*n = l.n;
	return 0;
fail:
	close(dfd);
	free(l.m);
	return -1;
}

/* ---------------------------------------------------------- the clean-up */

/*
 * Record the clean-up's count of jobs by task and state (tally, n
 * entries), with the in/out counters as they stand now, so that readers
 * count from there.  Call it right after the walk.  Returns 0, or -1
 * (logged).
 */
int
store_metric_rebase(struct store *sp, const struct metric *tally, size_t n)
{
	struct sm_list	 l = { 0 };
	struct buf	 b = { 0 };
	struct metric	*m, *in, *out;
	char		 tmp[32];
	size_t		 i;
	int		 dfd, fd, rc = -1;

	if ((dfd = sm_dir(sp)) == -1) {
		if (errno == ENOENT)
			return 0;	/* the metrics are off */
		log_warn("spool: open %s/%s", sp->path, SM_DIR);
		return -1;
	}
	if (sm_scan(sp, dfd, &l) == -1)
		goto done;
	for (i = 0; i < n; i++) {
		if ((m = sm_get(&l, METRIC_JOBS, tally[i].task,
		    tally[i].label, 0)) == NULL)
			goto nomem;
		m->value += tally[i].value;
	}
	/* Every (task, state) either side knows, so a reader nets to 0. */
	for (i = 0; i < l.n; i++)
		if ((l.m[i].kind == METRIC_IN_ || l.m[i].kind == METRIC_OUT_)
		    && sm_get(&l, METRIC_JOBS, l.m[i].task, l.m[i].label, 0)
		    == NULL)
			goto nomem;
	for (i = 0; i < l.n; i++) {
		m = &l.m[i];
		if (m->kind != METRIC_JOBS)
			continue;
		if ((in = sm_get(&l, METRIC_IN_, m->task, m->label, 0)) ==
		    NULL || (out = sm_get(&l, METRIC_OUT_, m->task, m->label,
		    0)) == NULL)
			goto nomem;
		m = &l.m[i];
		if (buf_printf(&b, "%s %s %lld %lld %lld\n", m->task, m->label,
		    m->value, in->value, out->value) == -1)
			goto nomem;
	}
	snprintf(tmp, sizeof(tmp), "%s.%ld", SM_SNAPSHOT, (long)getpid());
	if ((fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("spool: create %s/%s", SM_DIR, tmp);
		goto done;
	}
	if (spool_write_all(fd, b.data ? b.data : "", b.len) == -1 ||
	    close(fd) == -1) {
		log_warn("spool: write %s/%s", SM_DIR, tmp);
		(void)unlinkat(dfd, tmp, 0);
		goto done;
	}
	if (renameat(dfd, tmp, dfd, SM_SNAPSHOT) == -1) {
		log_warn("spool: rename %s/%s", SM_DIR, tmp);
		(void)unlinkat(dfd, tmp, 0);
		goto done;
	}
	rc = 0;
	goto done;
nomem:
	log_warn("spool: the metrics snapshot");
done:
	buf_free(&b);
	free(l.m);
	close(dfd);
	return rc;
}
