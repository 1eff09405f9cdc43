/*
 * pg.c, the PostgreSQL store, against a real server: run by
 * tests/e2e/pg.test, which starts one and sets
 *
 *   PGT_CONNINFO  a libpq connection string to an empty database
 *   PGT_RESTART   a command that restarts the server with
 *                 "pg_ctl -m immediate" (a crash, as far as the
 *                 clients and the WAL are concerned)
 *
 * Raw libpq (the "admin" connection) only looks and arranges; every
 * operation under test goes through pg.c.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#if defined(HAVE_LIBPQ)

#include "tap.h"

#include <libpq-fe.h>

#define GRACE		2	/* the tests' grace, seconds */
#define RGRACE		5	/* the grace across a restart */
#define NJOBS		50	/* the race of the claimers */

static const char	*conninfo;
static PGconn		*admin;

/* One value of sql on the admin connection, or "" (and a diagnostic). */
static const char *
sql1(const char *sql)
{
	static char	 v[256];
	PGresult	*res;

	v[0] = '\0';
	res = PQexec(admin, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
		snprintf(v, sizeof(v), "%s", PQgetvalue(res, 0, 0));
	else if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		printf("# admin: %s: %s", sql, PQerrorMessage(admin));
	PQclear(res);
	return v;
}

static void
admin_open(void)
{
	PQfinish(admin);
	admin = PQconnectdb(conninfo);
	if (PQstatus(admin) != CONNECTION_OK) {
		printf("Bail out! admin connection: %s", PQerrorMessage(admin));
		exit(1);
	}
}

static int
count_state(const char *state)
{
	char	 sql[256];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM spoolcgi_job WHERE "
	    "state = '%s'", state);
	return atoi(sql1(sql));
}

static void
restart(void)
{
	const char	*cmd = getenv("PGT_RESTART");

	fflush(stdout);
	if (cmd == NULL || system(cmd) != 0) {
		printf("Bail out! the restart failed\n");
		exit(1);
	}
	admin_open();
}

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
pause_ms(int ms)
{
	poll(NULL, 0, ms);
}

/* A new job of task for owner with input, submitted; its id in st. */
static int
submit(struct pg *pg, struct jobstatus *st, const char *task,
    const char *owner, const char *input, size_t len, const char *key)
{
	char			 oid[SPOOLCGI_ID_LEN + 1];
	unsigned long long	 oh;

	memset(st, 0, sizeof(*st));
	if (job_id_new(st->id) == -1)
		return STORE_ERR;
	snprintf(st->task, sizeof(st->task), "%s", task);
	st->created_at = time(NULL);
	return pg_submit(pg, st, owner, input, len, 1000, key, 42, oid, &oh);
}

static struct task	 tasks[2];
static struct config	 cfg;

static void
test_schema(struct pg *pg)
{
	char	 sql[128], newer[32], ours[32];
	int	 v, from, to;

	snprintf(newer, sizeof(newer), "version %d", PG_SCHEMA_VERSION + 1);
	snprintf(ours, sizeof(ours), "'s %d", PG_SCHEMA_VERSION);
	ok(pg_schema_version(pg, &v) == 0 && v == 0,
	    "an empty database has no schema (version 0)");
	ok(pg_schema_check(pg) == -1 && strstr(pg_error(pg), "db init"),
	    "the store refuses a database without the schema: %s",
	    pg_error(pg));
	ok(pg_migrate(pg, &from, &to) == 0 && from == 0 &&
	    to == PG_SCHEMA_VERSION, "the migrations make version %d",
	    PG_SCHEMA_VERSION);
	ok(pg_schema_check(pg) == 0, "the store accepts its schema");
	ok(pg_migrate(pg, &from, &to) == 0 && from == to &&
	    to == PG_SCHEMA_VERSION, "migrating again changes nothing");
	is_str(sql1("SELECT count(*) FROM spoolcgi_schema"), "1",
	    "the version is one row");
	snprintf(sql, sizeof(sql), "UPDATE spoolcgi_schema SET version = %d",
	    PG_SCHEMA_VERSION + 1);
	sql1(sql);
	ok(pg_schema_check(pg) == -1 && strstr(pg_error(pg), "newer") &&
	    strstr(pg_error(pg), newer) && strstr(pg_error(pg), ours),
	    "a newer schema is refused, naming both versions: %s",
	    pg_error(pg));
	ok(pg_migrate(pg, &from, &to) == -1 && from == PG_SCHEMA_VERSION + 1,
	    "and is not migrated");
	snprintf(sql, sizeof(sql), "UPDATE spoolcgi_schema SET version = %d",
	    PG_SCHEMA_VERSION);
	sql1(sql);
}

/*
 * A poll's read (pg_read): one prepared statement (and the tombstone
 * only for an id without a row), prepared again on a new session, failing (not answering
 * wrongly) when the table changed under it.  Only pg's session is the
 * program's here ("spoolcgi", as pg_open names it).
 */
static void
test_poll(struct pg *pg)
{
	struct jobstatus	 j, r;
	char			 sql[256], gone[SPOOLCGI_ID_LEN + 1];
	int			 i, good = 0;

	ok(submit(pg, &j, "alpha", "c1", "{}", 2, NULL) == STORE_OK,
	    "a job to poll");
	for (i = 0; i < 10; i++)
		if (pg_read(pg, j.id, &r, NULL) == STORE_OK &&
		    strcmp(r.id, j.id) == 0 && r.state == JOB_QUEUED &&
		    r.queue_position == 1 && strcmp(r.task, "alpha") == 0)
			good++;
	is_int(good, 10, "ten polls on one session (prepared once), each "
	    "the job as submitted");
	job_id_new(gone);
	ok(pg_read(pg, gone, &r, NULL) == STORE_NOENT, "an unknown id: NOENT");
	snprintf(sql, sizeof(sql), "INSERT INTO spoolcgi_tombstone (id, "
	    "gone_until) VALUES ('%s', now() + interval '1 hour')", gone);
	sql1(sql);
	ok(pg_read(pg, gone, &r, NULL) == STORE_GONE,
	    "its tombstone standing: GONE");
	sql1("UPDATE spoolcgi_tombstone SET gone_until = now() - "
	    "interval '1 second'");
	ok(pg_read(pg, gone, &r, NULL) == STORE_NOENT,
	    "its tombstone past its time: NOENT");
	sql1("DELETE FROM spoolcgi_tombstone");

	is_str(sql1("SELECT count(pg_terminate_backend(pid)) FROM "
	    "pg_stat_activity WHERE application_name = 'spoolcgi' AND "
	    "pid <> pg_backend_pid()"), "1", "the store's session is ended "
	    "by the server");
	ok(pg_read(pg, j.id, &r, NULL) == STORE_ERR,
	    "a poll on the ended session fails");
	ok(pg_reconnect(pg) == 1 && pg_read(pg, j.id, &r, NULL) == STORE_OK &&
	    strcmp(r.id, j.id) == 0 && pg_read(pg, j.id, &r, NULL) ==
	    STORE_OK, "after pg_reconnect the statement is prepared on the "
	    "new session: polls succeed");

	sql1("ALTER TABLE spoolcgi_job RENAME COLUMN message TO message_was");
	ok(pg_read(pg, j.id, &r, NULL) == STORE_ERR &&
	    strstr(pg_error(pg), "message") != NULL, "a column gone under "
	    "the prepared statement: the poll fails, naming it: %s",
	    pg_error(pg));
	sql1("ALTER TABLE spoolcgi_job RENAME COLUMN message_was TO message");
	ok(pg_read(pg, j.id, &r, NULL) == STORE_OK && r.state == JOB_QUEUED,
	    "and succeeds once it is back");
	sql1("DELETE FROM spoolcgi_job");
}

static int
notified(PGconn *c, const char *channel, const char *payload)
{
	PGnotify	*n;
	double		 end = now_s() + 10;
	int		 found = 0;

	while (!found && now_s() < end) {
		PQconsumeInput(c);
		while ((n = PQnotifies(c)) != NULL) {
			if (strcmp(n->relname, channel) == 0 &&
			    strcmp(n->extra, payload) == 0)
				found = 1;
			PQfreemem(n);
		}
		if (!found)
			pause_ms(20);
	}
	return found;
}

static void
test_submit(struct pg *pg)
{
	struct jobstatus	 a, b, r;
	struct buf		 in = { 0 };
	static const char	 input[] = "{\"x\":\"\0binary\377\"}";
	char			 oid[SPOOLCGI_ID_LEN + 1] = "";
	unsigned long long	 oh = 0;
	PGconn			*l;
	int			 cancel = -1;

	l = PQconnectdb(conninfo);
	PQclear(PQexec(l, "LISTEN spoolcgi_queued"));
	ok(submit(pg, &a, "alpha", "client1", input, sizeof(input),
	    NULL) == STORE_OK, "a job is submitted");
	ok(notified(l, "spoolcgi_queued", a.id),
	    "the submit notifies spoolcgi_queued with its id");
	PQfinish(l);
	ok(pg_read(pg, a.id, &r, &cancel) == STORE_OK, "it reads back");
	is_str(r.id, a.id, "its id");
	is_str(r.task, "alpha", "its task");
	ok(r.state == JOB_QUEUED && r.queue_position == 1 && r.progress == -1
	    && r.attempts == 0 && cancel == 0 && r.created_at == a.created_at,
	    "queued, first in the queue, no progress, no attempt yet");
	ok(pg_blob_read(pg, a.id, 0, &in) == STORE_OK &&
	    in.len == sizeof(input) && memcmp(in.data, input, in.len) == 0,
	    "its input is byte-exact, NUL and all");
	ok(pg_blob_read(pg, a.id, 1, &in) == STORE_NOENT,
	    "it has no result yet");
	ok(submit(pg, &b, "alpha", "client1", "{}", 2, NULL) == STORE_OK &&
	    pg_read(pg, b.id, &r, NULL) == STORE_OK && r.queue_position == 2,
	    "a second job is second in the queue");
	ok(pg_read(pg, "00000000-0000-4000-8000-000000000000", &r, NULL) ==
	    STORE_NOENT, "an unknown id is STORE_NOENT");
	ok(pg_read(pg, "'; DROP TABLE spoolcgi_job; --", &r, NULL) ==
	    STORE_NOENT, "a malformed id is STORE_NOENT, never a query");

	/* Idempotency keys: unique by themselves (the front scopes them). */
	ok(submit(pg, &a, "alpha", "client1", "{}", 2, "k1") == STORE_OK,
	    "a job with a key");
	memset(&b, 0, sizeof(b));
	job_id_new(b.id);
	snprintf(b.task, sizeof(b.task), "alpha");
	ok(pg_submit(pg, &b, "client1", "{}", 2, 1000, "k1", 7, oid, &oh) ==
	    STORE_TAKEN, "the same key again is STORE_TAKEN");
	is_str(oid, a.id, "naming the key's job");
	is_int(oh, 42, "and its request's hash");
	ok(pg_read(pg, b.id, &r, NULL) == STORE_NOENT,
	    "and leaves nothing behind");
	ok(submit(pg, &b, "alpha", "client2", "{}", 2, "k1") == STORE_TAKEN,
	    "another owner's same key, unscoped, is the same key");
	ok(submit(pg, &b, "alpha", "client2", "{}", 2, "client2~k1") ==
	    STORE_OK, "scoped by the front, it is another job");
	is_int(count_state("queued"), 4, "four queued");
	memset(&b, 0, sizeof(b));
	job_id_new(b.id);
	snprintf(b.task, sizeof(b.task), "alpha");
	ok(pg_submit(pg, &b, "client3", "{}", 2, 4, NULL, 0, oid, &oh) ==
	    STORE_FULL, "max_queued 4 with four queued: STORE_FULL");
	ok(pg_read(pg, b.id, &r, NULL) == STORE_NOENT,
	    "and leaves nothing behind");
	buf_free(&in);
	sql1("DELETE FROM spoolcgi_job");
}

/* The advisory locks of clients (pg_client_admit) held now. */
static int
client_locks(void)
{
	return atoi(sql1("SELECT count(*) FROM pg_locks WHERE locktype = "
	    "'advisory' AND classid = 1936748387 AND objsubid = 2 AND "
	    "granted"));
}

/* Admit a start from client, submit it, tag it: pg_client_admit's rc. */
static int
client_start(struct pg *pg, const char *client, int maxjobs,
    struct jobstatus *st)
{
	int	 rc, retry = -1;

	if ((rc = pg_client_admit(pg, client, maxjobs, 0, &retry)) != 0)
		return rc == 1 && retry == 30 ? 1 : -1;
	if (submit(pg, st, "alpha", "", "{}", 2, NULL) != STORE_OK) {
		pg_client_done(pg, client, NULL);
		return -1;
	}
	return pg_client_done(pg, client, st->id);
}

/*
 * What fronts share: the owners' secret (one, whoever offers first,
 * racing processes included) and the per-client limits.
 */
static void
test_shared(struct pg *pg)
{
	unsigned char	 a[STORE_SECRET_LEN], b[STORE_SECRET_LEN];
	unsigned char	 out[STORE_SECRET_LEN], got[STORE_SECRET_LEN];
	struct jobstatus j1, j2, j3, r;
	struct pg	*pg2;
	pid_t		 pids[4];
	int		 fds[2], i, n, same, retry, status;
	static const char evil[] = "'; DROP TABLE spoolcgi_job; --";

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	ok(pg_secret(pg, NULL, out) == 1, "no secret yet: pg_secret says so");
	is_str(sql1("SELECT count(*) FROM spoolcgi_secret"), "0",
	    "and makes none");
	ok(pg_secret(pg, a, out) == 0 && memcmp(out, a, sizeof(a)) == 0,
	    "the first offer becomes the secret");
	if ((pg2 = pg_open(conninfo)) == NULL) {
		printf("Bail out! pg_open %s\n", conninfo);
		exit(1);
	}
	ok(pg_secret(pg2, b, out) == 0 && memcmp(out, a, sizeof(a)) == 0,
	    "another front's offer reads the first's");
	ok(pg_secret(pg2, NULL, out) == 0 && memcmp(out, a, sizeof(a)) == 0,
	    "and so does a plain read");
	sql1("DELETE FROM spoolcgi_secret");
	if (pipe(fds) == -1) {
		printf("Bail out! pipe\n");
		exit(1);
	}
	fflush(stdout);
	for (i = 0; i < 4; i++) {
		if ((pids[i] = fork()) == 0) {
			struct pg	*c;

			close(fds[0]);
			memset(b, 'A' + i, sizeof(b));
			if ((c = pg_open(conninfo)) == NULL ||
			    pg_secret(c, b, out) != 0 ||
			    write(fds[1], out, sizeof(out)) != sizeof(out))
				_exit(1);
			_exit(0);
		}
	}
	close(fds[1]);
	for (i = n = 0, same = 1; i < 4; i++) {
		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			same = 0;
		if (read(fds[0], i == 0 ? got : out, sizeof(out)) ==
		    sizeof(out))
			n++;
		if (i > 0 && memcmp(got, out, sizeof(out)) != 0)
			same = 0;
	}
	close(fds[0]);
	ok(n == 4 && same && got[0] >= 'A' && got[0] <= 'D',
	    "four fronts racing to make it read one of their offers");
	is_str(sql1("SELECT count(*) FROM spoolcgi_secret"), "1",
	    "one row");

	/* max_jobs_per_client 2, counted from the rows across fronts. */
	ok(client_start(pg, "192.0.2.1", 2, &j1) == 0,
	    "a client's first start is admitted");
	is_int(client_locks(), 0, "its lock is given back when done");
	ok(client_start(pg2, "192.0.2.1", 2, &j2) == 0,
	    "its second, on another front, too");
	is_str(sql1("SELECT count(*) FROM spoolcgi_job WHERE client = "
	    "'192.0.2.1'"), "2", "both rows are tagged with the client");
	ok(client_start(pg, "192.0.2.1", 2, &j3) == 1,
	    "its third is over the limit, retry in 30 s");
	ok(client_start(pg2, "192.0.2.1", 2, &j3) == 1,
	    "on either front");
	is_int(client_locks(), 0, "a refusal gives the lock back");
	ok(client_start(pg2, "192.0.2.2", 2, &j3) == 0,
	    "another client is admitted");
	ok(pg_cancel(pg, j1.id, &r) == STORE_OK && client_start(pg, "192.0.2.1",
	    2, &j3) == 0, "a job that ended no longer counts");
	ok(client_start(pg, evil, 1, &j3) == 0 &&
	    client_start(pg2, evil, 1, &j3) == 1,
	    "a client key is a value, never SQL");
	ok(pg_client_admit(pg, "192.0.2.9", 5, 0, &retry) == 0 &&
	    client_locks() == 1, "admitted, the client's lock is held");
	ok(pg_client_done(pg, "192.0.2.9", NULL) == 0 && client_locks() == 0,
	    "done without a job, it is given back");

	/* client_starts_per_minute 2, in the database's minute. */
	ok(pg_client_admit(pg, "192.0.2.3", 0, 2, &retry) == 0 &&
	    pg_client_done(pg, "192.0.2.3", NULL) == 0 &&
	    pg_client_admit(pg2, "192.0.2.3", 0, 2, &retry) == 0 &&
	    pg_client_done(pg2, "192.0.2.3", NULL) == 0,
	    "two starts a minute: two admitted, across fronts");
	retry = -1;
	ok(pg_client_admit(pg, "192.0.2.3", 0, 2, &retry) == 1 &&
	    retry >= 1 && retry <= 60, "the third waits for the minute's end "
	    "(%d s)", retry);
	sql1("UPDATE spoolcgi_client SET window_start = now() - "
	    "interval '61 seconds'");
	ok(pg_client_admit(pg, "192.0.2.3", 0, 2, &retry) == 0 &&
	    pg_client_done(pg, "192.0.2.3", NULL) == 0,
	    "a minute later, admitted again");
	sql1("UPDATE spoolcgi_client SET window_start = now() - "
	    "interval '61 seconds'");
	ok(pg_client_gc(pg, &n) == 0 && n == 1 &&
	    strcmp(sql1("SELECT count(*) FROM spoolcgi_client"), "0") == 0,
	    "the clean-up forgets clients whose minute is over");
	pg_close(pg2);
	sql1("DELETE FROM spoolcgi_job");
}

/* Claim one job on pg and lock it there; its id in run, "" when none. */
static int
claim(struct pg *pg, int client_cap, struct pgrun *run)
{
	int	 rc;

	rc = pg_claim(pg, &cfg, NULL, 0, client_cap, "w1", run);
	if (rc == STORE_OK)
		rc = pg_run_lock(pg, run);
	if (rc != STORE_OK)
		run->st.id[0] = '\0';
	return rc;
}

static void
finish(struct pgrun *run)
{
	struct jobstatus	 st = run->st;

	st.state = JOB_SUCCEEDED;
	st.progress = 100;
	(void)pg_run_finish(run, &st, "done", 4);
}

static void
test_claim(struct pg *pg)
{
	struct jobstatus	 j[6], r;
	struct pgrun		 run[6];
	struct buf		 out = { 0 };
	const char		*only[] = { "beta" };
	int			 i, order = 1;

	/* FIFO: alpha (max_running 1) x3, beta x2, all of client1. */
	for (i = 0; i < 5; i++)
		submit(pg, &j[i], i < 3 ? "alpha" : "beta", "client1", "{}",
		    2, NULL);
	cfg.max_running = 10;
	tasks[0].max_running = 0;
	for (i = 0; i < 5; i++)
		if (pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run[i]) != STORE_OK ||
		    strcmp(run[i].st.id, j[i].id) != 0 ||
		    run[i].attempt != 1 || run[i].st.state != JOB_RUNNING)
			order = 0;
	ok(order, "claims come in FIFO order, each attempt 1, running");
	ok(claim(pg, 0, &run[5]) == STORE_NOENT,
	    "nothing more to claim: STORE_NOENT");
	ok(pg_read(pg, j[0].id, &r, NULL) == STORE_OK &&
	    r.state == JOB_RUNNING && r.started_at != 0 && r.attempts == 1,
	    "a claimed job reads running, with its start and attempt");
	for (i = 0; i < 5; i++)
		if (pg_run_lock(pg, &run[i]) != STORE_OK)
			order = 0;
	ok(order, "each takes its lock");
	for (i = 0; i < 5; i++)
		finish(&run[i]);
	ok(pg_read(pg, j[4].id, &r, NULL) == STORE_OK &&
	    r.state == JOB_SUCCEEDED && r.progress == 100 &&
	    r.finished_at != 0, "the final write makes it succeeded");
	ok(pg_blob_read(pg, j[4].id, 1, &out) == STORE_OK && out.len == 4 &&
	    memcmp(out.data, "done", 4) == 0, "with its result");
	buf_free(&out);
	is_str(sql1("SELECT count(*) FROM spoolcgi_job WHERE result_oid IS "
	    "NOT NULL AND result IS NULL"), "5",
	    "each result is a large object");
	is_str(sql1("SELECT count(*) FROM pg_largeobject_metadata"), "5",
	    "five large objects");
	sql1("DELETE FROM spoolcgi_job");
	is_str(sql1("SELECT count(*) FROM pg_largeobject_metadata"), "0",
	    "a row removed takes its large object along");

	/* The caps: alpha's max_running 1, 3 in all, 1 per client. */
	tasks[0].max_running = 1;
	cfg.max_running = 3;
	submit(pg, &j[0], "alpha", "c1", "{}", 2, NULL);
	submit(pg, &j[1], "alpha", "c2", "{}", 2, NULL);
	submit(pg, &j[2], "beta", "c1", "{}", 2, NULL);
	submit(pg, &j[3], "beta", "c3", "{}", 2, NULL);
	submit(pg, &j[4], "beta", "c4", "{}", 2, NULL);
	submit(pg, &j[5], "beta", "c5", "{}", 2, NULL);
	claim(pg, 1, &run[0]);
	is_str(run[0].st.id, j[0].id, "the first alpha job starts");
	claim(pg, 1, &run[1]);
	is_str(run[1].st.id, j[3].id, "then not the second alpha (task cap) "
	    "nor c1's beta (client cap), but c3's beta");
	claim(pg, 1, &run[2]);
	is_str(run[2].st.id, j[4].id, "then c4's beta");
	ok(claim(pg, 1, &run[3]) == STORE_NOENT, "three running: the global "
	    "cap holds the rest");
	ok(pg_claim(pg, &cfg, only, 0, 1, "w1", &run[3]) == STORE_NOENT,
	    "a worker serving no task claims nothing");
	finish(&run[0]);
	claim(pg, 1, &run[3]);
	is_str(run[3].st.id, j[1].id, "alpha finished: the second alpha "
	    "starts, first in FIFO order");
	finish(&run[1]);
	ok(pg_claim(pg, &cfg, only, 1, 1, "w1", &run[4]) == STORE_OK &&
	    pg_run_lock(pg, &run[4]) == STORE_OK &&
	    strcmp(run[4].st.id, j[2].id) == 0, "c1's alpha done: a "
	    "beta-only worker takes c1's beta, first in FIFO order");
	ok(claim(pg, 1, &run[5]) == STORE_NOENT,
	    "three running again: c5's beta waits");
	for (i = 2; i < 5; i++)
		finish(&run[i]);
	sql1("DELETE FROM spoolcgi_job");
}

/* A claimer of the race: claim, hold ~30 ms, finish, until none left. */
static void __attribute__((noreturn))
claimer(int n)
{
	struct pg	*pg;
	struct pgrun	 run;
	char		 w[16];
	int		 rc, bad = 0;

	snprintf(w, sizeof(w), "w%d", n);
	if ((pg = pg_open(conninfo)) == NULL)
		_exit(2);
	admin = PQconnectdb(conninfo);
	for (;;) {
		rc = pg_claim(pg, &cfg, NULL, 0, 0, w, &run);
		if (rc == STORE_ERR)
			_exit(3);
		if (rc == STORE_NOENT) {
			if (count_state("queued") == 0)
				break;
			pause_ms(5);
			continue;
		}
		if (pg_run_lock(pg, &run) != STORE_OK)
			bad++;
		pause_ms(30);
		if (pg_run_beat(&run, 50, "half", NULL, 0, NULL) != STORE_OK)
			bad++;
		finish(&run);
	}
	pg_close(pg);
	_exit(bad ? 4 : 0);
}

static void
test_race(struct pg *pg)
{
	struct jobstatus	 st;
	pid_t			 pid[3];
	int			 i, n, max = 0, ws, good = 1, busy;
	double			 end;

	cfg.max_running = 2;
	tasks[0].max_running = 0;
	for (i = 0; i < NJOBS; i++)
		submit(pg, &st, "alpha", "c1", "{}", 2, NULL);
	fflush(stdout);
	for (i = 0; i < 3; i++)
		if ((pid[i] = fork()) == 0)
			claimer(i);
	end = now_s() + 60;
	for (busy = 3; busy > 0 && now_s() < end;) {
		if ((n = count_state("running")) > max)
			max = n;
		for (i = 0, busy = 0; i < 3; i++)
			if (pid[i] > 0 && waitpid(pid[i], &ws, WNOHANG) ==
			    pid[i]) {
				if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
					good = 0;
					printf("# claimer %d: status %d\n", i,
					    ws);
				}
				pid[i] = 0;
			} else if (pid[i] > 0)
				busy++;
	}
	for (i = 0; i < 3; i++)
		if (pid[i] > 0) {
			kill(pid[i], SIGKILL);
			waitpid(pid[i], &ws, 0);
			good = 0;
		}
	ok(good, "three claimers raced over %d jobs and ended well", NJOBS);
	is_int(count_state("succeeded"), NJOBS, "every job ran");
	is_str(sql1("SELECT max(attempt) FROM spoolcgi_job"), "1",
	    "each exactly once");
	is_str(sql1("SELECT count(DISTINCT worker) FROM spoolcgi_job"), "3",
	    "on all three claimers");
	ok(max <= 2, "never more than max_running 2 running (at most %d "
	    "seen)", max);
	ok(max == 2, "and the cap was reached (the sample can see it)");
	sql1("DELETE FROM spoolcgi_job");
}

/* Poll pg_settle for up to secs until it settles one.  Returns n. */
static int
settle_within(struct pg *pg, int grace, int secs)
{
	double	 end = now_s() + secs;
	int	 n = 0;

	while (n == 0 && now_s() < end) {
		if (pg_settle(pg, grace, &n) == -1)
			return -1;
		if (n == 0)
			pause_ms(200);
	}
	return n;
}

static void
test_fence(struct pg *pg)
{
	struct jobstatus	 j, r, fin;
	struct pgrun		 run, stale, live;
	struct pg		*sup, *sup2;
	int			 n = -1;

	cfg.max_running = 10;
	submit(pg, &j, "alpha", "c1", "{}", 2, NULL);
	sup = pg_open(conninfo);
	ok(sup != NULL && pg_claim(sup, &cfg, NULL, 0, 0, "w1", &run) ==
	    STORE_OK && pg_run_lock(sup, &run) == STORE_OK,
	    "a supervisor claims a job and holds its lock");
	ok(pg_run_lock(pg, &run) == STORE_BUSY,
	    "another session cannot take the lock: STORE_BUSY");
	ok(pg_settle(pg, GRACE, &n) == 0 && n == 0,
	    "a fresh heartbeat with the lock held: not interrupted");
	stale = run;
	pg_close(sup);
	ok(pg_settle(pg, GRACE, &n) == 0 && n == 0,
	    "its connection closed, within the grace: not yet interrupted");
	ok(settle_within(pg, GRACE, 15) == 1,
	    "its connection closed, past the grace: interrupted");
	ok(pg_read(pg, j.id, &r, NULL) == STORE_OK && r.state == JOB_FAILED
	    && strcmp(r.error_code, "interrupted") == 0,
	    "it reads failed, \"interrupted\"");
	/* The late supervisor comes back on a new connection. */
	sup = pg_open(conninfo);
	stale.pg = sup;
	ok(pg_run_beat(&stale, 90, "late", NULL, 0, NULL) == STORE_NOENT,
	    "the old attempt's heartbeat is fenced out (zero rows)");
	fin = stale.st;
	fin.state = JOB_SUCCEEDED;
	ok(pg_run_finish(&stale, &fin, "late", 4) == STORE_NOENT,
	    "so is its final write");
	is_str(sql1("SELECT count(*) FROM pg_largeobject_metadata"), "0",
	    "and leaves no large object behind");
	ok(pg_read(pg, j.id, &r, NULL) == STORE_OK && r.state == JOB_FAILED
	    && r.progress != 90, "and the row is unchanged");
	stale.pg = NULL;
	ok(pg_run_lock(sup, &stale) == STORE_NOENT,
	    "nor can it take the job's lock again as running");

	/* A live supervisor, silent past the grace: its lock says alive. */
	submit(pg, &j, "alpha", "c1", "{}", 2, NULL);
	sup2 = pg_open(conninfo);
	ok(pg_claim(sup2, &cfg, NULL, 0, 0, "w2", &live) == STORE_OK &&
	    pg_run_lock(sup2, &live) == STORE_OK, "another job runs");
	sql1("UPDATE spoolcgi_job SET heartbeat_at = now() - interval "
	    "'1 hour' WHERE state = 'running'");
	ok(pg_settle(pg, GRACE, &n) == 0 && n == 0,
	    "an old heartbeat while the lock is held: not interrupted");
	pg_close(sup2);
	pg_close(sup);
	sql1("DELETE FROM spoolcgi_job");
}

static void
test_restart(struct pg *pg)
{
	struct jobstatus	 a, b, k, r, fin;
	struct pgrun		 ra, rb;
	struct buf		 in = { 0 };
	struct pg		*supa, *supb;
	int			 n = -1;
	double			 end;

	cfg.max_running = 10;
	submit(pg, &a, "alpha", "c1", "{}", 2, NULL);
	submit(pg, &b, "alpha", "c1", "{}", 2, NULL);
	supa = pg_open(conninfo);
	supb = pg_open(conninfo);
	ok(pg_claim(supa, &cfg, NULL, 0, 0, "w1", &ra) == STORE_OK &&
	    pg_run_lock(supa, &ra) == STORE_OK &&
	    pg_claim(supb, &cfg, NULL, 0, 0, "w2", &rb) == STORE_OK &&
	    pg_run_lock(supb, &rb) == STORE_OK, "two jobs run");
	ok(submit(pg, &k, "alpha", "c1", "{\"keep\":1}", 10, NULL) ==
	    STORE_OK, "a third is submitted and committed");
	/*
	 * Their heartbeats older than the grace when the server dies.  A
	 * longer grace here: the restart and the reconnections must fit
	 * in it on a loaded machine.
	 */
	end = now_s() + RGRACE + 1;
	while (now_s() < end)
		pause_ms(100);
	ok(pg_reconnect(pg) == 0, "pg_reconnect of a working connection: 0");
	restart();
	ok(pg_read(pg, a.id, &r, NULL) == STORE_ERR,
	    "the restart broke the store's connection");
	ok(pg_reconnect(pg) == 1 && pg_read(pg, a.id, &r, NULL) == STORE_OK,
	    "pg_reconnect makes it usable again, and says so (1)");
	ok(pg_settle(pg, RGRACE, &n) == 0 && n == 0 &&
	    pg_read(pg, a.id, &r, NULL) == STORE_OK && r.state == JOB_RUNNING &&
	    pg_read(pg, b.id, &r, NULL) == STORE_OK && r.state == JOB_RUNNING,
	    "right after the restart every lock is gone and every heartbeat "
	    "old, yet no job reads interrupted");
	ok(pg_reconnect(supa) == 1 && pg_run_lock(supa, &ra) == STORE_OK,
	    "one supervisor reconnects and takes its job's lock again");
	ok(pg_read(pg, k.id, &r, NULL) == STORE_OK &&
	    r.state == JOB_QUEUED &&
	    pg_blob_read(pg, k.id, 0, &in) == STORE_OK && in.len == 10 &&
	    memcmp(in.data, "{\"keep\":1}", 10) == 0,
	    "the committed submit survived pg_ctl -m immediate, input intact");
	ok(settle_within(pg, RGRACE, 20) == 1, "past the grace since the "
	    "restart, one job is settled");
	ok(pg_read(pg, b.id, &r, NULL) == STORE_OK && r.state == JOB_FAILED &&
	    strcmp(r.error_code, "interrupted") == 0,
	    "the one whose supervisor never came back: interrupted");
	fin = ra.st;
	fin.state = JOB_SUCCEEDED;
	ok(pg_read(pg, a.id, &r, NULL) == STORE_OK && r.state == JOB_RUNNING &&
	    pg_run_finish(&ra, &fin, "ok", 2) == STORE_OK &&
	    pg_read(pg, a.id, &r, NULL) == STORE_OK &&
	    r.state == JOB_SUCCEEDED,
	    "the other ran on through the restart and finished");
	pg_close(supa);
	pg_close(supb);
	buf_free(&in);
	sql1("DELETE FROM spoolcgi_job");
}

/*
 * pg_deadline: a statement that cannot be answered in time (here a claim
 * waiting for the claimers' lock, which this test holds, as a cut network
 * would leave it waiting) gives up at the deadline; pg_reconnect makes
 * the connection again, and nothing of the call given up was done.
 */
static void
test_deadline(struct pg *pg)
{
	struct jobstatus	 q, r;
	struct pgrun		 run;
	struct pg		*d;
	char			 sql[128];
	long long		 t0, el;
	int			 rc;

	submit(pg, &q, "alpha", "c1", "{}", 2, NULL);
	if ((d = pg_open(conninfo)) == NULL) {
		printf("Bail out! pg_open %s\n", conninfo);
		exit(1);
	}
	pg_deadline(d, proc_now_ms() + 10000);
	ok(pg_read(d, q.id, &r, NULL) == STORE_OK && r.state == JOB_QUEUED,
	    "with a deadline, a statement is answered as without one");
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%d, 2)",
	    0x73706f6f);
	sql1(sql);
	t0 = proc_now_ms();
	pg_deadline(d, t0 + 500);
	rc = pg_claim(d, &cfg, NULL, 0, 0, "w-late", &run);
	el = proc_now_ms() - t0;
	ok(rc == STORE_ERR && el >= 450 && el < 5000,
	    "a claim left waiting gives up at its deadline (%lld ms)", el);
	ok(pg_reconnect(d) == -1, "past the deadline, pg_reconnect fails at once");
	pg_deadline(d, proc_now_ms() + 10000);
	ok(pg_reconnect(d) == 1, "with time left, pg_reconnect makes it again");
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%d, 2)",
	    0x73706f6f);
	sql1(sql);
	ok(pg_read(d, q.id, &r, NULL) == STORE_OK && r.state == JOB_QUEUED,
	    "the claim given up took nothing");
	pg_deadline(d, 0);
	ok(pg_claim(d, &cfg, NULL, 0, 0, "w-late", &run) == STORE_OK &&
	    strcmp(run.st.id, q.id) == 0, "without a deadline, it claims");
	pg_close(d);
	sql1("DELETE FROM spoolcgi_job");
}

/*
 * A claim whose answer a broken connection lost: the worker gives back
 * what it claimed and no supervisor of its holds (pg_unclaim).
 */
static void
test_unclaim(struct pg *pg)
{
	struct jobstatus	 j, k, r;
	struct pgrun		 run, kept;
	const char		*keep[1];
	char			 sql[256];
	PGresult		*res;
	int			 n = -1;

	sql1("DELETE FROM spoolcgi_job");
	cfg.max_running = 10;
	submit(pg, &j, "alpha", "u1", "{}", 2, NULL);
	submit(pg, &k, "alpha", "u1", "{}", 2, NULL);
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w-lost", &run) == STORE_OK &&
	    strcmp(run.st.id, j.id) == 0 && pg_claim(pg, &cfg, NULL, 0, 0,
	    "w-lost", &kept) == STORE_OK, "unclaim: two jobs are claimed");
	keep[0] = kept.st.id;
	ok(pg_unclaim(pg, "w-other", keep, 1, &n) == 0 && n == 0,
	    "unclaim: another worker's claims are not its own");
	ok(pg_unclaim(pg, "w-lost", keep, 1, &n) == 0 && n == 1,
	    "unclaim: the claim no supervisor took is given back");
	ok(pg_read(pg, j.id, &r, NULL) == STORE_OK && r.state == JOB_QUEUED &&
	    r.attempts == 0, "unclaim: it reads queued, its attempt undone");
	ok(pg_read(pg, k.id, &r, NULL) == STORE_OK && r.state == JOB_RUNNING,
	    "unclaim: the one kept still runs");
	/* Its place in the queue: it is the first claimed again. */
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w2", &run) == STORE_OK &&
	    strcmp(run.st.id, j.id) == 0 && run.attempt == 1,
	    "unclaim: it keeps its place and runs as attempt 1");
	/* A claim whose lock a supervisor holds is never given back. */
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%lld)",
	    (long long)run.seq);
	res = PQexec(admin, sql);
	PQclear(res);
	ok(pg_unclaim(pg, "w2", NULL, 0, &n) == 0 && n == 0 &&
	    pg_read(pg, j.id, &r, NULL) == STORE_OK && r.state == JOB_RUNNING,
	    "unclaim: a job whose lock is held stays running");
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%lld)",
	    (long long)run.seq);
	res = PQexec(admin, sql);
	PQclear(res);
	sql1("DELETE FROM spoolcgi_job");
}

static void
test_cancel(struct pg *pg)
{
	struct jobstatus	 q, j, r;
	struct pgrun		 run;
	PGconn			*l;
	int			 cancel = -1;

	cfg.max_running = 10;
	submit(pg, &q, "alpha", "c1", "{}", 2, NULL);
	ok(pg_cancel(pg, q.id, &r) == STORE_OK && r.state == JOB_CANCELLED &&
	    r.finished_at != 0, "a queued job is cancelled at once");
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run) == STORE_NOENT,
	    "and is never claimed");
	submit(pg, &j, "alpha", "c1", "{}", 2, NULL);
	pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run);
	pg_run_lock(pg, &run);
	l = PQconnectdb(conninfo);
	PQclear(PQexec(l, "LISTEN spoolcgi_cancel"));
	ok(pg_cancel(pg, j.id, &r) == STORE_OK && r.state == JOB_RUNNING,
	    "a running job stays running when a cancel is asked");
	ok(notified(l, "spoolcgi_cancel", j.id),
	    "the cancel notifies spoolcgi_cancel with its id");
	PQfinish(l);
	ok(pg_read(pg, j.id, &r, &cancel) == STORE_OK && cancel == 1,
	    "its cancel flag reads set");
	cancel = 0;
	ok(pg_run_beat(&run, 10, "", NULL, 0, &cancel) == STORE_OK &&
	    cancel == 1, "its supervisor's heartbeat returns the flag");
	r = run.st;
	r.state = JOB_CANCELLED;
	ok(pg_run_finish(&run, &r, NULL, 0) == STORE_OK &&
	    pg_read(pg, j.id, &r, NULL) == STORE_OK &&
	    r.state == JOB_CANCELLED, "the supervisor writes it cancelled");
	ok(pg_cancel(pg, j.id, &r) == STORE_OK && r.state == JOB_CANCELLED,
	    "cancelling a final job changes nothing");
	ok(pg_cancel(pg, "00000000-0000-4000-8000-000000000000", &r) ==
	    STORE_NOENT, "cancelling an unknown id: STORE_NOENT");
}

static void
test_expire(struct pg *pg)
{
	int	 jobs = -1, tombs = -1;
	char	 id[SPOOLCGI_ID_LEN + 1];
	struct jobstatus r;

	/* From test_cancel: two cancelled jobs. */
	snprintf(id, sizeof(id), "%s", sql1("SELECT id FROM spoolcgi_job "
	    "ORDER BY seq LIMIT 1"));
	ok(pg_expire(pg, 3600, 60, 10, &jobs, &tombs) == 0 && jobs == 0,
	    "nothing older than an hour to expire");
	sql1("UPDATE spoolcgi_job SET finished_at = now() - interval "
	    "'2 hours'");
	ok(pg_expire(pg, 3600, 60, 1, &jobs, &tombs) == 0 && jobs == 1,
	    "expiry goes in batches (one of two)");
	ok(pg_expire(pg, 3600, 60, 10, &jobs, &tombs) == 0 && jobs == 1 &&
	    tombs == 0, "then the other");
	ok(pg_read(pg, id, &r, NULL) == STORE_GONE,
	    "an expired job reads STORE_GONE (its tombstone)");
	is_str(sql1("SELECT count(*) FROM pg_largeobject_metadata"), "0",
	    "expired results are gone with their jobs");
	sql1("UPDATE spoolcgi_tombstone SET gone_until = now() - interval "
	    "'1 second'");
	ok(pg_expire(pg, 3600, 60, 10, &jobs, &tombs) == 0 && tombs == 2,
	    "old tombstones are removed");
	ok(pg_read(pg, id, &r, NULL) == STORE_NOENT, "then it reads NOENT");
}

/*
 * What a worker calls: LISTEN and its notifications, pg_interrupt for a
 * supervisor that died, a result from a descriptor and back.
 */
static void
test_worker(struct pg *pg)
{
	static char		 big[3 * 256 * 1024 + 7];
	struct jobstatus	 j, r;
	struct pgrun		 run;
	struct pg		*sup;
	struct buf		 out = { 0 };
	char			 path[] = "/tmp/pg-t.XXXXXX", *copy = NULL;
	long long		 size = -1;
	int			 fd, i, n = 0, rc = STORE_ERR;

	sql1("DELETE FROM spoolcgi_job");
	cfg.max_running = 10;
	ok(pg_socket(pg) > 2, "the connection has its socket");
	if ((sup = pg_open(conninfo)) == NULL)
		return;
	ok(pg_listen(sup, 1) == 0 && pg_notified(sup, NULL) == 0,
	    "a supervisor listens for cancels; none yet");
	submit(pg, &j, "alpha", "c1", "{}", 2, NULL);
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run) == STORE_OK &&
	    pg_run_lock(sup, &run) == STORE_OK, "a job runs, its lock held");
	(void)pg_cancel(pg, j.id, &r);
	for (i = 0; i < 100 && n == 0; i++)
		if ((n = pg_notified(sup, j.id)) == 0)
			pause_ms(50);
	ok(n == 1, "its cancel is heard: pg_notified counts it");
	ok(pg_notified(sup, j.id) == 0, "once");
	ok(pg_interrupt(pg, j.id, run.attempt, "gone") == STORE_BUSY,
	    "pg_interrupt while the lock is held: STORE_BUSY");
	ok(pg_interrupt(pg, j.id, run.attempt + 1, "gone") == STORE_NOENT,
	    "pg_interrupt of another attempt: STORE_NOENT");
	pg_close(sup);
	run.pg = NULL;
	/* The server ends the session when it sees the socket close. */
	for (i = 0; i < 100; i++)
		if ((rc = pg_interrupt(pg, j.id, run.attempt, "gone")) !=
		    STORE_BUSY)
			break;
		else
			pause_ms(50);
	ok(rc == STORE_OK && pg_read(pg, j.id, &r, NULL) == STORE_OK &&
	    r.state == JOB_FAILED && strcmp(r.error_code, "interrupted") ==
	    0 && strcmp(r.error_message, "gone") == 0,
	    "its supervisor gone, pg_interrupt ends it interrupted");
	ok(pg_interrupt(pg, j.id, run.attempt, "gone") == STORE_NOENT,
	    "once");

	/* A result streamed in from a file and out to one. */
	for (i = 0; i < (int)sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 251);
	submit(pg, &j, "alpha", "c1", "{}", 2, NULL);
	sup = pg_open(conninfo);
	if (sup == NULL || (fd = mkstemp(path)) == -1)
		return;
	unlink(path);
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run) == STORE_OK &&
	    pg_run_lock(sup, &run) == STORE_OK &&
	    write(fd, big, sizeof(big)) == (ssize_t)sizeof(big) &&
	    lseek(fd, 0, SEEK_SET) == 0, "another job runs");
	r = run.st;
	r.state = JOB_SUCCEEDED;
	ok(pg_run_finish_fd(&run, &r, fd) == STORE_OK,
	    "its result is written from a descriptor, in pieces");
	ok(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0 &&
	    pg_result_copy(pg, j.id, fd, &size) == STORE_OK &&
	    size == (long long)sizeof(big) && lseek(fd, 0, SEEK_SET) == 0 &&
	    (copy = malloc(sizeof(big) + 1)) != NULL &&
	    read(fd, copy, sizeof(big) + 1) == (ssize_t)sizeof(big) &&
	    memcmp(copy, big, sizeof(big)) == 0,
	    "and copied out to one, byte for byte");
	free(copy);
	ok(pg_blob_read(pg, j.id, 1, &out) == STORE_OK &&
	    out.len == sizeof(big) && memcmp(out.data, big, sizeof(big)) ==
	    0, "and read whole, byte for byte");
	ok(pg_result_copy(pg, "00000000-0000-4000-8000-000000000000", fd,
	    &size) == STORE_NOENT, "no such job: STORE_NOENT");
	close(fd);
	buf_free(&out);
	pg_close(sup);
	sql1("DELETE FROM spoolcgi_job");
	is_str(sql1("SELECT count(*) FROM pg_largeobject_metadata"), "0",
	    "no large object is left");
}

/* A job of alpha with retries, submitted as the front does. */
static int
submit_retries(struct pg *pg, struct jobstatus *st, int retries)
{
	char			 oid[SPOOLCGI_ID_LEN + 1];
	unsigned long long	 oh;

	memset(st, 0, sizeof(*st));
	if (job_id_new(st->id) == -1)
		return STORE_ERR;
	snprintf(st->task, sizeof(st->task), "alpha");
	st->created_at = time(NULL);
	return pg_submit_files(pg, st, "c1", "{}", 2, 1000, NULL, 0, oid, &oh,
	    NULL, NULL, 0, retries);
}

/* pg_interrupt of run, once the server has ended its closed session. */
static int
interrupt_within(struct pg *pg, const struct pgrun *run)
{
	int	 i, rc = STORE_BUSY;

	for (i = 0; i < 200 && rc == STORE_BUSY; i++)
		if ((rc = pg_interrupt(pg, run->st.id, run->attempt,
		    "gone")) == STORE_BUSY)
			pause_ms(50);
	return rc;
}

/* job id's column col, as text (sql1's buffer). */
static const char *
col(const char *id, const char *c)
{
	char	 sql[256];

	snprintf(sql, sizeof(sql), "SELECT %s FROM spoolcgi_job WHERE "
	    "id = '%s'", c, id);
	return sql1(sql);
}

/*
 * Retries: an interrupted attempt is queued again while attempt <=
 * retries (pg_interrupt, pg_settle, a supervisor's own "interrupted"
 * end), at the back of the queue; then it fails; the old attempt stays
 * fenced out.
 */
static void
test_retry(struct pg *pg)
{
	struct jobstatus	 j, o, r, fin;
	struct pgrun		 run, stale, orun;
	struct pg		*sup;
	PGconn			*l;
	char			 seq[32];

	sql1("DELETE FROM spoolcgi_job");
	cfg.max_running = 10;
	ok(submit_retries(pg, &j, 1) == STORE_OK &&
	    strcmp(col(j.id, "retries"), "1") == 0,
	    "a submit writes its task's retries on the row");
	snprintf(seq, sizeof(seq), "%s", col(j.id, "seq"));
	if ((sup = pg_open(conninfo)) == NULL)
		return;
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run) == STORE_OK &&
	    pg_run_lock(sup, &run) == STORE_OK && run.attempt == 1,
	    "it runs, attempt 1");
	submit(pg, &o, "alpha", "c1", "{}", 2, NULL);
	stale = run;
	pg_close(sup);
	run.pg = NULL;
	ok(interrupt_within(pg, &run) == STORE_OK &&
	    pg_read(pg, j.id, &r, NULL) == STORE_OK &&
	    r.state == JOB_QUEUED && r.error_code[0] == '\0' &&
	    r.started_at == 0 && strcmp(r.message,
	    "interrupted; queued again (retry 1 of 1)") == 0,
	    "its supervisor gone, pg_interrupt queues it again: \"%s\"",
	    r.message);
	ok(r.queue_position == 2 && strcmp(col(j.id, "seq"), seq) != 0,
	    "at the back of the queue, behind a job started after it "
	    "(position %d), with a new seq", r.queue_position);
	ok(pg_interrupt(pg, j.id, run.attempt, "gone") == STORE_NOENT,
	    "once");
	sup = pg_open(conninfo);
	stale.pg = sup;
	ok(pg_run_beat(&stale, 90, "late", NULL, 0, NULL) == STORE_NOENT,
	    "the interrupted attempt's heartbeat is fenced out");
	fin = stale.st;
	fin.state = JOB_SUCCEEDED;
	ok(pg_run_finish(&stale, &fin, "late", 4) == STORE_NOENT &&
	    pg_read(pg, j.id, &r, NULL) == STORE_OK && r.state == JOB_QUEUED,
	    "so is its final write");
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &orun) == STORE_OK &&
	    strcmp(orun.st.id, o.id) == 0 && pg_run_lock(sup, &orun) ==
	    STORE_OK, "the next claim takes the job that was behind it");
	finish(&orun);
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run) == STORE_OK &&
	    strcmp(run.st.id, j.id) == 0 && run.attempt == 2 &&
	    pg_run_lock(sup, &run) == STORE_OK, "then the retry: attempt 2");
	pg_close(sup);
	run.pg = NULL;
	ok(settle_within(pg, GRACE, 15) == 1 &&
	    pg_read(pg, j.id, &r, NULL) == STORE_OK &&
	    r.state == JOB_FAILED && strcmp(r.error_code, "interrupted") == 0,
	    "interrupted again, its retries used up: pg_settle fails it");

	/* pg_settle queues again too, and tells the workers. */
	submit_retries(pg, &j, 2);
	sup = pg_open(conninfo);
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run) == STORE_OK &&
	    pg_run_lock(sup, &run) == STORE_OK, "a job with retries 2 runs");
	pg_close(sup);
	run.pg = NULL;
	l = PQconnectdb(conninfo);
	PQclear(PQexec(l, "LISTEN spoolcgi_queued"));
	ok(settle_within(pg, GRACE, 15) == 1 &&
	    pg_read(pg, j.id, &r, NULL) == STORE_OK &&
	    r.state == JOB_QUEUED && strcmp(r.message,
	    "interrupted; queued again (retry 1 of 2)") == 0,
	    "its supervisor gone, pg_settle queues it again: \"%s\"",
	    r.message);
	ok(notified(l, "spoolcgi_queued", j.id),
	    "and notifies spoolcgi_queued with its id");
	PQfinish(l);

	/* A supervisor's own end "interrupted" (its worker stopped). */
	sup = pg_open(conninfo);
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run) == STORE_OK &&
	    run.attempt == 2 && pg_run_lock(sup, &run) == STORE_OK,
	    "attempt 2 runs");
	fin = run.st;
	fin.state = JOB_FAILED;
	snprintf(fin.error_code, sizeof(fin.error_code), "interrupted");
	ok(pg_run_finish(&run, &fin, "partial", 7) == STORE_OK &&
	    pg_read(pg, j.id, &r, NULL) == STORE_OK &&
	    r.state == JOB_QUEUED && strcmp(r.message,
	    "interrupted; queued again (retry 2 of 2)") == 0 &&
	    strcmp(col(j.id, "result_oid IS NULL"), "t") == 0,
	    "its supervisor's end \"interrupted\" queues it again, with no "
	    "result");
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run) == STORE_OK &&
	    run.attempt == 3 && pg_run_lock(sup, &run) == STORE_OK,
	    "attempt 3 runs, on the same session: the new seq is a new lock");
	fin = run.st;
	fin.state = JOB_FAILED;
	snprintf(fin.error_code, sizeof(fin.error_code), "interrupted");
	ok(pg_run_finish(&run, &fin, NULL, 0) == STORE_OK &&
	    pg_read(pg, j.id, &r, NULL) == STORE_OK &&
	    r.state == JOB_FAILED && strcmp(r.error_code, "interrupted") == 0,
	    "its third end \"interrupted\": failed, its retries used up");

	/* A cancel asked: it ends, never to run again. */
	submit_retries(pg, &j, 1);
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run) == STORE_OK &&
	    pg_run_lock(sup, &run) == STORE_OK &&
	    pg_cancel(pg, j.id, &r) == STORE_OK && r.state == JOB_RUNNING,
	    "a job with retries 1 runs; a cancel is asked");
	pg_close(sup);
	run.pg = NULL;
	ok(interrupt_within(pg, &run) == STORE_OK &&
	    pg_read(pg, j.id, &r, NULL) == STORE_OK &&
	    r.state == JOB_FAILED && strcmp(r.error_code, "interrupted") == 0,
	    "its supervisor gone, it is not queued again: failed");
	sql1("DELETE FROM spoolcgi_job");
}

/* Poll pg_read of id for up to secs while it reads running. */
static int
read_within(struct pg *pg, const char *id, struct jobstatus *r, int secs)
{
	double	 end = now_s() + secs;
	int	 rc;

	while ((rc = pg_read(pg, id, r, NULL)) == STORE_OK &&
	    r->state == JOB_RUNNING && now_s() < end)
		pause_ms(200);
	return rc;
}

/*
 * A front's poll settles the job it reads stale (pg_read): running, its
 * heartbeat and the server's start older than PG_GRACE_SECONDS, its lock
 * free; not one whose lock is held.  A page of the owner's jobs that
 * shows one settles too (pg_owner_list).
 */
static void
test_read_settle(struct pg *pg)
{
	struct jobstatus	 j, r, out[4];
	struct pgrun		 run;
	struct pg		*sup;
	char			 sql[160], next[32];
	size_t			 n;
	double			 end;
	int			 rc;

	sql1("DELETE FROM spoolcgi_job");
	cfg.max_running = 10;
	/* The server's start must be older than the grace too. */
	snprintf(sql, sizeof(sql), "SELECT pg_postmaster_start_time() < "
	    "now() - interval '%d seconds'", PG_GRACE_SECONDS + 1);
	for (end = now_s() + PG_GRACE_SECONDS + 15;
	    strcmp(sql1(sql), "t") != 0 && now_s() < end;)
		pause_ms(250);
	is_str(sql1(sql), "t", "the server has been up longer than the grace");

	submit(pg, &j, "alpha", "c1", "{}", 2, NULL);
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run) == STORE_OK &&
	    pg_read(pg, j.id, &r, NULL) == STORE_OK && r.state == JOB_RUNNING,
	    "a job is claimed, its lock never taken: it reads running");
	sql1("UPDATE spoolcgi_job SET heartbeat_at = now() - interval "
	    "'10 seconds'");
	ok(pg_read(pg, j.id, &r, NULL) == STORE_OK && r.state == JOB_RUNNING,
	    "its heartbeat 10 s old, within the grace: running");
	sql1("UPDATE spoolcgi_job SET heartbeat_at = now() - interval "
	    "'1 minute'");
	ok(pg_read(pg, j.id, &r, NULL) == STORE_OK && r.state == JOB_FAILED &&
	    strcmp(r.error_code, "interrupted") == 0,
	    "its heartbeat a minute old and its lock free: the read settles "
	    "it and answers failed, \"interrupted\"");
	is_str(col(j.id, "state || ' ' || error_code"), "failed interrupted",
	    "and the row says so");

	submit_retries(pg, &j, 1);
	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run) == STORE_OK &&
	    strcmp(run.st.id, j.id) == 0, "a job with retries 1 is claimed");
	sql1("UPDATE spoolcgi_job SET heartbeat_at = now() - interval "
	    "'1 minute'");
	rc = pg_read(pg, j.id, &r, NULL);
	ok(rc == STORE_OK && r.state == JOB_QUEUED && r.queue_position == 1 &&
	    strcmp(r.message, "interrupted; queued again (retry 1 of 1)") ==
	    0, "stale, the read queues it again: \"%s\", position %d",
	    r.message, r.queue_position);

	ok(pg_claim(pg, &cfg, NULL, 0, 0, "w1", &run) == STORE_OK &&
	    run.attempt == 2, "the retry is claimed");
	sql1("UPDATE spoolcgi_job SET heartbeat_at = now() - interval "
	    "'1 minute'");
	ok(pg_owner_list(pg, "c1", "", 4, out, &n, next, sizeof(next)) ==
	    STORE_OK && n == 2 && strcmp(out[0].id, j.id) == 0 &&
	    out[0].state == JOB_FAILED &&
	    strcmp(out[0].error_code, "interrupted") == 0,
	    "stale, a page of its owner's jobs settles it: failed");

	submit(pg, &j, "alpha", "c1", "{}", 2, NULL);
	sup = pg_open(conninfo);
	ok(sup != NULL && pg_claim(sup, &cfg, NULL, 0, 0, "w2", &run) ==
	    STORE_OK && pg_run_lock(sup, &run) == STORE_OK,
	    "another job runs, its supervisor holding its lock");
	sql1("UPDATE spoolcgi_job SET heartbeat_at = now() - interval "
	    "'1 minute' WHERE state = 'running'");
	ok(pg_read(pg, j.id, &r, NULL) == STORE_OK && r.state == JOB_RUNNING &&
	    pg_read(pg, j.id, &r, NULL) == STORE_OK && r.state == JOB_RUNNING,
	    "its heartbeat a minute old but its lock held: it reads running");
	is_str(col(j.id, "state"), "running", "and the row is untouched");
	pg_close(sup);
	ok(read_within(pg, j.id, &r, 20) == STORE_OK &&
	    r.state == JOB_FAILED && strcmp(r.error_code, "interrupted") == 0,
	    "its supervisor's session gone, a later read settles it");
	sql1("DELETE FROM spoolcgi_job");
}

int
main(void)
{
	struct pg	*pg, *bad;

	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("pg-t");
	if ((conninfo = getenv("PGT_CONNINFO")) == NULL) {
		printf("1..0 # SKIP PGT_CONNINFO is not set: run "
		    "tests/e2e/pg.test\n");
		return 0;
	}
	admin_open();
	memset(tasks, 0, sizeof(tasks));
	tasks[0].name = "alpha";
	tasks[1].name = "beta";
	cfg.tasks = tasks;
	cfg.ntasks = 2;
	cfg.max_running = 4;

	ok(pg_unavailable() == NULL, "the store is compiled in");
	ok((bad = pg_open("host=/nonexistent-spoolcgi port=1")) == NULL,
	    "no server: pg_open fails (and logs)");
	ok((bad = pg_open("nonsense_keyword=1")) == NULL,
	    "a bad connection string: pg_open fails");
	if ((pg = pg_open(conninfo)) == NULL) {
		printf("Bail out! pg_open %s\n", conninfo);
		return 1;
	}
	test_schema(pg);
	test_poll(pg);
	test_submit(pg);
	test_shared(pg);
	test_claim(pg);
	test_race(pg);
	test_fence(pg);
	test_restart(pg);
	test_deadline(pg);
	test_cancel(pg);
	test_expire(pg);
	test_worker(pg);
	test_retry(pg);
	test_read_settle(pg);
	test_unclaim(pg);
	pg_close(pg);
	PQfinish(admin);
	return tap_done();
}

#else /* !HAVE_LIBPQ */

int
main(void)
{
	printf("1..0 # SKIP the PostgreSQL store is not compiled in "
	    "(libpq-dev)\n");
	return 0;
}

#endif
