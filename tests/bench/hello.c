/*
 * hello: the baseline for tools/bench.sh, the least a libfcgi program can
 * do per request.  It answers every request with the same ~400-byte JSON
 * object, about the size of a job's status object, so that the only
 * difference from spoolcgi's poll path (GET {base}/jobs/{id}) is the work
 * spoolcgi does for it: routing, reading status.json, building the JSON.
 *
 *	gcc -O2 -o hello hello.c $(pkg-config --cflags --libs fcgi)
 *
 * Run it as a FastCGI backend (fd 0 a listen socket), e.g. lighttpd's
 * "bin-path"; it takes no arguments and has no CGI mode.
 *
 * With HELLO_ANSWER set to a file, it answers every request with that
 * file's bytes instead, verbatim (a CGI answer: "Status:" and the other
 * headers, an empty line, the body), read at the first request.  Given
 * the very answer a poll sends, it measures what sending that answer
 * costs the web server and libfcgi, apart from the work of making it.
 *
 * With HELLO_READ set as well, to a job's status file (or a symbolic link
 * to one, resolved at the first request), it also opens, reads and closes
 * that file at every request, by the path a poll uses (the name under the
 * spool's jobs directory, "ID/status.json"): the least a poll that reads
 * the job's state from disk can do.
 *
 * With HELLO_PLAIN_CLOSE set (to anything), a request whose input has
 * ended (a GET's empty stdin stream) is detached before it finishes, so
 * that libfcgi closes the connection plainly instead of shutting it down
 * and waiting for the server to close first: as spoolcgi closes one.
 * Without it, hello is libfcgi's plain loop, the reference.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

/* Shaped like a finished job's status object, as a poll would read. */
static const char hello_body[] =
    "{\"id\":\"0b7e4f5c-6a1d-4c2e-9f3a-5d8b7c6e1a20\",\"task\":\"bench\","
    "\"state\":\"succeeded\",\"progress\":100,\"message\":\"hello, world\","
    "\"queue_position\":null,\"created_at\":\"2026-01-01T00:00:00Z\","
    "\"started_at\":\"2026-01-01T00:00:00Z\","
    "\"finished_at\":\"2026-01-01T00:00:01Z\",\"error\":null,"
    "\"links\":{\"self\":\"/hello/jobs/0b7e4f5c-6a1d-4c2e-9f3a-5d8b7c6e1a20\","
    "\"result\":\"/hello/jobs/0b7e4f5c-6a1d-4c2e-9f3a-5d8b7c6e1a20/result\","
    "\"cancel\":\"/hello/jobs/0b7e4f5c-6a1d-4c2e-9f3a-5d8b7c6e1a20/cancel\"}}";

/* HELLO_ANSWER's file into answer (size sz).  Returns its length, or -1. */
static int
hello_answer(const char *path, char *answer, size_t sz)
{
	FILE	*f;
	size_t	 n;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		return -1;
	}
	n = fread(answer, 1, sz, f);
	fclose(f);
	if (n == 0 || n == sz) {
		fprintf(stderr, "hello: %s: empty or over %zu bytes\n", path,
		    sz - 1);
		return -1;
	}
	return (int)n;
}

/*
 * HELLO_READ's file: open the directory two levels above it into *dfd
 * and keep the rest (size sz) in name.  Returns 0, or -1.
 */
static int
hello_read_open(const char *path, int *dfd, char *name, size_t sz)
{
	char	 real[PATH_MAX], *a, *b;

	if (realpath(path, real) == NULL) {
		perror(path);
		return -1;
	}
	if ((b = strrchr(real, '/')) == NULL || b == real) {
		fprintf(stderr, "hello: %s: want DIR/ID/FILE\n", real);
		return -1;
	}
	*b = '\0';
	a = strrchr(real, '/');
	*b = '/';
	if (a == NULL || a == real || strlen(a + 1) >= sz) {
		fprintf(stderr, "hello: %s: want DIR/ID/FILE\n", real);
		return -1;
	}
	strcpy(name, a + 1);
	*a = '\0';
	if ((*dfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		perror(real);
		return -1;
	}
	return 0;
}

int
main(void)
{
	FCGX_Request	 fr;
	static char	 answer[16384];
	char		 head[160];
	const char	*body = hello_body, *file = getenv("HELLO_ANSWER");
	const char	*rd = getenv("HELLO_READ");
	int		 plain = getenv("HELLO_PLAIN_CLOSE") != NULL;
	static char	 st[16384];
	char		 name[PATH_MAX];
	int		 hlen, blen = (int)(sizeof(hello_body) - 1), dfd = -1, fd;

	if (FCGX_Init() != 0 || FCGX_IsCGI()) {
		fprintf(stderr, "hello: not started as a FastCGI backend "
		    "(fd 0 must be a listen socket)\n");
		return 1;
	}
	/* Formatted once: FCGX_FPrintF has its own printf, without %zu. */
	hlen = snprintf(head, sizeof(head), "Status: 200 OK\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %d\r\n\r\n", blen);
	if (hlen < 0 || (size_t)hlen >= sizeof(head))
		return 1;
	if (FCGX_InitRequest(&fr, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&fr) >= 0) {
		if (file != NULL && *file != '\0' && body != answer) {
			if ((blen = hello_answer(file, answer,
			    sizeof(answer))) == -1)
				return 1;
			body = answer;
			hlen = 0;
		}
		if (rd != NULL && *rd != '\0' && dfd == -1 &&
		    hello_read_open(rd, &dfd, name, sizeof(name)) == -1)
			return 1;
		if (dfd != -1) {
			if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW |
			    O_CLOEXEC)) == -1 || read(fd, st, sizeof(st)) <= 0) {
				perror(name);
				return 1;
			}
			close(fd);
		}
		if (hlen > 0)
			FCGX_PutStr(head, hlen, fr.out);
		FCGX_PutStr(body, blen, fr.out);
		if (plain && FCGX_GetChar(fr.in) == EOF)
			(void)FCGX_Detach(&fr);
		FCGX_Finish_r(&fr);
	}
	return 0;
}
