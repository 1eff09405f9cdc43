/*
 * The queue and dispatch, without a daemon (issue: no broker, no cron).
 *
 * A job is queued when it is created.  Whoever might free a slot or add
 * work dispatches: the request that started a job, the supervisor of a
 * job that just ended, and a poll of a job still waiting (so a crash of
 * any process never leaves the queue stuck).  Dispatch runs under
 * dispatch.lock, walks queue/ first in first out and gives each waiting
 * job a free global slot (and a slot of its task when the task has its
 * own max_running) until none is left.  A job whose task is at its limit
 * is passed over, not skipped for good: it keeps its place.
 */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

/* Drop a queue entry that no longer stands for a waiting job. */
static void
queue_drop(struct spool *sp, const struct qentry *q)
{
	struct jobstatus	 st;

	memset(&st, 0, sizeof(st));
	memcpy(st.id, q->id, sizeof(st.id));
	st.queue_key = q->key;
	spool_queue_remove(sp, &st);
}

/* Record that a queued job's task is no longer configured. */
static void
queue_fail_unknown(struct spool *sp, const char *id)
{
	struct jobstatus	 st;
	int			 dfd, lfd = -1;

	if ((dfd = spool_job_open(sp, id)) == -1)
		return;
	if ((lfd = spool_job_lock(dfd, 1)) != -1 &&
	    spool_status_readat(dfd, &st) == 0 && st.state == JOB_QUEUED) {
		st.state = JOB_FAILED;
		st.finished_at = time(NULL);
		snprintf(st.error_code, sizeof(st.error_code), "spawn");
		snprintf(st.error_message, sizeof(st.error_message),
		    "the task '%s' is no longer in the configuration", st.task);
		if (spool_status_write(dfd, &st, 1) == -1)
			log_warn("job %s: write status", id);
		spool_queue_remove(sp, &st);
	}
	if (lfd != -1)
		close(lfd);
	close(dfd);
}

/*
 * Start queued jobs while slots are free.  The caller may already hold
 * the dispatch lock (lfd >= 0); otherwise it is taken here.  Returns the
 * number of jobs started, or -1.
 */
int
queue_dispatch(struct spool *sp, const struct config *cfg, int lfd)
{
	struct qentry		*q = NULL;
	struct jobstatus	 st;
	const struct task	*t;
	size_t			 n = 0, i;
	char			 class[SPOOLCGI_NAME_MAX + 8];
	int			 own = 0, gslot, tslot, started = 0;

	if (lfd == -1) {
		if ((lfd = spool_dispatch_lock(sp)) == -1)
			return -1;
		own = 1;
	}
	if (spool_queue_list(sp, &q, &n) == -1) {
		log_warn("dispatch: list %s/queue", sp->path);
		started = -1;
		goto done;
	}
	for (i = 0; i < n; i++) {
		if ((gslot = spool_slot_take(sp, "g", cfg->max_running)) == -1)
			break;		/* every slot is busy */
		if (spool_job_check(sp, cfg, q[i].id, &st) == -1) {
			if (errno == ENOENT)
				queue_drop(sp, &q[i]);	/* removed */
			close(gslot);
			continue;
		}
		if (st.state != JOB_QUEUED || st.queue_key != q[i].key) {
			/* Started, cancelled, or queued anew elsewhere. */
			queue_drop(sp, &q[i]);
			close(gslot);
			continue;
		}
		if ((t = config_task(cfg, st.task)) == NULL) {
			queue_fail_unknown(sp, st.id);
			close(gslot);
			continue;
		}
		tslot = -1;
		if (t->max_running > 0) {
			snprintf(class, sizeof(class), "t.%s", t->name);
			if ((tslot = spool_slot_take(sp, class,
			    t->max_running)) == -1) {
				close(gslot);
				continue;	/* its task is at its limit */
			}
		}
		if (supervise_start(sp, cfg, t, st.id, gslot, tslot) == 0)
			started++;
		close(gslot);
		if (tslot != -1)
			close(tslot);
	}
done:
	free(q);
	if (own)
		close(lfd);
	return started;
}

/*
 * Publish prepared job st (staged in tmp/, status queued, queue_key set)
 * and queue it, unless the queue is full; then dispatch.  All of it under
 * the dispatch lock, so that no dispatcher ever sees the job without its
 * queue entry or the entry without its job.  claim (may be NULL) runs
 * once the job exists and before it is queued: the idempotency key is
 * claimed there, so a racing repeat finds a job behind every key; when
 * claim returns non-zero the job is withdrawn before it could start.
 * Returns 0 when queued, 1 when the queue is full (the staging is left
 * for the caller to abort), 2 when claim declined (the job is removed),
 * or -1 after logging (nothing is left).
 */
int
queue_submit(struct spool *sp, const struct config *cfg, struct jobstatus *st,
    int (*claim)(void *), void *arg)
{
	struct qentry	*q = NULL;
	size_t		 n = 0;
	int		 lfd, rc;

	if ((lfd = spool_dispatch_lock(sp)) == -1)
		return -1;
	if (spool_queue_list(sp, &q, &n) == -1) {
		log_warn("submit: list %s/queue", sp->path);
		close(lfd);
		return -1;
	}
	free(q);
	if (n >= (size_t)cfg->max_queued) {
		close(lfd);
		return 1;
	}
	if (spool_job_publish(sp, st->id) == -1) {
		close(lfd);
		return -1;
	}
	if (claim != NULL && (rc = claim(arg)) != 0) {
		if (spool_job_remove(sp, st->id, 0) == -1)
			log_warn("job %s: withdraw", st->id);
		close(lfd);
		return rc == -1 ? -1 : 2;
	}
	if (spool_queue_add(sp, st) == -1) {
		if (spool_job_remove(sp, st->id, 0) == -1)
			log_warn("job %s: withdraw", st->id);
		close(lfd);
		return -1;
	}
	queue_dispatch(sp, cfg, lfd);
	close(lfd);
	return 0;
}

/*
 * A queued job without a queue entry, seen under the dispatch lock, lost
 * it to a crash (queue_submit and the retry path write both under that
 * lock): queue it again and dispatch.  Returns 1 when it was requeued, 0
 * when it had an entry or is no longer queued, -1 on error.
 */
int
queue_requeue_lost(struct spool *sp, const struct config *cfg,
    struct jobstatus *st)
{
	int	 lfd, dfd, jl, rc = 0;

	if ((lfd = spool_dispatch_lock(sp)) == -1)
		return -1;
	if (spool_queue_position(sp, st) == 0 &&
	    (dfd = spool_job_open(sp, st->id)) != -1) {
		if ((jl = spool_job_lock(dfd, 1)) != -1) {
			if (spool_status_readat(dfd, st) == 0 &&
			    st->state == JOB_QUEUED &&
			    spool_queue_add(sp, st) == 0) {
				log_warnx("job %s: queued without a queue "
				    "entry (a crash?): queued again", st->id);
				rc = 1;
			}
			close(jl);
		}
		close(dfd);
	}
	if (rc == 1)
		queue_dispatch(sp, cfg, lfd);
	close(lfd);
	return rc;
}
