/*
 * What the unit tests that run real jobs share: task scripts and tasks,
 * jobs submitted as a start submits them (staged, then handed to
 * lifecycle_submit, whose supervisors are real), files read back, and
 * waits for a job, a file, a line or a process.  Every wait polls with
 * a deadline in seconds; none sleeps for a fixed time.  Include after
 * extern.h and tap.h.  A test uses what it needs: the rest is marked
 * unused, so that -Wunused-function keeps quiet.
 */
#ifndef SPOOLCGI_FIXTURE_H
#define SPOOLCGI_FIXTURE_H

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FX_UNUSED	__attribute__((unused))

static struct store *fx_spool(char *, size_t, const char *, struct config *)
		    FX_UNUSED;
static char	*fx_script(const char *, const char *, const char *)
		    FX_UNUSED;
static void	 fx_task(struct task *, const char *, char *) FX_UNUSED;
static void	 fx_tasks_free(struct task *, size_t) FX_UNUSED;
static void	 fx_job_new(struct jobstatus *, const char *) FX_UNUSED;
static int	 fx_job_submit(struct store *, const struct config *,
		    struct jobstatus *, const char *, size_t) FX_UNUSED;
static int	 fx_wait_final(struct store *, const struct config *,
		    const char *, struct jobstatus *, int) FX_UNUSED;
static char	*fx_slurp(const char *) FX_UNUSED;
static int	 fx_wait_file(const char *, int) FX_UNUSED;
static int	 fx_wait_text(const char *, const char *, int) FX_UNUSED;
static int	 fx_gone(pid_t) FX_UNUSED;
static int	 fx_wait_gone(pid_t, int) FX_UNUSED;
static int	 fx_entries(const char *) FX_UNUSED;

/* The poll between two looks of a wait, in milliseconds. */
#define FX_NAP_MS	20

/*
 * Make the test's own directory, /tmp/NAME.XXXXXX, into root (rootsz
 * bytes), and open a store at root/spool, which cfg->spool then names.
 * Returns the store; bails out of the test when either cannot be made.
 */
static struct store *
fx_spool(char *root, size_t rootsz, const char *name, struct config *cfg)
{
	static char	 spool[512];
	struct store	*sp;

	if ((size_t)snprintf(root, rootsz, "/tmp/%s.XXXXXX", name) >=
	    rootsz || mkdtemp(root) == NULL ||
	    (size_t)snprintf(spool, sizeof(spool), "%s/spool", root) >=
	    sizeof(spool) || (sp = store_open(spool)) == NULL) {
		printf("Bail out! no spool under /tmp for %s\n", name);
		exit(1);
	}
	cfg->spool = spool;
	/*
	 * The configuration's own defaults, not zero: the first dispatch
	 * after a boot runs the recovery's clean-up, in whichever process
	 * dispatches first (a supervisor, once starts go straight to one),
	 * and with zero it would expire a job the test has yet to read.
	 */
	cfg->keep_finished_seconds = 86400;
	cfg->tombstone_seconds = 86400;
	return sp;
}

/*
 * Write the shell script body as dir/name, executable.  Returns its
 * path (allocated); bails out of the test when it cannot.
 */
static char *
fx_script(const char *dir, const char *name, const char *body)
{
	char	 path[512];
	FILE	*f;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path) || (f = fopen(path, "w")) == NULL) {
		printf("Bail out! cannot write %s/%s\n", dir, name);
		exit(1);
	}
	fprintf(f, "#!/bin/sh\n%s", body);
	fclose(f);
	chmod(path, 0755);
	return strdup(path);
}

/* A task named name that runs cmd alone, with a text/plain result of up
 * to 1 MiB; the caller sets the rest. */
static void
fx_task(struct task *t, const char *name, char *cmd)
{
	memset(t, 0, sizeof(*t));
	t->name = (char *)name;
	t->title = (char *)name;
	t->command = calloc(2, sizeof(char *));
	t->command[0] = cmd;
	t->result_type = (char *)"text/plain";
	t->max_result_bytes = 1 << 20;
}

/* Free what fx_task and the test allocated for n tasks: each one's
 * command and its notifier, when it has one. */
static void
fx_tasks_free(struct task *t, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(t[i].command[0]);
		free(t[i].command);
		if (t[i].notify != NULL)
			free(t[i].notify[0]);
		free(t[i].notify);
	}
}

/* A new job of task, queued, with a fresh id, as a start makes it. */
static void
fx_job_new(struct jobstatus *st, const char *task)
{
	memset(st, 0, sizeof(*st));
	job_id_new(st->id);
	snprintf(st->task, sizeof(st->task), "%s", task);
	st->state = JOB_QUEUED;
	st->progress = -1;
	st->created_at = time(NULL);
}

/*
 * Stage the job st (no upload) and submit it with input, without an
 * idempotency key.  Returns lifecycle_submit's answer, or LC_ERR when
 * the staging failed.
 */
static int
fx_job_submit(struct store *sp, const struct config *cfg,
    struct jobstatus *st, const char *input, size_t len)
{
	struct submit	 sub;
	int		 fd;

	memset(&sub, 0, sizeof(sub));
	if ((fd = store_stage(sp, st->id)) == -1)
		return LC_ERR;
	close(fd);
	sub.key = "";
	return lifecycle_submit(sp, cfg, st, input, len, &sub);
}

/* Read job id into st until it is final, for at most secs seconds.
 * Returns 0, or -1 at the deadline. */
static int
fx_wait_final(struct store *sp, const struct config *cfg, const char *id,
    struct jobstatus *st, int secs)
{
	time_t	 deadline = time(NULL) + secs;

	while (time(NULL) <= deadline) {
		if (lifecycle_read(sp, cfg, id, st) == LC_OK &&
		    job_state_final(st->state))
			return 0;
		poll(NULL, 0, FX_NAP_MS);
	}
	return -1;
}

/* The first 8 KiB of the file at path, in a static buffer; "" when it
 * cannot be read. */
static char *
fx_slurp(const char *path)
{
	static char	 buf[8192];
	ssize_t		 n;
	int		 fd;

	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY)) == -1)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* Wait until path exists, for at most secs seconds.  Returns 0, or -1. */
static int
fx_wait_file(const char *path, int secs)
{
	time_t	 deadline = time(NULL) + secs;

	while (time(NULL) <= deadline) {
		if (access(path, F_OK) == 0)
			return 0;
		poll(NULL, 0, FX_NAP_MS);
	}
	return -1;
}

/* Wait until the file at path holds text, for at most secs seconds.
 * Returns 0, or -1. */
static int
fx_wait_text(const char *path, const char *text, int secs)
{
	time_t	 deadline = time(NULL) + secs;

	while (time(NULL) <= deadline) {
		if (strstr(fx_slurp(path), text) != NULL)
			return 0;
		poll(NULL, 0, FX_NAP_MS);
	}
	return -1;
}

/*
 * Is pid gone: no such process, or a zombie (dead, waiting for its
 * reaper, which is no process of ours, and PID 1 may reap late)?
 */
static int
fx_gone(pid_t pid)
{
	char	 path[64], buf[512], *p;
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY)) == -1)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return 1;
	return p[2] == 'Z' || p[2] == 'X';
}

/* Wait until pid is gone, for at most secs seconds.  Returns 0, or -1. */
static int
fx_wait_gone(pid_t pid, int secs)
{
	time_t	 deadline = time(NULL) + secs;

	while (time(NULL) <= deadline) {
		if (fx_gone(pid))
			return 0;
		poll(NULL, 0, FX_NAP_MS);
	}
	return -1;
}

/* How many entries the directory path holds, dot files aside; -1 when
 * it cannot be read. */
static int
fx_entries(const char *path)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

#endif /* SPOOLCGI_FIXTURE_H */
