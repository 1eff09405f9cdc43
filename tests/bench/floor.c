/*
 * floor: the least a durable job start can cost, the floor against which
 * tools/bench.sh measures spoolcgi's starts.  For every request it
 *
 *   1. reads the body,
 *   2. writes it to a new file in FLOOR_DIR/staging and fsyncs the file,
 *   3. fsyncs staging/ (the new name),
 *   4. renames the file into FLOOR_DIR/jobs and fsyncs jobs/ (the rename),
 *   5. double-forks and execs /bin/cat with the file as stdin and
 *      /dev/null as stdout and stderr, waiting only for the first child,
 *   6. answers 202 with the job's name.
 *
 * Three syncs before the answer, and nothing else: no status file, no
 * lock, no queue, no handoff.  A start that promises its job survives a
 * power cut cannot do less on a POSIX filesystem, so spoolcgi's start rate
 * is given as a ratio to this one.
 *
 *	gcc -O2 -o floor floor.c $(pkg-config --cflags --libs fcgi)
 *
 * Run it as a FastCGI backend (fd 0 a listen socket), e.g. lighttpd's
 * "bin-path", with FLOOR_DIR in its environment naming a directory it may
 * write; it creates staging/ and jobs/ there.  Bodies over FLOOR_BODY_MAX
 * are refused with 413.  It takes no arguments and has no CGI mode.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#define FLOOR_BODY_MAX	65536
#define FLOOR_NAME_MAX	64

static int	 floor_staging = -1;	/* FLOOR_DIR/staging */
static int	 floor_jobs = -1;	/* FLOOR_DIR/jobs */
static unsigned long floor_count;	/* starts by this process */

/*
 * Opens (creating if need be) the directory NAME inside the open directory
 * DIR.  Returns its descriptor, or -1 with errno set.
 */
static int
floor_open_dir(int dir, const char *name)
{
	if (mkdirat(dir, name, 0755) == -1 && errno != EEXIST)
		return -1;
	return openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/*
 * In the grandchild: fd hygiene, then /bin/cat on the job's file.  Never
 * returns.  The request socket and FastCGI's listen socket (fd 0) must not
 * reach the task, or it could hold the web server's connection open.
 */
static void
floor_exec_task(int fd)
{
	sigset_t	 none;
	int		 null;

	if (lseek(fd, 0, SEEK_SET) == -1 || dup2(fd, 0) == -1)
		_exit(127);
	if ((null = open("/dev/null", O_WRONLY)) == -1 ||
	    dup2(null, 1) == -1 || dup2(null, 2) == -1)
		_exit(127);
	if (close_range(3, ~0U, 0) == -1) {
		long	 i, max = sysconf(_SC_OPEN_MAX);

		for (i = 3; i < (max > 0 ? max : 1024); i++)
			close((int)i);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execl("/bin/cat", "cat", (char *)NULL);
	_exit(127);
}

/*
 * Writes LEN bytes of BODY as a new job and starts /bin/cat on it; NAME
 * receives the job's name.  Returns 0, or -1 with errno set.
 */
static int
floor_start(const char *body, size_t len, char *name, size_t namesz)
{
	struct timespec	 ts;
	size_t		 off;
	ssize_t		 n;
	pid_t		 pid;
	int		 fd, status, w, saved;

	clock_gettime(CLOCK_REALTIME, &ts);
	w = snprintf(name, namesz, "%lld.%09ld.%ld.%lu",
	    (long long)ts.tv_sec, ts.tv_nsec, (long)getpid(), floor_count++);
	if (w < 0 || (size_t)w >= namesz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = openat(floor_staging, name,
	    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd == -1)
		return -1;
	for (off = 0; off < len; off += (size_t)n) {
		if ((n = write(fd, body + off, len - off)) == -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			goto fail;
		}
	}
	if (fsync(fd) == -1 || fsync(floor_staging) == -1 ||
	    renameat(floor_staging, name, floor_jobs, name) == -1 ||
	    fsync(floor_jobs) == -1)
		goto fail;

	/* Double fork: the task is nobody's child here, so no zombie. */
	fflush(NULL);
	if ((pid = fork()) == -1)
		goto fail;
	if (pid == 0) {
		if (setsid() == -1)
			_exit(1);
		if ((pid = fork()) == -1)
			_exit(1);
		if (pid == 0)
			floor_exec_task(fd);
		_exit(0);
	}
	close(fd);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errno = ECHILD;
		return -1;
	}
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static void
floor_answer(FCGX_Stream *out, const char *status, const char *body)
{
	char	 head[160];
	int	 len = (int)strlen(body);

	/* FCGX_FPrintF has a printf of its own: format here instead. */
	snprintf(head, sizeof(head), "Status: %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %d\r\n\r\n", status, len);
	FCGX_PutS(head, out);
	FCGX_PutStr(body, len, out);
}

int
main(void)
{
	static char	 body[FLOOR_BODY_MAX + 1];
	FCGX_Request	 fr;
	const char	*dir;
	char		 name[FLOOR_NAME_MAX], reply[FLOOR_NAME_MAX + 16];
	size_t		 len;
	int		 top, n;

	if (FCGX_Init() != 0 || FCGX_IsCGI()) {
		fprintf(stderr, "floor: not started as a FastCGI backend "
		    "(fd 0 must be a listen socket)\n");
		return 1;
	}
	if ((dir = getenv("FLOOR_DIR")) == NULL || *dir != '/') {
		fprintf(stderr, "floor: FLOOR_DIR must name a directory\n");
		return 1;
	}
	if ((top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (floor_staging = floor_open_dir(top, "staging")) == -1 ||
	    (floor_jobs = floor_open_dir(top, "jobs")) == -1) {
		fprintf(stderr, "floor: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (FCGX_InitRequest(&fr, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&fr) >= 0) {
		len = 0;
		while (len <= FLOOR_BODY_MAX &&
		    (n = FCGX_GetStr(body + len,
		    (int)(FLOOR_BODY_MAX + 1 - len), fr.in)) > 0)
			len += (size_t)n;
		if (len > FLOOR_BODY_MAX)
			floor_answer(fr.out, "413 Content Too Large",
			    "{\"error\":\"body too large\"}");
		else if (floor_start(body, len, name, sizeof(name)) == -1) {
			fprintf(stderr, "floor: start: %s\n", strerror(errno));
			floor_answer(fr.out, "500 Internal Server Error",
			    "{\"error\":\"start failed\"}");
		} else {
			snprintf(reply, sizeof(reply), "{\"id\":\"%s\"}", name);
			floor_answer(fr.out, "202 Accepted", reply);
		}
		FCGX_Finish_r(&fr);
	}
	return 0;
}
