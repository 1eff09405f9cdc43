/*
 * A minimal TAP producer for the unit tests, read by automake's
 * tap-driver.sh.  Each test program includes it once.
 */
#ifndef SPOOLCGI_TAP_H
#define SPOOLCGI_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	tap_n;
static int	tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) do {					\
	const char *tap_g = (got), *tap_w = (want);			\
	int tap_r = (tap_g == NULL && tap_w == NULL) ||			\
	    (tap_g != NULL && tap_w != NULL && strcmp(tap_g, tap_w) == 0); \
	ok(tap_r, __VA_ARGS__);						\
	if (!tap_r)							\
		printf("#   got: \"%s\"\n#  want: \"%s\"\n",		\
		    tap_g ? tap_g : "(null)", tap_w ? tap_w : "(null)");	\
} while (0)
#define is_int(got, want, ...) do {					\
	long long tap_g = (got), tap_w = (want);			\
	ok(tap_g == tap_w, __VA_ARGS__);				\
	if (tap_g != tap_w)						\
		printf("#   got: %lld\n#  want: %lld\n", tap_g, tap_w);	\
} while (0)

static void __attribute__((format(printf, 4, 5)))
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;

	printf("%sok %d - ", pass ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
}

static int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif /* SPOOLCGI_TAP_H */
