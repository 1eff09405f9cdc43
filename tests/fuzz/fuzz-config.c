/*
 * tests/fuzz/fuzz-config.c: config_parse() on any bytes.
 *
 * The input is the configuration file.  A success must give what the
 * key tables of app/config.c promise (absolute paths, names of the
 * documented form, limits in range, a command whose first word is
 * absolute); a failure must leave the configuration zeroed and a message
 * that names the file.  Either way config_free() releases all of it, and
 * is safe twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "fuzz.h"

#define FUZZ_PATH	"fuzz.json"
#define FUZZ_ERRSZ	512

/* A task name: 1 to 64 of [A-Za-z0-9_-], starting with a letter. */
static int
task_name_ok(const char *s, int dash)
{
	size_t	 i, n = strlen(s);

	if (n == 0 || n > SPOOLCGI_NAME_MAX)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    (dash && s[i] == '-')))
			return 0;
	return 1;
}

static void
check_task(const struct config *cfg, const struct task *t)
{
	size_t	 i, j;

	FUZZ_CHECK(t->name != NULL && task_name_ok(t->name, 1));
	FUZZ_CHECK(config_task(cfg, t->name) == t);
	FUZZ_CHECK(t->title != NULL);
	FUZZ_CHECK(t->command != NULL && t->command[0] != NULL);
	FUZZ_CHECK(t->command[0][0] == '/');
	for (i = 0; t->command[i] != NULL; i++)
		FUZZ_CHECK(t->command[i][0] != '\0');
	FUZZ_CHECK(t->timeout_seconds >= 0);
	FUZZ_CHECK(t->max_running >= 0);
	FUZZ_CHECK(t->retries >= 0 && t->retries <= 10);
	FUZZ_CHECK(t->result_type != NULL && t->result_type[0] != '\0');
	FUZZ_CHECK(t->max_result_bytes >= 1);
	FUZZ_CHECK(t->nfields == 0 || t->fields != NULL);
	for (i = 0; i < t->nfields; i++) {
		const struct field *f = &t->fields[i];

		FUZZ_CHECK(f->name != NULL && task_name_ok(f->name, 0));
		FUZZ_CHECK(strcmp(f->name, "task") != 0 &&
		    strcmp(f->name, "format") != 0);
		FUZZ_CHECK(task_field(t, f->name) == f);
		FUZZ_CHECK(f->label != NULL);
		FUZZ_CHECK(field_type_name(f->type) != NULL);
		FUZZ_CHECK(f->max_bytes >= 1);
		FUZZ_CHECK((f->type == FIELD_SELECT) == (f->noptions > 0));
		for (j = 0; j < f->noptions; j++)
			FUZZ_CHECK(f->options[j] != NULL);
		if (f->type != FIELD_NUMBER)
			FUZZ_CHECK(!f->has_min && !f->has_max);
	}
	FUZZ_CHECK(t->nfiles == 0 || t->files != NULL);
	for (i = 0; i < t->nfiles; i++) {
		FUZZ_CHECK(t->files[i].name != NULL &&
		    task_name_ok(t->files[i].name, 0));
		FUZZ_CHECK(t->files[i].label != NULL);
		FUZZ_CHECK(task_field(t, t->files[i].name) == NULL);
		FUZZ_CHECK(t->files[i].max_bytes >= 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	 cfg;
	char		*buf, *err;
	size_t		 i;
	int		 rc;

	buf = fuzz_dup(data, size);
	if ((err = malloc(FUZZ_ERRSZ)) == NULL)
		abort();
	memset(err, 'x', FUZZ_ERRSZ);
	rc = config_parse(&cfg, buf, size, FUZZ_PATH, err, FUZZ_ERRSZ);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(fuzz_terminated(err, FUZZ_ERRSZ));
	if (rc == 0) {
		FUZZ_CHECK(err[0] == '\0');
		FUZZ_CHECK(cfg.spool != NULL && cfg.spool[0] == '/');
		FUZZ_CHECK(cfg.templates == NULL || cfg.templates[0] == '/');
		FUZZ_CHECK(cfg.document_root == NULL ||
		    cfg.document_root[0] == '/');
		FUZZ_CHECK(cfg.max_running >= 1);
		FUZZ_CHECK(cfg.max_queued >= 0);
		FUZZ_CHECK(cfg.max_body_bytes >= 1);
		FUZZ_CHECK(cfg.gc_interval_seconds >= 1 &&
		    cfg.gc_interval_seconds <= 86400);
		FUZZ_CHECK(cfg.kill_grace_seconds >= 0 &&
		    cfg.kill_grace_seconds <= 3600);
		FUZZ_CHECK(cfg.max_wait_seconds >= 0 &&
		    cfg.max_wait_seconds <= 25);
		FUZZ_CHECK(cfg.ntasks >= 1 && cfg.tasks != NULL);
		for (i = 0; i < cfg.ntasks; i++)
			check_task(&cfg, &cfg.tasks[i]);
		FUZZ_CHECK(config_task(&cfg, "") == NULL);
	} else {
		/* Every message starts with the name of the file. */
		FUZZ_CHECK(strncmp(err, FUZZ_PATH ": ",
		    strlen(FUZZ_PATH) + 2) == 0);
		FUZZ_CHECK(cfg.tasks == NULL && cfg.ntasks == 0 &&
		    cfg.spool == NULL);
	}
	config_free(&cfg);
	config_free(&cfg);

	/* No message buffer at all is allowed, and must give the same answer. */
	FUZZ_CHECK(config_parse(&cfg, buf, size, NULL, NULL, 0) == rc);
	config_free(&cfg);

	free(err);
	free(buf);
	return 0;
}
