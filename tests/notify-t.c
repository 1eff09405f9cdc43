/*
 * notify.c: a job's notifier, run by a real detached supervisor (started
 * through lifecycle.c, as a request would): once, after the final status
 * is on disk and the run slot is free, with the status object on stdin,
 * the task's environment and its own process group; a failing, hanging
 * or missing notifier is logged in the notify log and leaves the job as
 * it was.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"
#include "tap.h"
#include "fixture.h"

static char		 root[256];
static struct store	*sp;
static struct config	 cfg;
static struct task	 tasks[5];

static struct field	 text_field = { .name = (char *)"text",
    .label = (char *)"text", .max_bytes = 100 };

/* A task that runs cmd, then the notifier notify (none when NULL). */
static void
task_init(struct task *t, const char *name, char *cmd, char *notify)
{
	fx_task(t, name, cmd);
	if (notify != NULL) {
		t->notify = calloc(2, sizeof(char *));
		t->notify[0] = notify;
	}
}

/* Create a job and dispatch it.  Returns 0, or -1. */
static int
start(const struct task *t, const char *input, struct jobstatus *st)
{
	fx_job_new(st, t->name);
	return fx_job_submit(sp, &cfg, st, input, strlen(input)) == LC_OK ?
	    0 : -1;
}

static char *
script(const char *name, const char *body)
{
	return fx_script(root, name, body);
}

static char *
job_file(const char *id, const char *name)
{
	char	 path[512];

	snprintf(path, sizeof(path), "%s/spool/jobs/%s/%s", root, id, name);
	return fx_slurp(path);
}

static int
count(const char *hay, const char *needle)
{
	int	 n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

int
main(void)
{
	struct task		*t_ok = &tasks[0], *t_bad = &tasks[1];
	struct task		*t_hang = &tasks[2], *t_none = &tasks[3];
	struct task		*t_miss = &tasks[4];
	struct jobstatus	 st, st2;
	char			 path[1024], out[512], gate[512], *s;
	pid_t			 sup, kid;

	sp = fx_spool(root, sizeof(root), "notify-t", &cfg);
	snprintf(out, sizeof(out), "%s/ok.out", root);
	snprintf(gate, sizeof(gate), "%s/gate", root);
	cfg.max_running = 1;	/* the next job needs the slot back */
	cfg.max_queued = 100;
	cfg.tasks = tasks;
	cfg.ntasks = sizeof(tasks) / sizeof(tasks[0]);
	cfg.kill_grace_seconds = 1;
	cfg.notify_timeout_seconds = 30;
	cfg.public_url = (char *)"https://jobs.example.org/app";
	setenv("QUERY_STRING", "secret=1", 1);
	setenv("NOTIFY_T_OUT", out, 1);
	setenv("NOTIFY_T_GATE", gate, 1);

	/*
	 * It records what it was given, says it started, then waits for the
	 * test's gate: meanwhile the next job runs in the slot.
	 */
	task_init(t_ok, "ok", script("ok", "printf result\n"),
	    script("notify-ok",
	    "{ echo \"stdin=$(cat)\"\n"
	    "  echo \"state=$SPOOLCGI_JOB_STATE field=$SPOOLCGI_FIELD_text\"\n"
	    "  echo \"url=$SPOOLCGI_JOB_URL id=$SPOOLCGI_JOB_ID\"\n"
	    "  echo \"error=${SPOOLCGI_JOB_ERROR-unset}\"\n"
	    "  echo \"query=${QUERY_STRING-unset}\"\n"
	    "  echo \"pgid=$(ps -o pgid= -p $$ | tr -d ' ') pid=$$\"\n"
	    "  echo \"ppid=$PPID\"\n"
	    "  echo \"fds=$(ls /proc/self/fd | sort -n | tr '\\n' ' ')\"\n"
	    "} >\"$NOTIFY_T_OUT.tmp\"\n"
	    "echo ran >>\"$NOTIFY_T_OUT.count\"\n"
	    "mv \"$NOTIFY_T_OUT.tmp\" \"$NOTIFY_T_OUT\"\n"
	    "echo notifier-said-this >&2\n"
	    "while [ ! -e \"$NOTIFY_T_GATE\" ]; do sleep 0.05; done\n"));
	t_ok->fields = &text_field;
	t_ok->nfields = 1;
	task_init(t_bad, "bad", script("bad", "echo task-log >&2; exit 4\n"),
	    script("notify-bad", "echo notifier-failed >&2\nexit 3\n"));
	task_init(t_hang, "hang", script("hang", "printf x\n"),
	    script("notify-hang", "trap '' TERM\n"
	    "sleep 60 & echo $! >\"$NOTIFY_T_OUT.kid\"\nwait\n"));
	task_init(t_none, "none", script("none", "printf x\n"), NULL);
	task_init(t_miss, "miss", script("miss", "printf x\n"),
	    strdup("/nonexistent/notifier"));

	/* ------------------------------------------------------ once */
	ok(start(t_ok, "{\"id\":\"x\",\"fields\":{\"text\":\"hi there\"}}",
	    &st) == 0, "a job with a notifier starts");
	ok(fx_wait_final(sp, &cfg, st.id, &st, 20) == 0 &&
	    st.state == JOB_SUCCEEDED, "it succeeds");
	ok(fx_wait_file(out, 20) == 0, "its notifier runs");
	s = fx_slurp(out);
	printf("# %s", s);
	ok(strstr(s, "stdin={\"id\":\"") != NULL &&
	    strstr(s, st.id) != NULL &&
	    strstr(s, "\"state\":\"succeeded\"") != NULL &&
	    strstr(s, "\"done\":true") != NULL &&
	    strstr(s, "\"progress\":100") != NULL,
	    "stdin: the final status object");
	snprintf(path, sizeof(path), "\"resourceLocation\":"
	    "\"https://jobs.example.org/app/jobs/%s/result\"", st.id);
	ok(strstr(s, path) != NULL, "stdin: links under public_url");
	ok(strstr(s, "state=succeeded field=hi there\n") != NULL,
	    "env: SPOOLCGI_JOB_STATE and the fields, as a task has them");
	snprintf(path, sizeof(path), "url=https://jobs.example.org/app/jobs/%s"
	    " id=%s\n", st.id, st.id);
	ok(strstr(s, path) != NULL, "env: SPOOLCGI_JOB_URL, SPOOLCGI_JOB_ID");
	ok(strstr(s, "error=unset\n") != NULL,
	    "env: no SPOOLCGI_JOB_ERROR without an error");
	ok(strstr(s, "query=unset\n") != NULL,
	    "env: no request variable, as for a task");
	{
		long pgid = -1, pid = -2;
		const char *p = strstr(s, "pgid=");

		if (p != NULL)
			sscanf(p, "pgid=%ld pid=%ld", &pgid, &pid);
		ok(pgid == pid, "it leads its own process group");
		p = strstr(s, "ppid=");
		sup = p != NULL ? strtol(p + 5, NULL, 10) : -1;
	}
	ok(strstr(s, "fds=0 1 2 3 \n") != NULL,
	    "stdin, stdout, stderr and nothing else (3: ls's own)");

	/* While it runs, the slot is free: the next job runs to its end. */
	ok(start(t_none, "{\"id\":\"y\"}", &st2) == 0 &&
	    fx_wait_final(sp, &cfg, st2.id, &st2, 20) == 0 &&
	    st2.state == JOB_SUCCEEDED,
	    "a queued job runs while the notifier still runs (max_running 1)");
	ok(!fx_gone(sup), "the first job's supervisor is still notifying");
	snprintf(path, sizeof(path), "%s/spool/jobs/%s/notify.log", root,
	    st2.id);
	ok(access(path, F_OK) == -1 && errno == ENOENT,
	    "a task without a notifier leaves no notify log");
	close(open(gate, O_CREAT | O_WRONLY, 0600));
	ok(fx_wait_gone(sup, 20) == 0,
	    "the supervisor ends after its notifier");
	snprintf(path, sizeof(path), "%s.count", out);
	is_str(fx_slurp(path), "ran\n", "the notifier ran once");
	ok(lifecycle_read(sp, &cfg, st.id, &st) == LC_OK &&
	    st.state == JOB_SUCCEEDED, "the job is as it was");
	s = job_file(st.id, "notify.log");
	ok(strstr(s, "notifier-said-this\n") != NULL,
	    "its stderr is in the notify log");
	ok(strstr(job_file(st.id, "log"), "notifier") == NULL,
	    "and not in the job's log, which the job's link shows");
	ok(strstr(s, "warning") == NULL, "a notifier that exits 0: no warning");

	/* ------------------------------------------------------ failure */
	ok(start(t_bad, "{\"id\":\"x\"}", &st) == 0 &&
	    fx_wait_final(sp, &cfg, st.id, &st, 20) == 0 &&
	    st.state == JOB_FAILED,
	    "a failing job with a failing notifier");
	snprintf(path, sizeof(path), "%s/spool/jobs/%s/notify.log", root,
	    st.id);
	ok(fx_wait_file(path, 20) == 0, "it has a notify log");
	(void)fx_wait_text(path, "exited with status 3", 20);
	s = fx_slurp(path);
	printf("# %s", s);
	is_int(count(s, "exited with status 3"), 1,
	    "the failure is logged once");
	ok(strstr(s, st.id) != NULL, "with the job's id");
	ok(strstr(s, "notifier-failed\n") != NULL, "after the notifier's own");
	ok(lifecycle_read(sp, &cfg, st.id, &st2) == LC_OK &&
	    st2.state == JOB_FAILED && strcmp(st2.error_code, "exit") == 0 &&
	    st2.finished_at == st.finished_at,
	    "the job's end is unchanged");
	ok(strstr(job_file(st.id, "log"), "task-log") != NULL &&
	    strstr(job_file(st.id, "log"), "notif") == NULL,
	    "the job's log holds the task's lines only");

	/* ------------------------------------------------------ timeout */
	cfg.notify_timeout_seconds = 1;
	ok(start(t_hang, "{\"id\":\"x\"}", &st) == 0 &&
	    fx_wait_final(sp, &cfg, st.id, &st, 20) == 0 &&
	    st.state == JOB_SUCCEEDED,
	    "a job whose notifier hangs, ignoring SIGTERM");
	snprintf(path, sizeof(path), "%s.kid", out);
	ok(fx_wait_file(path, 20) == 0, "the notifier started its child");
	kid = strtol(fx_slurp(path), NULL, 10);
	snprintf(path, sizeof(path), "%s/spool/jobs/%s/notify.log", root,
	    st.id);
	(void)fx_wait_text(path, "notify_timeout_seconds", 30);
	s = fx_slurp(path);
	printf("# %s", s);
	ok(strstr(s, "ran longer than notify_timeout_seconds (1) and was "
	    "stopped") != NULL, "stopped at its timeout, and logged");
	ok(kid > 0 && fx_wait_gone(kid, 10) == 0,
	    "its whole process group is stopped");
	ok(lifecycle_read(sp, &cfg, st.id, &st2) == LC_OK &&
	    st2.state == JOB_SUCCEEDED, "the job still reads succeeded");

	/* ------------------------------------------------------ missing */
	ok(start(t_miss, "{\"id\":\"x\"}", &st) == 0 &&
	    fx_wait_final(sp, &cfg, st.id, &st, 20) == 0 &&
	    st.state == JOB_SUCCEEDED,
	    "a job whose notifier cannot be started");
	snprintf(path, sizeof(path), "%s/spool/jobs/%s/notify.log", root,
	    st.id);
	(void)fx_wait_text(path, "could not be started", 20);
	s = fx_slurp(path);
	ok(strstr(s, "/nonexistent/notifier could not be started") != NULL,
	    "logged: it could not be started");

	store_close(sp);
	fx_tasks_free(tasks, sizeof(tasks) / sizeof(tasks[0]));
	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
