/*
 * Processes: the detach that every background process of the program
 * goes through (the supervisor of a job, the clean-up), the descriptor
 * sweep and the signal reset of a child, and the search for what is left
 * of a job's processes.
 *
 * A FastCGI process's fd 0 is the web server's listen socket.  A child
 * that keeps it, even for an instant, can outlive its parent holding it:
 * the web server then finds the socket still answering, takes the backend
 * for a server it does not manage and never spawns it again.  So the first
 * act of every child made here is to let go of it.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

extern char **environ;

#define PROC_KILL_WAIT	64	/* killed processes waited for, at most */

/*
 * The signals whose disposition this program, or a web server before it,
 * may have changed: ignored dispositions survive exec, handled ones
 * become the default there.  Reset one by one, not all 64.
 */
static const int proc_signals[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGALRM, SIGTERM, SIGCHLD,
	SIGUSR1, SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU, SIGXFSZ
};

/* Restore default dispositions and an empty mask, for an exec. */
void
proc_signals_reset(void)
{
	sigset_t	 set;
	size_t		 i;

	for (i = 0; i < sizeof(proc_signals) / sizeof(proc_signals[0]); i++)
		(void)signal(proc_signals[i], SIG_DFL);
	sigemptyset(&set);
	(void)sigprocmask(SIG_SETMASK, &set, NULL);
}

/*
 * Move fd above 2, so that dup2 onto 0..2 cannot clobber it: the old
 * descriptor is closed, also when the move fails.  Returns the new
 * descriptor (fd itself when it was above 2), or -1 with errno set.
 */
int
proc_fd_high(int fd)
{
	int	 nfd, saved;

	if (fd > 2 || fd < 0)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	saved = errno;
	close(fd);
	errno = saved;
	return nfd;
}

/* Close every descriptor from lo up, except those in keep[]. */
void
proc_close_from(int lo, const int *keep, size_t nkeep)
{
	int	 fd, max, next;
	size_t	 i;

	max = (int)sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 1 << 20)
		max = 1 << 20;
	for (fd = lo; fd < max; fd = next + 1) {
		/* The next kept descriptor; close the range up to it. */
		next = max;
		for (i = 0; i < nkeep; i++)
			if (keep[i] >= fd && keep[i] < next)
				next = keep[i];
#ifdef HAVE_CLOSE_RANGE
		if (next > fd && close_range((unsigned)fd,
		    next == max ? ~0U : (unsigned)next - 1, 0) == 0)
			continue;
#endif
		for (; fd < next && fd < 65536; fd++)
			(void)close(fd);
	}
}

/*
 * The first act of a child: fd 0 and 1 (and 2 when null2) onto
 * /dev/null, every other descriptor closed but those in keep[] (which
 * must be above 2).  Whatever fails here, the listen socket is gone.
 */
void
proc_sanitize(const int *keep, size_t nkeep, int null2)
{
	int	 fd;

	(void)close(0);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		/* fd is 0: the lowest free descriptor. */
		(void)dup2(fd, 1);
		if (null2)
			(void)dup2(fd, 2);
	}
	proc_close_from(3, keep, nkeep);
}

/*
 * Run fn(arg) in a detached process: fork, setsid, fork; the first child
 * is reaped here at once, so no zombie is left and no SIGCHLD handler is
 * needed.  Both children let go of everything but stderr and keep[]
 * first.  fn must end with _exit.  Returns 0 once the grandchild exists,
 * or -1 (logged).
 */
int
proc_detach(void (*fn)(void *), void *arg, const int *keep, size_t nkeep)
{
	pid_t	 pid, w;
	int	 status;

	fflush(NULL);
	if ((pid = fork()) == -1) {
		log_warn("fork");
		return -1;
	}
	if (pid == 0) {
		proc_sanitize(keep, nkeep, 0);
		if (setsid() == -1)
			_exit(1);
		switch (fork()) {
		case -1:
			_exit(1);
		case 0:
			fn(arg);
			_exit(0);	/* NOTREACHED */
		default:
			_exit(0);
		}
	}
	while ((w = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		;
	if (w == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warnx("the detached process could not be started");
		return -1;
	}
	return 0;
}

/*
 * Start argv[0] with argv from this process, detached (its own session):
 * posix_spawn's child runs only the file actions before its exec.  0 and
 * 1 (and 2 when null2) are /dev/null; pass[i] (-1: none) becomes
 * descriptor 3 + i; everything else is closed.  The child's signals are
 * the defaults and its mask empty.  The caller ignores SIGCHLD, so no
 * child becomes a zombie.  Returns 0 once the program runs, or -1
 * (logged).
 */
static int
proc_spawn_here(char *const argv[], const int *pass, size_t npass, int null2)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 at;
	sigset_t			 def, none;
	int				 hi[8], rc = -1;
	size_t				 i;
	pid_t				 pid;

	if (npass > sizeof(hi) / sizeof(hi[0]))
		return -1;
	for (i = 0; i < npass; i++)
		hi[i] = -1;
	sigemptyset(&none);
	sigemptyset(&def);
	for (i = 0; i < sizeof(proc_signals) / sizeof(proc_signals[0]); i++)
		sigaddset(&def, proc_signals[i]);
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	if (posix_spawnattr_init(&at) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	if (posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) != 0 ||
	    posix_spawnattr_setsigdefault(&at, &def) != 0 ||
	    posix_spawnattr_setsigmask(&at, &none) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0) !=
	    0 || posix_spawn_file_actions_adddup2(&fa, 0, 1) != 0 ||
	    (null2 && posix_spawn_file_actions_adddup2(&fa, 0, 2) != 0)) {
		log_warnx("posix_spawn: the set-up for %s failed", argv[0]);
		goto done;
	}
	/* Above every target first, so that no dup2 clobbers a source. */
	for (i = 0; i < npass; i++)
		if (pass[i] != -1 && ((hi[i] = fcntl(pass[i], F_DUPFD_CLOEXEC,
		    64)) == -1 || posix_spawn_file_actions_adddup2(&fa, hi[i],
		    3 + (int)i) != 0)) {
			log_warn("posix_spawn: descriptor %d for %s", pass[i],
			    argv[0]);
			goto done;
		}
#ifdef __GLIBC__
	if (posix_spawn_file_actions_addclosefrom_np(&fa, 3 + (int)npass) != 0)
		goto done;
#endif
	if ((errno = posix_spawn(&pid, argv[0], &fa, &at, argv, environ)) != 0)
		log_warn("posix_spawn %s", argv[0]);
	else
		rc = 0;
done:
	if (rc == -1 && errno == 0)
		errno = EINVAL;
	for (i = 0; i < npass; i++)
		if (hi[i] != -1)
			close(hi[i]);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/*
 * Kill and reap every child of this process, and the children that come
 * to it while it does (as a child subreaper, it adopts what its
 * descendants orphan).  A child's pid cannot be reused before it is
 * reaped, so nothing but a child is ever hit.  Returns how many were
 * reaped, or -1 when the kernel cannot list them.
 */
int
proc_kill_children(void)
{
	char	 path[64], buf[4096], *p, *end;
	ssize_t	 n;
	pid_t	 pid;
	int	 fd, rounds, reaped = 0, any;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/children",
	    (long)getpid());
	for (rounds = 0; rounds < 64; rounds++) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			return -1;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0)
			return -1;
		buf[n] = '\0';
		for (any = 0, p = buf; *p != '\0'; p = end) {
			pid = (pid_t)strtol(p, &end, 10);
			if (end == p)
				break;
			if (pid > 0 && kill(pid, SIGKILL) == 0)
				any = 1;
		}
		/* Reap what is dead, adopted orphans included. */
		while ((pid = waitpid(-1, NULL, any ? 0 : WNOHANG)) > 0) {
			reaped++;
			any = 0;
		}
		if (n == 0)
			break;
	}
	return reaped;
}

/*
 * Leave the parent that spawned us: fork, and let the parent end at once,
 * so that this process is adopted by init (or a subreaper) as a detached
 * job has always been, and is no descendant of the web server's process
 * tree.  Descriptors and locks go with the child.  When fork fails, the
 * process simply stays where it is.
 */
void
proc_orphan(void)
{
	pid_t	 pid;

	if ((pid = fork()) > 0)
		_exit(0);
	if (pid == -1)
		log_warn("fork (staying a child of the spawner)");
}

/*
 * The spawner.  A child holds the FastCGI listen socket (fd 0) from its
 * creation until it closes it, and a web server that finds the socket of
 * a dead backend still held takes it for another server's and never
 * starts that backend again (lighttpd).  posix_spawn narrows that window
 * to the child's first instructions, which on a busy machine may still
 * wait to be scheduled.  So a FastCGI process creates every child
 * through one helper, started once at its own start-up with the socket
 * already gone: "spoolcgi -c CONFIG -- spawner", with the other end of a
 * socketpair as descriptor 3.  A request is one SOCK_SEQPACKET message:
 * null2, a byte saying which of three descriptors come with it
 * (SCM_RIGHTS), and argv as NUL-terminated strings; the answer is one
 * byte, 0 when the program runs.  The spawner ends when the FastCGI
 * process closes its end, which the kernel does when it dies.
 */
#define PROC_MSG_MAX	4096

/* Start the spawner.  Returns our end of its socket, or -1 (logged). */
int
proc_spawner_start(const char *self, const char *config)
{
	char	*av[6];
	int	 sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair for the spawner");
		return -1;
	}
	av[0] = (char *)self;
	av[1] = (char *)"-c";
	av[2] = (char *)config;
	av[3] = (char *)"--";
	av[4] = (char *)"spawner";
	av[5] = NULL;
	if (proc_spawn_here(av, &sv[1], 1, 0) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	return sv[0];
}

/*
 * Ask spawner (its socket) to start argv.  Returns 0; -1 (logged) when it
 * failed or did not answer; -2 (logged) when the request could not be
 * sent, so nothing was started.
 */
static int
proc_spawn_via(int spawner, char *const argv[], const int *pass,
    size_t npass, int null2)
{
	char		 msg[PROC_MSG_MAX], cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	size_t		 len = 2, i, n, nfd = 0;
	int		 fds[3];
	char		 ok;
	ssize_t		 r;

	msg[0] = (char)null2;
	msg[1] = 0;
	for (i = 0; i < npass && i < 3; i++)
		if (pass[i] != -1) {
			msg[1] |= (char)(1 << i);
			fds[nfd++] = pass[i];
		}
	for (i = 0; argv[i] != NULL; i++) {
		n = strlen(argv[i]) + 1;
		if (len + n >= sizeof(msg)) {
			log_warnx("spawner: the command is too long");
			return -1;
		}
		memcpy(msg + len, argv[i], n);
		len += n;
	}
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = msg;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfd > 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfd * sizeof(int));
	}
	while ((r = sendmsg(spawner, &mh, MSG_NOSIGNAL)) == -1 &&
	    errno == EINTR)
		;
	if (r == -1) {
		log_warn("spawner: send");
		/* Nothing was started: the caller may start it itself. */
		return -2;
	}
	while ((r = read(spawner, &ok, 1)) == -1 && errno == EINTR)
		;
	if (r != 1) {
		log_warnx("spawner: no answer");
		return -1;
	}
	return ok == 0 ? 0 : -1;
}

/*
 * The spawner's loop (descriptor fd, our end of the socketpair): start
 * what the FastCGI process asks, until it goes.  A request that inproc
 * (when not NULL) takes is started by it, from this process image
 * without an exec: it returns 0 once that runs, -1 when it failed, and
 * PROC_EXEC for a request that is not its own, which is exec'd as
 * always.  What it starts in a child is no child of anything that holds
 * the listen socket, and SIGCHLD, ignored here, leaves no zombie of it.
 * Never returns.
 */
void
proc_spawner_run(int fd, int (*inproc)(void *, char *const [],
    const int *), void *arg)
{
	char		 msg[PROC_MSG_MAX + 1], cbuf[CMSG_SPACE(3 * sizeof(int))];
	char		*av[64];
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	int		 got[3], pass[3], nfd, rc;
	size_t		 i, k, n;
	ssize_t		 r;
	char		 ok;

	signal(SIGCHLD, SIG_IGN);	/* what it starts is reaped at once */
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = msg;
		iov.iov_len = PROC_MSG_MAX;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		if ((r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC)) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (r == 0)
			_exit(0);	/* the FastCGI process is gone */
		msg[r] = '\0';
		nfd = 0;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_RIGHTS) {
				nfd = (int)((cm->cmsg_len - CMSG_LEN(0)) /
				    sizeof(int));
				if (nfd > 3)
					nfd = 3;
				memcpy(got, CMSG_DATA(cm), (size_t)nfd *
				    sizeof(int));
			}
		for (i = 0, k = 0; i < 3; i++)
			pass[i] = r >= 2 && (msg[1] & (1 << i)) &&
			    (int)k < nfd ? got[k++] : -1;
		for (n = 0, i = 2; i < (size_t)r && n < 63; i += strlen(msg +
		    i) + 1)
			av[n++] = msg + i;
		av[n] = NULL;
		rc = n > 0 && r >= 2 ? PROC_EXEC : -1;
		if (rc == PROC_EXEC && inproc != NULL)
			rc = inproc(arg, av, pass);
		if (rc == PROC_EXEC)
			rc = proc_spawn_here(av, pass, 3, msg[0]);
		for (i = 0; i < (size_t)nfd; i++)
			close(got[i]);
		ok = rc == 0 ? 0 : 1;
		if (write(fd, &ok, 1) != 1)
			_exit(1);
	}
}

/*
 * Start argv[0] with argv, detached, its descriptors as proc_spawn_here
 * says: through spawner (proc_spawner_start) when there is one, so that
 * no child of a process that holds the listen socket is ever made, or
 * from this process.  Returns 0 once the program runs, or -1 (logged).
 */
int
proc_spawn(int spawner, char *const argv[], const int *pass, size_t npass,
    int null2)
{
	int	 rc;

	/*
	 * A spawner that is gone (killed, out of memory) took nothing:
	 * start the program from here rather than not at all.  One that
	 * took the request and did not answer may have started it: no
	 * second try, which could run a job twice.
	 */
	if (spawner != -1 &&
	    (rc = proc_spawn_via(spawner, argv, pass, npass, null2)) != -2)
		return rc;
	return proc_spawn_here(argv, pass, npass, null2);
}

long long
proc_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Is pid a process that has not exited (neither gone nor a zombie)? */
static int
proc_running(pid_t pid)
{
	char	 path[64], buf[256], *p;
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return 0;
	return p[2] != 'Z' && p[2] != 'X';
}

/* Does the environment block of pid (via its pidfd's /proc) hold mark? */
static int
proc_has_mark(const char *pid, const char *mark, size_t mlen)
{
	char	 path[64], buf[16384];
	ssize_t	 n;
	size_t	 i, off = 0;
	int	 fd, found = 0;

	snprintf(path, sizeof(path), "/proc/%s/environ", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	/* NUL-separated "name=value" strings; a string may span reads. */
	while (!found && (n = read(fd, buf + off, sizeof(buf) - off)) > 0) {
		size_t len = off + (size_t)n, start = 0;

		for (i = 0; i < len; i++) {
			if (buf[i] != '\0')
				continue;
			if (i - start == mlen &&
			    memcmp(buf + start, mark, mlen) == 0) {
				found = 1;
				break;
			}
			start = i + 1;
		}
		off = len - start;
		if (off >= sizeof(buf))
			off = 0;	/* an overlong string: not ours */
		else
			memmove(buf, buf + start, off);
	}
	close(fd);
	return found;
}

/*
 * SIGKILL every process of this user whose environment holds name=value
 * (a job's SPOOLCGI_JOB_ID, which its task and everything the task starts
 * inherit): what is left of a job whose supervisor died, or that left its
 * process group.  A pid is signalled through a pidfd opened before its
 * environment is read, so a recycled pid is never hit.  Returns how many
 * were signalled.
 */
int
proc_kill_marked(const char *name, const char *value)
{
	char		 mark[256];
	struct dirent	*de;
	struct stat	 sb;
	struct pollfd	 dead[PROC_KILL_WAIT];
	pid_t		 killed[PROC_KILL_WAIT];
	DIR		*d;
	uid_t		 uid = geteuid();
	pid_t		 self = getpid();
	size_t		 mlen, nd = 0, nk = 0, i;
	long long	 deadline;
	int		 n = 0, pfd, round;

	if ((size_t)snprintf(mark, sizeof(mark), "%s=%s", name, value) >=
	    sizeof(mark))
		return 0;
	mlen = strlen(mark);
	/* Twice: a process may fork while the first pass runs. */
	for (round = 0; round < 2; round++) {
		if ((d = opendir("/proc")) == NULL)
			return n;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] < '1' || de->d_name[0] > '9')
				continue;
			if (atoi(de->d_name) == self ||
			    fstatat(dirfd(d), de->d_name, &sb, 0) == -1 ||
			    sb.st_uid != uid)
				continue;
			pfd = -1;
#ifdef SYS_pidfd_open
			pfd = (int)syscall(SYS_pidfd_open, atoi(de->d_name), 0);
			if (pfd == -1 && errno != ENOSYS)
				continue;	/* gone meanwhile */
#endif
			if (pfd != -1) {
				if (proc_has_mark(de->d_name, mark, mlen) &&
				    syscall(SYS_pidfd_send_signal, pfd, SIGKILL,
				    NULL, 0) == 0) {
					n++;
					/* Kept, to wait for it to be gone. */
					if (nd < PROC_KILL_WAIT) {
						dead[nd].fd = pfd;
						dead[nd++].events = POLLIN;
						continue;
					}
				}
				close(pfd);
			} else if (proc_has_mark(de->d_name, mark, mlen) &&
			    kill(atoi(de->d_name), SIGKILL) == 0) {
				/*
				 * No pidfds here (a kernel before 5.3): the
				 * pid was the mark's an instant ago.
				 */
				n++;
				if (nk < PROC_KILL_WAIT)
					killed[nk++] = atoi(de->d_name);
			}
		}
		closedir(d);
		if (n == 0)
			break;
	}
	/*
	 * SIGKILL takes effect a moment later: wait (boundedly) until each
	 * is gone, so that the caller's next step (a job read interrupted, a
	 * retry) never sees one alive.  A pidfd is readable once its
	 * process has exited.
	 */
	deadline = proc_now_ms() + 2000;
	for (i = 0; i < nd; i++) {
		while (poll(&dead[i], 1, (int)(deadline - proc_now_ms() > 0 ?
		    deadline - proc_now_ms() : 0)) == -1 && errno == EINTR)
			;
		close(dead[i].fd);
	}
	for (i = 0; i < nk; i++)
		while (proc_running(killed[i]) && proc_now_ms() < deadline)
			(void)poll(NULL, 0, 5);
	return n;
}
