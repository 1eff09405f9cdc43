/*
 * lifecycle.c: the state machine, with real detached supervisors started
 * by lifecycle_submit as a request would: first in, first out; a task's
 * own max_running; a full queue; cancel while queued and while running;
 * a supervisor killed with SIGKILL (failed "interrupted", or queued again
 * while retries allow); a queued job that lost its queue entry; queue
 * positions that never rise.
 *
 * Every task is one shell script that appends its job's id to "order"
 * when it starts (so the order of starts is on record), writes its pid,
 * its parent's (the supervisor) and any background child's to pid.ID,
 * and, unless its task is "quick", waits for the file gate.ID that the
 * test creates.  Each part runs in a spool of its own.  Nothing waits
 * for a fixed time: every wait polls with a deadline.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "fixture.h"

#define DEADLINE_MS	10000	/* the longest any one wait may take */
#define MARK_VAR	"LIFECYCLE_T_RUN"	/* inherited by all we start */
#define MAXJOBS		64

static char		 root[256];
static char		 spath[512];
static char		 mark[300];	/* MARK_VAR=root */
static struct store	*sp;
static struct config	 cfg;
static struct task	 tasks[5];
static char		 ids[MAXJOBS][SPOOLCGI_ID_LEN + 1];
static int		 nids;

/* A path under the test's directory. */
static const char *
in_root(const char *name, const char *id)
{
	static char	 path[4][512];
	static int	 i;

	i = (i + 1) % 4;
	if ((size_t)snprintf(path[i], sizeof(path[i]), "%s/%s%s%s", root,
	    name, id != NULL ? "." : "", id != NULL ? id : "") >=
	    sizeof(path[i])) {
		printf("Bail out! path too long: %s/%s\n", root, name);
		exit(1);
	}
	return path[i];
}

static void
touch(const char *path)
{
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT, 0600)) != -1)
		close(fd);
}

static void
gate(const char *id)
{
	touch(in_root("gate", id));
}

static void
task_init(struct task *t, const char *name, char *cmd, int maxrun,
    int retries)
{
	fx_task(t, name, cmd);
	t->max_running = maxrun;
	t->retries = retries;
}

/* The one task script; its task's name says how it behaves. */
static char *
script(void)
{
	char	 body[2048];

	snprintf(body, sizeof(body),
	    "d='%s' id=$SPOOLCGI_JOB_ID bg=\n"
	    "if [ \"$SPOOLCGI_TASK\" = retry ] &&\n"
	    "    [ -e \"$d/tried.$id\" ]; then\n"
	    "\techo \"$id\" >> \"$d/order\"; exit 0\n"
	    "fi\n"
	    "[ \"$SPOOLCGI_TASK\" = retry ] && : > \"$d/tried.$id\"\n"
	    "echo \"$id\" >> \"$d/order\"\n"
	    "if [ \"$SPOOLCGI_TASK\" = bg ]; then sleep 60 & bg=$!; fi\n"
	    "echo \"$$ $PPID $bg\" > \"$d/pid.$id.tmp\"\n"
	    "mv \"$d/pid.$id.tmp\" \"$d/pid.$id\"\n"
	    "[ \"$SPOOLCGI_TASK\" = quick ] && exit 0\n"
	    "while [ ! -e \"$d/gate.$id\" ]; do sleep 0.02; done\n"
	    "exit 0\n", root);
	return fx_script(root, "task", body);
}

/* A spool of its own for each part, and the record of starts emptied. */
static void
part(const char *name, int maxrun, int maxq)
{
	if (sp != NULL)
		store_close(sp);
	snprintf(spath, sizeof(spath), "%s/%s", root, name);
	if ((sp = store_open(spath)) == NULL) {
		printf("Bail out! store_open %s\n", spath);
		exit(1);
	}
	cfg.spool = spath;
	cfg.max_running = maxrun;
	cfg.max_queued = maxq;
	unlink(in_root("order", NULL));
	printf("# %s\n", name);
}

/* Submit a new job of task, as a start does.  Returns lifecycle's answer. */
static int
submit(const char *task, struct jobstatus *st)
{
	fx_job_new(st, task);
	if (nids < MAXJOBS)
		memcpy(ids[nids++], st->id, sizeof(st->id));
	return fx_job_submit(sp, &cfg, st, "{}", 2);
}

static int
expired(long long start)
{
	return proc_now_ms() - start > DEADLINE_MS;
}

static void
nap(void)
{
	(void)poll(NULL, 0, 10);
}

/* Read job id until it is in state s.  Returns 0, or -1 at the deadline. */
static int
wait_state(const char *id, enum job_state s, struct jobstatus *st)
{
	long long	 start = proc_now_ms();

	for (;;) {
		if (lifecycle_read(sp, &cfg, id, st) == LC_OK &&
		    st->state == s)
			return 0;
		if (expired(start))
			return -1;
		nap();
	}
}

/* The task's pid, its supervisor's and its background child's. */
static int
read_pids(const char *id, pid_t *task, pid_t *super, pid_t *bg)
{
	FILE	*f;
	long	 a = 0, b = 0, c = 0;
	int	 n;

	if (fx_wait_file(in_root("pid", id), DEADLINE_MS / 1000) == -1 ||
	    (f = fopen(in_root("pid", id), "r")) == NULL)
		return -1;
	n = fscanf(f, "%ld %ld %ld", &a, &b, &c);
	fclose(f);
	*task = (pid_t)a;
	*super = (pid_t)b;
	if (bg != NULL)
		*bg = (pid_t)c;
	return n >= 2 ? 0 : -1;
}

/* Does pid's environment hold the string want? */
static int
env_has(const char *pid, const char *want)
{
	char	 path[64], buf[65536];
	size_t	 len = 0, wl = strlen(want), i;
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof(path), "/proc/%s/environ", pid);
	if ((fd = open(path, O_RDONLY)) == -1)
		return 0;
	while (len < sizeof(buf) - 1 &&
	    (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	for (i = 0; i < len; i += strlen(buf + i) + 1)
		if (strlen(buf + i) == wl && memcmp(buf + i, want, wl) == 0)
			return 1;
	return 0;
}

/*
 * The live processes (not self, not zombies) whose environment holds
 * want; with kill, each is sent SIGKILL (by its pid: only ours carry
 * the mark).  Returns how many there were.
 */
static int
procs_with(const char *want, int kill_them)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
		    atol(de->d_name) == (long)getpid() ||
		    fx_gone((pid_t)atol(de->d_name)) ||
		    !env_has(de->d_name, want))
			continue;
		n++;
		if (kill_them)
			(void)kill((pid_t)atol(de->d_name), SIGKILL);
	}
	closedir(d);
	return n;
}

/* Live processes of job id: its task and whatever the task started. */
static int
job_procs(const char *id)
{
	char	 want[128];

	snprintf(want, sizeof(want), "SPOOLCGI_JOB_ID=%s", id);
	return procs_with(want, 0);
}

/* Lines of the record of starts, in order, as ids; returns how many. */
static int
starts(char out[][SPOOLCGI_ID_LEN + 1], int max)
{
	char	 line[128];
	FILE	*f;
	int	 n = 0;

	if ((f = fopen(in_root("order", NULL), "r")) == NULL)
		return 0;
	while (n < max && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strlen(line) == SPOOLCGI_ID_LEN)
			memcpy(out[n++], line, SPOOLCGI_ID_LEN + 1);
	}
	fclose(f);
	return n;
}

/* Is id in the record of starts? */
static int
started(const char *id)
{
	char	 s[MAXJOBS][SPOOLCGI_ID_LEN + 1];
	int	 n, i;

	n = starts(s, MAXJOBS);
	for (i = 0; i < n; i++)
		if (strcmp(s[i], id) == 0)
			return 1;
	return 0;
}

static int
entries(const char *dir)
{
	char	 path[600];

	snprintf(path, sizeof(path), "%s/%s", spath, dir);
	return fx_entries(path);
}

/* Delete job id's queue entry by hand, as a crash between writes would. */
static int
unqueue(const char *id)
{
	struct dirent	*de;
	DIR		*d;
	char		 path[600], target[64];
	size_t		 len;
	int		 n = 0;

	snprintf(path, sizeof(path), "%s/queue", spath);
	if ((d = opendir(path)) == NULL)
		return -1;
	/* An entry is queue/SEQ, a symbolic link to its job's id. */
	while ((de = readdir(d)) != NULL) {
		len = (size_t)readlinkat(dirfd(d), de->d_name, target,
		    sizeof(target) - 1);
		if (len == SPOOLCGI_ID_LEN && memcmp(target, id, len) == 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Every listed job final, within the deadline.  Returns 0 or -1. */
static int
wait_all_final(struct jobstatus *js, int n)
{
	long long	 start = proc_now_ms();
	int		 i, done;

	do {
		for (i = done = 0; i < n; i++)
			if (lifecycle_read(sp, &cfg, js[i].id, &js[i]) ==
			    LC_OK && job_state_final(js[i].state))
				done++;
		if (done == n)
			return 0;
		nap();
	} while (!expired(start));
	return -1;
}

/* Three jobs behind a running one start in the order they came. */
static void
test_fifo(void)
{
	struct jobstatus	 j[4];
	char			 s[8][SPOOLCGI_ID_LEN + 1];
	pid_t			 t, p;
	int			 i, n;

	part("fifo", 1, 100);
	ok(submit("gated", &j[0]) == LC_OK && read_pids(j[0].id, &t, &p,
	    NULL) == 0, "a gated job runs");
	for (i = 1; i < 4; i++)
		ok(submit("quick", &j[i]) == LC_OK &&
		    lifecycle_read(sp, &cfg, j[i].id, &j[i]) == LC_OK &&
		    j[i].state == JOB_QUEUED && j[i].queue_position == i,
		    "job %d waits at position %d", i, i);
	gate(j[0].id);
	ok(wait_all_final(j, 4) == 0, "all four finish");
	for (i = 0; i < 4; i++)
		is_str(job_state_name(j[i].state), "succeeded",
		    "job %d succeeded", i);
	n = starts(s, 8);
	ok(n == 4 && strcmp(s[0], j[0].id) == 0 && strcmp(s[1], j[1].id) == 0
	    && strcmp(s[2], j[2].id) == 0 && strcmp(s[3], j[3].id) == 0,
	    "they started in the order they were submitted");
}

/*
 * A job whose task is at its own max_running is passed over by a job of
 * another task behind it, and keeps its place: it runs next.
 */
static void
test_task_limit(void)
{
	struct jobstatus	 x1, x2, y, z, all[4];
	char			 s[8][SPOOLCGI_ID_LEN + 1];
	long long		 start;
	pid_t			 t, p;
	int			 n;

	part("tasklimit", 2, 100);
	ok(submit("t1", &x1) == LC_OK && read_pids(x1.id, &t, &p, NULL) == 0,
	    "x1 (task t1, max_running 1) runs");
	ok(submit("t1", &x2) == LC_OK && lifecycle_read(sp, &cfg, x2.id,
	    &x2) == LC_OK && x2.state == JOB_QUEUED && x2.queue_position == 1,
	    "x2 (t1) waits though a global slot is free");
	ok(submit("gated", &y) == LC_OK && read_pids(y.id, &t, &p, NULL) == 0,
	    "y, of another task behind it, runs");
	ok(lifecycle_read(sp, &cfg, x2.id, &x2) == LC_OK &&
	    x2.state == JOB_QUEUED && x2.queue_position == 1,
	    "x2 was passed over, not skipped: still first");
	ok(submit("quick", &z) == LC_OK && lifecycle_read(sp, &cfg, z.id,
	    &z) == LC_OK && z.state == JOB_QUEUED && z.queue_position == 2,
	    "z waits behind x2 (both global slots busy)");
	gate(x1.id);
	start = proc_now_ms();
	while (!started(x2.id) && !started(z.id) && !expired(start))
		nap();
	ok(started(x2.id) && !started(z.id),
	    "when x1 ends, x2 runs next, not z");
	ok(lifecycle_read(sp, &cfg, z.id, &z) == LC_OK &&
	    z.state == JOB_QUEUED && z.queue_position == 1,
	    "z is now first in the queue");
	gate(x2.id);
	gate(y.id);
	all[0] = x1;
	all[1] = x2;
	all[2] = y;
	all[3] = z;
	ok(wait_all_final(all, 4) == 0 && all[1].state == JOB_SUCCEEDED &&
	    all[3].state == JOB_SUCCEEDED, "all finish");
	n = starts(s, 8);
	ok(n == 4 && strcmp(s[0], x1.id) == 0 && strcmp(s[1], y.id) == 0 &&
	    strcmp(s[2], x2.id) == 0 && strcmp(s[3], z.id) == 0,
	    "starts: x1, y, x2, z");
}

static void
test_full(void)
{
	struct jobstatus	 j[3], c, rd;
	pid_t			 t, p;

	part("full", 1, 2);
	ok(submit("gated", &j[0]) == LC_OK && read_pids(j[0].id, &t, &p,
	    NULL) == 0, "a gated job runs");
	ok(submit("quick", &j[1]) == LC_OK && submit("quick", &j[2]) == LC_OK,
	    "two wait: the queue is full");
	is_int(submit("quick", &c), LC_FULL, "a third: LC_FULL");
	ok(store_read(sp, c.id, &rd) == STORE_NOENT, "no such job");
	is_int(entries("tmp"), 0, "nothing staged is left");
	is_int(entries("jobs"), 3, "jobs/ holds the three others");
	is_int(entries("queue"), 2, "the queue holds two");
	gate(j[0].id);
	ok(wait_all_final(j, 3) == 0, "the others finish");
	ok(!started(c.id), "the refused job never ran");
}

static void
test_cancel(void)
{
	struct jobstatus	 g, a, st, both[2];
	pid_t			 t, p;

	part("cancel", 1, 100);
	ok(submit("gated", &g) == LC_OK && read_pids(g.id, &t, &p, NULL) == 0,
	    "a gated job runs");
	ok(submit("quick", &a) == LC_OK, "another waits");
	ok(lifecycle_cancel(sp, &cfg, a.id, &st) == LC_OK &&
	    st.state == JOB_CANCELLED, "cancel of the queued job: cancelled");
	is_int(entries("queue"), 0, "its queue entry is gone");
	ok(lifecycle_cancel(sp, &cfg, a.id, &st) == LC_FINAL,
	    "cancel again: LC_FINAL");
	ok(lifecycle_cancel(sp, &cfg, g.id, &st) == LC_OK,
	    "cancel of the running job");
	ok(wait_state(g.id, JOB_CANCELLED, &st) == 0, "it reads cancelled");
	ok(fx_gone(t), "its task process is gone");
	is_int(job_procs(g.id), 0, "and nothing of its job runs");
	both[0] = g;
	both[1] = a;
	ok(wait_all_final(both, 2) == 0 && lifecycle_dispatch(sp, &cfg) == 0,
	    "nothing is left to start");
	ok(lifecycle_read(sp, &cfg, a.id, &st) == LC_OK &&
	    st.state == JOB_CANCELLED && !started(a.id),
	    "the cancelled job never ran");
}

/* Is pid a process of this very program (a supervisor is a fork)? */
static int
same_program(pid_t pid)
{
	struct stat	 a, b;
	char		 path[64];

	/*
	 * The files, not the names: under valgrind a readlink of our own
	 * /proc/self/exe names the test, while a child's names valgrind.
	 */
	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
	if (stat(path, &a) == -1 || stat("/proc/self/exe", &b) == -1)
		return 0;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Read job id until it is no longer running.  Returns 0, or -1. */
static int
wait_settled(const char *id, struct jobstatus *st)
{
	long long	 start = proc_now_ms();

	for (;;) {
		if (lifecycle_read(sp, &cfg, id, st) == LC_OK &&
		    st->state != JOB_RUNNING)
			return 0;
		if (expired(start))
			return -1;
		nap();
	}
}

/* kill -9 of a supervisor: failed "interrupted", its processes gone. */
static void
test_killed(void)
{
	struct jobstatus	 j, st;
	pid_t			 t = 0, p = 0, bg = 0;
	int			 tg, bgg, live;

	part("killed", 1, 100);
	ok(submit("bg", &j) == LC_OK && read_pids(j.id, &t, &p, &bg) == 0 &&
	    bg > 0, "a job with a background child runs");
	ok(p > 1 && same_program(p), "its task's parent is a supervisor, a "
	    "fork of this program");
	ok(!fx_gone(bg), "the background child lives");
	ok(p > 1 && kill(p, SIGKILL) == 0, "the supervisor is killed (-9)");
	ok(wait_settled(j.id, &st) == 0, "the job leaves running");
	/* At once, before anything else could finish the kill. */
	tg = fx_gone(t);
	bgg = fx_gone(bg);
	live = job_procs(j.id);
	is_str(job_state_name(st.state), "failed", "it reads failed");
	is_str(st.error_code, "interrupted", "error.code interrupted");
	ok(st.finished_at > 0, "with an end time");
	ok(tg, "the task was gone when the status said so");
	ok(bgg, "the background child too");
	is_int(live, 0, "no process of the job was left");
	ok(lifecycle_dispatch(sp, &cfg) == 0, "nothing runs it again");
}

/* With retries 1, the killed job is queued again and then succeeds. */
static void
test_retry(void)
{
	struct jobstatus	 j, st;
	char			 s[8][SPOOLCGI_ID_LEN + 1];
	pid_t			 t = 0, p = 0;

	part("retry", 1, 100);
	ok(submit("retry", &j) == LC_OK && read_pids(j.id, &t, &p, NULL) ==
	    0 && same_program(p), "a job of a task with retries 1 runs");
	ok(p > 1 && kill(p, SIGKILL) == 0, "its supervisor is killed (-9)");
	/* No slot for a moment, so that the requeued job can be seen. */
	cfg.max_running = 0;
	ok(wait_settled(j.id, &st) == 0, "the job leaves running");
	is_str(job_state_name(st.state), "queued", "it is queued again");
	ok(st.attempts == 1 && strstr(st.message, "queued again") != NULL,
	    "one attempt made, and the message says so");
	/* A queued job's status carries its place (queue_position). */
	ok(st.queue_position == 1, "the read that requeued it gives its place "
	    "(1)");
	if (st.queue_position != 1)
		printf("#   queue_position %d\n", st.queue_position);
	ok(lifecycle_read(sp, &cfg, j.id, &st) == LC_OK &&
	    st.state == JOB_QUEUED && st.queue_position == 1,
	    "the next read finds it first in the queue");
	ok(fx_gone(t), "the first attempt's task is gone");
	cfg.max_running = 1;
	ok(wait_state(j.id, JOB_SUCCEEDED, &st) == 0,
	    "then it runs to succeeded");
	is_int(st.attempts, 2, "two attempts");
	ok(starts(s, 8) == 2 && strcmp(s[0], j.id) == 0 &&
	    strcmp(s[1], j.id) == 0, "its task started twice");
}

/*
 * Submit a job of task with one upload, doc.txt holding text, as a
 * multipart start does (the file staged and synced, then the job).
 */
static int
submit_upload(const char *task, const char *text, struct jobstatus *st)
{
	struct submit	 sub;
	char		 in[600];
	int		 wfd, fd, n;

	fx_job_new(st, task);
	memset(&sub, 0, sizeof(sub));
	if (nids < MAXJOBS)
		memcpy(ids[nids++], st->id, sizeof(st->id));
	if ((wfd = store_stage(sp, st->id)) == -1)
		return LC_ERR;
	if ((fd = openat(wfd, "doc.txt", O_WRONLY | O_CREAT | O_EXCL,
	    0600)) == -1 || write(fd, text, strlen(text)) !=
	    (ssize_t)strlen(text) || fsync(fd) == -1 || close(fd) == -1) {
		close(wfd);
		return LC_ERR;
	}
	close(wfd);
	n = snprintf(in, sizeof(in), "{\"id\":\"%s\",\"task\":\"%s\","
	    "\"fields\":{\"note\":\"x \xc3\xa9 <y>\"},\"files\":{\"doc\":"
	    "{\"path\":\"doc.txt\",\"filename\":\"Doc 1.TXT\","
	    "\"type\":\"text/plain\",\"size\":%zu}}}\n", st->id, task,
	    strlen(text));
	sub.key = "";
	return lifecycle_submit(sp, &cfg, st, in, (size_t)n, &sub);
}

/* The text of file name of job id's work/, or "" (static). */
static const char *
work_file(const char *id, const char *name)
{
	char	 path[700];

	snprintf(path, sizeof(path), "%s/jobs/%s/work/%s", spath, id, name);
	return fx_slurp(path);
}

/* The input.json of job id with its own id taken out (static). */
static const char *
input_sans_id(const char *id)
{
	static char	 text[1024];
	struct buf	 b = { 0 };
	char		*p;

	text[0] = '\0';
	if (store_input_read(sp, id, &b) == STORE_OK && b.data != NULL) {
		snprintf(text, sizeof(text), "%s", b.data);
		while ((p = strstr(text, id)) != NULL)
			memset(p, '-', SPOOLCGI_ID_LEN);
	}
	buf_free(&b);
	return text;
}

/*
 * lifecycle_retry: a cancelled job with an upload run again as a new
 * job, its input and upload the same (a copy, not a link), the old job
 * as it was; refusals for a job in another state, an unknown one, a task
 * gone, an upload gone or changed; a key makes one retry of many.
 */
static void
test_run_again(void)
{
	struct jobstatus	 old, run, st, nj, o2;
	struct submit		 sub;
	struct stat		 a, b;
	char			 path[700], path2[700], first[SPOOLCGI_ID_LEN + 1];
	pid_t			 t, p;
	int			 fd;

	part("again", 1, 100);
	memset(&sub, 0, sizeof(sub));
	sub.key = "";
	ok(submit_upload("gated", "the upload\n", &old) == LC_OK &&
	    wait_state(old.id, JOB_RUNNING, &st) == 0, "a job with an upload "
	    "runs");
	memset(&nj, 0, sizeof(nj));
	is_int(lifecycle_retry(sp, &cfg, old.id, &st, &nj, &sub), LC_STATE,
	    "a running job: LC_STATE");
	ok(lifecycle_cancel(sp, &cfg, old.id, &st) == LC_OK &&
	    wait_state(old.id, JOB_CANCELLED, &st) == 0, "it is cancelled");
	memset(&nj, 0, sizeof(nj));
	is_int(lifecycle_retry(sp, &cfg, old.id, &st, &nj, &sub), LC_OK,
	    "lifecycle_retry of the cancelled job: LC_OK");
	if (nids < MAXJOBS)
		memcpy(ids[nids++], nj.id, sizeof(nj.id));
	ok(job_id_check(nj.id, strlen(nj.id)) && strcmp(nj.id, old.id) != 0,
	    "a new job, with an id of its own");
	is_str(nj.task, "gated", "of the same task");
	ok(st.state == JOB_CANCELLED && strcmp(st.id, old.id) == 0,
	    "old: the old job's status");
	snprintf(path, sizeof(path), "%s", input_sans_id(old.id));
	is_str(input_sans_id(nj.id), path, "the same input (fields and "
	    "files), its own id");
	ok(strstr(input_sans_id(nj.id), "\"note\":\"x") != NULL,
	    "the fields are there");
	is_str(work_file(nj.id, "doc.txt"), "the upload\n", "the upload is "
	    "copied");
	snprintf(path, sizeof(path), "%s/jobs/%s/work/doc.txt", spath, old.id);
	snprintf(path2, sizeof(path2), "%s/jobs/%s/work/doc.txt", spath, nj.id);
	ok(stat(path, &a) == 0 && stat(path2, &b) == 0 && a.st_ino != b.st_ino,
	    "a copy, not a link: the task of one cannot change the other's");
	ok(read_pids(nj.id, &t, &p, NULL) == 0 && started(nj.id),
	    "the new job runs");
	ok(lifecycle_read(sp, &cfg, old.id, &o2) == LC_OK &&
	    o2.state == JOB_CANCELLED, "the old job keeps its record");
	gate(nj.id);
	ok(wait_state(nj.id, JOB_SUCCEEDED, &run) == 0, "and it succeeds");

	memset(&nj, 0, sizeof(nj));
	sub.key = "again-1";
	ok(lifecycle_retry(sp, &cfg, old.id, &st, &nj, &sub) == LC_OK,
	    "with a key: LC_OK");
	if (nids < MAXJOBS)
		memcpy(ids[nids++], nj.id, sizeof(nj.id));
	memcpy(first, nj.id, sizeof(first));
	gate(first);
	memset(&nj, 0, sizeof(nj));
	ok(lifecycle_retry(sp, &cfg, old.id, &st, &nj, &sub) ==
	    LC_DUPLICATE && strcmp(sub.existing, first) == 0,
	    "the same key again: LC_DUPLICATE, the first retry's id");
	ok(lifecycle_retry(sp, &cfg, run.id, &st, &nj, &sub) == LC_STATE,
	    "a succeeded job: LC_STATE, key or not");
	is_int(lifecycle_retry(sp, &cfg, "00000000-0000-4000-8000-000000000000",
	    &st, &nj, &sub), LC_NOENT, "no such job: LC_NOENT");
	sub.key = "";

	/* What the refusals below must leave: no new job, no staging. */
	ok(wait_state(first, JOB_SUCCEEDED, &run) == 0, "the keyed retry ends");
	cfg.ntasks = 1;		/* "quick" alone: "gated" is gone */
	is_int(lifecycle_retry(sp, &cfg, old.id, &st, &nj, &sub), LC_NOTASK,
	    "its task left the configuration: LC_NOTASK");
	cfg.ntasks = sizeof(tasks) / sizeof(tasks[0]);
	if ((fd = open(path, O_WRONLY | O_APPEND)) != -1) {
		(void)write(fd, "more", 4);
		close(fd);
	}
	is_int(lifecycle_retry(sp, &cfg, old.id, &st, &nj, &sub), LC_INPUT,
	    "its task changed its upload: LC_INPUT");
	unlink(path);
	is_int(lifecycle_retry(sp, &cfg, old.id, &st, &nj, &sub), LC_INPUT,
	    "its upload is gone: LC_INPUT");
	is_int(entries("jobs"), 3, "the refusals made no job");
	is_int(entries("tmp"), 0, "and left no staging");
}

/* A queued job whose entry was deleted by hand is requeued. */
static void
test_requeue(void)
{
	struct jobstatus	 g, a, st, both[2];
	struct gcstats		 gs;
	pid_t			 t, p;

	part("requeue", 1, 100);
	cfg.keep_finished_seconds = 3600;
	cfg.tombstone_seconds = 3600;
	ok(submit("gated", &g) == LC_OK && read_pids(g.id, &t, &p, NULL) == 0,
	    "a gated job runs");
	ok(submit("quick", &a) == LC_OK, "another waits");
	is_int(unqueue(a.id), 1, "its queue entry is deleted by hand");
	ok(lifecycle_gc(sp, &cfg, time(NULL), &gs) == LC_OK,
	    "the clean-up runs");
	is_int(gs.requeued, 1, "gs.requeued == 1");
	is_int(gs.settled, 0, "the running job was not settled");
	is_int(store_queue_position(sp, a.id), 1, "it has an entry again");
	is_int(unqueue(a.id), 1, "deleted by hand again");
	ok(lifecycle_read(sp, &cfg, a.id, &st) == LC_OK &&
	    st.state == JOB_QUEUED && st.queue_position == 1,
	    "a read finds it queued, first");
	is_int(store_queue_position(sp, a.id), 1,
	    "and gave it its entry back");
	gate(g.id);
	both[0] = g;
	both[1] = a;
	ok(wait_all_final(both, 2) == 0 && both[1].state == JOB_SUCCEEDED,
	    "and it runs");
}

/* Six jobs submitted: no job's queue position ever rises. */
static void
test_positions(void)
{
	struct jobstatus	 g, j[6], st;
	long long		 start;
	pid_t			 t, p;
	int			 last[6], i, k, rose = 0, exact = 1, done;

	part("positions", 1, 100);
	ok(submit("gated", &g) == LC_OK && read_pids(g.id, &t, &p, NULL) == 0,
	    "a gated job runs");
	for (i = 0; i < 6; i++) {
		if (submit("quick", &j[i]) != LC_OK)
			rose++;
		for (k = 0; k <= i; k++) {
			if (lifecycle_read(sp, &cfg, j[k].id, &st) != LC_OK) {
				rose++;
				continue;
			}
			if (k < i && st.queue_position > last[k])
				rose++;
			if (st.queue_position != k + 1)
				exact = 0;
			last[k] = st.queue_position;
		}
	}
	is_int(rose, 0, "no position rose while six were submitted");
	ok(exact, "each job read its place in the order of submission");
	gate(g.id);
	/* And while the queue drains. */
	start = proc_now_ms();
	do {
		for (k = done = 0; k < 6; k++) {
			if (lifecycle_read(sp, &cfg, j[k].id, &st) != LC_OK)
				continue;
			if (job_state_final(st.state))
				done++;
			if (st.state == JOB_QUEUED &&
			    st.queue_position > last[k])
				rose++;
			if (st.state == JOB_QUEUED)
				last[k] = st.queue_position;
			else
				last[k] = 0;
		}
		if (done < 6)
			nap();
	} while (done < 6 && !expired(start));
	is_int(done, 6, "all six finish");
	is_int(rose, 0, "no position rose while the queue drained");
}

int
main(void)
{
	struct task	*t;
	char		 cmd[300], *task;
	long long	 start;
	int		 i, left;

	snprintf(root, sizeof(root), "/tmp/lifecycle-t.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;
	/* Whatever this test starts inherits it: nothing may outlive us. */
	snprintf(mark, sizeof(mark), "%s=%s", MARK_VAR, root);
	setenv(MARK_VAR, root, 1);
	task = script();
	task_init(&tasks[0], "quick", task, 0, 0);
	task_init(&tasks[1], "gated", task, 0, 0);
	task_init(&tasks[2], "t1", task, 1, 0);
	task_init(&tasks[3], "bg", task, 0, 0);
	task_init(&tasks[4], "retry", task, 0, 1);
	cfg.tasks = tasks;
	cfg.ntasks = sizeof(tasks) / sizeof(tasks[0]);
	cfg.kill_grace_seconds = 1;
	cfg.keep_finished_seconds = 3600;
	cfg.tombstone_seconds = 3600;
	cfg.gc_interval_seconds = 300;

	test_fifo();
	test_task_limit();
	test_full();
	test_cancel();
	test_killed();
	test_retry();
	test_requeue();
	test_positions();
	test_run_again();

	/* Open every gate, then wait for every process we started to end. */
	for (i = 0; i < nids; i++)
		gate(ids[i]);
	start = proc_now_ms();
	while ((left = procs_with(mark, 0)) > 0 && !expired(start))
		nap();
	is_int(left, 0, "no process is left behind");
	if (left > 0)
		procs_with(mark, 1);
	store_close(sp);
	for (t = tasks; t < tasks + sizeof(tasks) / sizeof(tasks[0]); t++)
		free(t->command);
	free(task);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
