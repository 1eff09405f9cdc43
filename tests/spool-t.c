/* spool.c: ids, atomic creation, status files, the lock, results. */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"
#include "tap.h"

static char	 root[256];

static int
count_entries(const char *path)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
test_ids(void)
{
	char	 id[SPOOLCGI_ID_LEN + 1];
	int	 i, good = 1;

	ok(spool_id_check("2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11", 36),
	    "a v4 id");
	ok(!spool_id_check("2F1C0B9E-8D4E-4C53-9A61-0B7F3C9D2E11", 36),
	    "upper case refused");
	ok(!spool_id_check("2f1c0b9e-8d4e-1c53-9a61-0b7f3c9d2e11", 36),
	    "version 1 refused");
	ok(!spool_id_check("2f1c0b9e-8d4e-4c53-1a61-0b7f3c9d2e11", 36),
	    "wrong variant refused");
	ok(!spool_id_check("../../../../etc/passwd/aaaaaaaaaaaaaaa", 36),
	    "traversal refused");
	ok(!spool_id_check("2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e1", 35),
	    "short refused");
	ok(!spool_id_check("2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11\0", 37),
	    "NUL after refused");
	ok(!spool_id_check(NULL, 0), "NULL refused");
	for (i = 0; i < 1000; i++)
		if (spool_id_new(id) == -1 || !spool_id_check(id, strlen(id)))
			good = 0;
	ok(good, "1000 new ids all pass the check");
}

static void
test_create(struct spool *sp, struct jobstatus *st)
{
	struct jobstatus	 rd;
	char			 path[512];
	struct stat		 sb;

	memset(st, 0, sizeof(*st));
	ok(spool_id_new(st->id) == 0, "new id");
	strcpy(st->task, "demo");
	st->state = JOB_QUEUED;
	st->progress = -1;
	st->created_at = time(NULL);
	ok(spool_job_create(sp, st, "{\"x\":1}\n", 8) == 0, "job created");
	snprintf(path, sizeof(path), "%s/tmp", root);
	is_int(count_entries(path), 0, "nothing left in tmp/");
	snprintf(path, sizeof(path), "%s/jobs/%s/work", root, st->id);
	ok(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	    (sb.st_mode & 0777) == 0700, "work/ exists, private");
	snprintf(path, sizeof(path), "%s/jobs/%s/input.json", root, st->id);
	ok(stat(path, &sb) == 0 && sb.st_size == 8 &&
	    (sb.st_mode & 0777) == 0600, "input.json written, private");
	ok(spool_status_read(sp, st->id, &rd) == 0, "status read back");
	is_str(rd.id, st->id, "id");
	is_str(rd.task, "demo", "task");
	ok(rd.state == JOB_QUEUED && rd.progress == -1 &&
	    rd.created_at == st->created_at && rd.started_at == 0,
	    "state, progress, times");
	ok(spool_job_create(sp, st, "{}", 2) == -1, "the same id twice fails");
	ok(spool_status_read(sp, "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11", &rd) ==
	    -1 && errno == ENOENT, "an unknown job is ENOENT");
}

static void
test_status(struct spool *sp, const struct jobstatus *st0)
{
	struct jobstatus	 st = *st0, rd;
	char			 path[512];
	int			 dfd;

	ok((dfd = spool_job_open(sp, st.id)) >= 0, "job dir opens");
	st.state = JOB_RUNNING;
	st.progress = 33;
	strcpy(st.message, "a \"quoted\" message\twith tab");
	st.started_at = st.created_at + 1;
	ok(spool_status_write(dfd, &st, 0) == 0, "progress write");
	ok(spool_status_readat(dfd, &rd) == 0 && rd.progress == 33 &&
	    strcmp(rd.message, st.message) == 0, "progress read back");
	st.state = JOB_FAILED;
	strcpy(st.error_code, "exit");
	strcpy(st.error_message, "line 1\nline 2");
	st.finished_at = st.started_at + 5;
	ok(spool_status_write(dfd, &st, 1) == 0, "durable final write");
	ok(spool_status_read(sp, st.id, &rd) == 0 &&
	    rd.state == JOB_FAILED && strcmp(rd.error_code, "exit") == 0 &&
	    strcmp(rd.error_message, "line 1\nline 2") == 0 &&
	    rd.finished_at == st.finished_at, "final status read back");
	snprintf(path, sizeof(path), "%s/jobs/%s", root, st.id);
	is_int(count_entries(path), 5, "no temporary status file left "
	    "(input.json, lock, reserve, status.json, work)");
	close(dfd);
}

/* A job whose supervisor died reads as interrupted; a live one does not. */
static void
test_lock(struct spool *sp)
{
	struct jobstatus	 st, rd;
	int			 dfd, lfd, p[2], status;
	pid_t			 pid;
	char			 c;

	memset(&st, 0, sizeof(st));
	spool_id_new(st.id);
	strcpy(st.task, "demo");
	st.state = JOB_QUEUED;
	st.progress = -1;
	st.created_at = time(NULL);
	spool_job_create(sp, &st, "{}", 2);
	dfd = spool_job_open(sp, st.id);
	if (pipe(p) == -1)
		exit(1);
	if ((pid = fork()) == 0) {
		/* A stand-in supervisor: lock, say running, wait to die. */
		if ((lfd = spool_job_lock(dfd, 1)) == -1)
			_exit(1);
		st.state = JOB_RUNNING;
		st.started_at = time(NULL);
		spool_status_write(dfd, &st, 1);
		(void)write(p[1], "k", 1);
		pause();
		_exit(0);
	}
	close(p[1]);
	ok(read(p[0], &c, 1) == 1, "stand-in supervisor holds the lock");
	close(p[0]);
	ok(spool_job_lock(dfd, 1) == -1 && errno == EWOULDBLOCK,
	    "the lock is taken");
	ok(spool_job_check(sp, NULL, st.id, &rd) == 0 && rd.state == JOB_RUNNING,
	    "a live supervisor's job reads running");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ok(spool_job_check(sp, NULL, st.id, &rd) == 0 && rd.state == JOB_FAILED &&
	    strcmp(rd.error_code, "interrupted") == 0 && rd.finished_at > 0,
	    "after kill -9 it reads failed/interrupted");
	ok(spool_status_read(sp, st.id, &rd) == 0 && rd.state == JOB_FAILED,
	    "and that was recorded on disk");
	ok((lfd = spool_job_lock(dfd, 1)) >= 0, "the lock is free again");
	close(lfd);
	close(dfd);
}

static void
test_result(struct spool *sp, const struct jobstatus *st)
{
	struct taskfds	 t;
	struct stat	 sb, sb2;
	char		 etag[96], etag2[96], tail[256];
	int		 dfd, fd;

	dfd = spool_job_open(sp, st->id);
	ok(spool_result_open(sp, st->id, &sb) == -1 && errno == ENOENT,
	    "no result before commit");
	ok(spool_task_open(dfd, &t) == 0, "task descriptors open");
	ok(write(t.out, "abc\0def", 7) == 7, "task writes its result");
	ok(write(t.log, "one\ntwo\nthree\nfour\n", 19) == 19,
	    "task writes its log");
	ok(spool_result_commit(dfd, t.out) == 0, "result committed");
	ok((fd = spool_result_open(sp, st->id, &sb)) >= 0 &&
	    sb.st_size == 7, "result opens with its size");
	ok(spool_result_etag(&sb, etag, sizeof(etag)) == 0 &&
	    etag[0] == '"' && etag[strlen(etag) - 1] == '"', "strong ETag");
	fstat(fd, &sb2);
	spool_result_etag(&sb2, etag2, sizeof(etag2));
	is_str(etag2, etag, "ETag is stable");
	ok(spool_result_etag(&sb, etag, 4) == -1, "truncated ETag refused");
	close(fd);
	ok(spool_log_tail(dfd, tail, sizeof(tail), 2) == 0, "log tail");
	is_str(tail, "three\nfour", "the last two lines");
	ok(spool_log_tail(dfd, tail, sizeof(tail), 10) == 0 &&
	    strcmp(tail, "one\ntwo\nthree\nfour") == 0, "fewer lines than asked");
	close(t.in);
	close(t.out);
	close(t.log);
	close(t.work);
	close(dfd);
}

static void
test_misc(struct spool *sp)
{
	struct config	 c;
	char		 path[512], sub[512];
	int		 q, r;

	memset(&c, 0, sizeof(c));
	c.max_running = 2;
	ok(spool_counts(sp, &c, &q, &r) == 0 && q == 0 && r == 0,
	    "counts: nothing queued or running");
	ok(spool_free_bytes(sp) > 0, "free bytes");
	snprintf(path, sizeof(path), "%s/jobs", root);
	ok(spool_inside(path, root) == 1, "jobs/ is inside the spool");
	ok(spool_inside(root, path) == 0, "the spool is not inside jobs/");
	ok(spool_inside("/", "/") == 1, "/ inside /");
	snprintf(sub, sizeof(sub), "%s-sibling", root);
	mkdir(sub, 0700);
	ok(spool_inside(sub, root) == 0, "a name sharing the prefix is not "
	    "inside");
	rmdir(sub);
	snprintf(path, sizeof(path), "%s/tree/a/b", root);
	snprintf(sub, sizeof(sub), "%s/tree", root);
	mkdir(sub, 0700);
	snprintf(sub, sizeof(sub), "%s/tree/a", root);
	mkdir(sub, 0700);
	mkdir(path, 0700);
	ok(spool_remove_tree(sp->dirfd, "tree") == 0, "remove a tree");
	snprintf(sub, sizeof(sub), "%s/tree", root);
	ok(access(sub, F_OK) == -1 && errno == ENOENT, "and it is gone");
}

/* Queue order, slots, keys, removal, tombstones and the clean-up. */
static void
test_lifecycle(struct spool *sp)
{
	struct jobstatus	 a, b, c, rd;
	struct config		 cfg;
	struct qentry		*q;
	struct gcstats		 gs;
	size_t			 n;
	char			 oid[SPOOLCGI_ID_LEN + 1], path[512];
	unsigned long long	 oh;
	int			 s1, s2, s3, lfd, qd, rn;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_running = 2;
	cfg.keep_finished_seconds = 100;
	cfg.tombstone_seconds = 1000;
	memset(&a, 0, sizeof(a));
	strcpy(a.task, "demo");
	a.state = JOB_QUEUED;
	a.progress = -1;
	a.created_at = time(NULL);
	b = c = a;
	spool_id_new(a.id);
	spool_id_new(b.id);
	spool_id_new(c.id);
	spool_job_create(sp, &a, "{}", 2);
	spool_job_create(sp, &b, "{}", 2);
	spool_job_create(sp, &c, "{}", 2);
	b.queue_key = 1000;		/* b first, then c, then a */
	c.queue_key = 2000;
	ok(spool_queue_add(sp, &a) == 0 && a.queue_key > 2000 &&
	    spool_queue_add(sp, &c) == 0 && spool_queue_add(sp, &b) == 0,
	    "three jobs queued");
	{
		/* As handler_start does: the status carries its queue key. */
		int dfd;

		dfd = spool_job_open(sp, a.id);
		spool_status_write(dfd, &a, 1);
		close(dfd);
		dfd = spool_job_open(sp, c.id);
		spool_status_write(dfd, &c, 1);
		close(dfd);
	}
	ok(spool_queue_list(sp, &q, &n) == 0 && n == 3 &&
	    strcmp(q[0].id, b.id) == 0 && strcmp(q[1].id, c.id) == 0 &&
	    strcmp(q[2].id, a.id) == 0, "the queue lists first in, first out");
	free(q);
	is_int(spool_queue_position(sp, &c), 2, "queue position 2");
	ok(spool_queue_remove(sp, &b) == 0 && spool_queue_position(sp, &c) ==
	    1, "removing the head moves the next up");
	ok(spool_queue_remove(sp, &b) == 0, "removing twice is harmless");

	ok((s1 = spool_slot_take(sp, "g", 2)) >= 0, "slot 1 of 2");
	ok((s2 = spool_slot_take(sp, "g", 2)) >= 0, "slot 2 of 2");
	ok(spool_slot_take(sp, "g", 2) == -1 && errno == EWOULDBLOCK,
	    "no third slot");
	lfd = spool_dispatch_lock(sp);
	is_int(spool_slots_busy(sp, "g", 2), 2, "two slots busy");
	close(lfd);
	close(s1);
	ok((s3 = spool_slot_take(sp, "g", 2)) >= 0,
	    "a closed slot is free again (the kernel drops the lock)");
	close(s2);
	close(s3);
	ok(spool_counts(sp, &cfg, &qd, &rn) == 0 && qd == 2 && rn == 0,
	    "counts: 2 queued, none running");

	ok(spool_key_claim(sp, "key-1", a.id, 42, oid, &oh) == 0,
	    "a key is claimed");
	ok(spool_key_claim(sp, "key-1", b.id, 43, oid, &oh) == 1 &&
	    strcmp(oid, a.id) == 0 && oh == 42,
	    "a repeat finds the first job and its hash");

	ok(spool_cancel_requested(spool_job_open(sp, a.id)) == 0,
	    "no cancel asked");
	ok(spool_cancel_request(sp, a.id) == 0, "cancel asked");
	{
		int dfd = spool_job_open(sp, a.id);

		ok(spool_cancel_requested(dfd) == 1, "the supervisor sees it");
		close(dfd);
	}

	/* a finished long ago; b is final but recent; c stays queued. */
	{
		int dfd = spool_job_open(sp, a.id);

		a.state = JOB_SUCCEEDED;
		a.finished_at = time(NULL) - 500;
		spool_status_write(dfd, &a, 1);
		close(dfd);
		dfd = spool_job_open(sp, b.id);
		b.state = JOB_FAILED;
		b.finished_at = time(NULL);
		spool_status_write(dfd, &b, 1);
		close(dfd);
	}
	ok(spool_gc_due(sp, 300, time(NULL)) == 1, "gc is due at first");
	ok(spool_gc(sp, &cfg, time(NULL), &gs) == 0 && gs.expired == 1,
	    "gc removes the expired job");
	ok(spool_gc_due(sp, 300, time(NULL)) == 0, "and is not due again");
	ok(spool_status_read(sp, a.id, &rd) == -1 && errno == ENOENT &&
	    spool_gone(sp, a.id), "the expired job has a tombstone");
	ok(spool_status_read(sp, b.id, &rd) == 0, "the recent one stays");
	ok(!spool_gone(sp, b.id), "and has no tombstone");
	ok(spool_key_claim(sp, "key-1", b.id, 43, oid, &oh) == 0,
	    "a key whose job is gone can be claimed again");
	ok(spool_job_remove(sp, b.id, 0) == 0 &&
	    spool_status_read(sp, b.id, &rd) == -1 && !spool_gone(sp, b.id),
	    "remove without tombstone");
	snprintf(path, sizeof(path), "%s/tmp", root);
	is_int(count_entries(path), 0, "removal leaves nothing in tmp/");
	rn = spool_gc(sp, &cfg, time(NULL) + 2000, &gs);
	ok(rn == 0 && gs.tombstones >= 1 && !spool_gone(sp, a.id),
	    "tombstones go after tombstone_seconds");
	if (rn != 0 || gs.tombstones < 1)
		printf("# gc %d tombstones %d\n", rn, gs.tombstones);

	/* A queued job whose entry was lost gets a new one from gc. */
	spool_queue_remove(sp, &c);
	ok(spool_queue_position(sp, &c) == 0, "c lost its entry");
	ok(spool_gc(sp, &cfg, time(NULL) + 2000, &gs) == 0 &&
	    spool_queue_position(sp, &c) == 1, "gc queues it again");
}

/* Per-client admission and the size estimate. */
static void
test_clients(struct spool *sp)
{
	struct jobstatus	 st;
	int			 lfd, cfd, retry, i, rc;
	long long		 u;
	time_t			 now = time(NULL);

	for (i = 0; i < 2; i++) {
		memset(&st, 0, sizeof(st));
		spool_id_new(st.id);
		strcpy(st.task, "demo");
		st.state = JOB_QUEUED;
		st.progress = -1;
		spool_job_create(sp, &st, "{}", 2);
		rc = spool_client_admit(sp, "192.0.2.1", 2, 0, now, &retry,
		    &lfd, &cfd);
		ok(rc == 0, "client admitted (job %d)", i + 1);
		spool_client_done(lfd, cfd, st.id);
	}
	ok(spool_client_admit(sp, "192.0.2.1", 2, 0, now, &retry, &lfd,
	    &cfd) == 1 && retry > 0, "a third pending job is refused");
	ok(spool_client_admit(sp, "2001:db8::1", 2, 0, now, &retry, &lfd,
	    &cfd) == 0, "another client is admitted");
	spool_client_done(lfd, cfd, NULL);
	{
		int dfd = spool_job_open(sp, st.id);

		st.state = JOB_SUCCEEDED;
		spool_status_write(dfd, &st, 1);
		close(dfd);
	}
	ok(spool_client_admit(sp, "192.0.2.1", 2, 0, now, &retry, &lfd,
	    &cfd) == 0, "once a job finished, the client may start again");
	spool_client_done(lfd, cfd, NULL);

	for (i = 0; i < 3; i++) {
		rc = spool_client_admit(sp, "198.51.100.7", 0, 3, now, &retry,
		    &lfd, &cfd);
		spool_client_done(lfd, cfd, NULL);
	}
	ok(rc == 0, "three starts in a minute are admitted");
	ok(spool_client_admit(sp, "198.51.100.7", 0, 3, now + 10, &retry,
	    &lfd, &cfd) == 1 && retry == 50, "the fourth waits for the "
	    "minute to end (Retry-After 50)");
	ok(spool_client_admit(sp, "198.51.100.7", 0, 3, now + 61, &retry,
	    &lfd, &cfd) == 0, "a new minute admits again");
	spool_client_done(lfd, cfd, NULL);

	spool_usage_add(sp, 1000, 1);
	spool_usage_add(sp, 500, 0);
	spool_usage_add(sp, -200, 0);
	is_int(spool_usage(sp), 1300, "the size estimate adds up");
	u = spool_du(sp->dirfd, ".");
	ok(u > 0, "du of the spool");
}

int
main(void)
{
	struct spool		 sp;
	struct jobstatus	 st;
	char			 cmd[300];

	snprintf(root, sizeof(root), "/tmp/spool-t.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;
	strcat(root, "/spool");
	ok(spool_open(&sp, root) == 0, "spool opens and is created");
	test_ids();
	test_create(&sp, &st);
	test_status(&sp, &st);
	test_lock(&sp);
	test_result(&sp, &st);
	test_misc(&sp);
	test_lifecycle(&sp);
	test_clients(&sp);
	spool_close(&sp);
	root[strlen(root) - strlen("/spool")] = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
