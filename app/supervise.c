/*
 * The supervisor: the detached process that runs one job's task.
 *
 * The FastCGI process forks; the child calls setsid and forks again and
 * exits at once, and the FastCGI process reaps it there and then (no
 * zombie, no SIGCHLD handler).  The grandchild, now in its own session
 * and owned by init (or a subreaper), closes every descriptor it
 * inherited (above all fd 0, the FastCGI listen socket: a job that keeps
 * it takes the site down once its FastCGI process is recycled; see
 * NOTES.md), takes the job's lock, records "running" and tells the
 * FastCGI process so through a pipe.  Only then does the request answer.
 *
 * It then runs the task in its own process group (spec "How a task is
 * run"), turns the task's "progress:" lines into status updates, enforces
 * the timeout and the result size limit, and writes the final status
 * while still holding the lock.
 *
 * The FastCGI process stays a small C program, so the fork is cheap (about
 * 1,700 starts/s measured here; fork cost grows with the parent's memory).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/prctl.h>
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
#define SUPERVISE_TAIL_LINES	10
#define SUPERVISE_HANDOFF_MS	10000	/* wait for the lock hand-off */
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

/* Append "name=value" to the NULL-terminated env.  Returns 0, or -1. */
static int
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
static char **
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

/* Move fd above 2, so that dup2 onto 0..2 cannot clobber it. */
static int
supervise_fd_high(int fd)
{
	if (fd > 2)
		return fd;
	return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* Close every descriptor from lo up, except those in keep[]. */
static void
supervise_close_from(int lo, const int *keep, size_t nkeep)
{
	int	 fd, max, skip;
	size_t	 i;

	max = (int)sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = lo; fd < max; ) {
		/* Find the next kept fd; close the range up to it at once. */
		int next = max;

		for (i = 0; i < nkeep; i++)
			if (keep[i] >= fd && keep[i] < next)
				next = keep[i];
#ifdef HAVE_CLOSE_RANGE
		if (next > fd && close_range((unsigned)fd,
		    next == max ? ~0U : (unsigned)next - 1, 0) == 0) {
			fd = next + 1;
			continue;
		}
#endif
		for (; fd < next; fd++)
			(void)close(fd);
		skip = next;
		fd = skip + 1;
	}
}

/* Restore default signal dispositions and an empty mask before exec. */
static void
supervise_signals_reset(void)
{
	sigset_t	 set;
	int		 sig;

	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
}

static long long
supervise_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Everything the running supervisor tracks about its task. */
struct sv {
	const struct config	*cfg;
	int			 jobfd;
	struct jobstatus	 st;
	const struct task	*task;
	pid_t			 pid;		/* the task, its group leader */
	int			 errfd;		/* the task's stderr, read end */
	struct taskfds		 fds;
	char			 line[SUPERVISE_LINE_MAX];
	size_t			 linelen;
	int			 dirty;		/* progress not yet written */
	long long		 written_ms;
	long long		 term_ms;	/* when SIGTERM went, or 0 */
	long long		 usage0;	/* the spool's size at start */
	long long		 result0;	/* bytes before the task ran */
	pid_t			 supervisor;	/* our pid, for the task */
	const char		*stop_code;	/* why we stopped it */
	char			 stop_msg[256];
};

/* One complete stderr line: progress, or the log. */
static void
supervise_line(struct sv *sv, const char *line, size_t len)
{
	int	 pct;

	if (job_progress_parse(line, len, &pct, sv->st.message,
	    sizeof(sv->st.message))) {
		sv->st.progress = pct;
		sv->dirty = 1;
		return;
	}
	if (write(sv->fds.log, line, len) == -1 ||
	    write(sv->fds.log, "\n", 1) == -1)
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

static void
supervise_progress_flush(struct sv *sv, int force)
{
	long long	 now = supervise_now_ms();

	if (!sv->dirty)
		return;
	if (!force && now - sv->written_ms < SUPERVISE_PROGRESS_MS)
		return;
	if (spool_status_write(sv->jobfd, &sv->st, 0) == -1)
		log_warn("job %s: write status", sv->st.id);
	sv->dirty = 0;
	sv->written_ms = now;
}

/* Ask the task's whole group to stop; SIGKILL follows after the grace. */
static void
supervise_stop(struct sv *sv, const char *code, const char *fmt, ...)
{
	va_list	 ap;

	if (sv->stop_code == NULL) {
		sv->stop_code = code;
		va_start(ap, fmt);
		vsnprintf(sv->stop_msg, sizeof(sv->stop_msg), fmt, ap);
		va_end(ap);
	}
	if (sv->term_ms == 0) {
		(void)kill(-sv->pid, SIGTERM);
		sv->term_ms = supervise_now_ms();
	}
}

/* The timeout and the result size limit, checked every tick. */
static void
supervise_limits(struct sv *sv)
{
	struct statvfs	 vfs;
	struct stat	 sb;
	time_t		 now = time(NULL);

	memset(&sb, 0, sizeof(sb));

	if (sv->task->timeout_seconds > 0 &&
	    now - sv->st.started_at >= sv->task->timeout_seconds)
		supervise_stop(sv, "timeout", "the task ran longer than its "
		    "timeout of %ld s and was stopped",
		    sv->task->timeout_seconds);
	if (fstat(sv->fds.out, &sb) == 0 &&
	    (unsigned long long)sb.st_size > sv->task->max_result_bytes)
		supervise_stop(sv, "result_too_large", "the task's result "
		    "grew past max_result_bytes (%zu) and the task was "
		    "stopped", sv->task->max_result_bytes);
	/*
	 * A full disk would cost every job its result and log: stop this
	 * one cleanly while its final status still fits (the reserve).
	 */
	if (fstatvfs(sv->jobfd, &vfs) == 0 &&
	    (long long)vfs.f_bavail * (long long)vfs.f_frsize <
	    SUPERVISE_DISK_FLOOR)
		supervise_stop(sv, "disk_full", "the server's disk became "
		    "full and the task was stopped");
	if (sv->cfg->max_spool_bytes > 0 && sv->usage0 >= 0 &&
	    sv->usage0 + (long long)sb.st_size > sv->cfg->max_spool_bytes)
		supervise_stop(sv, "spool_full", "the job storage reached "
		    "max_spool_bytes (%lld) and the task was stopped",
		    sv->cfg->max_spool_bytes);
	if (spool_cancel_requested(sv->jobfd))
		supervise_stop(sv, "cancelled", "the job was cancelled");
	if (sv->term_ms != 0 && supervise_now_ms() - sv->term_ms >=
	    (long long)sv->cfg->kill_grace_seconds * 1000)
		(void)kill(-sv->pid, SIGKILL);
}

/* Fill the final status from how the task ended. */
static void
supervise_finish(struct sv *sv, int wstatus)
{
	char	 tail[SPOOLCGI_ERRMSG_MAX - 128];

	sv->st.finished_at = time(NULL);
	if (sv->stop_code != NULL && strcmp(sv->stop_code, "cancelled") == 0) {
		sv->st.state = JOB_CANCELLED;
		snprintf(sv->st.message, sizeof(sv->st.message),
		    "cancelled");
		return;
	}
	if (sv->stop_code != NULL) {
		sv->st.state = JOB_FAILED;
		snprintf(sv->st.error_code, sizeof(sv->st.error_code), "%s",
		    sv->stop_code);
		snprintf(sv->st.error_message, sizeof(sv->st.error_message),
		    "%s", sv->stop_msg);
		return;
	}
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
		struct stat sb;

		/* A quick task may have ended between two ticks. */
		if (fstat(sv->fds.out, &sb) == -1)
			memset(&sb, 0, sizeof(sb));
		if (sv->cfg->max_spool_bytes > 0 && sv->usage0 >= 0 &&
		    sv->usage0 + (long long)sb.st_size >
		    sv->cfg->max_spool_bytes) {
			sv->st.state = JOB_FAILED;
			snprintf(sv->st.error_code, sizeof(sv->st.error_code),
			    "spool_full");
			snprintf(sv->st.error_message,
			    sizeof(sv->st.error_message), "the job storage "
			    "would pass max_spool_bytes (%lld) with this "
			    "result of %lld bytes", sv->cfg->max_spool_bytes,
			    (long long)sb.st_size);
			return;
		}
		if ((unsigned long long)sb.st_size >
		    sv->task->max_result_bytes) {
			sv->st.state = JOB_FAILED;
			snprintf(sv->st.error_code, sizeof(sv->st.error_code),
			    "result_too_large");
			snprintf(sv->st.error_message,
			    sizeof(sv->st.error_message), "the task's result "
			    "(%lld bytes) is larger than max_result_bytes "
			    "(%zu)", (long long)sb.st_size,
			    sv->task->max_result_bytes);
			return;
		}
		if (spool_result_commit(sv->jobfd, sv->fds.out) == -1) {
			log_warn("job %s: commit result", sv->st.id);
			sv->st.state = JOB_FAILED;
			snprintf(sv->st.error_code, sizeof(sv->st.error_code),
			    "internal");
			snprintf(sv->st.error_message,
			    sizeof(sv->st.error_message),
			    "the result could not be saved: %s",
			    strerror(errno));
			return;
		}
		sv->st.state = JOB_SUCCEEDED;
		sv->st.progress = 100;
		return;
	}
	sv->st.state = JOB_FAILED;
	snprintf(sv->st.error_code, sizeof(sv->st.error_code), "exit");
	if (spool_log_tail(sv->jobfd, tail, sizeof(tail),
	    SUPERVISE_TAIL_LINES) == -1)
		tail[0] = '\0';
	if (WIFEXITED(wstatus))
		snprintf(sv->st.error_message, sizeof(sv->st.error_message),
		    "the task exited with status %d%s%s",
		    WEXITSTATUS(wstatus), tail[0] ? "\n" : "", tail);
	else
		snprintf(sv->st.error_message, sizeof(sv->st.error_message),
		    "the task was killed by signal %d (%s)%s%s",
		    WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)),
		    tail[0] ? "\n" : "", tail);
}

/*
 * In the task's process: fds into place, own process group, cwd, exec.
 * An exec failure is reported through errpipe (close-on-exec, so a
 * successful exec closes it with nothing written).  Never returns.
 */
static void __attribute__((noreturn))
supervise_exec(struct sv *sv, int errw, int execw, char **env)
{
	int	 e;

	(void)setpgid(0, 0);
	/*
	 * If the supervisor is killed, the task goes too: its job reads
	 * "interrupted" and may be retried, and must not run twice.
	 */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != sv->supervisor)
		_exit(127);
	if (fchdir(sv->fds.work) == -1)
		goto fail;
	if ((sv->fds.in = supervise_fd_high(sv->fds.in)) == -1 ||
	    (sv->fds.out = supervise_fd_high(sv->fds.out)) == -1 ||
	    (errw = supervise_fd_high(errw)) == -1 ||
	    (execw = supervise_fd_high(execw)) == -1)
		goto fail;
	if (dup2(sv->fds.in, 0) == -1 || dup2(sv->fds.out, 1) == -1 ||
	    dup2(errw, 2) == -1)
		goto fail;
	supervise_close_from(3, &execw, 1);
	supervise_signals_reset();
	execve(sv->task->command[0], sv->task->command, env);
fail:
	e = errno;
	(void)write(execw, &e, sizeof(e));
	_exit(127);
}

/*
 * Run the task to its end and record the outcome.  The caller holds the
 * lock and has recorded "running".  Returns the final status in sv->st.
 */
static void
supervise_run(struct sv *sv, char **env)
{
	struct pollfd	 pfd;
	int		 errp[2], execp[2], e, wstatus = 0, eof = 0, n;
	pid_t		 w;
	ssize_t		 r;

	if (pipe2(errp, O_CLOEXEC) == -1 || pipe2(execp, O_CLOEXEC) == -1) {
		e = errno;
		goto spawnfail;
	}
	sv->supervisor = getpid();
	if ((sv->pid = fork()) == -1) {
		e = errno;
		goto spawnfail;
	}
	if (sv->pid == 0) {
		close(errp[0]);
		close(execp[0]);
		supervise_exec(sv, errp[1], execp[1], env);
	}
	(void)setpgid(sv->pid, sv->pid);	/* either side may win */
	close(errp[1]);
	close(execp[1]);
	close(sv->fds.in);
	sv->fds.in = -1;
	while ((r = read(execp[0], &e, sizeof(e))) == -1 && errno == EINTR)
		;
	close(execp[0]);
	if (r == (ssize_t)sizeof(e)) {
		while (waitpid(sv->pid, NULL, 0) == -1 && errno == EINTR)
			;
		close(errp[0]);
		goto spawnfail;
	}
	sv->errfd = errp[0];

	for (;;) {
		if (!eof) {
			pfd.fd = sv->errfd;
			pfd.events = POLLIN;
			n = poll(&pfd, 1, SUPERVISE_TICK_MS);
			if (n > 0 && supervise_read_stderr(sv) == 1)
				eof = 1;
		}
		w = waitpid(sv->pid, &wstatus, WNOHANG);
		if (w == sv->pid)
			break;
		if (w == -1 && errno != EINTR) {
			log_warn("job %s: waitpid", sv->st.id);
			break;
		}
		supervise_limits(sv);
		supervise_progress_flush(sv, 0);
		/* stderr closed but the task lives on: wait in short ticks. */
		if (eof)
			(void)poll(NULL, 0, 100);
	}
	/* What the task wrote just before it ended. */
	if (!eof) {
		(void)fcntl(sv->errfd, F_SETFL, O_NONBLOCK);
		while (supervise_read_stderr(sv) == 0)
			;
	}
	if (sv->linelen > 0)
		supervise_line(sv, sv->line, sv->linelen);
	close(sv->errfd);
	/* No orphan outlives its job: stop what the task left behind. */
	if (kill(-sv->pid, SIGTERM) == 0) {
		long long start = supervise_now_ms();

		while (kill(-sv->pid, 0) == 0 && supervise_now_ms() - start <
		    (long long)sv->cfg->kill_grace_seconds * 1000)
			(void)poll(NULL, 0, 50);
		(void)kill(-sv->pid, SIGKILL);
	}
	supervise_finish(sv, wstatus);
	return;
spawnfail:
	sv->st.state = JOB_FAILED;
	sv->st.finished_at = time(NULL);
	snprintf(sv->st.error_code, sizeof(sv->st.error_code), "spawn");
	snprintf(sv->st.error_message, sizeof(sv->st.error_message),
	    "the task could not be started: %s: %s", sv->task->command[0],
	    strerror(e));
	log_warnx("job %s: %s", sv->st.id, sv->st.error_message);
}

/*
 * The grandchild: detach from everything the FastCGI process had, take
 * the lock, say "running", hand off, run.  Never returns.
 */
struct svargs {
	struct spool		*sp;
	const struct config	*cfg;
	const struct task	*t;
	const char		*id;
	int			 handoff;	/* pipe to the starter */
	int			 gslot, tslot;	/* slot locks, or -1 */
};

/*
 * With a launcher (e.g. systemd-run --scope, so that a job leaves the web
 * server's cgroup and survives its restart), the supervisor is this same
 * binary exec'd as "spoolcgi -c CONFIG -- supervise ID HANDOFF GSLOT TSLOT"
 * under the launcher, the three descriptors inherited.  Never returns.
 */
static void __attribute__((noreturn))
supervise_launch(struct svargs *a)
{
	char	 exe[PATH_MAX], num[3][16], **av;
	size_t	 n, i;
	ssize_t	 len;
	int	 fd, k[3] = { a->handoff, a->gslot, a->tslot };

	if ((len = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		_exit(1);
	exe[len] = '\0';
	for (n = 0; a->cfg->launcher[n] != NULL; n++)
		;
	if ((av = calloc(n + 11, sizeof(*av))) == NULL)
		_exit(1);
	for (i = 0; i < n; i++)
		av[i] = a->cfg->launcher[i];
	for (i = 0; i < 3; i++) {
		snprintf(num[i], sizeof(num[i]), "%d", k[i]);
		if (k[i] != -1)
			(void)fcntl(k[i], F_SETFD, 0);	/* inherited */
	}
	av[n++] = exe;
	av[n++] = (char *)"-c";
	av[n++] = a->cfg->path;
	av[n++] = (char *)"--";		/* "-1", a missing slot, is no option */
	av[n++] = (char *)"supervise";
	av[n++] = (char *)a->id;
	av[n++] = num[0];
	av[n++] = num[1];
	av[n++] = num[2];
	av[n] = NULL;
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		_exit(1);
	if (dup2(fd, 0) == -1 || dup2(fd, 1) == -1)
		_exit(1);
	supervise_close_from(3, k, 3);
	execv(av[0], av);
	log_warn("job %s: exec launcher %s", a->id, av[0]);
	_exit(1);
}

static void __attribute__((noreturn))
supervise_job(struct svargs *a);

/* The grandchild: through the launcher, or straight on.  Never returns. */
static void __attribute__((noreturn))
supervise_main(void *arg)
{
	struct svargs	*a = arg;

	if (a->cfg->launcher != NULL)
		supervise_launch(a);
	supervise_job(a);
}

/*
 * "spoolcgi supervise ID HANDOFF GSLOT TSLOT": the supervisor exec'd by a
 * launcher.  Never returns.
 */
void
supervise_resume(struct spool *sp, const struct config *cfg, const char *id,
    int handoff, int gslot, int tslot)
{
	struct svargs		 a;
	struct jobstatus	 st;

	if (!spool_id_check(id, strlen(id)) ||
	    fcntl(handoff, F_GETFD) == -1 ||
	    (gslot != -1 && fcntl(gslot, F_GETFD) == -1) ||
	    (tslot != -1 && fcntl(tslot, F_GETFD) == -1))
		fatalx("supervise: this command is run by spoolcgi itself, "
		    "through the configured launcher");
	if (spool_status_read(sp, id, &st) == -1)
		fatal("supervise: job %s", id);
	a.sp = sp;
	a.cfg = cfg;
	if ((a.t = config_task(cfg, st.task)) == NULL)
		fatalx("supervise: job %s: task %s is not configured", id,
		    st.task);
	a.id = id;
	a.handoff = handoff;
	a.gslot = gslot;
	a.tslot = tslot;
	supervise_job(&a);
}

static void __attribute__((noreturn))
supervise_job(struct svargs *a)
{
	struct spool		*sp = a->sp, nsp;
	const struct task	*t = a->t;
	const char		*id = a->id;
	int			 handoff = a->handoff;
	struct sv	 sv;
	struct buf	 in = { 0 };
	json_object	*input = NULL, *fields = NULL;
	char		 jobdir[PATH_MAX], **env;
	int		 devnull, lockfd;

	memset(&sv, 0, sizeof(sv));
	sv.cfg = a->cfg;
	sv.task = t;
	sv.errfd = -1;
	if ((sv.jobfd = spool_job_open(sp, id)) == -1 ||
	    (sv.jobfd = supervise_fd_high(sv.jobfd)) == -1 ||
	    spool_task_open(sv.jobfd, &sv.fds) == -1 ||
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		_exit(1);
	if ((handoff = supervise_fd_high(handoff)) == -1 ||
	    (sv.fds.in = supervise_fd_high(sv.fds.in)) == -1 ||
	    (sv.fds.out = supervise_fd_high(sv.fds.out)) == -1 ||
	    (sv.fds.log = supervise_fd_high(sv.fds.log)) == -1 ||
	    (sv.fds.work = supervise_fd_high(sv.fds.work)) == -1)
		_exit(1);
	/*
	 * 0 was the FastCGI listen socket, 1 and 2 may be the web server's
	 * pipes (mod_cgi waits for EOF on them).  Our own log lines go to
	 * the job's log from now on.
	 */
	if (dup2(devnull, 0) == -1 || dup2(devnull, 1) == -1 ||
	    dup2(sv.fds.log, 2) == -1)
		_exit(1);
	if ((a->gslot != -1 && (a->gslot = supervise_fd_high(a->gslot)) ==
	    -1) || (a->tslot != -1 && (a->tslot = supervise_fd_high(a->tslot))
	    == -1))
		_exit(1);
	{
		int k[] = { sv.jobfd, handoff, sv.fds.in, sv.fds.out,
		    sv.fds.log, sv.fds.work, a->gslot, a->tslot };

		supervise_close_from(3, k, sizeof(k) / sizeof(k[0]));
	}
	supervise_signals_reset();
	/* A hang-up of the session we left must not stop the job. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	if ((lockfd = spool_job_lock(sv.jobfd, 1)) == -1)
		_exit(1);	/* another supervisor has this job */
	if (spool_status_readat(sv.jobfd, &sv.st) == -1) {
		log_warn("job %s: read status", id);
		_exit(1);
	}
	if (sv.st.state != JOB_QUEUED)
		_exit(0);	/* cancelled, or already run */
	snprintf(jobdir, sizeof(jobdir), "%s/jobs/%s/work", sp->path, id);
	if (spool_input_read(sv.jobfd, &in) == 0)
		input = json_tokener_parse(in.data ? in.data : "");
	buf_free(&in);
	if (input != NULL)
		json_object_object_get_ex(input, "fields", &fields);
	if ((env = supervise_env(jobdir, id, t->name, fields)) == NULL) {
		log_warn("job %s: environment", id);
		_exit(1);
	}
	sv.st.state = JOB_RUNNING;
	sv.st.started_at = time(NULL);
	sv.st.attempts++;
	sv.st.message[0] = '\0';
	if (spool_status_write(sv.jobfd, &sv.st, 1) == -1) {
		log_warn("job %s: write status", id);
		_exit(1);
	}
	(void)write(handoff, "k", 1);
	close(handoff);
	/* Running is on disk: the queue entry has done its work. */
	if (spool_open(&nsp, sp->path) == 0) {
		spool_queue_remove(&nsp, &sv.st);
		spool_close(&nsp);
	}

	sv.usage0 = -1;
	if (sv.cfg->max_spool_bytes > 0 && spool_open(&nsp, sp->path) == 0) {
		sv.usage0 = spool_usage(&nsp);
		spool_close(&nsp);
	}
	sv.result0 = spool_du(sv.jobfd, ".");
	if (spool_cancel_requested(sv.jobfd)) {
		sv.st.state = JOB_CANCELLED;
		sv.st.finished_at = time(NULL);
	} else
		supervise_run(&sv, env);
	/*
	 * The reserve makes room for the final status on a full disk; the
	 * output of a task that did not succeed is no result.
	 */
	(void)unlinkat(sv.jobfd, "reserve", 0);
	if (sv.st.state != JOB_SUCCEEDED)
		(void)unlinkat(sv.jobfd, "result.tmp", 0);
	if (spool_status_write(sv.jobfd, &sv.st, 1) == -1)
		log_warn("job %s: write final status", id);
	/* The final status is on disk: free the slots, start the next. */
	close(lockfd);
	if (a->gslot != -1)
		close(a->gslot);
	if (a->tslot != -1)
		close(a->tslot);
	if (spool_open(&nsp, sp->path) == 0) {
		if (sv.cfg->max_spool_bytes > 0)
			spool_usage_add(&nsp, spool_du(sv.jobfd, ".") -
			    sv.result0, 0);
		queue_dispatch(&nsp, sv.cfg, -1);
		spool_close(&nsp);
	}
	_exit(0);
}

/*
 * Run fn(arg) in a detached process: fork, setsid, fork, and reap the
 * first child at once, so no zombie is left and no SIGCHLD handler is
 * needed (STYLE 7).  fn must end with _exit.  Returns 0 once the
 * grandchild exists, or -1 (logged).
 */
int
supervise_detach(void (*fn)(void *), void *arg)
{
	pid_t	 pid, w;
	int	 status;

	fflush(NULL);
	if ((pid = fork()) == -1) {
		log_warn("fork");
		return -1;
	}
	if (pid == 0) {
		if (setsid() == -1)
			_exit(1);
		switch (fork()) {
		case -1:
			_exit(1);
		case 0:
			fn(arg);
			_exit(0);	/* NOTREACHED */
		default:
			_exit(0);
		}
	}
	while ((w = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		;
	if (w == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warnx("the detached process could not be started");
		return -1;
	}
	return 0;
}

/*
 * Start the supervisor of job id (on disk, state "queued"), handing it
 * the slot locks gslot and tslot (-1: none), which it holds for its life.
 * Returns 0 once the supervisor holds the job's lock and has recorded
 * "running", or -1 when it did not take the job (logged when it failed).
 */
int
supervise_start(struct spool *sp, const struct config *cfg,
    const struct task *t, const char *id, int gslot, int tslot)
{
	struct svargs	 a;
	struct pollfd	 pfd;
	int		 p[2], n;
	char		 c;

	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("job %s: pipe", id);
		return -1;
	}
	a.sp = sp;
	a.cfg = cfg;
	a.t = t;
	a.id = id;
	a.handoff = p[1];
	a.gslot = gslot;
	a.tslot = tslot;
	if (supervise_detach(supervise_main, &a) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while ((n = poll(&pfd, 1, SUPERVISE_HANDOFF_MS)) == -1 &&
	    errno == EINTR)
		;
	if (n == 1 && read(p[0], &c, 1) == 1) {
		close(p[0]);
		return 0;
	}
	close(p[0]);
	log_warnx("job %s: the supervisor did not take the job", id);
	return -1;
}
