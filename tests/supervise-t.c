/*
 * supervise.c: a job run by a real detached supervisor (started through
 * lifecycle.c, as a request would), from the task protocol's side: stdin,
 * environment, descriptors, process group, progress, results, failures,
 * the timeout and the result limit.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
static struct task	 tasks[6];

static char *
script(const char *name, const char *body)
{
	return fx_script(root, name, body);
}

static struct field	 text_field = { .name = (char *)"text",
    .label = (char *)"text", .max_bytes = 100 };

/* Create a job and start it; returns 0 when the supervisor took it. */
static int
start(const struct task *t, const char *input, struct jobstatus *st)
{
	fx_job_new(st, t->name);
	if (fx_job_submit(sp, &cfg, st, input, strlen(input)) != LC_OK)
		return -1;
	/*
	 * Taken: its supervisor records "running" (or is done already)
	 * right after the start, which does not wait for that write.
	 */
	{
		time_t deadline = time(NULL) + 10;

		while (store_read(sp, st->id, st) == STORE_OK &&
		    st->state == JOB_QUEUED && time(NULL) <= deadline)
			poll(NULL, 0, 5);
	}
	return st->state != JOB_QUEUED ? 0 : -1;
}

/* The text of job id's file name (static). */
static char *
slurp(const char *id, const char *name)
{
	char	 path[512];

	snprintf(path, sizeof(path), "%s/spool/jobs/%s/%s", root, id, name);
	return fx_slurp(path);
}

int
main(void)
{
	struct task		*t_ok = &tasks[0], *t_fail = &tasks[1];
	struct task		*t_spawn = &tasks[2], *t_slow = &tasks[3];
	struct task		*t_big = &tasks[4], *t_prog = &tasks[5];
	struct jobstatus	 st;
	char			 path[1024], *r, *in;
	int			 sv[2], status;

	sp = fx_spool(root, sizeof(root), "supervise-t", &cfg);
	cfg.max_running = 4;
	cfg.max_queued = 100;
	cfg.tasks = tasks;
	cfg.ntasks = sizeof(tasks) / sizeof(tasks[0]);
	cfg.kill_grace_seconds = 1;

	fx_task(t_ok, "ok", script("ok", 
	    "echo \"stdin=$(cat)\"\n"
	    "echo \"field=$SPOOLCGI_FIELD_text id=$SPOOLCGI_JOB_ID "
	    "task=$SPOOLCGI_TASK\"\n"
	    "echo \"query=${QUERY_STRING-unset} cookie=${HTTP_COOKIE-unset}\"\n"
	    "echo \"cwd=$(pwd) dir=$SPOOLCGI_JOB_DIR\"\n"
	    "echo \"fds=$(ls /proc/self/fd | sort -n | tr '\\n' ' ')\"\n"
	    "echo \"pgid=$(ps -o pgid= -p $$ | tr -d ' ') pid=$$\"\n"));
	/* Its input has the field "text", so its task takes one. */
	t_ok->fields = &text_field;
	t_ok->nfields = 1;
	fx_task(t_fail, "fail", script("fail",
	    "echo one >&2\necho progress: 30 going >&2\necho two >&2\n"
	    "echo three >&2\nexit 3\n"));
	fx_task(t_spawn, "spawn", strdup("/nonexistent/task"));
	fx_task(t_slow, "slow", script("slow",
	    "trap '' TERM\nsleep 30 & wait\n"));
	t_slow->timeout_seconds = 1;
	fx_task(t_big, "big", script("big",
	    "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done\n"));
	t_big->max_result_bytes = 4096;
	fx_task(t_prog, "prog", script("prog",
	    "echo 'progress: 40 reading' >&2\n"
	    "while [ ! -e gate ]; do sleep 0.05; done\n"
	    "echo 'progress: 80 writing' >&2\nprintf done\n"));

	/* Leave request variables and a socket for the job to not inherit. */
	setenv("QUERY_STRING", "secret=1", 1);
	setenv("HTTP_COOKIE", "session=2", 1);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 1;

	ok(start(t_ok, "{\"id\":\"x\",\"fields\":{\"text\":\"hi there\"}}",
	    &st) == 0, "supervisor took the job");
	ok(waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD,
	    "the first child was reaped at once: no zombie, no child left");
	ok(fx_wait_final(sp, &cfg, st.id, &st, 10) == 0, "job finished");
	is_str(job_state_name(st.state), "succeeded", "it succeeded");
	is_int(st.progress, 100, "progress 100 at the end");
	ok(st.started_at > 0 && st.finished_at >= st.started_at, "times set");
	r = slurp(st.id, "result");
	ok(strstr(r, "stdin={\"id\":\"x\",\"fields\":{\"text\":\"hi there\"}}") !=
	    NULL, "stdin is input.json");
	ok(strstr(r, "field=hi there") != NULL, "SPOOLCGI_FIELD_text");
	in = strstr(r, "id=");
	ok(in != NULL && strncmp(in + 3, st.id, 36) == 0, "SPOOLCGI_JOB_ID");
	ok(strstr(r, "task=ok") != NULL, "SPOOLCGI_TASK");
	ok(strstr(r, "query=unset cookie=unset") != NULL,
	    "request variables do not reach the task");
	snprintf(path, sizeof(path), "cwd=%s/spool/jobs/%s/work dir=%s/spool/"
	    "jobs/%s/work", root, st.id, root, st.id);
	ok(strstr(r, path) != NULL, "cwd is the job's work/ directory");
	ok(strstr(r, "fds=0 1 2 3 \n") != NULL,
	    "the task inherited only 0, 1, 2 (3 is ls's own directory)");
	{
		char *p = strstr(r, "pgid="), *q = strstr(r, " pid=");

		ok(p != NULL && q != NULL && atoi(p + 5) == atoi(q + 5),
		    "the task leads its own process group");
	}

	ok(start(t_fail, "{}", &st) == 0 &&
	    fx_wait_final(sp, &cfg, st.id, &st, 10) == 0,
	    "failing job finished");
	is_str(job_state_name(st.state), "failed", "it failed");
	is_str(st.error_code, "exit", "error.code exit");
	ok(strstr(st.error_message, "status 3") != NULL &&
	    strstr(st.error_message, "one\ntwo\nthree") != NULL,
	    "the message has the status and the stderr tail");
	ok(strstr(slurp(st.id, "log"), "progress:") == NULL,
	    "progress lines stay out of the log");
	{
		struct stat	 sb;
		int		 fd;

		/* The store's answer, ENOENT: no "result" was renamed in. */
		fd = store_result_open(sp, st.id, &sb);
		ok(fd == -1 && errno == ENOENT, "no result for a failed job");
		if (fd != -1)
			close(fd);
	}

	ok(start(t_spawn, "{}", &st) == 0 &&
	    fx_wait_final(sp, &cfg, st.id, &st, 10) == 0,
	    "unstartable job finished");
	is_str(st.error_code, "spawn", "error.code spawn");
	ok(strstr(st.error_message, "/nonexistent/task") != NULL,
	    "the message names the command");

	ok(start(t_prog, "{}", &st) == 0, "gated job started");
	{
		struct jobstatus	 p;
		time_t			 deadline = time(NULL) + 10;

		do {
			lifecycle_read(sp, &cfg, st.id, &p);
		} while (p.progress != 40 && time(NULL) < deadline &&
		    poll(NULL, 0, 20) == 0);
		ok(p.state == JOB_RUNNING && p.progress == 40 &&
		    strcmp(p.message, "reading") == 0,
		    "progress shows while it runs");
		snprintf(path, sizeof(path), "%s/spool/jobs/%s/work/gate",
		    root, st.id);
		close(open(path, O_CREAT | O_WRONLY, 0600));
		ok(fx_wait_final(sp, &cfg, st.id, &p, 10) == 0 &&
		    p.state == JOB_SUCCEEDED, "then it finishes");
		is_str(slurp(st.id, "result"), "done", "result byte-exact");
	}

	ok(start(t_slow, "{}", &st) == 0 &&
	    fx_wait_final(sp, &cfg, st.id, &st, 15) == 0,
	    "job over its timeout finished");
	is_str(st.error_code, "timeout", "error.code timeout (SIGTERM "
	    "ignored, SIGKILL after the grace)");

	ok(start(t_big, "{}", &st) == 0 &&
	    fx_wait_final(sp, &cfg, st.id, &st, 15) == 0,
	    "job over its result limit finished");
	is_str(st.error_code, "result_too_large", "error.code result_too_large");

	close(sv[0]);
	close(sv[1]);
	store_close(sp);
	fx_tasks_free(tasks, sizeof(tasks) / sizeof(tasks[0]));
	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
