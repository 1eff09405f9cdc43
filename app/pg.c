/*
 * The PostgreSQL store (README "Scaling out on PostgreSQL"): the only file
 * that knows SQL.  It is a store implementation, so it knows its schema.
 *
 * The schema (version PG_SCHEMA_VERSION, made and upgraded by "spoolcgi
 * db init" and "db upgrade", one transaction per migration):
 *
 *   spoolcgi_schema     one row: the version of the tables below
 *   spoolcgi_job        one row per job: its id (the same UUIDv4 as on
 *                       one host), seq (FIFO order, and the key of the
 *                       job's advisory lock), task, owner (the client
 *                       key), state, attempt (the fencing token), the
 *                       worker, progress, message, log tail, times,
 *                       cancel_requested_at, error, the idempotency key
 *                       (unique; since version 4 scoped by the front, so
 *                       per owner) with its request hash, input and
 *                       result (since version 2 a large object,
 *                       result_oid, unlinked by a trigger with its row),
 *                       the client that started it (version 4), its
 *                       task's retries (version 5)
 *   spoolcgi_tombstone  expired ids, answered "gone" until gone_until
 *   spoolcgi_secret     one row: the owners' secret, for every front
 *   spoolcgi_client     a client's starts in the minute that began at
 *                       window_start, for client_starts_per_minute
 *
 * What a reader may conclude:
 *
 *   - A job is queued, running or final by its row's state; a row is
 *     committed (fsync'ed by the server) before any call here returns.
 *   - "Running" is three things together: state = 'running', a session
 *     advisory lock on seq held by the supervisor's connection, and a
 *     heartbeat.  The lock ends with the connection, so a dead
 *     supervisor or a cut-off host lets go of it by itself (with the
 *     short keepalives set in pg_open, ~10 s after a silent cut).
 *   - A running row is interrupted when its lock can be taken AND its
 *     last heartbeat AND the server's start are both older than the
 *     grace: a database restart drops every lock, and must not read as
 *     every worker dead (pg_settle: every worker's, every 5 s, and a
 *     front's, of the job its poll read so, pg_read, or of every such
 *     job when a page of the owner's jobs shows one, pg_owner_list).
 *   - Every write of the running attempt (heartbeat, final write) is
 *     guarded by "attempt = N AND state = 'running'": zero rows means
 *     the job was declared interrupted or cancelled meanwhile, and the
 *     late writer is fenced out (STORE_NOENT).
 *   - An interrupted attempt (pg_settle, pg_interrupt, or a supervisor
 *     that stopped its task for its worker or for the database) makes
 *     the job queued again while attempt <= retries and no cancel was
 *     asked, as on one host; else failed, "interrupted".  It goes to the
 *     back of the queue with a new seq (PG_REQUEUE).
 *   - Claims take a transaction-scoped advisory lock (PG_LOCK_CLAIM), so
 *     the counts of running jobs they read are exact across any number
 *     of claimers; submits take PG_LOCK_SUBMIT, so max_queued is.
 *   - A start under the per-client limits holds the session advisory
 *     lock (PG_LOCK_CLIENTS, hashtext(client)) from its count to the
 *     tagging of its committed row (pg_client_admit, pg_client_done), so
 *     the limits are exact across fronts (two clients whose hashes meet
 *     only wait for each other).
 *
 * Every value travels as a bind parameter (PQexecParams): no text of a
 * client or of the configuration is ever part of a statement.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extern.h"

#if defined(HAVE_LIBPQ) && !defined(SPOOLCGI_WITHOUT_LIBPQ)

#include <libpq-fe.h>
#include <libpq/libpq-fs.h>
#include <poll.h>
#include <unistd.h>

/* The first key of the program's two-key advisory locks: "spoo". */
#define PG_LOCK_NS	0x73706f6f
#define PG_LOCK_SCHEMA	1
#define PG_LOCK_CLAIM	2
#define PG_LOCK_SUBMIT	3
/* The first key of a client's lock (pg_client_admit): "spoc". */
#define PG_LOCK_CLIENTS	0x73706f63

#define PG_ARGS_MAX	12
#define PG_CHUNK	(256 * 1024)	/* a large object's piece */

/*
 * What the server itself does about a silently vanished client: the same
 * short keepalives as the client's, so that a cut-off supervisor's
 * advisory lock is free ~10 s later instead of after the OS's two hours
 * (scale-out.md, measured).  Ignored on Unix sockets, where they read 0.
 */
#define PG_SERVER_OPTIONS	"-c tcp_keepalives_idle=5 " \
	"-c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 " \
	"-c tcp_user_timeout=5000"

/* Why a call given up at the deadline (pg_deadline) failed. */
#define PG_LATE		"no answer by the deadline: the network may be cut"

struct pg {
	PGconn		*conn;
	long long	 deadline;	/* proc_now_ms(); 0: none */
	int		 late;		/* the last call passed it */
	char		 err[512];	/* the last error, one line */
	int		 prepared;	/* this session has PG_READ_STMT */
	long long	 settle_idle;	/* no front settle before (ms) */
};

struct pgargs {
	const char	*v[PG_ARGS_MAX];
	int		 len[PG_ARGS_MAX];
	int		 fmt[PG_ARGS_MAX];
	char		 num[PG_ARGS_MAX][24];
	int		 n;
};

/*
 * The migrations, in order: migration i takes the schema from version i
 * to i + 1.  Never change one that has shipped; append another.
 */
static const char *const pg_migrations[] = {
	/* 1: jobs and tombstones. */
	"CREATE TABLE spoolcgi_schema (version integer NOT NULL);"
	"INSERT INTO spoolcgi_schema (version) VALUES (0);"
	"CREATE TABLE spoolcgi_job ("
	" id uuid PRIMARY KEY,"
	" seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
	" task text NOT NULL,"
	" owner text NOT NULL DEFAULT '',"
	" state text NOT NULL CHECK (state IN ('queued', 'running',"
	"  'succeeded', 'failed', 'cancelled')),"
	" attempt integer NOT NULL DEFAULT 0,"
	" worker text,"
	" progress integer NOT NULL DEFAULT -1,"
	" message text NOT NULL DEFAULT '',"
	" log_tail bytea,"
	" created_at timestamptz NOT NULL DEFAULT now(),"
	" started_at timestamptz,"
	" heartbeat_at timestamptz,"
	" finished_at timestamptz,"
	" cancel_requested_at timestamptz,"
	" error_code text,"
	" error_message text,"
	" idem_key text,"
	" idem_hash bigint,"
	" input bytea NOT NULL,"
	" result bytea,"
	" UNIQUE (owner, idem_key));"
	"CREATE INDEX spoolcgi_job_queued ON spoolcgi_job (seq)"
	" WHERE state = 'queued';"
	"CREATE INDEX spoolcgi_job_running ON spoolcgi_job (task, owner)"
	" WHERE state = 'running';"
	"CREATE INDEX spoolcgi_job_finished ON spoolcgi_job (finished_at)"
	" WHERE finished_at IS NOT NULL;"
	"CREATE TABLE spoolcgi_tombstone ("
	" id uuid PRIMARY KEY,"
	" gone_until timestamptz NOT NULL);"
	"CREATE INDEX spoolcgi_tombstone_until ON spoolcgi_tombstone"
	" (gone_until);",
	/*
	 * 2: results as large objects (result_oid), written and read in
	 * pieces, never whole in memory; a row that goes (expiry, DELETE)
	 * or gets another result takes its large object along.
	 */
	"ALTER TABLE spoolcgi_job ADD COLUMN result_oid oid;"
	"CREATE FUNCTION spoolcgi_result_unlink() RETURNS trigger"
	" LANGUAGE plpgsql AS $f$ BEGIN"
	" IF OLD.result_oid IS NOT NULL AND (TG_OP = 'DELETE' OR"
	"  OLD.result_oid IS DISTINCT FROM NEW.result_oid) THEN"
	"  PERFORM lo_unlink(OLD.result_oid);"
	" END IF;"
	" RETURN NULL; END $f$;"
	"CREATE TRIGGER spoolcgi_job_result_unlink AFTER DELETE OR UPDATE OF"
	" result_oid ON spoolcgi_job FOR EACH ROW EXECUTE FUNCTION"
	" spoolcgi_result_unlink();",
	/*
	 * 3: a job's uploads, each a large object under the name it has in
	 * the task's working directory, written with the job's row; they go
	 * with the row, and take their large objects along.
	 */
	"CREATE TABLE spoolcgi_upload ("
	" job uuid NOT NULL REFERENCES spoolcgi_job (id) ON DELETE CASCADE,"
	" name text NOT NULL,"
	" data oid NOT NULL,"
	" PRIMARY KEY (job, name));"
	"CREATE FUNCTION spoolcgi_upload_unlink() RETURNS trigger"
	" LANGUAGE plpgsql AS $f$ BEGIN"
	" PERFORM lo_unlink(OLD.data);"
	" RETURN NULL; END $f$;"
	"CREATE TRIGGER spoolcgi_upload_unlink AFTER DELETE ON spoolcgi_upload"
	" FOR EACH ROW EXECUTE FUNCTION spoolcgi_upload_unlink();"
	/*
	 * And a notification on "spoolcgi_done" (the job's id) when a job
	 * becomes final, whoever writes it, at its commit: what a front's
	 * Prefer: wait listens for.
	 */
	"CREATE FUNCTION spoolcgi_done_notify() RETURNS trigger"
	" LANGUAGE plpgsql AS $f$ BEGIN"
	" PERFORM pg_notify('spoolcgi_done', NEW.id::text);"
	" RETURN NULL; END $f$;"
	"CREATE TRIGGER spoolcgi_job_done AFTER UPDATE OF state ON spoolcgi_job"
	" FOR EACH ROW WHEN (NEW.state IN ('succeeded', 'failed', 'cancelled')"
	" AND OLD.state IS DISTINCT FROM NEW.state)"
	" EXECUTE FUNCTION spoolcgi_done_notify();",
	/*
	 * Fronts that share the database (README "Shared between fronts"):
	 * the owners' secret, one row for all; the client (address) that
	 * started a job, for max_jobs_per_client; each client's starts in
	 * the current minute, for client_starts_per_minute; idempotency
	 * keys unique by themselves, as the front scopes them before the
	 * store sees them (owner_key_scope), the old ones rewritten the
	 * same way.  STORE_SECRET_LEN is 32.
	 */
	"CREATE TABLE spoolcgi_secret ("
	" id integer PRIMARY KEY CHECK (id = 1),"
	" secret bytea NOT NULL CHECK (length(secret) = 32));"
	"ALTER TABLE spoolcgi_job ADD COLUMN client text;"
	"CREATE INDEX spoolcgi_job_client ON spoolcgi_job (client)"
	" WHERE state IN ('queued', 'running');"
	"CREATE TABLE spoolcgi_client ("
	" client text PRIMARY KEY,"
	" window_start timestamptz NOT NULL,"
	" starts integer NOT NULL);"
	"UPDATE spoolcgi_job SET idem_key = owner || '~' || idem_key"
	" WHERE idem_key IS NOT NULL AND owner <> '';"
	"ALTER TABLE spoolcgi_job DROP CONSTRAINT"
	" spoolcgi_job_owner_idem_key_key;"
	"CREATE UNIQUE INDEX spoolcgi_job_idem ON spoolcgi_job (idem_key);",
	/*
	 * 5: the task's retries, written with the row at its submit: an
	 * interrupted attempt is queued again while attempt <= retries,
	 * whichever host settles it (rows from before read 0, as then).
	 */
	"ALTER TABLE spoolcgi_job ADD COLUMN retries integer NOT NULL"
	" DEFAULT 0 CHECK (retries >= 0);",
};

_Static_assert(sizeof(pg_migrations) / sizeof(pg_migrations[0]) ==
    PG_SCHEMA_VERSION, "PG_SCHEMA_VERSION is the number of migrations");

/* The columns pg_row_status reads, in its order; j is spoolcgi_job. */
#define PG_STATUS_COLS "j.id::text, j.task, j.state, j.attempt, " \
	"j.progress, j.message, " \
	"coalesce(extract(epoch FROM j.created_at)::bigint, 0), " \
	"coalesce(extract(epoch FROM j.started_at)::bigint, 0), " \
	"coalesce(extract(epoch FROM j.finished_at)::bigint, 0), " \
	"coalesce(j.error_code, ''), coalesce(j.error_message, ''), " \
	"CASE WHEN j.state = 'queued' THEN (SELECT count(*) FROM " \
	"spoolcgi_job q WHERE q.state = 'queued' AND q.seq <= j.seq) " \
	"ELSE 0 END, j.cancel_requested_at IS NOT NULL, j.seq"

/*
 * An interrupted attempt of row j is queued again while its task allows
 * retries and no cancel was asked (PG_RETRY_LEFT), as lifecycle.c's
 * lc_settle does on one host, with the same message.  It goes to the
 * back of the queue, as the file spool appends a new entry for it: a new
 * seq, which is also a new lock key, so that the old attempt's session,
 * should it still hold its lock, never stands in the way of the next
 * attempt's (the attempt fences its late writes, as ever).  Workers are
 * told on "spoolcgi_queued", as for a submit.
 */
#define PG_RETRY_LEFT	"(j.attempt <= j.retries AND " \
	"j.cancel_requested_at IS NULL)"
#define PG_REQUEUE	"state = 'queued', seq = DEFAULT, worker = NULL, " \
	"started_at = NULL, heartbeat_at = NULL, progress = -1, " \
	"message = format('interrupted; queued again (retry %s of %s)', " \
	"j.attempt, j.retries)"
#define PG_REQUEUED	"j.id::text, j.attempt, j.retries, " \
	"pg_notify('spoolcgi_queued', j.id::text)"

/*
 * Row j is running, and its last heartbeat and the server's start are
 * both older than the grace, the bind parameter g (seconds): a database
 * restart drops every lock, and must not read as every worker dead.
 */
#define PG_STALE(g)	"(j.state = 'running' AND " \
	"greatest(j.heartbeat_at, pg_postmaster_start_time()) < " \
	"now() - make_interval(secs => " g "::integer))"

/*
 * The settle (pg_settle_run), of the stale rows that also satisfy which
 * (a condition on j; "": all), $1 the grace: each whose lock can be
 * taken is queued again while its retries allow, else failed.  Its rows:
 * the id, and the attempt and retries of a job queued again (NULL for
 * one failed).
 */
#define PG_SETTLE_SQL(which) "WITH cand AS MATERIALIZED (" \
	" SELECT j.id, j.seq FROM spoolcgi_job j WHERE " PG_STALE("$1") \
	which " FOR UPDATE SKIP LOCKED)," \
	" dead AS MATERIALIZED (SELECT id FROM cand" \
	"  WHERE pg_try_advisory_xact_lock(seq))," \
	" again AS (UPDATE spoolcgi_job j SET " PG_REQUEUE \
	"  FROM dead WHERE j.id = dead.id AND " PG_RETRY_LEFT \
	"  RETURNING " PG_REQUEUED ")," \
	" gone AS (UPDATE spoolcgi_job j SET state = 'failed'," \
	"  finished_at = now(), error_code = 'interrupted'," \
	"  error_message = 'the job was interrupted: its supervisor or " \
	"its worker is gone' FROM dead WHERE j.id = dead.id" \
	"  AND NOT " PG_RETRY_LEFT " RETURNING j.id)" \
	" SELECT id, attempt::text, retries::text FROM again" \
	" UNION ALL SELECT id::text, NULL, NULL FROM gone"

/*
 * A settle by a front that found nothing to settle (the stale row's lock
 * is held: its supervisor lives, but is silent) is not tried again by
 * that connection for this long, so that polls of such a job stay one
 * statement each; workers settle every 5 s as well.
 */
#define PG_SETTLE_IDLE_MS	5000

/*
 * A poll's one statement (pg_read): the job's row by primary key, its
 * place in the queue with it, and whether it is running but stale
 * (PG_STALE, $2 the grace: the front then settles it, pg_read).
 * Prepared once per session (pg_read_exec): parsed and planned for every
 * poll, it cost the server's process 200 us of CPU per poll, prepared
 * 64 us (measured under bench-pg).  The tombstone is not folded in: the
 * executor sets up every subquery on each run, evaluated or not (~4 us a
 * poll, measured), and only a poll of an id without a row needs it.
 * The name changes with the text (a pooler's server session may keep an
 * older spoolcgi's statement under the old name).
 */
#define PG_READ_STMT	"spoolcgi_read2"
#define PG_READ_SQL	"SELECT " PG_STATUS_COLS ", " PG_STALE("$2") \
	" FROM spoolcgi_job j WHERE j.id = $1::uuid"
#define PG_STALE_COL	14	/* PG_STALE's column after PG_STATUS_COLS */

static const char *
pg_oneline(char *dst, size_t sz, const char *msg)
{
	size_t	 i, o;

	snprintf(dst, sz, "%s", msg != NULL && *msg != '\0' ? msg :
	    "unknown error");
	/* libpq's messages end in a newline, continue with one and a tab. */
	for (i = o = 0; dst[i] != '\0'; i++) {
		if (dst[i] == '\n' || dst[i] == '\r' || dst[i] == '\t')
			dst[i] = ' ';
		if (dst[i] != ' ' || (o > 0 && dst[o - 1] != ' '))
			dst[o++] = dst[i];
	}
	while (o > 0 && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
	return dst;
}

static void
arg_text(struct pgargs *a, const char *s)
{
	a->v[a->n] = s;
	a->len[a->n] = 0;
	a->fmt[a->n] = 0;
	a->n++;
}

static void
arg_int(struct pgargs *a, long long v)
{
	snprintf(a->num[a->n], sizeof(a->num[a->n]), "%lld", v);
	arg_text(a, a->num[a->n]);
}

static void
arg_bin(struct pgargs *a, const void *p, size_t len)
{
	/* A non-NULL pointer: an empty bytea is not SQL NULL. */
	a->v[a->n] = len > 0 ? p : "";
	a->len[a->n] = (int)len;
	a->fmt[a->n] = 1;
	a->n++;
}

/*
 * Wait on pg's socket for events (POLLIN, POLLOUT) until its deadline.
 * Returns 0 (ready, or to be asked again), or -1 (no socket, or the
 * deadline passed: pg->late set; errno ETIMEDOUT).
 */
static int
pg_poll(struct pg *pg, short events)
{
	struct pollfd	 pfd;
	long long	 left;

	if ((left = pg->deadline - proc_now_ms()) <= 0) {
		pg->late = 1;
		errno = ETIMEDOUT;
		return -1;
	}
	if ((pfd.fd = PQsocket(pg->conn)) < 0) {
		errno = EBADF;
		return -1;
	}
	pfd.events = events;
	if (poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left) == -1 &&
	    errno != EINTR)
		return -1;
	return 0;
}

/*
 * PQexecParams, but given up at pg's deadline when it has one: the
 * query is sent and its answer read without blocking, so a connection
 * that a silent network cut left waiting for the kernel's timeouts
 * returns in time.  One given up leaves its query in flight: the
 * connection is then not idle, and pg_reconnect makes it again.
 * Returns the result (the last, or the first error), or NULL.
 */
static PGresult *
pg_exec(struct pg *pg, const char *sql, const struct pgargs *a, int binary)
{
	PGresult	*res = NULL, *r;
	int		 f;

	pg->late = 0;
	if (pg->deadline == 0)
		return PQexecParams(pg->conn, sql, a != NULL ? a->n : 0, NULL,
		    a != NULL ? a->v : NULL, a != NULL ? a->len : NULL,
		    a != NULL ? a->fmt : NULL, binary);
	if (PQsetnonblocking(pg->conn, 1) == -1 ||
	    PQsendQueryParams(pg->conn, sql, a != NULL ? a->n : 0, NULL,
	    a != NULL ? a->v : NULL, a != NULL ? a->len : NULL,
	    a != NULL ? a->fmt : NULL, binary) == 0)
		goto fail;
	for (;;) {
		while ((f = PQflush(pg->conn)) != 0 ||
		    PQisBusy(pg->conn)) {
			if (f == -1 || pg_poll(pg, POLLIN |
			    (f == 1 ? POLLOUT : 0)) == -1 ||
			    PQconsumeInput(pg->conn) == 0)
				goto fail;
		}
		if ((r = PQgetResult(pg->conn)) == NULL)
			break;
		if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR)
			PQclear(r);
		else {
			PQclear(res);
			res = r;
		}
	}
	(void)PQsetnonblocking(pg->conn, 0);
	return res;
fail:
	PQclear(res);
	(void)PQsetnonblocking(pg->conn, 0);
	return NULL;
}

/*
 * Run sql with the arguments in a (NULL: none), its result in text or,
 * with binary, in binary form.  Returns the result, or NULL (logged as
 * "database: what: why"; errno EIO).
 */
static PGresult *
pg_q(struct pg *pg, const char *what, const char *sql,
    const struct pgargs *a, int binary)
{
	PGresult	*res;
	ExecStatusType	 s;

	res = pg_exec(pg, sql, a, binary);
	s = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
		return res;
	pg_oneline(pg->err, sizeof(pg->err), res != NULL ?
	    PQresultErrorMessage(res) : pg->late ? PG_LATE :
	    PQerrorMessage(pg->conn));
	log_warnx("database: %s: %s", what, pg->err);
	PQclear(res);
	errno = EIO;
	return NULL;
}

/* Run a statement whose result is not needed.  Returns 0 or -1. */
static int
pg_do(struct pg *pg, const char *what, const char *sql,
    const struct pgargs *a)
{
	PGresult	*res;

	if ((res = pg_q(pg, what, sql, a, 0)) == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/*
 * Run script, several constant statements (a migration): PQexec, as
 * PQexecParams takes one statement only.  Returns 0 or -1 (logged).
 */
static int
pg_do_script(struct pg *pg, const char *script)
{
	PGresult	*res;

	res = PQexec(pg->conn, script);
	if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		return 0;
	}
	pg_oneline(pg->err, sizeof(pg->err), res != NULL ?
	    PQresultErrorMessage(res) : PQerrorMessage(pg->conn));
	log_warnx("database: migrate: %s", pg->err);
	PQclear(res);
	errno = EIO;
	return -1;
}

/* Leave a failed transaction; the error is already logged. */
static void
pg_rollback(struct pg *pg)
{
	PQclear(pg_exec(pg, "ROLLBACK", NULL, 0));
}

static int
pg_commit(struct pg *pg, const char *what)
{
	if (pg_do(pg, what, "COMMIT", NULL) == -1) {
		pg_rollback(pg);
		return -1;
	}
	return 0;
}

static int
pg_begin(struct pg *pg, const char *what, int lock)
{
	struct pgargs	 a = { .n = 0 };

	if (pg_do(pg, what, "BEGIN", NULL) == -1)
		return -1;
	if (lock == 0)
		return 0;
	arg_int(&a, PG_LOCK_NS);
	arg_int(&a, lock);
	if (pg_do(pg, what, "SELECT pg_advisory_xact_lock($1::integer, "
	    "$2::integer)", &a) == -1) {
		pg_rollback(pg);
		return -1;
	}
	return 0;
}

static long long
pg_ll(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 :
	    strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Fill st from row of res (PG_STATUS_COLS).  Returns 0, or -1 (EIO). */
static int
pg_row_status(struct pg *pg, const PGresult *res, int row,
    struct jobstatus *st, int *cancel)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->id, sizeof(st->id), "%s", PQgetvalue(res, row, 0));
	snprintf(st->task, sizeof(st->task), "%s", PQgetvalue(res, row, 1));
	if (job_state_parse(PQgetvalue(res, row, 2), &st->state) == -1) {
		snprintf(pg->err, sizeof(pg->err), "job %s: unknown state",
		    st->id);
		log_warnx("database: %s", pg->err);
		errno = EIO;
		return -1;
	}
	st->attempts = (int)pg_ll(res, row, 3);
	st->progress = (int)pg_ll(res, row, 4);
	snprintf(st->message, sizeof(st->message), "%s",
	    PQgetvalue(res, row, 5));
	st->created_at = (time_t)pg_ll(res, row, 6);
	st->started_at = (time_t)pg_ll(res, row, 7);
	st->finished_at = (time_t)pg_ll(res, row, 8);
	snprintf(st->error_code, sizeof(st->error_code), "%s",
	    PQgetvalue(res, row, 9));
	snprintf(st->error_message, sizeof(st->error_message), "%s",
	    PQgetvalue(res, row, 10));
	st->queue_position = (int)pg_ll(res, row, 11);
	if (cancel != NULL)
		*cancel = strcmp(PQgetvalue(res, row, 12), "t") == 0;
	return 0;
}

/*
 * Log the jobs of res (PG_REQUEUED's first columns) queued again, once
 * committed; a row without an attempt was not.
 */
static void
pg_log_requeued(const PGresult *res)
{
	int	 i;

	for (i = 0; i < PQntuples(res); i++)
		if (!PQgetisnull(res, i, 1))
			log_warnx("job %s: interrupted; queued again (retry "
			    "%s of %s)", PQgetvalue(res, i, 0),
			    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
}

/*
 * pg_settle, of every stale row (id NULL) or of job id's only (a front's
 * poll that read it stale, pg_read): one statement, PG_SETTLE_SQL, which
 * is its own transaction (its advisory locks end with it; libpq returns
 * once the server committed it).  *n: how many.  Returns 0, or -1.
 */
static int
pg_settle_run(struct pg *pg, const char *id, int grace, int *n)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;

	*n = 0;
	arg_int(&a, grace);
	if (id != NULL)
		arg_text(&a, id);
	if ((res = pg_q(pg, "settle", id == NULL ? PG_SETTLE_SQL("") :
	    PG_SETTLE_SQL(" AND j.id = $2::uuid"), &a, 0)) == NULL)
		return -1;
	*n = PQntuples(res);
	pg_log_requeued(res);
	PQclear(res);
	return 0;
}

/* Why the store cannot be used: NULL, it is compiled in. */
const char *
pg_unavailable(void)
{
	return NULL;
}

/* The last error on pg, one line ("" when none), for a caller's message. */
const char *
pg_error(const struct pg *pg)
{
	return pg->err;
}

/* The server's notices and warnings: one log line each, not libpq's. */
static void
pg_notice(void *arg, const char *msg)
{
	char	 line[512];

	(void)arg;
	log_warnx("database: %s", pg_oneline(line, sizeof(line), msg));
}

/*
 * Connect with conninfo, a libpq connection string (URI or key=value),
 * adding what liveness needs: short client keepalives and the server's
 * own (PG_SERVER_OPTIONS, before the user's "options" so that theirs
 * win).  The string is parsed by libpq and passed back keyword by
 * keyword: nothing is pasted into a string.  A keyword the user set
 * overrides the program's.  Returns the connection, or NULL (logged).
 */
struct pg *
pg_open(const char *conninfo)
{
	static const char *const ours[][2] = {
		{ "application_name", "spoolcgi" },
		{ "connect_timeout", "10" },
		{ "keepalives", "1" },
		{ "keepalives_idle", "5" },
		{ "keepalives_interval", "2" },
		{ "keepalives_count", "3" },
		{ "tcp_user_timeout", "5000" },
	};
	const char		*kw[128], *val[128], *useropt = NULL;
	char			 options[4096], *perr = NULL;
	PQconninfoOption	*opts, *o;
	struct pg		*pg;
	size_t			 i, n = 0;
	int			 len;

	if ((pg = calloc(1, sizeof(*pg))) == NULL) {
		log_warn("database: calloc");
		return NULL;
	}
	if ((opts = PQconninfoParse(conninfo, &perr)) == NULL) {
		pg_oneline(pg->err, sizeof(pg->err), perr != NULL ? perr :
		    "out of memory");
		log_warnx("database: the connection string: %s", pg->err);
		PQfreemem(perr);
		free(pg);
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
		kw[n] = ours[i][0];
		val[n++] = ours[i][1];
	}
	for (o = opts; o->keyword != NULL && n + 2 < 128; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "options") == 0) {
			useropt = o->val;
			continue;
		}
		kw[n] = o->keyword;
		val[n++] = o->val;
	}
	/* Passing "options" hides libpq's own default from PGOPTIONS. */
	if (useropt == NULL && (useropt = getenv("PGOPTIONS")) != NULL &&
	    *useropt == '\0')
		useropt = NULL;
	len = snprintf(options, sizeof(options), "%s%s%s", PG_SERVER_OPTIONS,
	    useropt != NULL ? " " : "", useropt != NULL ? useropt : "");
	if (len < 0 || (size_t)len >= sizeof(options)) {
		snprintf(pg->err, sizeof(pg->err), "its \"options\" are too "
		    "long");
		log_warnx("database: the connection string: %s", pg->err);
		PQconninfoFree(opts);
		free(pg);
		errno = EINVAL;
		return NULL;
	}
	kw[n] = "options";
	val[n++] = options;
	kw[n] = NULL;
	val[n] = NULL;
	pg->conn = PQconnectdbParams(kw, val, 0);
	PQconninfoFree(opts);
	if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK) {
		pg_oneline(pg->err, sizeof(pg->err), pg->conn != NULL ?
		    PQerrorMessage(pg->conn) : "out of memory");
		log_warnx("database: connect: %s", pg->err);
		PQfinish(pg->conn);
		free(pg);
		errno = ECONNREFUSED;
		return NULL;
	}
	PQsetNoticeProcessor(pg->conn, pg_notice, NULL);
	return pg;
}

/*
 * Make pg usable again after its connection broke (the server restarted,
 * the network failed): reconnect with the same parameters.  A supervisor
 * then takes its job's lock again (pg_run_lock), which the fence lets it
 * do only while its attempt still runs.  Returns 0 (it is connected), 1
 * (it is connected again: the old connection was lost), or -1 (logged).
 */
int
pg_reconnect(struct pg *pg)
{
	PostgresPollingStatusType	 ps = PGRES_POLLING_WRITING;
	PGresult			*res;

	if (PQstatus(pg->conn) == CONNECTION_OK &&
	    PQtransactionStatus(pg->conn) == PQTRANS_IDLE) {
		/* A server that went away is found only by talking to it. */
		res = pg_exec(pg, "SELECT 1", NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK) {
			PQclear(res);
			return 0;
		}
		PQclear(res);
	}
	pg->late = 0;
	pg->prepared = 0;	/* a new session has no prepared statement */
	if (pg->deadline == 0)
		PQreset(pg->conn);
	else if (PQresetStart(pg->conn) == 0)
		ps = PGRES_POLLING_FAILED;
	/* libpq's own connect_timeout is for blocking connects only. */
	while (pg->deadline != 0 && ps != PGRES_POLLING_OK &&
	    ps != PGRES_POLLING_FAILED)
		ps = pg_poll(pg, ps == PGRES_POLLING_READING ? POLLIN :
		    POLLOUT) == -1 ? PGRES_POLLING_FAILED :
		    PQresetPoll(pg->conn);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		pg_oneline(pg->err, sizeof(pg->err), pg->late ? PG_LATE :
		    PQerrorMessage(pg->conn));
		log_warnx("database: reconnect: %s", pg->err);
		errno = ECONNREFUSED;
		return -1;
	}
	/* A call given up may have left it non-blocking; it starts anew. */
	(void)PQsetnonblocking(pg->conn, 0);
	return 1;
}

/*
 * From now on every statement on pg and pg_reconnect give up at at_ms
 * (proc_now_ms's clock; 0: never), failing as a broken connection does.
 * A supervisor must stop its task when its fence passes, however its
 * calls fare: on a silently cut network one call would otherwise wait
 * for the kernel (the TCP user timeout of a heartbeat, then that of a
 * connect: twice the fence's margin).  Large objects (the final write
 * of a result, after the task) are not bounded.
 */
void
pg_deadline(struct pg *pg, long long at_ms)
{
	pg->deadline = at_ms;
}

/* Close the connection: its session advisory locks go with it. */
void
pg_close(struct pg *pg)
{
	if (pg == NULL)
		return;
	PQfinish(pg->conn);
	free(pg);
}

/* The schema's version in *v, 0 when there is none.  Returns 0 or -1. */
int
pg_schema_version(struct pg *pg, int *v)
{
	PGresult	*res;
	int		 exists;

	if ((res = pg_q(pg, "schema version", "SELECT "
	    "to_regclass('spoolcgi_schema') IS NOT NULL", NULL, 0)) == NULL)
		return -1;
	exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	*v = 0;
	if (!exists)
		return 0;
	if ((res = pg_q(pg, "schema version", "SELECT "
	    "coalesce(max(version), 0) FROM spoolcgi_schema", NULL, 0)) == NULL)
		return -1;
	*v = (int)pg_ll(res, 0, 0);
	PQclear(res);
	return 0;
}

/*
 * Refuse a schema this program was not built for.  Returns 0 when the
 * schema is PG_SCHEMA_VERSION, or -1 with the reason logged and in
 * pg_error().
 */
int
pg_schema_check(struct pg *pg)
{
	int	 v;

	if (pg_schema_version(pg, &v) == -1)
		return -1;
	if (v == PG_SCHEMA_VERSION)
		return 0;
	if (v == 0)
		snprintf(pg->err, sizeof(pg->err), "the database has no "
		    "spoolcgi schema: run \"spoolcgi db init\"");
	else if (v < PG_SCHEMA_VERSION)
		snprintf(pg->err, sizeof(pg->err), "the database's schema is "
		    "version %d, older than this spoolcgi's %d: run "
		    "\"spoolcgi db upgrade\"", v, PG_SCHEMA_VERSION);
	else
		snprintf(pg->err, sizeof(pg->err), "the database's schema is "
		    "version %d, newer than this spoolcgi's %d: run a "
		    "spoolcgi as new as the one that upgraded it", v,
		    PG_SCHEMA_VERSION);
	log_warnx("database: %s", pg->err);
	errno = EPROTO;
	return -1;
}

/*
 * Apply the migrations after the schema's version up to PG_SCHEMA_VERSION,
 * each in its own transaction under PG_LOCK_SCHEMA, so that two upgrades
 * at once apply each migration once.  *from and *to: the versions before
 * and after.  Refuses a newer schema.  Returns 0, or -1 (logged).
 */
int
pg_migrate(struct pg *pg, int *from, int *to)
{
	struct pgargs	 a;
	int		 v, cur;

	if (pg_schema_version(pg, from) == -1)
		return -1;
	*to = *from;
	if (*from > PG_SCHEMA_VERSION)
		return pg_schema_check(pg);
	for (v = *from + 1; v <= PG_SCHEMA_VERSION; v++) {
		if (pg_begin(pg, "migrate", PG_LOCK_SCHEMA) == -1)
			return -1;
		/* Again, under the lock: another may have been first. */
		if (pg_schema_version(pg, &cur) == -1) {
			pg_rollback(pg);
			return -1;
		}
		if (cur >= v) {
			pg_rollback(pg);
			*to = cur;
			continue;
		}
		a.n = 0;
		arg_int(&a, v);
		if (pg_do_script(pg, pg_migrations[v - 1]) == -1 ||
		    pg_do(pg, "migrate", "UPDATE spoolcgi_schema SET "
		    "version = $1::integer", &a) == -1) {
			pg_rollback(pg);
			return -1;
		}
		if (pg_commit(pg, "migrate") == -1)
			return -1;
		*to = v;
	}
	return 0;
}

static Oid	pg_lo_put(struct pg *, int, const char *, size_t);

/*
 * Submit job st (its id, task, created_at) for owner with the task's
 * stdin in input, as one transaction that also notifies "spoolcgi_queued"
 * with the id: nobody sees the job before it is committed.  Unless the
 * queue holds maxq jobs (STORE_FULL); with a key (scoped by the front:
 * owner_key_scope), unless it belongs to a job already (STORE_TAKEN: its
 * id in oid, its request's hash in *ohash).  Returns STORE_OK, STORE_FULL, STORE_TAKEN or
 * STORE_ERR (logged).
 */
int
pg_submit(struct pg *pg, const struct jobstatus *st, const char *owner,
    const char *input, size_t len, int maxq, const char *key,
    unsigned long long hash, char *oid, unsigned long long *ohash)
{
	return pg_submit_files(pg, st, owner, input, len, maxq, key, hash,
	    oid, ohash, NULL, NULL, 0, 0);
}

/*
 * The same, with the job's uploads: nfiles files, each read from fds[i]
 * (from where it stands, in pieces) into a large object kept under
 * names[i], in the same transaction as the row; and the task's retries
 * (tasks.T.retries), how often an interrupted attempt is queued again.
 */
int
pg_submit_files(struct pg *pg, const struct jobstatus *st, const char *owner,
    const char *input, size_t len, int maxq, const char *key,
    unsigned long long hash, char *oid, unsigned long long *ohash,
    const char *const *names, const int *fds, size_t nfiles, int retries)
{
	struct pgargs	 a;
	PGresult	*res;
	size_t		 i;
	Oid		 lo;
	int		 n;

	if (len > INT_MAX) {
		errno = EFBIG;
		log_warn("database: submit %s", st->id);
		return STORE_ERR;
	}
	if (pg_begin(pg, "submit", PG_LOCK_SUBMIT) == -1)
		return STORE_ERR;
	if (key != NULL && *key != '\0') {
		a.n = 0;
		arg_text(&a, key);
		if ((res = pg_q(pg, "submit", "SELECT id::text, idem_hash "
		    "FROM spoolcgi_job WHERE idem_key = $1", &a, 0)) == NULL)
			goto fail;
		if ((n = PQntuples(res)) > 0) {
			snprintf(oid, SPOOLCGI_ID_LEN + 1, "%s",
			    PQgetvalue(res, 0, 0));
			*ohash = (unsigned long long)pg_ll(res, 0, 1);
		}
		PQclear(res);
		if (n > 0) {
			pg_rollback(pg);
			return STORE_TAKEN;
		}
	}
	if ((res = pg_q(pg, "submit", "SELECT count(*) FROM spoolcgi_job "
	    "WHERE state = 'queued'", NULL, 0)) == NULL)
		goto fail;
	n = (int)pg_ll(res, 0, 0);
	PQclear(res);
	if (n >= maxq) {
		pg_rollback(pg);
		return STORE_FULL;
	}
	a.n = 0;
	arg_text(&a, st->id);
	arg_text(&a, st->task);
	arg_text(&a, owner);
	arg_int(&a, st->created_at != 0 ? (long long)st->created_at :
	    (long long)time(NULL));
	arg_text(&a, key != NULL && *key != '\0' ? key : NULL);
	arg_int(&a, (long long)hash);
	arg_bin(&a, input, len);
	arg_int(&a, retries > 0 ? retries : 0);
	if (pg_do(pg, "submit", "INSERT INTO spoolcgi_job (id, task, owner, "
	    "state, created_at, idem_key, idem_hash, input, retries) VALUES "
	    "($1::uuid, $2, $3, 'queued', to_timestamp($4::bigint), $5, "
	    "$6::bigint, $7::bytea, $8::integer)", &a) == -1)
		goto fail;
	for (i = 0; i < nfiles; i++) {
		if ((lo = pg_lo_put(pg, fds[i], NULL, 0)) == InvalidOid)
			goto fail;
		a.n = 0;
		arg_text(&a, st->id);
		arg_text(&a, names[i]);
		arg_int(&a, (long long)lo);
		if (pg_do(pg, "submit", "INSERT INTO spoolcgi_upload (job, "
		    "name, data) VALUES ($1::uuid, $2, $3::oid)", &a) == -1)
			goto fail;
	}
	a.n = 0;
	arg_text(&a, st->id);
	if (pg_do(pg, "submit", "SELECT pg_notify('spoolcgi_queued', $1)",
	    &a) == -1)
		goto fail;
	if (pg_commit(pg, "submit") == -1)
		return STORE_ERR;
	return STORE_OK;
fail:
	pg_rollback(pg);
	return STORE_ERR;
}

/*
 * Run PG_READ_STMT with a, preparing it first where this session has not
 * got it: after a connect or a reconnect, or when the server says it has
 * none (26000, invalid_sql_statement_name: a DISCARD, a pooler's other
 * session).  Returns the result, or NULL (logged as "database: read:
 * why"; errno EIO).
 */
static PGresult *
pg_read_exec(struct pg *pg, const struct pgargs *a)
{
	PGresult	*res = NULL;
	ExecStatusType	 s;
	const char	*code;
	int		 try;

	for (try = 0; try < 2; try++) {
		PQclear(res);
		if (!pg->prepared) {
			res = PQprepare(pg->conn, PG_READ_STMT, PG_READ_SQL, 0,
			    NULL);
			code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			/* 42P05, duplicate_prepared_statement: it has it. */
			if (PQresultStatus(res) != PGRES_COMMAND_OK &&
			    (code == NULL || strcmp(code, "42P05") != 0))
				break;
			PQclear(res);
			pg->prepared = 1;
		}
		res = PQexecPrepared(pg->conn, PG_READ_STMT, a->n, a->v,
		    a->len, a->fmt, 0);
		s = PQresultStatus(res);
		if (s == PGRES_TUPLES_OK)
			return res;
		code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (code == NULL || strcmp(code, "26000") != 0)
			break;
		pg->prepared = 0;
	}
	pg_oneline(pg->err, sizeof(pg->err), res != NULL ?
	    PQresultErrorMessage(res) : PQerrorMessage(pg->conn));
	log_warnx("database: read: %s", pg->err);
	PQclear(res);
	errno = EIO;
	return NULL;
}

/*
 * A poll read job id running with no heartbeat for PG_GRACE_SECONDS: its
 * worker may be dead or cut off, and with no other worker to settle it
 * the job would read running until a front's clean-up.  So the poll
 * settles that one job (pg_settle_run's test of its lock), unless this
 * connection's last such settle found a live lock within
 * PG_SETTLE_IDLE_MS.  Returns 1 when the job was settled (read it
 * again), else 0 (a failure is logged; the poll answers what it read).
 */
static int
pg_settle_due(struct pg *pg, const char *id)
{
	int	 n;

	if (proc_now_ms() < pg->settle_idle ||
	    pg_settle_run(pg, id, PG_GRACE_SECONDS, &n) == -1)
		return 0;
	if (n == 0)
		pg->settle_idle = proc_now_ms() + PG_SETTLE_IDLE_MS;
	return n > 0;
}

/*
 * The status of job id (checked by job_id_check first) in st: one read
 * by primary key, the poll's one statement (PG_READ_SQL); a second only
 * for an id without a row, or for a running row gone stale (settled,
 * pg_settle_due, then read again): call it on a connection that holds
 * no job's lock, a front's (advisory locks are re-entrant within a
 * session).  *cancel, when not NULL: a cancel was asked.
 * Returns STORE_OK, STORE_NOENT, STORE_GONE (its tombstone stands) or
 * STORE_ERR.
 */
int
pg_read(struct pg *pg, const char *id, struct jobstatus *st, int *cancel)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	int		 rc, stale;

	if (!job_id_check(id, strlen(id)))
		return STORE_NOENT;
	arg_text(&a, id);
	arg_int(&a, PG_GRACE_SECONDS);
	if ((res = pg_read_exec(pg, &a)) == NULL)
		return STORE_ERR;
	if (PQntuples(res) == 1) {
		rc = pg_row_status(pg, res, 0, st, cancel) == -1 ?
		    STORE_ERR : STORE_OK;
		stale = strcmp(PQgetvalue(res, 0, PG_STALE_COL), "t") == 0;
		PQclear(res);
		if (rc != STORE_OK || !stale || !pg_settle_due(pg, id))
			return rc;
		/* Settled: answer what the row became. */
		if ((res = pg_read_exec(pg, &a)) == NULL)
			return STORE_ERR;
		rc = PQntuples(res) != 1 ? STORE_NOENT :
		    pg_row_status(pg, res, 0, st, cancel) == -1 ? STORE_ERR :
		    STORE_OK;
		PQclear(res);
		return rc;
	}
	PQclear(res);
	a.n = 1;
	if ((res = pg_q(pg, "read", "SELECT 1 FROM spoolcgi_tombstone WHERE "
	    "id = $1::uuid AND gone_until > now()", &a, 0)) == NULL)
		return STORE_ERR;
	rc = PQntuples(res) > 0 ? STORE_GONE : STORE_NOENT;
	PQclear(res);
	return rc;
}

/* The last libpq error on pg, logged as "database: what: why". */
static void
pg_fail(struct pg *pg, const char *what)
{
	pg_oneline(pg->err, sizeof(pg->err), PQerrorMessage(pg->conn));
	log_warnx("database: %s: %s", what, pg->err);
	errno = EIO;
}

/*
 * Copy large object oid, in pieces, to fd (when not -1) or the end of b.
 * Inside a transaction.  *size: its bytes.  Returns 0, or -1 (logged).
 */
static int
pg_lo_get(struct pg *pg, Oid oid, int fd, struct buf *b, long long *size)
{
	char	*chunk;
	int	 lfd, n, rc = -1;

	*size = 0;
	if ((chunk = malloc(PG_CHUNK)) == NULL) {
		log_warn("database: read a result");
		return -1;
	}
	if ((lfd = lo_open(pg->conn, oid, INV_READ)) == -1) {
		pg_fail(pg, "open a result");
		free(chunk);
		return -1;
	}
	while ((n = lo_read(pg->conn, lfd, chunk, PG_CHUNK)) > 0) {
		if ((fd != -1 && spool_write_all(fd, chunk, (size_t)n) == -1) ||
		    (fd == -1 && buf_append(b, chunk, (size_t)n) == -1)) {
			log_warn("database: copy a result");
			goto done;
		}
		*size += n;
	}
	if (n < 0) {
		pg_fail(pg, "read a result");
		goto done;
	}
	rc = 0;
done:
	(void)lo_close(pg->conn, lfd);
	free(chunk);
	return rc;
}

/* Job id's input or result to fd, or (fd -1) in b.  As pg_blob_read. */
static int
pg_blob_get(struct pg *pg, const char *id, int result, int fd,
    struct buf *b, long long *size)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	Oid		 oid = InvalidOid;
	int		 rc = STORE_NOENT;

	*size = 0;
	if (!job_id_check(id, strlen(id)))
		return STORE_NOENT;
	if (b != NULL)
		buf_reset(b);
	if (pg_begin(pg, "read", 0) == -1)
		return STORE_ERR;
	arg_text(&a, id);
	/* A large object (a result since version 2), or a bytea. */
	if ((res = pg_q(pg, "read", result ?
	    "SELECT result_oid FROM spoolcgi_job WHERE id = $1::uuid" :
	    "SELECT NULL::oid FROM spoolcgi_job WHERE id = $1::uuid",
	    &a, 0)) == NULL)
		goto fail;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		oid = (Oid)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (oid != InvalidOid) {
		if (pg_lo_get(pg, oid, fd, b, size) == -1)
			goto fail;
		rc = STORE_OK;
	} else {
		/* Binary: the bytes of a bytea as they are. */
		if ((res = pg_q(pg, "read", result ?
		    "SELECT result FROM spoolcgi_job WHERE id = $1::uuid" :
		    "SELECT input FROM spoolcgi_job WHERE id = $1::uuid", &a,
		    1)) == NULL)
			goto fail;
		if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
			rc = STORE_OK;
			*size = PQgetlength(res, 0, 0);
			if ((fd != -1 && spool_write_all(fd, PQgetvalue(res, 0,
			    0), (size_t)*size) == -1) || (fd == -1 &&
			    buf_append(b, PQgetvalue(res, 0, 0),
			    (size_t)*size) == -1)) {
				log_warn("database: read %s", id);
				PQclear(res);
				goto fail;
			}
		}
		PQclear(res);
	}
	if (pg_commit(pg, "read") == -1)
		return STORE_ERR;
	return rc;
fail:
	pg_rollback(pg);
	return STORE_ERR;
}

/*
 * Job id's input (or, with result, its result) in b, replacing what b
 * held.  Returns STORE_OK, STORE_NOENT (no such job, or no result yet)
 * or STORE_ERR.
 */
int
pg_blob_read(struct pg *pg, const char *id, int result, struct buf *b)
{
	long long	 size;

	return pg_blob_get(pg, id, result, -1, b, &size);
}

/*
 * Job id's result written to fd in pieces (never whole in memory), for a
 * front that serves it from its local spool.  *size: its bytes.  Returns
 * STORE_OK, STORE_NOENT (no such job, or no result) or STORE_ERR.
 */
int
pg_result_copy(struct pg *pg, const char *id, int fd, long long *size)
{
	return pg_blob_get(pg, id, 1, fd, NULL, size);
}

/*
 * Cancel job id: a queued job is cancelled at once; a running one gets
 * its cancel flag and a notification on "spoolcgi_cancel" (its
 * supervisor stops it and writes the final state).  st: the status
 * after.  A final job is left as it is.  Returns STORE_OK, STORE_NOENT,
 * STORE_GONE or STORE_ERR.
 */
int
pg_cancel(struct pg *pg, const char *id, struct jobstatus *st)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	int		 running;

	if (!job_id_check(id, strlen(id)))
		return STORE_NOENT;
	arg_text(&a, id);
	if (pg_begin(pg, "cancel", 0) == -1)
		return STORE_ERR;
	if ((res = pg_q(pg, "cancel", "UPDATE spoolcgi_job SET "
	    "state = CASE WHEN state = 'queued' THEN 'cancelled' "
	    "ELSE state END, "
	    "finished_at = CASE WHEN state = 'queued' THEN now() "
	    "ELSE finished_at END, "
	    "cancel_requested_at = coalesce(cancel_requested_at, now()) "
	    "WHERE id = $1::uuid AND state IN ('queued', 'running') "
	    "RETURNING state", &a, 0)) == NULL)
		goto fail;
	running = PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), "running") == 0;
	PQclear(res);
	if (running && pg_do(pg, "cancel", "SELECT "
	    "pg_notify('spoolcgi_cancel', $1)", &a) == -1)
		goto fail;
	if (pg_commit(pg, "cancel") == -1)
		return STORE_ERR;
	return pg_read(pg, id, st, NULL);
fail:
	pg_rollback(pg);
	return STORE_ERR;
}

/* Names joined by '\n' (task names hold none: config.c). */
static int
pg_join(struct buf *b, const char *const *v, size_t n)
{
	size_t	 i;

	buf_reset(b);
	for (i = 0; i < n; i++)
		if ((i > 0 && buf_puts(b, "\n") == -1) ||
		    buf_puts(b, v[i]) == -1)
			return -1;
	return 0;
}

/*
 * Claim the first queued job in FIFO order that the caps allow, for
 * worker: at most cfg->max_running running in all, a task's max_running,
 * and client_cap running per owner (0: no cap); only tasks[0..ntasks-1]
 * when tasks is not NULL.  The claim bumps the attempt (the fencing
 * token) and makes the job running with a fresh heartbeat; the caller
 * then takes its lock with pg_run_lock on the supervisor's connection.
 * Claims are serialised by PG_LOCK_CLAIM, so the caps are exact across
 * any number of claimers.  Returns STORE_OK (run filled), STORE_NOENT
 * (nothing may start now) or STORE_ERR.
 */
int
pg_claim(struct pg *pg, const struct config *cfg, const char *const *tasks,
    size_t ntasks, int client_cap, const char *worker, struct pgrun *run)
{
	struct buf	 names = { 0 }, caps = { 0 };
	struct buf	 served = { 0 };
	struct pgargs	 a;
	PGresult	*res = NULL;
	size_t		 i;
	int		 rc = STORE_ERR;
	char		 id[SPOOLCGI_ID_LEN + 1];

	/* Served tasks, but none of them: nothing to claim. */
	if (tasks != NULL && ntasks == 0)
		return STORE_NOENT;
	if (buf_puts(&names, "") == -1 || buf_puts(&caps, "") == -1)
		goto nomem;
	for (i = 0; i < cfg->ntasks; i++)
		if ((i > 0 && (buf_puts(&names, "\n") == -1 ||
		    buf_puts(&caps, ",") == -1)) ||
		    buf_puts(&names, cfg->tasks[i].name) == -1 ||
		    buf_putint(&caps, cfg->tasks[i].max_running) == -1)
			goto nomem;
	if (tasks != NULL && pg_join(&served, tasks, ntasks) == -1)
		goto nomem;
	/*
	 * Read committed: each statement after the lock's sees every claim
	 * committed before the lock was granted, so the counts are exact.
	 */
	if (pg_begin(pg, "claim", PG_LOCK_CLAIM) == -1)
		goto done;
	a.n = 0;
	arg_int(&a, cfg->max_running);
	arg_text(&a, names.data);
	arg_text(&a, caps.data);
	arg_text(&a, tasks != NULL ? served.data : NULL);
	arg_int(&a, client_cap);
	if ((res = pg_q(pg, "claim", "WITH run AS MATERIALIZED ("
	    " SELECT task, owner FROM spoolcgi_job WHERE state = 'running'),"
	    " caps AS (SELECT * FROM unnest(string_to_array($2, E'\\n'),"
	    "  string_to_array($3, ',')::integer[]) AS c(task, cap))"
	    " SELECT j.id::text FROM spoolcgi_job j"
	    " WHERE j.state = 'queued'"
	    " AND (SELECT count(*) FROM run) < $1::integer"
	    " AND ($4::text IS NULL OR"
	    "  j.task = ANY (string_to_array($4, E'\\n')))"
	    " AND ($5::integer = 0 OR (SELECT count(*) FROM run r"
	    "  WHERE r.owner = j.owner) < $5::integer)"
	    " AND NOT EXISTS (SELECT 1 FROM caps c WHERE c.task = j.task"
	    "  AND c.cap > 0 AND c.cap <= (SELECT count(*) FROM run r"
	    "  WHERE r.task = j.task))"
	    " ORDER BY j.seq LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
	    &a, 0)) == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		pg_rollback(pg);
		rc = STORE_NOENT;
		goto done;
	}
	snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	a.n = 0;
	arg_text(&a, id);
	arg_text(&a, worker);
	if ((res = pg_q(pg, "claim", "UPDATE spoolcgi_job j SET "
	    "state = 'running', attempt = attempt + 1, worker = $2, "
	    "started_at = clock_timestamp(), "
	    "heartbeat_at = clock_timestamp() WHERE j.id = $1::uuid "
	    "RETURNING " PG_STATUS_COLS, &a, 0)) == NULL)
		goto fail;
	memset(run, 0, sizeof(*run));
	if (PQntuples(res) != 1 ||
	    pg_row_status(pg, res, 0, &run->st, NULL) == -1)
		goto fail;
	run->seq = pg_ll(res, 0, 13);
	run->attempt = run->st.attempts;
	PQclear(res);
	res = NULL;
	if (pg_commit(pg, "claim") == -1)
		goto done;
	rc = STORE_OK;
	goto done;
nomem:
	log_warn("database: claim");
	goto done;
fail:
	PQclear(res);
	res = NULL;
	pg_rollback(pg);
done:
	PQclear(res);
	buf_free(&names);
	buf_free(&caps);
	buf_free(&served);
	return rc;
}

/*
 * Give back the claims of worker that no supervisor of its holds: when a
 * broken connection lost a claim's answer, its COMMIT may have been made,
 * and the job would read running with nobody on it until the settle's
 * grace, then "interrupted": a database restart taken for a dead worker.
 * Rows claimed by worker, running, not among keep[0..nkeep-1] (the jobs
 * of its live supervisors and those it is settling), with no cancel asked
 * and with their lock free, go back to queued in their place, their
 * attempt undone: no task of theirs ever started.  *n: how many.
 * Returns 0, or -1 (logged).
 */
int
pg_unclaim(struct pg *pg, const char *worker, const char *const *keep,
    size_t nkeep, int *n)
{
	struct buf	 ids = { 0 };
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;

	*n = 0;
	if (buf_puts(&ids, "") == -1 || pg_join(&ids, keep, nkeep) == -1) {
		log_warn("database: unclaim");
		buf_free(&ids);
		return -1;
	}
	arg_text(&a, worker);
	arg_text(&a, ids.data);
	res = pg_q(pg, "unclaim", "UPDATE spoolcgi_job j SET state = 'queued', "
	    "attempt = j.attempt - 1, worker = NULL, started_at = NULL, "
	    "heartbeat_at = NULL, progress = -1 WHERE j.worker = $1 AND "
	    "j.state = 'running' AND j.cancel_requested_at IS NULL AND "
	    "NOT (j.id::text = ANY (string_to_array($2, E'\\n'))) AND "
	    "pg_try_advisory_xact_lock(j.seq) RETURNING j.id::text, "
	    "pg_notify('spoolcgi_queued', j.id::text)", &a, 0);
	buf_free(&ids);
	if (res == NULL)
		return -1;
	*n = PQntuples(res);
	PQclear(res);
	return 0;
}

/*
 * Take the lock of claimed job run on pg, the supervisor's own
 * connection, for as long as it lives, and check that the claim still
 * holds.  Returns STORE_OK; STORE_BUSY (another session holds the lock);
 * STORE_NOENT (fenced out: the attempt is no longer running); STORE_ERR.
 */
int
pg_run_lock(struct pg *pg, struct pgrun *run)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	int		 got, rc;

	arg_int(&a, run->seq);
	if ((res = pg_q(pg, "lock", "SELECT pg_try_advisory_lock($1::bigint)",
	    &a, 0)) == NULL)
		return STORE_ERR;
	got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!got)
		return STORE_BUSY;
	run->pg = pg;
	if ((rc = pg_run_beat(run, run->st.progress, run->st.message, NULL,
	    0, NULL)) != STORE_OK)
		pg_run_release(run);
	return rc;
}

/*
 * The heartbeat of running attempt run: progress, message and the tail
 * of its log; *cancel (when not NULL) set when a cancel was asked.
 * Guarded by the attempt: returns STORE_OK, STORE_NOENT (fenced out:
 * kill the task, write nothing more) or STORE_ERR (the database is
 * unreachable: after ~10 s of these, the caller kills its task).
 */
int
pg_run_beat(struct pgrun *run, int progress, const char *message,
    const char *tail, size_t len, int *cancel)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	int		 rc = STORE_NOENT;

	if (run->pg == NULL) {
		errno = EINVAL;
		log_warn("database: heartbeat %s without its lock", run->st.id);
		return STORE_ERR;
	}
	arg_text(&a, run->st.id);
	arg_int(&a, run->attempt);
	arg_int(&a, progress);
	arg_text(&a, message != NULL ? message : "");
	if (tail != NULL)
		arg_bin(&a, tail, len);
	else
		arg_text(&a, NULL);
	if ((res = pg_q(run->pg, "heartbeat", "UPDATE spoolcgi_job SET "
	    "heartbeat_at = clock_timestamp(), progress = $3::integer, "
	    "message = $4, log_tail = coalesce($5::bytea, log_tail) "
	    "WHERE id = $1::uuid AND attempt = $2::integer "
	    "AND state = 'running' "
	    "RETURNING cancel_requested_at IS NOT NULL", &a, 0)) == NULL)
		return STORE_ERR;
	if (PQntuples(res) == 1) {
		rc = STORE_OK;
		if (cancel != NULL)
			*cancel = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	}
	PQclear(res);
	return rc;
}

/*
 * A new large object holding the bytes read from fd (from where it
 * stands, to its end) or, when fd is -1, buf's len bytes; in pieces.
 * Inside a transaction.  Returns its oid, or InvalidOid (logged).
 */
static Oid
pg_lo_put(struct pg *pg, int fd, const char *buf, size_t len)
{
	char	*chunk = NULL;
	ssize_t	 n;
	size_t	 off = 0, w;
	Oid	 oid;
	int	 lfd;

	if ((oid = lo_creat(pg->conn, INV_READ | INV_WRITE)) == InvalidOid) {
		pg_fail(pg, "create a result");
		return InvalidOid;
	}
	if ((lfd = lo_open(pg->conn, oid, INV_WRITE)) == -1) {
		pg_fail(pg, "open a result");
		return InvalidOid;
	}
	if (fd != -1 && (chunk = malloc(PG_CHUNK)) == NULL) {
		log_warn("database: write a result");
		goto fail;
	}
	for (;;) {
		if (fd != -1) {
			if ((n = read(fd, chunk, PG_CHUNK)) == -1) {
				if (errno == EINTR)
					continue;
				log_warn("database: read the result to store");
				goto fail;
			}
			if (n == 0)
				break;
			w = (size_t)n;
		} else {
			if (off == len)
				break;
			w = len - off > PG_CHUNK ? PG_CHUNK : len - off;
		}
		if (lo_write(pg->conn, lfd, fd != -1 ? chunk : buf + off, w) !=
		    (int)w) {
			pg_fail(pg, "write a result");
			goto fail;
		}
		off += w;
	}
	free(chunk);
	if (lo_close(pg->conn, lfd) == -1) {
		pg_fail(pg, "close a result");
		return InvalidOid;
	}
	return oid;
fail:
	free(chunk);
	(void)lo_close(pg->conn, lfd);
	return InvalidOid;
}

/*
 * The final write: one transaction that stores the result (fd, or buf
 * when fd is -1 and buf is not NULL) as a large object and then the end,
 * guarded by the attempt: the result is durable before the final state
 * is visible, and a fenced-out write leaves no large object behind.  An
 * end "interrupted" (the supervisor stopped its task for its worker or
 * for the database) queues the job again instead while its retries
 * allow (PG_REQUEUE), with no result.
 */
static int
pg_finish(struct pgrun *run, const struct jobstatus *st, int fd,
    const char *result, size_t len)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	Oid		 oid = InvalidOid;
	int		 rc;

	if (run->pg == NULL) {
		errno = EINVAL;
		log_warn("database: finish %s", run->st.id);
		return STORE_ERR;
	}
	if (pg_begin(run->pg, "finish", 0) == -1)
		goto fail;
	arg_text(&a, run->st.id);
	arg_int(&a, run->attempt);
	if (st->state == JOB_FAILED &&
	    strcmp(st->error_code, "interrupted") == 0) {
		if ((res = pg_q(run->pg, "finish", "UPDATE spoolcgi_job j "
		    "SET " PG_REQUEUE " WHERE id = $1::uuid AND "
		    "attempt = $2::integer AND state = 'running' AND "
		    PG_RETRY_LEFT " RETURNING " PG_REQUEUED, &a, 0)) == NULL)
			goto rollback;
		if (PQntuples(res) == 1) {
			if (pg_commit(run->pg, "finish") == -1) {
				PQclear(res);
				goto fail;
			}
			run->requeued = 1;
			pg_log_requeued(res);
			PQclear(res);
			pg_run_release(run);
			return STORE_OK;
		}
		PQclear(res);
	}
	if ((fd != -1 || result != NULL) &&
	    (oid = pg_lo_put(run->pg, fd, result, len)) == InvalidOid)
		goto rollback;
	arg_text(&a, job_state_name(st->state));
	arg_int(&a, st->progress);
	arg_text(&a, st->message);
	arg_text(&a, st->error_code);
	arg_text(&a, st->error_message);
	if (oid != InvalidOid)
		arg_int(&a, (long long)oid);
	else
		arg_text(&a, NULL);
	if ((res = pg_q(run->pg, "finish", "UPDATE spoolcgi_job SET "
	    "state = $3, finished_at = clock_timestamp(), "
	    "heartbeat_at = clock_timestamp(), progress = $4::integer, "
	    "message = $5, error_code = nullif($6, ''), "
	    "error_message = nullif($7, ''), result = NULL, "
	    "result_oid = $8::oid "
	    "WHERE id = $1::uuid AND attempt = $2::integer "
	    "AND state = 'running' AND $3 <> 'queued' AND $3 <> 'running' "
	    "RETURNING 1", &a, 0)) == NULL)
		goto rollback;
	rc = PQntuples(res) == 1 ? STORE_OK : STORE_NOENT;
	PQclear(res);
	if (rc == STORE_NOENT)
		pg_rollback(run->pg);	/* and the large object with it */
	else if (pg_commit(run->pg, "finish") == -1)
		goto fail;
	pg_run_release(run);
	return rc;
rollback:
	pg_rollback(run->pg);
fail:
	pg_run_release(run);
	return STORE_ERR;
}

/*
 * The final write of running attempt run: st's state, progress, message
 * and error, and the result (NULL: none), guarded by the attempt; then
 * the lock is let go.  Returns STORE_OK (run->requeued set when an end
 * "interrupted" queued the job again), STORE_NOENT (fenced out: nothing
 * was written) or STORE_ERR.
 */
int
pg_run_finish(struct pgrun *run, const struct jobstatus *st,
    const char *result, size_t len)
{
	return pg_finish(run, st, -1, result, len);
}

/*
 * The same, with the result read from fd (-1: none) in pieces, from
 * where it stands to its end: a result of any size, never whole in
 * memory.
 */
int
pg_run_finish_fd(struct pgrun *run, const struct jobstatus *st, int fd)
{
	return pg_finish(run, st, fd, NULL, 0);
}

/* Let go of run's lock (its connection may also just close). */
void
pg_run_release(struct pgrun *run)
{
	struct pgargs	 a = { .n = 0 };

	if (run->pg == NULL)
		return;
	arg_int(&a, run->seq);
	(void)pg_do(run->pg, "unlock", "SELECT "
	    "pg_advisory_unlock($1::bigint)", &a);
	run->pg = NULL;
}

/*
 * The connection's socket, for a caller's poll(2) while it waits for a
 * notification, or -1 when it has none.
 */
int
pg_socket(const struct pg *pg)
{
	return PQsocket(pg->conn);
}

/*
 * Listen on the channel of cancels (cancel set: pg_cancel notifies it
 * with the job's id) or of new jobs (pg_submit).  A LISTEN lasts as long
 * as the session: call it again after pg_reconnect.  Returns 0 or -1.
 */
int
pg_listen(struct pg *pg, int cancel)
{
	/* Constant text: a channel is an identifier, not a parameter. */
	return pg_do(pg, "listen", cancel ? "LISTEN spoolcgi_cancel" :
	    "LISTEN spoolcgi_queued", NULL);
}

/*
 * Take in what the server sent without waiting (libpq's socket never
 * blocks a read) and count the notifications that came, only those whose
 * payload is payload when it is not NULL.  Returns the count, or -1 when
 * the connection is broken (pg_reconnect, then pg_listen again).
 */
int
pg_notified(struct pg *pg, const char *payload)
{
	PGnotify	*n;
	int		 count = 0;

	if (PQconsumeInput(pg->conn) == 0 ||
	    PQstatus(pg->conn) != CONNECTION_OK) {
		pg_oneline(pg->err, sizeof(pg->err), PQerrorMessage(pg->conn));
		errno = ECONNRESET;
		return -1;
	}
	while ((n = PQnotifies(pg->conn)) != NULL) {
		if (payload == NULL || strcmp(n->extra, payload) == 0)
			count++;
		PQfreemem(n);
	}
	return count;
}

/*
 * Job id's attempt ends as "interrupted" now, for a worker that saw its
 * supervisor die: queued again while its retries allow (PG_REQUEUE),
 * else failed with error.message msg; guarded by the attempt, and only
 * while nobody holds the job's lock (the supervisor is gone, and so is
 * its session).  Returns STORE_OK, STORE_NOENT (fenced out or not
 * running), STORE_BUSY (its lock is held) or STORE_ERR.
 */
int
pg_interrupt(struct pg *pg, const char *id, int attempt, const char *msg)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	int		 rc;

	if (pg_begin(pg, "interrupt", 0) == -1)
		return STORE_ERR;
	arg_text(&a, id);
	arg_int(&a, attempt);
	if ((res = pg_q(pg, "interrupt", "SELECT "
	    "pg_try_advisory_xact_lock(seq) FROM spoolcgi_job WHERE "
	    "id = $1::uuid AND attempt = $2::integer AND state = 'running' "
	    "FOR UPDATE", &a, 0)) == NULL) {
		pg_rollback(pg);
		return STORE_ERR;
	}
	rc = PQntuples(res) == 0 ? STORE_NOENT :
	    strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? STORE_OK : STORE_BUSY;
	PQclear(res);
	if (rc != STORE_OK) {
		pg_rollback(pg);
		return rc;
	}
	if ((res = pg_q(pg, "interrupt", "UPDATE spoolcgi_job j SET "
	    PG_REQUEUE " WHERE id = $1::uuid AND attempt = $2::integer AND "
	    PG_RETRY_LEFT " RETURNING " PG_REQUEUED, &a, 0)) == NULL) {
		pg_rollback(pg);
		return STORE_ERR;
	}
	arg_text(&a, msg);
	if (PQntuples(res) == 0 && pg_do(pg, "interrupt", "UPDATE "
	    "spoolcgi_job SET state = 'failed', finished_at = now(), "
	    "error_code = 'interrupted', error_message = $3 "
	    "WHERE id = $1::uuid AND attempt = $2::integer", &a) == -1) {
		PQclear(res);
		pg_rollback(pg);
		return STORE_ERR;
	}
	if (pg_commit(pg, "interrupt") == -1) {
		PQclear(res);
		return STORE_ERR;
	}
	pg_log_requeued(res);
	PQclear(res);
	return STORE_OK;
}

/*
 * Settle interrupted jobs: running rows whose lock can be taken, whose
 * last heartbeat is older than grace seconds, and which have been
 * running longer than grace since the server started (a restart drops
 * every lock and must not read as dead workers).  Each is queued again
 * while its retries allow (PG_REQUEUE), else fails with "interrupted";
 * either way the old attempt's late writes are fenced out.  Call it on a
 * connection that holds no job's lock (advisory locks are re-entrant
 * within a session).  *n: how many.  Returns 0, or -1 (logged).
 */
int
pg_settle(struct pg *pg, int grace, int *n)
{
	return pg_settle_run(pg, NULL, grace, n);
}

/*
 * Expire at most batch finished jobs older than keep seconds into
 * tombstones that answer "gone" for tomb seconds, and remove at most
 * batch tombstones past their time; small batches keep each transaction
 * short.  *jobs and *tombs: how many of each.  Returns 0, or -1.
 */
int
pg_expire(struct pg *pg, long keep, long tomb, int batch, int *jobs,
    int *tombs)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;

	*jobs = *tombs = 0;
	arg_int(&a, keep);
	arg_int(&a, tomb);
	arg_int(&a, batch);
	if ((res = pg_q(pg, "expire", "WITH gone AS (DELETE FROM spoolcgi_job "
	    "WHERE id IN (SELECT id FROM spoolcgi_job WHERE "
	    "finished_at IS NOT NULL AND state IN ('succeeded', 'failed', "
	    "'cancelled') AND finished_at < now() - "
	    "make_interval(secs => $1::bigint) ORDER BY finished_at "
	    "LIMIT $3::integer FOR UPDATE SKIP LOCKED) RETURNING id) "
	    "INSERT INTO spoolcgi_tombstone (id, gone_until) SELECT id, "
	    "now() + make_interval(secs => $2::bigint) FROM gone "
	    "ON CONFLICT (id) DO NOTHING RETURNING 1", &a, 0)) == NULL)
		return -1;
	*jobs = PQntuples(res);
	PQclear(res);
	a.n = 0;
	arg_int(&a, batch);
	if ((res = pg_q(pg, "expire", "DELETE FROM spoolcgi_tombstone WHERE "
	    "id IN (SELECT id FROM spoolcgi_tombstone WHERE gone_until <= "
	    "now() ORDER BY gone_until LIMIT $1::integer "
	    "FOR UPDATE SKIP LOCKED) RETURNING 1", &a, 0)) == NULL)
		return -1;
	*tombs = PQntuples(res);
	PQclear(res);
	return 0;
}

/* "db status": the schema and the jobs by state.  Returns 0 or 1. */
static int
pg_status(struct pg *pg)
{
	PGresult	*res;
	int		 v;

	if (pg_schema_version(pg, &v) == -1)
		return 1;
	printf("schema: version %d (this spoolcgi: %d)\n", v,
	    PG_SCHEMA_VERSION);
	if (v != PG_SCHEMA_VERSION)
		return pg_schema_check(pg) == -1 ? 1 : 0;
	if ((res = pg_q(pg, "status", "SELECT "
	    "count(*) FILTER (WHERE state = 'queued'), "
	    "count(*) FILTER (WHERE state = 'running'), "
	    "count(*) FILTER (WHERE finished_at IS NOT NULL), "
	    "(SELECT count(*) FROM spoolcgi_tombstone) "
	    "FROM spoolcgi_job", NULL, 0)) == NULL)
		return 1;
	printf("jobs: %lld queued, %lld running, %lld finished; "
	    "%lld tombstones\n", pg_ll(res, 0, 0), pg_ll(res, 0, 1),
	    pg_ll(res, 0, 2), pg_ll(res, 0, 3));
	PQclear(res);
	/* What the server does about a vanished client (pg_open). */
	if ((res = pg_q(pg, "status", "SELECT inet_server_addr() IS NULL, "
	    "current_setting('tcp_keepalives_idle'), "
	    "current_setting('tcp_keepalives_interval'), "
	    "current_setting('tcp_keepalives_count'), "
	    "current_setting('tcp_user_timeout')", NULL, 0)) == NULL)
		return 1;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		printf("connection: a Unix socket (keepalives do not apply)\n");
	else
		printf("connection: TCP; the server's keepalives: idle %s, "
		    "interval %s, count %s, user timeout %s\n",
		    PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
		    PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
	PQclear(res);
	return 0;
}

/*
 * "spoolcgi -c FILE db init|upgrade|status": the schema of the database
 * of cfg.  Returns the exit status: 0, 1 (a failure, logged) or 2 (usage).
 */
int
pg_main(const struct config *cfg, int argc, char *argv[])
{
	struct pg	*pg;
	int		 rc = 1, from, to, init;

	if (argc != 1 || (strcmp(argv[0], "init") != 0 &&
	    strcmp(argv[0], "upgrade") != 0 &&
	    strcmp(argv[0], "status") != 0)) {
		fprintf(stderr, "usage: spoolcgi [-c file] db "
		    "init|upgrade|status\n");
		return 2;
	}
	if (cfg->database == NULL) {
		log_warnx("%s: database: the key is missing: give the libpq "
		    "connection string of the PostgreSQL database, e.g. "
		    "\"database\": \"dbname=spoolcgi\"", cfg->path);
		return 2;
	}
	if ((pg = pg_open(cfg->database)) == NULL)
		return 1;
	init = strcmp(argv[0], "init") == 0;
	if (strcmp(argv[0], "status") == 0)
		rc = pg_status(pg);
	else if (pg_schema_version(pg, &from) == -1)
		rc = 1;
	else if (from > PG_SCHEMA_VERSION)
		rc = pg_schema_check(pg) == -1 ? 1 : 0;
	else if (init && from != 0 && from < PG_SCHEMA_VERSION)
		rc = pg_schema_check(pg) == -1 ? 1 : 0;
	else if (!init && from == 0)
		rc = pg_schema_check(pg) == -1 ? 1 : 0;
	else if (from == PG_SCHEMA_VERSION) {
		printf("schema: already at version %d\n", from);
		rc = 0;
	} else if (pg_migrate(pg, &from, &to) == 0) {
		printf("schema: version %d (was %d)\n", to, from);
		rc = 0;
	}
	pg_close(pg);
	return rc;
}

/* ------------------------------------------------ the front's requests */

/*
 * Is pg's connection broken (the server restarted or went away, found by
 * the last call)?  The front then reconnects before its next statement.
 */
int
pg_broken(const struct pg *pg)
{
	return PQstatus(pg->conn) != CONNECTION_OK;
}

/*
 * Apply change to job id under its row lock (SELECT ... FOR UPDATE) and
 * write what it changed: the store's one read-modify-write, as the file
 * spool's store_update.  A running job is not touched: its supervisor
 * holds it (the verdict "interrupted" is pg_settle's, with its grace and
 * fence).  st: the job after.  Returns STORE_OK, STORE_NOENT,
 * STORE_BUSY (running) or STORE_ERR.
 */
int
pg_update(struct pg *pg, const char *id, store_change_fn change, void *arg,
    struct jobstatus *st)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	int		 n;

	if (!job_id_check(id, strlen(id)))
		return STORE_NOENT;
	if (pg_begin(pg, "update", 0) == -1)
		return STORE_ERR;
	arg_text(&a, id);
	if ((res = pg_q(pg, "update", "SELECT " PG_STATUS_COLS " FROM "
	    "spoolcgi_job j WHERE j.id = $1::uuid FOR UPDATE OF j", &a,
	    0)) == NULL)
		goto fail;
	if ((n = PQntuples(res)) == 1 &&
	    pg_row_status(pg, res, 0, st, NULL) == -1) {
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	if (n != 1 || st->state == JOB_RUNNING || !change(st, arg)) {
		pg_rollback(pg);
		return n != 1 ? STORE_NOENT : st->state == JOB_RUNNING ?
		    STORE_BUSY : STORE_OK;
	}
	a.n = 0;
	arg_text(&a, id);
	arg_text(&a, job_state_name(st->state));
	arg_int(&a, st->progress);
	arg_text(&a, st->message);
	arg_int(&a, (long long)st->finished_at);
	arg_text(&a, st->error_code);
	arg_text(&a, st->error_message);
	if (pg_do(pg, "update", "UPDATE spoolcgi_job SET state = $2, "
	    "progress = $3::integer, message = $4, finished_at = CASE WHEN "
	    "$5::bigint = 0 THEN NULL ELSE to_timestamp($5::bigint) END, "
	    "error_code = nullif($6, ''), error_message = nullif($7, '') "
	    "WHERE id = $1::uuid", &a) == -1)
		goto fail;
	if (pg_commit(pg, "update") == -1)
		return STORE_ERR;
	return STORE_OK;
fail:
	pg_rollback(pg);
	return STORE_ERR;
}

/*
 * Remove final job id (DELETE): no tombstone, as on one host.  Returns
 * STORE_OK, STORE_NOENT (no such final job) or STORE_ERR.
 */
int
pg_remove(struct pg *pg, const char *id)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	int		 rc;

	if (!job_id_check(id, strlen(id)))
		return STORE_NOENT;
	arg_text(&a, id);
	if ((res = pg_q(pg, "remove", "DELETE FROM spoolcgi_job WHERE "
	    "id = $1::uuid AND state IN ('succeeded', 'failed', 'cancelled') "
	    "RETURNING 1", &a, 0)) == NULL)
		return STORE_ERR;
	rc = PQntuples(res) == 1 ? STORE_OK : STORE_NOENT;
	PQclear(res);
	return rc;
}

/*
 * The last tail bytes of job id's log tail (what the heartbeats stored)
 * appended to out, the tail's whole size in *size.  Returns STORE_OK,
 * STORE_NOENT or STORE_ERR.
 */
int
pg_log_read(struct pg *pg, const char *id, long long tail, struct buf *out,
    long long *size)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	const char	*v;
	long long	 len;
	int		 rc = STORE_NOENT;

	*size = 0;
	if (!job_id_check(id, strlen(id)))
		return STORE_NOENT;
	arg_text(&a, id);
	if ((res = pg_q(pg, "log", "SELECT coalesce(log_tail, ''::bytea) "
	    "FROM spoolcgi_job WHERE id = $1::uuid", &a, 1)) == NULL)
		return STORE_ERR;
	if (PQntuples(res) == 1) {
		rc = STORE_OK;
		v = PQgetvalue(res, 0, 0);
		len = PQgetlength(res, 0, 0);
		*size = len;
		if (tail < len) {
			v += len - tail;
			len = tail;
		}
		if (len > 0 && buf_append(out, v, (size_t)len) == -1) {
			log_warn("database: log %s", id);
			rc = STORE_ERR;
		}
	}
	PQclear(res);
	return rc;
}

/* Queued and running jobs, for /health.  Returns 0, or -1. */
int
pg_counts(struct pg *pg, int *queued, int *running)
{
	PGresult	*res;

	*queued = *running = 0;
	if ((res = pg_q(pg, "counts", "SELECT "
	    "(SELECT count(*) FROM spoolcgi_job WHERE state = 'queued'), "
	    "(SELECT count(*) FROM spoolcgi_job WHERE state = 'running')",
	    NULL, 0)) == NULL)
		return -1;
	*queued = (int)pg_ll(res, 0, 0);
	*running = (int)pg_ll(res, 0, 1);
	PQclear(res);
	return 0;
}

/*
 * One page of owner's jobs, newest first, as store_owner_list: at most
 * limit into out, their number in *n; before: "" or a cursor given here
 * (the seq of the last job of the page before, in decimal); next: the
 * cursor of the following page, or "".  Returns STORE_OK, STORE_NOENT
 * (before is not a cursor) or STORE_ERR.
 */
int
pg_owner_list(struct pg *pg, const char *owner, const char *before,
    size_t limit, struct jobstatus *out, size_t *n, char *next,
    size_t nextsz)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	size_t		 i, rows;
	int		 rc = STORE_OK, stale, settled, pass;

	*n = 0;
	next[0] = '\0';
	if (before != NULL && *before != '\0' &&
	    (strlen(before) > 18 || strspn(before, "0123456789") !=
	    strlen(before)))
		return STORE_NOENT;
	arg_text(&a, owner);
	arg_text(&a, before != NULL && *before != '\0' ? before : NULL);
	arg_int(&a, (long long)limit + 1);
	arg_int(&a, PG_GRACE_SECONDS);
	/*
	 * A page that shows a stale running job (PG_STALE) settles every
	 * stale job, as a worker does (at most once per PG_SETTLE_IDLE_MS
	 * while that finds none), and is read again once.
	 */
	for (pass = 0;; pass++) {
		if ((res = pg_q(pg, "owner list", "SELECT " PG_STATUS_COLS
		    ", " PG_STALE("$4") " FROM spoolcgi_job j WHERE "
		    "j.owner = $1 AND ($2::bigint IS NULL OR j.seq < "
		    "$2::bigint) ORDER BY j.seq DESC LIMIT $3::integer", &a,
		    0)) == NULL)
			return STORE_ERR;
		rows = (size_t)PQntuples(res);
		for (i = 0, stale = 0; i < rows && i < limit; i++)
			if (strcmp(PQgetvalue(res, (int)i, PG_STALE_COL),
			    "t") == 0)
				stale = 1;
		if (pass > 0 || !stale || proc_now_ms() < pg->settle_idle ||
		    pg_settle_run(pg, NULL, PG_GRACE_SECONDS, &settled) == -1)
			break;
		if (settled == 0) {
			pg->settle_idle = proc_now_ms() + PG_SETTLE_IDLE_MS;
			break;
		}
		PQclear(res);
	}
	for (i = 0; i < rows && i < limit; i++)
		if (pg_row_status(pg, res, (int)i, &out[i], NULL) == -1) {
			rc = STORE_ERR;
			break;
		}
	if (rc == STORE_OK) {
		*n = i;
		if (rows > limit && limit > 0)
			snprintf(next, nextsz, "%lld",
			    pg_ll(res, (int)limit - 1, 13));
	}
	PQclear(res);
	return rc;
}

/*
 * Call fn(arg, id) for every job, oldest first: the operator's listing
 * ("spoolcgi jobs"), never a request.  Returns 0, or -1 (logged).
 */
int
pg_jobs(struct pg *pg, int (*fn)(void *, const char *), void *arg)
{
	PGresult	*res;
	int		 i;

	if ((res = pg_q(pg, "jobs", "SELECT id::text FROM spoolcgi_job "
	    "ORDER BY seq", NULL, 0)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(res); i++)
		(void)fn(arg, PQgetvalue(res, i, 0));
	PQclear(res);
	return 0;
}

/*
 * Job id's uploads, each copied (in pieces) into the descriptor
 * create(arg, name) gives, which is then closed; only names[] that
 * pg_submit_files stored.  With only (not NULL), that upload alone.
 * One transaction.  Returns STORE_OK, STORE_NOENT (only: no such
 * upload) or STORE_ERR.
 */
int
pg_uploads_copy(struct pg *pg, const char *id, const char *only,
    int (*create)(void *, const char *), void *arg)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	long long	 size;
	int		 i, fd, rc = STORE_OK;

	if (!job_id_check(id, strlen(id)))
		return STORE_NOENT;
	if (pg_begin(pg, "uploads", 0) == -1)
		return STORE_ERR;
	arg_text(&a, id);
	arg_text(&a, only);
	if ((res = pg_q(pg, "uploads", "SELECT name, data::bigint FROM "
	    "spoolcgi_upload WHERE job = $1::uuid AND ($2::text IS NULL OR "
	    "name = $2) ORDER BY name", &a, 0)) == NULL) {
		pg_rollback(pg);
		return STORE_ERR;
	}
	if (only != NULL && PQntuples(res) == 0)
		rc = STORE_NOENT;
	for (i = 0; rc == STORE_OK && i < PQntuples(res); i++) {
		if ((fd = create(arg, PQgetvalue(res, i, 0))) == -1) {
			rc = STORE_ERR;
			break;
		}
		if (pg_lo_get(pg, (Oid)pg_ll(res, i, 1), fd, NULL, &size) == -1)
			rc = STORE_ERR;
		if (close(fd) == -1 && rc == STORE_OK) {
			log_warn("database: upload %s of %s", PQgetvalue(res,
			    i, 0), id);
			rc = STORE_ERR;
		}
	}
	PQclear(res);
	if (rc != STORE_OK) {
		pg_rollback(pg);
		return rc;
	}
	return pg_commit(pg, "uploads") == -1 ? STORE_ERR : STORE_OK;
}

/*
 * Listen (on) for jobs becoming final ("spoolcgi_done", the trigger of
 * schema version 3), or stop (off) and forget what came meanwhile, so
 * that a connection kept for polls queues nothing.  Returns 0 or -1.
 */
int
pg_watch(struct pg *pg, int on)
{
	if (on)
		return pg_do(pg, "watch", "LISTEN spoolcgi_done", NULL);
	if (pg_do(pg, "watch", "UNLISTEN spoolcgi_done", NULL) == -1)
		return -1;
	return pg_notified(pg, NULL) == -1 ? -1 : 0;
}

/*
 * What fronts that share the database share (README "Shared between
 * fronts"), where one host keeps it in its spool: the owners' secret,
 * and the per-client limits, counted from the job rows.
 */

_Static_assert(STORE_SECRET_LEN == 32, "spoolcgi_secret holds 32 bytes");

/*
 * The owners' secret into out (STORE_SECRET_LEN bytes).  With offer
 * (not NULL), offer's bytes become the secret when there is none yet:
 * of several fronts the first INSERT wins, and every front reads that
 * row.  Returns 0, 1 when there is none (offer NULL), or -1 (logged).
 */
int
pg_secret(struct pg *pg, const unsigned char *offer, unsigned char *out)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	int		 rc = 0;

	if (offer != NULL) {
		arg_bin(&a, offer, STORE_SECRET_LEN);
		if (pg_do(pg, "secret", "INSERT INTO spoolcgi_secret (id, "
		    "secret) VALUES (1, $1::bytea) ON CONFLICT (id) DO "
		    "NOTHING", &a) == -1)
			return -1;
	}
	if ((res = pg_q(pg, "secret", "SELECT secret FROM spoolcgi_secret "
	    "WHERE id = 1", NULL, 1)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		rc = 1;
	else if (PQgetlength(res, 0, 0) != STORE_SECRET_LEN) {
		snprintf(pg->err, sizeof(pg->err), "the owners' secret is "
		    "not %d bytes", STORE_SECRET_LEN);
		log_warnx("database: %s", pg->err);
		errno = EIO;
		rc = -1;
	} else
		memcpy(out, PQgetvalue(res, 0, 0), STORE_SECRET_LEN);
	PQclear(res);
	return rc;
}

/* Take (lock) or give back client's session advisory lock: 0 or -1. */
static int
pg_client_lock(struct pg *pg, const char *client, int lock)
{
	struct pgargs	 a = { .n = 0 };

	arg_int(&a, PG_LOCK_CLIENTS);
	arg_text(&a, client);
	return pg_do(pg, "client", lock ? "SELECT pg_advisory_lock("
	    "$1::integer, hashtext($2))" : "SELECT pg_advisory_unlock("
	    "$1::integer, hashtext($2))", &a);
}

/*
 * Admit a start from client (its address) under the per-client limits,
 * as store_client_admit: fewer than maxjobs of its jobs queued or
 * running (0: no limit), counted from the rows pg_client_done tagged,
 * and fewer than perminute starts in the minute that began at its
 * window's start (0: no limit; the database's clock, one for every
 * front), this one then counted.  Admitted, the client's lock stays held
 * until pg_client_done, so that no other start of it, on any front, is
 * counted before this one's row is tagged.  Returns 0 when admitted, 1
 * when over a limit (*retry: seconds to wait), or -1 (logged; the lock
 * is not held).
 */
int
pg_client_admit(struct pg *pg, const char *client, int maxjobs,
    int perminute, int *retry)
{
	struct pgargs	 a = { .n = 0 };
	PGresult	*res;
	long long	 now, start, count;

	if (pg_client_lock(pg, client, 1) == -1)
		return -1;
	arg_text(&a, client);
	if (maxjobs > 0) {
		if ((res = pg_q(pg, "client", "SELECT count(*) FROM "
		    "spoolcgi_job WHERE client = $1 AND state IN ('queued', "
		    "'running')", &a, 0)) == NULL)
			goto fail;
		count = pg_ll(res, 0, 0);
		PQclear(res);
		if (count >= maxjobs) {
			*retry = 30;
			goto over;
		}
	}
	if (perminute > 0) {
		if ((res = pg_q(pg, "client", "SELECT extract(epoch FROM "
		    "now())::bigint, extract(epoch FROM c.window_start)::bigint,"
		    " c.starts FROM (SELECT 1) AS one LEFT JOIN spoolcgi_client "
		    "c ON c.client = $1", &a, 0)) == NULL)
			goto fail;
		now = pg_ll(res, 0, 0);
		start = pg_ll(res, 0, 1);
		count = pg_ll(res, 0, 2);
		PQclear(res);
		if ((*retry = job_rate_window(now, &start, &count,
		    perminute)) > 0)
			goto over;
		arg_int(&a, start);
		arg_int(&a, count + 1);
		if (pg_do(pg, "client", "INSERT INTO spoolcgi_client (client, "
		    "window_start, starts) VALUES ($1, to_timestamp($2::bigint),"
		    " $3::integer) ON CONFLICT (client) DO UPDATE SET "
		    "window_start = EXCLUDED.window_start, starts = "
		    "EXCLUDED.starts", &a) == -1)
			goto fail;
	}
	return 0;
over:
	(void)pg_client_lock(pg, client, 0);
	return 1;
fail:
	(void)pg_client_lock(pg, client, 0);
	return -1;
}

/*
 * After pg_client_admit admitted client: tag job id (not NULL: its row
 * is committed) as the client's, then give its lock back.  Returns 0, or
 * -1 (logged; the lock is given back whatever happens, or went with a
 * lost connection).
 */
int
pg_client_done(struct pg *pg, const char *client, const char *id)
{
	struct pgargs	 a = { .n = 0 };
	int		 rc = 0;

	if (id != NULL && job_id_check(id, strlen(id))) {
		arg_text(&a, client);
		arg_text(&a, id);
		rc = pg_do(pg, "client", "UPDATE spoolcgi_job SET client = $1 "
		    "WHERE id = $2::uuid", &a);
	}
	if (pg_client_lock(pg, client, 0) == -1)
		rc = -1;
	return rc;
}

/*
 * Forget the clients whose minute is over: their next start opens a new
 * one anyway.  *n: how many.  Returns 0, or -1 (logged).
 */
int
pg_client_gc(struct pg *pg, int *n)
{
	PGresult	*res;

	*n = 0;
	if ((res = pg_q(pg, "client", "DELETE FROM spoolcgi_client WHERE "
	    "window_start < now() - interval '60 seconds' RETURNING 1", NULL,
	    0)) == NULL)
		return -1;
	*n = PQntuples(res);
	PQclear(res);
	return 0;
}

#else /* !HAVE_LIBPQ */

/*
 * Built without libpq (configure found no libpq-dev, was given
 * --without-postgresql, or this is the static binary: pgnone.c).
 */
#ifdef SPOOLCGI_WITHOUT_LIBPQ
#define PG_NONE	"the PostgreSQL store is not compiled in (never in the " \
	"static binary); use the dynamic build, with libpq-dev"
#else
#define PG_NONE	"the PostgreSQL store is not compiled in; rebuild with " \
	"libpq-dev"
#endif

const char *
pg_unavailable(void)
{
	return PG_NONE;
}

int
pg_main(const struct config *cfg, int argc, char *argv[])
{
	(void)argc;
	(void)argv;
	log_warnx("%s: database: %s", cfg->path, PG_NONE);
	return 2;
}

#endif /* HAVE_LIBPQ */
