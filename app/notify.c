/*
 * Notifications: the program a task's "notify" names (or the top-level
 * default), run once by a job's supervisor after the job's final status
 * is durable, its run slots are free and the next job was dispatched, so
 * that a slow mail server or webhook delays nobody's job.  It is run the
 * way a task is (supervise_task: no shell, its own process group, the
 * task's environment rules, stopped with the group at its timeout), with
 * the job's status object on stdin, the same object GET {base}/jobs/{id}
 * answers.
 *
 * At most once: nothing records that a notifier ran, so a supervisor that
 * dies between the final status and the notifier's end costs that one
 * notification; a notifier is never run twice.  Recording it first would
 * make it at least once, and a mail sent twice is the worse failure for
 * the people this is for.
 *
 * Its stdout and stderr, and the supervisor's word when it fails, go to
 * the job's notify log (store_run_notify_log), never to the job's log:
 * whoever holds a job's link may read the log, and a notifier's output
 * (a mail server's answer, a webhook's address) is the operator's.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

/*
 * A pipe whose read end holds all of len bytes of data, and end of file.
 * The status object is far smaller than a pipe's buffer (64 KiB on
 * Linux); were it not, the write would fail rather than block.  Returns
 * the read end, or -1 (logged).
 */
static int
notify_stdin(const char *id, const char *data, size_t len)
{
	int	 p[2];
	ssize_t	 n;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("job %s: notify: pipe", id);
		return -1;
	}
	n = write(p[1], data, len);
	close(p[1]);
	if (n != (ssize_t)len) {
		log_warn("job %s: notify: the status does not fit in a pipe",
		    id);
		close(p[0]);
		return -1;
	}
	/* The notifier reads it blocking, like any stdin. */
	(void)fcntl(p[0], F_SETFL, 0);
	if ((p[0] = proc_fd_high(p[0])) == -1)
		log_warn("job %s: notify: fcntl F_DUPFD", id);
	return p[0];
}

/*
 * The task's environment env (supervise_env) and what a notifier needs
 * besides, so that a shell script needs no JSON parser:
 * SPOOLCGI_JOB_STATE, SPOOLCGI_JOB_ERROR (error.message, when there is
 * one) and SPOOLCGI_JOB_URL (the job's page, only when public_url says
 * where that is: a supervisor has no request to learn it from).  Returns
 * a new array whose first *shared strings are env's, or NULL.
 */
static char **
notify_env(const struct config *cfg, const struct jobstatus *st,
    char **env, size_t *shared)
{
	char	**ne;
	char	  url[1200];
	size_t	  n, i;

	for (n = 0; env[n] != NULL; n++)
		;
	if ((ne = calloc(n + 1, sizeof(*ne))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		ne[i] = env[i];
	*shared = n;
	if (supervise_env_add(&ne, &n, "SPOOLCGI_JOB_STATE",
	    job_state_name(st->state)) == -1)
		return NULL;
	if (st->error_code[0] != '\0' && supervise_env_add(&ne, &n,
	    "SPOOLCGI_JOB_ERROR", st->error_message) == -1)
		return NULL;
	if (cfg->public_url != NULL && route_url(url, sizeof(url),
	    cfg->public_url, ROUTE_JOB, st->id) == 0 &&
	    supervise_env_add(&ne, &n, "SPOOLCGI_JOB_URL", url) == -1)
		return NULL;
	return ne;
}

/*
 * Run task t's notifier for the job whose final status is st: env is the
 * task's environment, work its working directory and logfd the job's
 * notify log (-1: /dev/null), which becomes our stderr too, so that the
 * one line said about a failure lands beside the notifier's own.
 * Returns 0 when the notifier exited 0, or -1 when it failed, timed out
 * or could not be started (logged, once, with the job's id); the job is
 * never touched.
 */
int
notify_job(const struct config *cfg, const struct task *t,
    const struct jobstatus *st, char **env, int work, int logfd)
{
	struct task	 nt;
	struct taskfds	 fds;
	struct taskend	 o;
	struct buf	 b = { 0 };
	const char	*pub = cfg->public_url;
	char		**ne;
	size_t		 shared, i;
	int		 ws;

	if (t->notify == NULL)
		return 0;
	if (logfd == -1 && (logfd = open("/dev/null", O_WRONLY |
	    O_CLOEXEC)) == -1) {
		log_warn("job %s: notify: /dev/null", st->id);
		return -1;
	}
	if (dup2(logfd, STDERR_FILENO) == -1)
		log_warn("job %s: notify: dup2", st->id);
	/*
	 * The object of the API; its links are absolute when public_url
	 * says where {base} is, and start at "/jobs/" otherwise.
	 */
	if (reply_status_object(&b, st, pub != NULL ? pub : "", pub) == -1 ||
	    buf_puts(&b, "\n") == -1) {
		log_warn("job %s: notify: the status object", st->id);
		buf_free(&b);
		return -1;
	}
	memset(&fds, 0, sizeof(fds));
	fds.in = notify_stdin(st->id, b.data, b.len);
	buf_free(&b);
	if (fds.in == -1)
		return -1;
	if ((ne = notify_env(cfg, st, env, &shared)) == NULL) {
		log_warn("job %s: notify: the environment", st->id);
		close(fds.in);
		return -1;
	}
	fds.out = fds.log = logfd;
	fds.work = work;
	/*
	 * A task of its own for supervise_task: the notifier's argv and
	 * timeout, and no result limit (its stdout is the notify log).
	 */
	memset(&nt, 0, sizeof(nt));
	nt.name = t->name;
	nt.command = t->notify;
	nt.timeout_seconds = cfg->notify_timeout_seconds;
	nt.max_result_bytes = SIZE_MAX;
	(void)supervise_task(cfg, &nt, &fds, ne, -1, NULL, &o);
	for (i = shared; ne[i] != NULL; i++)
		free(ne[i]);
	free(ne);
	if (fds.in != -1)
		close(fds.in);
	ws = o.wstatus;
	if (o.spawn_errno != 0)
		log_warnx("job %s: notify: %s could not be started: %s",
		    st->id, t->notify[0], strerror(o.spawn_errno));
	else if (o.stop_code != NULL && strcmp(o.stop_code, "timeout") == 0)
		log_warnx("job %s: notify: %s ran longer than "
		    "notify_timeout_seconds (%ld) and was stopped", st->id,
		    t->notify[0], cfg->notify_timeout_seconds);
	else if (o.stop_code != NULL)
		log_warnx("job %s: notify: %s was stopped: %s", st->id,
		    t->notify[0], o.stop_msg);
	else if (WIFEXITED(ws) && WEXITSTATUS(ws) != 0)
		log_warnx("job %s: notify: %s exited with status %d", st->id,
		    t->notify[0], WEXITSTATUS(ws));
	else if (WIFSIGNALED(ws))
		log_warnx("job %s: notify: %s was killed by signal %d (%s)",
		    st->id, t->notify[0], WTERMSIG(ws),
		    strsignal(WTERMSIG(ws)));
	else
		return 0;
	return -1;
}
