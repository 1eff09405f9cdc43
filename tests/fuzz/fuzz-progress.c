/*
 * tests/fuzz/fuzz-progress.c: job_progress_parse() on any line.
 *
 * The input is one line a task wrote to stderr, without its newline (it
 * may hold anything, NUL bytes included).  The message buffer is heap
 * memory of exactly msgsz bytes, and the line is parsed with the real
 * size, a tiny one and none, which must all give the same answer.  A
 * progress line gives 0..100 and a message that fits, holds no control
 * character but tab and newline, and stays valid UTF-8 when the line was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "fuzz.h"

static void
check_msg(const char *msg, size_t msgsz, int line_utf8)
{
	size_t	 i, n;

	FUZZ_CHECK(fuzz_terminated(msg, msgsz));
	n = strlen(msg);
	FUZZ_CHECK(n < msgsz);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)msg[i];

		FUZZ_CHECK(c >= 0x20 || c == '\t' || c == '\n');
		FUZZ_CHECK(c != 0x7f);
	}
	if (line_utf8)
		FUZZ_CHECK(fuzz_utf8_valid(msg, n));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*line, *msg, *small;
	size_t	 smallsz = 1 + size % 8;
	int	 pct, pct2, pct3, rc, rc2, rc3, utf8;

	line = fuzz_dup(data, size);
	utf8 = fuzz_utf8_valid(line, size);
	if ((msg = malloc(SPOOLCGI_MSG_MAX)) == NULL ||
	    (small = malloc(smallsz)) == NULL)
		abort();

	pct = pct2 = pct3 = -7;
	rc = job_progress_parse(line, size, &pct, msg, SPOOLCGI_MSG_MAX);
	rc2 = job_progress_parse(line, size, &pct2, small, smallsz);
	rc3 = job_progress_parse(line, size, &pct3, NULL, 0);
	FUZZ_CHECK(rc == 0 || rc == 1);
	FUZZ_CHECK(rc == rc2 && rc == rc3);
	if (rc == 1) {
		FUZZ_CHECK(size >= 9 && memcmp(line, "progress:", 9) == 0);
		FUZZ_CHECK(pct >= 0 && pct <= 100);
		FUZZ_CHECK(pct == pct2 && pct == pct3);
		check_msg(msg, SPOOLCGI_MSG_MAX, utf8);
		check_msg(small, smallsz, utf8);
		/* The short message is the start of the long one. */
		FUZZ_CHECK(strncmp(msg, small, strlen(small)) == 0);
	} else
		FUZZ_CHECK(pct == -7 && pct2 == -7 && pct3 == -7);

	free(small);
	free(msg);
	free(line);
	return 0;
}
