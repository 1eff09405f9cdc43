/*
 * spool.c through the store interface: atomic creation, status files,
 * the job's lock, results, the queue, slots, idempotency keys, the
 * clean-up, per-client limits and the size estimate.  Each part runs in
 * a spool of its own, so that counts are those of one concern.  The test
 * knows the on-disk layout (the top comment of spool.c) only to check
 * what a store must not leave behind, and to damage a spool on purpose.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"
#include "tap.h"

static char	 root[256];	/* the mkdtemp directory */
static char	 spath[512];	/* the spool of the current part */

/* A path under the current spool. */
static const char * __attribute__((format(printf, 1, 2)))
at(const char *fmt, ...)
{
	static char	 path[4][1024];
	static int	 i;
	char		 rel[512];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s/%s", spath, rel);
	return path[i];
}

/* Entries of a directory, dot files aside; -1 when it cannot be read. */
static int
count_entries(const char *path, const char *prefix)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && (prefix == NULL ||
		    strncmp(de->d_name, prefix, strlen(prefix)) == 0))
			n++;
	closedir(d);
	return n;
}

/* A new spool, root/name, for one part of the test. */
static struct store *
fresh(const char *name)
{
	struct store	*sp;

	snprintf(spath, sizeof(spath), "%s/%s", root, name);
	if ((sp = store_open(spath)) == NULL) {
		printf("Bail out! store_open %s\n", spath);
		exit(1);
	}
	return sp;
}

static void
job_init(struct jobstatus *st)
{
	memset(st, 0, sizeof(*st));
	job_id_new(st->id);
	strcpy(st->task, "demo");
	st->state = JOB_QUEUED;
	st->progress = -1;
	st->created_at = time(NULL);
}

/* Stage and submit st, as a start does.  Returns store_submit's answer. */
static int
submit_key(struct store *sp, const struct jobstatus *st, int maxq,
    const char *key, unsigned long long hash, char *oid,
    unsigned long long *ohash)
{
	int	 fd;

	if ((fd = store_stage(sp, st->id)) == -1)
		return STORE_ERR;
	close(fd);
	return store_submit(sp, st, "{}", 2, maxq, key, hash, oid, ohash,
	    NULL);
}

static int
submit(struct store *sp, const struct jobstatus *st, int maxq)
{
	char			 oid[SPOOLCGI_ID_LEN + 1];
	unsigned long long	 oh;

	return submit_key(sp, st, maxq, "", 0, oid, &oh);
}

/* How many entries the queue holds. */
static int
queue_len(struct store *sp)
{
	struct qentry	*q;
	size_t		 n;

	if (store_queue_list(sp, &q, &n) == -1)
		return -1;
	free(q);
	return (int)n;
}

/* A change: the state, the end time and error code of the argument. */
struct to {
	enum job_state	 state;
	time_t		 finished_at;
	const char	*error_code;
};

static int
change_to(struct jobstatus *st, void *arg)
{
	const struct to	*t = arg;

	st->state = t->state;
	st->finished_at = t->finished_at;
	if (t->error_code != NULL)
		snprintf(st->error_code, sizeof(st->error_code), "%s",
		    t->error_code);
	return 1;
}

static int
change_none(struct jobstatus *st, void *arg)
{
	(void)st;
	(void)arg;
	return 0;
}

/* Set job id's state through the store's one read-modify-write. */
static int
set_state(struct store *sp, const char *id, enum job_state s, time_t fin)
{
	struct jobstatus	 out;
	struct to		 t = { s, fin, NULL };

	return store_update(sp, id, change_to, &t, &out);
}

static struct store *
test_create(struct jobstatus *st)
{
	struct store		*sp;
	struct jobstatus	 rd, again;
	struct stat		 sb;
	char			 oid[SPOOLCGI_ID_LEN + 1];
	unsigned long long	 oh;
	int			 fd;

	sp = fresh("create");
	job_init(st);
	ok((fd = store_stage(sp, st->id)) >= 0, "a job is staged");
	close(fd);
	ok(store_submit(sp, st, "{\"x\":1}\n", 8, 100, "", 0, oid, &oh,
	    NULL) ==
	    STORE_OK, "and submitted");
	is_int(count_entries(at("tmp"), NULL), 0, "nothing left in tmp/");
	ok(stat(at("jobs/%s/work", st->id), &sb) == 0 &&
	    S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700,
	    "work/ exists, private");
	ok(stat(at("jobs/%s/input.json", st->id), &sb) == 0 &&
	    sb.st_size == 8 && (sb.st_mode & 0777) == 0600,
	    "input.json written, private");
	ok(stat(spath, &sb) == 0 && (sb.st_mode & 0777) == 0700,
	    "the spool itself is private");
	ok(store_read(sp, st->id, &rd) == STORE_OK, "status read back");
	is_str(rd.id, st->id, "id");
	is_str(rd.task, "demo", "task");
	ok(rd.state == JOB_QUEUED && rd.progress == -1 &&
	    rd.created_at == st->created_at && rd.started_at == 0 &&
	    rd.attempts == 0, "state, progress, times, attempts");
	is_int(store_queue_position(sp, st->id), 1, "and it is queued");

	again = *st;
	ok(submit(sp, &again, 100) == STORE_ERR, "the same id twice fails");
	is_int(count_entries(at("tmp"), NULL), 0,
	    "the failed second job left nothing in tmp/");
	ok(stat(at("jobs/%s/input.json", st->id), &sb) == 0 &&
	    sb.st_size == 8, "the first job's input is untouched");
	is_int(queue_len(sp), 1, "and it has its one queue entry");
	ok(store_read(sp, "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11", &rd) ==
	    STORE_NOENT, "an unknown job reads STORE_NOENT");
	return sp;
}

static void
test_status(struct store *sp, const struct jobstatus *st)
{
	struct jobstatus	 rd;
	struct run		 run;
	const char		*msg =
	    "a \"quoted\" message\twith tab, \\ and \\n";
	const char		*err = "line 1\nline 2 \\n stays two bytes";

	ok(store_claim(sp, st->id, -1, &run) == STORE_OK, "the job is claimed");
	ok(run.st.state == JOB_QUEUED && strcmp(run.st.id, st->id) == 0,
	    "the claim reads its status");
	run.st.state = JOB_RUNNING;
	run.st.progress = 33;
	snprintf(run.st.message, sizeof(run.st.message), "%s", msg);
	run.st.started_at = st->created_at + 1;
	run.st.attempts = 1;
	ok(store_run_write(&run, 0) == 0, "progress write");
	ok(store_read(sp, st->id, &rd) == STORE_OK && rd.progress == 33 &&
	    rd.state == JOB_RUNNING && rd.attempts == 1,
	    "progress read back");
	is_str(rd.message, msg, "quotes, tab and backslashes survive");
	run.st.state = JOB_FAILED;
	strcpy(run.st.error_code, "exit");
	snprintf(run.st.error_message, sizeof(run.st.error_message), "%s",
	    err);
	run.st.finished_at = run.st.started_at + 5;
	ok(store_run_write(&run, 1) == 0, "durable final write");
	ok(store_read(sp, st->id, &rd) == STORE_OK &&
	    rd.state == JOB_FAILED && strcmp(rd.error_code, "exit") == 0 &&
	    rd.finished_at == run.st.finished_at, "final status read back");
	is_str(rd.error_message, err, "newlines survive, escapes are not "
	    "unescaped twice");
	is_int(count_entries(at("jobs/%s", st->id), NULL), 5,
	    "no temporary status file left (input.json, lock, status.json, "
	    "status.queued, work: the reserve became the final status)");
	ok(access(at("jobs/%s/status.queued", st->id), F_OK) == 0,
	    "the status the run's start replaced keeps a name");
	is_int(count_entries(at("jobs/%s", st->id), "status.json."), 0,
	    "no status.json.* temporary");
	store_run_release(&run);
}

/* What a settle does (lifecycle.c's lc_settle, reduced). */
static int
change_settle(struct jobstatus *st, void *arg)
{
	(void)arg;
	if (st->state != JOB_RUNNING)
		return 0;
	st->state = JOB_FAILED;
	st->finished_at = time(NULL);
	strcpy(st->error_code, "interrupted");
	return 1;
}

/*
 * The lock is the proof that a job runs: a held lock makes store_update
 * answer STORE_BUSY and change nothing; once its holder is killed with
 * SIGKILL, store_update settles the job, and the run's leftovers go.
 */
static void
test_lock(void)
{
	struct store		*sp;
	struct jobstatus	 st, rd;
	struct run		 run;
	struct taskfds		 t;
	int			 p[2], status, fd;
	pid_t			 pid;
	char			 c;

	sp = fresh("lock");
	job_init(&st);
	submit(sp, &st, 100);
	if (pipe(p) == -1)
		exit(1);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		/* A stand-in supervisor: lock, say running, wait to die. */
		close(p[0]);
		if (store_claim(sp, st.id, -1, &run) != STORE_OK)
			_exit(1);
		run.st.state = JOB_RUNNING;
		run.st.started_at = time(NULL);
		run.st.attempts = 1;
		if (store_run_write(&run, 1) == -1 ||
		    store_run_files(&run, &t) == -1 ||
		    write(t.out, "partial", 7) != 7)
			_exit(1);
		(void)write(p[1], "k", 1);
		pause();
		_exit(0);
	}
	close(p[1]);
	ok(read(p[0], &c, 1) == 1, "stand-in supervisor holds the lock");
	close(p[0]);
	/* A status writer that died before its rename. */
	fd = open(at("jobs/%s/status.json.424242", st.id),
	    O_WRONLY | O_CREAT, 0600);
	close(fd);
	ok(store_update(sp, st.id, change_settle, NULL, &rd) == STORE_BUSY,
	    "a held lock: store_update answers STORE_BUSY");
	ok(store_read(sp, st.id, &rd) == STORE_OK && rd.state == JOB_RUNNING,
	    "and changed nothing");
	ok(store_claim(sp, st.id, -1, &run) == STORE_BUSY,
	    "a second claim is STORE_BUSY too");
	ok(access(at("jobs/%s/result.tmp", st.id), F_OK) == 0 &&
	    access(at("jobs/%s/reserve", st.id), F_OK) == 0,
	    "result.tmp and reserve exist while it runs");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ok(store_update(sp, st.id, change_settle, NULL, &rd) == STORE_OK &&
	    rd.state == JOB_FAILED && strcmp(rd.error_code, "interrupted") == 0,
	    "after kill -9 the free lock lets store_update settle it");
	ok(store_read(sp, st.id, &rd) == STORE_OK && rd.state == JOB_FAILED &&
	    rd.finished_at > 0, "and that was recorded on disk");
	ok(access(at("jobs/%s/result.tmp", st.id), F_OK) == -1 &&
	    errno == ENOENT, "running -> failed removed result.tmp");
	ok(access(at("jobs/%s/reserve", st.id), F_OK) == -1 && errno == ENOENT,
	    "and the reserve");
	is_int(count_entries(at("jobs/%s", st.id), "status.json."), 0,
	    "and the status.json.* temporaries");
	ok(access(at("jobs/%s/log", st.id), F_OK) == 0, "the log stays");
	ok(store_claim(sp, st.id, -1, &run) == STORE_OK, "the lock is free again");
	store_run_release(&run);
	store_close(sp);
}

/* store_update keeps the queue consistent with the status. */
static void
test_update_queue(void)
{
	struct store		*sp;
	struct jobstatus	 a, b, rd;
	struct run		 run;
	struct stat		 sb0, sb1;

	sp = fresh("update");
	job_init(&a);
	job_init(&b);
	submit(sp, &a, 100);
	submit(sp, &b, 100);
	stat(at("jobs/%s/status.json", a.id), &sb0);
	ok(store_update(sp, a.id, change_none, NULL, &rd) == STORE_OK &&
	    rd.state == JOB_QUEUED && strcmp(rd.id, a.id) == 0,
	    "a change that declines still reports the status");
	ok(stat(at("jobs/%s/status.json", a.id), &sb1) == 0 &&
	    sb1.st_ino == sb0.st_ino, "and writes nothing");
	ok(set_state(sp, a.id, JOB_CANCELLED, time(NULL)) == STORE_OK,
	    "queued -> cancelled");
	is_int(store_queue_position(sp, a.id), 0, "its queue entry is gone");
	is_int(store_queue_position(sp, b.id), 1, "the next moves up");
	is_int(queue_len(sp), 1, "one entry left");

	/* b ran and its supervisor died: queued again for a retry. */
	ok(store_claim(sp, b.id, -1, &run) == STORE_OK, "b claimed");
	run.st.state = JOB_RUNNING;
	run.st.attempts = 1;
	store_run_write(&run, 1);
	{
		struct qentry	*q;
		size_t		 n;

		store_queue_list(sp, &q, &n);
		if (n > 0)
			store_queue_drop(sp, &q[0]);
		free(q);
	}
	store_run_release(&run);
	ok(set_state(sp, b.id, JOB_QUEUED, 0) == STORE_OK &&
	    store_queue_position(sp, b.id) == 1,
	    "running -> queued makes a queue entry");
	ok(access(at("jobs/%s/reserve", b.id), F_OK) == 0,
	    "and keeps the reserve for the next run");
	ok(store_queue_readd(sp, b.id) == 0 && queue_len(sp) == 1,
	    "store_queue_readd: nothing to do while it has an entry");
	ok(store_update(sp, "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11", change_none,
	    NULL, &rd) == STORE_NOENT, "an unknown job: STORE_NOENT");
	store_close(sp);
}

static void
test_result(struct store *sp, const struct jobstatus *st)
{
	struct run	 run;
	struct taskfds	 t;
	struct buf	 in = { 0 };
	struct stat	 sb, sb2;
	char		 etag[96], etag2[96], tail[256], wd[1024];
	int		 fd;

	ok(store_claim(sp, st->id, -1, &run) == STORE_OK, "claimed for a run");
	ok(store_result_open(sp, st->id, &sb) == -1 && errno == ENOENT,
	    "no result before commit");
	ok(store_run_files(&run, &t) == 0, "task descriptors open");
	ok(t.in > 2 && t.out > 2 && t.log > 2 && t.work > 2,
	    "all above 2");
	ok(store_run_input(&run, &in) == 0 && in.len == 8 &&
	    memcmp(in.data, "{\"x\":1}\n", 8) == 0, "the input reads back");
	buf_free(&in);
	ok(store_run_workdir(&run, wd, sizeof(wd)) == 0 &&
	    strcmp(wd, at("jobs/%s/work", st->id)) == 0, "the work directory");
	ok(store_run_workdir(&run, wd, 8) == -1, "a short buffer is refused");
	ok(write(t.out, "abc\0def", 7) == 7, "task writes its result");
	ok(write(t.log, "one\ntwo\nthree\nfour\n", 19) == 19,
	    "task writes its log");
	ok(store_run_commit(&run, t.out) == 0, "result committed");
	ok(access(at("jobs/%s/result.tmp", st->id), F_OK) == -1,
	    "result.tmp became the result");
	ok((fd = store_result_open(sp, st->id, &sb)) >= 0 &&
	    sb.st_size == 7, "result opens with its size");
	ok(store_result_etag(&sb, etag, sizeof(etag)) == 0 &&
	    etag[0] == '"' && etag[strlen(etag) - 1] == '"', "strong ETag");
	fstat(fd, &sb2);
	store_result_etag(&sb2, etag2, sizeof(etag2));
	is_str(etag2, etag, "ETag is stable");
	ok(store_result_etag(&sb, etag, 4) == -1, "truncated ETag refused");
	close(fd);
	ok(store_run_log_tail(&run, tail, sizeof(tail), 2) == 0, "log tail");
	is_str(tail, "three\nfour", "the last two lines");
	ok(store_run_log_tail(&run, tail, sizeof(tail), 10) == 0 &&
	    strcmp(tail, "one\ntwo\nthree\nfour") == 0,
	    "fewer lines than asked");
	ok(store_run_size(&run) > 0 && store_job_size(sp, st->id) ==
	    store_run_size(&run), "the job's size, two ways");

	ok(store_run_cancelled(&run) == 0, "no cancel asked");
	ok(store_cancel_request(sp, st->id) == 0, "cancel asked");
	ok(store_run_cancelled(&run) == 1, "the supervisor sees it");
	close(t.in);
	close(t.out);
	close(t.log);
	close(t.work);
	store_run_release(&run);
}

static void
test_misc(void)
{
	struct store	*sp;
	const char	*what = NULL;
	char		 sub[1024];
	int		 q = -1, r = -1, fd;

	sp = fresh("misc");
	ok(store_counts(sp, 2, &q, &r) == 0 && q == 0 && r == 0,
	    "counts: nothing queued or running");
	ok(store_free_bytes(sp) > 0, "free bytes");
	ok(store_selftest(sp, &what) == 0, "selftest passes");
	is_str(store_path(sp), spath, "the store knows its path");
	ok(store_inside(at("jobs"), spath) == 1, "jobs/ is inside the spool");
	ok(store_inside(spath, at("jobs")) == 0,
	    "the spool is not inside jobs/");
	ok(store_inside("/", "/") == 1, "/ inside /");
	ok(store_inside(at("not/made/yet"), spath) == 1,
	    "a path not made yet resolves through its parent");
	snprintf(sub, sizeof(sub), "%s-sibling", spath);
	mkdir(sub, 0700);
	ok(store_inside(sub, spath) == 0,
	    "a name sharing the prefix is not inside");
	rmdir(sub);
	snprintf(sub, sizeof(sub), "%s/link", root);
	if (symlink(at("jobs"), sub) == 0)
		ok(store_inside(sub, spath) == 1,
		    "a symlink into the spool is inside");
	else
		ok(0, "symlink %s: %s", sub, strerror(errno));
	unlink(sub);
	ok(!store_draining(sp), "not draining");
	fd = open(at("drain"), O_WRONLY | O_CREAT, 0600);
	close(fd);
	ok(store_draining(sp), "draining once the drain file exists");
	ok(store_drain_set(sp, 0) == 0 && !store_draining(sp),
	    "store_drain_set off: not draining");
	ok(store_drain_set(sp, 0) == 0, "off again: no error");
	ok(store_drain_set(sp, 1) == 0 && store_draining(sp) &&
	    access(at("drain"), F_OK) == 0, "store_drain_set on: the drain "
	    "file, draining");
	ok(store_drain_set(sp, 1) == 0 && store_draining(sp), "on again: "
	    "still draining");
	store_close(sp);
}

/* store_upload_copy: a job's upload into a new job's staging. */
static void
test_upload_copy(void)
{
	struct store		*sp;
	struct jobstatus	 st, nj;
	struct stat		 a, b;
	long long		 size = -1;
	FILE			*f;
	int			 wfd;

	sp = fresh("copy");
	job_init(&st);
	submit(sp, &st, 100);
	if ((f = fopen(at("jobs/%s/work/doc.pdf", st.id), "w")) == NULL)
		exit(1);
	fputs("%PDF-1.4 not really\n", f);
	fclose(f);
	job_init(&nj);
	if ((wfd = store_stage(sp, nj.id)) == -1)
		exit(1);
	ok(store_upload_copy(sp, wfd, st.id, "doc.pdf", &size) == STORE_OK &&
	    size == 20, "a copy of the upload, its size");
	ok(stat(at("jobs/%s/work/doc.pdf", st.id), &a) == 0 &&
	    stat(at("tmp/%s/work/doc.pdf", nj.id), &b) == 0 &&
	    a.st_size == b.st_size && a.st_ino != b.st_ino,
	    "in the staging, the same size, another inode");
	ok(store_upload_copy(sp, wfd, st.id, "doc.pdf", &size) == STORE_ERR,
	    "a name already in the staging: an error, never overwritten");
	ok(store_upload_copy(sp, wfd, st.id, "gone.txt", &size) ==
	    STORE_NOENT, "a file that is gone: STORE_NOENT");
	ok(store_upload_copy(sp, wfd, "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11",
	    "doc.pdf", &size) == STORE_NOENT, "no such job: STORE_NOENT");
	ok(store_upload_copy(sp, wfd, st.id, "../input.json", &size) ==
	    STORE_ERR && store_upload_copy(sp, wfd, st.id, ".hidden",
	    &size) == STORE_ERR && store_upload_copy(sp, wfd, st.id, "",
	    &size) == STORE_ERR, "names the store never gives: refused");
	ok(access(at("tmp/%s/work/input.json", nj.id), F_OK) == -1,
	    "and nothing was copied for them");
	if (symlink(at("jobs/%s/input.json", st.id),
	    at("jobs/%s/work/link.txt", st.id)) == 0)
		ok(store_upload_copy(sp, wfd, st.id, "link.txt", &size) ==
		    STORE_NOENT, "a symlink is not followed");
	else
		ok(0, "symlink: %s", strerror(errno));
	close(wfd);
	store_abort(sp, nj.id);
	is_int(count_entries(at("tmp"), NULL), 0, "the staging aborted: "
	    "nothing left");
	store_close(sp);
}

/* First in, first out, whatever the clock does. */
static void
test_queue(void)
{
	struct store		*sp;
	struct jobstatus	 j[6], fake;
	struct qentry		*q;
	unsigned long long	 future;
	size_t			 n, i;
	int			 inorder;

	sp = fresh("queue");
	for (i = 0; i < 3; i++) {
		job_init(&j[i]);
		submit(sp, &j[i], 100);
	}
	ok(store_queue_list(sp, &q, &n) == 0 && n == 3 &&
	    strcmp(q[0].id, j[0].id) == 0 && strcmp(q[1].id, j[1].id) == 0 &&
	    strcmp(q[2].id, j[2].id) == 0 && q[0].key < q[1].key &&
	    q[1].key < q[2].key, "the queue lists first in, first out");
	is_int(store_queue_position(sp, j[1].id), 2, "queue position 2");
	ok(n > 0 && store_queue_drop(sp, &q[0]) == 0 &&
	    store_queue_position(sp, j[1].id) == 1 &&
	    store_queue_position(sp, j[0].id) == 0,
	    "dropping the head moves the next up");
	ok(n > 0 && store_queue_drop(sp, &q[0]) == 0,
	    "dropping twice is harmless");
	free(q);
	ok(store_queue_readd(sp, j[0].id) == 1 &&
	    store_queue_position(sp, j[0].id) == 3,
	    "a queued job without an entry gets one, at the end");

	/*
	 * An appender that died between making its entry and publishing
	 * it leaves an entry at the next number: later submissions pass
	 * it, sort after it and after each other, and it becomes visible.
	 */
	job_init(&fake);
	store_queue_list(sp, &q, &n);
	future = n > 0 ? q[n - 1].key + 1 : 1;
	free(q);
	ok(symlink(fake.id, at("queue/%016llx", future)) == 0,
	    "an entry left by a crashed appender");
	for (i = 3; i < 6; i++) {
		job_init(&j[i]);
		submit(sp, &j[i], 100);
	}
	store_queue_list(sp, &q, &n);
	inorder = n == 7 && strcmp(q[3].id, fake.id) == 0;
	for (i = 3; inorder && i < 6; i++)
		inorder = strcmp(q[i + 1].id, j[i].id) == 0 &&
		    q[i + 1].key == future + (i - 2);
	ok(inorder, "submissions after a left entry keep their order "
	    "(numbers: the next free one)");
	free(q);
	store_close(sp);

	/* Many submissions as fast as they come. */
	sp = fresh("queue2");
	{
		struct jobstatus	 m[40];

		for (i = 0; i < 40; i++) {
			job_init(&m[i]);
			submit(sp, &m[i], 100);
		}
		store_queue_list(sp, &q, &n);
		inorder = n == 40;
		for (i = 0; inorder && i < 40; i++)
			inorder = strcmp(q[i].id, m[i].id) == 0 &&
			    (i == 0 || q[i].key > q[i - 1].key);
		ok(inorder, "40 quick submissions are listed in order");
		free(q);
	}
	store_close(sp);
}

/* A full queue refuses a job whole. */
static void
test_full(void)
{
	struct store		*sp;
	struct jobstatus	 a, b, c, rd;

	sp = fresh("full");
	job_init(&a);
	job_init(&b);
	job_init(&c);
	ok(submit(sp, &a, 2) == STORE_OK && submit(sp, &b, 2) == STORE_OK,
	    "two jobs fit a queue of two");
	is_int(submit(sp, &c, 2), STORE_FULL, "the third: STORE_FULL");
	is_int(count_entries(at("tmp"), NULL), 0, "tmp/ is empty");
	ok(store_read(sp, c.id, &rd) == STORE_NOENT, "there is no such job");
	is_int(count_entries(at("jobs"), NULL), 2, "jobs/ holds two");
	is_int(queue_len(sp), 2, "the queue holds two");
	set_state(sp, a.id, JOB_CANCELLED, time(NULL));
	job_init(&c);
	is_int(submit(sp, &c, 2), STORE_OK, "a place freed is taken again");
	store_close(sp);
}

/*
 * A status write that fails (here: past RLIMIT_FSIZE, as on a full disk)
 * leaves status.json as it was, no temporary behind and no descriptor
 * open, into a fresh file or into the reserve.
 */
static void
test_status_write_fail(void)
{
	struct store		*sp;
	struct jobstatus	 st, rd;
	struct rlimit		 was, small;
	int			 dfd, fds, rc[2], n[2];

	sp = fresh("statusfail");
	job_init(&st);
	ok(submit(sp, &st, 10) == STORE_OK, "status write failure: a job");
	dfd = open(at("jobs/%s", st.id), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ok(dfd != -1, "its directory");
	fds = count_entries("/proc/self/fd", NULL);
	st.state = JOB_FAILED;
	/* Nothing is printed under the limit: stdout may be a file. */
	fflush(stdout);
	(void)getrlimit(RLIMIT_FSIZE, &was);
	small = was;
	small.rlim_cur = 16;
	signal(SIGXFSZ, SIG_IGN);
	(void)setrlimit(RLIMIT_FSIZE, &small);
	rc[0] = spool_status_write(dfd, &st, 1) == -1 && errno == EFBIG;
	n[0] = count_entries("/proc/self/fd", NULL);
	rc[1] = spool_status_keep(dfd, &st, SPOOL_RESERVE_FILE, NULL, 1) == -1;
	n[1] = count_entries("/proc/self/fd", NULL);
	(void)setrlimit(RLIMIT_FSIZE, &was);
	signal(SIGXFSZ, SIG_DFL);
	ok(rc[0], "a write past the limit fails (EFBIG)");
	is_int(n[0], fds, "a failed write leaves no descriptor open");
	ok(rc[1], "a write into the reserve past the limit fails");
	is_int(n[1], fds, "nor does a failed write into the reserve");
	is_int(count_entries(at("jobs/%s", st.id), SPOOL_STATUS "."), 0,
	    "no temporary status left");
	ok(store_read(sp, st.id, &rd) == STORE_OK && rd.state == JOB_QUEUED,
	    "status.json is as it was: queued");
	close(dfd);
	store_close(sp);
}

static void
test_slots(void)
{
	struct store	*sp;
	int		 s1, s2, s3, t1, lfd, q, r;

	sp = fresh("slots");
	ok((s1 = store_slot_take(sp, "g", 2)) >= 0, "slot 1 of 2");
	ok((s2 = store_slot_take(sp, "g", 2)) >= 0, "slot 2 of 2");
	ok(store_slot_take(sp, "g", 2) == -1 && errno == EWOULDBLOCK,
	    "no third slot: EWOULDBLOCK");
	ok((t1 = store_slot_take(sp, "t.demo", 1)) >= 0,
	    "a task's slots are a class of their own");
	ok((lfd = store_queue_lock(sp)) >= 0, "the queue lock");
	is_int(store_slots_busy(sp, "g", 2), 2, "two slots busy");
	is_int(store_slots_busy(sp, "t.demo", 1), 1, "one task slot busy");
	is_int(store_slots_busy(sp, "t.other", 3), 0,
	    "slots never used are free");
	store_unlock(lfd);
	close(s1);
	ok((s3 = store_slot_take(sp, "g", 2)) >= 0,
	    "a closed slot is free again (the kernel drops the lock)");
	close(s2);
	ok(store_counts(sp, 2, &q, &r) == 0 && q == 0 && r == 1,
	    "counts: none queued, one running");
	close(s3);
	close(t1);
	ok(store_counts(sp, 2, &q, &r) == 0 && r == 0,
	    "counts: none running once the slots are closed");
	store_close(sp);
}

/* An Idempotency-Key belongs to the first job; a repeat leaves nothing. */
static void
test_keys(void)
{
	struct store		*sp;
	struct jobstatus	 a, b, c, rd;
	char			 oid[SPOOLCGI_ID_LEN + 1] = "";
	unsigned long long	 oh = 0;
	long long		 u0, u1;

	sp = fresh("keys");
	job_init(&a);
	job_init(&b);
	job_init(&c);
	ok(submit_key(sp, &a, 100, "key-1", 42, oid, &oh) == STORE_OK,
	    "a job with a key");
	store_usage_add(sp, 100000);
	u0 = store_usage(sp);
	ok(submit_key(sp, &b, 100, "key-1", 43, oid, &oh) == STORE_TAKEN,
	    "the same key again: STORE_TAKEN");
	is_str(oid, a.id, "with the owner's id");
	ok(oh == 42, "and the owner's hash");
	ok(store_read(sp, b.id, &rd) == STORE_NOENT, "the repeat left no job");
	ok(store_queue_position(sp, b.id) == 0 && queue_len(sp) == 1,
	    "and no queue entry");
	is_int(count_entries(at("tmp"), NULL), 0, "and nothing in tmp/");
	u1 = store_usage(sp);
	/*
	 * The withdrawn job was never counted (a start adds a job's size
	 * only once it is created): its removal must not subtract it.
	 */
	ok(u1 == u0, "the withdrawn repeat leaves the size estimate as it was");
	if (u1 != u0)
		printf("#   usage before %lld, after %lld\n", u0, u1);
	ok(submit_key(sp, &c, 100, "key-2", 42, oid, &oh) == STORE_OK,
	    "another key is free");
	is_int(count_entries(at("keys"), "k-"), 2, "two keys held");
	store_close(sp);
}

struct visit {
	struct store	*sp;
	time_t		 now;
	int		 seen;
	int		 expired;
};

/* The clean-up's walk, as lifecycle.c drives it: expire old final jobs. */
static int
gc_visit(void *arg, const char *id)
{
	struct visit		*v = arg;
	struct jobstatus	 st;

	v->seen++;
	if (store_read(v->sp, id, &st) == STORE_OK &&
	    job_state_final(st.state) && st.finished_at != 0 &&
	    v->now - st.finished_at >= 100 && store_remove(v->sp, id, 1) == 0)
		v->expired++;
	return 0;
}

static void
test_gc(void)
{
	struct store		*sp;
	struct jobstatus	 a, b, c, x, rd;
	struct gcstats		 gs;
	struct visit		 v;
	char			 oid[SPOOLCGI_ID_LEN + 1];
	unsigned long long	 oh;
	time_t			 now = time(NULL);
	int			 lfd, fd;

	sp = fresh("gc");
	job_init(&a);
	job_init(&b);
	job_init(&c);
	submit_key(sp, &a, 100, "key-a", 1, oid, &oh);
	submit(sp, &b, 100);
	submit(sp, &c, 100);
	/* a finished long ago; b is final but recent; c stays queued. */
	set_state(sp, a.id, JOB_SUCCEEDED, now - 500);
	set_state(sp, b.id, JOB_FAILED, now);
	/* An upload whose request died: a staging directory left behind. */
	job_init(&x);
	fd = store_stage(sp, x.id);
	close(fd);

	ok(store_gc_due(sp, 300, now) == 1, "gc is due at first");
	ok((lfd = store_gc_begin(sp, now)) >= 0, "the clean-up is claimed");
	ok(store_gc_begin(sp, now) == -1 && errno == EWOULDBLOCK,
	    "a second clean-up: EWOULDBLOCK");
	memset(&v, 0, sizeof(v));
	v.sp = sp;
	v.now = now;
	ok(store_gc_jobs(sp, gc_visit, &v) == 0 && v.seen == 3,
	    "the walk visits every job");
	is_int(v.expired, 1, "one expired");
	memset(&gs, 0, sizeof(gs));
	store_gc_end(sp, lfd, 1000, now + 120, &gs);
	ok(store_gc_due(sp, 300, now) == 0, "gc.stamp: not due again");
	ok(store_gc_due(sp, 300, now + 300) == 1, "due after the interval");
	ok(store_read(sp, a.id, &rd) == STORE_GONE,
	    "the expired job reads STORE_GONE (its tombstone)");
	is_int(gs.keys, 1, "the key of the removed job was dropped");
	ok(access(at("keys/k-key-a"), F_OK) == -1, "keys/k-key-a is gone");
	is_int(gs.tombstones, 0, "a young tombstone stays");
	is_int(gs.temps, 0, "a young staging directory stays");
	ok(store_read(sp, b.id, &rd) == STORE_OK, "the recent job stays");
	ok(store_read(sp, c.id, &rd) == STORE_OK && rd.state == JOB_QUEUED,
	    "the queued one too");
	ok(store_usage(sp) > 0, "the clean-up measured the spool");
	ok(store_remove(sp, b.id, 0) == 0 &&
	    store_read(sp, b.id, &rd) == STORE_NOENT,
	    "removed without a tombstone: STORE_NOENT");

	ok((lfd = store_gc_begin(sp, now + 4000)) >= 0, "a later clean-up");
	memset(&gs, 0, sizeof(gs));
	store_gc_end(sp, lfd, 1000, now + 4000, &gs);
	is_int(gs.tombstones, 1, "tombstones go after tombstone_seconds");
	ok(store_read(sp, a.id, &rd) == STORE_NOENT, "a is forgotten");
	is_int(gs.temps, 1, "stale staging goes after an hour");
	is_int(count_entries(at("tmp"), NULL), 0, "tmp/ is empty");
	store_close(sp);
}

/* Per-client admission. */
static void
test_clients(void)
{
	struct store		*sp;
	struct jobstatus	 st;
	struct client		 cl;
	int			 retry, i, rc = -1;
	time_t			 now = time(NULL);

	sp = fresh("clients");
	for (i = 0; i < 2; i++) {
		job_init(&st);
		submit(sp, &st, 100);
		rc = store_client_admit(sp, "192.0.2.1", 2, 0, now, &retry,
		    &cl);
		ok(rc == 0, "client admitted (job %d)", i + 1);
		store_client_done(&cl, st.id);
	}
	retry = 0;
	ok(store_client_admit(sp, "192.0.2.1", 2, 0, now, &retry, &cl) == 1 &&
	    retry > 0, "a third pending job is refused");
	store_client_done(&cl, NULL);
	ok(store_client_admit(sp, "2001:db8::1", 2, 0, now, &retry, &cl) ==
	    0, "another client is admitted");
	store_client_done(&cl, NULL);
	store_client_done(&cl, NULL);	/* twice: harmless */
	set_state(sp, st.id, JOB_SUCCEEDED, now);
	ok(store_client_admit(sp, "192.0.2.1", 2, 0, now, &retry, &cl) == 0,
	    "once a job finished, the client may start again");
	store_client_done(&cl, NULL);

	for (i = 0; i < 3; i++) {
		rc = store_client_admit(sp, "198.51.100.7", 0, 3, now, &retry,
		    &cl);
		store_client_done(&cl, NULL);
	}
	ok(rc == 0, "three starts in a minute are admitted");
	ok(store_client_admit(sp, "198.51.100.7", 0, 3, now + 10, &retry,
	    &cl) == 1 && retry == 50, "the fourth waits for the minute to end "
	    "(Retry-After 50)");
	store_client_done(&cl, NULL);
	ok(store_client_admit(sp, "198.51.100.7", 0, 3, now + 61, &retry,
	    &cl) == 0, "a new minute admits again");
	store_client_done(&cl, NULL);
	store_close(sp);
}

static void
test_usage(void)
{
	struct store		*sp;
	struct jobstatus	 st;

	sp = fresh("usage");
	is_int(store_usage(sp), -1, "no estimate yet");
	store_usage_add(sp, 1000);
	store_usage_add(sp, 500);
	store_usage_add(sp, -200);
	is_int(store_usage(sp), 1300, "the size estimate adds up");
	store_usage_add(sp, -5000);
	is_int(store_usage(sp), 0, "and never goes below 0");
	job_init(&st);
	submit(sp, &st, 100);
	ok(store_job_size(sp, st.id) >= 16384, "a job's size counts its "
	    "reserve");
	ok(store_job_size(sp, "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11") == 0,
	    "a job that is not there: 0");
	store_close(sp);
}

/* Issue 11, item 1: store_log_read. */
static void
test_log_read(void)
{
	struct store		*sp;
	struct jobstatus	 st;
	struct buf		 b = { 0 };
	long long		 size = -1;
	FILE			*f;

	sp = fresh("log");
	job_init(&st);
	submit(sp, &st, 100);
	ok(store_log_read(sp, st.id, 100, &b, &size) == STORE_OK &&
	    b.len == 0 && size == 0, "no log yet: OK, empty");
	if ((f = fopen(at("jobs/%s/log", st.id), "w")) == NULL)
		exit(1);
	fputs("one\ntwo\nthree\n", f);
	fclose(f);
	ok(store_log_read(sp, st.id, 1000, &b, &size) == STORE_OK &&
	    b.len == 14 && size == 14 && memcmp(b.data, "one\n", 4) == 0,
	    "a tail larger than the log: all of it");
	buf_reset(&b);
	ok(store_log_read(sp, st.id, 6, &b, &size) == STORE_OK &&
	    b.len == 6 && memcmp(b.data, "three\n", 6) == 0 && size == 14,
	    "tail 6: the last 6 bytes, and the whole size");
	buf_reset(&b);
	ok(store_log_read(sp, st.id, 0, &b, &size) == STORE_OK && b.len == 0,
	    "tail 0: nothing");
	ok(store_log_read(sp, "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11", 10, &b,
	    &size) == STORE_NOENT, "no such job: STORE_NOENT");
	buf_free(&b);
	store_close(sp);
}

/*
 * A job queued again and claimed on the same spool while its earlier
 * attempt's supervisor still holds its directory: the next attempt waits
 * for that lock before it makes the directory afresh, so neither removes
 * the other's files.
 */
static void
test_local_again(struct store *sp, const char *id, const char *in,
    size_t len)
{
	struct local	 lc, lc2;
	pid_t		 pid;
	int		 ws = -1, waited;

	ok(store_local_open(sp, id, in, len, &lc) == 0,
	    "an attempt's files are made and held");
	fflush(stdout);
	if ((pid = fork()) == 0) {
		/* A lock is its open file's: the copy is not the next's. */
		close(lc.dirfd);
		_exit(store_local_open(sp, id, in, len, &lc2) == 0 &&
		    access(at("running/%s/input.json", id), F_OK) == 0 ? 0 : 1);
	}
	/* Bounded: what is checked is that it has not finished yet. */
	poll(NULL, 0, 500);
	waited = waitpid(pid, &ws, WNOHANG) == 0;
	ok(waited, "the next attempt waits while the earlier one holds them");
	store_local_close(&lc);
	if (waited)
		(void)waitpid(pid, &ws, 0);
	ok(WIFEXITED(ws) && WEXITSTATUS(ws) == 0 &&
	    access(at("running/%s/input.json", id), F_OK) == 0,
	    "once they are let go, it makes its own, and they stay");
	(void)store_local_sweep(sp);
}

/* spoollocal.c: a worker's local files for the jobs it runs. */
static void
test_local(void)
{
	static const char	 in[] = "{\"id\":\"x\",\"fields\":{}}\n";
	static const char	 id[] = "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11";
	static const char	 id2[] = "3f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e12";
	struct store		*sp;
	struct local		 lc, lc2;
	struct taskfds		 t;
	struct stat		 sb;
	char			 dir[512], buf[64], tail[32];
	long long		 size = -1;
	ssize_t			 n;
	int			 fd;

	sp = fresh("local");
	ok(store_local_open(sp, "../etc", in, sizeof(in) - 1, &lc) == -1,
	    "a bad id is refused");
	ok(store_local_open(sp, id, in, sizeof(in) - 1, &lc) == 0,
	    "a job's local files are made");
	ok(store_local_workdir(&lc, dir, sizeof(dir)) == 0 &&
	    strcmp(dir, at("running/%s/work", id)) == 0 &&
	    stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode),
	    "its working directory is running/ID/work");
	ok(store_local_files(&lc, &t) == 0 && t.in > 2 && t.out > 2 &&
	    t.log > 2 && t.work > 2 && (fcntl(t.in, F_GETFD) & FD_CLOEXEC),
	    "the task's descriptors: above 2, close-on-exec");
	n = read(t.in, buf, sizeof(buf));
	ok(n == (ssize_t)sizeof(in) - 1 && memcmp(buf, in, (size_t)n) == 0,
	    "input.json holds the input");
	(void)write(t.out, "result", 6);
	(void)write(t.log, "one\ntwo\nthree\n", 14);
	ok(store_local_log_end(&lc, tail, 6, &size) == 6 &&
	    memcmp(tail, "three\n", 6) == 0 && size == 14,
	    "the log's last bytes, and its size");
	ok(store_local_log_tail(&lc, tail, sizeof(tail), 2) == 0 &&
	    strcmp(tail, "two\nthree") == 0, "the log's last lines");
	ok((fd = store_local_result(&lc)) != -1 && read(fd, buf, 6) == 6 &&
	    memcmp(buf, "result", 6) == 0, "the result reads back");
	if (fd != -1)
		close(fd);
	close(t.in);
	close(t.out);
	close(t.log);
	close(t.work);
	/* A second job, its supervisor gone (its lock let go). */
	ok(store_local_open(sp, id2, in, sizeof(in) - 1, &lc2) == 0,
	    "a second job's files are made");
	close(lc2.dirfd);
	ok(store_local_sweep(sp) == 1 && access(at("running/%s", id2), F_OK)
	    == -1 && access(at("running/%s", id), F_OK) == 0,
	    "a sweep removes the unlocked one and keeps the locked one");
	store_local_close(&lc);
	ok(access(at("running/%s", id), F_OK) == -1 && lc.dirfd == -1,
	    "closing removes a job's files");
	test_local_again(sp, id, in, sizeof(in) - 1);
	store_close(sp);
}

int
main(void)
{
	struct store		*sp;
	struct jobstatus	 st;
	char			 cmd[300];

	snprintf(root, sizeof(root), "/tmp/spool-t.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;
	sp = test_create(&st);
	test_status(sp, &st);
	test_result(sp, &st);
	store_close(sp);
	test_lock();
	test_update_queue();
	test_misc();
	test_upload_copy();
	test_queue();
	test_full();
	test_status_write_fail();
	test_slots();
	test_keys();
	test_gc();
	test_clients();
	test_usage();
	test_log_read();
	test_local();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
