/*
 * pgjob: the front's side of the PostgreSQL store for the tests, until the
 * front is wired to it: submit, read, cancel and fetch the result of jobs
 * through pg.c, as the front will.  $PGJOB_CONNINFO is the database.
 *
 *   pgjob submit TASK [NAME=VALUE]...   a job of TASK with those fields
 *                                       (the task's stdin as start.c
 *                                       makes it), with retries
 *                                       $PGJOB_RETRIES (default 0);
 *                                       prints its id
 *   pgjob read ID                       settles first (pg_settle, grace
 *                                       $PGJOB_GRACE, default 20), as a
 *                                       poll will; prints "STATE PROGRESS
 *                                       ERROR_CODE|- MESSAGE"
 *   pgjob error ID                      its error.message
 *   pgjob cancel ID                     prints the state after
 *   pgjob result ID                     the result, raw, on stdout
 *                                       (streamed: pg_result_copy)
 *
 * Exits 0, 1 (a failure), 3 (no such job) or 2 (usage).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "extern.h"

#if defined(HAVE_LIBPQ)

static int
usage(void)
{
	fprintf(stderr, "usage: pgjob submit TASK [NAME=VALUE]... | "
	    "read ID | error ID | cancel ID | result ID\n");
	return 2;
}

static int
submit(struct pg *pg, int argc, char *argv[])
{
	struct jobstatus	 st;
	json_object		*o, *fields;
	const char		*s, *eq;
	char			 oid[SPOOLCGI_ID_LEN + 1], name[SPOOLCGI_NAME_MAX + 1];
	unsigned long long	 oh;
	int			 i, rc;

	memset(&st, 0, sizeof(st));
	if (job_id_new(st.id) == -1)
		return 1;
	snprintf(st.task, sizeof(st.task), "%s", argv[0]);
	st.created_at = time(NULL);
	o = json_object_new_object();
	fields = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(st.id));
	json_object_object_add(o, "task", json_object_new_string(argv[0]));
	for (i = 1; i < argc; i++) {
		if ((eq = strchr(argv[i], '=')) == NULL ||
		    (size_t)(eq - argv[i]) >= sizeof(name))
			return usage();
		snprintf(name, sizeof(name), "%.*s", (int)(eq - argv[i]),
		    argv[i]);
		json_object_object_add(fields, name,
		    json_object_new_string(eq + 1));
	}
	json_object_object_add(o, "fields", fields);
	json_object_object_add(o, "files", json_object_new_object());
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = pg_submit_files(pg, &st, "test", s, strlen(s), 100000, NULL, 0,
	    oid, &oh, NULL, NULL, 0, getenv("PGJOB_RETRIES") != NULL ?
	    atoi(getenv("PGJOB_RETRIES")) : 0);
	if (rc == STORE_OK) {
		/* The stdin the task must see, for the test to compare. */
		if (getenv("PGJOB_INPUT") != NULL) {
			FILE *f = fopen(getenv("PGJOB_INPUT"), "w");

			if (f != NULL) {
				fprintf(f, "%s", s);
				fclose(f);
			}
		}
		printf("%s\n", st.id);
	}
	json_object_put(o);
	return rc == STORE_OK ? 0 : 1;
}

int
main(int argc, char *argv[])
{
	struct jobstatus	 st;
	long long		 size;
	struct pg		*pg;
	const char		*ci = getenv("PGJOB_CONNINFO"), *g;
	int			 rc, n, grace = 20;

	log_init("pgjob");
	if (argc < 3 || ci == NULL)
		return usage();
	if ((g = getenv("PGJOB_GRACE")) != NULL)
		grace = atoi(g);
	if ((pg = pg_open(ci)) == NULL)
		return 1;
	if (strcmp(argv[1], "submit") == 0) {
		rc = submit(pg, argc - 2, argv + 2);
		pg_close(pg);
		return rc;
	}
	if (argc != 3)
		return usage();
	if (strcmp(argv[1], "read") == 0 || strcmp(argv[1], "error") == 0) {
		if (pg_settle(pg, grace, &n) == -1)
			return 1;
		rc = pg_read(pg, argv[2], &st, NULL);
	} else if (strcmp(argv[1], "cancel") == 0)
		rc = pg_cancel(pg, argv[2], &st);
	else if (strcmp(argv[1], "result") == 0)
		rc = pg_result_copy(pg, argv[2], STDOUT_FILENO, &size);
	else
		return usage();
	if (rc == STORE_NOENT || rc == STORE_GONE)
		return 3;
	if (rc != STORE_OK)
		return 1;
	if (strcmp(argv[1], "result") == 0)
		rc = 0;
	else if (strcmp(argv[1], "error") == 0)
		rc = printf("%s\n", st.error_message) < 0;
	else
		rc = printf("%s %d %s %s\n", job_state_name(st.state),
		    st.progress, st.error_code[0] != '\0' ? st.error_code :
		    "-", st.message) < 0;
	pg_close(pg);
	return rc == 0 ? 0 : 1;
}

#else

int
main(void)
{
	fprintf(stderr, "pgjob: the PostgreSQL store is not compiled in\n");
	return 77;
}

#endif
