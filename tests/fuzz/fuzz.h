/*
 * tests/fuzz/fuzz.h: what every libFuzzer harness shares.  A harness is
 * one LLVMFuzzerTestOneInput() per parser of app/ (each a pure function
 * of its buffer and length, so it can be called alone); it frees
 * everything it is given (LeakSanitizer runs) and checks, where that is
 * cheap, the promises the parser's comment makes.  A broken promise
 * aborts, so libFuzzer keeps the input as a crash like any other.
 */
#ifndef SPOOLCGI_FUZZ_H
#define SPOOLCGI_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * A copy of data in a buffer of exactly size bytes, so that AddressSanitizer
 * sees a read one byte past the end; NULL when size is 0 (the parsers take
 * (NULL, 0) as well as any empty buffer).  The caller frees it.
 */
static inline char *
fuzz_dup(const uint8_t *data, size_t size)
{
	char	*p;

	if (size == 0)
		return NULL;
	if ((p = malloc(size)) == NULL)
		abort();
	memcpy(p, data, size);
	return p;
}

/* A NUL-terminated copy of data, for the parsers that take C strings. */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char	*p;

	if ((p = malloc(size + 1)) == NULL)
		abort();
	memcpy(p, data, size);
	p[size] = '\0';
	return p;
}

/*
 * Strict UTF-8 (RFC 3629 4), written here independently of app/form.c so
 * the two can disagree.  Returns 1 if s (len bytes) is valid, else 0.
 */
static inline int
fuzz_utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n, k;
	uint32_t		 cp;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			n = 2;
			cp = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			n = 3;
			cp = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			n = 4;
			cp = p[i] & 0x07;
		} else
			return 0;
		if (len - i < n)
			return 0;
		for (k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
		    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}

/* Is the C string s, of which at most sz bytes are owned, terminated? */
static inline int
fuzz_terminated(const char *s, size_t sz)
{
	return memchr(s, '\0', sz) != NULL;
}

#endif /* SPOOLCGI_FUZZ_H */
