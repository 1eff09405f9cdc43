/*
 * form.c: urlencoded and JSON bodies, and their validation against a
 * configuration built here by hand.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "tap.h"

static struct refusal	 rf;

/* Parse s (C string) as urlencoded; returns the parser's value. */
static int
u(struct form *f, const char *s)
{
	memset(&rf, 0, sizeof(rf));
	return form_parse_urlencoded(f, s, strlen(s), &rf);
}

static int
j(struct form *f, const char *s)
{
	memset(&rf, 0, sizeof(rf));
	return form_parse_json(f, s, strlen(s), &rf);
}

/* A refusal was made, as (status, code, field), and f was left empty. */
static void
refused(int rc, const struct form *f, int status, const char *code,
    const char *field, const char *what)
{
	is_int(rc, -1, "%s: refused", what);
	is_int(rf.status, status, "%s: status", what);
	is_str(rf.code, code, "%s: code", what);
	is_str(rf.field, field, "%s: field", what);
	ok(rf.message[0] != '\0', "%s: a message (%s)", what, rf.message);
	ok(f->n == 0 && f->kv == NULL, "%s: nothing kept", what);
}

/* Urlencoded s refuses a field value as (400, invalid_field, field). */
static void
u_bad_value(const char *s, const char *field, const char *what)
{
	struct form	 f;

	refused(u(&f, s), &f, 400, "invalid_field", field, what);
}

static void
test_urlencoded(void)
{
	struct form	 f;
	char		 big[8192];
	size_t		 i, n;

	is_int(u(&f, "task=wordcount&text=hello+world%21"), 0, "plain form");
	is_int(f.n, 2, "two fields");
	is_str(f.kv[0].name, "task", "first name");
	is_str(f.kv[0].value, "wordcount", "first value");
	is_str(form_get(&f, "text"), "hello world!", "'+' and %%xx decoded");
	is_int(f.kv[1].len, 12, "len is the decoded length");
	is_str(form_get(&f, "lang"), NULL, "absent field is NULL");
	form_free(&f);
	is_int(f.n, 0, "form_free empties");
	form_free(&f);
	ok(1, "form_free twice is safe");

	is_int(u(&f, "a%20b%3D=c%26d%2bx"), 0, "encoded name and value");
	is_str(form_get(&f, "a b="), "c&d+x", "decoded both");
	form_free(&f);

	is_int(u(&f, "a=&b"), 0, "empty value, missing '='");
	is_str(form_get(&f, "a"), "", "a= is empty");
	is_str(form_get(&f, "b"), "", "b without '=' is empty");
	is_int(f.kv[1].len, 0, "b: len 0");
	form_free(&f);

	is_int(u(&f, "a=b=c"), 0, "'=' in a value");
	is_str(form_get(&f, "a"), "b=c", "split on the first '='");
	form_free(&f);

	is_int(u(&f, "&a=1&&b=2&"), 0, "empty pairs skipped");
	is_int(f.n, 2, "two fields around empty pairs");
	form_free(&f);

	is_int(u(&f, ""), 0, "empty body");
	is_int(f.n, 0, "empty body: no field");
	form_free(&f);
	is_int(form_parse_urlencoded(&f, NULL, 0, &rf), 0, "NULL body");

	is_int(u(&f, "a=%zz%4"), 0, "bad escapes kept as they are");
	is_str(form_get(&f, "a"), "%zz%4", "bad escapes literal");
	form_free(&f);

	is_int(u(&f, "a=%C3%A9%F0%9F%98%80%E2%82%AC"), 0, "valid UTF-8");
	is_int(f.kv[0].len, 9, "UTF-8: 2+4+3 bytes");
	form_free(&f);

	memset(&rf, 0, sizeof(rf));
	is_int(form_parse_urlencoded(&f, "a=1&b=2", 3, &rf), 0,
	    "explicit length");
	is_int(f.n, 1, "explicit length: one field");
	form_free(&f);

	/* Refusals. */
	refused(u(&f, "=x"), &f, 400, "invalid_body", "", "empty name");
	refused(u(&f, "a=1&="), &f, 400, "invalid_body", "", "'=' alone");
	refused(u(&f, "a%00b=1"), &f, 400, "invalid_body", "",
	    "%%00 in a name");
	refused(u(&f, "%FF=1"), &f, 400, "invalid_body", "",
	    "invalid UTF-8 in a name");
	u_bad_value("a=%00", "a", "%00 alone");
	u_bad_value("a=x%00y", "a", "%00 inside");
	u_bad_value("ok=1&a=x%00", "a", "%00 at the end, second field");
	memset(&rf, 0, sizeof(rf));
	refused(form_parse_urlencoded(&f, "a=x\0y", 5, &rf), &f, 400,
	    "invalid_field", "a", "raw NUL byte");
	memset(&rf, 0, sizeof(rf));
	refused(form_parse_urlencoded(&f, "a\0b=1", 5, &rf), &f, 400,
	    "invalid_body", "", "raw NUL byte in a name");
	u_bad_value("a=%C3", "a", "truncated sequence");
	u_bad_value("a=%80", "a", "stray continuation byte");
	u_bad_value("a=%C0%80", "a", "overlong NUL");
	u_bad_value("a=%C1%BF", "a", "overlong 2-byte");
	u_bad_value("a=%E0%80%80", "a", "overlong 3-byte");
	u_bad_value("a=%F0%80%80%80", "a", "overlong 4-byte");
	u_bad_value("a=%ED%A0%80", "a", "surrogate U+D800");
	u_bad_value("a=%ED%BF%BF", "a", "surrogate U+DFFF");
	u_bad_value("a=%F4%90%80%80", "a", "above U+10FFFF");
	u_bad_value("a=%F5%80%80%80", "a", "F5 lead byte");
	u_bad_value("a=%C3%28", "a", "bad continuation");
	u_bad_value("a=\xff", "a", "raw invalid byte");
	is_int(u(&f, "a=%ED%9F%BF%EE%80%80%F4%8F%BF%BF"), 0,
	    "U+D7FF, U+E000, U+10FFFF are fine");
	form_free(&f);

	u_bad_value("a=1&a=2", "a", "name given twice");
	u_bad_value("a=1&%61=2", "a", "name given twice, once encoded");
	u_bad_value("a=1&b&a", "a", "given twice, second without '='");

	/* 256 fields pass, 257 do not. */
	for (n = 0, i = 0; i < 256; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%sf%zu=x",
		    i ? "&" : "", i);
	is_int(u(&f, big), 0, "256 fields");
	is_int(f.n, 256, "256 fields kept");
	form_free(&f);
	snprintf(big + n, sizeof(big) - n, "&f256=x");
	refused(u(&f, big), &f, 400, "invalid_body", "", "257 fields");
}

static void
test_json(void)
{
	struct form	 f;
	char		 deep[128], big[16384];
	size_t		 i, n;

	is_int(j(&f, " {\"task\": \"wordcount\", \"text\": \"h\\u00e9\", "
	    "\"n\": 5, \"neg\": -12, \"x\": 1.5, \"e\": 1E5, \"t\": true, "
	    "\"f\": false, \"lit\": \"\\\\u0000\"}\r\n\t "), 0, "JSON object");
	is_int(f.n, 9, "nine members");
	is_str(form_get(&f, "task"), "wordcount", "string");
	is_str(form_get(&f, "text"), "h\xc3\xa9", "\\u00e9 decoded");
	is_str(form_get(&f, "n"), "5", "integer");
	is_str(form_get(&f, "neg"), "-12", "negative integer");
	is_str(form_get(&f, "x"), "1.5", "double");
	is_str(form_get(&f, "e"), "1E5", "double as written");
	is_str(form_get(&f, "t"), "true", "true");
	is_str(form_get(&f, "f"), "false", "false");
	is_str(form_get(&f, "lit"), "\\u0000", "escaped backslash, no NUL");
	form_free(&f);

	is_int(j(&f, "{}"), 0, "empty object");
	is_int(f.n, 0, "empty object: no member");
	form_free(&f);

	/* json-c would keep the last silently: refused, naming it. */
	refused(j(&f, "{\"a\": 1, \"a\": 2}"), &f, 400, "invalid_field",
	    "a", "duplicate names");
	refused(j(&f, "{\"task\": \"x\", \"t\\u0061sk\": \"echo\"}"), &f,
	    400, "invalid_field", "task", "duplicate names, one escaped");
	is_int(j(&f, "{\"a\": \"{\\\"a\\\": 1}\", \"b\": {}}"), -1,
	    "a name inside a string value is not a member (b refused as "
	    "an object)");
	form_free(&f);
	is_int(j(&f, "{\"a\": \"a\", \"b\": \"a:\"}"), 0,
	    "values equal to names are no duplicates");
	form_free(&f);

	/* Not an object. */
	refused(j(&f, "[1, 2]"), &f, 400, "invalid_body", "", "array");
	refused(j(&f, "\"text\""), &f, 400, "invalid_body", "", "string");
	refused(j(&f, "123"), &f, 400, "invalid_body", "", "number");
	refused(j(&f, "null"), &f, 400, "invalid_body", "", "null");
	refused(j(&f, ""), &f, 400, "invalid_body", "", "empty body");
	refused(j(&f, "  \n"), &f, 400, "invalid_body", "", "only space");
	refused(j(&f, "\xef\xbb\xbf{}"), &f, 400, "invalid_body", "",
	    "byte order mark");

	/* Malformed. */
	refused(j(&f, "{\"a\": 1"), &f, 400, "invalid_body", "", "unclosed");
	refused(j(&f, "{\"a\": }"), &f, 400, "invalid_body", "",
	    "missing value");
	refused(j(&f, "{\"a\": 1,}"), &f, 400, "invalid_body", "",
	    "trailing comma");
	refused(j(&f, "{} x"), &f, 400, "invalid_body", "",
	    "trailing garbage");
	refused(j(&f, "{}{}"), &f, 400, "invalid_body", "", "two objects");
	memset(&rf, 0, sizeof(rf));
	refused(form_parse_json(&f, "{}\0junk", 7, &rf), &f, 400,
	    "invalid_body", "", "NUL byte after the object");
	memset(&rf, 0, sizeof(rf));
	refused(form_parse_json(&f, "{\"a\":\"x\0\"}", 10, &rf), &f, 400,
	    "invalid_body", "", "raw NUL byte in a string");

	/* Deep nesting stops in the tokener. */
	n = (size_t)snprintf(deep, sizeof(deep), "{\"a\":");
	for (i = 0; i < 20; i++)
		deep[n++] = '[';
	for (i = 0; i < 20; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	refused(j(&f, deep), &f, 400, "invalid_body", "", "deep nesting");
	ok(strstr(rf.message, "deep") != NULL, "deep nesting: says so");

	/* Member values that are not a string, number or boolean. */
	refused(j(&f, "{\"ok\": 1, \"a\": null}"), &f, 400, "invalid_field",
	    "a", "null member");
	refused(j(&f, "{\"a\": [1]}"), &f, 400, "invalid_field", "a",
	    "array member");
	refused(j(&f, "{\"a\": {\"b\": 1}}"), &f, 400, "invalid_field", "a",
	    "object member");
	refused(j(&f, "{\"a\": 99999999999999999999}"), &f, 400,
	    "invalid_field", "a", "integer beyond int64");
	refused(j(&f, "{\"a\": -99999999999999999999}"), &f, 400,
	    "invalid_field", "a", "integer below int64");
	refused(j(&f, "{\"a\": 1e400}"), &f, 400, "invalid_field", "a",
	    "double overflow");
	refused(j(&f, "{\"a\": NaN}"), &f, 400, "invalid_field", "a", "NaN");

	/* NUL and UTF-8. */
	refused(j(&f, "{\"a\": \"x\\u0000y\"}"), &f, 400, "invalid_field",
	    "a", "\\u0000 in a value");
	refused(j(&f, "{\"a\\u0000b\": \"x\"}"), &f, 400, "invalid_body", "",
	    "\\u0000 in a name");
	refused(j(&f, "{\"a\": \"\xc0\x80\"}"), &f, 400, "invalid_field", "a",
	    "overlong in a value");
	refused(j(&f, "{\"a\": \"\xed\xa0\x80\"}"), &f, 400, "invalid_field",
	    "a", "surrogate in a value");
	refused(j(&f, "{\"\xed\xa0\x80\": 1}"), &f, 400, "invalid_body", "",
	    "surrogate in a name");
	refused(j(&f, "{\"a\": \"\xff\"}"), &f, 400, "invalid_body", "",
	    "invalid byte (json-c's own check)");
	refused(j(&f, "{\"\": 1}"), &f, 400, "invalid_body", "",
	    "empty name");
	/* json-c keeps one of the two; the repeat is what is refused. */
	refused(j(&f, "{\"\xf0\x80\x98\x9f\": 1, \"\xf0\x80\x98\x9f\": 2}"),
	    &f, 400, "invalid_body", "", "an overlong name given twice");
	ok(strstr(rf.message, "UTF-8") != NULL,
	    "an overlong name given twice: not echoed, said to be not UTF-8");

	/* 256 members pass, 257 do not. */
	n = (size_t)snprintf(big, sizeof(big), "{");
	for (i = 0; i < 256; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"f%zu\":1",
		    i ? "," : "", i);
	snprintf(big + n, sizeof(big) - n, "}");
	is_int(j(&f, big), 0, "256 members");
	is_int(f.n, 256, "256 members kept");
	form_free(&f);
	snprintf(big + n, sizeof(big) - n, ",\"f256\":1}");
	refused(j(&f, big), &f, 400, "invalid_body", "", "257 members");
}

/* The configuration form_validate is checked against. */
static char	*modes[] = { "fast", "slow" };
static struct field wc_fields[] = {
	{ .name = "text", .type = FIELD_TEXTAREA, .required = 1,
	    .max_bytes = 10 },
	{ .name = "lang", .type = FIELD_TEXT, .max_bytes = 16 },
	{ .name = "n", .type = FIELD_NUMBER, .max_bytes = 32,
	    .has_min = 1, .min = 1, .has_max = 1, .max = 10 },
	{ .name = "big", .type = FIELD_NUMBER, .max_bytes = 4096 },
	{ .name = "mode", .type = FIELD_SELECT, .max_bytes = 16,
	    .options = modes, .noptions = 2 },
	{ .name = "dflt", .type = FIELD_TEXT },	/* max_bytes 0: default */
};
static struct task tasks[] = {
	{ .name = "wordcount", .fields = wc_fields,
	    .nfields = sizeof(wc_fields) / sizeof(wc_fields[0]) },
	{ .name = "echo" },
};
static const struct config cfg = {
	.tasks = tasks, .ntasks = sizeof(tasks) / sizeof(tasks[0]),
};

/* Validate urlencoded s; returns form_validate's value, *tp its task. */
static int
v(const char *s, const struct task **tp)
{
	struct form	 f;
	int		 rc;

	if (u(&f, s) == -1) {
		*tp = NULL;
		return -2;	/* the test itself is wrong */
	}
	memset(&rf, 0, sizeof(rf));
	rc = form_validate(&f, &cfg, tp, &rf);
	form_free(&f);
	return rc;
}

static void
v_good(const char *s, const struct task *want, const char *what)
{
	const struct task	*t;

	is_int(v(s, &t), 0, "%s: accepted", what);
	ok(t == want, "%s: the task", what);
}

static void
v_bad(const char *s, int status, const char *code, const char *field,
    const char *what)
{
	const struct task	*t = tasks;

	is_int(v(s, &t), -1, "%s: refused", what);
	ok(t == NULL, "%s: no task", what);
	is_int(rf.status, status, "%s: status", what);
	is_str(rf.code, code, "%s: code", what);
	is_str(rf.field, field, "%s: field", what);
	ok(rf.message[0] != '\0', "%s: a message (%s)", what, rf.message);
}

static char	 huge[CONFIG_FIELD_MAX_BYTES + 64];

static void
test_validate(void)
{
	const struct task	*t;
	struct form		 f;
	char			 s[1024];
	size_t			 i, n;

	v_good("task=wordcount&text=hi", &tasks[0], "required only");
	v_good("task=wordcount&text=hi&lang=en&n=5&big=-3.5e2&mode=slow",
	    &tasks[0], "every field");
	v_good("task=wordcount&text=hi&format=json&_token=abc&_=1",
	    &tasks[0], "reserved names ignored");
	v_good("task=echo", &tasks[1], "a task with no fields");
	v_good("task=echo&format=html&_x=y", &tasks[1],
	    "no fields, reserved names");
	v_good("task=wordcount&text=0123456789", &tasks[0],
	    "exactly max_bytes");
	v_good("task=wordcount&text=hi&n=&mode=&lang=", &tasks[0],
	    "optional fields left empty");
	v_good("task=wordcount&text=hi&n=1", &tasks[0], "number at min");
	v_good("task=wordcount&text=hi&n=10", &tasks[0], "number at max");
	v_good("task=wordcount&text=hi&n=1e1", &tasks[0], "exponent");
	v_good("task=wordcount&text=hi&n=%2B2.50", &tasks[0], "sign, point");
	v_good("task=wordcount&text=hi&n=3.", &tasks[0], "trailing point");
	v_good("task=wordcount&text=hi&big=.5", &tasks[0], "leading point");
	v_good("task=wordcount&text=hi&big=1e-999", &tasks[0],
	    "underflow is still a finite number");

	/* task */
	v_bad("text=hi", 400, "invalid_field", "task", "missing task");
	ok(strstr(rf.message, "missing") != NULL, "missing task: says so");
	v_bad("task=&text=hi", 400, "invalid_field", "task", "empty task");
	v_bad("task=+&text=hi", 400, "invalid_field", "task", "blank task");
	v_bad("task=nope", 400, "invalid_field", "task", "unknown task");
	is_str(rf.message, "unknown task 'nope'", "unknown task: echoed");
	v_bad("task=Wordcount&text=hi", 400, "invalid_field", "task",
	    "task names are case-sensitive");
	v_bad("task=%3Cscript%3E", 400, "invalid_field", "task",
	    "markup in a task name");
	is_str(rf.message, "unknown task '<script>'",
	    "echoed raw: the renderer escapes");

	n = (size_t)snprintf(s, sizeof(s), "task=");
	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%%C3%%A9");
	v_bad(s, 400, "invalid_field", "task", "long unknown task");
	/* 'unknown task ' + quote + 64 bytes, cut between characters. */
	is_int(strlen(rf.message), strlen("unknown task ''") + 64,
	    "long task name cut to 64 bytes");
	ok(strstr(rf.message, "\xc3\xa9'") != NULL,
	    "long task name cut between characters");

	/* fields */
	v_bad("task=wordcount&text=hi&color=red", 400, "invalid_field",
	    "color", "unknown field");
	is_str(rf.message, "unknown field", "unknown field: message");
	v_bad("task=echo&text=hi", 400, "invalid_field", "text",
	    "field of another task");
	v_bad("task=wordcount&text=hi&formats=1", 400, "invalid_field",
	    "formats", "only 'format' itself is reserved");
	n = (size_t)snprintf(s, sizeof(s), "task=echo&");
	for (i = 0; i < 100; i++)
		s[n++] = 'x';
	snprintf(s + n, sizeof(s) - n, "=1");
	v_bad(s, 400, "invalid_field",
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	    "long unknown name cut to 64 bytes");

	v_bad("task=wordcount", 400, "invalid_field", "text",
	    "required field missing");
	v_bad("task=wordcount&text=", 400, "invalid_field", "text",
	    "required field empty");
	v_bad("task=wordcount&text=+%09%0D%0A", 400, "invalid_field", "text",
	    "required field blank");
	v_bad("task=wordcount&text=01234567890", 413, "field_too_large",
	    "text", "over max_bytes");
	v_bad("task=wordcount&text=hi&lang=12345678901234567", 413,
	    "field_too_large", "lang", "optional field over max_bytes");
	v_bad("task=wordcount&text=%20%20%20%20%20%20%20%20%20%20%20", 413,
	    "field_too_large", "text", "blank, but over max_bytes");

	/* numbers */
	v_bad("task=wordcount&text=hi&n=abc", 400, "invalid_field", "n",
	    "not a number");
	v_bad("task=wordcount&text=hi&n=5x", 400, "invalid_field", "n",
	    "number with a tail");
	v_bad("task=wordcount&text=hi&n=+5", 400, "invalid_field", "n",
	    "leading space (the '+' is a space)");
	v_bad("task=wordcount&text=hi&n=5%20", 400, "invalid_field", "n",
	    "trailing space");
	v_bad("task=wordcount&text=hi&n=0x5", 400, "invalid_field", "n",
	    "hexadecimal");
	v_bad("task=wordcount&text=hi&big=inf", 400, "invalid_field", "big",
	    "inf");
	v_bad("task=wordcount&text=hi&big=nan", 400, "invalid_field", "big",
	    "nan");
	v_bad("task=wordcount&text=hi&big=1e999", 400, "invalid_field", "big",
	    "overflow");
	v_bad("task=wordcount&text=hi&big=.", 400, "invalid_field", "big",
	    "a point alone");
	v_bad("task=wordcount&text=hi&big=-", 400, "invalid_field", "big",
	    "a sign alone");
	v_bad("task=wordcount&text=hi&big=1e", 400, "invalid_field", "big",
	    "exponent without digits");
	v_bad("task=wordcount&text=hi&n=0", 400, "invalid_field", "n",
	    "below min");
	v_bad("task=wordcount&text=hi&n=0.999", 400, "invalid_field", "n",
	    "just below min");
	v_bad("task=wordcount&text=hi&n=10.001", 400, "invalid_field", "n",
	    "above max");
	v_bad("task=wordcount&text=hi&n=-5", 400, "invalid_field", "n",
	    "negative, below min");

	/* select */
	v_bad("task=wordcount&text=hi&mode=medium", 400, "invalid_field",
	    "mode", "not an option");
	v_bad("task=wordcount&text=hi&mode=Fast", 400, "invalid_field",
	    "mode", "options are case-sensitive");
	v_bad("task=wordcount&text=hi&mode=fast+", 400, "invalid_field",
	    "mode", "option with a space");

	/* max_bytes 0 stands for the default. */
	n = (size_t)snprintf(huge, sizeof(huge), "task=wordcount&text=hi&dflt=");
	memset(huge + n, 'x', CONFIG_FIELD_MAX_BYTES);
	huge[n + CONFIG_FIELD_MAX_BYTES] = '\0';
	v_good(huge, &tasks[0], "max_bytes 0: the default limit, exactly");
	huge[n + CONFIG_FIELD_MAX_BYTES] = 'x';
	huge[n + CONFIG_FIELD_MAX_BYTES + 1] = '\0';
	v_bad(huge, 413, "field_too_large", "dflt",
	    "max_bytes 0: over the default limit");

	/* A JSON body validates the same way. */
	is_int(j(&f, "{\"task\": \"wordcount\", \"text\": \"hi\", \"n\": 7, "
	    "\"big\": 2.5, \"format\": \"json\"}"), 0, "JSON start body");
	is_int(form_validate(&f, &cfg, &t, &rf), 0, "JSON body validates");
	ok(t == &tasks[0], "JSON body: the task");
	form_free(&f);
	is_int(j(&f, "{\"task\": \"wordcount\", \"text\": \"hi\", \"n\": 70}"),
	    0, "JSON body, number out of bounds");
	is_int(form_validate(&f, &cfg, &t, &rf), -1, "JSON: n=70 refused");
	is_str(rf.field, "n", "JSON: n named");
	form_free(&f);
	is_int(j(&f, "{\"task\": \"wordcount\", \"text\": \"hi\", "
	    "\"mode\": true}"), 0, "JSON body, boolean select");
	is_int(form_validate(&f, &cfg, &t, &rf), -1,
	    "JSON: a boolean is not an option");
	form_free(&f);

	/* An empty form has no task. */
	memset(&f, 0, sizeof(f));
	is_int(form_validate(&f, &cfg, &t, &rf), -1, "empty form");
	is_str(rf.field, "task", "empty form: task named");
}

/*
 * form_pct_decode(s, n) is want (wantlen bytes, NUL-terminated there).
 */
static void
pct(const char *s, size_t n, const char *want, size_t wantlen,
    const char *what)
{
	char	*d;
	size_t	 len = (size_t)-1;

	d = form_pct_decode(s, n, &len);
	ok(d != NULL, "%s: decoded", what);
	if (d == NULL)
		return;
	is_int(len, wantlen, "%s: length", what);
	ok(len == wantlen && memcmp(d, want, wantlen) == 0 && d[len] == '\0',
	    "%s: bytes", what);
	free(d);
}

#define PCT(s, want, what) pct(s, sizeof(s) - 1, want, sizeof(want) - 1, what)

static void
test_pct_decode(void)
{
	PCT("", "", "empty");
	PCT("abc", "abc", "nothing to decode");
	PCT("a%20b", "a b", "%20");
	PCT("a+b", "a b", "'+' is a space");
	PCT("%2B", "+", "%2B is a '+', not a space");
	PCT("%c3%A9", "\xc3\xa9", "either case of hex digit");
	PCT("%FF%00%7f", "\xff\0\x7f", "any byte");
	PCT("%00", "\0", "%00: a NUL, counted");
	PCT("x%00y", "x\0y", "%00 inside: the rest is kept");
	PCT("%", "%", "'%' at the end");
	PCT("%4", "%4", "'%' and one digit at the end");
	PCT("%zz", "%zz", "'%' and no hex digits");
	PCT("%4g", "%4g", "'%' and one hex digit");
	PCT("%%41", "%A", "'%' before an escape");
	PCT("%4%41", "%4A", "a cut escape before an escape");
	PCT("%2541", "%41", "decoded once, not twice");
	PCT("a\0%41+", "a\0A ", "a raw NUL does not stop it");
	/* Only n bytes are read: an escape cut by n stays as it is. */
	pct("%41", 2, "%4", 2, "an escape cut by the length");
	pct("ab+", 2, "ab", 2, "nothing past the length");
}

int
main(void)
{
	test_pct_decode();
	test_urlencoded();
	test_json();
	test_validate();
	return tap_done();
}
