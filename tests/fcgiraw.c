/*
 * fcgiraw: talk FastCGI to one backend process, as a web server would,
 * and report how the process closes the connection.
 *
 *   fcgiraw [-b BYTES] [-t MS] SOCKET METHOD SCRIPT_NAME PATH_INFO
 *
 * Connects to the Unix socket SOCKET (one FastCGI process's, such as
 * lighttpd's "socket-0" of a bin-path handler), sends one responder
 * request (FastCGI 1.0: BEGIN_REQUEST, PARAMS, STDIN) and reads the
 * answer to its END_REQUEST.  It prints "A " and the answer's first line
 * ("A Status: 200 OK"), then one of:
 *
 *  - without -b: the request has no body, so the process has read all of
 *    its input.  The connection stays open, and a second request on a
 *    second connection must be answered within MS milliseconds (default
 *    1000): "B Status: ..." or "B none within MS ms".  A process that
 *    waits for the server to close the first connection answers late.
 *  - with -b: CONTENT_LENGTH says BYTES, and only the first 32 KiB are
 *    sent before the answer.  After the answer and the end of the stream,
 *    the rest is sent: "rest accepted" if the process still drains it
 *    (it closed after reading what it left unread), else "rest refused: "
 *    and the error (it closed with input unread, which over TCP is a
 *    reset that can destroy the answer in flight).
 *
 * Exit: 0 when it ran to a report, 1 on usage or connection errors.
 * No dependencies beyond POSIX.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "raw.h"

#define FCGI_BEGIN_REQUEST	1
#define FCGI_END_REQUEST	3
#define FCGI_PARAMS		4
#define FCGI_STDIN		5
#define FCGI_STDOUT		6
#define FIRST_BODY		32768

static const char	*sock_path, *method, *script, *path_info;
static long		 body_bytes = -1;

static void
usage(void)
{
	fprintf(stderr, "usage: fcgiraw [-b bytes] [-t ms] socket method "
	    "script_name path_info\n");
	exit(1);
}

/* One record of type t with n (< 65536) content bytes. */
static int
record(int s, int t, const void *p, size_t n)
{
	unsigned char	 h[8] = { 1, (unsigned char)t, 0, 1,
	    (unsigned char)(n >> 8), (unsigned char)n, 0, 0 };

	if (sendall(s, h, sizeof(h)) == -1)
		return -1;
	return n == 0 ? 0 : sendall(s, p, n);
}

/*
 * Append a name-value pair to b (size sz) at *off.  Both must be under
 * 128 bytes, the one-byte lengths of FastCGI 1.0 (section 3.4).
 */
static void
pair(unsigned char *b, size_t sz, size_t *off, const char *name,
    const char *value)
{
	size_t	 nl = strlen(name), vl = strlen(value);

	if (nl >= 128 || vl >= 128 || *off + 2 + nl + vl > sz) {
		fprintf(stderr, "fcgiraw: %s: a value of 128 bytes or more\n",
		    name);
		exit(1);
	}
	b[(*off)++] = (unsigned char)nl;
	b[(*off)++] = (unsigned char)vl;
	memcpy(b + *off, name, nl);
	memcpy(b + *off + nl, value, vl);
	*off += nl + vl;
}

/* Connect and send the request; with a body, its first part only. */
static int
send_request(void)
{
	static const unsigned char begin[8] = { 0, 1, 0 };	/* RESPONDER */
	static char	 body[FIRST_BODY];
	struct sockaddr_un sun;
	unsigned char	 p[2048];
	char		 uri[256], len[32];
	size_t		 off = 0, first;
	int		 s;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "fcgiraw: %s: path too long\n", sock_path);
		exit(1);
	}
	strcpy(sun.sun_path, sock_path);
	if ((s = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "fcgiraw: %s: %s\n", sock_path,
		    strerror(errno));
		exit(1);
	}
	snprintf(uri, sizeof(uri), "%s%s", script, path_info);
	pair(p, sizeof(p), &off, "REQUEST_METHOD", method);
	pair(p, sizeof(p), &off, "SCRIPT_NAME", script);
	pair(p, sizeof(p), &off, "PATH_INFO", path_info);
	pair(p, sizeof(p), &off, "REQUEST_URI", uri);
	pair(p, sizeof(p), &off, "QUERY_STRING", "");
	pair(p, sizeof(p), &off, "SERVER_PROTOCOL", "HTTP/1.1");
	pair(p, sizeof(p), &off, "SERVER_NAME", "127.0.0.1");
	pair(p, sizeof(p), &off, "SERVER_PORT", "80");
	pair(p, sizeof(p), &off, "HTTP_HOST", "127.0.0.1");
	pair(p, sizeof(p), &off, "REMOTE_ADDR", "127.0.0.1");
	pair(p, sizeof(p), &off, "HTTP_ACCEPT", "application/json");
	if (body_bytes >= 0) {
		snprintf(len, sizeof(len), "%ld", body_bytes);
		pair(p, sizeof(p), &off, "CONTENT_LENGTH", len);
		pair(p, sizeof(p), &off, "CONTENT_TYPE", "application/json");
	}
	if (record(s, FCGI_BEGIN_REQUEST, begin, sizeof(begin)) == -1 ||
	    record(s, FCGI_PARAMS, p, off) == -1 ||
	    record(s, FCGI_PARAMS, NULL, 0) == -1)
		goto fail;
	if (body_bytes > 0) {
		memset(body, ' ', sizeof(body));
		first = body_bytes < FIRST_BODY ? (size_t)body_bytes :
		    FIRST_BODY;
		for (off = 0; off < first; off += 8192)
			if (record(s, FCGI_STDIN, body + off, first - off < 8192 ?
			    first - off : 8192) == -1)
				goto fail;
	}
	if (body_bytes <= FIRST_BODY && record(s, FCGI_STDIN, NULL, 0) == -1)
		goto fail;
	return s;
fail:
	fprintf(stderr, "fcgiraw: sending the request: %s\n", strerror(errno));
	exit(1);
}

/* Read n bytes before deadline (ms).  Returns 0, or -1 at EOF/timeout. */
static int
get(int s, void *p, size_t n, long deadline)
{
	struct pollfd	 pfd = { s, POLLIN, 0 };
	char		*c = p;
	ssize_t		 r;
	long		 left;

	while (n > 0) {
		if ((left = deadline - now_ms()) <= 0 ||
		    poll(&pfd, 1, (int)left) <= 0)
			return -1;
		if ((r = read(s, c, n)) <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/*
 * Read records to the END_REQUEST, keeping the first line of the stdout
 * stream in line.  Returns 0, or -1 if it did not come before deadline.
 */
static int
answer(int s, char *line, size_t sz, long deadline)
{
	unsigned char	 h[8];
	static char	 c[65536 + 256];
	size_t		 n;

	line[0] = '\0';
	for (;;) {
		if (get(s, h, sizeof(h), deadline) == -1)
			return -1;
		n = ((size_t)h[4] << 8 | h[5]) + h[6];
		if (get(s, c, n, deadline) == -1)
			return -1;
		if (h[1] == FCGI_END_REQUEST)
			return 0;
		/* The first line is in the first record of the stream. */
		if (h[1] == FCGI_STDOUT && line[0] == '\0') {
			n -= h[6];
			if (n > sz - 1)
				n = sz - 1;
			memcpy(line, c, n);
			line[n] = '\0';
			line[strcspn(line, "\r\n")] = '\0';
		}
	}
}

/* After the answer, the end of the stream, then the rest of the body. */
static void
rest(int s, long deadline)
{
	static char	 body[8192];
	char		 c;
	long		 left;

	while (get(s, &c, 1, deadline) == 0)
		;
	if (now_ms() >= deadline) {
		printf("no end of the stream\n");
		return;
	}
	memset(body, ' ', sizeof(body));
	for (left = body_bytes - FIRST_BODY; left > 0; left -= 8192)
		if (record(s, FCGI_STDIN, body, left < 8192 ?
		    (size_t)left : 8192) == -1) {
			printf("rest refused: %s\n", strerror(errno));
			return;
		}
	if (record(s, FCGI_STDIN, NULL, 0) == -1)
		printf("rest refused: %s\n", strerror(errno));
	else
		printf("rest accepted\n");
}

int
main(int argc, char *argv[])
{
	char	 line[256];
	long	 ms = 1000, t0;
	int	 a, b, ch;

	while ((ch = getopt(argc, argv, "b:t:")) != -1) {
		switch (ch) {
		case 'b':
			body_bytes = atol(optarg);
			break;
		case 't':
			ms = atol(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 4 || ms <= 0)
		usage();
	sock_path = argv[optind];
	method = argv[optind + 1];
	script = argv[optind + 2];
	path_info = argv[optind + 3];
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	a = send_request();
	if (answer(a, line, sizeof(line), now_ms() + 10000) == -1) {
		printf("A no answer within 10 s\n");
		return 0;
	}
	printf("A %s\n", line);
	if (body_bytes > FIRST_BODY) {
		rest(a, now_ms() + 10000);
		close(a);
		return 0;
	}
	t0 = now_ms();
	b = send_request();
	if (answer(b, line, sizeof(line), t0 + ms) == -1)
		printf("B none within %ld ms\n", ms);
	else
		printf("B %s\n", line);
	close(b);
	close(a);
	return 0;
}
