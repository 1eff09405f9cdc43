/*
 * rawhttp: send bytes that curl will not send, and print what comes back.
 *
 *   rawhttp [-c CHUNK] [-d MS] [-q] [-t SECONDS] PORT FILE
 *
 * Connects to 127.0.0.1:PORT and sends FILE byte for byte: a request line
 * with a bare CR or LF, a NUL in the path, a header line of any length, a
 * body shorter than its Content-Length.  Everything up to and including
 * the first blank line (CRLFCRLF, else the whole file) goes at once; the
 * rest in pieces of CHUNK bytes (default: all of it) with MS milliseconds
 * between them (a slow client).  -q closes the connection as soon as the
 * last byte is sent, without reading (a client that goes away).
 * Otherwise the write side stays open and the answer is read until the
 * server closes or SECONDS (default 10) pass, and copied to stdout.
 *
 * Writing stops quietly if the server has already answered and closed.
 * Exit: 0 when some answer arrived (or -q), 1 on usage or connection
 * errors, 2 when nothing arrived before the deadline or the close.
 * No dependencies beyond POSIX.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "raw.h"

static void
usage(void)
{
	fprintf(stderr, "usage: rawhttp [-c chunk] [-d ms] [-q] "
	    "[-t seconds] port file\n");
	exit(1);
}

/* Copy whatever the server has sent (without blocking); -1 at EOF/error. */
static int
drain(int s, size_t *got)
{
	char	buf[65536];
	ssize_t	n;

	for (;;) {
		n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			fwrite(buf, 1, (size_t)n, stdout);
			*got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -1;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == EINTR)
			continue;
		return -1;
	}
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in	 sin;
	struct stat		 sb;
	struct pollfd		 pfd;
	char			*req, *eoh;
	size_t			 len, head, off, chunk = 0, got = 0;
	long			 delay = 0, timeout = 10, deadline, left;
	int			 ch, fd, s, quit = 0, one = 1, closed = 0;

	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt(argc, argv, "c:d:qt:")) != -1)
		switch (ch) {
		case 'c': chunk = strtoul(optarg, NULL, 10); break;
		case 'd': delay = strtol(optarg, NULL, 10); break;
		case 'q': quit = 1; break;
		case 't': timeout = strtol(optarg, NULL, 10); break;
		default: usage();
		}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		usage();

	if ((fd = open(argv[1], O_RDONLY)) == -1 || fstat(fd, &sb) == -1) {
		perror(argv[1]);
		return 1;
	}
	len = (size_t)sb.st_size;
	if ((req = malloc(len + 1)) == NULL)
		return 1;
	for (off = 0; off < len; ) {
		ssize_t n = read(fd, req + off, len - off);

		if (n <= 0) {
			perror(argv[1]);
			return 1;
		}
		off += (size_t)n;
	}
	close(fd);
	req[len] = '\0';
	eoh = memmem(req, len, "\r\n\r\n", 4);
	head = eoh ? (size_t)(eoh - req) + 4 : len;
	if (chunk == 0)
		chunk = len;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(argv[0]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(s, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		perror("connect");
		return 1;
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	deadline = now_ms() + timeout * 1000;

	if (sendall(s, req, head) == -1)
		closed = 1;
	/* The request is sent from here on in pieces; freed at the end. */
	for (off = head; off < len && !closed; ) {
		size_t n = len - off < chunk ? len - off : chunk;

		if (delay > 0) {
			long until = now_ms() + delay;

			while ((left = until - now_ms()) > 0) {
				pfd.fd = s;
				pfd.events = POLLIN;
				if (poll(&pfd, 1, (int)left) > 0 &&
				    drain(s, &got) == -1) {
					closed = 1;
					break;
				}
			}
			if (closed)
				break;
		}
		if (sendall(s, req + off, n) == -1)
			closed = 1;
		off += n;
	}
	free(req);
	if (quit) {
		close(s);
		return 0;
	}
	while (!closed && (left = deadline - now_ms()) > 0) {
		pfd.fd = s;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) > 0 && drain(s, &got) == -1)
			closed = 1;
	}
	if (!closed)
		drain(s, &got);
	fflush(stdout);
	close(s);
	if (got == 0)
		fprintf(stderr, "rawhttp: no answer %s\n",
		    closed ? "before the close" : "before the deadline");
	return got > 0 ? 0 : 2;
}
