/*
 * "spoolcgi -c FILE worker [--slots N] [--task T]...": a compute host's
 * side of the PostgreSQL store (README "Scaling out on PostgreSQL").  It
 * runs in the foreground (for systemd), logs to stderr, and:
 *
 *   - claims queued jobs in FIFO order, within max_running and each
 *     task's max_running across every worker (pg_claim), at most N at a
 *     time on this host, of the tasks named (all by default);
 *   - runs each in a supervisor: a forked child with its own connection
 *     that holds the job's session advisory lock, stages the job in the
 *     local spool (spoollocal.c) and runs the task exactly as on one host
 *     (supervise_task: the same argv, stdin, environment, "progress:"
 *     lines, process group, timeout and result limit);
 *   - settles what dead supervisors of any worker left (pg_settle) and
 *     expires finished jobs, a small batch at a time.
 *
 * The supervisor's liveness (scale-out.md):
 *
 *   - it heartbeats every WORKER_BEAT_MS with the progress, message and
 *     the log's tail, guarded by the attempt: zero rows means the job
 *     was settled meanwhile (fenced out): the task is killed and nothing
 *     more is written;
 *   - with no successful heartbeat for WORKER_FENCE_MS it kills its task
 *     (self-fencing): by then the job may read "interrupted", and a task
 *     must never run where nobody believes it runs.  Its calls give up
 *     at the fence (pg_deadline): on a silently cut network a heartbeat
 *     and then a reconnect would each wait for the kernel's TCP user
 *     timeout, and the task would outlive the fence;
 *   - a broken connection (a database restart) is made again with
 *     backoff and the lock taken again; the task goes on meanwhile
 *     (pg_settle counts a restart as a fresh heartbeat); before the
 *     task starts, the database is waited for as the final write waits
 *     (sup_begin), so a restart never ends a job that had not started;
 *   - a cancel is heard through LISTEN within a tick (250 ms) and from
 *     the heartbeat's flag; the task's group is stopped (TERM, the grace,
 *     KILL) and the job ends cancelled;
 *   - the final write (state, error, result) is guarded by the attempt,
 *     and retried for WORKER_FINAL_MS across a reconnect.
 *
 * Stopping (SIGTERM or SIGINT): the worker claims nothing more and asks
 * every supervisor to stop; each stops its task as a cancel does and ends
 * its job as failed, "interrupted" (queued again while its task's retries
 * allow: pg_run_finish_fd; else retrying it is the client's choice),
 * so that a stop is over within kill_grace_seconds, as systemd expects,
 * and no job waits for a worker that is gone.  A worker that dies without
 * that (SIGKILL) takes its supervisors along: each has PR_SET_PDEATHSIG
 * and stops the same way.  A supervisor that dies is seen by its worker
 * (SIGCHLD): what its task left is killed by its mark, and the job is
 * made "interrupted" at once (pg_interrupt, once the supervisor's session
 * is gone).  The worker is a child subreaper, so nothing its supervisors'
 * tasks orphan escapes it.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/stat.h>
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

#if defined(HAVE_LIBPQ) && !defined(SPOOLCGI_WITHOUT_LIBPQ)

#define WORKER_BEAT_MS		2000	/* the heartbeat's period */
#define WORKER_BEAT_SOON_MS	500	/* sooner when the progress moved */
#define WORKER_FENCE_MS		10000	/* no heartbeat this long: kill */
#define WORKER_FINAL_MS		30000	/* the final write is retried */
#define WORKER_POLL_MS		1000	/* look for work unnotified */
#define WORKER_SETTLE_MS	5000	/* settle and expire */
#define WORKER_EXPIRE_BATCH	50
#define WORKER_BACKOFF_MS	2000	/* a supervisor's longest wait to reconnect */
#define WORKER_BACKOFF_MAX_MS	5000	/* the worker's */
#define WORKER_INTERRUPT_MS	10000	/* a dead supervisor's session ends */
#define WORKER_TAIL_LINES	10
#define WORKER_LOG_BYTES	4096	/* the log's tail in a heartbeat */
#define WORKER_SLOTS_MAX	1024
/* Every task process inherits it (supervise_env): how leftovers are found. */
#define WORKER_MARK		"SPOOLCGI_JOB_ID"

static volatile sig_atomic_t	 worker_stop, worker_child;

static void
worker_on_stop(int sig)
{
	(void)sig;
	worker_stop = 1;
}

static void
worker_on_child(int sig)
{
	(void)sig;
	worker_child = 1;
}

/* ---------------------------------------------------------- supervisor */

enum why {
	WHY_RUN,		/* the task runs */
	WHY_CANCEL,		/* a cancel was asked */
	WHY_FENCED,		/* the attempt is no longer ours */
	WHY_LOST,		/* no heartbeat for WORKER_FENCE_MS */
	WHY_STOP		/* the worker stops, or died */
};

struct sup {
	const struct config	*cfg;
	struct pg		*pg;
	struct pgrun		*run;
	struct local		*lc;
	pid_t			 parent;
	enum why		 why;
	int			 broken;	/* reconnect before the next use */
	int			 backoff_ms;
	long long		 beat_ms;	/* the last heartbeat tried */
	long long		 ok_ms;		/* the last one that held */
	long long		 retry_ms;	/* the next reconnect */
	int			 dirty;		/* progress not yet sent */
	long long		 logsize;	/* the log's size last sent */
};

/*
 * Make the supervisor's connection usable again and take the job's lock
 * again (a restart dropped it), with backoff.  Returns 0 when it holds
 * the lock again; -1 (s->why is WHY_FENCED when the attempt is gone).
 */
static int
sup_reconnect(struct sup *s)
{
	long long	 now = proc_now_ms();
	int		 rc;

	if (now < s->retry_ms)
		return -1;
	s->backoff_ms = s->backoff_ms == 0 ? 250 : s->backoff_ms * 2;
	if (s->backoff_ms > WORKER_BACKOFF_MS)
		s->backoff_ms = WORKER_BACKOFF_MS;
	s->retry_ms = now + s->backoff_ms;
	if (pg_reconnect(s->pg) == -1)
		return -1;
	if ((rc = pg_run_lock(s->pg, s->run)) == STORE_NOENT) {
		s->why = WHY_FENCED;
		return -1;
	}
	if (rc != STORE_OK || pg_listen(s->pg, 1) == -1)
		return -1;
	s->broken = 0;
	s->backoff_ms = 0;
	s->ok_ms = proc_now_ms();
	log_info("job %s: connected again, its lock held", s->run->st.id);
	return 0;
}

/* One heartbeat, or a reconnect while the connection is broken. */
static void
sup_beat(struct sup *s)
{
	char		 tail[WORKER_LOG_BYTES];
	long long	 size = 0;
	ssize_t		 n;
	int		 cancel = 0;

	s->beat_ms = proc_now_ms();
	/* Whatever the network does, the fence is kept in time. */
	pg_deadline(s->pg, s->ok_ms + WORKER_FENCE_MS);
	if (s->broken) {
		(void)sup_reconnect(s);
		return;
	}
	/* The log's tail only when it grew: the row keeps the last one. */
	if ((n = store_local_log_end(s->lc, tail, sizeof(tail), &size)) < 0 ||
	    size == s->logsize)
		n = 0;
	switch (pg_run_beat(s->run, s->run->st.progress, s->run->st.message,
	    n > 0 ? tail : NULL, (size_t)n, &cancel)) {
	case STORE_OK:
		s->ok_ms = proc_now_ms();
		s->dirty = 0;
		if (n > 0)
			s->logsize = size;
		if (cancel)
			s->why = WHY_CANCEL;
		break;
	case STORE_NOENT:
		s->why = WHY_FENCED;
		break;
	default:
		s->broken = 1;
		s->retry_ms = 0;
		break;
	}
}

static void
sup_progress(void *arg, int pct, const char *msg)
{
	struct sup	*s = arg;

	s->run->st.progress = pct;
	snprintf(s->run->st.message, sizeof(s->run->st.message), "%s", msg);
	s->dirty = 1;
}

/*
 * Asked by supervise_task each tick: should the task stop?  Here the
 * cancel is heard, the heartbeat goes and the fence is kept.
 */
static int
sup_check(void *arg)
{
	struct sup	*s = arg;
	long long	 now = proc_now_ms();
	int		 n;

	if (worker_stop || getppid() != s->parent)
		s->why = WHY_STOP;
	if (s->why != WHY_RUN)
		return 1;
	if (!s->broken) {
		if ((n = pg_notified(s->pg, s->run->st.id)) > 0)
			s->why = WHY_CANCEL;
		else if (n == -1) {
			s->broken = 1;
			s->retry_ms = 0;
		}
	}
	if (s->why == WHY_RUN && (s->broken ||
	    now - s->beat_ms >= WORKER_BEAT_MS ||
	    (s->dirty && now - s->beat_ms >= WORKER_BEAT_SOON_MS)))
		sup_beat(s);
	if (s->why == WHY_RUN &&
	    proc_now_ms() - s->ok_ms >= WORKER_FENCE_MS) {
		log_warnx("job %s: no heartbeat for %d s: its task is "
		    "stopped (self-fencing)", s->run->st.id,
		    WORKER_FENCE_MS / 1000);
		s->why = WHY_LOST;
	}
	return s->why != WHY_RUN;
}

/*
 * The final write, guarded by the attempt, with the result streamed from
 * resfd (-1: none) into a large object, retried across reconnects for
 * WORKER_FINAL_MS.  Returns 0 (written), 1 (fenced out: the job's end
 * was not ours to write), or -1.
 */
static int
sup_final(struct sup *s, const struct jobstatus *st, int resfd)
{
	long long	 deadline = proc_now_ms() + WORKER_FINAL_MS;

	pg_deadline(s->pg, deadline);
	for (;;) {
		if (s->broken && sup_reconnect(s) == -1) {
			if (s->why == WHY_FENCED)
				goto fenced;
		} else if (!s->broken) {
			/* Each try sends the result from its start. */
			if (resfd != -1 && lseek(resfd, 0, SEEK_SET) == -1) {
				log_warn("job %s: lseek of its result", st->id);
				return -1;
			}
			switch (pg_run_finish_fd(s->run, st, resfd)) {
			case STORE_OK:
				return 0;
			case STORE_NOENT:
				goto fenced;
			default:
				/* The lock went with pg_run_finish_fd. */
				s->broken = 1;
				s->retry_ms = 0;
				break;
			}
		}
		if (proc_now_ms() >= deadline) {
			log_warnx("job %s: its end could not be written: the "
			    "database is unreachable", st->id);
			return -1;
		}
		(void)poll(NULL, 0, 250);	/* the reconnect's pace */
	}
fenced:
	log_warnx("job %s: fenced out: it was settled while its task ran; "
	    "its end is not written", st->id);
	return 1;
}

/*
 * The supervisor's start on the database: its connection, the job's
 * lock, a first heartbeat (*cancel: a cancel was asked), the input in in
 * and the job's local files in lc (store_local_open), its uploads among
 * them.  A database that goes away meanwhile (a crash and its restart)
 * is waited for with backoff, as the final write waits (WORKER_FINAL_MS):
 * no task has started, and a restart must not end the job
 * "interrupted".  Returns 0; 1 when the attempt is not ours any more
 * (settled meanwhile); -1 (the database stayed away, the worker stops,
 * or the local files could not be made).
 */
static int
sup_begin(struct sup *s, struct store *sp, struct local *lc, struct buf *in,
    int *cancel)
{
	long long	 deadline = proc_now_ms() + WORKER_FINAL_MS;
	int		 ms = 250, rc;

	for (;;) {
		rc = STORE_ERR;
		if (s->pg == NULL)
			s->pg = pg_open(s->cfg->database);
		else if (pg_reconnect(s->pg) == -1)
			goto wait;
		if (s->pg == NULL || (rc = pg_run_lock(s->pg, s->run)) !=
		    STORE_OK)
			goto wait;
		if (pg_listen(s->pg, 1) == 0 && (rc = pg_run_beat(s->run,
		    s->run->st.progress, s->run->st.message, NULL, 0,
		    cancel)) == STORE_OK && (rc = pg_blob_read(s->pg,
		    s->run->st.id, 0, in)) == STORE_OK) {
			/* The directory is made afresh at each try. */
			if (store_local_open(sp, s->run->st.id, in->data !=
			    NULL ? in->data : "", in->len, lc) == -1)
				return -1;
			if ((rc = pg_uploads_copy(s->pg, s->run->st.id, NULL,
			    store_local_upload, lc)) == STORE_OK)
				return 0;
			store_local_close(lc);
		}
		pg_run_release(s->run);
		if (rc == STORE_OK)
			rc = STORE_ERR;		/* the LISTEN failed */
wait:
		if (rc != STORE_ERR)
			return 1;	/* busy elsewhere, or fenced out */
		if (worker_stop || proc_now_ms() >= deadline)
			return -1;
		(void)poll(NULL, 0, ms);
		if ((ms *= 2) > WORKER_BACKOFF_MS)
			ms = WORKER_BACKOFF_MS;
	}
}

/* Drop libpq's variables: the task must not learn how to reach the database. */
static void
sup_env_scrub(void)
{
	extern char	**environ;
	char		 name[128];
	size_t		 i, n;

	for (i = 0; environ != NULL && environ[i] != NULL; ) {
		n = strcspn(environ[i], "=");
		if (strncmp(environ[i], "PG", 2) == 0 && n < sizeof(name)) {
			memcpy(name, environ[i], n);
			name[n] = '\0';
			(void)unsetenv(name);
			continue;	/* the array moved down */
		}
		i++;
	}
}

/*
 * The supervisor of claimed job run, forked from the worker: its own
 * connection and lock, the job's local files, the task, the end.
 * Exits 0 when the job's end is written (or it was not its to write),
 * non-zero when the worker must settle it.  Never returns.
 */
static void __attribute__((noreturn))
sup_main(const struct config *cfg, struct pgrun *run, pid_t parent)
{
	const struct task	*t;
	struct store		*sp;
	struct sup		 s;
	struct local		 lc;
	struct taskfds		 fds;
	struct taskend		 o;
	struct supervise_hooks	 hooks;
	struct jobstatus	 st;
	struct buf		 in = { 0 };
	struct sigaction	 sa;
	json_object		*input = NULL, *fields = NULL;
	char			 workdir[PATH_MAX], tail[SPOOLCGI_ERRMSG_MAX - 128];
	char			**env;
	const char		*id = run->st.id;
	int			 rc, cancel = 0, resfd = -1, keep;

	/* The worker's connection, store and signals are not ours. */
	proc_sanitize(NULL, 0, 0);
	/*
	 * Our handlers before the signals are unblocked: a stop the worker
	 * sent meanwhile is pending, and is taken as a stop, not a death.
	 */
	worker_stop = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_on_stop;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)signal(SIGCHLD, SIG_DFL);
	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	(void)sigprocmask(SIG_SETMASK, &sa.sa_mask, NULL);
	/* A worker that dies stops its supervisors (and so their tasks). */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.run = run;
	s.parent = parent;
	if ((t = config_task(cfg, run->st.task)) == NULL) {
		log_warnx("job %s: task %s is not configured here", id,
		    run->st.task);
		_exit(1);
	}
	if ((sp = store_open(cfg->spool)) == NULL)
		_exit(1);
	switch (sup_begin(&s, sp, &lc, &in, &cancel)) {
	case 0:
		break;
	case 1:
		_exit(0);	/* not ours any more */
	default:
		_exit(1);
	}
	sup_env_scrub();
	/* The uploads are in work/ before the task starts, as on one host. */
	if (store_local_files(&lc, &fds) == -1 ||
	    store_local_workdir(&lc, workdir, sizeof(workdir)) == -1)
		_exit(1);
	s.lc = &lc;
	/* The input is parsed only for SPOOLCGI_FIELD_* (as on one host). */
	if (t->nfields > 0)
		input = json_tokener_parse(in.data != NULL ? in.data : "");
	buf_free(&in);
	if (input != NULL)
		json_object_object_get_ex(input, "fields", &fields);
	if ((env = supervise_env(workdir, id, t->name, fields)) == NULL) {
		log_warn("job %s: the task's environment", id);
		_exit(1);
	}
	st = run->st;
	st.message[0] = '\0';
	if (cancel) {
		st.state = JOB_CANCELLED;
		st.finished_at = time(NULL);
		snprintf(st.message, sizeof(st.message), "cancelled");
	} else {
		s.beat_ms = s.ok_ms = proc_now_ms();
		memset(&hooks, 0, sizeof(hooks));
		hooks.progress = sup_progress;
		hooks.cancelled = sup_check;
		hooks.cancel_fd = -1;	/* LISTEN is read each tick */
		hooks.arg = &s;
		(void)supervise_task(cfg, t, &fds, env, -1, &hooks, &o);
		/* What left the task's group came to us (a subreaper). */
		if (proc_kill_children() == -1)
			(void)proc_kill_marked(WORKER_MARK, id);
		if (s.why == WHY_FENCED) {
			log_warnx("job %s: fenced out: it was settled while "
			    "its task ran; the task was stopped", id);
			store_local_close(&lc);
			_exit(0);
		}
		st = run->st;
		if (store_local_log_tail(&lc, tail, sizeof(tail),
		    WORKER_TAIL_LINES) == -1)
			tail[0] = '\0';
		keep = supervise_outcome(cfg, t, -1, &o, tail, &st);
		/* Stopped by us for the database or the worker: not a cancel. */
		if (st.state == JOB_CANCELLED && s.why != WHY_CANCEL) {
			st.state = JOB_FAILED;
			snprintf(st.error_code, sizeof(st.error_code),
			    "interrupted");
			snprintf(st.error_message, sizeof(st.error_message),
			    "%s", s.why == WHY_LOST ? "the job was "
			    "interrupted: its worker lost the database and "
			    "stopped the task" : "the job was interrupted: "
			    "its worker was stopped");
		}
		if (keep && (resfd = store_local_result(&lc)) == -1) {
			st.state = JOB_FAILED;
			snprintf(st.error_code, sizeof(st.error_code),
			    "internal");
			snprintf(st.error_message, sizeof(st.error_message),
			    "the result could not be read back");
		}
	}
	if ((rc = sup_final(&s, &st, resfd)) == 0 && run->requeued)
		log_info("job %s: queued again (its retries allow)", id);
	else if (rc == 0) {
		log_info("job %s: %s%s%s", id, job_state_name(st.state),
		    st.error_code[0] != '\0' ? ": " : "", st.error_code);
		/*
		 * The task's notifier, as on one host: once, after the end
		 * is written, its output in the worker's log.
		 */
		if (t->notify != NULL)
			(void)notify_job(cfg, t, &st, env, fds.work,
			    fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3));
	}
	store_local_close(&lc);
	_exit(rc == -1 ? 1 : 0);
}

/* -------------------------------------------------------------- worker */

struct slot {
	pid_t		 pid;		/* 0: free */
	int		 attempt;
	long long	 until;		/* dead: pg_interrupt until then */
	char		 id[SPOOLCGI_ID_LEN + 1];
};

struct worker {
	const struct config	*cfg;
	struct pg		*pg;
	const char		**tasks;	/* the tasks it serves */
	size_t			 ntasks;
	struct slot		*slot;
	int			 nslots;
	struct slot		*dead;		/* settled by us, pending */
	char			 name[300];
	int			 broken;
	int			 unclaim;	/* a claim's answer was lost */
	int			 backoff_ms;
	long long		 retry_ms;
};

static void
worker_broken(struct worker *w)
{
	if (!w->broken)
		w->retry_ms = 0;
	w->broken = 1;
}

/*
 * A claim failed on a broken connection: its COMMIT may have been made
 * all the same.  Give back what this worker claimed and no supervisor
 * of its runs or is being settled (pg_unclaim).  Returns 0 or -1.
 */
static int
worker_unclaim(struct worker *w)
{
	const char	**keep;
	size_t		  n = 0;
	int		  i, back;

	if ((keep = calloc(2 * (size_t)w->nslots + 1, sizeof(*keep))) ==
	    NULL) {
		log_warn("worker: calloc");
		return -1;
	}
	for (i = 0; i < w->nslots; i++) {
		if (w->slot[i].pid != 0)
			keep[n++] = w->slot[i].id;
		if (w->dead[i].until != 0)
			keep[n++] = w->dead[i].id;
	}
	i = pg_unclaim(w->pg, w->name, keep, n, &back);
	free(keep);
	if (i == -1)
		return -1;
	if (back > 0)
		log_warnx("worker %s: %d claim%s whose answer the connection "
		    "lost given back to the queue", w->name, back,
		    back == 1 ? "" : "s");
	w->unclaim = 0;
	return 0;
}

/* Make the connection usable again, with backoff.  Returns 0 or -1. */
static int
worker_reconnect(struct worker *w)
{
	long long	 now = proc_now_ms();

	if (now < w->retry_ms)
		return -1;
	w->backoff_ms = w->backoff_ms == 0 ? 250 : w->backoff_ms * 2;
	if (w->backoff_ms > WORKER_BACKOFF_MAX_MS)
		w->backoff_ms = WORKER_BACKOFF_MAX_MS;
	w->retry_ms = now + w->backoff_ms;
	if (pg_reconnect(w->pg) == -1 || pg_listen(w->pg, 0) == -1)
		return -1;
	if (w->unclaim && worker_unclaim(w) == -1)
		return -1;
	if (w->broken)
		log_info("worker %s: connected again", w->name);
	w->broken = 0;
	w->backoff_ms = 0;
	return 0;
}

/* Fork the supervisor of run into a free slot.  Returns 0 or -1. */
static int
worker_spawn(struct worker *w, struct pgrun *run)
{
	struct slot	*sl = NULL;
	pid_t		 pid, self = getpid();
	int		 i;

	for (i = 0; i < w->nslots && sl == NULL; i++)
		if (w->slot[i].pid == 0)
			sl = &w->slot[i];
	if (sl == NULL)
		return -1;
	fflush(NULL);
	if ((pid = fork()) == -1) {
		log_warn("job %s: fork of its supervisor", run->st.id);
		return -1;
	}
	if (pid == 0)
		sup_main(w->cfg, run, self);
	sl->pid = pid;
	sl->attempt = run->attempt;
	sl->until = 0;
	memcpy(sl->id, run->st.id, sizeof(sl->id));
	log_info("job %s: claimed (task %s, attempt %d), supervisor %ld",
	    run->st.id, run->st.task, run->attempt, (long)pid);
	return 0;
}

/*
 * Reap every child (adopted orphans too).  A supervisor that did not end
 * well leaves its job to us: what its task left is killed by its mark,
 * and the job is settled once its session is gone (worker_interrupt).
 */
static void
worker_reap(struct worker *w)
{
	pid_t	 pid;
	int	 i, ws, j;

	worker_child = 0;
	while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
		for (i = 0; i < w->nslots; i++)
			if (w->slot[i].pid == pid)
				break;
		if (i == w->nslots)
			continue;	/* an orphan that came to us */
		if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
			if (WIFSIGNALED(ws))
				log_warnx("job %s: its supervisor %ld was "
				    "killed by signal %d", w->slot[i].id,
				    (long)pid, WTERMSIG(ws));
			else
				log_warnx("job %s: its supervisor %ld failed",
				    w->slot[i].id, (long)pid);
			(void)proc_kill_marked(WORKER_MARK, w->slot[i].id);
			for (j = 0; j < w->nslots; j++)
				if (w->dead[j].until == 0) {
					w->dead[j] = w->slot[i];
					w->dead[j].pid = 0;
					w->dead[j].until = proc_now_ms() +
					    WORKER_INTERRUPT_MS;
					break;
				}
		}
		w->slot[i].pid = 0;
	}
}

/*
 * Settle the jobs of the supervisors that died here, each once its
 * session (and so its lock) is gone.  Returns how many are pending.
 */
static int
worker_interrupt(struct worker *w)
{
	struct slot	*d;
	int		 i, pending = 0;

	for (i = 0; i < w->nslots; i++) {
		d = &w->dead[i];
		if (d->until == 0)
			continue;
		switch (w->broken ? STORE_ERR : pg_interrupt(w->pg, d->id,
		    d->attempt, "the job was interrupted: its supervisor "
		    "died")) {
		case STORE_OK:
			log_info("job %s: interrupted", d->id);
			d->until = 0;
			continue;
		case STORE_NOENT:
			d->until = 0;	/* it ended, or was settled */
			continue;
		case STORE_ERR:
			if (!w->broken)
				worker_broken(w);
			break;
		default:
			break;
		}
		/* Past the time, pg_settle does it after the grace. */
		if (proc_now_ms() >= d->until)
			d->until = 0;
		else
			pending++;
	}
	return pending;
}

static int
worker_running(const struct worker *w)
{
	int	 i, n = 0;

	for (i = 0; i < w->nslots; i++)
		if (w->slot[i].pid != 0)
			n++;
	return n;
}

/* Claim while a slot is free and a job may start. */
static void
worker_claim(struct worker *w)
{
	struct pgrun	 run;
	int		 rc;

	while (worker_running(w) < w->nslots) {
		rc = pg_claim(w->pg, w->cfg, w->tasks, w->ntasks, 0, w->name,
		    &run);
		if (rc == STORE_NOENT)
			return;
		if (rc != STORE_OK) {
			/* Its COMMIT may have been made: see worker_unclaim. */
			w->unclaim = 1;
			worker_broken(w);
			return;
		}
		if (worker_spawn(w, &run) == -1) {
			/* Nobody runs it: settle it now rather than later. */
			(void)pg_interrupt(w->pg, run.st.id, run.attempt,
			    "the job was interrupted: its worker could not "
			    "start its supervisor");
			return;
		}
	}
}

/*
 * Settle dead supervisors' jobs, expire finished ones, and remove the
 * local files that supervisors killed here left.
 */
static void
worker_housekeep(struct worker *w, struct store *sp)
{
	int	 n, jobs, tombs;

	(void)store_local_sweep(sp);

	if (pg_settle(w->pg, PG_GRACE_SECONDS, &n) == -1 ||
	    pg_expire(w->pg, w->cfg->keep_finished_seconds,
	    w->cfg->tombstone_seconds, WORKER_EXPIRE_BATCH, &jobs,
	    &tombs) == -1) {
		worker_broken(w);
		return;
	}
	if (n > 0)
		log_info("worker %s: %d interrupted job%s settled", w->name, n,
		    n == 1 ? "" : "s");
	if (jobs > 0 || tombs > 0)
		log_info("worker %s: %d finished job%s expired, %d "
		    "tombstone%s removed", w->name, jobs, jobs == 1 ? "" : "s",
		    tombs, tombs == 1 ? "" : "s");
}

/*
 * The programs of the tasks w runs exist here (config_load leaves them
 * to the workers when there is a database: a front runs none).  A task
 * named by --task whose program is missing, or the tasks' default
 * notify, refuses the worker; with every task (all), one that cannot run
 * here is left to the other workers, and only none left refuses.
 * Returns 0, or -1 (logged, naming the file, the key and the value).
 */
static int
worker_programs(struct worker *w, int all)
{
	char		 err[1024];
	size_t		 i, n = 0;

	if (config_check_programs(w->cfg, NULL, err, sizeof(err)) == -1) {
		log_warnx("worker: %s", err);
		return -1;
	}
	for (i = 0; i < w->ntasks; i++) {
		if (config_check_programs(w->cfg, config_task(w->cfg,
		    w->tasks[i]), err, sizeof(err)) == 0) {
			w->tasks[n++] = w->tasks[i];
			continue;
		}
		if (!all) {
			log_warnx("worker: %s", err);
			return -1;
		}
		log_warnx("worker: %s: task %s is left to other workers",
		    err, w->tasks[i]);
	}
	if ((w->ntasks = n) == 0) {
		log_warnx("worker: %s: no task can run on this host (see "
		    "above)", w->cfg->path);
		return -1;
	}
	return 0;
}

static void
worker_usage(void)
{
	fprintf(stderr, "usage: spoolcgi [-c file] worker [--slots N] "
	    "[--task TASK]...\n");
}

/*
 * "spoolcgi -c FILE worker [--slots N] [--task T]...": claim and run the
 * jobs of cfg's database until SIGTERM.  Returns the exit status: 0, 1
 * (a failure, logged) or 2 (usage).
 */
int
worker_main(const struct config *cfg, int argc, char *argv[])
{
	struct worker		 w;
	struct store		*sp = NULL;
	struct sigaction	 sa;
	struct pollfd		 pfd;
	struct timespec		 ts;
	sigset_t		 block, waitmask;
	long long		 settle_ms = 0, now;
	char			 host[256], *end;
	long			 v;
	int			 i, timeout, signalled = 0, pending;
	int			 rc = 0, all = 0;

	/*
	 * What a shell or a service manager left open is no business of
	 * ours, and must not reach a supervisor or a task.
	 */
	proc_close_from(3, NULL, 0);
	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.nslots = cfg->max_running;
	if ((w.tasks = calloc(cfg->ntasks + (size_t)argc + 1,
	    sizeof(*w.tasks))) == NULL) {
		log_warn("worker: calloc");
		rc = 1;
		goto out;
	}
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--slots") == 0 && i + 1 < argc) {
			errno = 0;
			v = strtol(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || v < 1 ||
			    v > WORKER_SLOTS_MAX) {
				log_warnx("worker: --slots: give a number "
				    "from 1 to %d", WORKER_SLOTS_MAX);
				rc = 2;
				goto out;
			}
			w.nslots = (int)v;
		} else if (strcmp(argv[i], "--task") == 0 && i + 1 < argc) {
			if (config_task(cfg, argv[++i]) == NULL) {
				log_warnx("worker: --task %s: no such task in "
				    "%s", argv[i], cfg->path);
				rc = 2;
				goto out;
			}
			w.tasks[w.ntasks++] = argv[i];
		} else {
			worker_usage();
			rc = 2;
			goto out;
		}
	}
	/*
	 * By default every task of its configuration, and only those: a
	 * job of a task this host does not know stays for another worker.
	 */
	for (i = 0; w.ntasks == 0 && (size_t)i < cfg->ntasks; i++)
		w.tasks[i] = cfg->tasks[i].name;
	if (w.ntasks == 0) {
		w.ntasks = cfg->ntasks;
		all = 1;
	}
	if (cfg->database == NULL) {
		log_warnx("%s: database: the key is missing: a worker runs "
		    "the jobs of a PostgreSQL database; give its libpq "
		    "connection string, e.g. \"database\": "
		    "\"dbname=spoolcgi\"", cfg->path);
		rc = 2;
		goto out;
	}
	if (worker_programs(&w, all) == -1) {
		rc = 1;
		goto out;
	}
	if (geteuid() == 0 && !cfg->allow_root) {
		log_warnx("%s: refusing to run as root: every task would run "
		    "as root; run the worker as an unprivileged user (the "
		    "example unit's User=), or set \"allow_root\": true if "
		    "you really mean it", cfg->path);
		rc = 1;
		goto out;
	}
	if ((sp = store_open(cfg->spool)) == NULL) {
		log_warnx("%s: spool: %s cannot be used (see above): the "
		    "worker keeps its running jobs' files there", cfg->path,
		    cfg->spool);
		rc = 1;
		goto out;
	}
	if (store_local_sweep(sp) > 0)
		log_info("worker: removed what earlier supervisors left in "
		    "%s", cfg->spool);
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(w.name, sizeof(w.name), "%s:%ld", host, (long)getpid());
	if ((w.slot = calloc((size_t)w.nslots, sizeof(*w.slot))) == NULL ||
	    (w.dead = calloc((size_t)w.nslots, sizeof(*w.dead))) == NULL) {
		log_warn("worker: calloc");
		rc = 1;
		goto out;
	}

	/* What its supervisors' tasks orphan comes to us, not to init. */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	/*
	 * The signals are blocked but while we wait (ppoll), so a stop or
	 * an ended supervisor is never missed between a check and a wait.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	(void)sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGCHLD);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = worker_on_stop;
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = worker_on_child;
	(void)sigaction(SIGCHLD, &sa, NULL);
	(void)signal(SIGPIPE, SIG_IGN);
	(void)signal(SIGHUP, SIG_IGN);

	/* The database may come up after us (a boot): wait for it. */
	while ((w.pg = pg_open(cfg->database)) == NULL) {
		ts.tv_sec = WORKER_BACKOFF_MS / 1000;
		ts.tv_nsec = (WORKER_BACKOFF_MS % 1000) * 1000000L;
		(void)ppoll(NULL, 0, &ts, &waitmask);
		if (worker_stop)
			goto out;
	}
	if (pg_schema_check(w.pg) == -1 || pg_listen(w.pg, 0) == -1) {
		rc = 1;
		goto out;
	}
	log_info("worker %s: running up to %d job%s of %s", w.name, w.nslots,
	    w.nslots == 1 ? "" : "s", !all ? "the tasks given" :
	    w.ntasks < cfg->ntasks ? "the tasks whose programs are here" :
	    "every task configured");

	for (;;) {
		if (worker_child)
			worker_reap(&w);
		if (worker_stop && !signalled) {
			log_info("worker %s: stopping: %d running job%s "
			    "interrupted", w.name, worker_running(&w),
			    worker_running(&w) == 1 ? "" : "s");
			for (i = 0; i < w.nslots; i++)
				if (w.slot[i].pid != 0)
					(void)kill(w.slot[i].pid, SIGTERM);
			signalled = 1;
		}
		if (w.broken)
			(void)worker_reconnect(&w);
		pending = worker_interrupt(&w);
		if (worker_stop && worker_running(&w) == 0 && pending == 0)
			break;
		if (!w.broken && !worker_stop)
			worker_claim(&w);
		now = proc_now_ms();
		if (!w.broken && now >= settle_ms) {
			worker_housekeep(&w, sp);
			settle_ms = now + WORKER_SETTLE_MS;
		}
		timeout = w.broken || pending > 0 ? 250 : WORKER_POLL_MS;
		ts.tv_sec = timeout / 1000;
		ts.tv_nsec = (timeout % 1000) * 1000000L;
		pfd.fd = w.broken ? -1 : pg_socket(w.pg);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (ppoll(&pfd, 1, &ts, &waitmask) > 0 && !w.broken &&
		    pg_notified(w.pg, NULL) == -1)
			worker_broken(&w);
	}
	log_info("worker %s: stopped", w.name);
out:
	if (w.pg != NULL)
		pg_close(w.pg);
	if (sp != NULL)
		store_close(sp);
	free(w.slot);
	free(w.dead);
	free(w.tasks);
	return rc;
}

#else /* !HAVE_LIBPQ */

int
worker_main(const struct config *cfg, int argc, char *argv[])
{
	(void)argc;
	(void)argv;
	log_warnx("%s: database: %s", cfg->path, pg_unavailable());
	return 2;
}

#endif /* HAVE_LIBPQ */
