/*
 * Start requests: decoding a form body (application/x-www-form-urlencoded
 * or a JSON object) into name/value pairs, and checking them against the
 * task they name (README "How a request flows", "Refusals").
 *
 * The parsers are pure functions of (buf, len): no I/O, no logging, so a
 * fuzz driver can call them.  What they find wrong goes into a struct
 * refusal for the handler to answer.  Every name and value they keep is
 * strict UTF-8 with no NUL byte inside, so later code (the task's stdin
 * JSON, its SPOOLCGI_FIELD_ environment) can treat them as C strings.
 * Both body formats live here because both end in the same validator.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "extern.h"

#define FORM_MAX_FIELDS	256	/* more is a malformed body, not a form */
#define FORM_JSON_DEPTH	16	/* the body is flat; nesting only refuses */
#define FORM_ECHO_MAX	64	/* bytes of a client's value echoed back */

/*
 * The length of the longest prefix of s (len bytes) of at most max bytes
 * that does not end inside a UTF-8 sequence, so text cut for an answer
 * stays valid.
 */
static size_t
form_utf8_cut(const char *s, size_t len, size_t max)
{
	size_t	 n;

	if (len <= max)
		return len;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Copy name into dst (dstsz bytes) for refusal.field, cut as above. */
static const char *
form_field_name(char *dst, size_t dstsz, const char *name)
{
	size_t	 n;

	n = form_utf8_cut(name, strlen(name), dstsz - 1);
	memcpy(dst, name, n);
	dst[n] = '\0';
	return dst;
}

static int
form_nomem(struct form *f, struct refusal *r)
{
	int	 saved = errno;

	form_free(f);
	refuse(r, 500, "internal", NULL, "out of memory reading the body");
	errno = saved;
	return -1;
}

/*
 * Check the pair just added as f->kv[f->n - 1] (nlen: the decoded length
 * of its name, which may hold a NUL): a name that is not empty, no NUL,
 * valid UTF-8, not given before.  Returns 0, or -1 with r filled.
 */
static int
form_check_pair(const struct form *f, size_t nlen, struct refusal *r)
{
	const struct kv	*kv = &f->kv[f->n - 1];
	char		 fname[sizeof(r->field)];
	size_t		 i;

	if (nlen == 0) {
		refuse(r, 400, "invalid_body", NULL, "a field has no name");
		return -1;
	}
	if (memchr(kv->name, '\0', nlen) != NULL) {
		refuse(r, 400, "invalid_body", NULL,
		    "a field name holds a NUL byte");
		return -1;
	}
	if (!utf8_valid(kv->name, nlen)) {
		refuse(r, 400, "invalid_body", NULL,
		    "a field name is not valid UTF-8");
		return -1;
	}
	form_field_name(fname, sizeof(fname), kv->name);
	if (memchr(kv->value, '\0', kv->len) != NULL) {
		refuse(r, 400, "invalid_field", fname, "holds a NUL byte");
		return -1;
	}
	if (!utf8_valid(kv->value, kv->len)) {
		refuse(r, 400, "invalid_field", fname, "is not valid UTF-8");
		return -1;
	}
	for (i = 0; i + 1 < f->n; i++)
		if (strcmp(f->kv[i].name, kv->name) == 0) {
			refuse(r, 400, "invalid_field", fname,
			    "given more than once");
			return -1;
		}
	return 0;
}

/*
 * Percent-decode the n bytes at s into a fresh NUL-terminated string, '+'
 * read as a space: the decoding of application/x-www-form-urlencoded
 * bodies and query strings (WHATWG URL 5.1; "%" HEXDIG HEXDIG is RFC 3986
 * 2.1).  A '%' not followed by two hex digits is kept as it is, as
 * browsers do.  *outlen is the decoded length, which counts a NUL from
 * "%00" (or a raw one): the caller sees it instead of a string cut short
 * there.  Returns the string, or NULL with errno set.
 */
char *
form_pct_decode(const char *s, size_t n, size_t *outlen)
{
	char	*d;
	size_t	 i, o;
	int	 hi, lo;

	if ((d = malloc(n + 1)) == NULL)
		return NULL;
	for (i = o = 0; i < n; i++) {
		if (s[i] == '+')
			d[o++] = ' ';
		else if (s[i] == '%' && n - i > 2 &&
		    (hi = hex_value((unsigned char)s[i + 1])) != -1 &&
		    (lo = hex_value((unsigned char)s[i + 2])) != -1) {
			d[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			d[o++] = s[i];
	}
	d[o] = '\0';
	*outlen = o;
	return d;
}

/*
 * Decode an application/x-www-form-urlencoded body (buf, len bytes) into f,
 * which the caller frees with form_free() after a success.  Pairs are split
 * on '&', names from values on the first '='; empty pairs ("a=1&&b=2") are
 * skipped and a pair with no '=' has the empty value (WHATWG URL 5.1).
 *
 * The body is split here and each part decoded by form_pct_decode(), whose
 * decoded length lets a NUL from "%00" be seen and refused: "a=x%00y" must
 * never read as "a=x".
 *
 * Refused (400): more than FORM_MAX_FIELDS pairs, an empty name, a NUL byte
 * or invalid UTF-8 in a name or value, a name given twice.
 * Returns 0, or -1 with r filled (status 500 when memory ran out) and f
 * left empty.
 */
int
form_parse_urlencoded(struct form *f, const char *buf, size_t len,
    struct refusal *r)
{
	const char	*seg, *amp, *eq, *end;
	struct kv	*kv;
	size_t		 n, nlen;

	memset(f, 0, sizeof(*f));
	if (buf == NULL || len == 0)
		return 0;
	end = buf + len;

	for (n = 0, seg = buf; seg < end; seg = amp + 1) {
		if ((amp = memchr(seg, '&', (size_t)(end - seg))) == NULL)
			amp = end;
		if (amp > seg)
			n++;
	}
	if (n > FORM_MAX_FIELDS) {
		refuse(r, 400, "invalid_body", NULL, "more than %d fields",
		    FORM_MAX_FIELDS);
		return -1;
	}
	if (n == 0)
		return 0;
	if ((f->kv = calloc(n, sizeof(*f->kv))) == NULL)
		return form_nomem(f, r);

	for (seg = buf; seg < end; seg = amp + 1) {
		if ((amp = memchr(seg, '&', (size_t)(end - seg))) == NULL)
			amp = end;
		if (amp == seg)
			continue;
		if ((eq = memchr(seg, '=', (size_t)(amp - seg))) == NULL)
			eq = amp;
		/* Added before it is checked, so form_free() finds it. */
		kv = &f->kv[f->n++];
		if ((kv->name = form_pct_decode(seg, (size_t)(eq - seg),
		    &nlen)) == NULL)
			return form_nomem(f, r);
		kv->value = form_pct_decode(eq == amp ? eq : eq + 1,
		    eq == amp ? 0 : (size_t)(amp - eq - 1), &kv->len);
		if (kv->value == NULL)
			return form_nomem(f, r);
		if (form_check_pair(f, nlen, r) == -1) {
			form_free(f);
			return -1;
		}
	}
	return 0;
}

/*
 * Add one field (name, then len bytes of value) to f, with the checks of
 * a parsed body: a name, no NUL, valid UTF-8, not given twice, at most
 * FORM_MAX_FIELDS fields.  For bodies parsed piece by piece (multipart).
 * Returns 0, or -1 with r filled; f stays valid either way.
 */
int
form_add(struct form *f, const char *name, const char *value, size_t len,
    struct refusal *r)
{
	struct kv	*kv;
	size_t		 nlen = strlen(name);

	if (f->n >= FORM_MAX_FIELDS) {
		refuse(r, 400, "invalid_body", NULL, "more than %d fields",
		    FORM_MAX_FIELDS);
		return -1;
	}
	if ((kv = reallocarray(f->kv, f->n + 1, sizeof(*kv))) == NULL) {
		refuse(r, 500, "internal", NULL, "out of memory reading the "
		    "body");
		return -1;
	}
	f->kv = kv;
	kv = &f->kv[f->n];
	memset(kv, 0, sizeof(*kv));
	if ((kv->name = strdup(name)) == NULL ||
	    (kv->value = malloc(len + 1)) == NULL) {
		free(kv->name);
		refuse(r, 500, "internal", NULL, "out of memory reading the "
		    "body");
		return -1;
	}
	memcpy(kv->value, value, len);
	kv->value[len] = '\0';
	kv->len = len;
	f->n++;
	if (form_check_pair(f, nlen, r) == -1) {
		f->n--;
		free(kv->name);
		free(kv->value);
		return -1;
	}
	return 0;
}

/*
 * Does the JSON text hold the escape \u0000 anywhere?  json-c keeps a NUL
 * inside a string value (its length shows it) but cuts a member name at
 * one, so a name "a\u0000b" would read as "a"; only the text tells.  An
 * escaped backslash is skipped, so "\\u0000" (a literal backslash) is not
 * a match.
 */
static int
form_json_nul_escape(const char *buf, size_t len)
{
	size_t	 i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\\')
			continue;
		if (buf[i + 1] == 'u' && len - i >= 6 &&
		    memcmp(buf + i + 2, "0000", 4) == 0)
			return 1;
		i++;
	}
	return 0;
}

/*
 * The text of one member value, as the task will see it: a string as is,
 * an integer as %lld, a double in json-c's form (the text it was written
 * in), a boolean as "true" or "false".  Returns a fresh string with its
 * length in *lenp, or NULL with r filled.
 */
static char *
form_json_value(struct json_object *v, const char *fname, size_t *lenp,
    struct refusal *r)
{
	char		 num[32];
	const char	*s;
	size_t		 len;
	int64_t		 i;
	char		*d;

	switch (json_object_get_type(v)) {
	case json_type_string:
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		if (memchr(s, '\0', len) != NULL) {
			refuse(r, 400, "invalid_field", fname,
			    "holds a NUL byte");
			return NULL;
		}
		if (!utf8_valid(s, len)) {
			refuse(r, 400, "invalid_field", fname,
			    "is not valid UTF-8");
			return NULL;
		}
		break;
	case json_type_int:
		/*
		 * json-c clamps an integer beyond int64_t to the nearest
		 * bound without saying so; refuse the bounds rather than pass
		 * on a number the client did not send.
		 */
		i = json_object_get_int64(v);
		if (i == INT64_MAX || i == INT64_MIN) {
			refuse(r, 400, "invalid_field", fname,
			    "the number is out of range");
			return NULL;
		}
		snprintf(num, sizeof(num), "%lld", (long long)i);
		s = num;
		len = strlen(s);
		break;
	case json_type_double:
		if (!isfinite(json_object_get_double(v))) {
			refuse(r, 400, "invalid_field", fname,
			    "the number is not finite");
			return NULL;
		}
		s = json_object_get_string(v);
		len = strlen(s);
		break;
	case json_type_boolean:
		s = json_object_get_boolean(v) ? "true" : "false";
		len = strlen(s);
		break;
	default:
		refuse(r, 400, "invalid_field", fname,
		    "must be a string, a number or a boolean");
		return NULL;
	}
	if ((d = malloc(len + 1)) == NULL) {
		refuse(r, 500, "internal", NULL,
		    "out of memory reading the body");
		return NULL;
	}
	memcpy(d, s, len);
	d[len] = '\0';
	*lenp = len;
	return d;
}

/* Copy the members of JSON object o into f.  Returns 0, or -1 with r filled. */
static int
form_json_members(struct form *f, struct json_object *o, struct refusal *r)
{
	struct json_object_iterator	 it, itend;
	const char			*name;
	char				 fname[sizeof(r->field)];
	struct kv			*kv;
	size_t				 n, i;

	n = (size_t)json_object_object_length(o);
	if (n > FORM_MAX_FIELDS) {
		refuse(r, 400, "invalid_body", NULL, "more than %d fields",
		    FORM_MAX_FIELDS);
		return -1;
	}
	if (n == 0)
		return 0;
	if ((f->kv = calloc(n, sizeof(*f->kv))) == NULL) {
		refuse(r, 500, "internal", NULL,
		    "out of memory reading the body");
		return -1;
	}
	it = json_object_iter_begin(o);
	itend = json_object_iter_end(o);
	for (; !json_object_iter_equal(&it, &itend);
	    json_object_iter_next(&it)) {
		name = json_object_iter_peek_name(&it);
		if (name[0] == '\0') {
			refuse(r, 400, "invalid_body", NULL,
			    "a member has an empty name");
			return -1;
		}
		if (!utf8_valid(name, strlen(name))) {
			refuse(r, 400, "invalid_body", NULL,
			    "a member name is not valid UTF-8");
			return -1;
		}
		form_field_name(fname, sizeof(fname), name);
		kv = &f->kv[f->n];
		if ((kv->value = form_json_value(json_object_iter_peek_value(
		    &it), fname, &kv->len, r)) == NULL)
			return -1;
		f->n++;
		if ((kv->name = strdup(name)) == NULL) {
			refuse(r, 500, "internal", NULL,
			    "out of memory reading the body");
			return -1;
		}
		/* json-c keeps one of duplicate names; this is a safety net. */
		for (i = 0; i + 1 < f->n; i++)
			if (strcmp(f->kv[i].name, name) == 0) {
				refuse(r, 400, "invalid_field", fname,
				    "given more than once");
				return -1;
			}
	}
	return 0;
}

/* Parse one JSON string literal of len bytes, or NULL. */
static struct json_object *
form_json_string(const char *s, size_t len)
{
	struct json_tokener	*tok;
	struct json_object	*o;

	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue)
		o = json_tokener_parse_ex(tok, "", 1);
	json_tokener_free(tok);
	return o;
}

/*
 * Does the object's text (already parsed whole, so well-formed) name a
 * member twice?  json-c keeps the last silently, so "task" given twice
 * could smuggle a second task past a check of the first.  The top-level
 * member names are counted in the text and compared with what json-c
 * kept; on a difference the repeated name is found by decoding each.
 * Returns 0, or -1 with r filled.
 */
struct form_names {
	const char	*keys[FORM_MAX_FIELDS + 1];
	size_t		 klen[FORM_MAX_FIELDS + 1];
	size_t		 n;
};

static void
form_json_name(void *arg, const char *name, size_t len, int depth)
{
	struct form_names	*fn = arg;

	if (depth != 1 || fn->n > FORM_MAX_FIELDS)
		return;
	fn->keys[fn->n] = name;
	fn->klen[fn->n++] = len;
}

static int
form_json_duplicate(const char *buf, size_t len, struct json_object *o,
    struct refusal *r)
{
	struct form_names	 names;
	const char		**keys = names.keys;
	size_t			*klen = names.klen;
	size_t			 i, j, n;
	char			 fname[sizeof(r->field)];

	names.n = 0;
	json_names(buf, len, form_json_name, &names);
	n = names.n;
	if (n <= (size_t)json_object_object_length(o))
		return 0;
	/* Decode each name (escapes such as \u0074 included) to compare. */
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++) {
			struct json_object *a, *b;
			const char *an = NULL;
			int same, utf8;

			a = form_json_string(keys[i], klen[i]);
			b = form_json_string(keys[j], klen[j]);
			same = a != NULL && b != NULL &&
			    strcmp(an = json_object_get_string(a),
			    json_object_get_string(b)) == 0;
			/*
			 * The name is echoed in the answer: one that is not
			 * UTF-8 is refused as such, as form_json_members()
			 * would have, never copied into the refusal.
			 */
			utf8 = same && utf8_valid(an, strlen(an));
			if (utf8)
				form_field_name(fname, sizeof(fname), an);
			json_object_put(a);
			json_object_put(b);
			if (same && !utf8) {
				refuse(r, 400, "invalid_body", NULL,
				    "a member name is not valid UTF-8");
				return -1;
			}
			if (same) {
				refuse(r, 400, "invalid_field", fname,
				    "given more than once");
				return -1;
			}
		}
	refuse(r, 400, "invalid_body", NULL, "a member is given more than "
	    "once");
	return -1;
}


/*
 * Decode an application/json body (buf, len bytes): one object whose
 * members are strings, numbers or booleans (see form_json_value), into f,
 * which the caller frees with form_free() after a success.  The text must
 * be strict JSON, nested at most FORM_JSON_DEPTH deep, with nothing but
 * whitespace after the object.  json-c keeps the last of duplicate names
 * and this cannot see the others.
 * Returns 0, or -1 with r filled (status 500 when memory ran out) and f
 * left empty.
 */
int
form_parse_json(struct form *f, const char *buf, size_t len,
    struct refusal *r)
{
	struct json_tokener	*tok;
	struct json_object	*o;
	enum json_tokener_error	 err;
	size_t			 i, end;
	int			 nul, rc;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < len; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' &&
		    buf[i] != '\n')
			break;
	if (i == len || buf[i] != '{') {
		refuse(r, 400, "invalid_body", NULL,
		    "the JSON body must be an object");
		return -1;
	}
	if (len > INT_MAX) {
		refuse(r, 413, "body_too_large", NULL,
		    "the JSON body is too large");
		return -1;
	}
	nul = form_json_nul_escape(buf, len);

	if ((tok = json_tokener_new_ex(FORM_JSON_DEPTH)) == NULL)
		return form_nomem(f, r);
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	err = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	if (o == NULL) {
		if (err == json_tokener_continue)
			refuse(r, 400, "invalid_body", NULL,
			    "the JSON body ends too early");
		else if (err == json_tokener_error_depth)
			refuse(r, 400, "invalid_body", NULL,
			    "the JSON body is nested too deeply");
		else
			refuse(r, 400, "invalid_body", NULL,
			    "the JSON body is malformed at byte %zu: %s", end,
			    json_tokener_error_desc(err));
		return -1;
	}
	/* Strict mode refuses trailing text, but stops at a NUL byte. */
	if (end != len) {
		refuse(r, 400, "invalid_body", NULL,
		    "data after the JSON body, at byte %zu", end);
		json_object_put(o);
		return -1;
	}
	if (!json_object_is_type(o, json_type_object)) {
		refuse(r, 400, "invalid_body", NULL,
		    "the JSON body must be an object");
		json_object_put(o);
		return -1;
	}
	if (form_json_duplicate(buf, len, o, r) == -1) {
		json_object_put(o);
		return -1;
	}
	rc = form_json_members(f, o, r);
	json_object_put(o);
	if (rc == 0 && nul) {
		/* Every value was checked: the NUL was in a member name. */
		refuse(r, 400, "invalid_body", NULL,
		    "a member name holds a NUL byte");
		rc = -1;
	}
	if (rc == -1)
		form_free(f);
	return rc;
}

static const struct kv *
form_find(const struct form *f, const char *name)
{
	size_t	 i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->kv[i].name, name) == 0)
			return &f->kv[i];
	return NULL;
}

/* Returns the value of field name, or NULL when the form has none. */
const char *
form_get(const struct form *f, const char *name)
{
	const struct kv	*kv;

	kv = form_find(f, name);
	return kv != NULL ? kv->value : NULL;
}

/* Free what a parser stored in f and leave it empty; safe on a zeroed f. */
void
form_free(struct form *f)
{
	size_t	 i;

	for (i = 0; i < f->n; i++) {
		free(f->kv[i].name);
		free(f->kv[i].value);
	}
	free(f->kv);
	f->kv = NULL;
	f->n = 0;
}

/* Names the client may send beside a task's fields: ignored here. */
static int
form_reserved(const char *name)
{
	return strcmp(name, "task") == 0 || strcmp(name, "format") == 0 ||
	    name[0] == '_';
}

/* Is s empty or only whitespace? */
static int
form_blank(const char *s)
{
	for (; *s != '\0'; s++)
		if (strchr(" \t\r\n\f\v", *s) == NULL)
			return 0;
	return 1;
}

/*
 * Parse s, all of it, as a decimal number: [+-]digits[.digits][e[+-]digits]
 * with at least one digit before the exponent.  strtod alone would also take
 * leading space, hex, "inf" and "nan", none of which a task expects from a
 * number field.  The program never calls setlocale, so '.' is the point.
 * Returns 0 with *d set, or -1.
 */
static int
form_number(const char *s, double *d)
{
	const char	*p = s;
	char		*end;
	int		 digits = 0;

	if (*p == '+' || *p == '-')
		p++;
	for (; *p >= '0' && *p <= '9'; p++)
		digits++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits++;
	if (digits == 0)
		return -1;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p != '\0')
		return -1;
	*d = strtod(s, &end);
	if (*end != '\0' || !isfinite(*d))
		return -1;
	return 0;
}

/*
 * Check one configured field against its value kv (NULL when the form has
 * none).  Returns 0, or -1 with r filled.
 */
static int
form_check_field(const struct field *fd, const struct kv *kv,
    struct refusal *r)
{
	char	 fname[sizeof(r->field)];
	size_t	 max, i;
	double	 d;

	form_field_name(fname, sizeof(fname), fd->name);
	/* 0 cannot be meant: a field that takes no byte is no field. */
	max = fd->max_bytes ? fd->max_bytes : CONFIG_FIELD_MAX_BYTES;
	if (kv != NULL && kv->len > max) {
		refuse(r, 413, "field_too_large", fname,
		    "longer than %zu bytes", max);
		return -1;
	}
	if (kv == NULL || form_blank(kv->value)) {
		if (fd->required) {
			refuse(r, 400, "invalid_field", fname,
			    "required: give a value");
			return -1;
		}
		return 0;
	}
	switch (fd->type) {
	case FIELD_NUMBER:
		if (form_number(kv->value, &d) == -1) {
			refuse(r, 400, "invalid_field", fname,
			    "must be a number");
			return -1;
		}
		if (fd->has_min && d < fd->min) {
			refuse(r, 400, "invalid_field", fname,
			    "must be at least %g", fd->min);
			return -1;
		}
		if (fd->has_max && d > fd->max) {
			refuse(r, 400, "invalid_field", fname,
			    "must be at most %g", fd->max);
			return -1;
		}
		break;
	case FIELD_SELECT:
		for (i = 0; i < fd->noptions; i++)
			if (strcmp(kv->value, fd->options[i]) == 0)
				break;
		if (i == fd->noptions) {
			refuse(r, 400, "invalid_field", fname,
			    "must be one of the offered options");
			return -1;
		}
		break;
	case FIELD_TEXT:
	case FIELD_TEXTAREA:
		break;
	}
	return 0;
}

/*
 * Check a decoded form against the configuration: "task" names a
 * configured task; every other name is a field of it, except "format" and
 * names starting with '_' (the client's and the one-time form token's);
 * required fields are there and not blank; no value is over its field's
 * max_bytes (413, README "How a request flows"); numbers parse whole and keep within
 * their bounds; a select's value is one of its options.
 * Returns 0 with *tp the task, or -1 with r filled and *tp NULL.
 */
int
form_validate(const struct form *f, const struct config *cfg,
    const struct task **tp, struct refusal *r)
{
	const struct task	*t;
	const char		*name;
	char			 fname[sizeof(r->field)];
	size_t			 i;

	*tp = NULL;
	name = form_get(f, "task");
	if (name == NULL || form_blank(name)) {
		refuse(r, 400, "invalid_field", "task",
		    "missing: name the task to run");
		return -1;
	}
	if ((t = config_task(cfg, name)) == NULL) {
		/* Echoed raw: whoever renders the refusal escapes it. */
		refuse(r, 400, "invalid_field", "task", "unknown task '%.*s'",
		    (int)form_utf8_cut(name, strlen(name), FORM_ECHO_MAX),
		    name);
		return -1;
	}
	for (i = 0; i < f->n; i++) {
		if (form_reserved(f->kv[i].name) ||
		    task_field(t, f->kv[i].name) != NULL)
			continue;
		refuse(r, 400, "invalid_field", form_field_name(fname,
		    sizeof(fname), f->kv[i].name), "unknown field");
		return -1;
	}
	for (i = 0; i < t->nfields; i++)
		if (form_check_field(&t->fields[i],
		    form_find(f, t->fields[i].name), r) == -1)
			return -1;
	*tp = t;
	return 0;
}
