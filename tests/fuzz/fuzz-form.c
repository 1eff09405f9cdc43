/*
 * tests/fuzz/fuzz-form.c: form_parse_urlencoded(), form_parse_json() and
 * form_validate() on any bytes.
 *
 * The first byte picks the parser (even: urlencoded, odd: JSON); the rest
 * is the body.  A decoded form keeps the promises of app/form.c: names not
 * empty, no NUL in a name or value, values NUL-terminated at their length,
 * strict UTF-8, no name twice, at most 256 pairs.  A refused body leaves
 * the form empty and a refusal with a status and a code.  Every decoded
 * form is then checked against a fixed configuration, parsed once from
 * FUZZ_CONFIG below, and what form_validate() accepts must really have
 * its required fields, numbers in range and select values from the list.
 * The percent-decoder the urlencoded parser (and the query parameters of
 * app/route.c) use is also checked on the whole body, against a byte by
 * byte reading of WHATWG URL 5.1.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "fuzz.h"

static const char FUZZ_CONFIG[] =
    "{\"spool\": \"/nonexistent/spool\", \"tasks\": {"
    "\"wordcount\": {\"command\": [\"/bin/true\"], \"fields\": {"
    "  \"text\": {\"type\": \"textarea\", \"required\": true,"
    "    \"max_bytes\": 64},"
    "  \"lang\": {\"type\": \"select\", \"options\": [\"en\", \"de\","
    "    \"\\u00e9t\\u00e9\"]},"
    "  \"seconds\": {\"type\": \"number\", \"min\": 1, \"max\": 120},"
    "  \"note\": {\"max_bytes\": 8}}},"
    "\"bare\": {\"command\": [\"/bin/true\"]},"
    "\"limits\": {\"command\": [\"/bin/true\"], \"fields\": {"
    "  \"n\": {\"type\": \"number\", \"required\": true, \"min\": -1.5},"
    "  \"m\": {\"type\": \"number\", \"max\": 0}}}}}";

static struct config	 fuzz_cfg;
static int		 fuzz_cfg_ready;

static int
blank(const char *s)
{
	for (; *s != '\0'; s++)
		if (strchr(" \t\r\n\f\v", *s) == NULL)
			return 0;
	return 1;
}

static void
check_form(const struct form *f)
{
	size_t	 i, j;

	FUZZ_CHECK(f->n <= 256);
	FUZZ_CHECK(f->n == 0 || f->kv != NULL);
	for (i = 0; i < f->n; i++) {
		const struct kv *kv = &f->kv[i];

		FUZZ_CHECK(kv->name != NULL && kv->name[0] != '\0');
		FUZZ_CHECK(fuzz_utf8_valid(kv->name, strlen(kv->name)));
		FUZZ_CHECK(kv->value != NULL);
		FUZZ_CHECK(kv->value[kv->len] == '\0');
		FUZZ_CHECK(strlen(kv->value) == kv->len);
		FUZZ_CHECK(fuzz_utf8_valid(kv->value, kv->len));
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(f->kv[j].name, kv->name) != 0);
		FUZZ_CHECK(form_get(f, kv->name) == kv->value);
	}
}

static void
check_refusal(const struct refusal *r)
{
	FUZZ_CHECK(r->status == 400 || r->status == 413 || r->status == 500);
	FUZZ_CHECK(fuzz_terminated(r->code, sizeof(r->code)) &&
	    r->code[0] != '\0');
	FUZZ_CHECK(fuzz_terminated(r->field, sizeof(r->field)));
	FUZZ_CHECK(fuzz_terminated(r->message, sizeof(r->message)));
	/* A refusal is echoed to the client: it must stay valid UTF-8. */
	FUZZ_CHECK(fuzz_utf8_valid(r->field, strlen(r->field)));
	FUZZ_CHECK(fuzz_utf8_valid(r->message, strlen(r->message)));
}

/* What form_validate() accepted must hold for every field of task t. */
static void
check_valid(const struct form *f, const struct task *t)
{
	const struct field	*fd;
	const char		*v;
	size_t			 i, j;
	double			 d;
	char			*end;

	FUZZ_CHECK(t == config_task(&fuzz_cfg, form_get(f, "task")));
	for (i = 0; i < f->n; i++)
		FUZZ_CHECK(strcmp(f->kv[i].name, "task") == 0 ||
		    strcmp(f->kv[i].name, "format") == 0 ||
		    f->kv[i].name[0] == '_' ||
		    task_field(t, f->kv[i].name) != NULL);
	for (i = 0; i < t->nfields; i++) {
		fd = &t->fields[i];
		v = form_get(f, fd->name);
		if (v == NULL || blank(v)) {
			FUZZ_CHECK(!fd->required);
			continue;
		}
		FUZZ_CHECK(strlen(v) <= fd->max_bytes);
		switch (fd->type) {
		case FIELD_NUMBER:
			d = strtod(v, &end);
			FUZZ_CHECK(*end == '\0' && isfinite(d));
			FUZZ_CHECK(!fd->has_min || d >= fd->min);
			FUZZ_CHECK(!fd->has_max || d <= fd->max);
			break;
		case FIELD_SELECT:
			for (j = 0; j < fd->noptions; j++)
				if (strcmp(v, fd->options[j]) == 0)
					break;
			FUZZ_CHECK(j < fd->noptions);
			break;
		default:
			break;
		}
	}
}

/*
 * form_pct_decode() on n bytes at s: NUL-terminated at its length, and
 * each output byte is one "%" HEXDIG HEXDIG escape, a space for a '+', or
 * the input byte itself, in order, with nothing left over.
 */
static void
check_pct(const char *s, size_t n)
{
	char		*d, hex[3];
	size_t		 len, i, o;

	if ((d = form_pct_decode(s, n, &len)) == NULL)
		return;		/* out of memory: nothing to check */
	FUZZ_CHECK(len <= n);
	FUZZ_CHECK(d[len] == '\0');
	for (i = o = 0; i < n; o++) {
		FUZZ_CHECK(o < len);
		if (s[i] == '%' && n - i > 2 &&
		    isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			hex[2] = '\0';
			FUZZ_CHECK((unsigned char)d[o] == strtoul(hex, NULL, 16));
			i += 3;
		} else {
			FUZZ_CHECK(d[o] == (s[i] == '+' ? ' ' : s[i]));
			i++;
		}
	}
	FUZZ_CHECK(o == len);
	free(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct form		 f;
	struct refusal		 r;
	const struct task	*t;
	char			*buf, err[512];
	int			 json, rc;

	if (!fuzz_cfg_ready) {
		if (config_parse(&fuzz_cfg, FUZZ_CONFIG, strlen(FUZZ_CONFIG),
		    "fuzz-form", err, sizeof(err)) == -1) {
			fprintf(stderr, "fuzz-form: %s\n", err);
			abort();
		}
		fuzz_cfg_ready = 1;
	}
	if (size == 0)
		return 0;
	json = data[0] & 1;
	buf = fuzz_dup(data + 1, size - 1);
	check_pct(buf, size - 1);

	memset(&r, 0xa5, sizeof(r));
	if (json)
		rc = form_parse_json(&f, buf, size - 1, &r);
	else
		rc = form_parse_urlencoded(&f, buf, size - 1, &r);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		check_refusal(&r);
		FUZZ_CHECK(f.n == 0 && f.kv == NULL);
		form_free(&f);
		free(buf);
		return 0;
	}
	check_form(&f);

	memset(&r, 0xa5, sizeof(r));
	t = (const struct task *)&r;
	rc = form_validate(&f, &fuzz_cfg, &t, &r);
	if (rc == 0) {
		FUZZ_CHECK(t != NULL);
		check_valid(&f, t);
	} else {
		FUZZ_CHECK(rc == -1 && t == NULL);
		check_refusal(&r);
	}
	form_free(&f);
	form_free(&f);
	free(buf);
	return 0;
}
