/*
 * The life of a job, decided in one place (with the supervisor that
 * reports to it: its end dispatches the next job, so the two cannot be
 * two files without calling each other).  Every change of a job's state
 * is one of the transitions below, applied through the store's one locked
 * read-modify-write (store_update: lock the job, reread it, apply the
 * change, write it, keep the queue consistent), or written by the job's
 * own supervisor, which holds that lock for its whole life:
 *
 *   (none)  -> queued      lifecycle_submit: staged, published and queued
 *                          as one step, or refused whole
 *   queued  -> running     the supervisor, once it holds the lock
 *   running -> running     progress, from the supervisor
 *   running -> succeeded | failed | cancelled
 *                          the supervisor, from how its task ended
 *   failed | cancelled -> (a new job, queued): lifecycle_retry; the old
 *                          job stays as it was
 *   queued  -> cancelled   lc_cancel_queued; a running job is asked to
 *                          stop through the store and its supervisor
 *                          records the end
 *   queued  -> failed      lc_task_gone: its task left the configuration
 *   running -> failed ("interrupted"), or -> queued while the task
 *                          allows retries: lc_settle, when the lock is
 *                          free, so the supervisor is gone
 *   queued, no entry -> queued with one: lc_requeue (a crash between
 *                          two writes), found by dispatch or clean-up
 *   final   -> removed     DELETE, or expiry with a tombstone (410)
 *
 * There is no daemon.  Whoever may free a slot or add work dispatches:
 * the request that started a job, the supervisor of a job that just
 * ended, a poll of a job still waiting, and the clean-up.  Dispatch
 * walks the queue first in, first out and gives each waiting job a free
 * run slot (and a slot of its task when the task has its own
 * max_running); a job whose task is at its limit is passed over, not
 * skipped: it keeps its place.
 */
#include "config.h"

#include <sys/types.h>
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

#define LC_TAIL_LINES	10	/* log lines in the message of a failure */
#define LC_MARK		"SPOOLCGI_JOB_ID"	/* every task process has it */

/* ------------------------------------------------------------ transitions */

/* queued -> cancelled. */
static int
lc_cancel_queued(struct jobstatus *st, void *arg)
{
	(void)arg;
	if (st->state != JOB_QUEUED)
		return 0;
	st->state = JOB_CANCELLED;
	st->finished_at = time(NULL);
	snprintf(st->message, sizeof(st->message),
	    "cancelled before it started");
	return 1;
}

/* queued -> failed: the task is no longer configured. */
static int
lc_task_gone(struct jobstatus *st, void *arg)
{
	(void)arg;
	if (st->state != JOB_QUEUED)
		return 0;
	st->state = JOB_FAILED;
	st->finished_at = time(NULL);
	snprintf(st->error_code, sizeof(st->error_code), "spawn");
	snprintf(st->error_message, sizeof(st->error_message),
	    "the task '%s' is no longer in the configuration", st->task);
	return 1;
}

/*
 * running, with its lock free -> failed "interrupted", or queued again
 * while its task allows retries.  What is left of the job's processes is
 * killed first: nothing of a first attempt runs beside a second, or on
 * after its job reads final.
 */
static int
lc_settle(struct jobstatus *st, void *arg)
{
	const struct config	*cfg = arg;
	const struct task	*t;
	int			 n;

	if (st->state != JOB_RUNNING)
		return 0;
	if ((n = proc_kill_marked(LC_MARK, st->id)) > 0)
		log_warnx("job %s: killed %d process%s left by its "
		    "supervisor", st->id, n, n == 1 ? "" : "es");
	t = cfg != NULL ? config_task(cfg, st->task) : NULL;
	if (t != NULL && st->attempts <= t->retries) {
		st->state = JOB_QUEUED;
		st->started_at = 0;
		st->progress = -1;
		snprintf(st->message, sizeof(st->message),
		    "interrupted; queued again (retry %d of %d)",
		    st->attempts, t->retries);
		log_warnx("job %s: interrupted: its supervisor is gone; "
		    "queued again", st->id);
		return 1;
	}
	st->state = JOB_FAILED;
	st->finished_at = time(NULL);
	snprintf(st->error_code, sizeof(st->error_code), "interrupted");
	snprintf(st->error_message, sizeof(st->error_message), "the process "
	    "running this job vanished (a host or web server restart, or an "
	    "out-of-memory kill)");
	log_warnx("job %s: interrupted: its supervisor is gone", st->id);
	return 1;
}

/* A running job: settle it if nobody holds its lock.  Returns 0 or -1. */
static int
lc_check_running(struct store *s, const struct config *cfg,
    const char *id, struct jobstatus *st)
{
	switch (store_update(s, id, lc_settle, (void *)cfg, st)) {
	case STORE_BUSY:
		return 0;	/* its supervisor is alive */
	case STORE_OK:
		return 0;
	case STORE_NOENT:
		errno = ENOENT;
		return -1;
	default:
		return -1;
	}
}

/* ------------------------------------------------------------- reading */

/*
 * The status of job id as clients see it: an interrupted job settled, a
 * waiting job given its place in the queue (and the queue moved: a poll
 * is one of the events that dispatch).  Returns LC_OK, LC_NOENT, LC_GONE,
 * or LC_ERR (logged).
 */
int
lifecycle_read(struct store *s, const struct config *cfg, const char *id,
    struct jobstatus *st)
{
	int	 settled = 0;

	switch (store_read(s, id, st)) {
	case STORE_OK:
		break;
	case STORE_NOENT:
		return LC_NOENT;
	case STORE_GONE:
		return LC_GONE;
	default:
		return LC_ERR;
	}
	if (st->state == JOB_RUNNING) {
		if (lc_check_running(s, cfg, id, st) == -1)
			return errno == ENOENT ? LC_NOENT : LC_ERR;
		if (st->state == JOB_RUNNING)
			return LC_OK;
		/* Settled, so its slot is free: final, or queued again. */
		settled = 1;
	}
	if (st->state != JOB_QUEUED) {
		if (settled)
			(void)lifecycle_dispatch(s, cfg);
		return LC_OK;
	}
	if (lifecycle_dispatch(s, cfg) > 0 && store_read(s, id, st) !=
	    STORE_OK)
		return LC_ERR;
	if (st->state != JOB_QUEUED)
		return LC_OK;
	/* A store may know the place with the job (one read, not two). */
	if (st->queue_position > 0 ||
	    (st->queue_position = store_queue_position(s, id)) > 0)
		return LC_OK;
	/* Its entry went while we looked: started, or lost to a crash. */
	if (store_read(s, id, st) != STORE_OK)
		return LC_ERR;
	if (st->state == JOB_QUEUED && store_queue_readd(s, id) == 1) {
		log_warnx("job %s: queued without a queue entry (a crash?): "
		    "queued again", id);
		(void)lifecycle_dispatch(s, cfg);
		if (store_read(s, id, st) != STORE_OK)
			return LC_ERR;
	}
	if (st->state == JOB_QUEUED &&
	    (st->queue_position = store_queue_position(s, id)) == 0)
		st->queue_position = 1;
	return LC_OK;
}

/*
 * Wait up to secs seconds for job st to reach a final state, without
 * spinning: the store's watch says when its status changes, and a store
 * with nothing to watch (-1) is read again once a second.  st is
 * refreshed (final or not, when time ran out).  Returns LC_OK, or
 * LC_NOENT, LC_GONE or LC_ERR when it could not be read.
 */
int
lifecycle_wait(struct store *s, const struct config *cfg,
    struct jobstatus *st, int secs)
{
	struct pollfd	 pfd;
	long long	 deadline;
	int		 fd, n, rc;

	if (job_state_final(st->state) || secs <= 0)
		return LC_OK;
	fd = store_watch(s, st->id);
	deadline = proc_now_ms() + secs * 1000LL;
	for (;;) {
		/* Read after the watch exists: no change can slip by. */
		if ((rc = lifecycle_read(s, cfg, st->id, st)) != LC_OK) {
			store_watch_end(s, fd);
			return rc;
		}
		if (job_state_final(st->state))
			break;
		if ((n = (int)(deadline - proc_now_ms())) <= 0)
			break;
		/*
		 * A queued job moves when another ends, which this watch
		 * does not see: look again at least once a second.  poll
		 * ignores a negative fd: then this is the second's wait.
		 */
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (!store_watch_pending(s, fd) &&
		    poll(&pfd, 1, n > 1000 ? 1000 : n) > 0)
			store_watch_clear(s, fd);
		/* A watch that broke (a connection lost): the second's look. */
		if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
			store_watch_end(s, fd);
			fd = -1;
		}
	}
	store_watch_end(s, fd);
	return LC_OK;
}

/* ------------------------------------------------------------ starting */

/* What a supervisor is handed. */
struct lc_start {
	struct store		*store;
	const struct config	*cfg;
	const struct task	*task;
	char			 id[SPOOLCGI_ID_LEN + 1];
	unsigned long long	 key;		/* its queue entry */
	int			 gslot, tslot;	/* slot locks, or -1 */
	int			 lockfd;	/* the job's lock, held */
	int			 own;		/* store is this process's own */
};

static int	lc_spawn(struct lc_start *);

/* A run slot of task t (which has its own max_running), or -1. */
static int
lc_task_slot(struct store *s, const struct task *t)
{
	char	 class[SPOOLCGI_NAME_MAX + 8];

	snprintf(class, sizeof(class), "t.%s", t->name);
	return store_slot_take(s, class, t->max_running);
}

/* ------------------------------------------------------------ changing */

/*
 * Store new job st (queued, with the task's stdin in input) as one step,
 * claiming sub->key for it when there is one, then dispatch; st is then
 * the job as it stands, with its queue position.  Returns LC_OK; LC_FULL;
 * LC_DUPLICATE with sub->existing, the key's job, when the same request
 * came before; LC_CONFLICT when the key was used for another; LC_ERR
 * (logged).  Nothing is left behind but on LC_OK.
 */
int
lifecycle_submit(struct store *s, const struct config *cfg,
    struct jobstatus *st, const char *input, size_t len, struct submit *sub)
{
	unsigned long long	 ohash = 0;
	struct lc_start		 a;
	int			 rc, direct = 0;

	/*
	 * Nobody waits and a slot is free: the job starts here, without a
	 * queue entry or the queue's lock (FIFO holds: nothing is ahead).
	 */
	memset(&a, 0, sizeof(a));
	a.gslot = a.tslot = a.lockfd = -1;
	if (store_runs_here(s) && store_queue_empty(s) &&
	    (a.task = config_task(cfg, st->task)) != NULL &&
	    (a.gslot = store_slot_take(s, "g", cfg->max_running)) != -1) {
		direct = 1;
		if (a.task->max_running > 0 &&
		    (a.tslot = lc_task_slot(s, a.task)) == -1) {
			close(a.gslot);
			a.gslot = -1;
			direct = 0;
		}
	}
	rc = store_submit(s, st, input, len, cfg->max_queued,
	    sub->key != NULL ? sub->key : "", sub->hash, sub->existing,
	    &ohash, direct ? &a.lockfd : NULL);
	if (direct && rc == STORE_OK) {
		a.store = s;
		a.cfg = cfg;
		memcpy(a.id, st->id, sizeof(a.id));
		if (lc_spawn(&a) == -1) {
			/* Queued without an entry: give it one. */
			close(a.lockfd);
			a.lockfd = -1;
			(void)store_queue_readd(s, st->id);
		}
	}
	if (a.lockfd != -1)
		close(a.lockfd);
	if (a.gslot != -1)
		close(a.gslot);
	if (a.tslot != -1)
		close(a.tslot);
	/* A job queued meanwhile may wait for the slot held here. */
	if (rc == STORE_OK ? !direct || !store_queue_empty(s) :
	    direct && !store_queue_empty(s))
		(void)lifecycle_dispatch(s, cfg);
	switch (rc) {
	case STORE_OK:
		log_info("job %s: created (task %s)", st->id, st->task);
		if (store_read(s, st->id, st) != STORE_OK)
			return LC_ERR;
		/* Its supervisor may not have said "running" yet. */
		if (st->state == JOB_QUEUED && (direct ||
		    (st->queue_position == 0 && (st->queue_position =
		    store_queue_position(s, st->id)) == 0)))
			st->queue_position = 1;
		return LC_OK;
	case STORE_FULL:
		return LC_FULL;
	case STORE_TAKEN:
		return ohash == sub->hash ? LC_DUPLICATE : LC_CONFLICT;
	default:
		return LC_ERR;
	}
}

/*
 * Cancel job id: a queued job here, under its lock, and it never starts;
 * a running one (or one being started right now) through its supervisor,
 * which is asked and then waited for, briefly.  st receives what the job
 * is after.  Returns LC_OK, LC_FINAL (nothing to cancel), LC_NOENT,
 * LC_GONE, or LC_ERR (logged).
 */
int
lifecycle_cancel(struct store *s, const struct config *cfg, const char *id,
    struct jobstatus *st)
{
	int	 rc;

	if ((rc = lifecycle_read(s, cfg, id, st)) != LC_OK)
		return rc;
	if (job_state_final(st->state))
		return LC_FINAL;
	if (st->state == JOB_QUEUED) {
		switch (store_update(s, id, lc_cancel_queued, NULL, st)) {
		case STORE_OK:
		case STORE_BUSY:	/* its supervisor is taking it */
			break;
		case STORE_NOENT:
			return LC_NOENT;
		default:
			return LC_ERR;
		}
		if (st->state == JOB_CANCELLED) {
			log_info("job %s: cancelled while queued", id);
			return LC_OK;
		}
	}
	if (job_state_final(st->state))
		return LC_OK;
	if (store_cancel_request(s, id) == -1)
		return LC_ERR;
	log_info("job %s: cancel requested", id);
	return lifecycle_wait(s, cfg, st, 2);
}

/*
 * The new input of a retry from the old job's input.json in in: its
 * fields and files as they were, the new id; each upload copied into the
 * staging workfd.  Returns LC_OK, LC_INPUT (an upload is gone or not the
 * size it had), or LC_ERR (logged).
 */
static int
lc_retry_input(struct store *s, const char *oldid, const struct jobstatus *st,
    const char *in, int workfd, struct buf *out)
{
	json_object	*old, *o, *fields = NULL, *files = NULL, *path, *size;
	const char	*text;
	long long	 got;
	int		 rc = LC_ERR, n = 0;

	if ((old = json_tokener_parse(in)) == NULL ||
	    !json_object_object_get_ex(old, "fields", &fields) ||
	    !json_object_object_get_ex(old, "files", &files) ||
	    !json_object_is_type(fields, json_type_object) ||
	    !json_object_is_type(files, json_type_object)) {
		log_warnx("job %s: its input.json is not a job's input", oldid);
		if (old != NULL)
			json_object_put(old);
		return LC_INPUT;
	}
	json_object_object_foreach(files, field, f) {
		if (!json_object_object_get_ex(f, "path", &path) ||
		    !json_object_object_get_ex(f, "size", &size) ||
		    !json_object_is_type(path, json_type_string)) {
			log_warnx("job %s: upload %s has no path", oldid, field);
			rc = LC_INPUT;
			goto done;
		}
		switch (store_upload_copy(s, workfd, oldid,
		    json_object_get_string(path), &got)) {
		case STORE_OK:
			break;
		case STORE_NOENT:
			rc = LC_INPUT;
			goto done;
		default:
			/* A name the store never gives: the input was changed. */
			if (errno == EINVAL)
				rc = LC_INPUT;
			goto done;
		}
		/* A task that wrote into its upload changed the input. */
		if (got != json_object_get_int64(size)) {
			rc = LC_INPUT;
			goto done;
		}
		n++;
	}
	if (n > 0 && store_upload_sync(workfd) == -1)
		goto done;
	/* The shape of a start's input (start.c), member for member. */
	if ((o = json_object_new_object()) == NULL)
		goto done;
	json_object_object_add(o, "id", json_object_new_string(st->id));
	json_object_object_add(o, "task", json_object_new_string(st->task));
	json_object_object_add(o, "fields", json_object_get(fields));
	json_object_object_add(o, "files", json_object_get(files));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text != NULL && buf_puts(out, text) == 0 &&
	    buf_puts(out, "\n") == 0)
		rc = LC_OK;
	else
		log_warn("job %s: the input of its retry", oldid);
	json_object_put(o);
done:
	json_object_put(old);
	return rc;
}

/*
 * Run failed or cancelled job oldid again as new job st: the same task,
 * fields and uploads (copied), submitted exactly as a start is
 * (lifecycle_submit: the queue's limit, the same syncs, then dispatch).
 * The old job keeps its record.  old receives the old job's status.  What
 * the caller set in st is kept (its owner: the caller's, not the old
 * job's); its id, task, state and times are set here.  With sub->key, a repeat of the
 * same retry answers LC_DUPLICATE with the first one's id in
 * sub->existing.  Returns LC_OK; LC_NOENT or LC_GONE; LC_STATE when the
 * old job is not failed or cancelled; LC_NOTASK when its task is no
 * longer configured; LC_INPUT when its input or an upload is gone or was
 * changed by its task; LC_FULL, LC_DUPLICATE, LC_CONFLICT; or LC_ERR
 * (logged).  Nothing is left behind but on LC_OK.
 */
int
lifecycle_retry(struct store *s, const struct config *cfg, const char *oldid,
    struct jobstatus *old, struct jobstatus *st, struct submit *sub)
{
	const struct task	*t;
	struct buf		 in = { 0 }, input = { 0 };
	int			 rc, workfd;

	if ((rc = lifecycle_read(s, cfg, oldid, old)) != LC_OK)
		return rc;
	if (old->state != JOB_FAILED && old->state != JOB_CANCELLED)
		return LC_STATE;
	if ((t = config_task(cfg, old->task)) == NULL)
		return LC_NOTASK;
	switch (store_input_read(s, oldid, &in)) {
	case STORE_OK:
		break;
	case STORE_NOENT:
		return LC_NOENT;	/* removed while we looked */
	default:
		return LC_ERR;
	}
	if (job_id_new(st->id) == -1) {
		log_warn("job %s: a new id for its retry", oldid);
		buf_free(&in);
		return LC_ERR;
	}
	snprintf(st->task, sizeof(st->task), "%s", t->name);
	st->state = JOB_QUEUED;
	st->progress = -1;
	st->message[0] = '\0';
	st->created_at = time(NULL);
	st->started_at = st->finished_at = 0;
	st->queue_position = st->attempts = 0;
	st->error_code[0] = st->error_message[0] = '\0';
	/* A key is bound to "this job, again", whatever its input. */
	sub->hash = job_hash(job_hash(JOB_HASH_INIT, "retry", 6), oldid,
	    strlen(oldid));
	if ((workfd = store_stage(s, st->id)) == -1) {
		buf_free(&in);
		return LC_ERR;
	}
	rc = lc_retry_input(s, oldid, st, in.data != NULL ? in.data : "",
	    workfd, &input);
	close(workfd);
	buf_free(&in);
	if (rc != LC_OK) {
		store_abort(s, st->id);
		buf_free(&input);
		return rc;
	}
	/* The staging is used up whatever this returns. */
	rc = lifecycle_submit(s, cfg, st, input.data, input.len, sub);
	buf_free(&input);
	if (rc != LC_OK)
		return rc;
	if (cfg->max_spool_bytes > 0)
		store_usage_add(s, store_job_size(s, st->id));
	log_info("job %s: created to run job %s again", st->id, oldid);
	return LC_OK;
}

/* Remove final job id and its files (DELETE).  Returns LC_OK or LC_ERR. */
int
lifecycle_remove(struct store *s, const char *id)
{
	if (store_remove(s, id, 0) == -1)
		return LC_ERR;
	log_info("job %s: removed", id);
	return LC_OK;
}

/* ------------------------------------------------------------ dispatch */

/*
 * Start queued jobs while slots are free, first in, first out.  Takes no
 * global lock: a run slot and a job's lock are each held by one process
 * at a time (flock), so dispatchers running at once start every job at
 * most once and never more than the slots allow.  A job is locked here
 * before its supervisor exists, which inherits the lock: once the
 * supervisor exists it holds the job, so no other dispatcher can take it,
 * and a supervisor that dies at any point leaves a lock the kernel frees
 * (the job then reads "interrupted", or still "queued" if it died before
 * recording "running", and the next dispatch starts it).  Nothing waits
 * for the supervisor's own writes.  Returns the number of jobs started,
 * or -1 (logged).
 */
int
lifecycle_dispatch(struct store *s, const struct config *cfg)
{
	struct qcursor		 c;
	struct qentry		 q;
	struct jobstatus	 st;
	struct lc_start		 a;
	struct gcstats		 gs;
	int			 rc, started = 0;

	/* A store whose jobs workers claim runs nothing here. */
	if (!store_runs_here(s))
		return 0;
	/* The first dispatch after a boot recovers what a power cut took. */
	if (store_recovery_due(s))
		(void)lifecycle_gc(s, cfg, time(NULL), &gs);
	if (store_queue_empty(s))
		return 0;
	store_queue_first(s, &c);
	for (;;) {
		memset(&a, 0, sizeof(a));
		if ((a.gslot = store_slot_take(s, "g", cfg->max_running)) ==
		    -1)
			break;		/* every slot is busy */
		a.tslot = -1;
		if ((rc = store_queue_next(s, &c, &q)) != 1) {
			close(a.gslot);
			if (rc == -1)
				started = started ? started : -1;
			break;
		}
		if ((rc = store_read(s, q.id, &st)) != STORE_OK ||
		    st.state != JOB_QUEUED) {
			/*
			 * Started, cancelled or removed meanwhile; a running
			 * job is being queued again (store_update makes the
			 * entry first), or its supervisor drops the entry.
			 */
			if (rc == STORE_GONE || (rc == STORE_OK &&
			    st.state != JOB_RUNNING))
				(void)store_queue_drop(s, &q);
			else if (rc == STORE_NOENT)
				(void)store_queue_drop_orphan(s, &q);
			close(a.gslot);
			continue;
		}
		if ((a.task = config_task(cfg, st.task)) == NULL) {
			(void)store_update(s, st.id, lc_task_gone, NULL, &st);
			close(a.gslot);
			continue;
		}
		if (a.task->max_running > 0 &&
		    (a.tslot = lc_task_slot(s, a.task)) == -1) {
			close(a.gslot);
			continue;	/* its task is at its limit */
		}
		/* Being started by another dispatcher, or cancelled now. */
		if ((a.lockfd = store_job_lock(s, st.id)) == -1) {
			close(a.gslot);
			if (a.tslot != -1)
				close(a.tslot);
			continue;
		}
		a.store = s;
		a.cfg = cfg;
		memcpy(a.id, st.id, sizeof(a.id));
		a.key = q.key;
		if (lc_spawn(&a) == 0)
			started++;
		close(a.lockfd);
		close(a.gslot);
		if (a.tslot != -1)
			close(a.tslot);
	}
	return started;
}

/* ---------------------------------------------------------- supervisor */

/* Progress from the task: written, not synced (the lock tells the truth). */
static void
lc_progress(void *arg, int pct, const char *msg)
{
	struct run	*run = arg;

	run->st.progress = pct;
	snprintf(run->st.message, sizeof(run->st.message), "%s", msg);
	(void)store_run_write(run, 0);
}

/* The task has run SUPERVISE_DURABLE_MS: "running" becomes durable. */
static void
lc_durable(void *arg)
{
	(void)store_run_sync(arg);
}

static int
lc_cancelled(void *arg)
{
	return store_run_cancelled(arg);
}

/* running -> final, from how the task ended (supervise_outcome). */
static void
lc_finish(struct run *run, const struct config *cfg, const struct task *t,
    long long usage0, int outfd, const struct taskend *o)
{
	struct jobstatus	*st = &run->st;
	char			 tail[SPOOLCGI_ERRMSG_MAX - 128];

	if (store_run_log_tail(run, tail, sizeof(tail), LC_TAIL_LINES) == -1)
		tail[0] = '\0';
	if (supervise_outcome(cfg, t, usage0, o, tail, st) == 1 &&
	    store_run_commit(run, outfd) == -1) {
		st->state = JOB_FAILED;
		snprintf(st->error_code, sizeof(st->error_code), "internal");
		snprintf(st->error_message, sizeof(st->error_message),
		    "the result could not be saved: %s", strerror(errno));
	}
}

/*
 * The supervisor of a job: take its lock, record "running", hand off to
 * the starter, run the task, record the end, free the slots, start the
 * next.  Runs detached; its stderr is the job's log.  Never returns.
 */
static void __attribute__((noreturn))
lc_supervise(struct lc_start *a)
{
	const struct config	*cfg = a->cfg;
	struct store		*s;
	struct run		 run;
	struct taskfds		 fds;
	struct taskend		 o;
	struct supervise_hooks	 hooks;
	struct buf		 in = { 0 };
	json_object		*input = NULL, *fields = NULL;
	char			 workdir[PATH_MAX], **env;
	long long		 usage0 = -1, size0 = 0, t0 = 0;
	int			 devnull, nfd = -1;

	signal(SIGHUP, SIG_IGN);	/* the session we left may hang up */
	signal(SIGPIPE, SIG_IGN);
	/* A process forked from one with the store open opens its own. */
	if ((s = a->own ? a->store : store_open(store_path(a->store))) ==
	    NULL)
		_exit(1);
	switch (store_claim(s, a->id, a->lockfd, &run)) {
	case STORE_OK:
		break;
	case STORE_BUSY:
		_exit(0);	/* another supervisor has this job */
	default:
		log_warnx("job %s: the supervisor cannot open it", a->id);
		_exit(1);
	}
	if (run.st.state != JOB_QUEUED)
		_exit(0);	/* cancelled, or already run */
	if (a->task == NULL && (a->task = config_task(cfg, run.st.task)) ==
	    NULL) {
		log_warnx("job %s: task %s is not configured", a->id,
		    run.st.task);
		_exit(1);
	}
	if (store_run_files(&run, &fds) == -1 ||
	    store_run_workdir(&run, workdir, sizeof(workdir)) == -1 ||
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1) {
		log_warnx("job %s: the supervisor cannot open its files",
		    a->id);
		_exit(1);
	}
	/*
	 * 1 and 2 may be the web server's pipes (mod_cgi waits for EOF on
	 * them): our own log lines go to the job's log from now on.
	 */
	if (dup2(devnull, 1) == -1 || dup2(fds.log, 2) == -1) {
		log_warn("job %s: dup2 of the supervisor's output", a->id);
		_exit(1);
	}
	close(devnull);
	/* The input is parsed only for SPOOLCGI_FIELD_*. */
	if (a->task->nfields > 0 && store_run_input(&run, &in) == 0)
		input = json_tokener_parse(in.data ? in.data : "");
	buf_free(&in);
	if (input != NULL)
		json_object_object_get_ex(input, "fields", &fields);
	if ((env = supervise_env(workdir, a->id, a->task->name,
	    fields)) == NULL) {
		log_warn("job %s: the task's environment", a->id);
		_exit(1);
	}
	/* The entry has done its work: we hold the job. */
	{
		struct qentry q;

		q.key = a->key;
		memcpy(q.id, a->id, sizeof(q.id));
		(void)store_queue_drop(s, &q);
	}
	if (cfg->max_spool_bytes > 0) {
		usage0 = store_usage(s);
		size0 = store_run_size(&run);
	}
	run.st.started_at = time(NULL);
	run.st.attempts++;
	run.st.message[0] = '\0';
	hooks.cancel_fd = -1;
	if (store_run_cancelled(&run)) {
		run.st.state = JOB_CANCELLED;
		run.st.finished_at = time(NULL);
	} else {
		hooks.progress = lc_progress;
		hooks.cancelled = lc_cancelled;
		hooks.cancel_fd = store_run_watch(&run);
		hooks.durable = lc_durable;
		hooks.arg = &run;
		/*
		 * Running, written before the task starts: "running" is what
		 * a reader sees once the task is about to exist.  It is
		 * synced once the task has run SUPERVISE_DURABLE_MS, so that
		 * a short job waits on no sync but its final status's.  What
		 * a crash means: a supervisor or task killed, at any time,
		 * leaves "running" with its lock free: "interrupted" (or run
		 * again when the task allows retries).  A power cut before
		 * the sync may lose the write: the job reads "queued", without
		 * its entry, and the recovery after the boot gives it back,
		 * so it runs again from the start; after the sync,
		 * "interrupted".
		 */
		run.st.state = JOB_RUNNING;
		if (store_run_write(&run, 0) == -1)
			_exit(1);
		t0 = proc_now_ms();
		(void)supervise_task(cfg, a->task, &fds, env, usage0, &hooks,
		    &o);
		/*
		 * What left the task's group came to us (a subreaper): stop
		 * it.  Where the kernel cannot list our children, look for
		 * the job's mark instead.
		 */
		if (proc_kill_children() == -1)
			(void)proc_kill_marked(LC_MARK, a->id);
		lc_finish(&run, cfg, a->task, usage0, fds.out, &o);
	}
	store_run_settle(&run);
	if (store_run_write(&run, 1) == -1) {
		log_warnx("job %s: its final status could not be written",
		    a->id);
		nfd = -2;	/* no notice of an end nobody can read */
	} else {
		if (t0 != 0)
			(void)store_metric_run(s, a->task->name,
			    proc_now_ms() - t0);
		if (a->task->notify != NULL)
			nfd = store_run_notify_log(&run);
	}
	/* The final status is on disk: free the slots, start the next. */
	store_run_release(&run);
	if (a->gslot != -1)
		close(a->gslot);
	if (a->tslot != -1)
		close(a->tslot);
	if (cfg->max_spool_bytes > 0)
		store_usage_add(s, store_job_size(s, a->id) - size0);
	(void)lifecycle_dispatch(s, cfg);
	/*
	 * The cancel watch goes only now: closing an inotify instance
	 * waits for an SRCU grace period (some 20 ms), which must not come
	 * before the final status.
	 */
	if (hooks.cancel_fd != -1)
		close(hooks.cancel_fd);
	/* Last, so that it delays no job (notify.c: at most once). */
	if (nfd != -2)
		(void)notify_job(cfg, a->task, &run.st, env, fds.work, nfd);
	store_close(s);
	_exit(0);
}

/* The forked supervisor (no exec: the unit tests).  Never returns. */
static void __attribute__((noreturn))
lc_supervisor_main(void *arg)
{
	lc_supervise(arg);
}

/*
 * "spoolcgi supervise ID GSLOT TSLOT LOCK KEY": the supervisor exec'd by
 * a launcher.  Never returns.
 */
void
lifecycle_resume(struct store *s, const struct config *cfg, const char *id,
    int gslot, int tslot, int lockfd, unsigned long long key)
{
	struct lc_start		 a;

	if (!job_id_check(id, strlen(id)) ||
	    (gslot != -1 && fcntl(gslot, F_GETFD) == -1) ||
	    (tslot != -1 && fcntl(tslot, F_GETFD) == -1) ||
	    fcntl(lockfd, F_GETFD) == -1)
		fatalx("supervise: this command is run by spoolcgi itself, "
		    "through the configured launcher");
	memset(&a, 0, sizeof(a));
	a.store = s;
	a.cfg = cfg;
	a.task = NULL;		/* the job's, once it is claimed */
	memcpy(a.id, id, sizeof(a.id));
	a.key = key;
	a.gslot = gslot;
	a.tslot = tslot;
	a.lockfd = lockfd;
	a.own = 1;
	lc_supervise(&a);
}

/*
 * Start the supervisor of job a->id (queued, its lock held in a->lockfd),
 * handing it the job's lock and the slot locks, which it holds for its
 * life.  It is this program exec'd as "spoolcgi -c CONFIG -- supervise ID
 * GSLOT TSLOT LOCK KEY", the three locks as descriptors 3, 4 and 5, under
 * the configured launcher if there is one (e.g. systemd-run --scope, so
 * that a job leaves the web server's cgroup and survives its restart);
 * forked from this process image where there is no program to exec (the
 * unit tests) or where no listen socket is held (a supervisor starting
 * the next job).  Returns 0 once the supervisor exists, and so holds the
 * job, or -1 (logged).
 */
static int
lc_spawn(struct lc_start *a)
{
	char	 num[4][24], **av;
	size_t	 n = 0, i;
	int	 pass[3], rc;

	pass[0] = a->gslot;
	pass[1] = a->tslot;
	pass[2] = a->lockfd;
	if (a->cfg->self == NULL ||
	    (a->cfg->forks && a->cfg->launcher == NULL))
		return proc_detach(lc_supervisor_main, a, pass, 3);
	for (i = 0; a->cfg->launcher != NULL && a->cfg->launcher[i] != NULL;
	    i++)
		;
	if ((av = calloc(i + 12, sizeof(*av))) == NULL) {
		log_warn("job %s: the supervisor's argv", a->id);
		return -1;
	}
	for (i = 0; a->cfg->launcher != NULL && a->cfg->launcher[i] != NULL;
	    i++)
		av[n++] = a->cfg->launcher[i];
	snprintf(num[0], sizeof(num[0]), "3");
	snprintf(num[1], sizeof(num[1]), "%d", a->tslot == -1 ? -1 : 4);
	snprintf(num[2], sizeof(num[2]), "5");
	snprintf(num[3], sizeof(num[3]), "%llu", a->key);
	av[n++] = (char *)a->cfg->self;
	av[n++] = (char *)"-c";
	av[n++] = a->cfg->path;
	av[n++] = (char *)"--";		/* "-1", a missing slot, is no option */
	av[n++] = (char *)"supervise";
	av[n++] = a->id;
	for (i = 0; i < 4; i++)
		av[n++] = num[i];
	av[n] = NULL;
	rc = proc_spawn(a->cfg->spawner, av, pass, 3, 0);
	free(av);
	return rc;
}

/* ------------------------------------------------------------ clean-up */

struct lc_gc {
	struct store		*store;
	const struct config	*cfg;
	time_t			 now;
	struct gcstats		*gs;
	struct metric		*tally;		/* jobs by task and state */
	size_t			 ntally;
	int			 tally_bad;	/* out of memory: not written */
};

/* Count job st in g's tally, which the walk hands the store's counters. */
static void
lc_gc_tally(struct lc_gc *g, const struct jobstatus *st)
{
	struct metric	*m;
	const char	*state = job_state_name(st->state);
	size_t		 i;

	for (i = 0; i < g->ntally; i++)
		if (strcmp(g->tally[i].task, st->task) == 0 &&
		    strcmp(g->tally[i].label, state) == 0) {
			g->tally[i].value++;
			return;
		}
	if ((m = reallocarray(g->tally, g->ntally + 1, sizeof(*m))) == NULL) {
		g->tally_bad = 1;
		return;
	}
	g->tally = m;
	m = &g->tally[g->ntally++];
	memset(m, 0, sizeof(*m));
	m->kind = METRIC_JOBS;
	snprintf(m->task, sizeof(m->task), "%s", st->task);
	snprintf(m->label, sizeof(m->label), "%s", state);
	m->value = 1;
}

/* One job, seen by the clean-up: settle, requeue, or expire it. */
static int
lc_gc_job(void *arg, const char *id)
{
	struct lc_gc		*g = arg;
	struct jobstatus	 st;

	if (store_read(g->store, id, &st) != STORE_OK)
		return 0;
	if (st.state == JOB_RUNNING) {
		if (lc_check_running(g->store, g->cfg, id, &st) == 0 &&
		    st.state != JOB_RUNNING)
			g->gs->settled++;
		lc_gc_tally(g, &st);
		return 0;
	}
	if (st.state == JOB_QUEUED) {
		if (store_queue_readd(g->store, id) == 1) {
			log_warnx("job %s: queued without a queue entry (a "
			    "crash?): queued again", id);
			g->gs->requeued++;
		}
		lc_gc_tally(g, &st);
		return 0;
	}
	if (st.finished_at == 0 ||
	    g->now - st.finished_at < g->cfg->keep_finished_seconds) {
		lc_gc_tally(g, &st);
		return 0;
	}
	if (store_remove(g->store, id, 1) == 0)
		g->gs->expired++;
	else
		lc_gc_tally(g, &st);
	return 0;
}

/*
 * The clean-up: settle interrupted jobs, give queued jobs that lost
 * their queue entry a new one, remove finished jobs older than
 * keep_finished_seconds (leaving tombstones), then the store's own
 * leftovers.  The only walk over every job; it runs outside any request.
 * Returns LC_OK, LC_FULL when another clean-up runs, or LC_ERR (logged).
 */
int
lifecycle_gc(struct store *s, const struct config *cfg, time_t now,
    struct gcstats *gs)
{
	struct lc_gc	 g;
	int		 lfd;

	memset(gs, 0, sizeof(*gs));
	if ((lfd = store_gc_begin(s, now)) == -1)
		return errno == EWOULDBLOCK ? LC_FULL : LC_ERR;
	memset(&g, 0, sizeof(g));
	g.store = s;
	g.cfg = cfg;
	g.now = now;
	g.gs = gs;
	if (store_gc_jobs(s, lc_gc_job, &g) == -1) {
		free(g.tally);
		store_gc_end(s, lfd, cfg->tombstone_seconds, now, gs);
		return LC_ERR;
	}
	/* The walk saw every job: the counters of jobs by state start anew. */
	if (!g.tally_bad)
		(void)store_metric_rebase(s, g.tally, g.ntally);
	free(g.tally);
	store_gc_end(s, lfd, cfg->tombstone_seconds, now, gs);
	store_recovery_done(s);
	(void)lifecycle_dispatch(s, cfg);
	if (gs->expired || gs->tombstones || gs->temps || gs->keys ||
	    gs->settled || gs->requeued)
		log_info("gc: removed %d expired jobs, %d tombstones, %d "
		    "stale temporaries, %d keys; %d interrupted jobs settled, "
		    "%d requeued", gs->expired, gs->tombstones, gs->temps,
		    gs->keys, gs->settled, gs->requeued);
	return LC_OK;
}

struct lc_gcarg {
	const char		*path;
	const struct config	*cfg;
	int			 cgi;
};

/* The detached clean-up process.  Never returns. */
static void __attribute__((noreturn))
lc_gc_main(void *arg)
{
	struct lc_gcarg	*g = arg;
	struct store	*s;
	struct gcstats	 gs;
	int		 fd;

	/* mod_cgi waits for EOF on stderr: let go of it too. */
	if (g->cgi && (fd = open("/dev/null", O_RDWR)) != -1)
		(void)dup2(fd, 2);
	if ((s = store_open(g->path)) == NULL)
		_exit(1);
	(void)lifecycle_gc(s, g->cfg, time(NULL), &gs);
	store_close(s);
	_exit(0);
}

/*
 * Start a clean-up when one is due, in a detached process ("spoolcgi -c
 * CONFIG -- cleanup", or forked where there is no program to exec): never
 * inside a request's time.  cgi: the caller is a plain CGI process.
 */
void
lifecycle_gc_spawn(struct store *s, const struct config *cfg, int cgi)
{
	struct lc_gcarg	 g;
	char		*av[6];

	if (!store_gc_due(s, cfg->gc_interval_seconds, time(NULL)))
		return;
	if (cfg->self != NULL) {
		av[0] = (char *)cfg->self;
		av[1] = (char *)"-c";
		av[2] = cfg->path;
		av[3] = (char *)"--";
		av[4] = (char *)"cleanup";
		av[5] = NULL;
		/* mod_cgi waits for EOF on stderr: let go of it too. */
		(void)proc_spawn(cfg->spawner, av, NULL, 0, cgi);
		return;
	}
	g.path = store_path(s);
	g.cfg = cfg;
	g.cgi = cgi;
	(void)proc_detach(lc_gc_main, &g, NULL, 0);
}

/* "spoolcgi cleanup": the clean-up a request started.  Quiet. */
void
lifecycle_cleanup(struct store *s, const struct config *cfg)
{
	struct gcstats	 gs;

	(void)lifecycle_gc(s, cfg, time(NULL), &gs);
}
