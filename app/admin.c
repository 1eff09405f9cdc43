/*
 * The operator's commands (README "Operating"): list, show, read the log
 * of, cancel and run again jobs, and drain the spool, from a shell, as
 * the web server's user:
 *
 *	spoolcgi -c FILE jobs [--state S[,S...]] [--task T] [--json]
 *	spoolcgi -c FILE show ID
 *	spoolcgi -c FILE log ID [--tail BYTES]
 *	spoolcgi -c FILE cancel ID [--json]
 *	spoolcgi -c FILE retry ID [--json]
 *	spoolcgi -c FILE drain [on | off]
 *
 * Each goes through the same state machine as a request (lifecycle.c):
 * "cancel" is the transition POST .../cancel makes, "retry" the one POST
 * .../retry makes, and a job read here is settled as a poll would settle
 * it.  Results go to stdout (a table, or JSON for scripts), errors to
 * stderr, and the exit status says which (spoolcgi(8) EXIT STATUS):
 * ADMIN_OK, ADMIN_ERR, ADMIN_USAGE, ADMIN_NOJOB, ADMIN_REFUSED.
 */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extern.h"

#define ADMIN_OK	0	/* done */
#define ADMIN_ERR	1	/* the store failed (logged) */
#define ADMIN_USAGE	2	/* a malformed command */
#define ADMIN_NOJOB	3	/* no such job: unknown, expired, malformed */
#define ADMIN_REFUSED	4	/* the job's state (or the queue) forbids it */

/* One job of a listing: what it is sorted and filtered by. */
struct admin_row {
	char		 id[SPOOLCGI_ID_LEN + 1];
	time_t		 created_at;
};

struct admin_list {
	struct store		*store;
	const struct config	*cfg;
	unsigned int		 states;	/* 1 << enum job_state; 0: all */
	int			 interrupted;	/* failed ones: interrupted only */
	const char		*task;		/* NULL: every task */
	struct admin_row	*rows;
	size_t			 n, cap;
	int			 failed;	/* a job could not be read */
};

static int
admin_usage(void)
{
	fprintf(stderr, "usage: spoolcgi [-c file] jobs [--state state[,...]] "
	    "[--task task] [--json]\n"
	    "       spoolcgi [-c file] show id [--json]\n"
	    "       spoolcgi [-c file] log id [--tail bytes]\n"
	    "       spoolcgi [-c file] cancel id [--json]\n"
	    "       spoolcgi [-c file] retry id [--json]\n"
	    "       spoolcgi [-c file] drain [on | off]\n");
	return ADMIN_USAGE;
}

/* Is name one of the operator's commands (admin_main)? */
int
admin_command(const char *name)
{
	static const char *const cmds[] = {
		"jobs", "show", "log", "cancel", "retry", "drain"
	};
	size_t	 i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(name, cmds[i]) == 0)
			return 1;
	return 0;
}

/*
 * Links in the JSON are built from public_url when it is set, else they
 * are relative to the program's URL, which a command cannot know.
 */
static const char *
admin_base(const struct config *cfg)
{
	return cfg->public_url != NULL ? cfg->public_url : "";
}

/* Print job st's status object, as GET {base}/jobs/{id} has it. */
static int
admin_print_status(const struct config *cfg, const struct jobstatus *st)
{
	struct buf	 b = { 0 };
	int		 rc = ADMIN_OK;

	if (reply_status_object(&b, st, admin_base(cfg), NULL) == -1 ||
	    buf_puts(&b, "\n") == -1) {
		log_warn("status of job %s", st->id);
		rc = ADMIN_ERR;
	} else
		fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
	return rc;
}

/*
 * What a lookup of job id that did not succeed means, on stderr.
 * Returns the exit status.
 */
static int
admin_lookup_fail(const char *cmd, const char *id, int rc)
{
	switch (rc) {
	case LC_NOENT:
		fprintf(stderr, "spoolcgi %s: no such job: %s\n", cmd, id);
		return ADMIN_NOJOB;
	case LC_GONE:
		fprintf(stderr, "spoolcgi %s: job %s expired and was removed\n",
		    cmd, id);
		return ADMIN_NOJOB;
	default:
		fprintf(stderr, "spoolcgi %s: job %s could not be read (see "
		    "above)\n", cmd, id);
		return ADMIN_ERR;
	}
}

/*
 * The id argument of cmd, checked before the store is asked: a malformed
 * one is no job.  Returns 0, or an exit status.
 */
static int
admin_id(const char *cmd, const char *id)
{
	if (id == NULL)
		return admin_usage();
	if (!job_id_check(id, strlen(id))) {
		fprintf(stderr, "spoolcgi %s: no such job: %s is not a job id "
		    "(a lower-case UUID)\n", cmd, id);
		return ADMIN_NOJOB;
	}
	return 0;
}

/* ------------------------------------------------------------- jobs */

/* Does job st pass the listing's filters? */
static int
admin_match(const struct admin_list *l, const struct jobstatus *st)
{
	if (l->task != NULL && strcmp(l->task, st->task) != 0)
		return 0;
	if (l->states == 0 && !l->interrupted)
		return 1;
	if (l->states & (1u << st->state))
		return 1;
	return l->interrupted && st->state == JOB_FAILED &&
	    strcmp(st->error_code, "interrupted") == 0;
}

/* One job of the store's walk: keep it if it passes the filters. */
static int
admin_list_job(void *arg, const char *id)
{
	struct admin_list	*l = arg;
	struct admin_row	*r;
	struct jobstatus	 st;
	int			 rc;

	rc = store_read(l->store, id, &st);
	if (rc == STORE_NOENT || rc == STORE_GONE)
		return 0;	/* removed while we walked */
	/* A running job is settled, as a poll would: the listing is true. */
	if (rc == STORE_OK && st.state == JOB_RUNNING &&
	    (rc = lifecycle_read(l->store, l->cfg, id, &st)) != LC_OK) {
		if (rc == LC_NOENT || rc == LC_GONE)
			return 0;
		rc = STORE_ERR;
	}
	if (rc != STORE_OK) {
		l->failed = 1;
		return 0;
	}
	if (!admin_match(l, &st))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;

		if ((r = reallocarray(l->rows, cap, sizeof(*r))) == NULL) {
			log_warn("jobs: listing %zu jobs", cap);
			l->failed = 1;
			return -1;
		}
		l->rows = r;
		l->cap = cap;
	}
	r = &l->rows[l->n++];
	memcpy(r->id, st.id, sizeof(r->id));
	r->created_at = st.created_at;
	return 0;
}

/* Newest first; the id breaks ties, so the order is stable. */
static int
admin_row_cmp(const void *a, const void *b)
{
	const struct admin_row	*x = a, *y = b;

	if (x->created_at != y->created_at)
		return x->created_at < y->created_at ? 1 : -1;
	return strcmp(x->id, y->id);
}

/* "--state failed,cancelled" into l.  Returns 0, or -1 (said). */
static int
admin_states(struct admin_list *l, const char *arg)
{
	char		 word[32];
	enum job_state	 s;
	const char	*p = arg;
	size_t		 n;

	for (;;) {
		n = strcspn(p, ",");
		if (n == 0 || n >= sizeof(word))
			goto bad;
		memcpy(word, p, n);
		word[n] = '\0';
		if (strcmp(word, "interrupted") == 0)
			l->interrupted = 1;
		else if (job_state_parse(word, &s) == 0)
			l->states |= 1u << s;
		else
			goto bad;
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
bad:
	fprintf(stderr, "spoolcgi jobs: --state %s: give queued, running, "
	    "succeeded, failed, interrupted or cancelled, or several of "
	    "them separated by commas\n", arg);
	return -1;
}

/*
 * The queue position of each queued job, from one listing of the queue
 * (dispatch's order), not one look per job.  Returns 0 when unknown.
 */
static int
admin_queue_pos(const struct qentry *q, size_t nq, const char *id)
{
	size_t	 i;

	for (i = 0; i < nq; i++)
		if (strcmp(q[i].id, id) == 0)
			return (int)i + 1;
	return 0;
}

/* One line of the table. */
static void
admin_table_row(const struct jobstatus *st, int taskw)
{
	char	 created[32], note[64];

	job_time_format(st->created_at, created, sizeof(created));
	note[0] = '\0';
	if (st->state == JOB_QUEUED && st->queue_position > 0)
		snprintf(note, sizeof(note), "queue %d", st->queue_position);
	else if (st->state == JOB_RUNNING && st->progress >= 0)
		snprintf(note, sizeof(note), "%d%%", st->progress);
	else if (st->error_code[0] != '\0')
		snprintf(note, sizeof(note), "error: %s", st->error_code);
	printf("%-36s  %-9s  %-*s  %-20s  %s\n", st->id,
	    job_state_name(st->state), taskw, st->task,
	    created[0] ? created : "-", note);
}

/*
 * "jobs": every job, newest first, filtered by state and task, as a
 * table or (--json) an array of status objects.  It walks the store's
 * jobs (store_jobs), reading each job's status once: an operator's
 * command, never run by a request.
 */
static int
admin_jobs(const struct config *cfg, struct store *s, int argc, char *argv[])
{
	struct admin_list	 l;
	struct jobstatus	 st;
	struct qentry		*q = NULL;
	struct buf		 b = { 0 };
	size_t			 nq = 0, i, shown = 0;
	int			 json = 0, taskw = 4, rc = ADMIN_OK, k;

	memset(&l, 0, sizeof(l));
	l.store = s;
	l.cfg = cfg;
	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0)
			json = 1;
		else if (strcmp(argv[k], "--state") == 0 && k + 1 < argc) {
			if (admin_states(&l, argv[++k]) == -1)
				return ADMIN_USAGE;
		} else if (strcmp(argv[k], "--task") == 0 && k + 1 < argc)
			l.task = argv[++k];
		else
			return admin_usage();
	}
	if (store_jobs(s, admin_list_job, &l) == -1) {
		fprintf(stderr, "spoolcgi jobs: the jobs of %s could not be "
		    "listed (see above)\n", cfg->spool);
		free(l.rows);
		return ADMIN_ERR;
	}
	if (l.n > 1)	/* none: rows is NULL, which qsort must not get */
		qsort(l.rows, l.n, sizeof(*l.rows), admin_row_cmp);
	if (store_queue_list(s, &q, &nq) == -1)
		nq = 0;
	if (json)
		buf_puts(&b, "[");
	else {
		for (i = 0; i < cfg->ntasks; i++)
			if ((k = (int)strlen(cfg->tasks[i].name)) > taskw)
				taskw = k;
		printf("%-36s  %-9s  %-*s  %-20s  %s\n", "ID", "STATE", taskw,
		    "TASK", "CREATED", "NOTE");
	}
	for (i = 0; i < l.n; i++) {
		/* Read again: it may have moved on since the walk. */
		if (store_read(s, l.rows[i].id, &st) != STORE_OK ||
		    !admin_match(&l, &st))
			continue;
		if (st.state == JOB_QUEUED)
			st.queue_position = admin_queue_pos(q, nq, st.id);
		if (!json) {
			admin_table_row(&st, taskw);
			continue;
		}
		buf_puts(&b, shown == 0 ? "\n" : ",\n");
		if (reply_status_object(&b, &st, admin_base(cfg), NULL) == -1) {
			log_warn("jobs: status of job %s", st.id);
			rc = ADMIN_ERR;
			break;
		}
		shown++;
	}
	if (json && rc == ADMIN_OK) {
		buf_puts(&b, shown > 0 ? "\n]\n" : "]\n");
		if (b.data == NULL) {
			log_warn("jobs: the listing");
			rc = ADMIN_ERR;
		} else
			fwrite(b.data, 1, b.len, stdout);
	}
	buf_free(&b);
	free(q);
	free(l.rows);
	/* What could be read is listed; what could not is said, and fails. */
	if (l.failed && rc == ADMIN_OK) {
		fprintf(stderr, "spoolcgi jobs: some jobs of %s could not be "
		    "read (see above)\n", cfg->spool);
		rc = ADMIN_ERR;
	}
	return rc;
}

/* ------------------------------------------------------------- one job */

/* "--json" as the only option after the id.  Returns 1, 0, or -1. */
static int
admin_json_opt(int argc, char *argv[])
{
	if (argc == 2)
		return 0;
	if (argc == 3 && strcmp(argv[2], "--json") == 0)
		return 1;
	return -1;
}

/* "show ID": the job's status object. */
static int
admin_show(const struct config *cfg, struct store *s, int argc, char *argv[])
{
	struct jobstatus	 st;
	int			 rc;

	/* JSON either way: --json is taken, as the other commands take it. */
	if (admin_json_opt(argc, argv) == -1)
		return admin_usage();
	if ((rc = admin_id("show", argv[1])) != 0)
		return rc;
	if ((rc = lifecycle_read(s, cfg, argv[1], &st)) != LC_OK)
		return admin_lookup_fail("show", argv[1], rc);
	return admin_print_status(cfg, &st);
}

/*
 * "log ID [--tail BYTES]": the task's stderr as it was written (the
 * operator sees every log, "log": false or not), whole or its last
 * BYTES.
 */
static int
admin_log(const struct config *cfg, struct store *s, int argc, char *argv[])
{
	struct jobstatus	 st;
	struct buf		 b = { 0 };
	long long		 tail = LLONG_MAX, size;
	char			*end;
	int			 rc;

	if (argc == 4 && strcmp(argv[2], "--tail") == 0) {
		errno = 0;
		tail = strtoll(argv[3], &end, 10);
		if (argv[3][0] < '0' || argv[3][0] > '9' || *end != '\0' ||
		    errno != 0) {
			fprintf(stderr, "spoolcgi log: --tail %s: give a number "
			    "of bytes\n", argv[3]);
			return ADMIN_USAGE;
		}
	} else if (argc != 2)
		return admin_usage();
	if ((rc = admin_id("log", argv[1])) != 0)
		return rc;
	if ((rc = lifecycle_read(s, cfg, argv[1], &st)) != LC_OK)
		return admin_lookup_fail("log", argv[1], rc);
	switch (store_log_read(s, argv[1], tail, &b, &size)) {
	case STORE_OK:
		break;
	case STORE_NOENT:
		buf_free(&b);
		return admin_lookup_fail("log", argv[1], LC_NOENT);
	default:
		buf_free(&b);
		return admin_lookup_fail("log", argv[1], LC_ERR);
	}
	if (b.len > 0 && fwrite(b.data, 1, b.len, stdout) != b.len)
		rc = ADMIN_ERR;
	buf_free(&b);
	return rc;
}

/*
 * "cancel ID": the transition of POST {base}/jobs/{id}/cancel
 * (lifecycle_cancel): a queued job never starts, a running one is
 * stopped by its supervisor.
 */
static int
admin_cancel(const struct config *cfg, struct store *s, int argc,
    char *argv[])
{
	struct jobstatus	 st;
	int			 json, rc;

	if ((json = admin_json_opt(argc, argv)) == -1)
		return admin_usage();
	if ((rc = admin_id("cancel", argv[1])) != 0)
		return rc;
	rc = lifecycle_cancel(s, cfg, argv[1], &st);
	if (rc == LC_FINAL) {
		fprintf(stderr, "spoolcgi cancel: job %s has already finished "
		    "(%s): there is nothing to cancel\n", argv[1],
		    job_state_name(st.state));
		if (json)
			(void)admin_print_status(cfg, &st);
		return ADMIN_REFUSED;
	}
	if (rc != LC_OK)
		return admin_lookup_fail("cancel", argv[1], rc);
	if (json)
		return admin_print_status(cfg, &st);
	if (st.state == JOB_CANCELLED)
		printf("job %s: cancelled\n", st.id);
	else if (job_state_final(st.state))
		printf("job %s: ended %s before the cancel took effect\n",
		    st.id, job_state_name(st.state));
	else
		printf("job %s: cancel requested; its supervisor is stopping "
		    "it (still %s)\n", st.id, job_state_name(st.state));
	return ADMIN_OK;
}

/*
 * "retry ID": a failed or cancelled job run again as a new job, with the
 * same task, fields and uploads (lifecycle_retry, as POST .../retry).
 * The operator is not held to drain, the per-client limits or the disk
 * limits of a start (min_free_bytes, max_spool_bytes); the queue's limit
 * holds, and a disk that is really full refuses it.  The new job keeps
 * the old one's owner.  Prints the new job's id (or its status object).
 */
static int
admin_retry(const struct config *cfg, struct store *s, int argc, char *argv[])
{
	struct jobstatus	 old, st;
	struct submit		 sub;
	int			 json, rc;

	if ((json = admin_json_opt(argc, argv)) == -1)
		return admin_usage();
	if ((rc = admin_id("retry", argv[1])) != 0)
		return rc;
	memset(&sub, 0, sizeof(sub));
	memset(&st, 0, sizeof(st));
	sub.key = "";
	/*
	 * The operator runs it again for whoever started it: the new job
	 * has the old one's owner, and is in that owner's list of jobs.
	 */
	if (lifecycle_read(s, cfg, argv[1], &old) == LC_OK)
		memcpy(st.owner, old.owner, sizeof(st.owner));
	switch ((rc = lifecycle_retry(s, cfg, argv[1], &old, &st, &sub))) {
	case LC_OK:
		break;
	case LC_STATE:
		fprintf(stderr, "spoolcgi retry: job %s is %s: only a failed "
		    "or cancelled job can be run again\n", argv[1],
		    job_state_name(old.state));
		return ADMIN_REFUSED;
	case LC_NOTASK:
		fprintf(stderr, "spoolcgi retry: job %s: its task '%s' is no "
		    "longer in %s\n", argv[1], old.task, cfg->path);
		return ADMIN_REFUSED;
	case LC_INPUT:
		fprintf(stderr, "spoolcgi retry: job %s: its input or an "
		    "uploaded file is gone or was changed by its task\n",
		    argv[1]);
		return ADMIN_REFUSED;
	case LC_FULL:
		fprintf(stderr, "spoolcgi retry: the queue is full (%d jobs "
		    "wait, max_queued)\n", cfg->max_queued);
		return ADMIN_REFUSED;
	default:
		return admin_lookup_fail("retry", argv[1], rc);
	}
	if (json)
		return admin_print_status(cfg, &st);
	printf("%s\n", st.id);
	return ADMIN_OK;
}

/* ------------------------------------------------------------- drain */

/*
 * "drain [on|off]": the spool's drain flag (store_drain_set), which
 * every process honours at its next start: new jobs are refused with
 * 503, queued and running ones go on.  Without an argument, says
 * whether the spool drains.
 */
static int
admin_drain(const struct config *cfg, struct store *s, int argc, char *argv[])
{
	int	 on;

	if (argc == 1) {
		if (cfg->drain)
			printf("draining (\"drain\": true in %s)\n", cfg->path);
		else
			printf("%s\n", store_draining(s) ? "draining" :
			    "not draining");
		return ADMIN_OK;
	}
	if (argc != 2 || (strcmp(argv[1], "on") != 0 &&
	    strcmp(argv[1], "off") != 0))
		return admin_usage();
	on = strcmp(argv[1], "on") == 0;
	if (store_drain_set(s, on) == -1) {
		fprintf(stderr, "spoolcgi drain: the drain flag of %s could not "
		    "be changed (see above)\n", cfg->spool);
		return ADMIN_ERR;
	}
	if (!on && cfg->drain) {
		fprintf(stderr, "spoolcgi drain: the flag is off, but %s sets "
		    "\"drain\": true: new jobs stay refused until that key "
		    "goes\n", cfg->path);
		return ADMIN_REFUSED;
	}
	printf("%s\n", on ? "draining: new jobs are refused (503); queued "
	    "and running jobs go on" : "not draining: new jobs are taken");
	return ADMIN_OK;
}

/*
 * Run operator command argv[0] (admin_command) with its arguments on the
 * configuration and store main() opened.  Returns the exit status.
 */
int
admin_main(const struct config *cfg, struct store *s, int argc, char *argv[])
{
	int	 rc;

	if (argc < 1)
		return admin_usage();
	if (strcmp(argv[0], "jobs") == 0)
		rc = admin_jobs(cfg, s, argc, argv);
	else if (argc < 2 && strcmp(argv[0], "drain") != 0)
		rc = admin_usage();
	else if (strcmp(argv[0], "show") == 0)
		rc = admin_show(cfg, s, argc, argv);
	else if (strcmp(argv[0], "log") == 0)
		rc = admin_log(cfg, s, argc, argv);
	else if (strcmp(argv[0], "cancel") == 0)
		rc = admin_cancel(cfg, s, argc, argv);
	else if (strcmp(argv[0], "retry") == 0)
		rc = admin_retry(cfg, s, argc, argv);
	else if (strcmp(argv[0], "drain") == 0)
		rc = admin_drain(cfg, s, argc, argv);
	else
		rc = admin_usage();
	if (fflush(stdout) != 0 && rc == ADMIN_OK) {
		log_warn("stdout");
		rc = ADMIN_ERR;
	}
	return rc;
}
