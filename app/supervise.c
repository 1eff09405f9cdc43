/*
 * Running one task: the process of the task protocol (argv from the
 * configuration, the job's input on stdin, its result on stdout, its log
 * and "progress:" lines on stderr, its own process group), watched to its
 * end.  The caller (the supervisor, in lifecycle.c) owns the job; this
 * file owns the process.  It reports through hooks and returns how the
 * task ended; it never touches the job's status or storage.
 *
 * Nothing here waits on a clock to learn that the task ended: the task's
 * pidfd is in the poll set beside its stderr, so it is reaped the moment
 * it exits.  The tick only paces the checks of the limits and cancel.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "extern.h"

#define SUPERVISE_TICK_MS	250	/* how often limits and cancel are checked */
#define SUPERVISE_PROGRESS_MS	250	/* at most 4 progress writes a second */
#define SUPERVISE_LINE_MAX	4096
#define SUPERVISE_DISK_FLOOR	(1024 * 1024)	/* free bytes to keep */

extern char **environ;

/*
 * CGI/1.1 (RFC 3875) request meta-variables and what Apache, lighttpd and
 * nginx add: a task must never see the request that started it.
 */
static const char *const supervise_env_drop[] = {
	"AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "CONTEXT_DOCUMENT_ROOT",
	"CONTEXT_PREFIX", "DOCUMENT_ROOT", "DOCUMENT_URI", "GATEWAY_INTERFACE",
	"HTTPS", "PATH_INFO", "PATH_TRANSLATED", "QUERY_STRING", "REMOTE_ADDR",
	"REMOTE_HOST", "REMOTE_IDENT", "REMOTE_PORT", "REMOTE_USER",
	"REQUEST_METHOD", "REQUEST_SCHEME", "REQUEST_URI", "SCRIPT_FILENAME",
	"SCRIPT_NAME", "SCRIPT_URI", "SCRIPT_URL", "SERVER_ADDR", "SERVER_ADMIN",
	"SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SIGNATURE",
	"SERVER_SOFTWARE", "UNIQUE_ID", "REDIRECT_STATUS", NULL
};
static const char *const supervise_env_drop_prefix[] = {
	"HTTP_", "REDIRECT_", "SSL_", "SPOOLCGI_", NULL
};

static int
supervise_env_dropped(const char *kv)
{
	size_t	 i, n;

	for (i = 0; supervise_env_drop_prefix[i] != NULL; i++)
		if (strncmp(kv, supervise_env_drop_prefix[i],
		    strlen(supervise_env_drop_prefix[i])) == 0)
			return 1;
	n = strcspn(kv, "=");
	for (i = 0; supervise_env_drop[i] != NULL; i++)
		if (strlen(supervise_env_drop[i]) == n &&
		    strncmp(kv, supervise_env_drop[i], n) == 0)
			return 1;
	return 0;
}

/*
 * Append "name=value" to the NULL-terminated env of n entries (a malloc'd
 * array, which may move).  Returns 0, or -1.
 */
int
supervise_env_add(char ***env, size_t *n, const char *name, const char *val)
{
	char	**p, *s;

	if (asprintf(&s, "%s=%s", name, val) == -1)
		return -1;
	if ((p = realloc(*env, (*n + 2) * sizeof(*p))) == NULL) {
		free(s);
		return -1;
	}
	p[(*n)++] = s;
	p[*n] = NULL;
	*env = p;
	return 0;
}

/*
 * The task's environment: the supervisor's own minus everything request
 * specific, plus SPOOLCGI_JOB_ID, _JOB_DIR, _TASK and SPOOLCGI_FIELD_name
 * for each field of input.json (names were checked by the configuration:
 * letters, digits, underscore).  Returns a new array, or NULL.
 */
char **
supervise_env(const char *jobdir, const char *id, const char *task,
    json_object *fields)
{
	char		**env = NULL, name[SPOOLCGI_NAME_MAX + 32];
	size_t		  n = 0, i;

	if ((env = calloc(1, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; environ != NULL && environ[i] != NULL; i++) {
		char **p;

		if (supervise_env_dropped(environ[i]))
			continue;
		if ((p = realloc(env, (n + 2) * sizeof(*p))) == NULL ||
		    (p[n] = strdup(environ[i])) == NULL)
			return NULL;	/* the supervisor exits anyway */
		p[++n] = NULL;
		env = p;
	}
	if (supervise_env_add(&env, &n, "SPOOLCGI_JOB_ID", id) == -1 ||
	    supervise_env_add(&env, &n, "SPOOLCGI_JOB_DIR", jobdir) == -1 ||
	    supervise_env_add(&env, &n, "SPOOLCGI_TASK", task) == -1)
		return NULL;
	if (fields != NULL) {
		json_object_object_foreach(fields, key, val) {
			snprintf(name, sizeof(name), "SPOOLCGI_FIELD_%s", key);
			if (supervise_env_add(&env, &n, name,
			    json_object_get_string(val)) == -1)
				return NULL;
		}
	}
	return env;
}

/* Everything the supervisor tracks about its task. */
struct sv {
	const struct config	*cfg;
	const struct task	*task;
	const struct supervise_hooks *hooks;
	struct taskfds		*fds;
	struct taskend		*out;
	pid_t			 pid;		/* the task, its group leader */
	int			 pidfd;		/* -1 where the kernel has none */
	int			 errfd;		/* the task's stderr, read end */
	char			 line[SUPERVISE_LINE_MAX];
	size_t			 linelen;
	int			 pct;		/* progress not yet reported */
	char			 msg[SPOOLCGI_MSG_MAX];
	int			 dirty;
	long long		 reported_ms;
	long long		 start_ms;
	long long		 term_ms;	/* when SIGTERM went, or 0 */
	long long		 usage0;	/* the spool's size at start */
};

/* One complete stderr line: progress, or the log. */
static void
supervise_line(struct sv *sv, const char *line, size_t len)
{
	int	 pct;

	if (job_progress_parse(line, len, &pct, sv->msg, sizeof(sv->msg))) {
		sv->pct = pct;
		sv->dirty = 1;
		return;
	}
	if (write(sv->fds->log, line, len) == -1 ||
	    write(sv->fds->log, "\n", 1) == -1)
		(void)0;	/* a full disk loses log lines, not the job */
}

/*
 * Read what the task wrote to stderr.  Returns 0 after reading, 1 on EOF
 * (or an error), -1 when nothing is there now.
 */
static int
supervise_read_stderr(struct sv *sv)
{
	char	 buf[8192];
	ssize_t	 n;
	size_t	 i;

	if ((n = read(sv->errfd, buf, sizeof(buf))) == -1)
		return errno == EINTR || errno == EAGAIN ? -1 : 1;
	if (n == 0)
		return 1;
	for (i = 0; i < (size_t)n; i++) {
		if (buf[i] == '\n') {
			supervise_line(sv, sv->line, sv->linelen);
			sv->linelen = 0;
		} else if (sv->linelen < sizeof(sv->line)) {
			sv->line[sv->linelen++] = buf[i];
		} else {
			/* An overlong line goes to the log in pieces. */
			supervise_line(sv, sv->line, sv->linelen);
			sv->line[0] = buf[i];
			sv->linelen = 1;
		}
	}
	return 0;
}

/* Report progress, at most every SUPERVISE_PROGRESS_MS unless forced. */
static void
supervise_report(struct sv *sv, int force)
{
	long long	 now = proc_now_ms();

	if (!sv->dirty || (!force && now - sv->reported_ms <
	    SUPERVISE_PROGRESS_MS))
		return;
	if (sv->hooks != NULL && sv->hooks->progress != NULL)
		sv->hooks->progress(sv->hooks->arg, sv->pct, sv->msg);
	sv->dirty = 0;
	sv->reported_ms = now;
}

/* Ask the task's whole group to stop; SIGKILL follows after the grace. */
static void
supervise_stop(struct sv *sv, const char *code, const char *fmt, ...)
{
	va_list	 ap;

	if (sv->out->stop_code == NULL) {
		sv->out->stop_code = code;
		va_start(ap, fmt);
		vsnprintf(sv->out->stop_msg, sizeof(sv->out->stop_msg), fmt,
		    ap);
		va_end(ap);
	}
	if (sv->term_ms == 0) {
		(void)kill(-sv->pid, SIGTERM);
		sv->term_ms = proc_now_ms();
	}
}

/* The timeout, the size limits and cancel, checked every tick. */
static void
supervise_limits(struct sv *sv)
{
	struct statvfs	 vfs;
	struct stat	 sb;

	if (sv->task->timeout_seconds > 0 && proc_now_ms() - sv->start_ms >=
	    sv->task->timeout_seconds * 1000LL)
		supervise_stop(sv, "timeout", "the task ran longer than its "
		    "timeout of %ld seconds and was stopped",
		    sv->task->timeout_seconds);
	if (fstat(sv->fds->out, &sb) == 0 &&
	    (unsigned long long)sb.st_size > sv->task->max_result_bytes)
		supervise_stop(sv, "result_too_large", "the task's result "
		    "grew past max_result_bytes (%zu) and the task was "
		    "stopped", sv->task->max_result_bytes);
	else if (sv->cfg->max_spool_bytes > 0 && sv->usage0 >= 0 &&
	    sv->usage0 + (long long)sb.st_size > sv->cfg->max_spool_bytes)
		supervise_stop(sv, "spool_full", "the job storage reached "
		    "max_spool_bytes (%lld) and the task was stopped",
		    sv->cfg->max_spool_bytes);
	/*
	 * A full disk would cost every job its result and log: stop this
	 * one cleanly while its final status still fits (the reserve).
	 */
	if (fstatvfs(sv->fds->out, &vfs) == 0 &&
	    (long long)vfs.f_bavail * (long long)vfs.f_frsize <
	    SUPERVISE_DISK_FLOOR)
		supervise_stop(sv, "disk_full", "the server's disk became "
		    "full and the task was stopped");
	if (sv->hooks != NULL && sv->hooks->cancelled != NULL &&
	    sv->hooks->cancelled(sv->hooks->arg))
		supervise_stop(sv, "cancelled", "the job was cancelled");
	if (sv->term_ms != 0 && proc_now_ms() - sv->term_ms >=
	    (long long)sv->cfg->kill_grace_seconds * 1000)
		(void)kill(-sv->pid, SIGKILL);
}

/*
 * In the task's process: fds into place, own process group, cwd, exec.
 * An exec failure is reported through execw (close-on-exec, so a
 * successful exec closes it with nothing written).  Never returns.
 */
static void __attribute__((noreturn))
supervise_exec(struct sv *sv, pid_t parent, int errw, int execw, char **env)
{
	struct taskfds	*f = sv->fds;
	int		 e;

	(void)setpgid(0, 0);
	/*
	 * If the supervisor is killed, the task goes too; the rest of its
	 * group is found by its mark (proc_kill_marked) before the job is
	 * settled, and a job must not run twice.
	 */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (fchdir(f->work) == -1)
		goto fail;
	if ((f->in = proc_fd_high(f->in)) == -1 ||
	    (f->out = proc_fd_high(f->out)) == -1 ||
	    (errw = proc_fd_high(errw)) == -1 ||
	    (execw = proc_fd_high(execw)) == -1)
		goto fail;
	if (dup2(f->in, 0) == -1 || dup2(f->out, 1) == -1 ||
	    dup2(errw, 2) == -1)
		goto fail;
	proc_close_from(3, &execw, 1);
	proc_signals_reset();
	execve(sv->task->command[0], sv->task->command, env);
fail:
	e = errno;
	(void)write(execw, &e, sizeof(e));
	_exit(127);
}

/* Stop what the task left in its group: TERM, the grace, KILL. */
static void
supervise_reap_group(struct sv *sv)
{
	long long	 start;

	if (kill(-sv->pid, SIGTERM) == -1)
		return;
	start = proc_now_ms();
	/*
	 * Members the task left come to us (a subreaper) and stay in the
	 * group as zombies until reaped: reap as we wait.
	 */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	while (kill(-sv->pid, 0) == 0 && proc_now_ms() - start <
	    (long long)sv->cfg->kill_grace_seconds * 1000) {
		(void)poll(NULL, 0, 20);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
	(void)kill(-sv->pid, SIGKILL);
}

/*
 * Run task t with the descriptors in fds (in is closed here once the task
 * has it) and environment env, to its end: progress goes to the hooks,
 * cancel is asked of them each tick, the timeout and the size limits are
 * enforced (usage0: the spool's size at start, -1 when unknown).  Fills
 * out.  Returns 0 when the task ran, or -1 when it could not be started
 * (out->spawn_errno says why).
 */
int
supervise_task(const struct config *cfg, const struct task *t,
    struct taskfds *fds, char **env, long long usage0,
    const struct supervise_hooks *hooks, struct taskend *out)
{
	struct sv	 sv;
	struct pollfd	 pfd[3];
	char		 ev[4096];
	struct stat	 sb;
	int		 errp[2], execp[2], e, wstatus = 0, eof = 0, n, done;
	int		 timeout;
	long long	 due = 0, now;
	pid_t		 w, self = getpid();
	ssize_t		 r;

	memset(out, 0, sizeof(*out));
	memset(&sv, 0, sizeof(sv));
	sv.cfg = cfg;
	sv.task = t;
	sv.hooks = hooks;
	sv.fds = fds;
	sv.out = out;
	sv.usage0 = usage0;
	sv.pidfd = -1;
	sv.start_ms = proc_now_ms();
	if (pipe2(errp, O_CLOEXEC) == -1) {
		out->spawn_errno = errno;
		return -1;
	}
	if (pipe2(execp, O_CLOEXEC) == -1) {
		out->spawn_errno = errno;
		close(errp[0]);
		close(errp[1]);
		return -1;
	}
	/*
	 * What the task orphans (a daemon of its own, a child in another
	 * session) comes to us, not to init, so that it can be stopped.
	 */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	if ((sv.pid = fork()) == -1) {
		out->spawn_errno = errno;
		close(errp[0]);
		close(errp[1]);
		close(execp[0]);
		close(execp[1]);
		return -1;
	}
	if (sv.pid == 0) {
		close(errp[0]);
		close(execp[0]);
		supervise_exec(&sv, self, errp[1], execp[1], env);
	}
	(void)setpgid(sv.pid, sv.pid);	/* either side may win */
	close(errp[1]);
	close(execp[1]);
	close(fds->in);
	fds->in = -1;
	while ((r = read(execp[0], &e, sizeof(e))) == -1 && errno == EINTR)
		;
	close(execp[0]);
	if (r == (ssize_t)sizeof(e)) {
		while (waitpid(sv.pid, NULL, 0) == -1 && errno == EINTR)
			;
		close(errp[0]);
		out->spawn_errno = e;
		return -1;
	}
	sv.errfd = errp[0];
	if (hooks != NULL && hooks->durable != NULL)
		due = proc_now_ms() + SUPERVISE_DURABLE_MS;
#ifdef SYS_pidfd_open
	sv.pidfd = (int)syscall(SYS_pidfd_open, sv.pid, 0);
#endif

	for (done = 0; !done; ) {
		n = 0;
		if (!eof) {
			pfd[n].fd = sv.errfd;
			pfd[n++].events = POLLIN;
		}
		if (sv.pidfd != -1) {
			pfd[n].fd = sv.pidfd;
			pfd[n++].events = POLLIN;
		}
		/* A cancel is seen when asked, not at the next tick. */
		if (hooks != NULL && hooks->cancel_fd != -1) {
			pfd[n].fd = hooks->cancel_fd;
			pfd[n++].events = POLLIN;
		}
		/* Without a pidfd, a task past EOF is looked at each 20 ms. */
		timeout = n > 0 ? SUPERVISE_TICK_MS : 20;
		if (due != 0 && (now = proc_now_ms()) + timeout > due)
			timeout = due > now ? (int)(due - now) : 0;
		if (poll(pfd, (nfds_t)n, timeout) > 0) {
			if (!eof && pfd[0].revents != 0 &&
			    supervise_read_stderr(&sv) == 1)
				eof = 1;
			if (hooks != NULL && hooks->cancel_fd != -1 &&
			    pfd[n - 1].revents != 0)
				while (read(hooks->cancel_fd, ev, sizeof(ev)) > 0)
					;
		}
		w = waitpid(sv.pid, &wstatus, WNOHANG);
		if (w == sv.pid)
			done = 1;
		else if (w == -1 && errno != EINTR) {
			log_warn("waitpid %ld", (long)sv.pid);
			done = 1;
		} else {
			supervise_limits(&sv);
			supervise_report(&sv, 0);
			if (due != 0 && proc_now_ms() >= due) {
				due = 0;
				hooks->durable(hooks->arg);
			}
		}
	}
	if (sv.pidfd != -1)
		close(sv.pidfd);
	/* What the task wrote just before it ended. */
	if (!eof) {
		(void)fcntl(sv.errfd, F_SETFL, O_NONBLOCK);
		while (supervise_read_stderr(&sv) == 0)
			;
	}
	if (sv.linelen > 0)
		supervise_line(&sv, sv.line, sv.linelen);
	close(sv.errfd);
	supervise_report(&sv, 1);
	/* No orphan outlives its job: stop what the task left behind. */
	supervise_reap_group(&sv);
	out->wstatus = wstatus;
	out->result_bytes = fstat(fds->out, &sb) == 0 ? (long long)sb.st_size :
	    0;
	return 0;
}

/*
 * What a task's end (o, as supervise_task filled it) makes of its job:
 * st's state, finished_at, progress, message and error, by t's limits
 * (usage0 as for supervise_task), with tail (the log's last lines, or
 * NULL) in the message of a task that failed.  The same for every store,
 * so that a job ends alike on one host and on a worker.  Returns 1 when
 * the job succeeded provided its result (the task's stdout) is kept:
 * the caller keeps it durably and, should that fail, records the job as
 * failed ("internal") itself; 0 when the job is final as st says.
 */
int
supervise_outcome(const struct config *cfg, const struct task *t,
    long long usage0, const struct taskend *o, const char *tail,
    struct jobstatus *st)
{
	int	 ws = o->wstatus;

	if (tail == NULL)
		tail = "";
	st->finished_at = time(NULL);
	if (o->spawn_errno != 0) {
		st->state = JOB_FAILED;
		snprintf(st->error_code, sizeof(st->error_code), "spawn");
		snprintf(st->error_message, sizeof(st->error_message),
		    "the task could not be started: %s: %s", t->command[0],
		    strerror(o->spawn_errno));
		log_warnx("job %s: %s", st->id, st->error_message);
		return 0;
	}
	if (o->stop_code != NULL && strcmp(o->stop_code, "cancelled") == 0) {
		st->state = JOB_CANCELLED;
		snprintf(st->message, sizeof(st->message), "cancelled");
		return 0;
	}
	st->state = JOB_FAILED;
	if (o->stop_code != NULL) {
		snprintf(st->error_code, sizeof(st->error_code), "%s",
		    o->stop_code);
		snprintf(st->error_message, sizeof(st->error_message), "%s",
		    o->stop_msg);
		return 0;
	}
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
		/* A quick task may have ended between two checks. */
		if (cfg->max_spool_bytes > 0 && usage0 >= 0 &&
		    usage0 + o->result_bytes > cfg->max_spool_bytes) {
			snprintf(st->error_code, sizeof(st->error_code),
			    "spool_full");
			snprintf(st->error_message, sizeof(st->error_message),
			    "the job storage would pass max_spool_bytes "
			    "(%lld) with this result of %lld bytes",
			    cfg->max_spool_bytes, o->result_bytes);
			return 0;
		}
		if ((unsigned long long)o->result_bytes > t->max_result_bytes) {
			snprintf(st->error_code, sizeof(st->error_code),
			    "result_too_large");
			snprintf(st->error_message, sizeof(st->error_message),
			    "the task's result (%lld bytes) is larger than "
			    "max_result_bytes (%zu)", o->result_bytes,
			    t->max_result_bytes);
			return 0;
		}
		st->state = JOB_SUCCEEDED;
		st->progress = 100;
		return 1;
	}
	snprintf(st->error_code, sizeof(st->error_code), "exit");
	if (WIFEXITED(ws))
		snprintf(st->error_message, sizeof(st->error_message),
		    "the task exited with status %d%s%s", WEXITSTATUS(ws),
		    tail[0] ? "\n" : "", tail);
	else
		snprintf(st->error_message, sizeof(st->error_message),
		    "the task was killed by signal %d (%s)%s%s", WTERMSIG(ws),
		    strsignal(WTERMSIG(ws)), tail[0] ? "\n" : "", tail);
	return 0;
}
