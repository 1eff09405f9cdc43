/*
 * tests/fuzz/fuzz-accept.c: http_wants_json() and http_media_type() on any
 * request headers.
 *
 * The input is "ACCEPT\nQUERY\nCONTENT_TYPE": up to three C strings split
 * at newlines (which no header value holds); a part that is missing is a
 * variable the server did not pass (NULL).  Checked: the answer is 0 or
 * 1, and ?format= decides alone when it is there (README "How a request
 * flows"); a media type is lower-case, has no parameters or white space,
 * and fits the buffer it was given, however small.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "fuzz.h"

static void
check_media_type(const char *ct, size_t sz)
{
	const char	*mt;
	char		*out;
	size_t		 i, n;

	if ((out = malloc(sz)) == NULL)
		abort();
	mt = http_media_type(ct, out, sz);
	if (mt != NULL) {
		FUZZ_CHECK(mt == out);
		FUZZ_CHECK(fuzz_terminated(out, sz));
		n = strlen(out);
		FUZZ_CHECK(n > 0 && n < sz);
		for (i = 0; i < n; i++)
			FUZZ_CHECK(out[i] != ';' && out[i] != ' ' &&
			    out[i] != '\t' &&
			    tolower((unsigned char)out[i]) ==
			    (unsigned char)out[i]);
	}
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*s, *part[3] = { NULL, NULL, NULL }, *p, *nl;
	char		 fmt[16];
	int		 i, json;

	s = fuzz_strndup(data, size);
	for (i = 0, p = s; i < 3 && p != NULL; i++) {
		part[i] = p;
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		p = nl;
	}

	json = http_wants_json(part[0], part[1], part[2]);
	FUZZ_CHECK(json == 0 || json == 1);
	if (part[1] != NULL && route_query_param(part[1], "format", fmt,
	    sizeof(fmt)) == 0)
		FUZZ_CHECK(json == (strcmp(fmt, "json") == 0));
	/* Deterministic: the same request asks for the same thing. */
	FUZZ_CHECK(http_wants_json(part[0], part[1], part[2]) == json);

	for (i = 0; i < 3; i++) {
		check_media_type(part[i], 64);
		check_media_type(part[i], 1);
		check_media_type(part[i], 2 + size % 16);
	}
	free(s);
	return 0;
}
