/*
 * The configuration: one JSON file, read once at start-up (spec
 * tasks-and-config.md, "Configuration").  config_parse() is a pure
 * function of the buffer, so a fuzz driver can call it (STYLE 16);
 * config_load() reads the file and adds the checks that need the file
 * system.
 *
 * Parsing is strict: an unknown key at any level, a value of the wrong
 * type, or one out of range is an error, so a typo stops the program at
 * start instead of passing silently.  Every message names the file, the
 * key as a dotted path ("tasks.wordcount.fields.text.max_bytes") and what
 * to do about it.
 *
 * Keys and defaults (the README copies this table):
 *
 * | key | value | default |
 * | --- | --- | --- |
 * | `spool` | absolute path; not inside the document root | required |
 * | `templates` | absolute path of a directory of templates | none: the templates built into the binary |
 * | `document_root` | absolute path: the web server's document root | none |
 * | `max_running` | integer 1 to 2147483647: jobs running at once, all tasks | 4 |
 * | `max_queued` | integer 0 to 2147483647: jobs waiting for a slot | 1000 |
 * | `max_body_bytes` | integer 1 to 2^53: largest request body | 10485760 (10 MiB) |
 * | `keep_finished_seconds` | integer 0 to 2147483647: how long a finished job is kept | 86400 (one day) |
 * | `tombstone_seconds` | integer 0 to 2147483647: how long an expired id answers 410 before 404 | 604800 (a week) |
 * | `gc_interval_seconds` | integer 1 to 86400: at most one clean-up of the spool per interval | 300 |
 * | `kill_grace_seconds` | integer 0 to 3600: from SIGTERM to SIGKILL on a timeout or cancel | 5 |
 * | `max_wait_seconds` | integer 0 to 25: the cap on `Prefer: wait=N` | 10 |
 * | `drain` | boolean: refuse new jobs, finish the others | false |
 * | `allow_root` | boolean: run even as root (tasks would run as root) | false |
 * | `max_jobs_per_client` | integer 0 to 2147483647: queued and running jobs of one client; more get 429 | 0: no limit |
 * | `client_starts_per_minute` | integer 0 to 2147483647: starts per client per minute; more get 429 | 0: no limit |
 * | `trusted_proxies` | array of IP addresses or CIDR ranges whose CF-Connecting-IP header names the client | none: the client is REMOTE_ADDR |
 * | `min_free_bytes` | integer 0 to 2^53: below this much free disk, starts get 503 | 16777216 (16 MiB) |
 * | `max_spool_bytes` | integer 0 to 2^53: the spool's size limit; starts get 503 and running jobs stop over it | 0: no limit |
 * | `launcher` | argv put before each supervisor, e.g. `["/usr/bin/systemd-run", "--user", "--scope", "--"]` | none: the supervisor is forked directly |
 * | `tasks` | object, at least one task: name to task | required |
 * | `tasks.NAME.title` | string | NAME |
 * | `tasks.NAME.description` | string | none |
 * | `tasks.NAME.command` | array of non-empty strings; the first an absolute path of an executable; run without a shell | required |
 * | `tasks.NAME.fields` | object: field name to field, in the order of the form | no fields |
 * | `tasks.NAME.files` | object: upload name to upload | no uploads |
 * | `tasks.NAME.timeout_seconds` | integer 0 to 2147483647 | 0: no timeout |
 * | `tasks.NAME.max_running` | integer 0 to 2147483647 | 0: only the global `max_running` |
 * | `tasks.NAME.retries` | integer 0 to 10 | 0 |
 * | `tasks.NAME.result_type` | media type, e.g. `text/plain; charset=utf-8` | `application/octet-stream` |
 * | `tasks.NAME.form_template`, `.result_template` | file names in `templates`: the task's own form and result page | the built-in ones |
 * | `tasks.NAME.max_result_bytes` | integer 1 to 2^53 | 104857600 (100 MiB) |
 * | `tasks.NAME.fields.F.label` | string | F |
 * | `tasks.NAME.fields.F.type` | `text`, `textarea`, `number` or `select` | `text` |
 * | `tasks.NAME.fields.F.required` | boolean | false |
 * | `tasks.NAME.fields.F.max_bytes` | integer 1 to 2^53 | 65536 |
 * | `tasks.NAME.fields.F.options` | array of distinct strings; only, and required, for `select` | none |
 * | `tasks.NAME.fields.F.min`, `.max` | number; only for `number` | no bound |
 * | `tasks.NAME.files.U.label` | string | U |
 * | `tasks.NAME.files.U.required` | boolean | false |
 * | `tasks.NAME.files.U.max_bytes` | integer 1 to 2^53 | `max_body_bytes` |
 *
 * A task NAME is 1 to 64 letters, digits, "_" or "-", starting with a
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
#define CONFIG_RETRIES_MAX	10
#define CONFIG_TYPE_MAX		255	/* bytes of a result_type */
#define CONFIG_KEY_MAX		256	/* a dotted key in a message */
#define CONFIG_SHOW_MAX		72	/* a value quoted in a message */

#define CONFIG_DEF_MAX_RUNNING		4
#define CONFIG_DEF_MAX_QUEUED		1000
#define CONFIG_DEF_MAX_BODY		10485760LL
#define CONFIG_DEF_KEEP_FINISHED	86400
#define CONFIG_DEF_TOMBSTONE	604800
#define CONFIG_DEF_GC_INTERVAL	300
#define CONFIG_DEF_KILL_GRACE	5
#define CONFIG_DEF_MAX_WAIT	10
#define CONFIG_MAX_WAIT_CAP	25	/* under Cloudflare's 100 s, by far */
#define CONFIG_DEF_RESULT_TYPE		"application/octet-stream"
#define CONFIG_DEF_MAX_RESULT		104857600LL

/* Where a parse is, to name the file in every message. */
struct cparse {
	const char	*path;
	char		*err;
	size_t		 errsz;
};

static const char *const top_keys[] = {
	"spool", "templates", "document_root", "max_running", "max_queued",
	"max_body_bytes", "keep_finished_seconds", "tombstone_seconds",
	"gc_interval_seconds", "kill_grace_seconds", "max_wait_seconds",
	"drain", "allow_root", "launcher", "max_jobs_per_client",
	"client_starts_per_minute", "trusted_proxies", "min_free_bytes",
	"max_spool_bytes", "tasks", NULL
};
static const char *const task_keys[] = {
	"title", "description", "command", "fields", "files",
	"timeout_seconds", "max_running", "retries", "result_type",
	"max_result_bytes", "form_template", "result_template", NULL
};
static const char *const field_keys[] = {
	"label", "type", "required", "max_bytes", "options", "min", "max",
	NULL
};
static const char *const file_keys[] = {
	"label", "required", "max_bytes", NULL
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

/*
 * Check that every key of object o is one of keys.  prefix is o's own
 * dotted key ("" at the top), what names o in the message.  Returns 0,
 * or -1 with a message listing the keys allowed.
 */
static int
check_keys(struct cparse *cp, const char *prefix, struct json_object *o,
    const char *const *keys, const char *what)
{
	char	 key[CONFIG_KEY_MAX], list[256];
	size_t	 i, n;

	json_object_object_foreach(o, k, v) {
		(void)v;
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (keys[i] != NULL)
			continue;
		for (i = n = 0; keys[i] != NULL && n < sizeof(list); i++)
			n += snprintf(list + n, sizeof(list) - n, "%s%s",
			    i > 0 ? ", " : "", keys[i]);
		return cp_fail(cp, key_join(key, sizeof(key), prefix, k),
		    "unknown key: %s takes only %s (check the spelling)",
		    what, list);
	}
	return 0;
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
 * The integer at key k of parent, or def when the key is absent.
 * prefix is the parent's dotted key.  Returns 0, or -1 with a message.
 */
static int
opt_int(struct cparse *cp, struct json_object *parent, const char *prefix,
    const char *k, long long min, long long max, long long def,
    long long *out)
{
	struct json_object	*o;
	char			 key[CONFIG_KEY_MAX];

	*out = def;
	if (!json_object_object_get_ex(parent, k, &o))
		return 0;
	return get_int(cp, key_join(key, sizeof(key), prefix, k), o, min,
	    max, out);
}

/* The boolean at key k of parent, or 0 when absent.  Returns 0, or -1. */
static int
opt_bool(struct cparse *cp, struct json_object *parent, const char *prefix,
    const char *k, int *out)
{
	struct json_object	*o;
	char			 key[CONFIG_KEY_MAX];

	*out = 0;
	if (!json_object_object_get_ex(parent, k, &o))
		return 0;
	if (want_type(cp, key_join(key, sizeof(key), prefix, k), o,
	    json_type_boolean, "give true or false, without quotes") == -1)
		return -1;
	*out = json_object_get_boolean(o);
	return 0;
}

/*
 * The string at key k of parent, or a copy of def (which may be NULL)
 * when absent.  Returns 0, or -1 with a message.
 */
static int
opt_string(struct cparse *cp, struct json_object *parent,
    const char *prefix, const char *k, const char *def, const char *hint,
    char **out)
{
	struct json_object	*o;
	char			 key[CONFIG_KEY_MAX];

	if (json_object_object_get_ex(parent, k, &o))
		return get_string(cp, key_join(key, sizeof(key), prefix, k),
		    o, hint, out);
	if (def != NULL && (*out = strdup(def)) == NULL)
		return cp_nomem(cp);
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

static int
is_tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static size_t
token_len(const char *s)
{
	size_t	 n;

	for (n = 0; is_tchar(s[n]); n++)
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
static int
parse_options(struct cparse *cp, struct field *f, const char *key,
    struct json_object *o)
{
	char	 ikey[CONFIG_KEY_MAX], safe[CONFIG_SHOW_MAX];
	size_t	 i, j, n;

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

/* A bound of a number field.  Returns 0, or -1 with a message. */
static int
parse_bound(struct cparse *cp, const char *key, struct json_object *o,
    double *out)
{
	char	 desc[CONFIG_SHOW_MAX + 32];

	if (json_object_get_type(o) != json_type_int &&
	    json_object_get_type(o) != json_type_double)
		return cp_fail(cp, key, "expected a number, found %s: give a "
		    "number, without quotes", describe(desc, sizeof(desc), o));
	*out = json_object_get_double(o);
	/* json-c reads NaN and Infinity, which JSON does not have. */
	if (!isfinite(*out))
		return cp_fail(cp, key, "not a finite number: give a number");
	return 0;
}

/*
 * Field name from object o; prefix is "tasks.T.fields".  Returns 0, or -1
 * with a message.
 */
static int
parse_field(struct cparse *cp, struct field *f, const char *prefix,
    const char *name, struct json_object *o)
{
	struct json_object	*v;
	char			 key[CONFIG_KEY_MAX], sub[CONFIG_KEY_MAX];
	char			 safe[CONFIG_SHOW_MAX];
	long long		 n;
	size_t			 i;

	key_join(key, sizeof(key), prefix, name);
	if (field_name_check(cp, key, name) == -1)
		return -1;
	if (want_type(cp, key, o, json_type_object, "give an object, e.g. "
	    "{\"label\": \"Text\", \"type\": \"textarea\"}") == -1)
		return -1;
	if (check_keys(cp, key, o, field_keys, "a field") == -1)
		return -1;
	if ((f->name = strdup(name)) == NULL)
		return cp_nomem(cp);

	f->type = FIELD_TEXT;
	if (json_object_object_get_ex(o, "type", &v)) {
		key_join(sub, sizeof(sub), key, "type");
		if (want_type(cp, sub, v, json_type_string, "give one of "
		    "text, textarea, number, select") == -1)
			return -1;
		for (i = 0; i < sizeof(field_types) / sizeof(*field_types);
		    i++)
			if (strcmp(json_object_get_string(v),
			    field_types[i]) == 0)
				break;
		if (i == sizeof(field_types) / sizeof(*field_types))
			return cp_fail(cp, sub, "unknown type \"%s\": give "
			    "one of text, textarea, number, select",
			    show(safe, sizeof(safe),
			    json_object_get_string(v)));
		f->type = (enum field_type)i;
	}
	if (opt_string(cp, o, key, "label", name, "give the label shown "
	    "on the form as a string", &f->label) == -1)
		return -1;
	if (opt_bool(cp, o, key, "required", &f->required) == -1)
		return -1;
	if (opt_int(cp, o, key, "max_bytes", 1, CONFIG_BYTES_MAX,
	    CONFIG_FIELD_MAX_BYTES, &n) == -1)
		return -1;
	f->max_bytes = (size_t)n;

	key_join(sub, sizeof(sub), key, "options");
	if (json_object_object_get_ex(o, "options", &v)) {
		if (f->type != FIELD_SELECT)
			return cp_fail(cp, sub, "only a select field has "
			    "options: remove the key, or set \"type\": "
			    "\"select\"");
		if (parse_options(cp, f, sub, v) == -1)
			return -1;
	} else if (f->type == FIELD_SELECT)
		return cp_fail(cp, sub, "missing: a select field needs its "
		    "choices, e.g. \"options\": [\"en\", \"de\"]");

	if (json_object_object_get_ex(o, "min", &v)) {
		key_join(sub, sizeof(sub), key, "min");
		if (f->type != FIELD_NUMBER)
			return cp_fail(cp, sub, "only a number field has a "
			    "minimum: remove the key, or set \"type\": "
			    "\"number\"");
		if (parse_bound(cp, sub, v, &f->min) == -1)
			return -1;
		f->has_min = 1;
	}
	if (json_object_object_get_ex(o, "max", &v)) {
		key_join(sub, sizeof(sub), key, "max");
		if (f->type != FIELD_NUMBER)
			return cp_fail(cp, sub, "only a number field has a "
			    "maximum: remove the key, or set \"type\": "
			    "\"number\"");
		if (parse_bound(cp, sub, v, &f->max) == -1)
			return -1;
		f->has_max = 1;
	}
	if (f->has_min && f->has_max && f->min > f->max)
		return cp_fail(cp, key_join(sub, sizeof(sub), key, "min"),
		    "%g is greater than max (%g): swap them", f->min, f->max);
	return 0;
}

/*
 * Upload name of task t from object o; prefix is "tasks.T.files".
 * Returns 0, or -1 with a message.
 */
static int
parse_file(struct cparse *cp, const struct config *cfg,
    const struct task *t, struct filespec *fs, const char *prefix,
    const char *name, struct json_object *o)
{
	char		 key[CONFIG_KEY_MAX];
	long long	 n;
	size_t		 i;

	key_join(key, sizeof(key), prefix, name);
	if (field_name_check(cp, key, name) == -1)
		return -1;
	for (i = 0; i < t->nfields; i++)
		if (strcmp(t->fields[i].name, name) == 0)
			return cp_fail(cp, key, "the task has a field of the "
			    "same name: rename one of them");
	if (want_type(cp, key, o, json_type_object, "give an object, e.g. "
	    "{\"label\": \"Document\", \"max_bytes\": 5000000}") == -1)
		return -1;
	if (check_keys(cp, key, o, file_keys, "an upload") == -1)
		return -1;
	if ((fs->name = strdup(name)) == NULL)
		return cp_nomem(cp);
	if (opt_string(cp, o, key, "label", name, "give the label shown "
	    "on the form as a string", &fs->label) == -1)
		return -1;
	if (opt_bool(cp, o, key, "required", &fs->required) == -1)
		return -1;
	if (opt_int(cp, o, key, "max_bytes", 1, CONFIG_BYTES_MAX,
	    (long long)cfg->max_body_bytes, &n) == -1)
		return -1;
	fs->max_bytes = (size_t)n;
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
 * "trusted_proxies": addresses or CIDR ranges, IPv4 or IPv6, e.g.
 * Cloudflare's published ranges.  Returns 0, or -1 with a message.
 */
static int
parse_proxies(struct cparse *cp, struct json_object *o, struct config *cfg)
{
	char	 ikey[CONFIG_KEY_MAX], safe[CONFIG_SHOW_MAX], addr[64];
	const char *s, *slash;
	struct proxy *p;
	size_t	 i, n;
	long	 bits;
	char	*end;

	if (want_type(cp, "trusted_proxies", o, json_type_array, "give an "
	    "array of addresses or ranges, e.g. [\"173.245.48.0/20\"]") == -1)
		return -1;
	n = json_object_array_length(o);
	if ((cfg->proxies = calloc(n + 1, sizeof(*cfg->proxies))) == NULL)
		return cp_nomem(cp);
	for (i = 0; i < n; i++) {
		key_index(ikey, sizeof(ikey), "trusted_proxies", i);
		if (want_type(cp, ikey, json_object_array_get_idx(o, i),
		    json_type_string, "give an address or a range as a "
		    "string") == -1)
			return -1;
		s = json_object_get_string(json_object_array_get_idx(o, i));
		p = &cfg->proxies[cfg->nproxies];
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
		cfg->nproxies++;
		continue;
bad:
		return cp_fail(cp, ikey, "\"%s\" is not an address or a "
		    "range: give e.g. \"203.0.113.7\", \"173.245.48.0/20\" or "
		    "\"2400:cb00::/32\"", show(safe, sizeof(safe), s));
	}
	return 0;
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

/* The command of a task; key is "tasks.T.command".  Returns 0, or -1. */
static int
parse_command(struct cparse *cp, struct task *t, const char *key,
    struct json_object *o)
{
	return parse_argv(cp, key, o, t->name, &t->command);
}

/* Task name from object o.  Returns 0, or -1 with a message. */
static int
parse_task(struct cparse *cp, const struct config *cfg, struct task *t,
    const char *name, struct json_object *o)
{
	struct json_object	*v;
	char			 key[CONFIG_KEY_MAX], sub[CONFIG_KEY_MAX];
	char			 safe[CONFIG_SHOW_MAX];
	long long		 n;
	size_t			 i;

	key_join(key, sizeof(key), "tasks", name);
	if (!name_valid(name, 1))
		return cp_fail(cp, key, "bad task name: a task name is 1 to "
		    "%d letters, digits, _ or -, starting with a letter: "
		    "rename it", SPOOLCGI_NAME_MAX);
	if (want_type(cp, key, o, json_type_object, "give an object, e.g. "
	    "{\"command\": [\"/usr/local/bin/wordcount\"]}") == -1)
		return -1;
	if (check_keys(cp, key, o, task_keys, "a task") == -1)
		return -1;
	if ((t->name = strdup(name)) == NULL)
		return cp_nomem(cp);

	if (opt_string(cp, o, key, "title", name, "give the title shown "
	    "on the form as a string", &t->title) == -1)
		return -1;
	if (opt_string(cp, o, key, "description", NULL, "give the text "
	    "shown on the form as a string", &t->description) == -1)
		return -1;
	if (!json_object_object_get_ex(o, "command", &v))
		v = NULL;
	if (parse_command(cp, t, key_join(sub, sizeof(sub), key, "command"),
	    v) == -1)
		return -1;
	if (opt_int(cp, o, key, "timeout_seconds", 0, CONFIG_SECONDS_MAX, 0,
	    &n) == -1)
		return -1;
	t->timeout_seconds = (long)n;
	if (opt_int(cp, o, key, "max_running", 0, INT_MAX, 0, &n) == -1)
		return -1;
	t->max_running = (int)n;
	if (opt_int(cp, o, key, "retries", 0, CONFIG_RETRIES_MAX, 0,
	    &n) == -1)
		return -1;
	t->retries = (int)n;
	if (opt_int(cp, o, key, "max_result_bytes", 1, CONFIG_BYTES_MAX,
	    CONFIG_DEF_MAX_RESULT, &n) == -1)
		return -1;
	t->max_result_bytes = (size_t)n;
	if (opt_string(cp, o, key, "result_type", CONFIG_DEF_RESULT_TYPE,
	    "give a media type, e.g. \"text/plain; charset=utf-8\"",
	    &t->result_type) == -1)
		return -1;
	if (!media_type_valid(t->result_type))
		return cp_fail(cp, key_join(sub, sizeof(sub), key,
		    "result_type"), "\"%s\" is not a media type: give one "
		    "such as \"text/plain; charset=utf-8\" or "
		    "\"application/json\" (printable ASCII, at most %d bytes)",
		    show(safe, sizeof(safe), t->result_type), CONFIG_TYPE_MAX);

	if (opt_string(cp, o, key, "form_template", NULL, "give the name of "
	    "a file in the templates directory, e.g. \"ocr-form.html\"",
	    &t->form_template) == -1 ||
	    opt_string(cp, o, key, "result_template", NULL, "give the name "
	    "of a file in the templates directory, e.g. \"ocr-result.html\"",
	    &t->result_template) == -1)
		return -1;
	if ((t->form_template != NULL &&
	    !template_name_valid(t->form_template)) ||
	    (t->result_template != NULL &&
	    !template_name_valid(t->result_template)))
		return cp_fail(cp, key_join(sub, sizeof(sub), key,
		    t->form_template != NULL &&
		    !template_name_valid(t->form_template) ? "form_template" :
		    "result_template"), "give a file name in the templates "
		    "directory: letters, digits, '.', '_' and '-', not "
		    "starting with '.', ending in \".html\"");
	if ((t->form_template != NULL || t->result_template != NULL) &&
	    cfg->templates == NULL)
		return cp_fail(cp, key_join(sub, sizeof(sub), key,
		    t->form_template != NULL ? "form_template" :
		    "result_template"), "a task's own template lives in the "
		    "\"templates\" directory: set that key too");

	if (json_object_object_get_ex(o, "fields", &v)) {
		key_join(sub, sizeof(sub), key, "fields");
		if (want_type(cp, sub, v, json_type_object, "give an object "
		    "of fields, e.g. {\"text\": {\"type\": \"textarea\"}}") ==
		    -1)
			return -1;
		if ((t->nfields = json_object_object_length(v)) > 0 &&
		    (t->fields = calloc(t->nfields, sizeof(*t->fields))) ==
		    NULL) {
			t->nfields = 0;
			return cp_nomem(cp);
		}
		i = 0;
		/* json-c keeps the keys in the order of the file. */
		json_object_object_foreach(v, fk, fv)
			if (parse_field(cp, &t->fields[i++], sub, fk, fv) == -1)
				return -1;
	}
	if (json_object_object_get_ex(o, "files", &v)) {
		key_join(sub, sizeof(sub), key, "files");
		if (want_type(cp, sub, v, json_type_object, "give an object "
		    "of uploads, e.g. {\"upload\": {\"max_bytes\": 5000000}}")
		    == -1)
			return -1;
		if ((t->nfiles = json_object_object_length(v)) > 0 &&
		    (t->files = calloc(t->nfiles, sizeof(*t->files))) ==
		    NULL) {
			t->nfiles = 0;
			return cp_nomem(cp);
		}
		i = 0;
		json_object_object_foreach(v, uk, uv)
			if (parse_file(cp, cfg, t, &t->files[i++], sub, uk,
			    uv) == -1)
				return -1;
	}
	return 0;
}

/* The top-level object.  Returns 0, or -1 with a message. */
static int
parse_top(struct cparse *cp, struct config *cfg, struct json_object *root)
{
	struct json_object	*v;
	long long		 n;
	size_t			 i;

	if (check_keys(cp, "", root, top_keys, "the top level") == -1)
		return -1;

	if (!json_object_object_get_ex(root, "spool", &v))
		return cp_fail(cp, "spool", "missing: give the absolute path "
		    "of a directory for the jobs, outside the web server's "
		    "document root, e.g. \"/home/alice/spool\"");
	if (get_path(cp, "spool", v, "give the absolute path of a "
	    "directory for the jobs, e.g. \"/home/alice/spool\"",
	    &cfg->spool) == -1)
		return -1;
	if (json_object_object_get_ex(root, "templates", &v) &&
	    get_path(cp, "templates", v, "give the absolute path of a "
	    "directory of templates, or leave the key out to use the "
	    "built-in ones", &cfg->templates) == -1)
		return -1;
	if (json_object_object_get_ex(root, "document_root", &v) &&
	    get_path(cp, "document_root", v, "give the absolute path the "
	    "web server serves files from", &cfg->document_root) == -1)
		return -1;

	if (opt_int(cp, root, "", "max_running", 1, INT_MAX,
	    CONFIG_DEF_MAX_RUNNING, &n) == -1)
		return -1;
	cfg->max_running = (int)n;
	if (opt_int(cp, root, "", "max_queued", 0, INT_MAX,
	    CONFIG_DEF_MAX_QUEUED, &n) == -1)
		return -1;
	cfg->max_queued = (int)n;
	if (opt_int(cp, root, "", "max_body_bytes", 1, CONFIG_BYTES_MAX,
	    CONFIG_DEF_MAX_BODY, &n) == -1)
		return -1;
	cfg->max_body_bytes = (size_t)n;
	if (opt_int(cp, root, "", "keep_finished_seconds", 0,
	    CONFIG_SECONDS_MAX, CONFIG_DEF_KEEP_FINISHED, &n) == -1)
		return -1;
	cfg->keep_finished_seconds = (long)n;
	if (opt_int(cp, root, "", "tombstone_seconds", 0,
	    CONFIG_SECONDS_MAX, CONFIG_DEF_TOMBSTONE, &n) == -1)
		return -1;
	cfg->tombstone_seconds = (long)n;
	if (opt_int(cp, root, "", "gc_interval_seconds", 1, 86400,
	    CONFIG_DEF_GC_INTERVAL, &n) == -1)
		return -1;
	cfg->gc_interval_seconds = (long)n;
	if (opt_int(cp, root, "", "kill_grace_seconds", 0, 3600,
	    CONFIG_DEF_KILL_GRACE, &n) == -1)
		return -1;
	cfg->kill_grace_seconds = (int)n;
	if (opt_int(cp, root, "", "max_wait_seconds", 0, CONFIG_MAX_WAIT_CAP,
	    CONFIG_DEF_MAX_WAIT, &n) == -1)
		return -1;
	cfg->max_wait_seconds = (int)n;
	if (opt_bool(cp, root, "", "drain", &cfg->drain) == -1)
		return -1;
	if (opt_bool(cp, root, "", "allow_root", &cfg->allow_root) == -1)
		return -1;
	if (opt_int(cp, root, "", "max_jobs_per_client", 0, INT_MAX, 0,
	    &n) == -1)
		return -1;
	cfg->max_jobs_per_client = (int)n;
	if (opt_int(cp, root, "", "client_starts_per_minute", 0, INT_MAX, 0,
	    &n) == -1)
		return -1;
	cfg->client_starts_per_minute = (int)n;
	if (opt_int(cp, root, "", "min_free_bytes", 0, CONFIG_BYTES_MAX,
	    16777216, &n) == -1)
		return -1;
	cfg->min_free_bytes = (long long)n;
	if (opt_int(cp, root, "", "max_spool_bytes", 0, CONFIG_BYTES_MAX, 0,
	    &n) == -1)
		return -1;
	cfg->max_spool_bytes = (long long)n;
	if (json_object_object_get_ex(root, "trusted_proxies", &v) &&
	    parse_proxies(cp, v, cfg) == -1)
		return -1;
	if (json_object_object_get_ex(root, "launcher", &v) &&
	    parse_argv(cp, "launcher", v, "systemd-run", &cfg->launcher) == -1)
		return -1;

	if (!json_object_object_get_ex(root, "tasks", &v))
		return cp_fail(cp, "tasks", "missing: define at least one "
		    "task, e.g. \"tasks\": {\"wordcount\": {\"command\": "
		    "[\"/usr/local/bin/wordcount\"]}}");
	if (want_type(cp, "tasks", v, json_type_object, "give an object "
	    "of tasks, e.g. {\"wordcount\": {\"command\": "
	    "[\"/usr/local/bin/wordcount\"]}}") == -1)
		return -1;
	if ((n = json_object_object_length(v)) == 0)
		return cp_fail(cp, "tasks", "empty: define at least one task, "
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
 * Check what config_parse cannot: that each task's program exists and is
 * executable by this user.  Returns 0, or -1 with a message.
 */
static int
check_commands(struct cparse *cp, const struct config *cfg)
{
	struct stat	 st;
	char		 key[CONFIG_KEY_MAX], safe[CONFIG_SHOW_MAX];
	const char	*prog;
	size_t		 i;

	for (i = 0; i < cfg->ntasks; i++) {
		prog = cfg->tasks[i].command[0];
		snprintf(key, sizeof(key), "tasks.%s.command[0]",
		    cfg->tasks[i].name);
		show(safe, sizeof(safe), prog);
		if (stat(prog, &st) == -1)
			return cp_fail(cp, key, "\"%s\": %s: give the full "
			    "path of the program", safe, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return cp_fail(cp, key, "\"%s\" is not a regular "
			    "file: give the full path of the program", safe);
		/* The real uid, which is the user the web server runs
		 * us as: spoolcgi is never set-uid. */
		if (access(prog, X_OK) == -1)
			return cp_fail(cp, key, "\"%s\": %s: make it "
			    "executable (chmod +x) by the user spoolcgi runs "
			    "as", safe, strerror(errno));
	}
	return 0;
}

/*
 * Read and parse the configuration file path into cfg, and check that
 * each task's program can be run.  Returns 0 with cfg filled (cfg->path
 * is path), or -1 with cfg zeroed and a message naming the file, the key
 * and what to do in err.
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
	if (check_commands(&cp, cfg) == -1) {
		config_free(cfg);
		return -1;
	}
	return 0;
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
	if (t->command != NULL)
		for (i = 0; t->command[i] != NULL; i++)
			free(t->command[i]);
	free(t->command);
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
	if (cfg->launcher != NULL)
		for (i = 0; cfg->launcher[i] != NULL; i++)
			free(cfg->launcher[i]);
	free(cfg->launcher);
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
