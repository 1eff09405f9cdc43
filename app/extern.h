/*
 * spoolcgi: every cross-file type and prototype, grouped by the file that
 * implements it.  A reader finds a function's home from this header alone.
 */
#ifndef SPOOLCGI_EXTERN_H
#define SPOOLCGI_EXTERN_H

#include <sys/types.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SPOOLCGI_ID_LEN		36	/* canonical lower-case UUID */
#define SPOOLCGI_NAME_MAX	64	/* task and field names */
#define SPOOLCGI_MSG_MAX	256	/* progress message */
#define SPOOLCGI_ERRMSG_MAX	1024	/* error.message of a failed job */
#define SPOOLCGI_OWNER_LEN	32	/* hex: the hash an owner is kept as */

/*
 * A refusal: what a parser or validator found wrong with a request.  The
 * handler turns it into one 4xx answer (README "How a request flows").  Parsers fill it
 * and never log: they are pure functions of their input.
 */
struct refusal {
	int		 status;		/* 400, 413, 415, ... */
	char		 code[32];		/* "invalid_field", ... */
	char		 field[SPOOLCGI_NAME_MAX + 1];	/* "" when none */
	char		 message[256];
};

/* buf.c */
struct buf {
	char		*data;		/* NUL-terminated when len > 0 */
	size_t		 len;
	size_t		 cap;
	char		*space;		/* buf_on's, not ours to free */
};
int		 buf_append_grow(struct buf *, const void *, size_t);

/*
 * Start b in the caller's sz bytes at space (sz > 0), which must outlive
 * it: an answer's head and a status object fit, so the poll path needs no
 * malloc and free of its own.  A buffer that outgrows them moves to the
 * heap; buf_free frees only that.
 */
static inline void
buf_on(struct buf *b, char *space, size_t sz)
{
	b->data = b->space = space;
	b->len = 0;
	b->cap = sz;
	space[0] = '\0';
}

/*
 * Append len bytes.  Returns 0, or -1 with errno set.  Inline: an answer
 * is built of dozens of small pieces, most of them literals whose copy
 * the compiler then does in place, and the poll path is measured against
 * a hello-world program (README "Performance").
 */
static inline int
buf_append(struct buf *b, const void *p, size_t len)
{
	/* Room for len bytes and the NUL; a buffer never used has none. */
	if (b->cap - b->len <= len)
		return buf_append_grow(b, p, len);
	if (len > 0)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

static inline int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/* A string literal, its length known: no strlen on the answer's path. */
#define buf_lit(b, s)	buf_append((b),  s, sizeof(s) - 1)
int		 buf_putint(struct buf *, long long);
int		 hex_value(int);
int		 is_tchar(int);
int		 buf_printf(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
int		 buf_html_escape(struct buf *, const char *, size_t);
int		 buf_utf8_clean(struct buf *, const char *, size_t);
void		 buf_reset(struct buf *);
void		 buf_free(struct buf *);
void		 refuse(struct refusal *, int, const char *, const char *,
		    const char *, ...) __attribute__((format(printf, 5, 6)));
size_t		 utf8_seq(const char *, size_t, unsigned long *);
int		 utf8_valid(const char *, size_t);
int		 host_valid(const char *, size_t);
int		 url_path_char(int);
void		 json_names(const char *, size_t,
		    void (*)(void *, const char *, size_t, int), void *);

/* log.c */
void		 log_init(const char *);
void		 log_on_fatal(void (*)(void));
void		 log_warn(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
void		 fatalx(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
const char	*log_safe(char *, size_t, const char *, size_t);

/* config.c */
enum field_type {
	FIELD_TEXT,
	FIELD_TEXTAREA,
	FIELD_NUMBER,
	FIELD_SELECT
};

struct field {
	char		*name;
	char		*label;		/* defaults to the name */
	enum field_type	 type;		/* default FIELD_TEXT */
	int		 required;	/* default 0 */
	size_t		 max_bytes;	/* default CONFIG_FIELD_MAX_BYTES */
	char		**options;	/* FIELD_SELECT: the allowed values */
	size_t		 noptions;
	int		 has_min, has_max;	/* FIELD_NUMBER bounds */
	double		 min, max;
};

struct filespec {
	char		*name;
	char		*label;
	int		 required;
	size_t		 max_bytes;
};

struct task {
	char		*name;
	char		*title;		/* defaults to the name */
	char		*description;	/* may be NULL */
	char		**command;	/* NULL-terminated argv; [0] absolute */
	struct field	*fields;	/* in the order of the file */
	size_t		 nfields;
	struct filespec	*files;
	size_t		 nfiles;
	long		 timeout_seconds;	/* 0: none */
	int		 max_running;		/* 0: only the global limit */
	int		 retries;
	char		*result_type;
	size_t		 max_result_bytes;
	char		*form_template;		/* in "templates", or NULL */
	char		*result_template;	/* in "templates", or NULL */
	char		*result_filename;	/* a template, or NULL */
	char		*send_result;	/* NULL: the configuration's */
	int		 log;		/* the log is shown (default 1) */
	char		**notify;	/* argv run after the end, or NULL */
};

struct proxy {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];
	int		 bits;		/* prefix length */
};

struct config {
	char		*path;		/* the file it was read from */
	char		*spool;		/* absolute */
	char		*templates;	/* absolute; NULL: the built-in ones */
	char		*document_root;	/* optional, absolute; may be NULL */
	int		 max_running;
	int		 max_queued;
	size_t		 max_body_bytes;
	long		 keep_finished_seconds;
	long		 tombstone_seconds;
	long		 gc_interval_seconds;
	int		 kill_grace_seconds;
	int		 max_wait_seconds;	/* cap of Prefer: wait */
	int		 drain;		/* refuse new jobs */
	int		 allow_root;	/* run even as root */
	char		**launcher;	/* argv before each supervisor, or NULL */
	/*
	 * Not from the file: the program to exec for a supervisor or a
	 * clean-up (set by main() to the running binary), or NULL to fork
	 * them from this process image (the unit tests).
	 */
	const char	*self;
	int		 spawner;	/* socket to the spawner, or -1 */
	/*
	 * Not from the file: this process holds no listen socket (a
	 * supervisor, the spawner), so a supervisor it starts without a
	 * launcher is forked from it rather than exec'd: no loader, no
	 * second parse of this file.
	 */
	int		 forks;
	int		 max_jobs_per_client;	/* 0: no limit */
	int		 client_starts_per_minute;	/* 0: no limit */
	struct proxy	*proxies;	/* trusted for forwarding headers */
	size_t		 nproxies;
	char		*public_url;	/* absolute {base}, or NULL */
	char		**allowed_origins;	/* may post from another site */
	size_t		 nallowed_origins;
	long long	 min_free_bytes;
	long long	 max_spool_bytes;	/* 0: no limit */
	char		*send_result;	/* "spoolcgi", "x-sendfile", ... */
	char		*send_result_prefix;	/* x-accel-redirect's location */
	char		**notify;	/* the tasks' default notifier, or NULL */
	long		 notify_timeout_seconds;
	char		*database;	/* libpq connection string, or NULL */
	char		*metrics_token;	/* GET {base}/metrics: Bearer, or NULL */
	struct proxy	*metrics_allow;	/* and/or these addresses */
	size_t		 nmetrics_allow;
	struct task	*tasks;		/* in the order of the file */
	size_t		 ntasks;
};

#define CONFIG_FIELD_MAX_BYTES	65536
#define CONFIG_ENV		"SPOOLCGI_CONFIG"
#define CONFIG_DEFAULT_NAME	".htspoolcgi.json"

int		 config_parse(struct config *, const char *, size_t,
		    const char *, char *, size_t);
int		 config_load(struct config *, const char *, char *, size_t);
int		 config_check_programs(const struct config *,
		    const struct task *, char *, size_t);
void		 config_free(struct config *);
const struct task *config_task(const struct config *, const char *);
const struct field *task_field(const struct task *, const char *);
const char	*config_default_path(char *, size_t);
const char	*field_type_name(enum field_type);
int		 config_render_keys(struct buf *);

/* route.c */
enum method {
	METHOD_GET,
	METHOD_HEAD,
	METHOD_POST,
	METHOD_DELETE,
	METHOD_OTHER
};

enum route_id {
	ROUTE_NONE,		/* no such path: 404 */
	ROUTE_ROOT,		/* {base} alone: POST starts, GET ?job= reads */
	ROUTE_JOBS,		/* {base}/jobs */
	ROUTE_JOB,		/* {base}/jobs/{id} */
	ROUTE_JOB_RESULT,	/* {base}/jobs/{id}/result */
	ROUTE_JOB_CANCEL,	/* {base}/jobs/{id}/cancel */
	ROUTE_JOB_LOG,		/* {base}/jobs/{id}/log */
	ROUTE_JOB_RETRY,	/* {base}/jobs/{id}/retry */
	ROUTE_TASKS,		/* {base}/tasks */
	ROUTE_HEALTH,		/* {base}/health */
	ROUTE_METRICS,		/* {base}/metrics */
	ROUTE_STATIC		/* {base}/static/{name}: the browser client */
};

struct route {
	enum route_id	 id;
	int		 bad_id;	/* a job path whose id is malformed */
	char		 job[SPOOLCGI_ID_LEN + 1];	/* "" when none */
	char		 asset[64];	/* ROUTE_STATIC: the file's name */
};

enum method	 route_method(const char *);
int		 route_parse(struct route *, const char *, size_t);
int		 route_allows(enum route_id, enum method);
const char	*route_allow_header(enum route_id);
const char	*route_job_suffix(enum route_id);
int		 route_url(char *, size_t, const char *, enum route_id,
		    const char *);
int		 route_query_param(const char *, const char *, char *, size_t);

/* form.c */
struct kv {
	char		*name;
	char		*value;		/* NUL-terminated, no NUL inside */
	size_t		 len;
};

struct form {
	struct kv	*kv;
	size_t		 n;
};

int		 form_parse_urlencoded(struct form *, const char *, size_t,
		    struct refusal *);
int		 form_parse_json(struct form *, const char *, size_t,
		    struct refusal *);
int		 form_add(struct form *, const char *, const char *, size_t,
		    struct refusal *);
int		 form_validate(const struct form *, const struct config *,
		    const struct task **, struct refusal *);
const char	*form_get(const struct form *, const char *);
void		 form_free(struct form *);
char		*form_pct_decode(const char *, size_t, size_t *);

/* multipart.c */
#define MP_BOUNDARY_MAX	70	/* RFC 2046 5.1.1 */
#define MP_HEADER_MAX	8192	/* header bytes of one part, CRLFs counted */
#define MP_HEADERS_MAX	16	/* header lines of one part */
#define MP_PARTS_MAX	256	/* parts of one body */
#define MP_CTYPE_MAX	255	/* bytes of a part's Content-Type */

/*
 * What the parser tells its caller.  Each returns 0 to go on, or -1 to
 * stop the parse, having filled the caller's refusal (reached through
 * arg) itself.  The strings of part_begin live in the parser and are
 * valid during the call only; filename is NULL for a plain field.
 */
struct mp_callbacks {
	int	(*part_begin)(void *, const char *, const char *,
		    const char *);
	int	(*part_data)(void *, const char *, size_t);
	int	(*part_end)(void *);
};

/* A push parser; the members are multipart.c's own.  No allocation. */
struct mp_parser {
	const struct mp_callbacks *cb;
	void		*arg;
	int		 state;
	int		 fed;		/* a byte was seen */
	int		 inpart;	/* part_begin called, part_end not */
	char		 delim[MP_BOUNDARY_MAX + 5];	/* CRLF "--" boundary */
	size_t		 dlen;
	size_t		 match;		/* bytes of delim matched, held back */
	size_t		 parts;
	unsigned int	 seen;		/* headers of this part, MP_SEEN_* */
	size_t		 nlines;
	size_t		 htotal;	/* header bytes of this part */
	size_t		 hlen;		/* bytes used in hbuf */
	size_t		 hline;		/* start of the current line in hbuf */
	size_t		 name, filename, ctype;	/* offsets in hbuf */
	char		 hbuf[MP_HEADER_MAX + 1];
};

int		 mp_boundary(const char *, char *, size_t, struct refusal *);
int		 mp_init(struct mp_parser *, const char *,
		    const struct mp_callbacks *, void *);
int		 mp_feed(struct mp_parser *, const char *, size_t,
		    struct refusal *);
int		 mp_finish(struct mp_parser *, struct refusal *);
int		 mp_safe_filename(const char *, char *, size_t);

/* upload.c */
#define UPLOAD_FILES_MAX	16

struct upfile {
	char		 field[SPOOLCGI_NAME_MAX + 1];	/* the form's name */
	char		 path[SPOOLCGI_NAME_MAX + 16];	/* in work/ */
	char		 filename[256];	/* the browser's, for display */
	char		 type[MP_CTYPE_MAX + 1];
	size_t		 size;
};

struct uploads {
	struct upfile	 files[UPLOAD_FILES_MAX];
	size_t		 n;
};

struct json_object;
struct req;
int		 upload_read(struct req *, const char *, size_t, int, size_t,
		    struct form *, struct uploads *, struct refusal *);
int		 upload_check(struct uploads *, const struct task *, int,
		    struct refusal *);
void		 upload_json(struct json_object *, const struct uploads *);

/* tmpl.c */
struct tmpl_var {
	const char	*name;
	const char	*value;		/* NULL: absent (false in a section) */
};

int		 tmpl_render(struct buf *, const char *, size_t,
		    const struct tmpl_var *, size_t, char *, size_t);
int		 tmpl_check(const char *, size_t, char *, size_t);
int		 tmpl_load(const char *, char *, size_t);
int		 tmpl_load_extra(const char *, const char *, char *, size_t);
const char	*tmpl_get(const char *, size_t *);

/* templates.c, generated by tools/embed.sh from templates/ */
struct tmpl_file {
	const char	*name;		/* "job-progress.html" */
	const char	*text;
};
extern const struct tmpl_file	tmpl_builtin[];
extern const size_t		tmpl_nbuiltin;

/* static.c, generated by tools/embed.sh from htdocs/spoolcgi.js */
extern const struct tmpl_file	static_builtin[];
extern const size_t		static_nbuiltin;

/* job.c */
enum job_state {
	JOB_QUEUED,
	JOB_RUNNING,
	JOB_SUCCEEDED,
	JOB_FAILED,
	JOB_CANCELLED
};

struct jobstatus {
	char		 id[SPOOLCGI_ID_LEN + 1];
	char		 task[SPOOLCGI_NAME_MAX + 1];
	enum job_state	 state;
	int		 progress;	/* 0..100, or -1: unknown */
	char		 message[SPOOLCGI_MSG_MAX];
	time_t		 created_at;	/* 0: null */
	time_t		 started_at;
	time_t		 finished_at;
	int		 queue_position;	/* 0: null; computed, not stored */
	int		 attempts;	/* starts so far (retries) */
	char		 error_code[32];	/* "": error is null */
	char		 error_message[SPOOLCGI_ERRMSG_MAX];
	char		 owner[SPOOLCGI_OWNER_LEN + 1];	/* who started it, hashed;
						   "" none; never shown */
};

int		 job_id_check(const char *, size_t);
int		 job_id_new(char *);
const char	*job_state_name(enum job_state);
int		 job_state_parse(const char *, enum job_state *);
int		 job_state_final(enum job_state);
int		 job_rate_window(long long, long long *, long long *, int);
void		 job_time_format(time_t, char *, size_t);
int		 job_time_parse(const char *, time_t *);
int		 job_progress_parse(const char *, size_t, int *, char *,
		    size_t);
void		 job_set_message(char *, size_t, const char *, size_t);
int		 job_retry_after(const struct jobstatus *, time_t);
long long	 job_elapsed(const struct jobstatus *, time_t);
long long	 job_remaining(const struct jobstatus *, time_t);
#define JOB_ESTIMATE_AFTER	5	/* s run before a time left is told */
unsigned long long job_hash(unsigned long long, const char *, size_t);
#define JOB_HASH_INIT	0xcbf29ce484222325ULL	/* FNV-1a offset basis */

/* sha256.c: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) */
#define SHA256_LEN	32
void		 sha256(const void *, size_t, unsigned char [SHA256_LEN]);
void		 hmac_sha256(const void *, size_t, const void *, size_t,
		    unsigned char [SHA256_LEN]);

/* proc.c: processes: detach, descriptor sweep, signal reset */
int		 proc_detach(void (*)(void *), void *, const int *, size_t);
int		 proc_spawn(int, char *const [], const int *, size_t, int);
int		 proc_spawner_start(const char *, const char *);
#define PROC_EXEC	(-2)	/* proc_spawner_run: not in process */
void		 proc_spawner_run(int, int (*)(void *, char *const [],
		    const int *), void *) __attribute__((noreturn));
void		 proc_orphan(void);
int		 proc_kill_children(void);
void		 proc_sanitize(const int *, size_t, int);
void		 proc_close_from(int, const int *, size_t);
void		 proc_signals_reset(void);
int		 proc_fd_high(int);
long long	 proc_now_ms(void);
int		 proc_kill_marked(const char *, const char *);

/*
 * spool.c: the store.  The state machine (lifecycle.c) and the handlers
 * reach storage only through this section; its first implementation is
 * the file spool, and only spool.c knows a path, a file name or a lock
 * file.  A second store (a database) implements the same functions.
 *
 * Error convention: the store logs every fault once, where it happens,
 * naming the file and the call, and returns STORE_ERR (-1) or NULL with
 * errno set; callers answer or exit but do not log it again.  Outcomes
 * that are not faults (no such job, busy, queue full, key taken) are
 * return values and are never logged here.
 */
struct store;
struct stat;

enum store_rc {
	STORE_ERR = -1,		/* errno says why */
	STORE_OK = 0,
	STORE_NOENT,		/* no such job */
	STORE_GONE,		/* it expired; its tombstone stands */
	STORE_BUSY,		/* its lock is held: a supervisor runs it */
	STORE_FULL,		/* the queue holds max_queued jobs */
	STORE_TAKEN		/* the idempotency key belongs to a job */
};

/*
 * A change to a job, applied under its lock to what the store holds
 * now.  Returns 1 to write the changed status (durably), 0 to leave it.
 */
typedef int	(*store_change_fn)(struct jobstatus *, void *);

/* A job a supervisor holds: its lock, for the supervisor's whole life. */
struct run {
	struct store	*store;
	int		 dirfd;		/* the job's directory */
	int		 lockfd;
	struct jobstatus st;
	enum job_state	 written;	/* the state on disk, for the counters */
};

/* What a task is given: stdin, stdout, the log, its working directory. */
struct taskfds {
	int		 in;
	int		 out;
	int		 log;
	int		 work;
};

struct qentry {
	unsigned long long key;		/* FIFO order: its sequence number */
	char		 id[SPOOLCGI_ID_LEN + 1];
};

/* A walk of the queue from its cursor (store_queue_first). */
struct qcursor {
	unsigned long long seq;
	unsigned long long end;
};

/* A start admitted under the per-client limits (store_client_admit). */
struct client {
	int		 lockfd;
	int		 dirfd;
	struct store	*shared;	/* a database's: the client's lock */
	char		 addr[64];	/* held there, for this address */
};

struct gcstats {
	int		 expired;	/* finished jobs removed */
	int		 tombstones;	/* tombstones removed */
	int		 temps;		/* stale staging entries removed */
	int		 keys;		/* idempotency keys removed */
	int		 settled;	/* interrupted jobs found */
	int		 requeued;	/* queued jobs given back their entry */
};

struct store	*store_open(const char *);
struct store	*store_open_config(const struct config *);
int		 store_runs_here(const struct store *);
int		 store_unreachable(struct store *);
#define STORE_RETRY_AFTER	10	/* s, while the database is unreachable */
void		 store_close(struct store *);
int		 store_selftest(struct store *, const char **);
int		 store_read(struct store *, const char *, struct jobstatus *);
int		 store_update(struct store *, const char *, store_change_fn,
		    void *, struct jobstatus *);
int		 store_stage(struct store *, const char *);
int		 store_upload_open(int, size_t);
int		 store_upload_place(int, size_t, const char *);
int		 store_upload_sync(int);
int		 store_upload_copy(struct store *, int, const char *,
		    const char *, long long *);
void		 store_abort(struct store *, const char *);
int		 store_submit(struct store *, const struct jobstatus *,
		    const char *, size_t, int, const char *,
		    unsigned long long, char *, unsigned long long *, int *);
int		 store_remove(struct store *, const char *, int);
int		 store_queue_lock(struct store *);
void		 store_unlock(int);
int		 store_queue_list(struct store *, struct qentry **, size_t *);
int		 store_queue_position(struct store *, const char *);
int		 store_queue_drop(struct store *, const struct qentry *);
int		 store_queue_drop_orphan(struct store *, const struct qentry *);
int		 store_queue_readd(struct store *, const char *);
int		 store_queue_empty(struct store *);
void		 store_queue_first(struct store *, struct qcursor *);
int		 store_queue_next(struct store *, struct qcursor *,
		    struct qentry *);
int		 store_slot_take(struct store *, const char *, int);
int		 store_slots_busy(struct store *, const char *, int);
int		 store_counts(struct store *, int, int *, int *);
int		 store_job_lock(struct store *, const char *);
int		 store_claim(struct store *, const char *, int, struct run *);
int		 store_run_write(struct run *, int);
int		 store_run_sync(struct run *);
int		 store_run_files(struct run *, struct taskfds *);
int		 store_run_input(struct run *, struct buf *);
int		 store_run_workdir(struct run *, char *, size_t);
int		 store_run_commit(struct run *, int);
int		 store_run_log_tail(struct run *, char *, size_t, int);
int		 store_run_notify_log(struct run *);
int		 store_run_cancelled(struct run *);
int		 store_run_watch(struct run *);
long long	 store_run_size(struct run *);
void		 store_run_settle(struct run *);
void		 store_run_release(struct run *);
int		 store_cancel_request(struct store *, const char *);
int		 store_result_open(struct store *, const char *, struct stat *);
int		 store_result_etag(const struct stat *, char *, size_t);
int		 store_result_name(struct store *, const char *, int, char *,
		    size_t);
int		 store_input_read(struct store *, const char *, struct buf *);
int		 store_log_read(struct store *, const char *, long long,
		    struct buf *, long long *);
int		 store_watch(struct store *, const char *);
int		 store_watch_pending(struct store *, int);
void		 store_watch_clear(struct store *, int);
void		 store_watch_end(struct store *, int);
int		 store_draining(struct store *);
int		 store_drain_set(struct store *, int);
int		 store_recovery_due(struct store *);
void		 store_recovery_done(struct store *);
int		 store_client_admit(struct store *, const char *, int, int,
		    time_t, int *, struct client *);
void		 store_client_done(struct client *, const char *);
int		 store_gc_due(struct store *, long, time_t);
int		 store_gc_begin(struct store *, time_t);
int		 store_gc_jobs(struct store *, int (*)(void *, const char *),
		    void *);
int		 store_jobs(struct store *, int (*)(void *, const char *),
		    void *);
void		 store_gc_end(struct store *, int, long, time_t,
		    struct gcstats *);
long long	 store_usage(struct store *);
void		 store_usage_add(struct store *, long long);
long long	 store_job_size(struct store *, const char *);
long long	 store_free_bytes(struct store *);
const char	*store_path(const struct store *);
size_t		 store_fds(const struct store *, int *, size_t);
int		 store_inside(const char *, const char *);
/* spoolown.c: "my jobs": each owner's jobs, and the secret of its tokens */
#define STORE_SECRET_LEN	32
int		 store_secret(struct store *, unsigned char [STORE_SECRET_LEN],
		    int);
int		 store_owner_list(struct store *, const char *, const char *,
		    size_t, struct jobstatus *, size_t *, char *, size_t);

/*
 * The store's counters (GET {base}/metrics), kept as events happen, so
 * that reading them never walks the jobs; they survive restarts.
 */
#define STORE_METRIC_NBUCKETS	12
extern const long long	 store_metric_bucket_ms[STORE_METRIC_NBUCKETS];

enum metric_kind {
	METRIC_STARTED,		/* jobs of task accepted by a start */
	METRIC_RUNS,		/* runs begun (a retry runs again) */
	METRIC_FINISHED,	/* label: the final state */
	METRIC_JOBS,		/* label: a state; the jobs in it now */
	METRIC_BUCKET,		/* runs that took <= bucket (not cumulative) */
	METRIC_SUM_MS,		/* the run times' sum in milliseconds */
	METRIC_REFUSED,		/* label: a refusal's code; task "" */
	METRIC_IN_,		/* the store's own: moves into, */
	METRIC_OUT_		/* and out of, a state */
};

struct metric {
	enum metric_kind kind;
	char		 task[SPOOLCGI_NAME_MAX + 1];
	char		 label[32];
	int		 bucket;	/* METRIC_BUCKET: the index; the last */
	long long	 value;		/* is +Inf */
};

int		 store_metric_enable(struct store *);
int		 store_metric_move(struct store *, const char *, int, int);
int		 store_metric_run(struct store *, const char *, long long);
int		 store_metric_refused(struct store *, const char *);
int		 store_metric_read(struct store *, struct metric **, size_t *);
int		 store_metric_rebase(struct store *, const struct metric *,
		    size_t);

/*
 * spoolfile.c, spoolq.c: the file spool's own helpers and its queue, for
 * the spool's files only (spool.c, spoolq.c, spoolgc.c); the rest of the
 * program sees the store above and nothing here.
 */
#define SPOOL_STATUS		"status.json"
#define SPOOL_STATUS_MAX	16384
#define SPOOL_RESERVE		16384	/* bytes kept for the final status */
#define SPOOL_RESERVE_FILE	"reserve"	/* the file that keeps them */
#define SPOOL_STATUS_QUEUED	"status.queued"	/* kept by a run's start */

struct store {
	int		 dirfd;		/* the spool directory */
	int		 jobsfd;	/* spool/jobs */
	int		 tmpfd;		/* spool/tmp: staging */
	int		 queuefd;	/* spool/queue */
	int		 slotsfd;	/* spool/slots */
	char		*path;
	int		 recovery;	/* -1 unknown, 0 done, 1 due */
	char		 boot[40];	/* this boot's id, "" when unknown */
	const struct store_ops *ops;	/* the job records' home: NULL, the
					   files above; else spoolpg.c's */
	struct spoolpg	*pg;		/* spoolpg.c's own */
	struct spool_qidx *qidx;	/* queue.idx, mapped shared */
	int		 watchfd;	/* inotify, kept: see store_watch */
	int		 watchwd;	/* its one watch, or -1 */
};

/*
 * spoolpg.c: the PostgreSQL side of the store, attached to a store opened
 * on a configuration with "database" (store_open_config).  The store_*
 * functions of the file spool hand a job's record to these; the spool
 * keeps what is the front host's own: staging, the results it serves
 * (copied on first read), drain.  The owners' secret and the per-client
 * limits are the database's, one for every front.  Function pointers,
 * so that a binary without libpq (pgnone.c) links the file spool alone.
 * Each returns as the store_* function it stands for.
 */
struct spoolpg;
struct store_ops {
	int	(*read)(struct store *, const char *, struct jobstatus *);
	int	(*update)(struct store *, const char *, store_change_fn,
		    void *, struct jobstatus *);
	int	(*submit)(struct store *, const struct jobstatus *,
		    const char *, size_t, int, const char *,
		    unsigned long long, char *, unsigned long long *);
	int	(*remove)(struct store *, const char *, int);
	int	(*upload_copy)(struct store *, int, const char *,
		    const char *, long long *);
	int	(*cancel)(struct store *, const char *);
	int	(*input)(struct store *, const char *, struct buf *);
	int	(*result)(struct store *, const char *);
	int	(*log)(struct store *, const char *, long long, struct buf *,
		    long long *);
	int	(*counts)(struct store *, int *, int *);
	int	(*owner_list)(struct store *, const char *, const char *,
		    size_t, struct jobstatus *, size_t *, char *, size_t);
	void	(*gc)(struct store *, time_t, struct gcstats *);
	int	(*jobs)(struct store *, int (*)(void *, const char *),
		    void *);
	int	(*watch)(struct store *, const char *);
	int	(*watch_pending)(struct store *, int);
	void	(*watch_end)(struct store *, int);
	int	(*unreachable)(struct store *);
	void	(*close)(struct store *);
	/* What fronts share: as store_secret, store_client_admit/done. */
	int	(*secret)(struct store *, unsigned char *,
		    const unsigned char *);
	int	(*client_admit)(struct store *, const char *, int, int, int *);
	void	(*client_done)(struct store *, const char *, const char *);
};
int		 spoolpg_attach(struct store *, const struct config *);

struct __dirstream;
extern const char	 spool_reserve_bytes[SPOOL_RESERVE];
int		 spool_write_all(int, const char *, size_t);
int		 spool_file_create(int, const char *, const char *, size_t);
int		 spool_file_reserve(int, const char *, off_t);
int		 spool_status_write(int, const struct jobstatus *, int);
int		 spool_status_keep(int, const struct jobstatus *, const char *,
		    const char *, int);
int		 spool_status_sync(int);
int		 spool_status_fd(int, struct jobstatus *);
int		 spool_status_readat(int, struct jobstatus *);
int		 spool_job_lock(int, const char *, int);
struct __dirstream *spool_opendir(int, const char *);
int		 spool_remove_tree(int, const char *);
void		 spool_run_leftovers(int, int);
int		 spool_task_open(int, struct taskfds *);
int		 spool_input_read(int, struct buf *);
int		 spool_result_commit(int, int);
int		 spool_log_tail(int, char *, size_t, int);
long long	 spool_du(int, const char *);
void		 spool_usage_set(struct store *, long long);
int		 spool_queue_open(struct store *);
void		 spool_queue_close(struct store *);
int		 spool_queue_recover(struct store *);
unsigned long long spool_queue_append(struct store *, const char *);
void		 spool_queue_publish(struct store *, unsigned long long);
int		 spool_queue_full(struct store *, int, int *);
int		 spool_queue_add(struct store *, const char *);
int		 spool_queue_remove_id(struct store *, const char *);
int		 spool_owner_add(struct store *, const char *, const char *,
		    char *, size_t);
void		 spool_owner_drop(struct store *, const char *, const char *);
void		 spool_gc_owners(struct store *);
int		 spool_metric_on(struct store *);

/* spoollocal.c: a worker's local files for the jobs it runs */
struct local {
	struct store	*store;
	int		 dirfd;		/* running/ID, flock'ed */
	char		 id[SPOOLCGI_ID_LEN + 1];
};

int		 store_local_open(struct store *, const char *, const char *,
		    size_t, struct local *);
int		 store_local_upload(void *, const char *);
int		 store_local_files(struct local *, struct taskfds *);
int		 store_local_workdir(struct local *, char *, size_t);
int		 store_local_log_tail(struct local *, char *, size_t, int);
ssize_t		 store_local_log_end(struct local *, char *, size_t,
		    long long *);
int		 store_local_result(struct local *);
void		 store_local_close(struct local *);
int		 store_local_sweep(struct store *);

/*
 * pg.c: the PostgreSQL store (configure finds libpq; else every call
 * below but pg_unavailable and pg_main is absent, and those two say
 * so).  The same vocabulary as the file store above (enum store_rc,
 * struct jobstatus), to be put behind its seam; only pg.c knows SQL.
 */
#define PG_SCHEMA_VERSION	5
#define PG_GRACE_SECONDS	20	/* lock free this long: interrupted */

struct pg;

/* A claimed job, and the supervisor's connection once it holds its lock. */
struct pgrun {
	struct pg	*pg;		/* NULL until pg_run_lock */
	long long	 seq;		/* FIFO order; the lock's key */
	int		 attempt;	/* the fencing token */
	int		 requeued;	/* its end "interrupted" queued it */
	struct jobstatus st;
};

const char	*pg_unavailable(void);
int		 pg_main(const struct config *, int, char *[]);
struct pg	*pg_open(const char *);
int		 pg_reconnect(struct pg *);
void		 pg_deadline(struct pg *, long long);
void		 pg_close(struct pg *);
const char	*pg_error(const struct pg *);
int		 pg_schema_version(struct pg *, int *);
int		 pg_schema_check(struct pg *);
int		 pg_migrate(struct pg *, int *, int *);
int		 pg_submit(struct pg *, const struct jobstatus *, const char *,
		    const char *, size_t, int, const char *,
		    unsigned long long, char *, unsigned long long *);
int		 pg_read(struct pg *, const char *, struct jobstatus *, int *);
int		 pg_blob_read(struct pg *, const char *, int, struct buf *);
int		 pg_cancel(struct pg *, const char *, struct jobstatus *);
int		 pg_claim(struct pg *, const struct config *,
		    const char *const *, size_t, int, const char *,
		    struct pgrun *);
int		 pg_unclaim(struct pg *, const char *, const char *const *,
		    size_t, int *);
int		 pg_run_lock(struct pg *, struct pgrun *);
int		 pg_run_beat(struct pgrun *, int, const char *, const char *,
		    size_t, int *);
int		 pg_run_finish(struct pgrun *, const struct jobstatus *,
		    const char *, size_t);
int		 pg_run_finish_fd(struct pgrun *, const struct jobstatus *,
		    int);
int		 pg_result_copy(struct pg *, const char *, int, long long *);
void		 pg_run_release(struct pgrun *);
int		 pg_settle(struct pg *, int, int *);
int		 pg_expire(struct pg *, long, long, int, int *, int *);
int		 pg_socket(const struct pg *);
int		 pg_listen(struct pg *, int);
int		 pg_notified(struct pg *, const char *);
int		 pg_interrupt(struct pg *, const char *, int, const char *);
/* pg.c, for the front (spoolpg.c) */
int		 pg_broken(const struct pg *);
int		 pg_update(struct pg *, const char *, store_change_fn, void *,
		    struct jobstatus *);
int		 pg_remove(struct pg *, const char *);
int		 pg_log_read(struct pg *, const char *, long long, struct buf *,
		    long long *);
int		 pg_counts(struct pg *, int *, int *);
int		 pg_owner_list(struct pg *, const char *, const char *, size_t,
		    struct jobstatus *, size_t *, char *, size_t);
int		 pg_jobs(struct pg *, int (*)(void *, const char *), void *);
int		 pg_submit_files(struct pg *, const struct jobstatus *,
		    const char *, const char *, size_t, int, const char *,
		    unsigned long long, char *, unsigned long long *,
		    const char *const *, const int *, size_t, int);
int		 pg_uploads_copy(struct pg *, const char *, const char *,
		    int (*)(void *, const char *), void *);
int		 pg_watch(struct pg *, int);
/* pg.c: what fronts on one database share (spoolpg.c) */
int		 pg_secret(struct pg *, const unsigned char *, unsigned char *);
int		 pg_client_admit(struct pg *, const char *, int, int, int *);
int		 pg_client_done(struct pg *, const char *, const char *);
int		 pg_client_gc(struct pg *, int *);

/* worker.c: "spoolcgi worker", a compute host of the PostgreSQL store */
int		 worker_main(const struct config *, int, char *[]);

/* supervise.c: run one task process to its end */
struct taskend {
	int		 wstatus;	/* from waitpid */
	const char	*stop_code;	/* why it was stopped, or NULL */
	char		 stop_msg[256];
	int		 spawn_errno;	/* non-zero: it never started */
	long long	 result_bytes;	/* what it wrote to stdout */
};

struct supervise_hooks {
	void	(*progress)(void *, int, const char *);
	int	(*cancelled)(void *);
	int	 cancel_fd;	/* readable when a cancel may be asked; -1 */
	/*
	 * Called once when the task has run for SUPERVISE_DURABLE_MS and
	 * not ended (NULL: never): what was written unsynced at its start
	 * is made durable then, and a task that ends sooner never waits
	 * for it, its final status being synced in any case.
	 */
	void	(*durable)(void *);
	void	*arg;
};
#define SUPERVISE_DURABLE_MS	50

int		 supervise_task(const struct config *, const struct task *,
		    struct taskfds *, char **, long long,
		    const struct supervise_hooks *, struct taskend *);
char		**supervise_env(const char *, const char *, const char *,
		    struct json_object *);
int		 supervise_env_add(char ***, size_t *, const char *,
		    const char *);
int		 supervise_outcome(const struct config *, const struct task *,
		    long long, const struct taskend *, const char *,
		    struct jobstatus *);

/* notify.c: a job's notifier, run once after its end */
int		 notify_job(const struct config *, const struct task *,
		    const struct jobstatus *, char **, int, int);

/* lifecycle.c: the one owner of a job's state */
enum lc_rc {
	LC_ERR = -1,
	LC_OK = 0,
	LC_NOENT,		/* no such job */
	LC_GONE,		/* expired; 410 while its tombstone lasts */
	LC_FULL,		/* the queue is full */
	LC_DUPLICATE,		/* the key's job is another: see the id */
	LC_CONFLICT,		/* the key was used for another request */
	LC_FINAL,		/* already final: nothing to cancel */
	LC_STATE,		/* not failed or cancelled: no retry */
	LC_NOTASK,		/* its task is no longer configured */
	LC_INPUT		/* its input or an upload is gone or changed */
};

struct submit {
	const char	*key;		/* idempotency key, or "" */
	unsigned long long hash;	/* of the task and its input */
	char		 existing[SPOOLCGI_ID_LEN + 1];	/* LC_DUPLICATE */
};

int		 lifecycle_submit(struct store *, const struct config *,
		    struct jobstatus *, const char *, size_t, struct submit *);
int		 lifecycle_read(struct store *, const struct config *,
		    const char *, struct jobstatus *);
int		 lifecycle_cancel(struct store *, const struct config *,
		    const char *, struct jobstatus *);
int		 lifecycle_remove(struct store *, const char *);
int		 lifecycle_retry(struct store *, const struct config *,
		    const char *, struct jobstatus *, struct jobstatus *,
		    struct submit *);
int		 lifecycle_dispatch(struct store *, const struct config *);
int		 lifecycle_wait(struct store *, const struct config *,
		    struct jobstatus *, int);
int		 lifecycle_gc(struct store *, const struct config *, time_t,
		    struct gcstats *);
void		 lifecycle_gc_spawn(struct store *, const struct config *,
		    int);
void		 lifecycle_cleanup(struct store *, const struct config *);
void		 lifecycle_resume(struct store *, const struct config *,
		    const char *, int, int, int, unsigned long long)
		    __attribute__((noreturn));

/* http.c */
struct FCGX_Stream;
struct server;
struct req {
	struct server	*srv;		/* the configuration and the store */
	struct FCGX_Stream *in;		/* NULL under plain CGI: stdio */
	struct FCGX_Stream *out;
	FILE		*cgi_in;	/* plain CGI: stdin, or a test's */
	FILE		*cgi_out;
	char		**envp;		/* the request's variables */
	enum method	 method;
	int		 json;		/* answer in JSON, not HTML */
	const char	*path_info;
	const char	*query;
	char		 base[512];	/* SCRIPT_NAME, safe for URLs */
	char		 abs_base[1024];	/* http_abs_base(), once built */
	struct buf	 head;		/* extra header lines */
	char		 head_space[256];	/* head's first bytes */
	int		 sent;
	unsigned long long nread;	/* body bytes http_read() gave */
};
void		 http_begin(struct req *, struct server *,
		    struct FCGX_Stream *, struct FCGX_Stream *, char **);
void		 http_end(struct req *);
const char	*http_param(const struct req *, const char *);
ssize_t		 http_read(struct req *, char *, size_t);
int		 http_content_length(const struct req *, unsigned long long *);
int		 http_input_done(struct req *);
int		 http_write(struct req *, const void *, size_t);
int		 http_header(struct req *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
int		 http_send(struct req *, int, const char *, const char *,
		    size_t);
int		 http_send_head(struct req *, int, const char *, long long);
const char	*http_reason(int);
int		 http_wants_json(const char *, const char *, const char *);
const char	*http_media_type(const char *, char *, size_t);
int		 http_addr_parse(const char *, unsigned char *, char *, size_t);
int		 http_from_proxy(const struct req *, char *, size_t);
int		 http_addr_in(const struct req *, const struct proxy *, size_t);
int		 http_origin(const struct req *, char *, size_t);
const char	*http_abs_base(struct req *);
int		 http_cross_site(const struct req *);
int		 http_https(const struct req *);
#define HTTP_RANGES_MAX	16	/* more ranges than this: 416 */
enum http_range {
	HTTP_RANGE_NONE,	/* send the whole representation */
	HTTP_RANGE_ONE,		/* 206 with one range */
	HTTP_RANGE_BAD		/* 416 */
};
int		 http_range_parse(const char *, long long, long long *,
		    long long *);
int		 http_etag_match(const char *, const char *, int);
void		 http_date_format(time_t, char *, size_t);
int		 http_date_parse(const char *, time_t *);

/*
 * serve.c: what every request shares, passed explicitly: the
 * configuration, the store, and what the process remembers between
 * requests.
 */
struct server {
	const struct config *cfg;
	struct store	*store;
	int		 cgi;		/* plain CGI: one request, then exit */
	time_t		 gc_checked;	/* when this process last looked */
	char		 docroot_seen[1024];
	int		 docroot_bad;
};
void		 serve_request(struct req *);

/* reply.c: answers: status objects, refusals, failures, headers */
int		 reply_status_object(struct buf *, const struct jobstatus *,
		    const char *, const char *);
void		 reply_status(struct req *, int, const struct jobstatus *);
void		 reply_job(struct req *, struct jobstatus *, int, int);
void		 reply_error(struct req *, int, const char *, const char *,
		    const char *);
void		 reply_refuse(struct req *, const struct refusal *);
void		 reply_fail(struct req *, const char *);
void		 reply_not_found(struct req *);
void		 reply_redirect(struct req *, const char *);
int		 reply_lookup(struct req *, int);
int		 reply_json(struct req *, int, struct json_object *);

/* page.c: HTML pages, from templates, and the headers they carry */
void		 page_headers(struct req *);
int		 page_render(struct req *, int, const char *, const char *,
		    const struct tmpl_var *, size_t, int);
int		 page_job(struct req *, const struct jobstatus *);
int		 page_tasks(struct req *);
int		 page_jobs(struct req *, const struct jobstatus *, size_t,
		    const char *, const char *);

/* jobs.c: the routes of one job: status, wait, result, cancel, delete */
int		 jobs_prefer_wait(const struct req *);
void		 jobs_get(struct req *, const char *);
void		 jobs_result(struct req *, const char *);
void		 jobs_cancel(struct req *, const char *);
void		 jobs_log(struct req *, const char *);
int		 jobs_read(struct req *, const char *, struct jobstatus *);

/* owner.c: who is asking, for "my jobs": REMOTE_USER, or a cookie */
#define OWNER_COOKIE	"spoolcgi_owner"
#define OWNER_TOKEN_LEN	64	/* hex: 16 random bytes, 16 of their MAC */
enum owner_kind {
	OWNER_ERR = -1,		/* the secret could not be read (logged) */
	OWNER_NONE,		/* neither REMOTE_USER nor a cookie */
	OWNER_USER,		/* REMOTE_USER: the web server signed in */
	OWNER_TOKEN,		/* a cookie this server issued */
	OWNER_FORGED		/* a cookie it did not issue, or malformed */
};

struct owner {
	enum owner_kind	 kind;
	char		 hash[SPOOLCGI_OWNER_LEN + 1];	/* "" unless USER or TOKEN */
	char		 token[OWNER_TOKEN_LEN + 1];	/* a new one to set, or "" */
};

void		 owner_hash(const char *, const char *, size_t, char *);
int		 owner_token_make(const unsigned char *, const unsigned char *,
		    char *);
int		 owner_token_check(const unsigned char *, const char *, size_t);
int		 owner_cookie_find(const char *, const char *, char *, size_t);
int		 owner_identify(struct req *, struct owner *);
int		 owner_for_start(struct req *, struct owner *);
void		 owner_cookie_set(struct req *, const struct owner *, int);
#define OWNER_KEY_LEN	128	/* an Idempotency-Key's or _token's most */
#define OWNER_KEY_MAX	(SPOOLCGI_OWNER_LEN + 1 + OWNER_KEY_LEN)
void		 owner_key_scope(const struct owner *, int, const char *,
		    char [OWNER_KEY_MAX + 1]);

/* joblist.c: GET {base}/jobs, the caller's own jobs */
#define JOBLIST_LIMIT		50	/* a page, unless ?limit= says */
#define JOBLIST_LIMIT_MAX	200
void		 joblist_get(struct req *);

/* start.c: POST {base}/jobs, and POST {base}/jobs/{id}/retry */
void		 start_job(struct req *);
void		 start_retry(struct req *, const char *);

/* info.c: the task list, /health, the built-in client */
void		 info_tasks(struct req *);
void		 info_health(struct req *);
void		 info_static(struct req *, const char *);

/* admin.c: the operator's commands: jobs, show, log, cancel, retry, drain */
int		 admin_command(const char *);
int		 admin_main(const struct config *, struct store *, int,
		    char *[]);
/* metrics.c: GET {base}/metrics, the Prometheus text format */
struct metrics_gauges {
	long long	 queued;
	long long	 running;
	long long	 spool_bytes;	/* -1: unknown */
	long long	 free_bytes;	/* -1: unknown */
	int		 draining;
};
void		 metrics_serve(struct req *);
void		 metrics_refused(const struct server *, const char *);
int		 metrics_render(struct buf *, const struct config *,
		    const struct metric *, size_t, const struct metrics_gauges *);
int		 metrics_label(struct buf *, const char *, const char *);

/* init.c: "spoolcgi init": set a web folder up */
int		 init_main(int, char *[]);

#endif /* SPOOLCGI_EXTERN_H */
