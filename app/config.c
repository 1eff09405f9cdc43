/*
 * The configuration: one JSON file, read once at start-up.
 * config_parse() is a pure function of the buffer, so a fuzz driver can
 * call it; config_load() reads the file and adds the checks that need the
 * file system.
 *
 * Parsing is strict: an unknown key at any level, a value of the wrong
 * type, or one out of range is an error, so a typo stops the program at
 * start instead of passing silently.  Every message names the file, the
 * key as a dotted path ("tasks.wordcount.fields.text.max_bytes") and what
 * to do about it.
 *
 * Long on purpose: the whole schema lives here as tables, one row per key
 * with its bounds, default and help, which --help-config prints and the
 * README copies; the reading code beside them is short.
 *
 * The schema is written once, as the four tables below: the top level, a
 * task, a field and an upload.  A row holds a key's name, type, bounds,
 * default, the member it fills and one line of help; the rows drive the
 * parse (in row order, so a row may depend on the rows above it), the
 * defaults and the messages, and "spoolcgi --help-config" prints them as
 * the table of the README.  Adding a key is adding a row, and the member
 * it fills.  What no row can say (a name's form, a cross-key rule such as
 * min <= max) is checked by the function that reads the object.
 *
 * A task name is 1 to 64 letters, digits, "_" or "-", starting with a
 * letter.  A field or upload name is 1 to 64 letters, digits or "_",
 * starting with a letter, because it becomes the environment variable
 * SPOOLCGI_FIELD_{name}; "task", "format" and names starting with "_" are
 * reserved for spoolcgi's own request fields, and an upload may not share
 * the name of a field.  Byte limits stop at 2^53 so that a JavaScript
 * client reading them from {base}/tasks gets them exactly; seconds stop at
 * 2^31 - 1 so that adding them to a time_t cannot overflow.
 *
 * The configuration file is at most 1 MiB.  JSON has no comments and an
 * unknown key is an error, so examples/spoolcgi.json cannot say that its
 * spool is a placeholder: the README has to.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "extern.h"

#define CONFIG_FILE_MAX		(1024 * 1024)	/* bytes in the file */
#define CONFIG_SECONDS_MAX	INT_MAX
#define CONFIG_BYTES_MAX	9007199254740992LL	/* 2^53 */
#define CONFIG_TYPE_MAX		255	/* bytes of a result_type */
#define CONFIG_KEY_MAX		256	/* a dotted key in a message */
#define CONFIG_SHOW_MAX		72	/* a value quoted in a message */

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* Where a parse is, to name the file in every message. */
struct cparse {
	const char	*path;
	char		*err;
	size_t		 errsz;
};

/* What a table fills, and what its rows may look at. */
struct cobj {
	struct config	*cfg;		/* the whole configuration */
	struct task	*task;		/* the task being read, or NULL */
	void		*obj;		/* the struct this table fills */
	const char	*name;		/* its name: the default of a label */
};

enum ckind {
	CK_INT,		/* an integer within min..max */
	CK_BOOL,	/* true or false, into an int */
	CK_STRING,	/* a string, copied */
	CK_PATH,	/* a string holding an absolute path, copied */
	CK_CUSTOM	/* read by the row's parse function */
};

/* The C type of a CK_INT member, so one row can fill any of them. */
enum cstore {
	CS_INT,
	CS_LONG,
	CS_LLONG,
	CS_SIZE
};

struct ckey {
	const char	*name;
	enum ckind	 kind;
	size_t		 off;		/* offsetof the member it fills */
	enum cstore	 store;		/* CK_INT: the member's type */
	long long	 min, max;	/* CK_INT: bounds, within the member */
	long long	 def;		/* CK_INT, CK_BOOL: the default */
	const char	*def_key;	/* CK_INT: a top-level key whose value
					 * is the default instead */
	const char	*def_str;	/* CK_STRING: the default, or NULL */
	int		 def_name;	/* CK_STRING: defaults to the name */
	const char	*missing;	/* required: what to do when absent */
	const char	*hint;		/* what to give, for a wrong value */
	/*
	 * parse reads a CK_CUSTOM value; check, if set, runs once any
	 * row's value is stored.  Both get the row, the dotted key and the
	 * value, NULL when the key is absent.
	 */
	int		(*parse)(struct cparse *, struct cobj *,
			    const struct ckey *, const char *,
			    struct json_object *);
	int		(*check)(struct cparse *, struct cobj *,
			    const struct ckey *, const char *,
			    struct json_object *);
	const char	*type_doc;	/* CK_CUSTOM: the type, for the help */
	const char	*bounds_doc;	/* the bounds, unless CK_INT */
	const char	*def_doc;	/* the default, said in words */
	const char	*help;		/* one line: what the key does */
};

/* A table: the keys of one kind of JSON object. */
struct ctable {
	const struct ckey *keys;
	size_t		 nkeys;
	const char	*what;		/* the object, in a message */
	const char	*doc_prefix;	/* its keys' prefix, in the help */
};

/*
 * The member of struct s that a row fills.  _Generic makes an integer row
 * for a member of any other type a compile error, not a silent overwrite.
 */
#define AT(s, m)	.off = offsetof(struct s, m)
#define INT_AT(s, m)	AT(s, m), .store = _Generic(((struct s *)0)->m, \
	int: CS_INT, long: CS_LONG, long long: CS_LLONG, size_t: CS_SIZE)
#define INT(lo, hi, d)	.kind = CK_INT, .min = (lo), .max = (hi), .def = (d)

static int	parse_proxies(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	parse_origins(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	check_public_url(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	parse_launcher(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	parse_tasks(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	parse_command(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	parse_notify(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	parse_task_notify(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	check_send_result(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	check_send_prefix(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	check_database(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	check_metrics_token(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	check_result_filename(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	check_result_type(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	check_template(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	parse_fields(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	parse_files(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	parse_type(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	parse_options(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);
static int	parse_bound(struct cparse *, struct cobj *,
		    const struct ckey *, const char *, struct json_object *);

static const struct ckey top_keys[] = {
	{ "spool", CK_PATH, AT(config, spool),
	  .missing = "give the absolute path of a directory for the jobs, "
	  "outside the web server's document root, e.g. "
	  "\"/home/alice/spool\"",
	  .hint = "give the absolute path of a directory for the jobs, e.g. "
	  "\"/home/alice/spool\"",
	  .help = "the job directory; must not be inside the document root" },
	{ "templates", CK_PATH, AT(config, templates),
	  .hint = "give the absolute path of a directory of templates, or "
	  "leave the key out to use the built-in ones",
	  .def_doc = "the built-in ones",
	  .help = "a directory whose files replace the built-in templates" },
	{ "document_root", CK_PATH, AT(config, document_root),
	  .hint = "give the absolute path the web server serves files from",
	  .def_doc = "none: checked per request from `DOCUMENT_ROOT`",
	  .help = "the web server's document root, to refuse a spool inside "
	  "it at start" },
	{ "max_running", INT(1, INT_MAX, 4), INT_AT(config, max_running),
	  .help = "jobs running at once, all tasks" },
	{ "max_queued", INT(0, INT_MAX, 1000), INT_AT(config, max_queued),
	  .help = "jobs waiting for a slot; more are refused with `503`" },
	{ "max_body_bytes", INT(1, CONFIG_BYTES_MAX, 10485760),
	  INT_AT(config, max_body_bytes), .def_doc = "10 MiB",
	  .help = "largest request body" },
	{ "keep_finished_seconds", INT(0, CONFIG_SECONDS_MAX, 86400),
	  INT_AT(config, keep_finished_seconds), .def_doc = "one day",
	  .help = "how long a finished job stays readable" },
	{ "tombstone_seconds", INT(0, CONFIG_SECONDS_MAX, 604800),
	  INT_AT(config, tombstone_seconds), .def_doc = "a week",
	  .help = "after expiry, how long the id answers `410` before `404`" },
	{ "gc_interval_seconds", INT(1, 86400, 300),
	  INT_AT(config, gc_interval_seconds),
	  .help = "at most one clean-up of the spool per interval" },
	{ "kill_grace_seconds", INT(0, 3600, 5),
	  INT_AT(config, kill_grace_seconds),
	  .help = "from `SIGTERM` to `SIGKILL` on a timeout or a cancel" },
	/* 25 s: far under the 100 s after which Cloudflare gives up. */
	{ "max_wait_seconds", INT(0, 25, 10),
	  INT_AT(config, max_wait_seconds),
	  .help = "cap on `Prefer: wait=N`" },
	{ "drain", CK_BOOL, AT(config, drain),
	  .help = "`true`: refuse new jobs (`503`), let the others finish" },
	{ "allow_root", CK_BOOL, AT(config, allow_root),
	  .help = "run even as root (every task would run as root)" },
	{ "max_jobs_per_client", INT(0, INT_MAX, 0),
	  INT_AT(config, max_jobs_per_client), .def_doc = "no limit",
	  .help = "queued and running jobs of one client; more get `429`" },
	{ "client_starts_per_minute", INT(0, INT_MAX, 0),
	  INT_AT(config, client_starts_per_minute), .def_doc = "no limit",
	  .help = "starts per client per minute; more get `429` with "
	  "`Retry-After`" },
	{ "min_free_bytes", INT(0, CONFIG_BYTES_MAX, 16777216),
	  INT_AT(config, min_free_bytes), .def_doc = "16 MiB",
	  .help = "below this much free disk, starts get `503`" },
	{ "max_spool_bytes", INT(0, CONFIG_BYTES_MAX, 0),
	  INT_AT(config, max_spool_bytes), .def_doc = "no limit",
	  .help = "the spool's size limit: starts get `503`, running jobs "
	  "stop (`spool_full`)" },
	{ "send_result", CK_STRING, AT(config, send_result),
	  .def_str = "spoolcgi", .check = check_send_result,
	  .hint = "give \"spoolcgi\", \"x-sendfile\" or \"x-accel-redirect\"",
	  .bounds_doc = "`spoolcgi`, `x-sendfile` or `x-accel-redirect`",
	  .help = "who sends a result: spoolcgi itself (ranges, validators), "
	  "or the web server from an `X-Sendfile` (lighttpd, Apache "
	  "mod_xsendfile) or `X-Accel-Redirect` (nginx) header, which "
	  "frees the FastCGI process at once" },
	{ "send_result_prefix", CK_STRING, AT(config, send_result_prefix),
	  .check = check_send_prefix,
	  .hint = "give the URI prefix of nginx's internal location for the "
	  "spool, e.g. \"/spoolcgi-spool/\"",
	  .bounds_doc = "starts and ends with `/`; required for "
	  "`x-accel-redirect`",
	  .def_doc = "none",
	  .help = "`X-Accel-Redirect` is this prefix and `jobs/ID/result`; "
	  "nginx maps it to the spool with an `internal` location's "
	  "`alias`" },
	{ "trusted_proxies", CK_CUSTOM, .parse = parse_proxies,
	  .type_doc = "array of strings",
	  .bounds_doc = "IPv4 or IPv6 addresses or CIDR ranges",
	  .def_doc = "none: the client is `REMOTE_ADDR`",
	  .help = "proxies whose `CF-Connecting-IP` names the client and "
	  "whose `X-Forwarded-Proto` or `CF-Visitor` the scheme" },
	{ "public_url", CK_STRING, AT(config, public_url),
	  .check = check_public_url,
	  .hint = "give the absolute URL clients reach {base} at, e.g. "
	  "\"https://jobs.example.org/app\"",
	  .bounds_doc = "`http://` or `https://`, a host, an optional port "
	  "and path; no query",
	  .def_doc = "none: from the request (`Host`, `HTTPS`)",
	  .help = "the absolute URL of `{base}`, for `Location`, "
	  "`Operation-Location` and `resourceLocation`" },
	{ "allowed_origins", CK_CUSTOM, .parse = parse_origins,
	  .type_doc = "array of strings",
	  .bounds_doc = "origins: `https://host[:port]`, no path",
	  .def_doc = "none: only this site",
	  .help = "other sites whose pages may post here (`POST`, "
	  "`DELETE`); other cross-site posts get `403`" },
	{ "metrics_token", CK_STRING, AT(config, metrics_token),
	  .check = check_metrics_token,
	  .hint = "give a long random string, e.g. from \"openssl rand -hex "
	  "32\"",
	  .bounds_doc = "16 to 256 of `A-Z a-z 0-9 - . _ ~ + /`",
	  .def_doc = "none",
	  .help = "turns `GET {base}/metrics` on for requests with "
	  "`Authorization: Bearer` and this token" },
	{ "metrics_allow", CK_CUSTOM, .parse = parse_proxies,
	  .type_doc = "array of strings",
	  .bounds_doc = "IPv4 or IPv6 addresses or CIDR ranges",
	  .def_doc = "none",
	  .help = "turns `GET {base}/metrics` on for these peers "
	  "(`REMOTE_ADDR`); with `metrics_token`, both are required" },
	{ "launcher", CK_CUSTOM, .parse = parse_launcher,
	  .type_doc = "array of non-empty strings",
	  .bounds_doc = "the first an absolute path",
	  .def_doc = "none: the supervisor is forked directly",
	  .help = "argv put before each supervisor, e.g. "
	  "`[\"/usr/bin/systemd-run\", \"--user\", \"--scope\", \"--\"]`" },
	{ "notify", CK_CUSTOM, .parse = parse_notify,
	  .type_doc = "array of non-empty strings",
	  .bounds_doc = "the first an absolute path of an executable",
	  .def_doc = "none",
	  .help = "the program run once after each job ends, with its "
	  "status on stdin (README \"Notifications\"); tasks may override" },
	{ "notify_timeout_seconds", INT(1, 86400, 60),
	  INT_AT(config, notify_timeout_seconds),
	  .help = "stop a notifier after this long (its process group)" },
	{ "database", CK_STRING, AT(config, database),
	  .check = check_database,
	  .hint = "give a libpq connection string, e.g. "
	  "\"postgresql://spoolcgi@db.example.org/spoolcgi\" or "
	  "\"dbname=spoolcgi\"",
	  .bounds_doc = "a libpq connection string (URI or `key=value`); "
	  "passwords in libpq's `passfile`",
	  .def_doc = "none: the jobs are in the spool",
	  .help = "the PostgreSQL store (README \"PostgreSQL\"): the front "
	  "keeps its jobs there, `spoolcgi worker` runs them" },
	/* Last: a task reads max_body_bytes and templates. */
	{ "tasks", CK_CUSTOM, .parse = parse_tasks,
	  .missing = "define at least one task, e.g. \"tasks\": "
	  "{\"wordcount\": {\"command\": [\"/usr/local/bin/wordcount\"]}}",
	  .type_doc = "object: task name to task",
	  .bounds_doc = "at least one task",
	  .help = "the tasks, each with the `tasks.T.` keys below" },
};

static const struct ckey task_keys[] = {
	{ "title", CK_STRING, AT(task, title), .def_name = 1,
	  .hint = "give the title shown on the form as a string",
	  .help = "shown on the forms and pages" },
	{ "description", CK_STRING, AT(task, description),
	  .hint = "give the text shown on the form as a string",
	  .help = "shown on the task's form" },
	{ "command", CK_CUSTOM, .parse = parse_command,
	  .type_doc = "array of non-empty strings",
	  .bounds_doc = "the first an absolute path of an executable",
	  .def_doc = "required",
	  .help = "the program and its arguments, run without a shell" },
	{ "notify", CK_CUSTOM, .parse = parse_task_notify,
	  .type_doc = "array of non-empty strings, or `false`",
	  .bounds_doc = "like `command`; `[]` or `false`: none",
	  .def_doc = "the top-level `notify`",
	  .help = "this task's notifier, run once after each of its jobs "
	  "ends" },
	{ "timeout_seconds", INT(0, CONFIG_SECONDS_MAX, 0),
	  INT_AT(task, timeout_seconds), .def_doc = "never",
	  .help = "stop the task after this long (`error.code` `timeout`)" },
	{ "max_running", INT(0, INT_MAX, 0), INT_AT(task, max_running),
	  .def_doc = "only the global limit",
	  .help = "jobs of this task running at once" },
	{ "retries", INT(0, 10, 0), INT_AT(task, retries),
	  .help = "times an interrupted job is queued again" },
	{ "max_result_bytes", INT(1, CONFIG_BYTES_MAX, 104857600),
	  INT_AT(task, max_result_bytes), .def_doc = "100 MiB",
	  .help = "a larger result stops the task (`result_too_large`)" },
	{ "result_type", CK_STRING, AT(task, result_type),
	  .def_str = "application/octet-stream", .check = check_result_type,
	  .hint = "give a media type, e.g. \"text/plain; charset=utf-8\"",
	  .bounds_doc = "a media type: printable ASCII, at most 255 bytes",
	  .help = "the result's `Content-Type`" },
	{ "log", CK_BOOL, AT(task, log), .def = 1,
	  .help = "show the task's stderr to whoever holds the job's link "
	  "(`{base}/jobs/{id}/log`, the job page); `false` when it may "
	  "hold what users should not see" },
	{ "result_filename", CK_STRING, AT(task, result_filename),
	  .check = check_result_filename,
	  .hint = "give a file name template, e.g. \"ocr-{{id}}.txt\"",
	  .bounds_doc = "a template of `{{id}}`, `{{task}}`, `{{date}}` and "
	  "the task's fields, at most 255 bytes",
	  .def_doc = "none: no `Content-Disposition`",
	  .help = "the result's download name (`Content-Disposition: "
	  "attachment`), made safe" },
	{ "send_result", CK_STRING, AT(task, send_result),
	  .check = check_send_result,
	  .hint = "give \"spoolcgi\", \"x-sendfile\" or \"x-accel-redirect\"",
	  .bounds_doc = "as `send_result`",
	  .def_doc = "the global `send_result`",
	  .help = "who sends this task's results: the web server for a task "
	  "of big exports, spoolcgi for the rest" },
	{ "form_template", CK_STRING, AT(task, form_template),
	  .check = check_template,
	  .hint = "give the name of a file in the templates directory, e.g. "
	  "\"ocr-form.html\"",
	  .bounds_doc = "a file name ending in `.html`",
	  .def_doc = "the built-in one",
	  .help = "the task's own form page, a file in `templates`" },
	{ "result_template", CK_STRING, AT(task, result_template),
	  .check = check_template,
	  .hint = "give the name of a file in the templates directory, e.g. "
	  "\"ocr-result.html\"",
	  .bounds_doc = "a file name ending in `.html`",
	  .def_doc = "the built-in one",
	  .help = "the task's own result page, a file in `templates`" },
	{ "fields", CK_CUSTOM, .parse = parse_fields,
	  .type_doc = "object: field name to field",
	  .help = "the form's fields, in form order, each with the "
	  "`tasks.T.fields.F.` keys below" },
	/* After fields: an upload may not take a field's name. */
	{ "files", CK_CUSTOM, .parse = parse_files,
	  .type_doc = "object: upload name to upload",
	  .help = "uploads (`multipart/form-data`), each with the "
	  "`tasks.T.files.U.` keys below" },
};

static const struct ckey field_keys[] = {
	/* First: the keys below depend on the type. */
	{ "type", CK_CUSTOM, .parse = parse_type, .type_doc = "string",
	  .bounds_doc = "`text`, `textarea`, `number` or `select`",
	  .def_doc = "`text`",
	  .help = "the form control, and how a value is checked" },
	{ "label", CK_STRING, AT(field, label), .def_name = 1,
	  .hint = "give the label shown on the form as a string",
	  .help = "shown on the form" },
	{ "required", CK_BOOL, AT(field, required),
	  .help = "the field must be given, and not empty" },
	{ "max_bytes", INT(1, CONFIG_BYTES_MAX, CONFIG_FIELD_MAX_BYTES),
	  INT_AT(field, max_bytes),
	  .help = "longer values are refused with `413`" },
	{ "options", CK_CUSTOM, .parse = parse_options,
	  .type_doc = "array of distinct strings",
	  .bounds_doc = "each at most `max_bytes`",
	  .def_doc = "required for `select`",
	  .help = "the choices of a `select`; only for `select`" },
	{ "min", CK_CUSTOM, .parse = parse_bound, .type_doc = "number",
	  .def_doc = "no bound",
	  .help = "the smallest value of a `number`; only for `number`" },
	{ "max", CK_CUSTOM, .parse = parse_bound, .type_doc = "number",
	  .bounds_doc = "at least `min`", .def_doc = "no bound",
	  .help = "the largest value of a `number`; only for `number`" },
};

static const struct ckey file_keys[] = {
	{ "label", CK_STRING, AT(filespec, label), .def_name = 1,
	  .hint = "give the label shown on the form as a string",
	  .help = "shown on the form" },
	{ "required", CK_BOOL, AT(filespec, required),
	  .help = "the upload must be given" },
	{ "max_bytes", INT(1, CONFIG_BYTES_MAX, 0), INT_AT(filespec, max_bytes),
	  .def_key = "max_body_bytes",
	  .help = "a larger upload is refused with `413`" },
};

static const struct ctable top_table = {
	top_keys, NITEMS(top_keys), "the top level", ""
};
static const struct ctable task_table = {
	task_keys, NITEMS(task_keys), "a task", "tasks.T."
};
static const struct ctable field_table = {
	field_keys, NITEMS(field_keys), "a field", "tasks.T.fields.F."
};
static const struct ctable file_table = {
	file_keys, NITEMS(file_keys), "an upload", "tasks.T.files.U."
};

/* Indexed by enum field_type. */
static const char *const field_types[] = {
	"text", "textarea", "number", "select"
};

/*
 * Write "PATH: KEY: message" (or "PATH: message" when key is NULL) into
 * the caller's buffer.  Returns -1, so a failing check can return it.
 */
static int __attribute__((format(printf, 3, 4)))
cp_fail(struct cparse *cp, const char *key, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (cp->err == NULL || cp->errsz == 0)
		return -1;
	if (key != NULL)
		n = snprintf(cp->err, cp->errsz, "%s: %s: ", cp->path, key);
	else
		n = snprintf(cp->err, cp->errsz, "%s: ", cp->path);
	if (n >= 0 && (size_t)n < cp->errsz) {
		va_start(ap, fmt);
		vsnprintf(cp->err + n, cp->errsz - n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
cp_nomem(struct cparse *cp)
{
	errno = ENOMEM;
	return cp_fail(cp, NULL, "out of memory while reading the "
	    "configuration");
}

/* s, escaped for a message (log_safe) and cut to a readable length. */
static const char *
show(char *dst, size_t dstsz, const char *s)
{
	return log_safe(dst, dstsz, s, strlen(s));
}

/* Returns dst: "prefix.name", or "name" alone when prefix is "". */
static const char *
key_join(char *dst, size_t dstsz, const char *prefix, const char *name)
{
	char	 safe[CONFIG_SHOW_MAX];

	show(safe, sizeof(safe), name);
	if (*prefix == '\0')
		snprintf(dst, dstsz, "%s", safe);
	else
		snprintf(dst, dstsz, "%s.%s", prefix, safe);
	return dst;
}

/* Returns dst: "prefix[i]". */
static const char *
key_index(char *dst, size_t dstsz, const char *prefix, size_t i)
{
	/* A cut key only shortens a message; it is never used as a name. */
	if (snprintf(dst, dstsz, "%s[%zu]", prefix, i) < 0)
		dst[0] = '\0';
	return dst;
}

/*
 * What a JSON value is, for a message: "an integer (42)", "a string
 * ("4")", "an array".  Returns dst, or a constant.
 */
static const char *
describe(char *dst, size_t dstsz, struct json_object *o)
{
	char		 safe[CONFIG_SHOW_MAX];
	const char	*s;

	switch (json_object_get_type(o)) {
	case json_type_null:
		return "null";
	case json_type_array:
		return "an array";
	case json_type_object:
		return "an object";
	case json_type_string:
		snprintf(dst, dstsz, "a string (\"%s\")",
		    log_safe(safe, sizeof(safe), json_object_get_string(o),
		    json_object_get_string_len(o)));
		return dst;
	case json_type_boolean:
		return json_object_get_boolean(o) ? "a boolean (true)" :
		    "a boolean (false)";
	case json_type_int:
	case json_type_double:
		s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		snprintf(dst, dstsz, "%s (%s)",
		    json_object_get_type(o) == json_type_int ?
		    "an integer" : "a number", show(safe, sizeof(safe), s));
		return dst;
	}
	return "an unknown value";
}

/* Is o of type t?  Returns 0, or -1 with a message that ends in hint. */
static int
want_type(struct cparse *cp, const char *key, struct json_object *o,
    enum json_type t, const char *hint)
{
	static const char *const names[] = {
		[json_type_null] = "null",
		[json_type_boolean] = "true or false",
		[json_type_double] = "a number",
		[json_type_int] = "an integer",
		[json_type_object] = "an object",
		[json_type_array] = "an array",
		[json_type_string] = "a string"
	};
	char	 desc[CONFIG_SHOW_MAX + 32];

	if (json_object_get_type(o) == t)
		return 0;
	return cp_fail(cp, key, "expected %s, found %s: %s", names[t],
	    describe(desc, sizeof(desc), o), hint);
}

/* A copy of string o.  Returns 0, or -1 with a message ending in hint. */
static int
get_string(struct cparse *cp, const char *key, struct json_object *o,
    const char *hint, char **out)
{
	const char	*s;

	if (want_type(cp, key, o, json_type_string, hint) == -1)
		return -1;
	s = json_object_get_string(o);
	/* "\u0000" is valid JSON, but would silently cut a C string. */
	if (strlen(s) != (size_t)json_object_get_string_len(o))
		return cp_fail(cp, key, "the string holds a NUL character "
		    "(\\u0000): remove it");
	if ((*out = strdup(s)) == NULL)
		return cp_nomem(cp);
	return 0;
}

/* A copy of string o, an absolute path.  Returns 0, or -1. */
static int
get_path(struct cparse *cp, const char *key, struct json_object *o,
    const char *hint, char **out)
{
	char	 safe[CONFIG_SHOW_MAX];

	if (get_string(cp, key, o, hint, out) == -1)
		return -1;
	if ((*out)[0] != '/')
		return cp_fail(cp, key, "\"%s\" is not an absolute path: %s",
		    show(safe, sizeof(safe), *out), hint);
	return 0;
}

/* Integer o, within min..max.  Returns 0, or -1 with a message. */
static int
get_int(struct cparse *cp, const char *key, struct json_object *o,
    long long min, long long max, long long *out)
{
	char		 hint[96];
	int64_t		 v;

	snprintf(hint, sizeof(hint), "give an integer from %lld to %lld",
	    min, max);
	if (want_type(cp, key, o, json_type_int, hint) == -1)
		return -1;
	v = json_object_get_int64(o);
	if (v < min || v > max) {
		/* json-c clamps what does not fit in 64 bits. */
		if (v == INT64_MAX || v == INT64_MIN)
			return cp_fail(cp, key, "the number is out of "
			    "range: %s", hint);
		return cp_fail(cp, key, "%lld is out of range: %s",
		    (long long)v, hint);
	}
	*out = v;
	return 0;
}

/*
 * Check that every key of object o has a row in table tb.  prefix is o's
 * own dotted key ("" at the top), what names o in the message.  Returns
 * 0, or -1 with a message listing the keys allowed.
 */
static int
check_keys(struct cparse *cp, const char *prefix, struct json_object *o,
    const struct ctable *tb)
{
	char	 key[CONFIG_KEY_MAX], list[512];
	size_t	 i, n;

	json_object_object_foreach(o, k, v) {
		(void)v;
		for (i = 0; i < tb->nkeys; i++)
			if (strcmp(k, tb->keys[i].name) == 0)
				break;
		if (i < tb->nkeys)
			continue;
		for (i = n = 0; i < tb->nkeys && n < sizeof(list); i++)
			n += snprintf(list + n, sizeof(list) - n, "%s%s",
			    i > 0 ? ", " : "", tb->keys[i].name);
		return cp_fail(cp, key_join(key, sizeof(key), prefix, k),
		    "unknown key: %s takes only %s (check the spelling)",
		    tb->what, list);
	}
	return 0;
}

/* Store v into the integer member of obj that row k names. */
static void
int_store(void *obj, const struct ckey *k, long long v)
{
	char	*p = (char *)obj + k->off;

	switch (k->store) {
	case CS_INT:
		*(int *)p = (int)v;
		break;
	case CS_LONG:
		*(long *)p = (long)v;
		break;
	case CS_LLONG:
		*(long long *)p = v;
		break;
	case CS_SIZE:
		*(size_t *)p = (size_t)v;
		break;
	}
}

/* Returns the integer member of obj that row k names. */
static long long
int_load(const void *obj, const struct ckey *k)
{
	const char	*p = (const char *)obj + k->off;

	switch (k->store) {
	case CS_INT:
		return *(const int *)p;
	case CS_LONG:
		return *(const long *)p;
	case CS_LLONG:
		return *(const long long *)p;
	case CS_SIZE:
		return (long long)*(const size_t *)p;
	}
	return 0;
}

/*
 * The default of integer row k: its own, or the value a top-level key
 * already read into cfg (the top level is read first, in row order).
 */
static long long
int_default(const struct config *cfg, const struct ckey *k)
{
	size_t	 i;

	if (k->def_key == NULL)
		return k->def;
	for (i = 0; i < NITEMS(top_keys); i++)
		if (strcmp(top_keys[i].name, k->def_key) == 0)
			return int_load(cfg, &top_keys[i]);
	return k->def;
}

/*
 * Read row k of co's table from v (NULL: absent) into co->obj; key is
 * the dotted key.  Returns 0, or -1 with a message.
 */
static int
row_read(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	char		*p = (char *)co->obj + k->off;
	const char	*def;
	long long	 n;

	if (v == NULL && k->missing != NULL)
		return cp_fail(cp, key, "missing: %s", k->missing);
	switch (k->kind) {
	case CK_INT:
		n = int_default(co->cfg, k);
		if (v != NULL && get_int(cp, key, v, k->min, k->max, &n) == -1)
			return -1;
		int_store(co->obj, k, n);
		return 0;
	case CK_BOOL:
		*(int *)p = (int)k->def;
		if (v == NULL)
			return 0;
		if (want_type(cp, key, v, json_type_boolean, "give true or "
		    "false, without quotes") == -1)
			return -1;
		*(int *)p = json_object_get_boolean(v);
		return 0;
	case CK_STRING:
		if (v != NULL)
			return get_string(cp, key, v, k->hint, (char **)p);
		def = k->def_name ? co->name : k->def_str;
		if (def != NULL && (*(char **)p = strdup(def)) == NULL)
			return cp_nomem(cp);
		return 0;
	case CK_PATH:
		if (v == NULL)
			return 0;
		return get_path(cp, key, v, k->hint, (char **)p);
	case CK_CUSTOM:
		return k->parse(cp, co, k, key, v);
	}
	return 0;
}

/*
 * Fill co->obj from object o by table tb: refuse a key it has no row
 * for, then read each row's value or default, in row order.  prefix is
 * o's own dotted key ("" at the top).  Returns 0, or -1 with a message.
 */
static int
table_read(struct cparse *cp, struct cobj *co, const struct ctable *tb,
    const char *prefix, struct json_object *o)
{
	struct json_object	*v;
	const struct ckey	*k;
	char			 key[CONFIG_KEY_MAX];
	size_t			 i;

	if (check_keys(cp, prefix, o, tb) == -1)
		return -1;
	for (i = 0; i < tb->nkeys; i++) {
		k = &tb->keys[i];
		key_join(key, sizeof(key), prefix, k->name);
		if (!json_object_object_get_ex(o, k->name, &v))
			v = NULL;
		if (row_read(cp, co, k, key, v) == -1)
			return -1;
		if (k->check != NULL && k->check(cp, co, k, key, v) == -1)
			return -1;
	}
	return 0;
}

/*
 * Is s a name: 1 to SPOOLCGI_NAME_MAX bytes, a letter, then letters,
 * digits, "_", and "-" if dash is set?  Returns 1 if so, else 0.
 */
static int
name_valid(const char *s, int dash)
{
	size_t	 i;
	char	 c;

	for (i = 0; s[i] != '\0'; i++) {
		c = s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
			continue;
		if (i == 0)
			return 0;
		if ((c >= '0' && c <= '9') || c == '_' || (dash && c == '-'))
			continue;
		return 0;
	}
	return i >= 1 && i <= SPOOLCGI_NAME_MAX;
}

/*
 * Check a field or upload name: it becomes SPOOLCGI_FIELD_{name}, and
 * must not take a name that spoolcgi's own requests use.  Returns 0, or
 * -1 with a message.
 */
static int
field_name_check(struct cparse *cp, const char *key, const char *name)
{
	if (name[0] == '_' || strcmp(name, "task") == 0 ||
	    strcmp(name, "format") == 0)
		return cp_fail(cp, key, "reserved name: \"task\", \"format\" "
		    "and names starting with _ belong to spoolcgi's own "
		    "request fields: rename it");
	if (!name_valid(name, 0))
		return cp_fail(cp, key, "bad name: a field name is 1 to %d "
		    "letters, digits or _, starting with a letter, because "
		    "it becomes the environment variable "
		    "SPOOLCGI_FIELD_{name}: rename it", SPOOLCGI_NAME_MAX);
	return 0;
}

static size_t
token_len(const char *s)
{
	size_t	 n;

	for (n = 0; is_tchar((unsigned char)s[n]); n++)
		continue;
	return n;
}

/*
 * Is s a media type that can go into a Content-Type header as it is:
 * type "/" subtype *( OWS ";" OWS [ name "=" ( token / quoted-string ) ] )
 * (RFC 9110 8.3.1, 5.6.4, 5.6.6), in printable ASCII?  Returns 1 or 0.
 */
static int
media_type_valid(const char *s)
{
	size_t	 n;

	if (strlen(s) > CONFIG_TYPE_MAX)
		return 0;
	if ((n = token_len(s)) == 0 || s[n] != '/')
		return 0;
	s += n + 1;
	if ((n = token_len(s)) == 0)
		return 0;
	s += n;
	for (;;) {
		for (n = 0; s[n] == ' ' || s[n] == '\t'; n++)
			continue;
		if (s[n] == '\0')
			return n == 0;	/* no trailing white space */
		if (s[n] != ';')
			return 0;
		s += n + 1;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == ';')
			continue;	/* an empty parameter */
		if ((n = token_len(s)) == 0 || s[n] != '=')
			return 0;
		s += n + 1;
		if (*s != '"') {
			if ((n = token_len(s)) == 0)
				return 0;
			s += n;
			continue;
		}
		for (s++; *s != '"'; s++) {
			if (*s == '\\')
				s++;
			if ((*s < 0x20 && *s != '\t') || *s == 0x7f ||
			    (unsigned char)*s >= 0x80)
				return 0;	/* also the end of s */
		}
		s++;
	}
}

/* Options of a select field (key is its dotted key).  Returns 0, or -1. */
/* "type" of a field: one of field_types.  Returns 0, or -1. */
static int
parse_type(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	struct field	*f = co->obj;
	char		 safe[CONFIG_SHOW_MAX];
	size_t		 i;

	(void)k;
	f->type = FIELD_TEXT;
	if (v == NULL)
		return 0;
	if (want_type(cp, key, v, json_type_string, "give one of text, "
	    "textarea, number, select") == -1)
		return -1;
	for (i = 0; i < NITEMS(field_types); i++)
		if (strcmp(json_object_get_string(v), field_types[i]) == 0)
			break;
	if (i == NITEMS(field_types))
		return cp_fail(cp, key, "unknown type \"%s\": give one of "
		    "text, textarea, number, select",
		    show(safe, sizeof(safe), json_object_get_string(v)));
	f->type = (enum field_type)i;
	return 0;
}

/* "options" of a field: required for a select, else refused. */
static int
parse_options(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *o)
{
	struct field	*f = co->obj;
	char		 ikey[CONFIG_KEY_MAX], safe[CONFIG_SHOW_MAX];
	size_t		 i, j, n;

	(void)k;
	if (o == NULL && f->type == FIELD_SELECT)
		return cp_fail(cp, key, "missing: a select field needs its "
		    "choices, e.g. \"options\": [\"en\", \"de\"]");
	if (o == NULL)
		return 0;
	if (f->type != FIELD_SELECT)
		return cp_fail(cp, key, "only a select field has options: "
		    "remove the key, or set \"type\": \"select\"");
	if (want_type(cp, key, o, json_type_array, "give the choices as an "
	    "array of strings, e.g. [\"en\", \"de\"]") == -1)
		return -1;
	if ((n = json_object_array_length(o)) == 0)
		return cp_fail(cp, key, "empty: give at least one choice");
	if ((f->options = calloc(n, sizeof(*f->options))) == NULL)
		return cp_nomem(cp);
	f->noptions = n;
	for (i = 0; i < n; i++) {
		key_index(ikey, sizeof(ikey), key, i);
		if (get_string(cp, ikey, json_object_array_get_idx(o, i),
		    "give each choice as a string", &f->options[i]) == -1)
			return -1;
		if (strlen(f->options[i]) > f->max_bytes)
			return cp_fail(cp, ikey, "longer than the field's "
			    "max_bytes (%zu): shorten it, or raise max_bytes",
			    f->max_bytes);
		for (j = 0; j < i; j++)
			if (strcmp(f->options[j], f->options[i]) == 0)
				return cp_fail(cp, ikey, "\"%s\" is already "
				    "choice %zu: give each choice once",
				    show(safe, sizeof(safe), f->options[i]), j);
	}
	return 0;
}

/*
 * "min" or "max" of a field (k says which): a finite number, only for a
 * number field.  Returns 0, or -1 with a message.
 */
static int
parse_bound(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *o)
{
	struct field	*f = co->obj;
	char		 desc[CONFIG_SHOW_MAX + 32];
	int		 lo = strcmp(k->name, "min") == 0;
	double		 d;

	if (o == NULL)
		return 0;
	if (f->type != FIELD_NUMBER)
		return cp_fail(cp, key, "only a number field has a %s: "
		    "remove the key, or set \"type\": \"number\"",
		    lo ? "minimum" : "maximum");
	if (json_object_get_type(o) != json_type_int &&
	    json_object_get_type(o) != json_type_double)
		return cp_fail(cp, key, "expected a number, found %s: give a "
		    "number, without quotes", describe(desc, sizeof(desc), o));
	d = json_object_get_double(o);
	/* json-c reads NaN and Infinity, which JSON does not have. */
	if (!isfinite(d))
		return cp_fail(cp, key, "not a finite number: give a number");
	if (lo) {
		f->min = d;
		f->has_min = 1;
	} else {
		f->max = d;
		f->has_max = 1;
	}
	return 0;
}

/*
 * Field name of task co->task from object o; prefix is "tasks.T.fields".
 * Returns 0, or -1 with a message.
 */
static int
parse_field(struct cparse *cp, struct cobj *co, struct field *f,
    const char *prefix, const char *name, struct json_object *o)
{
	struct cobj	 fo;
	char		 key[CONFIG_KEY_MAX], sub[CONFIG_KEY_MAX];

	key_join(key, sizeof(key), prefix, name);
	if (field_name_check(cp, key, name) == -1)
		return -1;
	if (want_type(cp, key, o, json_type_object, "give an object, e.g. "
	    "{\"label\": \"Text\", \"type\": \"textarea\"}") == -1)
		return -1;
	if ((f->name = strdup(name)) == NULL)
		return cp_nomem(cp);
	fo = *co;
	fo.obj = f;
	fo.name = name;
	if (table_read(cp, &fo, &field_table, key, o) == -1)
		return -1;
	if (f->has_min && f->has_max && f->min > f->max)
		return cp_fail(cp, key_join(sub, sizeof(sub), key, "min"),
		    "%g is greater than max (%g): swap them", f->min, f->max);
	return 0;
}

/*
 * Upload name of task co->task from object o; prefix is "tasks.T.files".
 * Returns 0, or -1 with a message.
 */
static int
parse_file(struct cparse *cp, struct cobj *co, struct filespec *fs,
    const char *prefix, const char *name, struct json_object *o)
{
	struct cobj	 fo;
	char		 key[CONFIG_KEY_MAX];
	size_t		 i;

	key_join(key, sizeof(key), prefix, name);
	if (field_name_check(cp, key, name) == -1)
		return -1;
	for (i = 0; i < co->task->nfields; i++)
		if (strcmp(co->task->fields[i].name, name) == 0)
			return cp_fail(cp, key, "the task has a field of the "
			    "same name: rename one of them");
	if (want_type(cp, key, o, json_type_object, "give an object, e.g. "
	    "{\"label\": \"Document\", \"max_bytes\": 5000000}") == -1)
		return -1;
	if ((fs->name = strdup(name)) == NULL)
		return cp_nomem(cp);
	fo = *co;
	fo.obj = fs;
	fo.name = name;
	return table_read(cp, &fo, &file_table, key, o);
}

/* "fields" of a task, in the order of the file.  Returns 0, or -1. */
static int
parse_fields(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	struct task	*t = co->task;
	size_t		 i;

	(void)k;
	if (v == NULL)
		return 0;
	if (want_type(cp, key, v, json_type_object, "give an object of "
	    "fields, e.g. {\"text\": {\"type\": \"textarea\"}}") == -1)
		return -1;
	if ((t->nfields = json_object_object_length(v)) > 0 &&
	    (t->fields = calloc(t->nfields, sizeof(*t->fields))) == NULL) {
		t->nfields = 0;
		return cp_nomem(cp);
	}
	i = 0;
	/* json-c keeps the keys in the order of the file. */
	json_object_object_foreach(v, fk, fv)
		if (parse_field(cp, co, &t->fields[i++], key, fk, fv) == -1)
			return -1;
	return 0;
}

/* "files" of a task: its uploads.  Returns 0, or -1 with a message. */
static int
parse_files(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	struct task	*t = co->task;
	size_t		 i;

	(void)k;
	if (v == NULL)
		return 0;
	if (want_type(cp, key, v, json_type_object, "give an object of "
	    "uploads, e.g. {\"upload\": {\"max_bytes\": 5000000}}") == -1)
		return -1;
	if ((t->nfiles = json_object_object_length(v)) > 0 &&
	    (t->files = calloc(t->nfiles, sizeof(*t->files))) == NULL) {
		t->nfiles = 0;
		return cp_nomem(cp);
	}
	i = 0;
	json_object_object_foreach(v, uk, uv)
		if (parse_file(cp, co, &t->files[i++], key, uk, uv) == -1)
			return -1;
	return 0;
}

/*
 * An argv: a non-empty array of non-empty strings whose first is an
 * absolute path (no shell and no PATH search is ever used), into a new
 * NULL-terminated *out.  prog names the example program in messages.
 * Returns 0, or -1 with a message.
 */
static int
parse_argv(struct cparse *cp, const char *key, struct json_object *o,
    const char *prog, char ***out)
{
	char	 hint[CONFIG_KEY_MAX], ikey[CONFIG_KEY_MAX];
	char	 safe[CONFIG_SHOW_MAX];
	char	**av;
	size_t	 i, n;

	snprintf(hint, sizeof(hint), "give the program to run and its "
	    "arguments as an array of strings, e.g. [\"/usr/local/bin/%s\"]",
	    prog);
	if (o == NULL)
		return cp_fail(cp, key, "missing: %s", hint);
	if (want_type(cp, key, o, json_type_array, hint) == -1)
		return -1;
	if ((n = json_object_array_length(o)) == 0)
		return cp_fail(cp, key, "empty: %s", hint);
	if ((av = calloc(n + 1, sizeof(*av))) == NULL)
		return cp_nomem(cp);
	*out = av;
	for (i = 0; i < n; i++) {
		key_index(ikey, sizeof(ikey), key, i);
		if (get_string(cp, ikey, json_object_array_get_idx(o, i),
		    hint, &av[i]) == -1)
			return -1;
		if (av[i][0] == '\0')
			return cp_fail(cp, ikey, "empty string: remove it, "
			    "or give the argument");
	}
	if (av[0][0] != '/')
		return cp_fail(cp, key_index(ikey, sizeof(ikey), key, 0),
		    "\"%s\" is not an absolute path: give the full path of "
		    "the program, e.g. \"/usr/local/bin/%s\" (no shell and no "
		    "PATH search is used)", show(safe, sizeof(safe), av[0]),
		    prog);
	return 0;
}

/*
 * "trusted_proxies" and "metrics_allow": addresses or CIDR ranges, IPv4
 * or IPv6, e.g. Cloudflare's published ranges.  Returns 0, or -1 with a
 * message.
 */
static int
parse_proxies(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *o)
{
	struct config	*cfg = co->cfg;
	char	 ikey[CONFIG_KEY_MAX], safe[CONFIG_SHOW_MAX], addr[64];
	const char *s, *slash;
	struct proxy *p, **list = &cfg->proxies;
	size_t	 i, n, *np = &cfg->nproxies;
	long	 bits;
	char	*end;

	if (strcmp(k->name, "metrics_allow") == 0) {
		list = &cfg->metrics_allow;
		np = &cfg->nmetrics_allow;
	}
	if (o == NULL)
		return 0;
	if (want_type(cp, key, o, json_type_array, "give an "
	    "array of addresses or ranges, e.g. [\"173.245.48.0/20\"]") == -1)
		return -1;
	n = json_object_array_length(o);
	if ((*list = calloc(n + 1, sizeof(**list))) == NULL)
		return cp_nomem(cp);
	for (i = 0; i < n; i++) {
		key_index(ikey, sizeof(ikey), key, i);
		if (want_type(cp, ikey, json_object_array_get_idx(o, i),
		    json_type_string, "give an address or a range as a "
		    "string") == -1)
			return -1;
		s = json_object_get_string(json_object_array_get_idx(o, i));
		p = &(*list)[*np];
		slash = strchr(s, '/');
		if ((slash ? (size_t)(slash - s) : strlen(s)) >= sizeof(addr))
			goto bad;
		snprintf(addr, sizeof(addr), "%.*s",
		    (int)(slash ? (size_t)(slash - s) : strlen(s)), s);
		if (inet_pton(AF_INET, addr, p->addr) == 1) {
			p->family = AF_INET;
			bits = 32;
		} else if (inet_pton(AF_INET6, addr, p->addr) == 1) {
			p->family = AF_INET6;
			bits = 128;
		} else
			goto bad;
		p->bits = (int)bits;
		if (slash != NULL) {
			errno = 0;
			bits = strtol(slash + 1, &end, 10);
			if (*end != '\0' || slash[1] == '\0' || errno != 0 ||
			    bits < 0 || bits > p->bits)
				goto bad;
			p->bits = (int)bits;
		}
		(*np)++;
		continue;
bad:
		return cp_fail(cp, ikey, "\"%s\" is not an address or a "
		    "range: give e.g. \"203.0.113.7\", \"173.245.48.0/20\" or "
		    "\"2400:cb00::/32\"", show(safe, sizeof(safe), s));
	}
	return 0;
}

/*
 * Is s (len bytes) "scheme://host[:port]" with scheme http or https,
 * followed by nothing (path 0) or by a path of URL characters (path 1)?
 */
static int
url_valid(const char *s, int path)
{
	const char	*h, *end;

	if (strncmp(s, "https://", 8) == 0)
		h = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		h = s + 7;
	else
		return 0;
	end = h + strcspn(h, "/");
	if (!host_valid(h, (size_t)(end - h)))
		return 0;
	if (*end == '\0')
		return 1;
	if (!path)
		return 0;
	for (; *end != '\0'; end++)
		if (!url_path_char((unsigned char)*end))
			return 0;
	return 1;
}

/*
 * "public_url", once stored: an absolute http(s) URL without query or
 * fragment, at most 512 bytes; a trailing "/" is dropped so that the
 * routes join onto it.  Returns 0, or -1.
 */
static int
check_public_url(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	char	*u = co->cfg->public_url;
	size_t	 n;

	(void)k;
	(void)v;
	if (u == NULL)
		return 0;
	if ((n = strlen(u)) > 512 || !url_valid(u, 1))
		return cp_fail(cp, key, "not an absolute URL of this server: "
		    "give e.g. \"https://jobs.example.org/app\" (http or "
		    "https, a host, an optional port and path, no query)");
	while (n > 8 && u[n - 1] == '/')
		u[--n] = '\0';
	return 0;
}

/*
 * "allowed_origins": origins (RFC 6454) whose pages may post here,
 * e.g. a static front page on another host.  Returns 0, or -1.
 */
static int
parse_origins(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *o)
{
	struct config	*cfg = co->cfg;
	char		 ikey[CONFIG_KEY_MAX], safe[CONFIG_SHOW_MAX];
	size_t		 i, n;
	char		*s;

	(void)k;
	if (o == NULL)
		return 0;
	if (want_type(cp, key, o, json_type_array, "give an array of "
	    "origins, e.g. [\"https://www.example.org\"]") == -1)
		return -1;
	n = json_object_array_length(o);
	if ((cfg->allowed_origins = calloc(n + 1,
	    sizeof(*cfg->allowed_origins))) == NULL)
		return cp_nomem(cp);
	for (i = 0; i < n; i++) {
		key_index(ikey, sizeof(ikey), key, i);
		if (get_string(cp, ikey, json_object_array_get_idx(o, i),
		    "give an origin as a string", &s) == -1)
			return -1;
		cfg->allowed_origins[cfg->nallowed_origins++] = s;
		if (!url_valid(s, 0))
			return cp_fail(cp, ikey, "\"%s\" is not an origin: "
			    "give a scheme and a host, an optional port and "
			    "no path, e.g. \"https://www.example.org\"",
			    show(safe, sizeof(safe), s));
	}
	return 0;
}

/* "launcher": an argv, or NULL when absent.  Returns 0, or -1. */
static int
parse_launcher(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	(void)k;
	if (v == NULL)
		return 0;
	return parse_argv(cp, key, v, "systemd-run", &co->cfg->launcher);
}

/* A task's template file name: [A-Za-z0-9._-]+ ending in ".html". */
static int
template_name_valid(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n < 6 || n > 64 || s[0] == '.' || strcmp(s + n - 5, ".html") != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) ==
		    NULL)
			return 0;
	return 1;
}

/*
 * "form_template" or "result_template", once stored: a plain file name
 * in the "templates" directory, which must be set.  Returns 0, or -1.
 */
static int
check_template(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	const char	*name = *(char **)((char *)co->obj + k->off);

	(void)v;
	if (name == NULL)
		return 0;
	if (!template_name_valid(name))
		return cp_fail(cp, key, "give a file name in the templates "
		    "directory: letters, digits, '.', '_' and '-', not "
		    "starting with '.', ending in \".html\"");
	if (co->cfg->templates == NULL)
		return cp_fail(cp, key, "a task's own template lives in the "
		    "\"templates\" directory: set that key too");
	return 0;
}

/*
 * "metrics_token", once stored: long enough not to be guessed, and a
 * b64token (RFC 6750 2.1) that a header carries as it is.  The message
 * never shows the value: it is a secret, and errors go to logs.
 * Returns 0, or -1.
 */
static int
check_metrics_token(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *o)
{
	const char	*t = co->cfg->metrics_token;
	size_t		 i, n;

	(void)k;
	(void)o;
	if (t == NULL)
		return 0;
	n = strlen(t);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) &&
		    strchr("-._~+/", t[i]) == NULL)
			return cp_fail(cp, key, "the token may hold only "
			    "letters, digits and - . _ ~ + /; make one with "
			    "\"openssl rand -hex 32\"");
	if (n < 16 || n > 256)
		return cp_fail(cp, key, "the token must be 16 to 256 "
		    "characters long; make one with \"openssl rand -hex "
		    "32\"");
	return 0;
}

/* "send_result", once stored: one of the three ways.  Returns 0, or -1. */
static int
check_send_result(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	const char	*m = *(char **)((char *)co->obj + k->off);

	(void)v;
	/* A task's is read after the global keys: the prefix is known. */
	if (m != NULL && co->task != NULL &&
	    strcmp(m, "x-accel-redirect") == 0 &&
	    co->cfg->send_result_prefix == NULL)
		return cp_fail(cp, key, "\"x-accel-redirect\" needs the "
		    "global \"send_result_prefix\", the prefix of nginx's "
		    "internal location, e.g. \"/spoolcgi-spool/\"");
	if (m == NULL || strcmp(m, "spoolcgi") == 0 ||
	    strcmp(m, "x-sendfile") == 0 || strcmp(m, "x-accel-redirect") == 0)
		return 0;
	return cp_fail(cp, key, "give \"spoolcgi\", \"x-sendfile\" or "
	    "\"x-accel-redirect\"");
}

/*
 * "send_result_prefix", once stored: an absolute URI path ending in '/',
 * of printable ASCII without spaces, quotes or '?', since it goes into a
 * header; required for x-accel-redirect.  Returns 0, or -1.
 */
static int
check_send_prefix(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	const char	*p = *(char **)((char *)co->obj + k->off), *s;
	const char	*m = co->cfg->send_result;

	(void)v;
	if (p == NULL) {
		if (m != NULL && strcmp(m, "x-accel-redirect") == 0)
			return cp_fail(cp, key, "missing: \"send_result\": "
			    "\"x-accel-redirect\" needs the prefix of nginx's "
			    "internal location, e.g. \"/spoolcgi-spool/\"");
		return 0;
	}
	for (s = p; *s != '\0'; s++)
		if (*s <= ' ' || *s >= 0x7f || strchr("\"?#%\\", *s) != NULL)
			break;
	if (p[0] != '/' || *s != '\0' || s == p || s[-1] != '/' ||
	    s - p > 200)
		return cp_fail(cp, key, "give a URI path that starts and ends "
		    "with '/', e.g. \"/spoolcgi-spool/\"");
	return 0;
}

/*
 * "database", once stored: a libpq connection string.  libpq itself
 * judges its keywords when it connects (pg.c); here only what no
 * connection string holds: an empty one, control characters.
 * Returns 0, or -1.
 */
static int
check_database(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	const char	*p = *(char **)((char *)co->obj + k->off), *s;

	(void)v;
	if (p == NULL)
		return 0;
	for (s = p; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			break;
	if (*p == '\0' || *s != '\0' || s - p > 4096)
		return cp_fail(cp, key, "give a libpq connection string of at "
		    "most 4096 characters without control characters, e.g. "
		    "\"dbname=spoolcgi\", or leave the key out");
	return 0;
}

/*
 * "result_filename", once stored: a template (tmpl.c's syntax) of at
 * most 255 bytes, rendered per download.  Returns 0, or -1.
 */
static int
check_result_filename(struct cparse *cp, struct cobj *co,
    const struct ckey *k, const char *key, struct json_object *v)
{
	const char	*t = *(char **)((char *)co->obj + k->off);
	char		 err[256];

	(void)v;
	if (t == NULL)
		return 0;
	if (t[0] == '\0' || strlen(t) > 255)
		return cp_fail(cp, key, "give a file name template of 1 to 255 "
		    "bytes, e.g. \"ocr-{{id}}.txt\"");
	if (tmpl_check(t, strlen(t), err, sizeof(err)) == -1)
		return cp_fail(cp, key, "%s", err);
	return 0;
}

/* "result_type", once stored: a media type.  Returns 0, or -1. */
static int
check_result_type(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	const char	*type = *(char **)((char *)co->obj + k->off);
	char		 safe[CONFIG_SHOW_MAX];

	(void)v;
	if (media_type_valid(type))
		return 0;
	return cp_fail(cp, key, "\"%s\" is not a media type: give one such "
	    "as \"text/plain; charset=utf-8\" or \"application/json\" "
	    "(printable ASCII, at most %d bytes)",
	    show(safe, sizeof(safe), type), CONFIG_TYPE_MAX);
}

/* "command" of a task, required.  Returns 0, or -1 with a message. */
static int
parse_command(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	(void)k;
	return parse_argv(cp, key, v, co->task->name, &co->task->command);
}

/* "notify" at the top: an argv, or NULL when absent.  Returns 0, or -1. */
static int
parse_notify(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	(void)k;
	if (v == NULL)
		return 0;
	return parse_argv(cp, key, v, "notify-email", &co->cfg->notify);
}

/*
 * "notify" of a task: its own argv; absent, a copy of the top-level one
 * (parsed before "tasks"), so that the supervisor reads one member; [] or
 * false, none.  Returns 0, or -1 with a message.
 */
static int
parse_task_notify(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	char	**def = co->cfg->notify, **av;
	size_t	  n, i;

	(void)k;
	if (v != NULL && (json_object_is_type(v, json_type_boolean) ?
	    !json_object_get_boolean(v) : json_object_is_type(v,
	    json_type_array) && json_object_array_length(v) == 0))
		return 0;
	if (v != NULL)
		return parse_argv(cp, key, v, "notify-email",
		    &co->task->notify);
	if (def == NULL)
		return 0;
	for (n = 0; def[n] != NULL; n++)
		;
	if ((av = calloc(n + 1, sizeof(*av))) == NULL)
		return cp_nomem(cp);
	co->task->notify = av;
	for (i = 0; i < n; i++)
		if ((av[i] = strdup(def[i])) == NULL)
			return cp_nomem(cp);
	return 0;
}

/* Task name from object o.  Returns 0, or -1 with a message. */
static int
parse_task(struct cparse *cp, struct config *cfg, struct task *t,
    const char *name, struct json_object *o)
{
	struct cobj	 co;
	char		 key[CONFIG_KEY_MAX];

	key_join(key, sizeof(key), "tasks", name);
	if (!name_valid(name, 1))
		return cp_fail(cp, key, "bad task name: a task name is 1 to "
		    "%d letters, digits, _ or -, starting with a letter: "
		    "rename it", SPOOLCGI_NAME_MAX);
	if (want_type(cp, key, o, json_type_object, "give an object, e.g. "
	    "{\"command\": [\"/usr/local/bin/wordcount\"]}") == -1)
		return -1;
	if ((t->name = strdup(name)) == NULL)
		return cp_nomem(cp);
	co.cfg = cfg;
	co.task = t;
	co.obj = t;
	co.name = name;
	return table_read(cp, &co, &task_table, key, o);
}

/* "tasks": at least one, in the order of the file.  Returns 0, or -1. */
static int
parse_tasks(struct cparse *cp, struct cobj *co, const struct ckey *k,
    const char *key, struct json_object *v)
{
	struct config	*cfg = co->cfg;
	size_t		 i, n;

	(void)k;
	if (want_type(cp, key, v, json_type_object, "give an object of "
	    "tasks, e.g. {\"wordcount\": {\"command\": "
	    "[\"/usr/local/bin/wordcount\"]}}") == -1)
		return -1;
	if ((n = json_object_object_length(v)) == 0)
		return cp_fail(cp, key, "empty: define at least one task, "
		    "e.g. {\"wordcount\": {\"command\": "
		    "[\"/usr/local/bin/wordcount\"]}}");
	if ((cfg->tasks = calloc(n, sizeof(*cfg->tasks))) == NULL)
		return cp_nomem(cp);
	cfg->ntasks = n;
	i = 0;
	json_object_object_foreach(v, tk, tv)
		if (parse_task(cp, cfg, &cfg->tasks[i++], tk, tv) == -1)
			return -1;
	return 0;
}

/* The top-level object.  Returns 0, or -1 with a message. */
static int
parse_top(struct cparse *cp, struct config *cfg, struct json_object *root)
{
	struct cobj	 co;

	co.cfg = cfg;
	co.task = NULL;
	co.obj = cfg;
	co.name = NULL;
	return table_read(cp, &co, &top_table, "", root);
}

/* Line and column (both from 1, columns in characters) of buf[off]. */
static void
text_position(const char *buf, size_t off, size_t *line, size_t *col)
{
	size_t	 i;

	*line = *col = 1;
	for (i = 0; i < off; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80)
			(*col)++;	/* not a UTF-8 continuation byte */
	}
}

static int
is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
config_count_name(void *arg, const char *name, size_t len, int depth)
{
	(void)name;
	(void)len;
	(void)depth;
	(*(size_t *)arg)++;
}

/* Members of every object in the tree, as json-c kept them. */
static size_t
config_count_members(struct json_object *o)
{
	size_t	 n = 0, i;

	switch (json_object_get_type(o)) {
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			n += 1 + config_count_members(v);
		}
		break;
	}
	case json_type_array:
		for (i = 0; i < json_object_array_length(o); i++)
			n += config_count_members(
			    json_object_array_get_idx(o, i));
		break;
	default:
		break;
	}
	return n;
}

/*
 * Parse the configuration in buf (len bytes, not necessarily
 * NUL-terminated) into cfg; path only names the file in messages.  A pure
 * function of its input: it touches no file and logs nothing.  Returns 0
 * with cfg filled (release it with config_free), or -1 with cfg zeroed
 * and a message naming the file, the key and what to do in err.
 */
int
config_parse(struct config *cfg, const char *buf, size_t len,
    const char *path, char *err, size_t errsz)
{
	struct cparse		 cp;
	struct json_tokener	*tok;
	unsigned long		 cp_;
	size_t			 names;
	struct json_object	*root = NULL;
	enum json_tokener_error	 jerr;
	size_t			 i, skip = 0, end, line, col;
	char			 desc[CONFIG_SHOW_MAX + 32];
	int			 rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	cp.path = path != NULL ? path : "(configuration)";
	cp.err = err;
	cp.errsz = errsz;
	if (err != NULL && errsz > 0)
		err[0] = '\0';

	if (len > CONFIG_FILE_MAX)
		return cp_fail(&cp, NULL, "larger than %d bytes: is this the "
		    "configuration file?", CONFIG_FILE_MAX);
	/* RFC 8259 8.1: a parser may ignore a byte order mark; some
	 * editors write one. */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		skip = 3;
	for (i = skip; i < len && is_json_space(buf[i]); i++)
		continue;
	if (i == len)
		return cp_fail(&cp, NULL, "empty: write the configuration as "
		    "one JSON object (examples/spoolcgi.json is a start)");

	if ((tok = json_tokener_new()) == NULL)
		return cp_nomem(&cp);
	/* Trailing text is found below, with a clearer message. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_ALLOW_TRAILING_CHARS | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, buf + skip, (int)(len - skip));
	jerr = json_tokener_get_error(tok);
	end = skip + json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (end > len)
		end = len;

	if (root == NULL) {
		text_position(buf + skip, end - skip, &line, &col);
		if (jerr == json_tokener_continue)
			cp_fail(&cp, NULL, "line %zu: the file ends before the "
			    "JSON is complete: look for a missing }, ] or "
			    "closing quote", line);
		else
			cp_fail(&cp, NULL, "line %zu, column %zu: JSON syntax "
			    "error (%s): fix the JSON there; a missing comma "
			    "or quote is the usual cause", line, col,
			    json_tokener_error_desc(jerr));
		goto out;
	}
	for (i = end; i < len && is_json_space(buf[i]); i++)
		continue;
	if (i < len) {
		text_position(buf + skip, i - skip, &line, &col);
		cp_fail(&cp, NULL, "line %zu, column %zu: text after the end "
		    "of the JSON: remove it, or move it inside the object",
		    line, col);
		goto out;
	}
	if (json_object_get_type(root) != json_type_object) {
		cp_fail(&cp, NULL, "expected one JSON object, found %s: write "
		    "the configuration as {\"spool\": ..., \"tasks\": {...}}",
		    describe(desc, sizeof(desc), root));
		goto out;
	}
	/* json-c lets overlong forms through; titles end up in pages. */
	if (!utf8_valid(buf, len)) {
		for (i = 0; i < len && utf8_seq(buf + i, len - i, &cp_) > 0;
		    i += utf8_seq(buf + i, len - i, &cp_))
			continue;
		text_position(buf + skip, i - skip, &line, &col);
		cp_fail(&cp, NULL, "line %zu, column %zu: not valid UTF-8: "
		    "save the file as UTF-8", line, col);
		goto out;
	}
	/* Two equal keys in one object: json-c keeps the last, silently. */
	names = 0;
	json_names(buf + skip, len - skip, config_count_name, &names);
	if (names != config_count_members(root)) {
		cp_fail(&cp, NULL, "a key appears twice in the same object "
		    "(a task or field defined twice?): remove one, since only "
		    "the last would count");
		goto out;
	}
	if (parse_top(&cp, cfg, root) == -1)
		goto out;
	cfg->spawner = -1;	/* none until main() starts one */
	rc = 0;
out:
	json_object_put(root);
	if (rc == -1)
		config_free(cfg);
	return rc;
}

/*
 * Read all of fd, a regular file of st_size bytes, into a new buffer.
 * Returns 0, or -1 with a message.
 */
static int
read_all(struct cparse *cp, int fd, size_t size, char **out, size_t *len)
{
	char	*buf;
	size_t	 n = 0;
	ssize_t	 r;

	if ((buf = malloc(size + 1)) == NULL)
		return cp_nomem(cp);
	/* One byte more than fstat said, to see a file that grew. */
	while (n < size + 1) {
		if ((r = read(fd, buf + n, size + 1 - n)) == -1) {
			if (errno == EINTR)
				continue;
			cp_fail(cp, NULL, "read: %s", strerror(errno));
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		n += r;
	}
	if (n > size) {
		free(buf);
		return cp_fail(cp, NULL, "changed while it was read: try "
		    "again");
	}
	*out = buf;
	*len = n;
	return 0;
}

/*
 * The program prog, named by key, exists and is executable by this user.
 * Returns 0, or -1 with a message.
 */
static int
check_program(struct cparse *cp, const char *key, const char *prog)
{
	struct stat	 st;
	char		 safe[CONFIG_SHOW_MAX];

	show(safe, sizeof(safe), prog);
	if (stat(prog, &st) == -1)
		return cp_fail(cp, key, "\"%s\": %s: give the full path of "
		    "the program", safe, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cp_fail(cp, key, "\"%s\" is not a regular file: give "
		    "the full path of the program", safe);
	/* The real uid, which is the user the web server runs us as:
	 * spoolcgi is never set-uid. */
	if (access(prog, X_OK) == -1)
		return cp_fail(cp, key, "\"%s\": %s: make it executable "
		    "(chmod +x) by the user spoolcgi runs as", safe,
		    strerror(errno));
	return 0;
}

/*
 * The programs of task t exist and are executable by this user: its
 * command and notify, or with t NULL the tasks' default notify.  What
 * config_load checks on one host, and a worker of the PostgreSQL store
 * for the tasks it runs (a front there runs none).  Returns 0, or -1
 * with a message naming the file, the key and the value in err.
 */
int
config_check_programs(const struct config *cfg, const struct task *t,
    char *err, size_t errsz)
{
	struct cparse	 cp = { cfg->path, err, errsz };
	char		 key[CONFIG_KEY_MAX];

	if (t == NULL)
		return cfg->notify == NULL ? 0 :
		    check_program(&cp, "notify[0]", cfg->notify[0]);
	snprintf(key, sizeof(key), "tasks.%s.command[0]", t->name);
	if (check_program(&cp, key, t->command[0]) == -1)
		return -1;
	snprintf(key, sizeof(key), "tasks.%s.notify[0]", t->name);
	if (t->notify != NULL && check_program(&cp, key, t->notify[0]) == -1)
		return -1;
	return 0;
}

/*
 * Check what config_parse cannot: that each task's program, and each
 * notifier, exists and is executable by this user.  Returns 0, or -1
 * with a message.
 */
static int
check_commands(struct cparse *cp, const struct config *cfg)
{
	size_t		 i;

	if (config_check_programs(cfg, NULL, cp->err, cp->errsz) == -1)
		return -1;
	for (i = 0; i < cfg->ntasks; i++)
		if (config_check_programs(cfg, &cfg->tasks[i], cp->err,
		    cp->errsz) == -1)
			return -1;
	return 0;
}

/*
 * Read and parse the configuration file path into cfg, and check that
 * each task's program can be run (without "database": there the workers
 * check theirs, config_check_programs).  Returns 0 with cfg filled
 * (cfg->path is path), or -1 with cfg zeroed and a message naming the
 * file, the key and what to do in err.
 */
int
config_load(struct config *cfg, const char *path, char *err, size_t errsz)
{
	struct cparse	 cp;
	struct stat	 st;
	char		 def[PATH_MAX];
	char		*buf = NULL;
	size_t		 len = 0;
	int		 fd, rc;

	memset(cfg, 0, sizeof(*cfg));
	cp.path = path;
	cp.err = err;
	cp.errsz = errsz;

	/* O_NONBLOCK: opening a FIFO would wait for a writer before
	 * fstat could refuse it.  It does nothing to a regular file. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	    O_NOCTTY)) == -1) {
		if (errno != ENOENT)
			return cp_fail(&cp, NULL, "open: %s", strerror(errno));
		if (config_default_path(def, sizeof(def)) == NULL)
			snprintf(def, sizeof(def), "%s beside the program",
			    CONFIG_DEFAULT_NAME);
		return cp_fail(&cp, NULL, "no such file: create it "
		    "(examples/spoolcgi.json is a start), or name the "
		    "configuration with -c FILE or the %s environment "
		    "variable; without either, spoolcgi reads %s",
		    CONFIG_ENV, def);
	}
	if (fstat(fd, &st) == -1) {
		cp_fail(&cp, NULL, "fstat: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX) {
		if (S_ISDIR(st.st_mode))
			cp_fail(&cp, NULL, "a directory, not a file: name the "
			    "configuration file itself, e.g. %s/%s", path,
			    CONFIG_DEFAULT_NAME);
		else if (!S_ISREG(st.st_mode))
			cp_fail(&cp, NULL, "not a regular file: name the "
			    "configuration file itself");
		else
			cp_fail(&cp, NULL, "%lld bytes is more than the "
			    "limit of %d: is this the configuration file?",
			    (long long)st.st_size, CONFIG_FILE_MAX);
		close(fd);
		return -1;
	}
	rc = read_all(&cp, fd, (size_t)st.st_size, &buf, &len);
	close(fd);
	if (rc == -1)
		return -1;
	rc = config_parse(cfg, buf, len, path, err, errsz);
	free(buf);
	if (rc == -1)
		return -1;
	if ((cfg->path = strdup(path)) == NULL) {
		config_free(cfg);
		return cp_nomem(&cp);
	}
	/*
	 * With "database" this host's tasks run on the workers, each of
	 * which checks its own (worker.c); a front runs none.
	 */
	if (cfg->database == NULL && check_commands(&cp, cfg) == -1) {
		config_free(cfg);
		return -1;
	}
	return 0;
}

/* Free a NULL-terminated argv, and the array; NULL is fine. */
static void
argv_free(char **av)
{
	size_t	 i;

	for (i = 0; av != NULL && av[i] != NULL; i++)
		free(av[i]);
	free(av);
}

static void
field_free(struct field *f)
{
	size_t	 i;

	free(f->name);
	free(f->label);
	for (i = 0; i < f->noptions; i++)
		free(f->options[i]);
	free(f->options);
}

static void
task_free(struct task *t)
{
	size_t	 i;

	free(t->name);
	free(t->title);
	free(t->description);
	argv_free(t->command);
	argv_free(t->notify);
	for (i = 0; i < t->nfields; i++)
		field_free(&t->fields[i]);
	free(t->fields);
	for (i = 0; i < t->nfiles; i++) {
		free(t->files[i].name);
		free(t->files[i].label);
	}
	free(t->files);
	free(t->result_type);
	free(t->form_template);
	free(t->result_template);
	free(t->result_filename);
	free(t->send_result);
}

/*
 * Release everything cfg holds and zero it.  Safe on a zeroed or partly
 * filled configuration, and twice.
 */
void
config_free(struct config *cfg)
{
	size_t	 i;

	for (i = 0; i < cfg->ntasks; i++)
		task_free(&cfg->tasks[i]);
	free(cfg->tasks);
	free(cfg->path);
	free(cfg->spool);
	free(cfg->templates);
	free(cfg->document_root);
	free(cfg->proxies);
	free(cfg->metrics_allow);
	if (cfg->metrics_token != NULL)
		explicit_bzero(cfg->metrics_token, strlen(cfg->metrics_token));
	free(cfg->metrics_token);
	free(cfg->public_url);
	free(cfg->send_result);
	free(cfg->send_result_prefix);
	free(cfg->database);
	for (i = 0; i < cfg->nallowed_origins; i++)
		free(cfg->allowed_origins[i]);
	free(cfg->allowed_origins);
	argv_free(cfg->launcher);
	argv_free(cfg->notify);
	memset(cfg, 0, sizeof(*cfg));
}

/* Returns the task called name, or NULL when there is none. */
const struct task *
config_task(const struct config *cfg, const char *name)
{
	size_t	 i;

	for (i = 0; i < cfg->ntasks; i++)
		if (strcmp(cfg->tasks[i].name, name) == 0)
			return &cfg->tasks[i];
	return NULL;
}

/* Returns the field of t called name, or NULL when there is none. */
const struct field *
task_field(const struct task *t, const char *name)
{
	size_t	 i;

	for (i = 0; i < t->nfields; i++)
		if (strcmp(t->fields[i].name, name) == 0)
			return &t->fields[i];
	return NULL;
}

/* Returns the name of a field type as the configuration spells it. */
const char *
field_type_name(enum field_type type)
{
	if ((size_t)type < sizeof(field_types) / sizeof(*field_types))
		return field_types[type];
	return "unknown";
}

/*
 * Write the default location of the configuration into buf: the file
 * CONFIG_DEFAULT_NAME in the directory of the running binary.  On a
 * shared host the user can often only drop files into the web folder and
 * edit .htaccess; Apache's stock configuration denies every file whose
 * name starts with ".ht" ("<Files ".ht*"> Require all denied"), so the
 * file can sit beside the binary yet cannot be downloaded.  Linux only
 * (/proc/self/exe).  Returns buf, or NULL with errno set (a name that
 * does not fit is a failure, never a cut path).
 */
const char *
config_default_path(char *buf, size_t sz)
{
	char	 exe[PATH_MAX];
	char	*slash;
	ssize_t	 n;
	int	 len;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe))) == -1)
		return NULL;
	if ((size_t)n >= sizeof(exe)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL) {
		errno = ENOENT;
		return NULL;
	}
	*slash = '\0';
	len = snprintf(buf, sz, "%s/%s", exe, CONFIG_DEFAULT_NAME);
	if (len < 0 || (size_t)len >= sz) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return buf;
}

/* One cell of the help table: s with "|" escaped, as Markdown needs. */
static int
render_cell(struct buf *b, const char *s)
{
	if (buf_puts(b, " ") == -1)
		return -1;
	for (; *s != '\0'; s++)
		if ((*s == '|' && buf_puts(b, "\\") == -1) ||
		    buf_append(b, s, 1) == -1)
			return -1;
	return buf_puts(b, " |");
}

/* An integer for the help: 2^53, the bytes limit, as a reader knows it. */
static const char *
render_int(char *dst, size_t dstsz, long long v)
{
	if (v == CONFIG_BYTES_MAX)
		snprintf(dst, dstsz, "2^53");
	else
		snprintf(dst, dstsz, "%lld", v);
	return dst;
}

/* The help table's row for key k of table tb.  Returns 0, or -1. */
static int
render_row(struct buf *b, const struct ctable *tb, const struct ckey *k)
{
	static const char *const kinds[] = {
		[CK_INT] = "integer",
		[CK_BOOL] = "boolean",
		[CK_STRING] = "string",
		[CK_PATH] = "absolute path",
		[CK_CUSTOM] = ""
	};
	char		 key[CONFIG_KEY_MAX], def[160], bounds[80];
	char		 lo[32], hi[32];
	const char	*type;

	snprintf(key, sizeof(key), "`%s%s`", tb->doc_prefix, k->name);
	type = k->kind == CK_CUSTOM ? k->type_doc : kinds[k->kind];

	if (k->missing != NULL)
		snprintf(def, sizeof(def), "required");
	else if (k->kind == CK_INT && k->def_key != NULL)
		snprintf(def, sizeof(def), "`%s`", k->def_key);
	else if (k->kind == CK_INT)
		snprintf(def, sizeof(def), "%s%s%s%s",
		    render_int(lo, sizeof(lo), k->def),
		    k->def_doc != NULL ? " (" : "",
		    k->def_doc != NULL ? k->def_doc : "",
		    k->def_doc != NULL ? ")" : "");
	else if (k->kind == CK_BOOL)
		snprintf(def, sizeof(def), "%s", k->def ? "true" : "false");
	else if (k->def_name)
		snprintf(def, sizeof(def), "the name");
	else if (k->def_str != NULL)
		snprintf(def, sizeof(def), "`%s`", k->def_str);
	else
		snprintf(def, sizeof(def), "%s",
		    k->def_doc != NULL ? k->def_doc : "none");

	if (k->kind == CK_INT)
		snprintf(bounds, sizeof(bounds), "%s to %s",
		    render_int(lo, sizeof(lo), k->min),
		    render_int(hi, sizeof(hi), k->max));
	else
		snprintf(bounds, sizeof(bounds), "%s",
		    k->bounds_doc != NULL ? k->bounds_doc : "");

	if (buf_puts(b, "|") == -1 || render_cell(b, key) == -1 ||
	    render_cell(b, type) == -1 || render_cell(b, def) == -1 ||
	    render_cell(b, bounds) == -1 || render_cell(b, k->help) == -1 ||
	    buf_puts(b, "\n") == -1)
		return -1;
	return 0;
}

/*
 * Append to b every key of the configuration, as the Markdown table the
 * README carries: key, type, default, bounds and what it does, one row per
 * key, tasks' keys after the top level's.  Returns 0, or -1 with errno
 * set.
 */
int
config_render_keys(struct buf *b)
{
	static const struct ctable *const tables[] = {
		&top_table, &task_table, &field_table, &file_table
	};
	size_t	 i, j;

	if (buf_puts(b, "| key | type | default | bounds | what it does |\n"
	    "| --- | --- | --- | --- | --- |\n") == -1)
		return -1;
	for (i = 0; i < NITEMS(tables); i++)
		for (j = 0; j < tables[i]->nkeys; j++)
			if (render_row(b, tables[i], &tables[i]->keys[j]) == -1)
				return -1;
	return 0;
}
