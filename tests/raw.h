/*
 * raw.h: what the raw test clients (tests/rawhttp.c, tests/fcgiraw.c)
 * share.  Each is compiled alone, without the program's objects, so the
 * helpers are static inline.
 */
#ifndef RAW_H
#define RAW_H

#include <sys/socket.h>

#include <errno.h>
#include <time.h>

/* Milliseconds on the monotonic clock, for deadlines. */
static inline long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send n bytes; -1 (errno set) once the server has gone away. */
static inline int
sendall(int s, const void *buf, size_t n)
{
	const char	*p = buf;
	ssize_t		 w;

	while (n > 0) {
		w = send(s, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

#endif
