/*
 * What the server offers and how it is: the task list (JSON, or the HTML
 * index of forms), /health, and the browser client compiled in.
 */
#include "config.h"

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "extern.h"

/* GET {base}/tasks, JSON: every task with its fields (README "How a request flows"). */
static void
info_tasks_json(struct req *r)
{
	const struct config *cfg = r->srv->cfg;
	json_object	*o, *arr, *to, *fa, *fo, *opts, *files;
	size_t		 i, j, k;
	char		 url[640];

	o = json_object_new_object();
	arr = json_object_new_array();
	route_url(url, sizeof(url), r->base, ROUTE_JOBS, NULL);
	for (i = 0; i < cfg->ntasks; i++) {
		const struct task *t = &cfg->tasks[i];

		to = json_object_new_object();
		json_object_object_add(to, "name",
		    json_object_new_string(t->name));
		json_object_object_add(to, "title",
		    json_object_new_string(t->title));
		json_object_object_add(to, "description", t->description ?
		    json_object_new_string(t->description) : NULL);
		fa = json_object_new_array();
		for (j = 0; j < t->nfields; j++) {
			const struct field *f = &t->fields[j];

			fo = json_object_new_object();
			json_object_object_add(fo, "name",
			    json_object_new_string(f->name));
			json_object_object_add(fo, "label",
			    json_object_new_string(f->label));
			json_object_object_add(fo, "type",
			    json_object_new_string(field_type_name(f->type)));
			json_object_object_add(fo, "required",
			    json_object_new_boolean(f->required));
			json_object_object_add(fo, "max_bytes",
			    json_object_new_int64((int64_t)f->max_bytes));
			if (f->type == FIELD_SELECT) {
				opts = json_object_new_array();
				for (k = 0; k < f->noptions; k++)
					json_object_array_add(opts,
					    json_object_new_string(
					    f->options[k]));
				json_object_object_add(fo, "options", opts);
			}
			if (f->has_min)
				json_object_object_add(fo, "min",
				    json_object_new_double(f->min));
			if (f->has_max)
				json_object_object_add(fo, "max",
				    json_object_new_double(f->max));
			json_object_array_add(fa, fo);
		}
		json_object_object_add(to, "fields", fa);
		files = json_object_new_array();
		for (j = 0; j < t->nfiles; j++) {
			fo = json_object_new_object();
			json_object_object_add(fo, "name",
			    json_object_new_string(t->files[j].name));
			json_object_object_add(fo, "label",
			    json_object_new_string(t->files[j].label));
			json_object_object_add(fo, "required",
			    json_object_new_boolean(t->files[j].required));
			json_object_object_add(fo, "max_bytes",
			    json_object_new_int64(
			    (int64_t)t->files[j].max_bytes));
			json_object_array_add(files, fo);
		}
		json_object_object_add(to, "files", files);
		json_object_object_add(to, "result_type",
		    json_object_new_string(t->result_type));
		json_object_object_add(to, "timeout_seconds",
		    json_object_new_int64(t->timeout_seconds));
		fo = json_object_new_object();
		json_object_object_add(fo, "start",
		    json_object_new_string(url));
		json_object_object_add(to, "links", fo);
		json_object_array_add(arr, to);
	}
	json_object_object_add(o, "tasks", arr);
	(void)reply_json(r, 200, o);
}

/* GET {base}/tasks: JSON, or the HTML index of the tasks' forms. */
void
info_tasks(struct req *r)
{
	if (r->json)
		info_tasks_json(r);
	else if (page_tasks(r) == -1)
		reply_fail(r, "rendering the task list");
}

/*
 * GET {base}/static/NAME: the browser client, compiled in, so that it
 * works wherever the program is mounted and under a CSP of 'self'.
 */
void
info_static(struct req *r, const char *name)
{
	const char	*ct = NULL, *dot;
	size_t		 i;

	for (i = 0; i < static_nbuiltin; i++)
		if (strcmp(static_builtin[i].name, name) == 0)
			break;
	if (i == static_nbuiltin) {
		reply_not_found(r);
		return;
	}
	if ((dot = strrchr(name, '.')) != NULL && strcmp(dot, ".js") == 0)
		ct = "text/javascript; charset=utf-8";
	else if (dot != NULL && strcmp(dot, ".css") == 0)
		ct = "text/css; charset=utf-8";
	else
		ct = "application/octet-stream";
	http_header(r, "Cache-Control", "public, max-age=3600");
	/* A hash of the text: an edit of the same length differs. */
	http_header(r, "ETag", "\"%016llx\"", job_hash(JOB_HASH_INIT,
	    static_builtin[i].text, strlen(static_builtin[i].text)));
	(void)http_send(r, 200, ct, static_builtin[i].text,
	    strlen(static_builtin[i].text));
}

/* GET {base}/health: always JSON; a monitor wants numbers. */
void
info_health(struct req *r)
{
	const struct config *cfg = r->srv->cfg;
	struct store	*s = r->srv->store;
	json_object	*o;
	int		 queued, running;

	if (store_counts(s, cfg->max_running, &queued, &running) == -1) {
		r->json = 1;
		reply_fail(r, "counting the jobs in the spool");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(
	    cfg->drain || store_draining(s) ? "draining" : "ok"));
	json_object_object_add(o, "version",
	    json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "queued", json_object_new_int(queued));
	json_object_object_add(o, "running", json_object_new_int(running));
	json_object_object_add(o, "spool_free_bytes",
	    json_object_new_int64(store_free_bytes(s)));
	http_header(r, "Cache-Control", "no-store");
	(void)reply_json(r, 200, o);
}
