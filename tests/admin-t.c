/*
 * admin.c: the operator's commands, called as main() calls them, on a
 * spool of their own with a succeeded and a failed job (real supervisors,
 * forked): what each prints, and the exit status of each outcome
 * (spoolcgi(8) EXIT STATUS).  tests/e2e/admin.test runs the same commands
 * through the binary against a real web server's spool.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

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
static struct config	 cfg;
static struct store	*sp;
static char		 out[65536], err[8192];

/* Read fd (from its start) into buf, NUL-terminated. */
static void
slurp(int fd, char *buf, size_t sz)
{
	ssize_t	 n;
	size_t	 got = 0;

	lseek(fd, 0, SEEK_SET);
	while (got + 1 < sz && (n = read(fd, buf + got, sz - got - 1)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
}

/*
 * Run admin_main on the NULL-terminated words, its stdout in out and its
 * stderr in err.  Returns its exit status.
 */
static int
run(const char *word, ...)
{
	char		*argv[16];
	va_list		 ap;
	FILE		*o, *e;
	int		 argc = 0, rc, so, se;

	va_start(ap, word);
	for (; word != NULL && argc < 15; word = va_arg(ap, const char *))
		argv[argc++] = (char *)word;
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	if ((o = tmpfile()) == NULL || (e = tmpfile()) == NULL)
		exit(1);
	so = dup(1);
	se = dup(2);
	dup2(fileno(o), 1);
	dup2(fileno(e), 2);
	rc = admin_main(&cfg, sp, argc, argv);
	fflush(stdout);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	slurp(fileno(o), out, sizeof(out));
	slurp(fileno(e), err, sizeof(err));
	fclose(o);
	fclose(e);
	return rc;
}

/* A change: created a minute earlier (ordering without a clock wait). */
static int
older(struct jobstatus *st, void *arg)
{
	(void)arg;
	st->created_at -= 60;
	return 1;
}

/* Submit a job of task with an empty input; wait until it is final. */
static void
job(const char *task, struct jobstatus *st)
{
	fx_job_new(st, task);
	if (fx_job_submit(sp, &cfg, st, "{\"fields\":{},\"files\":{}}\n",
	    25) != LC_OK) {
		printf("Bail out! a job of %s\n", task);
		exit(1);
	}
	(void)fx_wait_final(sp, &cfg, st->id, st, 20);
}

int
main(void)
{
	struct jobstatus	 s, f, st;
	char			 conf[2048], id[SPOOLCGI_ID_LEN + 1];
	char			 e[256], cmd[300], *fail;
	size_t			 n;

	snprintf(root, sizeof(root), "/tmp/admin-t.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;
	fail = fx_script(root, "fail",
	    "echo 'fail: the end of the log' >&2\nexit 3\n");
	n = (size_t)snprintf(conf, sizeof(conf), "{\"spool\": \"%s/spool\", "
	    "\"tasks\": {\"ok\": {\"command\": [\"/bin/true\"]}, "
	    "\"fail\": {\"command\": [\"%s\"]}}}", root, fail);
	free(fail);
	if (config_parse(&cfg, conf, n, "admin-t.json", e, sizeof(e)) == -1 ||
	    (sp = store_open(cfg.spool)) == NULL) {
		printf("Bail out! %s\n", e);
		return 1;
	}

	ok(admin_command("jobs") && admin_command("retry") &&
	    admin_command("drain") && !admin_command("gc") &&
	    !admin_command("supervise") && !admin_command(""),
	    "admin_command: the operator's commands, and no others");

	job("ok", &s);
	job("fail", &f);
	ok(s.state == JOB_SUCCEEDED && f.state == JOB_FAILED,
	    "a succeeded and a failed job");
	ok(store_update(sp, s.id, older, NULL, &st) == STORE_OK,
	    "the succeeded one made a minute older");

	is_int(run("jobs", NULL), 0, "jobs: 0");
	ok(strncmp(out, "ID ", 3) == 0 && strstr(out, s.id) != NULL &&
	    strstr(out, f.id) != NULL, "jobs: a header and both jobs");
	ok(strstr(out, f.id) < strstr(out, s.id), "jobs: newest first");
	is_int(run("jobs", "--state", "failed", "--json", NULL), 0,
	    "jobs --state failed --json: 0");
	ok(out[0] == '[' && strstr(out, f.id) != NULL &&
	    strstr(out, s.id) == NULL, "the failed job alone, in an array");
	is_int(run("jobs", "--task", "nope", "--json", NULL), 0,
	    "jobs --task nope: 0");
	is_str(out, "[]\n", "an empty array");
	is_int(run("jobs", "--state", "done", NULL), 2, "--state done: 2");
	is_int(run("jobs", "--json", "x", NULL), 2, "jobs x: 2");

	is_int(run("show", f.id, NULL), 0, "show: 0");
	ok(strstr(out, "\"state\":\"failed\"") != NULL &&
	    strstr(out, "/retry\"") != NULL, "show: the status object");
	is_int(run("show", "00000000-0000-4000-8000-000000000000", NULL), 3,
	    "show of no job: 3");
	ok(strstr(err, "no such job") != NULL && out[0] == '\0',
	    "and says so on stderr only");
	is_int(run("show", "x/../../y", NULL), 3, "show of a malformed id: 3");
	is_int(run("show", NULL), 2, "show alone: 2");

	is_int(run("log", f.id, "--tail", "8", NULL), 0, "log --tail 8: 0");
	is_str(out, "the log\n", "the last 8 bytes of the log");
	is_int(run("log", f.id, "--tail", "-1", NULL), 2, "log --tail -1: 2");

	is_int(run("cancel", s.id, NULL), 4, "cancel of a finished job: 4");
	is_int(run("retry", s.id, NULL), 4, "retry of a succeeded job: 4");
	is_int(run("retry", f.id, NULL), 0, "retry of the failed job: 0");
	n = strcspn(out, "\n");
	snprintf(id, sizeof(id), "%.*s", (int)n, out);
	ok(n == SPOOLCGI_ID_LEN && job_id_check(id, n) &&
	    strcmp(id, f.id) != 0, "it prints the new job's id");
	ok(lifecycle_read(sp, &cfg, id, &st) == LC_OK &&
	    strcmp(st.task, "fail") == 0, "a job of the same task");
	ok(lifecycle_read(sp, &cfg, f.id, &st) == LC_OK &&
	    st.state == JOB_FAILED, "the old job keeps its record");

	is_int(run("drain", "on", NULL), 0, "drain on: 0");
	ok(store_draining(sp), "the spool drains");
	is_int(run("drain", NULL), 0, "drain: 0");
	is_str(out, "draining\n", "drain: it says so");
	is_int(run("drain", "off", NULL), 0, "drain off: 0");
	ok(!store_draining(sp), "the spool does not drain");
	cfg.drain = 1;
	is_int(run("drain", "off", NULL), 4, "drain off while the "
	    "configuration drains: 4");
	cfg.drain = 0;
	is_int(run("drain", "maybe", NULL), 2, "drain maybe: 2");
	is_int(run("frob", "x", NULL), 2, "an unknown command: 2");

	/* The retried job may still be ending: wait for it, then clean up. */
	{
		time_t deadline = time(NULL) + 20;

		while (lifecycle_read(sp, &cfg, id, &st) == LC_OK &&
		    !job_state_final(st.state) && time(NULL) <= deadline)
			(void)poll(NULL, 0, 20);
	}
	store_close(sp);
	config_free(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
