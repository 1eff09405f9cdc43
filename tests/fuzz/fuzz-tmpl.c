/*
 * tests/fuzz/fuzz-tmpl.c: tmpl_render() and tmpl_check() on any template.
 *
 * The input is the template text (it may hold NUL bytes).  The variables
 * are fixed: the names the real templates use, some absent, some empty,
 * and values holding every character HTML escaping is about.  Checked:
 *
 *  - tmpl_check() and tmpl_render() agree on whether the text is valid
 *    (app/tmpl.c: the body of a hidden section is still parsed);
 *  - a failure leaves the output buffer as it was, with a message;
 *  - escaping by default: one pass copies each byte of the template at
 *    most once and an escaped value adds none of < > " ', so without
 *    "{{&" the output has no more of each than the template, and never
 *    the value "<x>" unless the template has an 'x' of its own.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "fuzz.h"

#define FUZZ_PREFIX	"PREFIX"

static const struct tmpl_var vars[] = {
	{ "title", "<x>" },
	{ "task_title", "Count \"words\" & 'letters' <x>" },
	{ "message", "<script>alert('x')</script>" },
	{ "id", "0b9b3e3e-6d5b-4c4e-9a8f-2f2a3b4c5d6e" },
	{ "state", "running" },
	{ "progress", "42" },
	{ "queue_position", "" },
	{ "started_at", NULL },
	{ "created_at", "2024-01-01T00:00:00Z" },
	{ "self_url", "/app/jobs/x?a=1&b=\"2\"" },
	{ "cancel_url", "javascript:'<x>'" },
	{ "error_message", "&lt; not an entity: \"<x>\"" },
	{ "content", "<p>built by the program</p>" },
	{ "forms", "<form></form>" },
	{ "empty", "" },
	{ "x", "<x>" },
	{ NULL, "ignored: no name" },
};
#define NVARS	(sizeof(vars) / sizeof(vars[0]))

static size_t
count(const char *s, size_t len, char c)
{
	size_t	 i, n = 0;

	for (i = 0; i < len; i++)
		if (s[i] == c)
			n++;
	return n;
}

static int
contains(const char *s, size_t len, const char *needle)
{
	size_t	 n = strlen(needle), i;

	for (i = 0; i + n <= len; i++)
		if (memcmp(s + i, needle, n) == 0)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf	 out;
	char		*t, err[256], cerr[256];
	const char	*body;
	size_t		 blen, plen = strlen(FUZZ_PREFIX);
	int		 rc, crc, saved;

	t = fuzz_dup(data, size);
	memset(&out, 0, sizeof(out));
	if (buf_puts(&out, FUZZ_PREFIX) == -1)
		abort();

	memset(err, 'x', sizeof(err));
	errno = 0;
	rc = tmpl_render(&out, t, size, vars, NVARS, err, sizeof(err));
	saved = errno;
	FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
	FUZZ_CHECK(out.len >= plen && memcmp(out.data, FUZZ_PREFIX, plen) == 0);
	FUZZ_CHECK(out.data[out.len] == '\0');

	memset(cerr, 'x', sizeof(cerr));
	crc = tmpl_check(t, size, cerr, sizeof(cerr));
	FUZZ_CHECK(fuzz_terminated(cerr, sizeof(cerr)));
	FUZZ_CHECK(rc == crc);

	if (rc == -1) {
		FUZZ_CHECK(saved == EINVAL);
		FUZZ_CHECK(out.len == plen);
		FUZZ_CHECK(err[0] != '\0' && strcmp(err, cerr) == 0);
	} else {
		FUZZ_CHECK(rc == 0);
		body = out.data + plen;
		blen = out.len - plen;
		if (!contains(t, size, "{{&")) {
			FUZZ_CHECK(count(body, blen, '<') <= count(t, size, '<'));
			FUZZ_CHECK(count(body, blen, '>') <= count(t, size, '>'));
			FUZZ_CHECK(count(body, blen, '"') <= count(t, size, '"'));
			FUZZ_CHECK(count(body, blen, '\'') <=
			    count(t, size, '\''));
			/* Tags may split "<x>" in the text: any 'x' will do. */
			FUZZ_CHECK(!contains(body, blen, "<x>") ||
			    memchr(t, 'x', size) != NULL);
		}
		/* With no variables the same text is no less valid. */
		buf_reset(&out);
		FUZZ_CHECK(tmpl_render(&out, t, size, NULL, 0, NULL, 0) == 0);
	}
	buf_free(&out);
	free(t);
	return 0;
}
