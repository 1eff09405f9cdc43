/*
 * What a dispatch costs as the spool grows: the same measurements with
 * 100 and with 10,000 finished jobs in jobs/, and 50 queued behind two
 * busy slots.  Dispatch reads the queue's next entry and tries the slot
 * locks; it must not read jobs/ (spool.c, "Dispatch").
 * Usage: dispatch [NJOBS...]
 */
#include "config.h"

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
finish(struct jobstatus *st, void *arg)
{
	(void)arg;
	st->state = JOB_SUCCEEDED;
	return 1;
}

static void
make_job(struct store *sp, enum job_state state)
{
	struct jobstatus	 st;
	unsigned long long	 oh;
	char			 oid[SPOOLCGI_ID_LEN + 1];
	int			 fd;

	memset(&st, 0, sizeof(st));
	job_id_new(st.id);
	strcpy(st.task, "t");
	st.state = JOB_QUEUED;
	st.progress = -1;
	st.created_at = time(NULL);
	if ((fd = store_stage(sp, st.id)) == -1)
		exit(1);
	close(fd);
	if (store_submit(sp, &st, "{}", 2, 1 << 30, "", 0, oid, &oh, NULL) !=
	    STORE_OK)
		exit(1);
	if (state != JOB_QUEUED &&
	    store_update(sp, st.id, finish, NULL, &st) != STORE_OK)
		exit(1);
}

static void
measure(int njobs)
{
	struct config	 cfg;
	struct task	 t;
	struct store	*sp;
	char		 dir[] = "/var/tmp/dispatch-bench.XXXXXX", cmd[128];
	char		*argv[] = { (char *)"/bin/true", NULL };
	double		 t0, t1;
	int		 i, g1, g2, q, r, reps = 2000;

	if (mkdtemp(dir) == NULL || (sp = store_open(dir)) == NULL)
		exit(1);
	memset(&cfg, 0, sizeof(cfg));
	memset(&t, 0, sizeof(t));
	t.name = (char *)"t";
	t.command = argv;
	cfg.tasks = &t;
	cfg.ntasks = 1;
	cfg.max_running = 2;
	cfg.max_queued = 1 << 30;
	for (i = 0; i < njobs; i++)
		make_job(sp, JOB_SUCCEEDED);
	for (i = 0; i < 50; i++)
		make_job(sp, JOB_QUEUED);
	/* Both slots busy: dispatch decides, but starts nothing. */
	g1 = store_slot_take(sp, "g", 2);
	g2 = store_slot_take(sp, "g", 2);
	/* The first dispatch of a new spool runs its recovery (a walk). */
	lifecycle_dispatch(sp, &cfg);

	t0 = now();
	for (i = 0; i < reps; i++)
		lifecycle_dispatch(sp, &cfg);
	t1 = now();
	printf("%6d finished jobs, 50 queued: dispatch %.1f us", njobs,
	    (t1 - t0) / reps * 1e6);
	t0 = now();
	for (i = 0; i < reps; i++)
		store_counts(sp, cfg.max_running, &q, &r);
	t1 = now();
	printf(", /health counts %.1f us (queued %d, running %d)\n",
	    (t1 - t0) / reps * 1e6, q, r);
	close(g1);
	close(g2);
	store_close(sp);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		exit(1);
}

int
main(int argc, char *argv[])
{
	int	 i;

	if (argc < 2) {
		measure(100);
		measure(10000);
	}
	for (i = 1; i < argc; i++)
		measure(atoi(argv[i]));
	return 0;
}
