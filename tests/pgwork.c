/*
 * pgwork: a worker's side of the PostgreSQL store for tests/e2e/pgflow.test,
 * through pg.c as a worker does it, one step at a time, so that the test
 * decides when a job runs and ends and checks what the front answers in
 * between (a real "spoolcgi worker" runs its jobs at its own pace).
 * $PGWORK_CONNINFO is the database.
 *
 *   pgwork claim PROGRESS MESSAGE LOG
 *        claims the next job (FIFO, the caps of the configuration in
 *        $PGWORK_CONFIG), takes its lock and heartbeats once with
 *        PROGRESS, MESSAGE and LOG as its log tail; prints
 *        "ID SEQ ATTEMPT".  The job stays running when this exits.
 *   pgwork finish ID SEQ ATTEMPT STATE [RESULT-FILE]
 *        takes that attempt's lock again and writes its end: STATE
 *        (succeeded, failed, cancelled), the result from RESULT-FILE
 *
 * Exits 0, 1 (a failure), 3 (nothing to claim; fenced out) or 2 (usage).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

#if defined(HAVE_LIBPQ)

static int
usage(void)
{
	fprintf(stderr, "usage: pgwork claim PROGRESS MESSAGE LOG | "
	    "finish ID SEQ ATTEMPT STATE [RESULT-FILE]\n");
	return 2;
}

static int
pgwork_claim(struct pg *pg, char *argv[])
{
	struct config	 cfg;
	struct pgrun	 run;
	const char	*path = getenv("PGWORK_CONFIG");
	char		 err[512];
	int		 rc;

	memset(&cfg, 0, sizeof(cfg));
	if (path == NULL || config_load(&cfg, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "pgwork: $PGWORK_CONFIG: %s\n", path == NULL ?
		    "not set" : err);
		return 1;
	}
	rc = pg_claim(pg, &cfg, NULL, 0, 0, "pgwork", &run);
	config_free(&cfg);
	if (rc != STORE_OK)
		return rc == STORE_NOENT ? 3 : 1;
	if (pg_run_lock(pg, &run) != STORE_OK ||
	    pg_run_beat(&run, atoi(argv[0]), argv[1], argv[2],
	    strlen(argv[2]), NULL) != STORE_OK)
		return 1;
	printf("%s %lld %d\n", run.st.id, run.seq, run.attempt);
	return 0;
}

static int
pgwork_finish(struct pg *pg, int argc, char *argv[])
{
	struct pgrun	 run;
	struct buf	 b = { 0 };
	struct jobstatus st;
	char		 chunk[65536];
	FILE		*f;
	size_t		 n;
	int		 rc;

	memset(&run, 0, sizeof(run));
	snprintf(run.st.id, sizeof(run.st.id), "%s", argv[0]);
	run.seq = strtoll(argv[1], NULL, 10);
	run.attempt = atoi(argv[2]);
	memset(&st, 0, sizeof(st));
	if (job_state_parse(argv[3], &st.state) == -1)
		return usage();
	st.progress = st.state == JOB_SUCCEEDED ? 100 : -1;
	if (st.state == JOB_FAILED) {
		snprintf(st.error_code, sizeof(st.error_code), "exit");
		snprintf(st.error_message, sizeof(st.error_message),
		    "the task exited with status 1");
	}
	if (argc > 4) {
		if ((f = fopen(argv[4], "rb")) == NULL) {
			perror(argv[4]);
			return 1;
		}
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			if (buf_append(&b, chunk, n) == -1)
				return 1;
		fclose(f);
	}
	if ((rc = pg_run_lock(pg, &run)) != STORE_OK)
		return rc == STORE_NOENT ? 3 : 1;
	rc = pg_run_finish(&run, &st, argc > 4 ? (b.data != NULL ? b.data :
	    "") : NULL, b.len);
	buf_free(&b);
	return rc == STORE_OK ? 0 : rc == STORE_NOENT ? 3 : 1;
}

int
main(int argc, char *argv[])
{
	const char	*conninfo = getenv("PGWORK_CONNINFO");
	struct pg	*pg;
	int		 rc;

	if (argc < 2)
		return usage();
	if (conninfo == NULL) {
		fprintf(stderr, "pgwork: $PGWORK_CONNINFO is not set\n");
		return 2;
	}
	if (strcmp(argv[1], "claim") == 0 && argc == 5) {
		if ((pg = pg_open(conninfo)) == NULL)
			return 1;
		rc = pgwork_claim(pg, argv + 2);
	} else if (strcmp(argv[1], "finish") == 0 && (argc == 6 ||
	    argc == 7)) {
		if ((pg = pg_open(conninfo)) == NULL)
			return 1;
		rc = pgwork_finish(pg, argc - 2, argv + 2);
	} else
		return usage();
	pg_close(pg);
	return rc;
}

#else

int
main(void)
{
	fprintf(stderr, "pgwork: the PostgreSQL store is not compiled in\n");
	return 2;
}

#endif
