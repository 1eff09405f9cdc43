/*
 * reaper: run one command as a child subreaper, for the end-to-end tests.
 *
 *	reaper [-p pidfile] -- command [argument ...]
 *
 * PID 1 on the test machines reaps orphans only seconds late, so a detached
 * job that has finished lingers as a zombie and "kill -0" still succeeds on
 * it.  The tests therefore run the web server under this program:
 * prctl(PR_SET_CHILD_SUBREAPER) makes every orphan of the server's process
 * tree (the double-forked job supervisors, above all) our child, and we
 * reap each one as soon as it exits.
 *
 * SIGTERM, SIGINT and SIGHUP are forwarded to the command.  The handlers only
 * set flags; the main loop waits in sigsuspend() with those signals blocked
 * everywhere else, so no signal is lost between a check and the wait, and it
 * reaps with a WNOHANG loop because one SIGCHLD may stand for many children
 * (signals of one kind do not queue).
 *
 * With -p, the command's pid is written to pidfile (atomically: a temporary
 * file renamed over it) once it has been forked; the file is removed when
 * the command has exited.
 *
 * Exits with the command's exit status, or 128 + the signal number if a
 * signal killed it, as soon as the command has exited.  Orphans still running
 * at that moment are not waited for: the kernel hands them to the next
 * subreaper above us, or to init.
 */

#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t	got_chld;
static volatile sig_atomic_t	got_term;
static volatile sig_atomic_t	got_int;
static volatile sig_atomic_t	got_hup;

static const int	handled[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP };
#define NHANDLED	(sizeof(handled) / sizeof(handled[0]))

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGCHLD:
		got_chld = 1;
		break;
	case SIGTERM:
		got_term = 1;
		break;
	case SIGINT:
		got_int = 1;
		break;
	case SIGHUP:
		got_hup = 1;
		break;
	}
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: reaper [-p pidfile] -- command [argument ...]\n");
	exit(2);
}

/*
 * Writes pid to path through a temporary file renamed over it, so that a
 * reader never sees a partial number.  Returns 0, or -1 with errno set.
 */
static int
pidfile_write(const char *path, pid_t pid)
{
	char	 tmp[4096], num[32];
	int	 fd, len, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	len = snprintf(num, sizeof(num), "%ld\n", (long)pid);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		return -1;
	if (write(fd, num, len) != len) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved ? saved : EIO;
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * Reaps every child that has exited.  Returns 1 and sets *status when the
 * command was among them, else 0.
 */
static int
reap(pid_t cmd, int *status)
{
	pid_t	 pid;
	int	 st, found = 0;

	for (;;) {
		pid = waitpid(-1, &st, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		if (pid == cmd) {
			*status = st;
			found = 1;
		}
	}
	return found;
}

int
main(int argc, char *argv[])
{
	struct sigaction sa;
	sigset_t	 block, old;
	const char	*pidfile = NULL;
	pid_t		 cmd;
	size_t		 i;
	int		 ch, status = 0, done = 0;

	/* "+": stop at the first operand, so the command keeps its options. */
	while ((ch = getopt(argc, argv, "+p:")) != -1) {
		switch (ch) {
		case 'p':
			pidfile = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();

	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1) {
		perror("reaper: prctl PR_SET_CHILD_SUBREAPER");
		return 1;
	}

	sigemptyset(&block);
	for (i = 0; i < NHANDLED; i++)
		sigaddset(&block, handled[i]);
	if (sigprocmask(SIG_BLOCK, &block, &old) == -1) {
		perror("reaper: sigprocmask");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NHANDLED; i++) {
		if (sigaction(handled[i], &sa, NULL) == -1) {
			perror("reaper: sigaction");
			return 1;
		}
	}

	fflush(NULL);
	if ((cmd = fork()) == -1) {
		perror("reaper: fork");
		return 1;
	}
	if (cmd == 0) {
		/* The command starts with default dispositions, nothing masked. */
		sa.sa_handler = SIG_DFL;
		for (i = 0; i < NHANDLED; i++)
			sigaction(handled[i], &sa, NULL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "reaper: exec %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}

	if (pidfile != NULL && pidfile_write(pidfile, cmd) == -1)
		fprintf(stderr, "reaper: pidfile %s: %s\n", pidfile,
		    strerror(errno));

	/* Signals are blocked here; they are taken only inside sigsuspend(). */
	for (;;) {
		if (got_chld) {
			got_chld = 0;
			if (reap(cmd, &status))
				done = 1;
		}
		if (done)
			break;
		if (got_term) {
			got_term = 0;
			kill(cmd, SIGTERM);
		}
		if (got_int) {
			got_int = 0;
			kill(cmd, SIGINT);
		}
		if (got_hup) {
			got_hup = 0;
			kill(cmd, SIGHUP);
		}
		sigsuspend(&old);
	}

	/* Orphans that exited together with the command. */
	reap(cmd, &status);
	if (pidfile != NULL)
		unlink(pidfile);

	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}
