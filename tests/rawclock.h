/*
 * rawclock.h: the clock of the raw test clients (tests/rawhttp.c,
 * tests/fcgiraw.c), which are compiled alone, without the program's
 * objects.
 */
#ifndef RAWCLOCK_H
#define RAWCLOCK_H

#include <time.h>

/* Milliseconds on the monotonic clock, for deadlines. */
static inline long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
