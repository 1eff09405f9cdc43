/*
 * Tests of config.c: the parser on valid, defaulted and broken
 * configurations (every refusal must name the key), config_load on real
 * files in a mkdtemp directory, and the key table of --help-config against
 * what the parser takes.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"
#include "tap.h"

#define FILE_NAME	"/t/spoolcgi.json"

/* A minimal valid task, to splice into configurations. */
#define TASK_T		"'t': {'command': ['/bin/true']}"

/*
 * The test configurations are written with ' for ", which keeps them
 * readable; none needs a real apostrophe.  Returns a static copy.
 */
static const char *
j(const char *s)
{
	static char	 out[8192];
	size_t		 i;

	for (i = 0; s[i] != '\0' && i < sizeof(out) - 1; i++)
		out[i] = s[i] == '\'' ? '"' : s[i];
	out[i] = '\0';
	return out;
}

static int
parse(struct config *cfg, const char *json, char *err, size_t errsz)
{
	return config_parse(cfg, json, strlen(json), FILE_NAME, err, errsz);
}

/*
 * Expect json (in ' notation) to be refused with a message that starts
 * with the file name and contains want, and leaves cfg zeroed.
 */
static void
refused(const char *name, const char *json, const char *want)
{
	struct config	 cfg, zero;
	char		 err[1024];

	memset(&zero, 0, sizeof(zero));
	memset(err, 'x', sizeof(err));
	ok(parse(&cfg, j(json), err, sizeof(err)) == -1, "%s: refused", name);
	ok(strncmp(err, FILE_NAME ": ", strlen(FILE_NAME) + 2) == 0 &&
	    strstr(err, want) != NULL, "%s: message names \"%s\"", name, want);
	printf("#   %s\n", err);
	ok(memcmp(&cfg, &zero, sizeof(cfg)) == 0, "%s: config left zeroed",
	    name);
}

static void
test_full(void)
{
	/* Every top-level key, and a task with fields and an upload. */
	static const char	 json[] =
	    "{\n"
	    "  'spool': '/home/alice/spool',\n"
	    "  'templates': '/home/alice/spoolcgi/templates',\n"
	    "  'max_running': 4,\n"
	    "  'max_queued': 1000,\n"
	    "  'max_body_bytes': 10485760,\n"
	    "  'keep_finished_seconds': 86400,\n"
	    "  'tasks': {\n"
	    "    'wordcount': {\n"
	    "      'title': 'Count words',\n"
	    "      'command': ['/home/alice/bin/wordcount', '--fast'],\n"
	    "      'fields': {\n"
	    "        'text': {'label': 'Text', 'type': 'textarea', "
	    "'required': true, 'max_bytes': 100000},\n"
	    "        'lang': {'label': 'Language', 'type': 'text', "
	    "'required': false, 'max_bytes': 16}\n"
	    "      },\n"
	    "      'files': {\n"
	    "        'upload': {'label': 'Document', 'required': false, "
	    "'max_bytes': 5000000}\n"
	    "      },\n"
	    "      'timeout_seconds': 600,\n"
	    "      'max_running': 2,\n"
	    "      'result_type': 'text/plain; charset=utf-8',\n"
	    "      'max_result_bytes': 10485760\n"
	    "    }\n"
	    "  }\n"
	    "}\n";
	struct config		 cfg;
	const struct task	*t;
	const struct field	*f;
	char			 err[1024] = "";

	ok(parse(&cfg, j(json), err, sizeof(err)) == 0, "spec example parses");
	is_str(err, "", "no message on success");
	ok(cfg.path == NULL, "config_parse does not set path");
	is_str(cfg.spool, "/home/alice/spool", "spool");
	is_str(cfg.templates, "/home/alice/spoolcgi/templates", "templates");
	ok(cfg.document_root == NULL, "document_root absent");
	is_int(cfg.max_running, 4, "max_running");
	is_int(cfg.max_queued, 1000, "max_queued");
	is_int(cfg.max_body_bytes, 10485760, "max_body_bytes");
	is_int(cfg.keep_finished_seconds, 86400, "keep_finished_seconds");
	is_int(cfg.ntasks, 1, "one task");

	t = config_task(&cfg, "wordcount");
	ok(t == &cfg.tasks[0], "config_task finds wordcount");
	ok(config_task(&cfg, "nope") == NULL, "config_task: no such task");
	if (t == NULL)
		t = &cfg.tasks[0];
	is_str(t->name, "wordcount", "task name");
	is_str(t->title, "Count words", "title");
	ok(t->description == NULL, "description absent");
	is_str(t->command[0], "/home/alice/bin/wordcount", "command[0]");
	is_str(t->command[1], "--fast", "command[1]");
	ok(t->command[2] == NULL, "command is NULL-terminated");
	is_int(t->timeout_seconds, 600, "timeout_seconds");
	is_int(t->max_running, 2, "task max_running");
	is_int(t->retries, 0, "retries default");
	is_str(t->result_type, "text/plain; charset=utf-8", "result_type");
	is_int(t->max_result_bytes, 10485760, "max_result_bytes");

	is_int(t->nfields, 2, "two fields");
	is_str(t->fields[0].name, "text", "fields in file order: text");
	is_str(t->fields[1].name, "lang", "fields in file order: lang");
	f = task_field(t, "text");
	ok(f == &t->fields[0], "task_field finds text");
	ok(task_field(t, "upload") == NULL, "task_field: no such field");
	if (f == NULL)
		f = &t->fields[0];
	is_str(f->label, "Text", "text label");
	is_int(f->type, FIELD_TEXTAREA, "text type");
	is_int(f->required, 1, "text required");
	is_int(f->max_bytes, 100000, "text max_bytes");
	ok(f->options == NULL && f->noptions == 0, "text has no options");
	ok(!f->has_min && !f->has_max, "text has no bounds");
	f = &t->fields[1];
	is_str(f->label, "Language", "lang label");
	is_int(f->type, FIELD_TEXT, "lang type");
	is_int(f->required, 0, "lang not required");
	is_int(f->max_bytes, 16, "lang max_bytes");

	is_int(t->nfiles, 1, "one upload");
	is_str(t->files[0].name, "upload", "upload name");
	is_str(t->files[0].label, "Document", "upload label");
	is_int(t->files[0].required, 0, "upload not required");
	is_int(t->files[0].max_bytes, 5000000, "upload max_bytes");

	config_free(&cfg);
	ok(cfg.tasks == NULL && cfg.ntasks == 0 && cfg.spool == NULL,
	    "config_free zeroes");
	config_free(&cfg);
	ok(1, "config_free twice is safe");
}

static void
test_defaults(void)
{
	struct config		 cfg;
	const struct task	*t;
	char			 err[1024] = "";

	ok(parse(&cfg, j("{'spool': '/s', 'tasks': {'t': {'command': "
	    "['/bin/true'], 'fields': {'f': {}}, 'files': {'u': {}}}}}"),
	    err, sizeof(err)) == 0, "minimal configuration parses");
	is_str(err, "", "no message");
	ok(cfg.templates == NULL, "templates default: built in");
	ok(cfg.document_root == NULL, "document_root default: none");
	is_int(cfg.max_running, 4, "max_running default");
	is_int(cfg.max_queued, 1000, "max_queued default");
	is_int(cfg.max_body_bytes, 10485760, "max_body_bytes default");
	is_int(cfg.keep_finished_seconds, 86400,
	    "keep_finished_seconds default");
	is_int(cfg.tombstone_seconds, 604800, "tombstone_seconds default");
	is_int(cfg.gc_interval_seconds, 300, "gc_interval_seconds default");
	is_int(cfg.kill_grace_seconds, 5, "kill_grace_seconds default");
	is_int(cfg.max_wait_seconds, 10, "max_wait_seconds default");
	is_int(cfg.drain, 0, "drain default");
	t = &cfg.tasks[0];
	is_str(t->title, "t", "title default: the name");
	ok(t->description == NULL, "description default: none");
	is_int(t->timeout_seconds, 0, "timeout_seconds default");
	is_int(t->max_running, 0, "task max_running default");
	is_int(t->retries, 0, "retries default");
	is_str(t->result_type, "application/octet-stream",
	    "result_type default");
	is_int(t->max_result_bytes, 104857600, "max_result_bytes default");
	is_str(t->fields[0].label, "f", "field label default: the name");
	is_int(t->fields[0].type, FIELD_TEXT, "field type default");
	is_int(t->fields[0].required, 0, "field required default");
	is_int(t->fields[0].max_bytes, CONFIG_FIELD_MAX_BYTES,
	    "field max_bytes default");
	is_str(t->files[0].label, "u", "upload label default: the name");
	is_int(t->files[0].required, 0, "upload required default");
	is_int(t->files[0].max_bytes, 10485760,
	    "upload max_bytes default: max_body_bytes");
	config_free(&cfg);

	ok(parse(&cfg, j("{'spool': '/s', 'tasks': {" TASK_T "}}"), err,
	    sizeof(err)) == 0, "a task without fields parses");
	ok(cfg.tasks[0].fields == NULL && cfg.tasks[0].nfields == 0 &&
	    cfg.tasks[0].nfiles == 0, "no fields, no uploads");
	config_free(&cfg);
}

static void
test_kinds(void)
{
	static const char	 bom[] = "\xef\xbb\xbf{\"spool\": \"/s\", "
	    "\"tasks\": {\"t\": {\"command\": [\"/x\"]}}}\n\n";
	static const char	 tail[] = "{\"spool\": \"/s\", \"tasks\": "
	    "{\"t\": {\"command\": [\"/x\"]}}}garbage";
	struct config		 cfg;
	const struct field	*f;
	char			 err[1024] = "";

	ok(parse(&cfg, j("{'spool': '/s', 'document_root': '/var/www', "
	    "'max_queued': 0, 'keep_finished_seconds': 0, 'tasks': {"
	    "'a-b_c9': {'command': ['/bin/x'], 'description': 'D', "
	    "'retries': 10, 'result_type': 'application/json', "
	    "'fields': {"
	    "'lang': {'type': 'select', 'options': ['en', 'de', '']}, "
	    "'n': {'type': 'number', 'min': -1.5, 'max': 1e3}, "
	    "'m': {'type': 'number', 'max': 7}, "
	    "'Z9_': {'type': 'textarea'}}}, "
	    "'second': {'command': ['/bin/y'], "
	    "'result_type': 'text/csv;header=\\'present; x\\' ; q=1'}}}"),
	    err, sizeof(err)) == 0, "select, number, names, media types");
	printf("#   %s\n", err);
	is_str(cfg.document_root, "/var/www", "document_root");
	is_int(cfg.max_queued, 0, "max_queued 0 allowed");
	is_int(cfg.keep_finished_seconds, 0, "keep_finished_seconds 0");
	is_int(cfg.ntasks, 2, "two tasks");
	is_str(cfg.tasks[0].name, "a-b_c9", "tasks in file order (1)");
	is_str(cfg.tasks[1].name, "second", "tasks in file order (2)");
	is_str(cfg.tasks[0].description, "D", "description");
	is_int(cfg.tasks[0].retries, 10, "retries 10");
	f = task_field(&cfg.tasks[0], "lang");
	ok(f != NULL && f->type == FIELD_SELECT, "select field");
	if (f != NULL) {
		is_int(f->noptions, 3, "three options");
		is_str(f->options[0], "en", "option 0");
		is_str(f->options[1], "de", "option 1");
		is_str(f->options[2], "", "option 2");
	}
	f = task_field(&cfg.tasks[0], "n");
	ok(f != NULL && f->type == FIELD_NUMBER && f->has_min &&
	    f->has_max && f->min == -1.5 && f->max == 1000,
	    "number field with min and max");
	f = task_field(&cfg.tasks[0], "m");
	ok(f != NULL && !f->has_min && f->has_max && f->max == 7,
	    "number field with max only");
	ok(task_field(&cfg.tasks[0], "Z9_") != NULL, "field name Z9_");
	config_free(&cfg);

	is_str(field_type_name(FIELD_TEXT), "text", "field_type_name text");
	is_str(field_type_name(FIELD_TEXTAREA), "textarea",
	    "field_type_name textarea");
	is_str(field_type_name(FIELD_NUMBER), "number",
	    "field_type_name number");
	is_str(field_type_name(FIELD_SELECT), "select",
	    "field_type_name select");

	/* RFC 8259 8.1: a leading byte order mark is ignored. */
	ok(config_parse(&cfg, bom, strlen(bom), FILE_NAME, err,
	    sizeof(err)) == 0, "byte order mark ignored");
	config_free(&cfg);

	/* Only len bytes are read: what follows is not the file's. */
	ok(config_parse(&cfg, tail, strlen(tail) - strlen("garbage"),
	    FILE_NAME, err, sizeof(err)) == 0, "explicit length honoured");
	config_free(&cfg);

	ok(parse(&cfg, "{}", NULL, 0) == -1, "NULL err buffer is safe");
	err[0] = 'x';
	ok(parse(&cfg, "{}", err, 1) == -1 && err[0] == '\0',
	    "one-byte err buffer is safe");
}

static void
test_refusals(void)
{
	struct config	 cfg;
	char		 big[600], name[SPOOLCGI_NAME_MAX + 2], json[1024];

	refused("send_result: an unknown way",
	    "{'spool': '/s', 'send_result': 'sendfile', 'tasks': {" TASK_T
	    "}}", ": send_result: give \"spoolcgi\"");
	refused("x-accel-redirect without its prefix",
	    "{'spool': '/s', 'send_result': 'x-accel-redirect', 'tasks': {"
	    TASK_T "}}", ": send_result_prefix: missing");
	refused("send_result_prefix without a final slash",
	    "{'spool': '/s', 'send_result': 'x-accel-redirect', "
	    "'send_result_prefix': '/in', 'tasks': {" TASK_T "}}",
	    ": send_result_prefix: give a URI path");
	refused("send_result_prefix with a CR",
	    "{'spool': '/s', 'send_result_prefix': '/in\\r/', 'tasks': {"
	    TASK_T "}}", ": send_result_prefix: give a URI path");
	refused("a task's send_result: an unknown way",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'send_result': 'nginx'}}}", ": tasks.t.send_result: give "
	    "\"spoolcgi\"");
	refused("a task's x-accel-redirect without the global prefix",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'send_result': 'x-accel-redirect'}}}",
	    ": tasks.t.send_result: \"x-accel-redirect\" needs the global "
	    "\"send_result_prefix\"");
	{
		struct config	 c;
		char		 e[1024];

		ok(parse(&c, j("{'spool': '/s', 'send_result': 'x-sendfile', "
		    "'send_result_prefix': '/in/', 'tasks': {'a': {'command': "
		    "['/x'], 'send_result': 'x-accel-redirect'}, 'b': "
		    "{'command': ['/x']}}}"), e, sizeof(e)) == 0 &&
		    strcmp(c.tasks[0].send_result, "x-accel-redirect") == 0 &&
		    c.tasks[1].send_result == NULL &&
		    strcmp(c.send_result, "x-sendfile") == 0,
		    "a task's send_result overrides the global one; NULL: "
		    "the global one");
		config_free(&c);
	}
	refused("result_filename: a broken template",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'result_filename': 'a-{{id'}}}", ": tasks.t.result_filename: ");
	refused("unknown top-level key",
	    "{'spool': '/s', 'spoool': 1, 'tasks': {" TASK_T "}}",
	    ": spoool: unknown key");
	refused("unknown task key",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'titel': 'T'}}}", ": tasks.t.titel: unknown key");
	refused("unknown field key",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'f': {'lable': 'L'}}}}}",
	    ": tasks.t.fields.f.lable: unknown key");
	refused("unknown upload key",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'files': {'u': {'type': 'pdf'}}}}}",
	    ": tasks.t.files.u.type: unknown key");
	refused("unknown key, hostile name escaped",
	    "{'spool': '/s', 'a\\nb\\u001b': 1, 'tasks': {" TASK_T "}}",
	    ": a\\x0ab\\x1b: unknown key");

	refused("wrong type: string for integer",
	    "{'spool': '/s', 'max_running': '4', 'tasks': {" TASK_T "}}",
	    "max_running: expected an integer, found a string (\"4\")");
	refused("wrong type: number for integer",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'timeout_seconds': 1.5}}}",
	    "tasks.t.timeout_seconds: expected an integer, found a number");
	refused("wrong type: string for boolean",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'f': {'required': 'yes'}}}}}",
	    "tasks.t.fields.f.required: expected true or false");
	refused("wrong type: number for string",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'title': 5}}}", "tasks.t.title: expected a string");
	refused("wrong type: spool",
	    "{'spool': ['/s'], 'tasks': {" TASK_T "}}",
	    "spool: expected a string, found an array");
	refused("wrong type: tasks",
	    "{'spool': '/s', 'tasks': []}", "tasks: expected an object");
	refused("wrong type: task",
	    "{'spool': '/s', 'tasks': {'t': null}}",
	    "tasks.t: expected an object, found null");
	refused("wrong type: fields",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': ['text']}}}", "tasks.t.fields: expected an object");
	refused("wrong type: command string",
	    "{'spool': '/s', 'tasks': {'t': {'command': '/bin/x'}}}",
	    "tasks.t.command: expected an array");
	refused("wrong type: command element",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x', 1]}}}",
	    "tasks.t.command[1]: expected a string");
	refused("wrong type: min",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'n': {'type': 'number', 'min': '1'}}}}}",
	    "tasks.t.fields.n.min: expected a number");
	refused("NUL inside a string",
	    "{'spool': '/s\\u0000x', 'tasks': {" TASK_T "}}",
	    "spool: the string holds a NUL");

	refused("missing spool", "{'tasks': {" TASK_T "}}",
	    ": spool: missing");
	refused("relative spool", "{'spool': 'spool', 'tasks': {" TASK_T "}}",
	    ": spool: \"spool\" is not an absolute path");
	refused("relative templates",
	    "{'spool': '/s', 'templates': 't', 'tasks': {" TASK_T "}}",
	    ": templates: \"t\" is not an absolute path");
	refused("relative document_root",
	    "{'spool': '/s', 'document_root': '', 'tasks': {" TASK_T "}}",
	    ": document_root: \"\" is not an absolute path");
	refused("missing tasks", "{'spool': '/s'}", ": tasks: missing");
	refused("empty tasks", "{'spool': '/s', 'tasks': {}}",
	    ": tasks: empty");
	refused("missing command",
	    "{'spool': '/s', 'tasks': {'wordcount': {'title': 'W'}}}",
	    ": tasks.wordcount.command: missing: give the program to run");
	refused("empty command",
	    "{'spool': '/s', 'tasks': {'t': {'command': []}}}",
	    ": tasks.t.command: empty");
	refused("empty command argument",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x', '']}}}",
	    ": tasks.t.command[1]: empty string");
	refused("relative command",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['bin/t']}}}",
	    ": tasks.t.command[0]: \"bin/t\" is not an absolute path");

	refused("task name starting with a digit",
	    "{'spool': '/s', 'tasks': {'1t': {'command': ['/x']}}}",
	    ": tasks.1t: bad task name");
	refused("task name with a space",
	    "{'spool': '/s', 'tasks': {'a b': {'command': ['/x']}}}",
	    ": tasks.a b: bad task name");
	refused("task name with a dot",
	    "{'spool': '/s', 'tasks': {'a.b': {'command': ['/x']}}}",
	    ": tasks.a.b: bad task name");
	refused("empty task name",
	    "{'spool': '/s', 'tasks': {'': {'command': ['/x']}}}",
	    ": tasks.: bad task name");
	memset(name, 'a', SPOOLCGI_NAME_MAX + 1);
	name[SPOOLCGI_NAME_MAX + 1] = '\0';
	snprintf(json, sizeof(json), "{'spool': '/s', 'tasks': "
	    "{'%s': {'command': ['/x']}}}", name);
	refused("task name of 65 bytes", json, "bad task name");
	name[SPOOLCGI_NAME_MAX] = '\0';
	snprintf(json, sizeof(json), "{'spool': '/s', 'tasks': "
	    "{'%s': {'command': ['/x'], 'fields': {'%s': {}}}}}", name,
	    name);
	ok(parse(&cfg, j(json), NULL, 0) == 0,
	    "task and field names of 64 bytes");
	config_free(&cfg);
	snprintf(json, sizeof(json), "{'spool': '/s', 'tasks': "
	    "{'t': {'command': ['/x'], 'fields': {'%sa': {}}}}}", name);
	refused("field name of 65 bytes", json, "bad name");
	refused("field name with a dash",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'my-field': {}}}}}",
	    ": tasks.t.fields.my-field: bad name");
	refused("reserved field name task",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'task': {}}}}}",
	    ": tasks.t.fields.task: reserved name");
	refused("reserved field name format",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'format': {}}}}}",
	    ": tasks.t.fields.format: reserved name");
	refused("reserved field name _x",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'_x': {}}}}}",
	    ": tasks.t.fields._x: reserved name");
	refused("reserved upload name",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'files': {'task': {}}}}}",
	    ": tasks.t.files.task: reserved name");
	refused("upload named like a field",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'doc': {}}, 'files': {'doc': {}}}}}",
	    ": tasks.t.files.doc: the task has a field of the same name");

	refused("unknown field type",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'f': {'type': 'checkbox'}}}}}",
	    ": tasks.t.fields.f.type: unknown type \"checkbox\"");
	refused("select without options",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'f': {'type': 'select'}}}}}",
	    ": tasks.t.fields.f.options: missing");
	refused("select with empty options",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'f': {'type': 'select', 'options': []}}}}}",
	    ": tasks.t.fields.f.options: empty");
	refused("select with a repeated option",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'f': {'type': 'select', 'options': ['a', 'b', "
	    "'a']}}}}}", ": tasks.t.fields.f.options[2]: \"a\" is already");
	refused("select option longer than max_bytes",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'f': {'type': 'select', 'max_bytes': 2, "
	    "'options': ['ab', 'abc']}}}}}",
	    ": tasks.t.fields.f.options[1]: longer than");
	refused("options on a text field",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'f': {'options': ['a']}}}}}",
	    ": tasks.t.fields.f.options: only a select field");
	refused("min on a text field",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'f': {'type': 'textarea', 'min': 1}}}}}",
	    ": tasks.t.fields.f.min: only a number field");
	refused("max on a select field",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'f': {'type': 'select', 'options': ['a'], "
	    "'max': 1}}}}}", ": tasks.t.fields.f.max: only a number field");
	refused("min above max",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'f': {'type': 'number', 'min': 5, 'max': 1}}}}}",
	    ": tasks.t.fields.f.min: 5 is greater than max (1)");
	refused("NaN bound",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'fields': {'f': {'type': 'number', 'min': NaN}}}}}",
	    ": tasks.t.fields.f.min: not a finite number");

	refused("max_running 0",
	    "{'spool': '/s', 'max_running': 0, 'tasks': {" TASK_T "}}",
	    ": max_running: 0 is out of range: give an integer from 1 to");
	refused("negative max_queued",
	    "{'spool': '/s', 'max_queued': -1, 'tasks': {" TASK_T "}}",
	    ": max_queued: -1 is out of range");
	refused("huge max_running",
	    "{'spool': '/s', 'max_running': 99999999999, 'tasks': {"
	    TASK_T "}}", ": max_running: 99999999999 is out of range");
	refused("max_body_bytes beyond 64 bits",
	    "{'spool': '/s', 'max_body_bytes': 99999999999999999999999, "
	    "'tasks': {" TASK_T "}}",
	    ": max_body_bytes: the number is out of range");
	refused("max_body_bytes beyond 2^53",
	    "{'spool': '/s', 'max_body_bytes': 9007199254740993, "
	    "'tasks': {" TASK_T "}}",
	    ": max_body_bytes: 9007199254740993 is out of range");
	refused("max_wait_seconds over the 25 s cap",
	    "{'spool': '/s', 'max_wait_seconds': 26, "
	    "'tasks': {" TASK_T "}}", ": max_wait_seconds: 26");
	refused("a task defined twice",
	    "{'spool': '/s', 'tasks': {" TASK_T ", " TASK_T "}}",
	    "a key appears twice in the same object");
	refused("a key given twice",
	    "{'spool': '/s', 'spool': '/t', 'tasks': {" TASK_T "}}",
	    "a key appears twice");
	refused("an overlong UTF-8 form in a title",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/bin/true'], "
	    "'title': 'a\xc0\xaf'}}}", "not valid UTF-8");
	refused("drain not a boolean",
	    "{'spool': '/s', 'drain': 'yes', "
	    "'tasks': {" TASK_T "}}", ": drain: expected true or false");
	refused("negative keep_finished_seconds",
	    "{'spool': '/s', 'keep_finished_seconds': -86400, "
	    "'tasks': {" TASK_T "}}", ": keep_finished_seconds: -86400");
	refused("retries 11",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'retries': 11}}}",
	    ": tasks.t.retries: 11 is out of range: give an integer from "
	    "0 to 10");
	refused("negative task max_running",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'max_running': -2}}}", ": tasks.t.max_running: -2");
	refused("huge timeout_seconds",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'timeout_seconds': 2147483648}}}",
	    ": tasks.t.timeout_seconds: 2147483648 is out of range");
	refused("max_result_bytes 0",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'max_result_bytes': 0}}}", ": tasks.t.max_result_bytes: 0");
	refused("field max_bytes 0",
	    "{'spool': '/s', 'tasks': {'wordcount': {'command': ['/x'], "
	    "'fields': {'text': {'max_bytes': 0}}}}}",
	    ": tasks.wordcount.fields.text.max_bytes: 0 is out of range");
	refused("upload max_bytes negative",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'files': {'u': {'max_bytes': -5}}}}}",
	    ": tasks.t.files.u.max_bytes: -5");

	refused("result_type without subtype",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'result_type': 'text'}}}",
	    ": tasks.t.result_type: \"text\" is not a media type");
	refused("result_type with CR LF",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'result_type': 'text/plain\\r\\nSet-Cookie: a=b'}}}",
	    ": tasks.t.result_type: \"text/plain\\x0d\\x0aSet-Cookie: a=b\"");
	refused("result_type parameter without value",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'result_type': 'text/plain; charset'}}}",
	    ": tasks.t.result_type:");
	refused("result_type with an unclosed quote",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'result_type': 'text/plain; a=\\'b'}}}",
	    ": tasks.t.result_type:");
	refused("result_type with trailing space",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'result_type': 'text/plain '}}}", ": tasks.t.result_type:");
	refused("result_type not ASCII",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'result_type': 'text/pl\xc3\xa4in'}}}", ": tasks.t.result_type:");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[3] = '/';
	snprintf(json, sizeof(json), "{'spool': '/s', 'tasks': {'t': "
	    "{'command': ['/x'], 'result_type': '%s'}}}", big);
	refused("result_type too long", json, ": tasks.t.result_type:");

	refused("syntax error, with its line",
	    "{\n  'spool': '/s',\n  'tasks': {\n    't' {'command': ['/x']}\n"
	    "  }\n}\n", ": line 4, column 9: JSON syntax error");
	refused("trailing comma",
	    "{'spool': '/s', 'tasks': {" TASK_T "},}", ": line 1, column");
	refused("truncated file",
	    "{'spool': '/s',\n 'tasks': {" TASK_T "}\n",
	    ": line 3: the file ends before the JSON is complete");
	refused("invalid UTF-8",
	    "{'spool': '/s',\n'tasks': {'t': {'title': '\xff'}}}",
	    ": line 2, column 27: JSON syntax error (invalid utf-8");
	refused("trailing garbage",
	    "{'spool': '/s', 'tasks': {" TASK_T "}}\n\nx",
	    ": line 3, column 1: text after the end");
	refused("two objects",
	    "{'spool': '/s', 'tasks': {" TASK_T "}} {}",
	    ": line 1, column");
	refused("not an object: array", "[{'spool': '/s'}]",
	    ": expected one JSON object, found an array");
	refused("not an object: string", "  'x'  ",
	    ": expected one JSON object, found a string");
	refused("empty file", "", ": empty");
	refused("blank file", " \n\t\n", ": empty");

	/* A refusal found late must free all that was filled (valgrind). */
	refused("late refusal frees what was filled",
	    "{'spool': '/s', 'templates': '/t', 'tasks': {"
	    "'a': {'command': ['/x', 'y'], 'fields': {'f': {'type': "
	    "'select', 'options': ['1', '2']}}, 'files': {'u': {}}}, "
	    "'b': {'command': ['/x'], 'fields': {'g': {}, 'h': "
	    "{'type': 'select', 'options': ['1', 2]}}}}}",
	    ": tasks.b.fields.h.options[1]: expected a string");
}

/* Write len bytes of s to dir/name with mode; returns the path. */
static const char *
put(char *path, size_t pathsz, const char *dir, const char *name,
    const char *s, mode_t mode)
{
	FILE	*fp;

	snprintf(path, pathsz, "%s/%s", dir, name);
	if ((fp = fopen(path, "w")) == NULL ||
	    fputs(s, fp) == EOF || fclose(fp) == EOF) {
		printf("# write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if (chmod(path, mode) == -1) {
		printf("# chmod %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return path;
}

static void
test_load(void)
{
	struct config	 cfg;
	char		 tmpl[] = "/tmp/config-t.XXXXXX";
	char		 conf[PATH_MAX], prog[PATH_MAX], path[PATH_MAX];
	char		 json[2 * PATH_MAX], err[1024], key[64];
	char		*dir, *big;
	FILE		*fp;

	if ((dir = mkdtemp(tmpl)) == NULL) {
		printf("# mkdtemp: %s\n", strerror(errno));
		exit(1);
	}

	snprintf(path, sizeof(path), "%s/missing.json", dir);
	ok(config_load(&cfg, path, err, sizeof(err)) == -1,
	    "load: missing file refused");
	printf("#   %s\n", err);
	ok(strncmp(err, path, strlen(path)) == 0 &&
	    strstr(err, "no such file") != NULL &&
	    strstr(err, "-c FILE") != NULL &&
	    strstr(err, CONFIG_ENV) != NULL &&
	    strstr(err, CONFIG_DEFAULT_NAME) != NULL,
	    "load: missing file message says what to do");
	ok(cfg.tasks == NULL && cfg.path == NULL, "load: cfg left zeroed");

	ok(config_load(&cfg, dir, err, sizeof(err)) == -1,
	    "load: directory refused");
	printf("#   %s\n", err);
	ok(strncmp(err, dir, strlen(dir)) == 0 &&
	    strstr(err, "a directory") != NULL,
	    "load: directory message names it");

	snprintf(path, sizeof(path), "%s/fifo", dir);
	if (mkfifo(path, 0600) == 0) {
		ok(config_load(&cfg, path, err, sizeof(err)) == -1 &&
		    strstr(err, "not a regular file") != NULL,
		    "load: FIFO refused without waiting for a writer");
		printf("#   %s\n", err);
		unlink(path);
	} else
		ok(0, "mkfifo %s: %s", path, strerror(errno));

	/* A task program that is not executable. */
	put(prog, sizeof(prog), dir, "task", "#!/bin/sh\necho hi\n", 0644);
	snprintf(json, sizeof(json), "{\"spool\": \"/s\", \"tasks\": "
	    "{\"ok\": {\"command\": [\"/bin/sh\"]}, "
	    "\"wc\": {\"command\": [\"%s\", \"-x\"]}}}", prog);
	put(conf, sizeof(conf), dir, "noexec.json", json, 0600);
	ok(config_load(&cfg, conf, err, sizeof(err)) == -1,
	    "load: command not executable refused");
	printf("#   %s\n", err);
	snprintf(key, sizeof(key), ": tasks.wc.command[0]: ");
	ok(strncmp(err, conf, strlen(conf)) == 0 &&
	    strstr(err, key) != NULL && strstr(err, prog) != NULL &&
	    strstr(err, strerror(EACCES)) != NULL,
	    "load: message names file, key, program and the error");
	ok(cfg.tasks == NULL && cfg.path == NULL, "load: cfg left zeroed");

	/* A notifier that cannot be run is found at start, too. */
	snprintf(json, sizeof(json), "{\"spool\": \"/s\", \"tasks\": "
	    "{\"wc\": {\"command\": [\"/bin/sh\"], \"notify\": [\"%s\"]}}}",
	    prog);
	put(conf, sizeof(conf), dir, "notifyexec.json", json, 0600);
	ok(config_load(&cfg, conf, err, sizeof(err)) == -1 &&
	    strstr(err, ": tasks.wc.notify[0]: ") != NULL &&
	    strstr(err, strerror(EACCES)) != NULL,
	    "load: a notifier not executable refused");
	printf("#   %s\n", err);
	snprintf(json, sizeof(json), "{\"spool\": \"/s\", \"notify\": "
	    "[\"%s/nope\"], \"tasks\": {\"wc\": {\"command\": "
	    "[\"/bin/sh\"], \"notify\": false}}}", dir);
	put(conf, sizeof(conf), dir, "notifymissing.json", json, 0600);
	ok(config_load(&cfg, conf, err, sizeof(err)) == -1 &&
	    strstr(err, ": notify[0]: ") != NULL,
	    "load: a missing global notifier refused");
	printf("#   %s\n", err);

	/* A task program that does not exist. */
	snprintf(json, sizeof(json), "{\"spool\": \"/s\", \"tasks\": "
	    "{\"wc\": {\"command\": [\"%s/nope\"]}}}", dir);
	put(conf, sizeof(conf), dir, "noprog.json", json, 0600);
	ok(config_load(&cfg, conf, err, sizeof(err)) == -1 &&
	    strstr(err, ": tasks.wc.command[0]: ") != NULL &&
	    strstr(err, strerror(ENOENT)) != NULL,
	    "load: missing program refused");
	printf("#   %s\n", err);

	/* A task program that is a directory. */
	snprintf(json, sizeof(json), "{\"spool\": \"/s\", \"tasks\": "
	    "{\"wc\": {\"command\": [\"%s\"]}}}", dir);
	put(conf, sizeof(conf), dir, "dirprog.json", json, 0600);
	ok(config_load(&cfg, conf, err, sizeof(err)) == -1 &&
	    strstr(err, ": tasks.wc.command[0]: ") != NULL &&
	    strstr(err, "not a regular file") != NULL,
	    "load: program that is a directory refused");
	printf("#   %s\n", err);

	/* A parse error names the file. */
	put(conf, sizeof(conf), dir, "bad.json", "{\"spool\": 1}", 0600);
	ok(config_load(&cfg, conf, err, sizeof(err)) == -1 &&
	    strncmp(err, conf, strlen(conf)) == 0 &&
	    strstr(err, ": spool: expected a string") != NULL,
	    "load: parse error names the file and key");

	/* Over 1 MiB. */
	snprintf(path, sizeof(path), "%s/big.json", dir);
	if ((big = calloc(1, 1024 * 1024 + 2)) != NULL &&
	    (fp = fopen(path, "w")) != NULL) {
		memset(big, ' ', 1024 * 1024 + 1);
		big[0] = '{';
		big[1024 * 1024] = '}';
		fputs(big, fp);
		fclose(fp);
		ok(config_load(&cfg, path, err, sizeof(err)) == -1 &&
		    strstr(err, "more than the limit") != NULL,
		    "load: file over 1 MiB refused");
		printf("#   %s\n", err);
	} else
		ok(0, "write %s", path);
	free(big);
	unlink(path);

	/* Success: the program is executable now. */
	chmod(prog, 0755);
	snprintf(json, sizeof(json), "{\"spool\": \"/s\", \"tasks\": "
	    "{\"wc\": {\"command\": [\"%s\", \"-x\"]}}}", prog);
	put(conf, sizeof(conf), dir, "good.json", json, 0600);
	err[0] = '\0';
	ok(config_load(&cfg, conf, err, sizeof(err)) == 0,
	    "load: valid configuration");
	printf("#   %s\n", err);
	is_str(cfg.path, conf, "load: path stored");
	is_str(cfg.tasks[0].command[0], prog, "load: command[0]");
	config_free(&cfg);

	unlink(prog);
	snprintf(path, sizeof(path), "%s/noexec.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/noprog.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/dirprog.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/bad.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/notifyexec.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/notifymissing.json", dir);
	unlink(path);
	unlink(conf);
	ok(rmdir(dir) == 0, "temporary directory cleaned up");
}

/* The shipped example must stay valid: parse it as the demo uses it. */
static void
test_example(void)
{
	struct config		 cfg;
	const struct task	*t;
	const struct field	*f;
	const char		*srcdir;
	char			 path[PATH_MAX], buf[65536], err[1024] = "";
	size_t			 len;
	FILE			*fp;

	if ((srcdir = getenv("top_srcdir")) == NULL)
		srcdir = ".";
	snprintf(path, sizeof(path), "%s/examples/spoolcgi.json", srcdir);
	if ((fp = fopen(path, "r")) == NULL) {
		ok(0, "open %s: %s", path, strerror(errno));
		return;
	}
	len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	ok(config_parse(&cfg, buf, len, path, err, sizeof(err)) == 0,
	    "examples/spoolcgi.json parses");
	printf("#   %s\n", err);
	is_str(cfg.spool, "/var/lib/spoolcgi/spool", "example: spool");
	ok((t = config_task(&cfg, "demo")) != NULL, "example: task demo");
	if (t == NULL) {
		config_free(&cfg);
		return;
	}
	is_str(t->title, "Count words slowly", "example: title");
	is_str(t->command[0], "/usr/local/share/spoolcgi/examples/demo-task",
	    "example: command");
	is_str(t->result_type, "text/plain; charset=utf-8",
	    "example: result_type");
	is_int(t->timeout_seconds, 300, "example: timeout_seconds");
	ok((f = task_field(t, "text")) != NULL && f->type == FIELD_TEXTAREA &&
	    f->required && f->max_bytes == 100000 &&
	    strcmp(f->label, "Text to count") == 0, "example: field text");
	ok((f = task_field(t, "seconds")) != NULL && f->type == FIELD_NUMBER &&
	    !f->required && f->has_min && f->min == 1 && f->has_max &&
	    f->max == 120 && strcmp(f->label, "Seconds to take") == 0,
	    "example: field seconds");
	config_free(&cfg);
}

/*
 * A configuration with key (as the help table names it) set to value:
 * "K", "tasks.T.K", "tasks.T.fields.F.K" or "tasks.T.files.U.K".
 */
static int
parse_with(const char *key, long long value, char *err, size_t errsz)
{
	struct config	 cfg;
	char		 json[512];
	int		 rc;

	if (strncmp(key, "tasks.T.fields.F.", 17) == 0)
		snprintf(json, sizeof(json), "{'spool': '/s', 'tasks': {'t': "
		    "{'command': ['/x'], 'fields': {'f': {'%s': %lld}}}}}",
		    key + 17, value);
	else if (strncmp(key, "tasks.T.files.U.", 16) == 0)
		snprintf(json, sizeof(json), "{'spool': '/s', 'tasks': {'t': "
		    "{'command': ['/x'], 'files': {'u': {'%s': %lld}}}}}",
		    key + 16, value);
	else if (strncmp(key, "tasks.T.", 8) == 0)
		snprintf(json, sizeof(json), "{'spool': '/s', 'tasks': {'t': "
		    "{'command': ['/x'], '%s': %lld}}}", key + 8, value);
	else
		snprintf(json, sizeof(json), "{'spool': '/s', '%s': %lld, "
		    "'tasks': {" TASK_T "}}", key, value);
	rc = parse(&cfg, j(json), err, errsz);
	config_free(&cfg);
	return rc;
}

/* The help table (--help-config) says what the parser does. */
static void
test_keys(void)
{
	static const char	 head[] = "| key | type | default | bounds | "
	    "what it does |\n| --- | --- | --- | --- | --- |\n";
	struct buf		 b = { 0 };
	char			*line, *next, key[128], lo[32], hi[32];
	char			 err[1024];
	long long		 min, max;
	size_t			 rows = 0, ints = 0, bad = 0, pipes, nint = 0;
	const char		*p;

	ok(config_render_keys(&b) == 0 && b.len > sizeof(head),
	    "config_render_keys renders");
	if (b.data == NULL)
		return;
	ok(strncmp(b.data, head, sizeof(head) - 1) == 0,
	    "help table: the README's header");
	for (line = b.data + sizeof(head) - 1; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) == NULL)
			break;
		*next++ = '\0';
		rows++;
		for (pipes = 0, p = line; *p != '\0'; p++)
			if (*p == '|' && (p == line || p[-1] != '\\'))
				pipes++;
		if (strncmp(line, "| `", 3) != 0 || pipes != 6) {
			printf("#   bad row: %s\n", line);
			bad++;
		}
		if (strstr(line, "` | integer | ") != NULL)
			nint++;
		if (sscanf(line, "| `%127[^`]` | integer | %*[^|]| %31s "
		    "to %31s |", key, lo, hi) != 3)
			continue;
		ints++;
		min = strcmp(lo, "2^53") == 0 ? 9007199254740992LL :
		    strtoll(lo, NULL, 10);
		max = strcmp(hi, "2^53") == 0 ? 9007199254740992LL :
		    strtoll(hi, NULL, 10);
		ok(parse_with(key, min, NULL, 0) == 0 &&
		    parse_with(key, max, NULL, 0) == 0,
		    "%s takes %lld and %lld, as documented", key, min, max);
		ok(parse_with(key, min - 1, err, sizeof(err)) == -1 &&
		    strstr(err, "is out of range") != NULL &&
		    parse_with(key, max + 1, err, sizeof(err)) == -1 &&
		    strstr(err, "is out of range") != NULL,
		    "%s refuses %lld and %lld", key, min - 1, max + 1);
	}
	ok(rows > 0 && bad == 0, "help table: %zu rows of five cells", rows);
	ok(ints > 0 && ints == nint, "help table: the bounds of all %zu "
	    "integer keys checked", nint);
	buf_free(&b);
}

static void
test_default_path(void)
{
	char		 buf[PATH_MAX], tiny[8];
	const char	*p, *suffix = "/" CONFIG_DEFAULT_NAME;

	p = config_default_path(buf, sizeof(buf));
	ok(p == buf, "config_default_path returns buf");
	ok(p != NULL && p[0] == '/' && strlen(p) > strlen(suffix) &&
	    strcmp(p + strlen(p) - strlen(suffix), suffix) == 0,
	    "default path ends in %s", suffix);
	printf("#   %s\n", p != NULL ? p : "(null)");
	ok(config_default_path(tiny, sizeof(tiny)) == NULL,
	    "default path: truncation is failure");
}

/*
 * "notify": the top level's argv is every task's unless a task has its
 * own, or none ([] or false); the timeout has a default and bounds.
 */
static void
test_notify(void)
{
	struct config	 cfg;
	char		 err[1024] = "";

	ok(parse(&cfg, j("{'spool': '/s', 'tasks': {" TASK_T "}}"), err,
	    sizeof(err)) == 0, "notify: absent");
	ok(cfg.notify == NULL && cfg.tasks[0].notify == NULL,
	    "notify: none by default");
	is_int(cfg.notify_timeout_seconds, 60, "notify_timeout_seconds 60");
	config_free(&cfg);

	ok(parse(&cfg, j("{'spool': '/s', 'notify': ['/n', '-a'], "
	    "'notify_timeout_seconds': 5, 'tasks': {"
	    "'dflt': {'command': ['/x']}, "
	    "'own': {'command': ['/x'], 'notify': ['/own']}, "
	    "'off': {'command': ['/x'], 'notify': false}, "
	    "'none': {'command': ['/x'], 'notify': []}}}"), err,
	    sizeof(err)) == 0, "notify: global and per task");
	printf("#   %s\n", err);
	is_str(cfg.notify[0], "/n", "notify[0]");
	is_int(cfg.notify_timeout_seconds, 5, "notify_timeout_seconds 5");
	ok(cfg.tasks[0].notify != NULL && cfg.tasks[0].notify != cfg.notify &&
	    strcmp(cfg.tasks[0].notify[0], "/n") == 0 &&
	    strcmp(cfg.tasks[0].notify[1], "-a") == 0 &&
	    cfg.tasks[0].notify[2] == NULL,
	    "notify: a task without its own takes a copy of the global one");
	ok(cfg.tasks[1].notify != NULL &&
	    strcmp(cfg.tasks[1].notify[0], "/own") == 0 &&
	    cfg.tasks[1].notify[1] == NULL, "notify: a task's own wins");
	ok(cfg.tasks[2].notify == NULL, "notify: false turns it off");
	ok(cfg.tasks[3].notify == NULL, "notify: [] turns it off");
	config_free(&cfg);

	refused("notify: relative",
	    "{'spool': '/s', 'notify': ['mail'], 'tasks': {" TASK_T "}}",
	    ": notify[0]: \"mail\" is not an absolute path");
	refused("notify: empty at the top",
	    "{'spool': '/s', 'notify': [], 'tasks': {" TASK_T "}}",
	    ": notify: empty");
	refused("notify: a string",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'notify': '/bin/mail'}}}",
	    "tasks.t.notify: expected an array");
	refused("notify: true",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'notify': true}}}",
	    "tasks.t.notify: expected an array");
	refused("notify: an empty argument",
	    "{'spool': '/s', 'tasks': {'t': {'command': ['/x'], "
	    "'notify': ['/n', '']}}}",
	    "tasks.t.notify[1]: empty string");
	refused("notify_timeout_seconds: 0",
	    "{'spool': '/s', 'notify_timeout_seconds': 0, 'tasks': {"
	    TASK_T "}}", "notify_timeout_seconds");
}

/* metrics_token and metrics_allow: checked, and the token never shown. */
static void
test_metrics_keys(void)
{
	struct config	 cfg;
	char		 err[1024];

	refused("metrics_token: too short",
	    "{'spool': '/s', 'metrics_token': 'sesame', 'tasks': {" TASK_T
	    "}}", ": metrics_token: the token must be 16 to 256");
	refused("metrics_token: a space",
	    "{'spool': '/s', 'metrics_token': 'open sesame open sesame', "
	    "'tasks': {" TASK_T "}}", ": metrics_token: the token may hold "
	    "only");
	memset(err, 0, sizeof(err));
	ok(parse(&cfg, j("{'spool': '/s', 'metrics_token': 'open sesame open "
	    "sesame', 'tasks': {" TASK_T "}}"), err, sizeof(err)) == -1 &&
	    strstr(err, "sesame") == NULL, "metrics_token: a refusal never "
	    "shows the token");
	refused("metrics_allow: not an address",
	    "{'spool': '/s', 'metrics_allow': ['localhost'], 'tasks': {"
	    TASK_T "}}", ": metrics_allow[0]: \"localhost\" is not an "
	    "address");
	refused("metrics_allow: not an array",
	    "{'spool': '/s', 'metrics_allow': '127.0.0.1', 'tasks': {"
	    TASK_T "}}", ": metrics_allow: expected an array");
	ok(parse(&cfg, j("{'spool': '/s', 'metrics_token': "
	    "'0123456789abcdef-._~+/', 'metrics_allow': ['127.0.0.1', "
	    "'2001:db8::/32'], 'trusted_proxies': ['198.51.100.0/24'], "
	    "'tasks': {" TASK_T "}}"), err, sizeof(err)) == 0,
	    "metrics keys: accepted");
	is_str(cfg.metrics_token, "0123456789abcdef-._~+/", "metrics_token");
	ok(cfg.nmetrics_allow == 2 && cfg.metrics_allow[0].family == AF_INET &&
	    cfg.metrics_allow[0].bits == 32 &&
	    cfg.metrics_allow[1].family == AF_INET6 &&
	    cfg.metrics_allow[1].bits == 32, "metrics_allow: two ranges");
	ok(cfg.nproxies == 1 && cfg.proxies[0].bits == 24,
	    "trusted_proxies: kept apart from metrics_allow");
	config_free(&cfg);
	ok(parse(&cfg, j("{'spool': '/s', 'tasks': {" TASK_T "}}"), err,
	    sizeof(err)) == 0 && cfg.metrics_token == NULL &&
	    cfg.nmetrics_allow == 0, "metrics: off by default");
	config_free(&cfg);
}

int
main(void)
{
	struct config	 cfg;

	memset(&cfg, 0, sizeof(cfg));
	config_free(&cfg);
	ok(1, "config_free on a zeroed config is safe");

	test_full();
	test_defaults();
	test_kinds();
	test_notify();
	test_refusals();
	test_load();
	test_example();
	test_keys();
	test_default_path();
	test_metrics_keys();
	return tap_done();
}
