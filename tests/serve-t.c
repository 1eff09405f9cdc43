/*
 * serve.c and the handlers below it, driven in-process as plain CGI: the
 * request's variables and body in, the whole answer (Status line,
 * headers, body) out, in milliseconds.  Every route and every refusal of
 * the HTTP contract has its own case here, so that a red result names
 * one behaviour; the real web servers are the end-to-end tests' business.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "extern.h"
#include "tap.h"
#include "fixture.h"

static char		 root[256];
static struct server	 srv;
static struct config	 cfg;

/* One answer: its status, headers and body. */
struct answer {
	int		 status;
	char		*head;		/* the header lines, NUL-terminated */
	char		*body;
	size_t		 len;
	char		*raw;
};

static void
answer_free(struct answer *a)
{
	free(a->raw);
	memset(a, 0, sizeof(*a));
}

/*
 * Serve one request: method, PATH_INFO (NULL: none), query (NULL), the
 * extra variables in vars ("NAME=value", NULL-terminated, may be NULL),
 * and the body.
 */
static void
request(struct answer *a, const char *method, const char *path,
    const char *query, const char *const *vars, const char *body)
{
	struct req	 r;
	char		*env[32], cl[64], m[64], pi[512], qs[512];
	size_t		 n = 0, i, size = 0;
	FILE		*in, *out;
	char		*p;

	snprintf(m, sizeof(m), "REQUEST_METHOD=%s", method);
	env[n++] = m;
	env[n++] = (char *)"SCRIPT_NAME=/app";
	env[n++] = (char *)"GATEWAY_INTERFACE=CGI/1.1";
	if (path != NULL) {
		snprintf(pi, sizeof(pi), "PATH_INFO=%s", path);
		env[n++] = pi;
	}
	if (query != NULL) {
		snprintf(qs, sizeof(qs), "QUERY_STRING=%s", query);
		env[n++] = qs;
	}
	/* The caller's variables first: a CONTENT_LENGTH or REMOTE_ADDR there wins. */
	for (i = 0; vars != NULL && vars[i] != NULL && n < 29; i++)
		env[n++] = (char *)vars[i];
	env[n++] = (char *)"REMOTE_ADDR=192.0.2.9";
	if (body != NULL) {
		snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", strlen(body));
		env[n++] = cl;
	}
	env[n] = NULL;
	memset(a, 0, sizeof(*a));
	in = fmemopen((void *)(body != NULL ? body : ""), body != NULL &&
	    *body ? strlen(body) : 1, "r");
	out = open_memstream(&a->raw, &size);
	if (in == NULL || out == NULL)
		exit(1);
	http_begin(&r, &srv, NULL, NULL, env);
	r.cgi_in = in;
	r.cgi_out = out;
	serve_request(&r);
	http_end(&r);
	fclose(in);
	fclose(out);
	if (a->raw == NULL)
		return;
	if (strncmp(a->raw, "Status: ", 8) == 0)
		a->status = atoi(a->raw + 8);
	if ((p = strstr(a->raw, "\r\n\r\n")) != NULL) {
		*p = '\0';
		a->head = a->raw;
		a->body = p + 4;
		a->len = size - (size_t)(a->body - a->raw);
	}
}

/* The value of header name in a (case as sent), or "". */
static const char *
header(const struct answer *a, const char *name)
{
	static char	 v[1024];
	const char	*p = a->head;
	size_t		 n = strlen(name), k;

	v[0] = '\0';
	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			k = strcspn(p, "\r");
			if (k >= sizeof(v))
				k = sizeof(v) - 1;
			memcpy(v, p, k);
			v[k] = '\0';
			return v;
		}
		if ((p = strstr(p, "\r\n")) != NULL)
			p += 2;
	}
	return v;
}

static int
has(const struct answer *a, const char *s)
{
	return a->body != NULL && strstr(a->body, s) != NULL;
}

/* Is a's body, whole, one JSON object (RFC 8259)? */
static int
json_valid(const struct answer *a)
{
	struct json_tokener	*tok;
	json_object		*o;
	int			 ok;

	if (a->body == NULL || (tok = json_tokener_new()) == NULL)
		return 0;
	o = json_tokener_parse_ex(tok, a->body, (int)a->len);
	ok = o != NULL && json_object_is_type(o, json_type_object) &&
	    json_tokener_get_error(tok) == json_tokener_success &&
	    json_tokener_get_parse_end(tok) == a->len;
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

static const char *const json[] = { "HTTP_ACCEPT=application/json", NULL };
static const char *const form[] = {
	"CONTENT_TYPE=application/x-www-form-urlencoded",
	"HTTP_ACCEPT=text/html", NULL
};
static const char *const formjson[] = {
	"CONTENT_TYPE=application/x-www-form-urlencoded",
	"HTTP_ACCEPT=application/json", NULL
};

/* The id in a Location header ".../jobs/ID", or "". */
static const char *
location_id(const struct answer *a)
{
	static char	 id[SPOOLCGI_ID_LEN + 1];
	const char	*l = header(a, "Location"), *p;

	id[0] = '\0';
	if ((p = strstr(l, "/jobs/")) != NULL &&
	    strlen(p + 6) >= SPOOLCGI_ID_LEN) {
		memcpy(id, p + 6, SPOOLCGI_ID_LEN);
		id[SPOOLCGI_ID_LEN] = '\0';
	}
	return id;
}

/* Poll job id until its JSON status is final; at most secs seconds. */
static int
wait_final(const char *id, int secs)
{
	struct answer	 a;
	char		 path[128];
	time_t		 deadline = time(NULL) + secs;
	int		 final;

	snprintf(path, sizeof(path), "/jobs/%s", id);
	do {
		request(&a, "GET", path, NULL, json, NULL);
		final = a.status == 200;
		answer_free(&a);
		if (final)
			return 0;
	} while (time(NULL) <= deadline && poll(NULL, 0, 10) == 0);
	return -1;
}

/* Poll job id until its JSON status says state; at most secs seconds. */
static int
wait_state(const char *id, const char *state, int secs)
{
	struct answer	 a;
	char		 path[128], want[64];
	time_t		 deadline = time(NULL) + secs;
	int		 there;

	snprintf(path, sizeof(path), "/jobs/%s", id);
	snprintf(want, sizeof(want), "\"state\":\"%s\"", state);
	do {
		request(&a, "GET", path, NULL, json, NULL);
		there = has(&a, want);
		answer_free(&a);
		if (there)
			return 0;
	} while (time(NULL) <= deadline && poll(NULL, 0, 10) == 0);
	return -1;
}

static void
write_file(const char *path, const char *text, int mode)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		exit(1);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void
setup(void)
{
	char	 conf[4096], path[512], err[512], spool[300], task[300];
	char	 fail[300], slow[300], noisy[300], half[300];
	size_t	 n;

	snprintf(root, sizeof(root), "/tmp/serve-t.XXXXXX");
	if (mkdtemp(root) == NULL)
		exit(1);
	snprintf(task, sizeof(task), "%s/echo", root);
	write_file(task, "#!/bin/sh\ncat\n", 0755);
	snprintf(fail, sizeof(fail), "%s/fail", root);
	write_file(fail, "#!/bin/sh\necho 'no input here' >&2\nexit 3\n", 0755);
	snprintf(slow, sizeof(slow), "%s/slow", root);
	write_file(slow, "#!/bin/sh\nexec sleep 60\n", 0755);
	snprintf(noisy, sizeof(noisy), "%s/noisy", root);
	write_file(noisy, "#!/bin/sh\nprintf 'first <b>\\n\\377bad\\nlast\\n' >&2\n"
	    "exit 1\n", 0755);
	snprintf(half, sizeof(half), "%s/half", root);
	write_file(half, "#!/bin/sh\necho 'progress: 50 half way' >&2\n"
	    "exec sleep 60\n", 0755);
	snprintf(spool, sizeof(spool), "%s/spool", root);
	n = (size_t)snprintf(conf, sizeof(conf), "{\"spool\": \"%s\", "
	    "\"max_running\": 4, \"max_queued\": 50, \"max_body_bytes\": 4096, "
	    "\"kill_grace_seconds\": 1, "
	    "\"trusted_proxies\": [\"198.51.100.0/24\"], "
	    "\"allowed_origins\": [\"https://front.example.net\"], "
	    "\"tasks\": {\"echo\": {\"title\": \"Echo <it>\", "
	    "\"command\": [\"%s\"], \"fields\": {\"text\": {\"type\": "
	    "\"textarea\", \"required\": true, \"max_bytes\": 100}}, "
	    "\"result_type\": \"text/plain; charset=utf-8\"}, "
	    "\"fail\": {\"command\": [\"%s\"]}, "
	    "\"slow\": {\"command\": [\"%s\"]}, "
	    "\"noisy\": {\"command\": [\"%s\"]}, "
	    "\"quiet\": {\"command\": [\"%s\"], \"log\": false}, "
	    "\"half\": {\"command\": [\"%s\"]}, "
	    "\"named\": {\"command\": [\"%s\"], \"fields\": {\"text\": "
	    "{}}, \"result_filename\": \"r-{{text}}-{{id}}.txt\"}}}",
	    spool, task, fail, slow, noisy, noisy, half, task);
	snprintf(path, sizeof(path), "%s/spoolcgi.json", root);
	write_file(path, conf, 0600);
	if (config_parse(&cfg, conf, n, path, err, sizeof(err)) == -1) {
		printf("Bail out! %s\n", err);
		exit(1);
	}
	if (tmpl_load(NULL, err, sizeof(err)) == -1) {
		printf("Bail out! %s\n", err);
		exit(1);
	}
	if ((srv.store = store_open(cfg.spool)) == NULL)
		exit(1);
	srv.cfg = &cfg;
	srv.cgi = 1;
}

static void
test_info(void)
{
	struct answer	 a;

	request(&a, "GET", "/health", NULL, NULL, NULL);
	is_int(a.status, 200, "GET /health: 200");
	ok(strncmp(header(&a, "Content-Type"), "application/json", 16) == 0,
	    "GET /health: JSON, even without Accept");
	ok(has(&a, "\"status\":\"ok\"") && has(&a, "\"queued\":0"),
	    "GET /health: status ok, nothing queued");
	is_str(header(&a, "Cache-Control"), "no-store",
	    "GET /health: not cached");
	is_str(header(&a, "X-Content-Type-Options"), "nosniff",
	    "GET /health: nosniff");
	answer_free(&a);

	request(&a, "GET", "/tasks", NULL, form + 1, NULL);
	is_int(a.status, 200, "GET /tasks (HTML): 200");
	ok(has(&a, "<form") && has(&a, "name=\"_token\""),
	    "GET /tasks (HTML): a form with a one-time token");
	ok(has(&a, "Echo &lt;it&gt;"), "GET /tasks (HTML): the title escaped");
	ok(strstr(header(&a, "Content-Security-Policy"),
	    "style-src 'self';") != NULL, "GET /tasks: a CSP without "
	    "inline style");
	answer_free(&a);

	request(&a, "GET", "/tasks", "format=json", NULL, NULL);
	is_int(a.status, 200, "GET /tasks?format=json: 200");
	ok(has(&a, "\"name\":\"echo\"") &&
	    has(&a, "\"start\":\"/app/jobs\""),
	    "GET /tasks?format=json: the task and its start URL");
	answer_free(&a);

	request(&a, "GET", NULL, NULL, form + 1, NULL);
	is_int(a.status, 200, "GET {base} alone: the task list");
	ok(has(&a, "<form"), "GET {base} alone: with the forms");
	answer_free(&a);

	request(&a, "GET", "/static/spoolcgi.js", NULL, NULL, NULL);
	is_int(a.status, 200, "GET /static/spoolcgi.js: 200");
	ok(strncmp(header(&a, "Content-Type"), "text/javascript", 15) == 0,
	    "GET /static/spoolcgi.js: JavaScript");
	ok(header(&a, "ETag")[0] == '"', "GET /static/spoolcgi.js: an ETag");
	answer_free(&a);
	request(&a, "GET", "/static/nope.js", NULL, NULL, NULL);
	is_int(a.status, 404, "GET /static/nope.js: 404");
	answer_free(&a);
	request(&a, "GET", "/static/../x", NULL, NULL, NULL);
	is_int(a.status, 404, "GET /static/../x: 404");
	answer_free(&a);

	request(&a, "GET", "/nothing", NULL, json, NULL);
	is_int(a.status, 404, "an unknown path: 404");
	ok(has(&a, "\"code\":\"not_found\""), "an unknown path: JSON error");
	answer_free(&a);

	request(&a, "PUT", "/health", NULL, json, NULL);
	is_int(a.status, 405, "PUT /health: 405");
	is_str(header(&a, "Allow"), "GET, HEAD", "PUT /health: Allow");
	answer_free(&a);
	request(&a, "PUT", "/jobs", NULL, json, NULL);
	is_int(a.status, 405, "PUT /jobs: 405");
	is_str(header(&a, "Allow"), "GET, HEAD, POST", "PUT /jobs: Allow: "
	    "GET, HEAD, POST");
	answer_free(&a);

	request(&a, "HEAD", "/health", NULL, NULL, NULL);
	is_int(a.status, 200, "HEAD /health: 200");
	ok(a.len == 0, "HEAD /health: no body");
	answer_free(&a);
}

static void
test_refusals(void)
{
	static const char *const json_body[] = {
		"CONTENT_TYPE=application/json", "HTTP_ACCEPT=application/json",
		NULL
	};
	static const char *const text_body[] = {
		"CONTENT_TYPE=text/plain", "HTTP_ACCEPT=application/json", NULL
	};
	static const char *const big[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=application/json", "CONTENT_LENGTH=999999", NULL
	};
	struct answer	 a;

	request(&a, "POST", "/jobs", NULL, formjson, "task=nope&text=x");
	is_int(a.status, 400, "unknown task: 400");
	ok(has(&a, "\"field\":\"task\""), "unknown task: names the field");
	answer_free(&a);
	request(&a, "POST", "/jobs", NULL, formjson, "task=echo");
	is_int(a.status, 400, "missing field: 400");
	ok(has(&a, "\"field\":\"text\""), "missing field: names it");
	answer_free(&a);
	request(&a, "POST", "/jobs", NULL, json_body, "{\"task\": ");
	is_int(a.status, 400, "malformed JSON: 400");
	answer_free(&a);
	request(&a, "POST", "/jobs", NULL, text_body, "task=echo&text=x");
	is_int(a.status, 415, "text/plain body: 415");
	answer_free(&a);
	request(&a, "POST", "/jobs", NULL, big, "task=echo&text=x");
	is_int(a.status, 413, "body over max_body_bytes: 413");
	answer_free(&a);
	request(&a, "POST", "/jobs", NULL, formjson, "task=echo&text=%ZZ");
	ok(a.status == 202 || a.status == 400,
	    "a stray %% in a value: an answer, no crash");
	answer_free(&a);

	request(&a, "GET", "/jobs/not-an-id", NULL, json, NULL);
	is_int(a.status, 404, "a malformed id: 404");
	answer_free(&a);
	request(&a, "GET", "/jobs/2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11",
	    NULL, json, NULL);
	is_int(a.status, 404, "an unknown id: 404");
	answer_free(&a);
	request(&a, "GET", NULL, "job=../../etc", json, NULL);
	is_int(a.status, 404, "?job= with a malformed id: 404");
	answer_free(&a);
	request(&a, "POST", "/jobs/2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11/"
	    "cancel", NULL, formjson, "");
	is_int(a.status, 404, "cancel of an unknown id: 404");
	answer_free(&a);

	cfg.drain = 1;
	request(&a, "POST", "/jobs", NULL, formjson, "task=echo&text=x");
	is_int(a.status, 503, "draining: 503");
	ok(atoi(header(&a, "Retry-After")) > 0, "draining: Retry-After");
	answer_free(&a);
	request(&a, "GET", "/health", NULL, NULL, NULL);
	ok(has(&a, "\"status\":\"draining\""), "draining: /health says so");
	answer_free(&a);
	cfg.drain = 0;
}

static void
test_jobs(void)
{
	static const char *const idem[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=application/json", "HTTP_IDEMPOTENCY_KEY=k-1",
		NULL
	};
	struct answer	 a;
	char		 id[SPOOLCGI_ID_LEN + 1], path[128];

	request(&a, "POST", "/jobs", NULL, formjson, "task=echo&text=hello");
	is_int(a.status, 202, "start (JSON): 202");
	snprintf(id, sizeof(id), "%s", location_id(&a));
	ok(job_id_check(id, strlen(id)), "start (JSON): Location names the "
	    "job");
	ok(has(&a, "\"state\":"), "start (JSON): the status object");
	ok(atoi(header(&a, "Retry-After")) > 0, "start (JSON): Retry-After");
	answer_free(&a);

	snprintf(path, sizeof(path), "/jobs/%s/result", id);
	ok(wait_final(id, 10) == 0, "the job is final within 10 s");
	request(&a, "GET", path, NULL, NULL, NULL);
	is_int(a.status, 200, "result: 200");
	ok(has(&a, "\"text\":\"hello\""), "result: the task's output");
	is_str(header(&a, "Cache-Control"), "private", "result: private");
	ok(header(&a, "ETag")[0] == '"', "result: an ETag");
	answer_free(&a);

	snprintf(path, sizeof(path), "/jobs/%s", id);
	request(&a, "GET", path, NULL, json, NULL);
	is_int(a.status, 200, "a final job (JSON): 200");
	ok(has(&a, "\"state\":\"succeeded\"") && has(&a, "\"progress\":100"),
	    "a final job: succeeded, progress 100");
	is_str(header(&a, "Cache-Control"), "no-store", "status: no-store");
	answer_free(&a);
	request(&a, "GET", path, NULL, form + 1, NULL);
	is_int(a.status, 200, "a final job (HTML): 200");
	ok(has(&a, "<strong>Done.</strong>") && has(&a, "hello"),
	    "a final job (HTML): the result page, the result shown");
	answer_free(&a);
	request(&a, "GET", NULL, NULL, json, NULL);
	answer_free(&a);

	snprintf(path, sizeof(path), "/jobs/%s/cancel", id);
	request(&a, "POST", path, NULL, formjson, "");
	is_int(a.status, 409, "cancel of a final job: 409");
	answer_free(&a);

	request(&a, "POST", "/jobs", NULL, form, "task=echo&text=form");
	is_int(a.status, 303, "start (HTML form): 303");
	ok(strncmp(header(&a, "Location"), "/app/jobs/", 10) == 0,
	    "start (HTML form): to the job page");
	ok(wait_final(location_id(&a), 10) == 0, "the form's job ends");
	answer_free(&a);

	request(&a, "POST", "/jobs", NULL, idem, "task=echo&text=once");
	is_int(a.status, 202, "Idempotency-Key: 202");
	snprintf(id, sizeof(id), "%s", location_id(&a));
	answer_free(&a);
	request(&a, "POST", "/jobs", NULL, idem, "task=echo&text=once");
	is_str(location_id(&a), id, "Idempotency-Key: a repeat names the "
	    "same job");
	answer_free(&a);
	request(&a, "POST", "/jobs", NULL, idem, "task=echo&text=other");
	is_int(a.status, 400, "Idempotency-Key with another body: 400");
	ok(has(&a, "idempotency_conflict"), "the refusal names the conflict");
	answer_free(&a);
	ok(wait_final(id, 10) == 0, "the keyed job ends");

	snprintf(path, sizeof(path), "/jobs/%s", id);
	request(&a, "DELETE", path, NULL, json, NULL);
	is_int(a.status, 204, "DELETE of a final job: 204");
	answer_free(&a);
	request(&a, "GET", path, NULL, json, NULL);
	is_int(a.status, 404, "after DELETE: 404");
	answer_free(&a);
}


/* Every path in the spool, sorted, as one string (refusals leave it). */
static char *
spool_listing(void)
{
	static char	 out[65536];
	char		 cmd[600];
	size_t		 n;
	FILE		*p;

	snprintf(cmd, sizeof(cmd), "cd '%s/spool' && find . | LC_ALL=C sort",
	    root);
	if ((p = popen(cmd, "r")) == NULL)
		exit(1);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	return out;
}

/* Start a job of task (JSON); its id into id.  Returns the status. */
static int
start(const char *body, const char *const *vars, char *id)
{
	struct answer	 a;
	int		 st;

	request(&a, "POST", "/jobs", NULL, vars, body);
	st = a.status;
	snprintf(id, SPOOLCGI_ID_LEN + 1, "%s", location_id(&a));
	answer_free(&a);
	return st;
}

/*
 * Issue 13, item 1: a request without a body gets JSON unless its Accept
 * names text/html (or application/xhtml+xml) with a non-zero q.
 */
static void
test_negotiation(void)
{
	static const struct {
		const char	*accept;	/* NULL: no header */
		const char	*query;
		int		 json;
		const char	*what;
	} cases[] = {
		{ NULL, NULL, 1, "no Accept" },
		{ "*/*", NULL, 1, "Accept: */* (requests, azure-core, curl)" },
		{ "application/json, text/plain, */*", NULL, 1,
		    "axios's Accept" },
		{ "text/html,application/xhtml+xml,application/xml;q=0.9,"
		    "image/avif,image/webp,*/*;q=0.8", NULL, 0,
		    "a browser navigation" },
		{ "application/xhtml+xml", NULL, 0, "xhtml alone" },
		{ "text/html;q=0, */*", NULL, 1, "text/html with q=0" },
		{ "text/*", NULL, 1, "text/* does not name text/html" },
		{ "application/json, text/html;q=0.5", NULL, 1,
		    "JSON preferred to HTML" },
		{ "text/html, application/json;q=0.5", NULL, 0,
		    "HTML preferred to JSON" },
		{ "*/*", "format=html", 0, "?format=html wins over */*" },
		{ "text/html", "format=json", 1, "?format=json wins" },
	};
	struct answer	 a;
	char		 id[SPOOLCGI_ID_LEN + 1], path[128], acc[512];
	const char	*vars[3];
	size_t		 i;

	is_int(start("task=echo&text=neg", formjson, id), 202,
	    "negotiation: a job to read");
	snprintf(path, sizeof(path), "/jobs/%s", id);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vars[0] = NULL;
		if (cases[i].accept != NULL) {
			snprintf(acc, sizeof(acc), "HTTP_ACCEPT=%s",
			    cases[i].accept);
			vars[0] = acc;
			vars[1] = NULL;
		}
		request(&a, "GET", path, cases[i].query, vars, NULL);
		ok(strncmp(header(&a, "Content-Type"), cases[i].json ?
		    "application/json" :
		    "text/html", cases[i].json ? 16 : 9) == 0,
		    "GET a job, %s: %s", cases[i].what,
		    cases[i].json ? "JSON" : "HTML");
		answer_free(&a);
	}
	request(&a, "HEAD", path, NULL, NULL, NULL);
	ok(strncmp(header(&a, "Content-Type"), "application/json", 16) == 0 &&
	    a.len == 0, "HEAD a job without Accept: JSON headers, no body");
	answer_free(&a);
	request(&a, "GET", "/nothing", NULL, NULL, NULL);
	ok(a.status == 404 && has(&a, "\"code\":\"not_found\""),
	    "an unknown path without Accept: a JSON 404");
	answer_free(&a);

	/* A form post keeps the rule of forms: no preference is a browser. */
	{
		static const char *const star[] = {
			"CONTENT_TYPE=application/x-www-form-urlencoded",
			"HTTP_ACCEPT=*/*", NULL
		};

		request(&a, "POST", "/jobs", NULL, star, "task=echo&text=p");
		is_int(a.status, 303, "a form post with Accept: */*: still 303");
		ok(wait_final(location_id(&a), 10) == 0, "its job ends");
		answer_free(&a);
	}
	ok(wait_final(id, 10) == 0, "negotiation: the job ends");
}

/*
 * Issue 13, item 2: the Microsoft dialect (Operation-Location, an
 * absolute Location, status, resourceLocation) and item 3, AIP-151's
 * done; absolute URLs from the request, a trusted proxy or public_url.
 */
static void
test_dialects(void)
{
	static const char *const host[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=application/json", "HTTP_HOST=jobs.example.org:8080",
		NULL
	};
	struct answer	 a;
	char		 id[SPOOLCGI_ID_LEN + 1], path[128], want[256], *pub;

	request(&a, "POST", "/jobs", NULL, host, "task=echo&text=ms");
	is_int(a.status, 202, "dialects: start 202");
	snprintf(id, sizeof(id), "%s", location_id(&a));
	snprintf(want, sizeof(want), "http://jobs.example.org:8080/app/jobs/%s",
	    id);
	is_str(header(&a, "Location"), want, "start: Location is absolute, "
	    "from Host");
	is_str(header(&a, "Operation-Location"), want,
	    "start: Operation-Location is the same absolute URL");
	ok(has(&a, "\"status\":\"NotStarted\"") ||
	    has(&a, "\"status\":\"Running\"") ||
	    has(&a, "\"status\":\"Succeeded\""), "start: a status field");
	ok(has(&a, "\"done\":"), "start: a done field");
	ok(has(&a, "\"state\":") && has(&a, "\"links\":{\"self\":\"/app/jobs/"),
	    "start: state and the relative links stay");
	answer_free(&a);
	ok(wait_final(id, 10) == 0, "dialects: the job ends");
	snprintf(path, sizeof(path), "/jobs/%s", id);
	request(&a, "GET", path, NULL, host + 1, NULL);
	ok(has(&a, "\"state\":\"succeeded\",\"status\":\"Succeeded\","
	    "\"done\":true"), "succeeded: status Succeeded, done true");
	snprintf(want, sizeof(want), "\"resourceLocation\":\"http://jobs."
	    "example.org:8080/app/jobs/%s/result\"", id);
	ok(has(&a, want), "succeeded: resourceLocation, absolute");
	answer_free(&a);

	/* Where the scheme and host come from. */
	{
		static const char *const https[] = { "HTTP_ACCEPT=application/json",
		    "HTTPS=on", "HTTP_HOST=jobs.example.org", NULL };
		static const char *const bad[] = { "HTTP_ACCEPT=application/json",
		    "HTTP_HOST=evil.example/x?y", "SERVER_NAME=real.example",
		    "SERVER_PORT=8443", NULL };
		static const char *const nohost[] = {
		    "HTTP_ACCEPT=application/json", "SERVER_NAME=real.example",
		    "SERVER_PORT=80", NULL };
		static const char *const spoof[] = {
		    "HTTP_ACCEPT=application/json", "HTTP_HOST=a.example",
		    "HTTP_X_FORWARDED_PROTO=https", NULL };
		static const char *const proxied[] = {
		    "HTTP_ACCEPT=application/json", "HTTP_HOST=a.example",
		    "HTTP_X_FORWARDED_PROTO=https", "REMOTE_ADDR=198.51.100.7",
		    NULL };
		static const char *const cf[] = {
		    "HTTP_ACCEPT=application/json", "HTTP_HOST=a.example",
		    "HTTP_CF_VISITOR={\"scheme\":\"https\"}",
		    "REMOTE_ADDR=198.51.100.7", NULL };
		static const char *const none[] = {
		    "HTTP_ACCEPT=application/json", NULL };
		static const char *const quote[] = {
		    "HTTP_ACCEPT=application/json", "HTTP_HOST=a\"b.example",
		    "SERVER_NAME=c\\d.example", "SERVER_PORT=80", NULL };

		snprintf(want, sizeof(want), "https://jobs.example.org/app/"
		    "jobs/%s/result", id);
		request(&a, "GET", path, NULL, https, NULL);
		ok(has(&a, want), "HTTPS=on: an https URL");
		answer_free(&a);
		snprintf(want, sizeof(want), "\"http://real.example:8443/app/"
		    "jobs/%s/result\"", id);
		request(&a, "GET", path, NULL, bad, NULL);
		ok(has(&a, want), "a Host that is no host[:port]: ignored, "
		    "SERVER_NAME and SERVER_PORT used");
		answer_free(&a);
		snprintf(want, sizeof(want), "\"http://real.example/app/jobs/"
		    "%s/result\"", id);
		request(&a, "GET", path, NULL, nohost, NULL);
		ok(has(&a, want), "no Host: SERVER_NAME, port 80 left out");
		answer_free(&a);
		snprintf(want, sizeof(want), "\"http://a.example/app/jobs/%s/"
		    "result\"", id);
		request(&a, "GET", path, NULL, spoof, NULL);
		ok(has(&a, want), "X-Forwarded-Proto from an untrusted peer: "
		    "ignored");
		answer_free(&a);
		snprintf(want, sizeof(want), "\"https://a.example/app/jobs/%s/"
		    "result\"", id);
		request(&a, "GET", path, NULL, proxied, NULL);
		ok(has(&a, want), "X-Forwarded-Proto from a trusted proxy: "
		    "https");
		answer_free(&a);
		request(&a, "GET", path, NULL, cf, NULL);
		ok(has(&a, want), "CF-Visitor from a trusted proxy: https");
		answer_free(&a);
		snprintf(want, sizeof(want), "\"resourceLocation\":\"/app/jobs/"
		    "%s/result\"", id);
		request(&a, "GET", path, NULL, none, NULL);
		ok(has(&a, want), "no host known at all: a path, still valid");
		answer_free(&a);
		/* The URL goes into the JSON unescaped: nothing may end it. */
		request(&a, "GET", path, NULL, quote, NULL);
		ok(has(&a, want), "a Host and a SERVER_NAME with a quote or a "
		    "backslash: ignored, a path");
		ok(json_valid(&a), "... and the answer is valid JSON");
		answer_free(&a);

		pub = cfg.public_url;
		cfg.public_url = (char *)"https://jobs.example.com/x";
		snprintf(want, sizeof(want), "\"https://jobs.example.com/x/jobs/"
		    "%s/result\"", id);
		request(&a, "GET", path, NULL, spoof, NULL);
		ok(has(&a, want), "public_url: wins over the request");
		answer_free(&a);
		cfg.public_url = pub;
	}

	/* A failure, and a cancel, in the dialects. */
	is_int(start("task=fail", formjson, id), 202, "a failing job starts");
	ok(wait_final(id, 10) == 0, "it ends");
	snprintf(path, sizeof(path), "/jobs/%s", id);
	request(&a, "GET", path, NULL, json, NULL);
	ok(has(&a, "\"status\":\"Failed\",\"done\":true") &&
	    has(&a, "\"error\":{\"code\":\"exit\""), "failed: status Failed, "
	    "done, the error object");
	ok(!has(&a, "resourceLocation"), "failed: no resourceLocation");
	answer_free(&a);
	is_int(start("task=slow", formjson, id), 202, "a slow job starts");
	snprintf(path, sizeof(path), "/jobs/%s", id);
	request(&a, "GET", path, NULL, json, NULL);
	ok(has(&a, "\"done\":false"), "pending: done false");
	answer_free(&a);
	snprintf(path, sizeof(path), "/jobs/%s/cancel", id);
	request(&a, "POST", path, NULL, formjson, "");
	ok(a.status == 200 && has(&a, "\"status\":\"Canceled\""),
	    "cancelled: status Canceled");
	answer_free(&a);
}

/*
 * Issue 13, item 5: POST and DELETE from another site's page are
 * refused before anything is read or written.
 */
static void
test_cross_site(void)
{
	static const char *const xsite[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=text/html", "HTTP_HOST=jobs.example.org",
		"HTTP_SEC_FETCH_SITE=cross-site",
		"HTTP_ORIGIN=https://evil.example", NULL
	};
	static const char *const xsitejson[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=application/json", "HTTP_HOST=jobs.example.org",
		"HTTP_SEC_FETCH_SITE=cross-site", NULL
	};
	static const char *const oldbrowser[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=application/json", "HTTP_HOST=jobs.example.org",
		"HTTP_ORIGIN=https://evil.example", NULL
	};
	static const char *const nullorigin[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=application/json", "HTTP_HOST=jobs.example.org",
		"HTTP_ORIGIN=null", NULL
	};
	static const char *const same[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=application/json", "HTTP_HOST=jobs.example.org",
		"HTTP_SEC_FETCH_SITE=same-origin",
		"HTTP_ORIGIN=https://jobs.example.org", NULL
	};
	static const char *const sitewide[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=application/json", "HTTP_HOST=jobs.example.org",
		"HTTP_SEC_FETCH_SITE=same-site",
		"HTTP_ORIGIN=https://www.example.org", NULL
	};
	static const char *const ownorigin[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=application/json", "HTTP_HOST=jobs.example.org",
		"HTTP_ORIGIN=https://jobs.example.org", NULL
	};
	static const char *const allowed[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=application/json", "HTTP_HOST=jobs.example.org",
		"HTTP_SEC_FETCH_SITE=cross-site",
		"HTTP_ORIGIN=https://front.example.net", NULL
	};
	static const char *const xdelete[] = {
		"HTTP_ACCEPT=application/json", "HTTP_SEC_FETCH_SITE=cross-site",
		"HTTP_ORIGIN=https://evil.example", NULL
	};
	struct answer	 a;
	char		*before, id[SPOOLCGI_ID_LEN + 1], path[128];

	before = strdup(spool_listing());
	request(&a, "POST", "/jobs", NULL, xsite, "task=echo&text=x");
	is_int(a.status, 403, "cross-site form post: 403");
	ok(strncmp(header(&a, "Content-Type"), "text/html", 9) == 0 &&
	    has(&a, "another site"), "cross-site form post: an HTML page "
	    "that says why");
	answer_free(&a);
	request(&a, "POST", "/jobs", NULL, xsitejson, "task=echo&text=x");
	ok(a.status == 403 && has(&a, "\"code\":\"cross_site\""),
	    "cross-site, JSON asked: a JSON 403");
	answer_free(&a);
	request(&a, "POST", "/jobs", NULL, oldbrowser, "task=echo&text=x");
	is_int(a.status, 403, "no Sec-Fetch-Site, a foreign Origin: 403");
	answer_free(&a);
	request(&a, "POST", "/jobs", NULL, nullorigin, "task=echo&text=x");
	is_int(a.status, 403, "Origin: null: 403");
	answer_free(&a);
	ok(strcmp(before, spool_listing()) == 0, "the refusals left the "
	    "spool as it was");
	free(before);

	ok(start("task=echo&text=s", same, id) == 202 &&
	    wait_final(id, 10) == 0, "Sec-Fetch-Site: same-origin: started");
	ok(start("task=echo&text=s", sitewide, id) == 202 &&
	    wait_final(id, 10) == 0, "Sec-Fetch-Site: same-site: started");
	ok(start("task=echo&text=o", ownorigin, id) == 202 &&
	    wait_final(id, 10) == 0, "no Sec-Fetch-Site, its own Origin: "
	    "started");
	ok(start("task=echo&text=a", allowed, id) == 202 &&
	    wait_final(id, 10) == 0, "cross-site from allowed_origins: "
	    "started");
	ok(start("task=echo&text=c", formjson, id) == 202,
	    "neither header (curl, scripts): started");
	ok(wait_final(id, 10) == 0, "and ends");

	snprintf(path, sizeof(path), "/jobs/%s", id);
	request(&a, "DELETE", path, NULL, xdelete, NULL);
	is_int(a.status, 403, "cross-site DELETE: 403");
	answer_free(&a);
	request(&a, "GET", path, NULL, json, NULL);
	is_int(a.status, 200, "after the refused DELETE the job is there");
	answer_free(&a);
}

/* Issue 11, item 1: the log route and the log on the job page. */
static void
test_log(void)
{
	static const char *const html[] = { "HTTP_ACCEPT=text/html", NULL };
	struct answer	 a;
	char		 id[SPOOLCGI_ID_LEN + 1], qid[SPOOLCGI_ID_LEN + 1];
	char		 path[128], *before;

	ok(start("task=noisy", formjson, id) == 202 && wait_final(id, 10) == 0,
	    "log: a failing job that wrote to stderr");
	snprintf(path, sizeof(path), "/jobs/%s/log", id);
	request(&a, "GET", path, NULL, NULL, NULL);
	is_int(a.status, 200, "GET /jobs/ID/log: 200");
	is_str(header(&a, "Content-Type"), "text/plain; charset=utf-8",
	    "GET /jobs/ID/log: UTF-8 text");
	is_str(header(&a, "Cache-Control"), "no-store", "GET /jobs/ID/log: "
	    "not stored");
	ok(has(&a, "first <b>") && has(&a, "\xef\xbf\xbd" "bad") &&
	    has(&a, "last"), "GET /jobs/ID/log: the stderr, invalid UTF-8 "
	    "replaced");
	answer_free(&a);
	request(&a, "GET", path, "tail=5", NULL, NULL);
	ok(a.status == 200 && a.len <= 5 && has(&a, "last"),
	    "?tail=5: the last bytes only");
	answer_free(&a);
	request(&a, "GET", path, "tail=99999999999999999999999", NULL, NULL);
	ok(a.status == 200 && has(&a, "first"), "a huge ?tail=: capped, "
	    "the whole small log");
	answer_free(&a);
	before = strdup(spool_listing());
	request(&a, "GET", path, "tail=-1", json, NULL);
	ok(a.status == 400 && has(&a, "\"code\":\"invalid_tail\""),
	    "?tail=-1: 400 invalid_tail");
	answer_free(&a);
	request(&a, "GET", path, "tail=1e99", json, NULL);
	is_int(a.status, 400, "?tail=1e99: 400");
	answer_free(&a);
	request(&a, "GET", path, "tail=", json, NULL);
	is_int(a.status, 400, "?tail= (empty): 400");
	answer_free(&a);
	ok(strcmp(before, spool_listing()) == 0, "the refused tails left the "
	    "spool as it was");
	free(before);
	request(&a, "HEAD", path, NULL, NULL, NULL);
	ok(a.status == 200 && a.len == 0, "HEAD /jobs/ID/log: no body");
	answer_free(&a);
	request(&a, "POST", path, NULL, json, NULL);
	ok(a.status == 405 && strcmp(header(&a, "Allow"), "GET, HEAD") == 0,
	    "POST /jobs/ID/log: 405, Allow: GET, HEAD");
	answer_free(&a);
	request(&a, "GET", "/jobs/00000000-0000-4000-8000-000000000000/log",
	    NULL, json, NULL);
	is_int(a.status, 404, "the log of no job: 404");
	answer_free(&a);

	snprintf(path, sizeof(path), "/jobs/%s", id);
	request(&a, "GET", path, NULL, html, NULL);
	ok(a.status == 200 && has(&a, "<pre class=\"log\">") &&
	    has(&a, "first &lt;b&gt;") && !has(&a, "first <b>"),
	    "the failed job's page: the log tail, escaped");
	ok(has(&a, "/jobs/") && has(&a, "/log\">The whole log"),
	    "the failed job's page: links the log");
	answer_free(&a);

	ok(start("task=quiet", formjson, qid) == 202 &&
	    wait_final(qid, 10) == 0, "log: a failing job of a task with "
	    "\"log\": false");
	snprintf(path, sizeof(path), "/jobs/%s/log", qid);
	request(&a, "GET", path, NULL, json, NULL);
	ok(a.status == 404 && has(&a, "log_hidden"), "\"log\": false: the "
	    "log route answers 404");
	answer_free(&a);
	snprintf(path, sizeof(path), "/jobs/%s", qid);
	request(&a, "GET", path, NULL, html, NULL);
	ok(a.status == 200 && !has(&a, "class=\"log\""), "\"log\": false: "
	    "the page shows no log");
	answer_free(&a);
}

/* The value of the first hidden _token in a page, into tok. */
static void
page_token(const struct answer *a, char *tok, size_t sz)
{
	const char	*p = a->body != NULL ? strstr(a->body,
	    "name=\"_token\" value=\"") : NULL;
	size_t		 n;

	tok[0] = '\0';
	if (p == NULL)
		return;
	p += strlen("name=\"_token\" value=\"");
	n = strcspn(p, "\"");
	if (n < sz) {
		memcpy(tok, p, n);
		tok[n] = '\0';
	}
}

/*
 * Issue 11, items 5 and 7: POST {base}/jobs/{id}/retry runs a failed or
 * cancelled job again as a new job, once per token or key; the page of
 * such a job offers "Run again".
 */
static void
test_retry(void)
{
	static const char *const html[] = { "HTTP_ACCEPT=text/html", NULL };
	static const char *const keyed[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=application/json", "HTTP_IDEMPOTENCY_KEY=retry-1",
		NULL
	};
	static const char *const xsite[] = {
		"CONTENT_TYPE=application/x-www-form-urlencoded",
		"HTTP_ACCEPT=text/html", "HTTP_HOST=jobs.example.org",
		"HTTP_SEC_FETCH_SITE=cross-site",
		"HTTP_ORIGIN=https://evil.example", NULL
	};
	static const char *const text_body[] = {
		"CONTENT_TYPE=text/plain", "HTTP_ACCEPT=application/json", NULL
	};
	struct answer	 a;
	char		 fid[SPOOLCGI_ID_LEN + 1], nid[SPOOLCGI_ID_LEN + 1];
	char		 sid[SPOOLCGI_ID_LEN + 1], eid[SPOOLCGI_ID_LEN + 1];
	char		 hid[SPOOLCGI_ID_LEN + 1], tok[64], path[128];
	char		 want[320], body[128], *before;
	const char	*cc;
	int		 fd;

	ok(start("task=fail", formjson, fid) == 202 && wait_final(fid, 10) ==
	    0, "retry: a failed job");
	snprintf(path, sizeof(path), "/jobs/%s", fid);
	snprintf(want, sizeof(want), "\"retry\":\"/app/jobs/%s/retry\"", fid);
	request(&a, "GET", path, NULL, json, NULL);
	ok(has(&a, want), "its status links the retry");
	answer_free(&a);
	request(&a, "GET", path, NULL, html, NULL);
	snprintf(want, sizeof(want), "action=\"/app/jobs/%s/retry\"", fid);
	ok(a.status == 200 && has(&a, want) && has(&a, ">Run again</button>"),
	    "its page: a Run again form posting to the retry route");
	page_token(&a, tok, sizeof(tok));
	ok(job_id_check(tok, strlen(tok)), "with a one-time token");
	answer_free(&a);

	snprintf(path, sizeof(path), "/jobs/%s/retry", fid);
	request(&a, "POST", path, NULL, formjson, "");
	is_int(a.status, 202, "POST /jobs/ID/retry (JSON): 202");
	snprintf(nid, sizeof(nid), "%s", location_id(&a));
	ok(job_id_check(nid, strlen(nid)) && strcmp(nid, fid) != 0,
	    "Location: a new job");
	ok(has(&a, "\"task\":\"fail\"") && has(&a, "\"links\":"),
	    "the body: the new job's status object");
	answer_free(&a);
	ok(wait_final(nid, 10) == 0, "the new job runs to its end");
	snprintf(path, sizeof(path), "/jobs/%s", fid);
	request(&a, "GET", path, NULL, json, NULL);
	ok(a.status == 200 && has(&a, "\"state\":\"failed\""),
	    "the old job keeps its record");
	answer_free(&a);

	snprintf(path, sizeof(path), "/jobs/%s/retry", fid);
	snprintf(body, sizeof(body), "_token=%s", tok);
	request(&a, "POST", path, NULL, form, body);
	is_int(a.status, 303, "the page's form: 303");
	snprintf(hid, sizeof(hid), "%s", location_id(&a));
	ok(strncmp(header(&a, "Location"), "/app/jobs/", 10) == 0 &&
	    job_id_check(hid, strlen(hid)) && strcmp(hid, fid) != 0 &&
	    strcmp(hid, nid) != 0, "to the new job's page");
	answer_free(&a);
	ok(wait_final(hid, 10) == 0, "the form's job ends");
	before = strdup(spool_listing());
	request(&a, "POST", path, NULL, form, body);
	ok(a.status == 303 && strcmp(location_id(&a), hid) == 0,
	    "the same token again (a double click): the same job");
	answer_free(&a);
	snprintf(path, sizeof(path), "/jobs/%s/retry", nid);
	request(&a, "POST", path, NULL, form, body);
	ok(a.status == 400 && has(&a, "_token"), "the token on another "
	    "job's retry: 400");
	answer_free(&a);
	ok(strcmp(before, spool_listing()) == 0, "the repeat and the refusal "
	    "left the spool as it was");
	free(before);

	snprintf(path, sizeof(path), "/jobs/%s/retry", fid);
	request(&a, "POST", path, NULL, keyed, "");
	snprintf(eid, sizeof(eid), "%s", location_id(&a));
	ok(a.status == 202 && job_id_check(eid, strlen(eid)),
	    "Idempotency-Key: 202");
	answer_free(&a);
	request(&a, "POST", path, NULL, keyed, "");
	ok(a.status == 202 && strcmp(location_id(&a), eid) == 0,
	    "the same key again: the same job");
	answer_free(&a);
	ok(wait_final(eid, 10) == 0, "the keyed job ends");

	/* Refusals: each leaves the spool as it was. */
	ok(start("task=slow", formjson, sid) == 202 &&
	    wait_state(sid, "running", 10) == 0, "a slow job runs");
	ok(start("task=echo&text=ok", formjson, eid) == 202 &&
	    wait_final(eid, 10) == 0, "an echo job succeeds");
	before = strdup(spool_listing());
	snprintf(path, sizeof(path), "/jobs/%s/retry", sid);
	request(&a, "POST", path, NULL, formjson, "");
	ok(a.status == 409 && has(&a, "\"state\":\"") &&
	    !has(&a, "\"state\":\"failed\""), "a pending job: 409 with its "
	    "status");
	answer_free(&a);
	request(&a, "POST", path, NULL, form, "");
	ok(a.status == 409 && has(&a, "only a failed or cancelled job"),
	    "a pending job (HTML): 409, a page that says why");
	cc = a.head != NULL ? strstr(a.head, "Cache-Control: no-store") : NULL;
	ok(cc != NULL && strstr(cc + 1, "Cache-Control") == NULL,
	    "one Cache-Control: no-store");
	answer_free(&a);
	snprintf(path, sizeof(path), "/jobs/%s/retry", eid);
	request(&a, "POST", path, NULL, formjson, "");
	ok(a.status == 409 && has(&a, "\"state\":\"succeeded\""),
	    "a succeeded job: 409");
	answer_free(&a);
	snprintf(path, sizeof(path), "/jobs/%s", eid);
	request(&a, "GET", path, NULL, html, NULL);
	ok(a.status == 200 && !has(&a, "Run again"), "a succeeded job's "
	    "page: no Run again");
	answer_free(&a);
	request(&a, "POST", "/jobs/00000000-0000-4000-8000-000000000000/retry",
	    NULL, formjson, "");
	is_int(a.status, 404, "no such job: 404");
	answer_free(&a);
	request(&a, "POST", "/jobs/not-a-job/retry", NULL, formjson, "");
	is_int(a.status, 404, "a malformed id: 404");
	answer_free(&a);
	snprintf(path, sizeof(path), "/jobs/%s/retry", fid);
	request(&a, "GET", path, NULL, json, NULL);
	ok(a.status == 405 && strcmp(header(&a, "Allow"), "POST") == 0,
	    "GET /jobs/ID/retry: 405, Allow: POST");
	answer_free(&a);
	request(&a, "POST", path, NULL, xsite, body);
	is_int(a.status, 403, "a retry posted from another site: 403");
	answer_free(&a);
	request(&a, "POST", path, NULL, text_body, "x");
	is_int(a.status, 415, "a text/plain body: 415");
	answer_free(&a);
	snprintf(want, sizeof(want), "%s/spool/drain", root);
	if ((fd = open(want, O_WRONLY | O_CREAT, 0600)) != -1)
		close(fd);
	request(&a, "POST", path, NULL, formjson, "");
	ok(a.status == 503 && has(&a, "draining") &&
	    header(&a, "Retry-After")[0] != '\0', "draining: 503 with "
	    "Retry-After");
	answer_free(&a);
	unlink(want);
	ok(strcmp(before, spool_listing()) == 0, "the refusals left the "
	    "spool as it was");
	free(before);

	snprintf(path, sizeof(path), "/jobs/%s/cancel", sid);
	request(&a, "POST", path, NULL, formjson, "");
	ok(a.status == 200 && has(&a, "\"state\":\"cancelled\"") &&
	    has(&a, "/retry\""), "a cancelled job: its status links the "
	    "retry");
	answer_free(&a);
	snprintf(path, sizeof(path), "/jobs/%s/retry", sid);
	request(&a, "POST", path, NULL, formjson, "");
	snprintf(nid, sizeof(nid), "%s", location_id(&a));
	ok(a.status == 202 && strcmp(nid, sid) != 0 &&
	    has(&a, "\"task\":\"slow\""), "a cancelled job runs again: 202");
	answer_free(&a);
	snprintf(path, sizeof(path), "/jobs/%s/cancel", nid);
	request(&a, "POST", path, NULL, formjson, "");
	is_int(a.status, 200, "(and is cancelled in its turn)");
	answer_free(&a);
}

/* The owner cookie a start set, as "spoolcgi_owner=TOKEN", or "". */
static const char *
owner_cookie(const struct answer *a, char *out, size_t sz)
{
	const char	*c = header(a, "Set-Cookie");

	snprintf(out, sz, "%.*s", (int)strcspn(c, ";"), c);
	return out;
}

/* Does the JSON or HTML answer a list job id? */
static int
lists(const struct answer *a, const char *id)
{
	return has(a, id);
}

/*
 * Issue 11, item 3: GET {base}/jobs lists the caller's own jobs.  The
 * owner is REMOTE_USER, or a signed token in a cookie set on a browser's
 * first start; a forged cookie lists nothing and leaves nothing behind.
 */
static void
test_myjobs(void)
{
	static const char *const nocookie[] = { "HTTP_ACCEPT=application/json",
	    NULL };
	static const char *const html[] = { "HTTP_ACCEPT=text/html", NULL };
	struct answer	 a;
	char		 c1[128], c2[128], c3[128], v1[160], v2[160], v3[160];
	char		 h1[160], id1[SPOOLCGI_ID_LEN + 1];
	char		 id2[SPOOLCGI_ID_LEN + 1], id3[SPOOLCGI_ID_LEN + 1];
	char		 ida[SPOOLCGI_ID_LEN + 1], next[600], path[700];
	char		 forged[160], *before, *p;
	char		 extra[6][SPOOLCGI_ID_LEN + 1];
	int		 nextra = 0;
	const char	*sc;
	int		 i;

	/* A browser's first start sets the cookie. */
	request(&a, "POST", "/jobs", NULL, form, "task=echo&text=mine");
	is_int(a.status, 303, "my jobs: a browser's first start: 303");
	snprintf(id1, sizeof(id1), "%s", location_id(&a));
	sc = header(&a, "Set-Cookie");
	ok(strncmp(sc, "spoolcgi_owner=", 15) == 0 &&
	    strspn(sc + 15, "0123456789abcdef") == OWNER_TOKEN_LEN &&
	    sc[15 + OWNER_TOKEN_LEN] == ';', "it sets spoolcgi_owner, 64 hex "
	    "digits");
	ok(strstr(sc, "; Path=/app;") != NULL, "Path is the base");
	ok(strstr(sc, "; HttpOnly") != NULL, "HttpOnly");
	ok(strstr(sc, "; SameSite=Lax") != NULL, "SameSite=Lax");
	ok(strstr(sc, "; Max-Age=34560000") != NULL, "kept 400 days");
	ok(strstr(sc, "Secure") == NULL, "not Secure over plain HTTP");
	owner_cookie(&a, c1, sizeof(c1));
	answer_free(&a);
	snprintf(v1, sizeof(v1), "HTTP_COOKIE=other=1; %s", c1);
	snprintf(h1, sizeof(h1), "HTTP_COOKIE=%s", c1);

	/* A script (JSON, no Fetch Metadata) is given no cookie; fetch is. */
	request(&a, "POST", "/jobs", NULL, formjson, "task=echo&text=script");
	ok(a.status == 202 && header(&a, "Set-Cookie")[0] == '\0',
	    "a script's start (JSON, no Sec-Fetch-Site): no cookie");
	snprintf(extra[nextra++], sizeof(extra[0]), "%s", location_id(&a));
	answer_free(&a);
	{
		const char *v[] = { formjson[0], formjson[1],
		    "HTTP_SEC_FETCH_SITE=same-origin", NULL };

		request(&a, "POST", "/jobs", NULL, v, "task=echo&text=fetch");
		ok(a.status == 202 && strncmp(header(&a, "Set-Cookie"),
		    "spoolcgi_owner=", 15) == 0, "a browser's fetch (JSON, "
		    "Sec-Fetch-Site): the cookie");
		snprintf(extra[nextra++], sizeof(extra[0]), "%s",
		    location_id(&a));
		answer_free(&a);
	}

	/* Its second start keeps it. */
	{
		const char *v[] = { form[0], form[1], h1, NULL };

		request(&a, "POST", "/jobs", NULL, v, "task=echo&text=again");
		is_int(a.status, 303, "a start with the cookie: 303");
		is_str(header(&a, "Set-Cookie"), "", "sets no new cookie");
		snprintf(id2, sizeof(id2), "%s", location_id(&a));
		answer_free(&a);
	}
	/* Another browser: another owner. */
	request(&a, "POST", "/jobs", NULL, form, "task=echo&text=theirs");
	snprintf(id3, sizeof(id3), "%s", location_id(&a));
	owner_cookie(&a, c2, sizeof(c2));
	ok(c2[0] != '\0' && strcmp(c1, c2) != 0, "another browser gets "
	    "another cookie");
	answer_free(&a);
	snprintf(v2, sizeof(v2), "HTTP_COOKIE=%s", c2);

	{
		const char *v[] = { json[0], v1, NULL };

		request(&a, "GET", "/jobs", NULL, v, NULL);
		is_int(a.status, 200, "GET /jobs with the cookie (JSON): 200");
		ok(has(&a, "\"owner\":\"cookie\"") && lists(&a, id1) &&
		    lists(&a, id2) && !lists(&a, id3), "its two jobs, not the "
		    "other browser's");
		ok((p = strstr(a.body ? a.body : "", id2)) != NULL &&
		    strstr(p, id1) != NULL, "newest first");
		ok(has(&a, "\"links\":{\"self\":\"/app/jobs/") &&
		    has(&a, "\"created_at\":\"") && has(&a, "\"next\":null"),
		    "status objects with links and times; no next page");
		is_str(header(&a, "Cache-Control"), "no-store", "no-store");
		ok(strstr(header(&a, "Vary"), "Cookie") != NULL, "Vary: Cookie");
		answer_free(&a);
	}
	{
		const char *v[] = { json[0], v2, NULL };

		request(&a, "GET", "/jobs", NULL, v, NULL);
		ok(a.status == 200 && lists(&a, id3) && !lists(&a, id1) &&
		    !lists(&a, id2), "the other browser sees its job only");
		answer_free(&a);
	}
	{
		const char *v[] = { html[0], v1, NULL };

		request(&a, "GET", "/jobs", NULL, v, NULL);
		is_int(a.status, 200, "GET /jobs (HTML): 200");
		ok(has(&a, "<h1>My jobs</h1>") && has(&a, "<table class=\"jobs\">")
		    && has(&a, id1) && has(&a, id2) && !has(&a, id3),
		    "the HTML list: a table of its jobs");
		ok(has(&a, "Echo &lt;it&gt;") && !has(&a, "Echo <it>"),
		    "the task's title escaped");
		ok(strstr(header(&a, "Content-Security-Policy"),
		    "default-src 'none'") != NULL, "the page's CSP");
		answer_free(&a);
		request(&a, "HEAD", "/jobs", NULL, v, NULL);
		ok(a.status == 200 && a.len == 0, "HEAD /jobs: 200, no body");
		answer_free(&a);
	}
	/* A job's link stays a capability: no cookie needed. */
	snprintf(path, sizeof(path), "/jobs/%s", id1);
	request(&a, "GET", path, NULL, nocookie, NULL);
	ok(a.status == 200 || a.status == 202, "a job's own URL works "
	    "without the cookie");
	answer_free(&a);
	request(&a, "GET", path, NULL, html, NULL);
	ok(has(&a, "href=\"/app/jobs\">My jobs</a>"), "the job page links "
	    "the list");
	answer_free(&a);
	request(&a, "GET", "/tasks", NULL, html, NULL);
	ok(has(&a, "href=\"/app/jobs\">My jobs</a>"), "the start page links "
	    "the list");
	answer_free(&a);

	/* No owner at all. */
	request(&a, "GET", "/jobs", NULL, nocookie, NULL);
	ok(a.status == 403 && has(&a, "\"code\":\"no_owner\"") &&
	    has(&a, "REMOTE_USER"), "JSON without cookie or REMOTE_USER: 403 "
	    "no_owner, saying how");
	answer_free(&a);
	request(&a, "GET", "/jobs", NULL, html, NULL);
	ok(a.status == 200 && has(&a, "not started a job from this browser")
	    && !has(&a, "<table"), "a browser without the cookie: an empty "
	    "list, said so");
	answer_free(&a);

	/* Forged and malformed cookies: 400, nothing made, cleared. */
	ok(wait_final(id1, 10) == 0 && wait_final(id2, 10) == 0 &&
	    wait_final(id3, 10) == 0, "my jobs: the first three jobs end");
	before = strdup(spool_listing());
	snprintf(forged, sizeof(forged), "HTTP_COOKIE=spoolcgi_owner=");
	for (i = 0; i < OWNER_TOKEN_LEN; i++)
		strcat(forged, i % 3 ? "a" : "7");
	{
		const char *bad[] = { forged,
		    "HTTP_COOKIE=spoolcgi_owner=../../../etc/passwd",
		    "HTTP_COOKIE=spoolcgi_owner=",
		    "HTTP_COOKIE=spoolcgi_owner=" "0123456789abcdef0123456789abcdef"
		    "0123456789abcdef0123456789abcdef0123456789abcdef", NULL };
		const char *names[] = { "forged (well-formed, wrong MAC)",
		    "a path", "empty", "too long" };

		for (i = 0; bad[i] != NULL; i++) {
			const char *v[] = { json[0], bad[i], NULL };

			request(&a, "GET", "/jobs", NULL, v, NULL);
			ok(a.status == 400 && has(&a, "\"code\":\"invalid_owner\"")
			    && !has(&a, id1) && !has(&a, id3), "a %s cookie: "
			    "400 invalid_owner, nothing listed", names[i]);
			ok(strncmp(header(&a, "Set-Cookie"), "spoolcgi_owner=;",
			    16) == 0 && strstr(header(&a, "Set-Cookie"),
			    "Max-Age=0") != NULL, "a %s cookie: cleared",
			    names[i]);
			answer_free(&a);
		}
	}
	{
		/* The MAC half of a real token with another random half. */
		char	 swapped[200];
		const char *v[] = { json[0], swapped, NULL };

		snprintf(swapped, sizeof(swapped), "HTTP_COOKIE=%.*s%.*s",
		    (int)(strlen("spoolcgi_owner=") + 32), c2,
		    32, c1 + strlen("spoolcgi_owner=") + 32);
		request(&a, "GET", "/jobs", NULL, v, NULL);
		ok(a.status == 400 && !has(&a, id1) && !has(&a, id3),
		    "halves of two owners' tokens spliced: 400");
		answer_free(&a);
	}
	ok(strcmp(before, spool_listing()) == 0, "the refused cookies left "
	    "the spool as it was");
	if (strcmp(before, spool_listing()) != 0)
		printf("# before:\n%s\n# after:\n%s\n", before, spool_listing());
	free(before);
	{
		const char *v[] = { form[0], form[1], forged, NULL };

		request(&a, "POST", "/jobs", NULL, v, "task=echo&text=f");
		owner_cookie(&a, c3, sizeof(c3));
		snprintf(extra[nextra++], sizeof(extra[0]), "%s",
		    location_id(&a));
		ok(a.status == 303 && c3[0] != '\0' && strcmp(c3, forged +
		    strlen("HTTP_COOKIE=")) != 0, "a start with a forged "
		    "cookie: a new cookie replaces it");
		answer_free(&a);
		snprintf(v3, sizeof(v3), "HTTP_COOKIE=%s", c3);
	}

	/* Secure over HTTPS, and behind a trusted proxy that says so. */
	{
		const char *v[] = { form[0], form[1], "HTTPS=on", NULL };

		request(&a, "POST", "/jobs", NULL, v, "task=echo&text=s");
		snprintf(extra[nextra++], sizeof(extra[0]), "%s",
		    location_id(&a));
		ok(strstr(header(&a, "Set-Cookie"), "; Secure") != NULL,
		    "HTTPS=on: Secure");
		answer_free(&a);
	}
	{
		const char *v[] = { form[0], form[1],
		    "HTTP_X_FORWARDED_PROTO=https", "REMOTE_ADDR=198.51.100.7",
		    NULL };

		request(&a, "POST", "/jobs", NULL, v, "task=echo&text=s");
		snprintf(extra[nextra++], sizeof(extra[0]), "%s",
		    location_id(&a));
		ok(strstr(header(&a, "Set-Cookie"), "; Secure") != NULL,
		    "a trusted proxy's X-Forwarded-Proto: https: Secure");
		answer_free(&a);
	}
	{
		const char *v[] = { form[0], form[1],
		    "HTTP_X_FORWARDED_PROTO=https", NULL };

		request(&a, "POST", "/jobs", NULL, v, "task=echo&text=s");
		snprintf(extra[nextra++], sizeof(extra[0]), "%s",
		    location_id(&a));
		ok(strstr(header(&a, "Set-Cookie"), "Secure") == NULL,
		    "X-Forwarded-Proto from anyone else: not believed");
		answer_free(&a);
	}

	/* REMOTE_USER: the web server's user, no cookie. */
	{
		const char *v[] = { formjson[0], formjson[1],
		    "REMOTE_USER=alice", h1, NULL };

		request(&a, "POST", "/jobs", NULL, v, "task=echo&text=alice");
		is_int(a.status, 202, "a start as REMOTE_USER alice: 202");
		is_str(header(&a, "Set-Cookie"), "", "sets no cookie");
		snprintf(ida, sizeof(ida), "%s", location_id(&a));
		answer_free(&a);
	}
	{
		const char *v[] = { json[0], "REMOTE_USER=alice", v2, NULL };

		request(&a, "GET", "/jobs", NULL, v, NULL);
		ok(a.status == 200 && has(&a, "\"owner\":\"user\"") &&
		    has(&a, "\"user\":\"alice\"") && lists(&a, ida) &&
		    !lists(&a, id3), "alice's list: her job, whatever cookie "
		    "comes along");
		answer_free(&a);
	}
	{
		const char *v[] = { json[0], "REMOTE_USER=bob", NULL };

		request(&a, "GET", "/jobs", NULL, v, NULL);
		ok(a.status == 200 && !lists(&a, ida) && has(&a, "\"jobs\":[]"),
		    "bob's list: empty");
		answer_free(&a);
	}
	{
		const char *v[] = { json[0], v1, NULL };

		request(&a, "GET", "/jobs", NULL, v, NULL);
		ok(!lists(&a, ida), "alice's job is not in the first browser's "
		    "list, though it sent that cookie");
		answer_free(&a);
	}
	{
		const char *v[] = { html[0], "REMOTE_USER=<b>al", NULL };

		request(&a, "GET", "/jobs", NULL, v, NULL);
		ok(a.status == 200 && has(&a, "&lt;b&gt;al") &&
		    !has(&a, "<b>al"), "the user's name is escaped in the page");
		answer_free(&a);
	}

	/* Pages. */
	{
		const char *v[] = { json[0], v1, NULL };

		request(&a, "GET", "/jobs", "limit=1", v, NULL);
		ok(a.status == 200 && lists(&a, id2) && !lists(&a, id1),
		    "limit=1: the newest only");
		next[0] = '\0';
		if ((p = strstr(a.body ? a.body : "", "\"next\":\"")) != NULL)
			snprintf(next, sizeof(next), "%.*s",
			    (int)strcspn(p + 8, "\""), p + 8);
		ok(strncmp(next, "/app/jobs?before=", 17) == 0 &&
		    strstr(next, "&limit=1") != NULL, "and a next link: %s",
		    next);
		answer_free(&a);
		request(&a, "GET", "/jobs", strchr(next, '?') ? strchr(next,
		    '?') + 1 : "", v, NULL);
		ok(a.status == 200 && lists(&a, id1) && !lists(&a, id2) &&
		    has(&a, "\"next\":null"), "the next page: the older job, "
		    "and the end");
		answer_free(&a);
		ok(wait_final(ida, 10) == 0, "alice's job ends");
		for (i = 0; i < nextra; i++)
			ok(wait_final(extra[i], 10) == 0, "job %d ends", i);
		before = strdup(spool_listing());
		{
			const char *q[] = { "limit=0", "limit=201", "limit=abc",
			    "limit=-1", "limit=1e99", "limit=", "limit=5x",
			    "limit=99999999999999999999", "before=zzz",
			    "before=", "before=../../etc",
			    "before=0000000000000000-00000000-0000-0000-0000-"
			    "000000000000", NULL };

			for (i = 0; q[i] != NULL; i++) {
				request(&a, "GET", "/jobs", q[i], v, NULL);
				ok(a.status == 400 && has(&a, "invalid_field"),
				    "?%s: 400", q[i]);
				answer_free(&a);
			}
		}
		ok(strcmp(before, spool_listing()) == 0, "the refused pages "
		    "left the spool as it was");
		free(before);
	}
	{
		const char *v[] = { html[0], v1, NULL };

		request(&a, "GET", "/jobs", "limit=1", v, NULL);
		ok(has(&a, "rel=\"next\">Older jobs</a>") && has(&a,
		    "limit=1"), "the HTML page links the older jobs");
		answer_free(&a);
	}
	/* A removed job leaves the list. */
	snprintf(path, sizeof(path), "/jobs/%s", id2);
	request(&a, "DELETE", path, NULL, json, NULL);
	answer_free(&a);
	{
		const char *v[] = { json[0], v1, NULL };

		request(&a, "GET", "/jobs", NULL, v, NULL);
		ok(a.status == 200 && lists(&a, id1) && !lists(&a, id2),
		    "a deleted job is no longer listed");
		answer_free(&a);
	}
	(void)v3;
	ok(wait_final(ida, 10) == 0, "my jobs: alice's job ends");
}

/*
 * Issue 11, items 3 and 7: a job run again belongs to whoever runs it
 * again, not to the old job's owner; the caller's list shows it, the
 * old owner's does not.
 */
static void
test_retry_owner(void)
{
	struct answer	 a;
	char		 ca[128], cb[128], va[160], vb[160];
	char		 old[SPOOLCGI_ID_LEN + 1], nid[SPOOLCGI_ID_LEN + 1];
	char		 path[128];

	/* Browser A starts a job that fails. */
	request(&a, "POST", "/jobs", NULL, form, "task=fail");
	snprintf(old, sizeof(old), "%s", location_id(&a));
	owner_cookie(&a, ca, sizeof(ca));
	ok(a.status == 303 && ca[0] != '\0', "retry owner: browser A starts "
	    "a job, and is given a cookie");
	answer_free(&a);
	ok(wait_final(old, 10) == 0, "A's job fails");
	snprintf(va, sizeof(va), "HTTP_COOKIE=%s", ca);
	/* Browser B, holding the link only, runs it again. */
	snprintf(path, sizeof(path), "/jobs/%s/retry", old);
	request(&a, "POST", path, NULL, form, "_token=owner-retry-1");
	snprintf(nid, sizeof(nid), "%s", location_id(&a));
	owner_cookie(&a, cb, sizeof(cb));
	ok(a.status == 303 && job_id_check(nid, strlen(nid)) &&
	    cb[0] != '\0' && strcmp(ca, cb) != 0, "browser B runs it again: "
	    "303, and B is given a cookie of its own");
	answer_free(&a);
	snprintf(vb, sizeof(vb), "HTTP_COOKIE=%s", cb);
	{
		const char *v[] = { json[0], vb, NULL };

		request(&a, "GET", "/jobs", NULL, v, NULL);
		ok(a.status == 200 && lists(&a, nid) && !lists(&a, old),
		    "B's list: the new job, not the old one");
		answer_free(&a);
	}
	{
		const char *v[] = { json[0], va, NULL };

		request(&a, "GET", "/jobs", NULL, v, NULL);
		ok(a.status == 200 && lists(&a, old) && !lists(&a, nid),
		    "A's list: the old job, not B's run of it");
		answer_free(&a);
	}
	ok(wait_final(nid, 10) == 0, "the new job ends");
}

/* Is job id's JSON status carrying s?  For wait_for(). */
static int
status_has(const char *id, const char *s)
{
	struct answer	 a;
	char		 path[128];
	int		 found;

	snprintf(path, sizeof(path), "/jobs/%s", id);
	request(&a, "GET", path, NULL, json, NULL);
	found = has(&a, s);
	answer_free(&a);
	return found;
}

/*
 * Issue 11, item 7: the job page and the status object tell the time a
 * job has run, the time its progress says is left, and a queued job's
 * place in the queue.
 */
static void
test_timing(void)
{
	static const char *const html[] = { "HTTP_ACCEPT=text/html", NULL };
	struct answer	 a;
	char		 id[SPOOLCGI_ID_LEN + 1], qid[SPOOLCGI_ID_LEN + 1];
	char		 path[128], *p;
	time_t		 deadline;
	int		 was = cfg.max_running, found, queued, running;

	/*
	 * One slot, taken by the first job: the second must queue.  The
	 * supervisors of the jobs before may still hold slots for a moment
	 * after their final status (long under valgrind); wait until they
	 * have let go, or the first job takes another slot than the one the
	 * second is then limited to.
	 */
	deadline = time(NULL) + 30;
	while ((found = store_counts(srv.store, was, &queued, &running)) ==
	    0 && running > 0 && time(NULL) <= deadline)
		poll(NULL, 0, 50);
	ok(found == 0 && running == 0, "timing: no job runs before");
	cfg.max_running = 1;
	ok(start("task=half", formjson, id) == 202, "timing: a job that "
	    "reports 50 percent and runs on");
	ok(status_has(id, "\"remaining_seconds\":null"), "no estimate at "
	    "first (too early, or no progress yet)");
	/* The estimate comes after JOB_ESTIMATE_AFTER seconds of running. */
	deadline = time(NULL) + 30;
	while (!(found = !status_has(id, "\"remaining_seconds\":null")) &&
	    time(NULL) <= deadline)
		poll(NULL, 0, 200);
	ok(found, "an estimate within 30 s");
	snprintf(path, sizeof(path), "/jobs/%s", id);
	request(&a, "GET", path, NULL, json, NULL);
	ok(a.status == 202 && has(&a, "\"progress\":50") &&
	    (p = strstr(a.body, "\"elapsed_seconds\":")) != NULL &&
	    atoi(p + 18) >= JOB_ESTIMATE_AFTER,
	    "the status object: elapsed_seconds since the start");
	ok((p = strstr(a.body, "\"remaining_seconds\":")) != NULL &&
	    atoi(p + 20) >= JOB_ESTIMATE_AFTER - 1 &&
	    atoi(p + 20) <= JOB_ESTIMATE_AFTER + 60,
	    "remaining_seconds: about as long again as it ran (50 percent)");
	answer_free(&a);
	request(&a, "GET", path, NULL, html, NULL);
	ok(a.status == 200 && has(&a, "Running for <time datetime=\"PT") &&
	    has(&a, "second"), "the page: how long it has run, in words "
	    "and as a <time>");
	ok(has(&a, "<time class=\"eta\" datetime=\"PT") &&
	    has(&a, "</time> left."), "the page: the estimate of the time "
	    "left");
	ok(has(&a, "data-spoolcgi-log=\"/app/jobs/") &&
	    has(&a, "<pre class=\"log\">"),
	    "the page: the log section the client updates");
	answer_free(&a);

	/* Every slot taken: the next job waits, and says where. */
	ok(start("task=half", formjson, qid) == 202 &&
	    status_has(qid, "\"state\":\"queued\""), "timing: with every "
	    "slot taken, a job is queued");
	ok(status_has(qid, "\"queue_position\":1,\"elapsed_seconds\":null,"
	    "\"remaining_seconds\":null"), "queued: queue_position 1, no "
	    "elapsed time, no estimate");
	snprintf(path, sizeof(path), "/jobs/%s", qid);
	request(&a, "GET", path, NULL, html, NULL);
	ok(a.status == 200 && has(&a, "Waiting to start</strong>: number 1 "
	    "in the queue") && !has(&a, "Running for"), "the queued job's "
	    "page: its place in the queue");
	answer_free(&a);
	snprintf(path, sizeof(path), "/jobs/%s/cancel", qid);
	request(&a, "POST", path, NULL, formjson, "");
	answer_free(&a);
	snprintf(path, sizeof(path), "/jobs/%s/cancel", id);
	request(&a, "POST", path, NULL, formjson, "");
	answer_free(&a);
	cfg.max_running = was;
	ok(wait_final(id, 20) == 0 && wait_final(qid, 20) == 0,
	    "timing: both jobs cancelled");
	snprintf(path, sizeof(path), "/jobs/%s", id);
	request(&a, "GET", path, NULL, html, NULL);
	ok(a.status == 200 && has(&a, "<dt>Ran for</dt>"), "the final page: "
	    "how long it ran");
	answer_free(&a);
	ok(status_has(id, "\"remaining_seconds\":null"), "final: no "
	    "estimate");
}

/* GET path with one extra request variable (NULL: none). */
static void
get1(struct answer *a, const char *method, const char *path, const char *var)
{
	const char	*v[2] = { var, NULL };

	request(a, method, path, NULL, var != NULL ? v : NULL, NULL);
}

/*
 * Issue 11, item 2: ranges (RFC 9110 14), validators (13.1) and the
 * download name (RFC 6266).
 */
static void
test_ranges(void)
{
	struct answer	 a, whole;
	char		 id[SPOOLCGI_ID_LEN + 1], path[128], var[256];
	char		 etag[128], lm[64], cr[64];
	struct task	*t;
	size_t		 size;
	int		 i;

	ok(start("task=named&text=%C3%9Cber%22x%2F..", formjson, id) == 202 &&
	    wait_final(id, 10) == 0, "ranges: a job with a result");
	snprintf(path, sizeof(path), "/jobs/%s/result", id);
	get1(&whole, "GET", path, NULL);
	size = whole.len;
	is_int(whole.status, 200, "result: 200");
	is_str(header(&whole, "Accept-Ranges"), "bytes", "result: "
	    "Accept-Ranges: bytes");
	snprintf(etag, sizeof(etag), "%s", header(&whole, "ETag"));
	snprintf(lm, sizeof(lm), "%s", header(&whole, "Last-Modified"));
	ok(strstr(lm, " GMT") != NULL, "result: Last-Modified, an HTTP date");
	snprintf(var, sizeof(var), "attachment; filename=\"r-_ber_x_..-%s.txt"
	    "\"; filename*=UTF-8''r-%%C3%%9Cber_x_..-%s.txt", id, id);
	is_str(header(&whole, "Content-Disposition"), var, "result: the "
	    "download name from result_filename, made safe, ASCII and UTF-8");
	ok(size > 20, "result: some bytes to cut");

	get1(&a, "GET", path, "HTTP_RANGE=bytes=0-9");
	snprintf(cr, sizeof(cr), "bytes 0-9/%zu", size);
	ok(a.status == 206 && a.len == 10 && memcmp(a.body, whole.body, 10) ==
	    0 && strcmp(header(&a, "Content-Range"), cr) == 0,
	    "Range: bytes=0-9: 206, ten bytes, Content-Range");
	answer_free(&a);
	get1(&a, "GET", path, "HTTP_RANGE=bytes=10-");
	ok(a.status == 206 && a.len == size - 10 && memcmp(a.body,
	    whole.body + 10, size - 10) == 0, "Range: bytes=10-: the rest (a "
	    "resumed download)");
	answer_free(&a);
	get1(&a, "GET", path, "HTTP_RANGE=bytes=-5");
	ok(a.status == 206 && a.len == 5 && memcmp(a.body,
	    whole.body + size - 5, 5) == 0, "Range: bytes=-5: the last five");
	answer_free(&a);
	get1(&a, "GET", path, "HTTP_RANGE=bytes=5-99999999999");
	ok(a.status == 206 && a.len == size - 5, "a last byte past the end: "
	    "to the end");
	answer_free(&a);
	snprintf(var, sizeof(var), "HTTP_RANGE=bytes=%zu-", size);
	get1(&a, "GET", path, var);
	snprintf(cr, sizeof(cr), "bytes */%zu", size);
	ok(a.status == 416 && strcmp(header(&a, "Content-Range"), cr) == 0,
	    "Range past the end: 416, Content-Range: bytes */SIZE");
	answer_free(&a);
	get1(&a, "GET", path, "HTTP_RANGE=bytes=99999999999999999999999-");
	is_int(a.status, 416, "Range: a first byte of 10^23: 416");
	answer_free(&a);
	get1(&a, "GET", path, "HTTP_RANGE=bytes=-0");
	is_int(a.status, 416, "Range: bytes=-0: 416");
	answer_free(&a);
	get1(&a, "GET", path, "HTTP_RANGE=bytes=0-1,4-5");
	ok(a.status == 200 && a.len == size, "two ranges: the whole result, "
	    "200");
	answer_free(&a);
	snprintf(var, sizeof(var), "HTTP_RANGE=bytes=0-0");
	for (i = 0; i < 20; i++)
		strcat(var, ",0-0");
	get1(&a, "GET", path, var);
	is_int(a.status, 416, "21 ranges: 416");
	answer_free(&a);
	get1(&a, "GET", path, "HTTP_RANGE=bytes=1e99-");
	ok(a.status == 200 && a.len == size, "a malformed range (1e99): "
	    "ignored, 200");
	answer_free(&a);
	get1(&a, "GET", path, "HTTP_RANGE=items=0-1");
	is_int(a.status, 200, "another unit: ignored, 200");
	answer_free(&a);
	get1(&a, "HEAD", path, "HTTP_RANGE=bytes=0-9");
	ok(a.status == 200 && a.len == 0, "HEAD ignores Range: 200, no body");
	answer_free(&a);

	{
		const char *v[3] = { "HTTP_RANGE=bytes=0-9", var, NULL };

		snprintf(var, sizeof(var), "HTTP_IF_RANGE=%s", etag);
		request(&a, "GET", path, NULL, v, NULL);
		is_int(a.status, 206, "If-Range with the ETag: 206");
		answer_free(&a);
		snprintf(var, sizeof(var), "HTTP_IF_RANGE=\"other\"");
		request(&a, "GET", path, NULL, v, NULL);
		ok(a.status == 200 && a.len == size, "If-Range with another "
		    "ETag: the whole result");
		answer_free(&a);
		snprintf(var, sizeof(var), "HTTP_IF_RANGE=W/%s", etag);
		request(&a, "GET", path, NULL, v, NULL);
		is_int(a.status, 200, "If-Range with a weak tag: 200 (strong "
		    "comparison)");
		answer_free(&a);
		snprintf(var, sizeof(var), "HTTP_IF_RANGE=%s", lm);
		request(&a, "GET", path, NULL, v, NULL);
		is_int(a.status, 206, "If-Range with Last-Modified: 206");
		answer_free(&a);
	}
	snprintf(var, sizeof(var), "HTTP_IF_NONE_MATCH=\"x\", %s", etag);
	get1(&a, "GET", path, var);
	ok(a.status == 304 && a.len == 0 && strcmp(header(&a, "ETag"), etag)
	    == 0, "If-None-Match naming it: 304 with the ETag, no body");
	answer_free(&a);
	get1(&a, "GET", path, "HTTP_IF_NONE_MATCH=*");
	is_int(a.status, 304, "If-None-Match: *: 304");
	answer_free(&a);
	get1(&a, "GET", path, "HTTP_IF_NONE_MATCH=\"other\"");
	is_int(a.status, 200, "If-None-Match, another tag: 200");
	answer_free(&a);
	snprintf(var, sizeof(var), "HTTP_IF_MODIFIED_SINCE=%s", lm);
	get1(&a, "GET", path, var);
	is_int(a.status, 304, "If-Modified-Since: Last-Modified: 304");
	answer_free(&a);
	get1(&a, "GET", path, "HTTP_IF_MODIFIED_SINCE=Thu, 01 Jan 1998 "
	    "00:00:00 GMT");
	is_int(a.status, 200, "If-Modified-Since long ago: 200");
	answer_free(&a);
	answer_free(&whole);

	/* send_result: the web server sends the file from a header. */
	free(cfg.send_result);
	cfg.send_result = strdup("x-sendfile");
	get1(&a, "GET", path, "HTTP_RANGE=bytes=0-9");
	snprintf(var, sizeof(var), "%s/jobs/%s/result", cfg.spool, id);
	ok(a.status == 200 && a.len == 0 && strcmp(header(&a, "X-Sendfile"),
	    var) == 0 && header(&a, "Content-Disposition")[0] != '\0',
	    "x-sendfile: 200, X-Sendfile names the file, no body, the name "
	    "kept; the server does the range");
	answer_free(&a);
	free(cfg.send_result);
	cfg.send_result = strdup("x-accel-redirect");
	cfg.send_result_prefix = strdup("/internal/");
	get1(&a, "GET", path, NULL);
	snprintf(var, sizeof(var), "/internal/jobs/%s/result", id);
	ok(a.status == 200 && a.len == 0 && strcmp(header(&a,
	    "X-Accel-Redirect"), var) == 0, "x-accel-redirect: the prefix "
	    "and jobs/ID/result");
	answer_free(&a);
	/* The task's own send_result wins over the global one. */
	t = (struct task *)config_task(&cfg, "named");
	t->send_result = strdup("spoolcgi");
	get1(&a, "GET", path, NULL);
	ok(a.status == 200 && a.len == size && header(&a,
	    "X-Accel-Redirect")[0] == '\0', "a task's send_result "
	    "\"spoolcgi\" over the global x-accel-redirect: spoolcgi sends it");
	answer_free(&a);
	free(t->send_result);
	t->send_result = strdup("x-sendfile");
	free(cfg.send_result);
	cfg.send_result = NULL;
	get1(&a, "GET", path, NULL);
	ok(a.status == 200 && a.len == 0 && strstr(header(&a, "X-Sendfile"),
	    "/result") != NULL, "a task's send_result \"x-sendfile\" over the "
	    "default: the header, no body");
	answer_free(&a);
	free(t->send_result);
	t->send_result = NULL;
	free(cfg.send_result_prefix);
	cfg.send_result_prefix = NULL;
}

/* The value of sample line "name{labels}" in the body of a, or -1. */
static long long
sample(const struct answer *a, const char *series)
{
	const char	*p = a->body;
	size_t		 n = strlen(series);

	while (p != NULL && (p = strstr(p, series)) != NULL) {
		if ((p == a->body || p[-1] == '\n') && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
		p += n;
	}
	return -1;
}

/* Entries in directory root/spool/name, or -1. */
static int
entries(const char *name)
{
	char	 path[512];

	snprintf(path, sizeof(path), "%s/spool/%s", root, name);
	return fx_entries(path);
}

/*
 * Wait until the clean-up that the first scrape made due has written
 * its recount and let go of its lock; at most 10 s.  0 or -1.
 */
static int
recount_done(void)
{
	char	 snap[512], lock[512];
	time_t	 deadline = time(NULL) + 10;
	int	 fd, done;

	snprintf(snap, sizeof(snap), "%s/spool/metrics/snapshot", root);
	snprintf(lock, sizeof(lock), "%s/spool/gc.lock", root);
	do {
		done = 0;
		if (access(snap, F_OK) == 0 &&
		    (fd = open(lock, O_RDONLY | O_CLOEXEC)) != -1) {
			done = flock(fd, LOCK_EX | LOCK_NB) == 0;
			close(fd);
		}
		if (done)
			return 0;
	} while (time(NULL) <= deadline && poll(NULL, 0, 20) == 0);
	return -1;
}

/*
 * Start a job (form body), wait for its end; 0 when it ended.  id gets
 * its id.
 */
static int
run_job(const char *body, char *id)
{
	struct answer	 a;

	request(&a, "POST", "/jobs", NULL, formjson, body);
	snprintf(id, SPOOLCGI_ID_LEN + 1, "%s", location_id(&a));
	answer_free(&a);
	return job_id_check(id, strlen(id)) ? wait_final(id, 10) : -1;
}

/*
 * Wait until nothing is queued or running (/health), at most 10 s: a
 * supervisor frees its slot after it has counted its end, so none of
 * the jobs of earlier tests is counted after this.  0 or -1.
 */
static int
wait_idle(void)
{
	struct answer	 a;
	time_t		 deadline = time(NULL) + 10;
	int		 idle;

	do {
		request(&a, "GET", "/health", NULL, NULL, NULL);
		idle = has(&a, "\"queued\":0") && has(&a, "\"running\":0");
		answer_free(&a);
		if (idle)
			return 0;
	} while (time(NULL) <= deadline && poll(NULL, 0, 20) == 0);
	return -1;
}

/* Poll the metrics until series reads want; at most 10 s.  0 or -1. */
static int
metrics_wait(const char *const *vars, const char *series, long long want)
{
	struct answer	 a;
	time_t		 deadline = time(NULL) + 10;
	long long	 v;

	do {
		request(&a, "GET", "/metrics", NULL, vars, NULL);
		v = sample(&a, series);
		answer_free(&a);
		if (v == want)
			return 0;
	} while (time(NULL) <= deadline && poll(NULL, 0, 20) == 0);
	return -1;
}

/*
 * GET {base}/metrics: off (404) until metrics_token or metrics_allow
 * turns it on; the token and the address checked, and a refusal leaves
 * nothing behind; counting starts at the first scrape, then jobs and
 * refused starts are counted.
 */
static void
test_metrics(void)
{
	static const char *const bearer[] = {
	    "HTTP_AUTHORIZATION=Bearer 0123456789abcdef0123", NULL };
	static const char *const lower[] = {
	    "HTTP_AUTHORIZATION=bearer  0123456789abcdef0123", NULL };
	static const char *const wrong[] = {
	    "HTTP_AUTHORIZATION=Bearer 0123456789abcdef0124", NULL };
	static const char *const prefix[] = {
	    "HTTP_AUTHORIZATION=Bearer 0123456789abcdef012", NULL };
	static const char *const basic[] = {
	    "HTTP_AUTHORIZATION=Basic MDEyMzQ1Njc4OWFiY2RlZjAxMjM=", NULL };
	static const char *const other[] = { "REMOTE_ADDR=203.0.113.5",
	    "HTTP_AUTHORIZATION=Bearer 0123456789abcdef0123", NULL };
	struct proxy	 allow = { AF_INET, { 192, 0, 2, 0 }, 24 };
	struct answer	 a;
	char		 token[] = "0123456789abcdef0123";
	char		 id[SPOOLCGI_ID_LEN + 1], id2[SPOOLCGI_ID_LEN + 1];
	char		 path[128];
	long long	 e0, f0;
	int		 jobs, counters;

	request(&a, "GET", "/metrics", NULL, bearer, NULL);
	is_int(a.status, 404, "metrics: off without metrics_token or "
	    "metrics_allow (404)");
	answer_free(&a);
	is_int(entries("metrics"), -1, "metrics off: the jobs above left no "
	    "counter");

	ok(wait_idle() == 0, "metrics: the jobs of the tests before have "
	    "ended, so that none is counted after the first scrape");
	cfg.metrics_token = token;
	jobs = entries("jobs");
	request(&a, "GET", "/metrics", NULL, NULL, NULL);
	is_int(a.status, 401, "metrics: no token: 401");
	is_str(header(&a, "WWW-Authenticate"), "Bearer realm=\"spoolcgi\"",
	    "metrics: no token: WWW-Authenticate: Bearer");
	ok(!has(&a, "spoolcgi_"), "metrics: no token: no numbers");
	answer_free(&a);
	is_int(entries("metrics"), -1, "metrics: a refused scrape starts no "
	    "counting");

	request(&a, "GET", "/metrics", NULL, bearer, NULL);
	is_int(a.status, 200, "metrics: the token: 200");
	is_str(header(&a, "Content-Type"),
	    "text/plain; version=0.0.4; charset=utf-8",
	    "metrics: the text format's media type");
	is_str(header(&a, "Cache-Control"), "no-store", "metrics: not cached");
	ok(has(&a, "# HELP spoolcgi_jobs_started_total ") &&
	    has(&a, "# TYPE spoolcgi_jobs_started_total counter\n"),
	    "metrics: HELP and TYPE lines");
	is_int(sample(&a, "spoolcgi_jobs_started_total{task=\"echo\"}"), 0,
	    "metrics: the first scrape starts counting, from 0");
	ok(sample(&a, "spoolcgi_queue_length") >= 0 &&
	    sample(&a, "spoolcgi_running_jobs") >= 0 &&
	    sample(&a, "spoolcgi_disk_free_bytes") > 0,
	    "metrics: queue length, running, free disk");
	answer_free(&a);

	ok(recount_done() == 0, "metrics: the first scrape started a recount "
	    "of the jobs, which ends");
	counters = entries("metrics");
	request(&a, "GET", "/metrics", NULL, wrong, NULL);
	is_int(a.status, 401, "metrics: a wrong token: 401");
	ok(strstr(header(&a, "WWW-Authenticate"), "invalid_token") != NULL,
	    "metrics: a wrong token: error=\"invalid_token\" (RFC 6750 3.1)");
	answer_free(&a);
	request(&a, "GET", "/metrics", NULL, prefix, NULL);
	is_int(a.status, 401, "metrics: a prefix of the token: 401");
	answer_free(&a);
	request(&a, "GET", "/metrics", NULL, basic, NULL);
	is_int(a.status, 401, "metrics: Basic, not Bearer: 401");
	answer_free(&a);
	request(&a, "POST", "/metrics", NULL, bearer, NULL);
	is_int(a.status, 405, "metrics: POST: 405");
	answer_free(&a);
	is_int(entries("jobs"), jobs, "metrics: refusals add no job");
	is_int(entries("metrics"), counters, "metrics: refusals add no "
	    "counter");
	request(&a, "GET", "/metrics", NULL, lower, NULL);
	is_int(a.status, 200, "metrics: \"bearer\" in any case (a scheme)");
	answer_free(&a);

	request(&a, "GET", "/metrics", NULL, bearer, NULL);
	e0 = sample(&a, "spoolcgi_jobs{task=\"echo\",state=\"succeeded\"}");
	f0 = sample(&a, "spoolcgi_jobs{task=\"fail\",state=\"failed\"}");
	ok(e0 >= 3 && f0 >= 1, "metrics: the recount found the jobs run "
	    "before the metrics were on (%lld echo, %lld fail)", e0, f0);
	answer_free(&a);
	ok(run_job("task=echo&text=counted", id) == 0,
	    "metrics: an echo job ends");
	ok(run_job("task=fail", id2) == 0, "metrics: a failing job ends");
	request(&a, "POST", "/jobs", NULL, formjson, "task=nope");
	is_int(a.status, 400, "metrics on: an unknown task: 400");
	answer_free(&a);
	/* A supervisor counts its end after the status it wrote: poll. */
	ok(metrics_wait(bearer, "spoolcgi_job_duration_seconds_count"
	    "{task=\"fail\"}", 1) == 0, "metrics: the failed run is counted");
	request(&a, "GET", "/metrics", NULL, bearer, NULL);
	is_int(sample(&a, "spoolcgi_jobs_started_total{task=\"echo\"}"), 1,
	    "metrics: the echo job started");
	is_int(sample(&a, "spoolcgi_job_runs_total{task=\"echo\"}"), 1,
	    "metrics: and ran once");
	is_int(sample(&a, "spoolcgi_jobs_finished_total{task=\"echo\","
	    "outcome=\"succeeded\"}"), 1, "metrics: and succeeded");
	is_int(sample(&a, "spoolcgi_jobs_finished_total{task=\"fail\","
	    "outcome=\"failed\"}"), 1, "metrics: a failure counted");
	is_int(sample(&a, "spoolcgi_starts_refused_total{reason="
	    "\"invalid_field\"}"), 1, "metrics: a refusal is counted by "
	    "reason");
	is_int(sample(&a, "spoolcgi_job_duration_seconds_count{task=\"echo\"}"),
	    sample(&a, "spoolcgi_job_duration_seconds_bucket{task=\"echo\","
	    "le=\"+Inf\"}"), "metrics: a histogram's count is its +Inf bucket");
	is_int(sample(&a, "spoolcgi_jobs{task=\"echo\",state=\"succeeded\"}"),
	    e0 + 1, "metrics: one more echo job in the store, succeeded");
	answer_free(&a);
	snprintf(path, sizeof(path), "/jobs/%s", id);
	request(&a, "DELETE", path, NULL, json, NULL);
	is_int(a.status, 204, "metrics: DELETE the echo job: 204");
	answer_free(&a);
	request(&a, "GET", "/metrics", NULL, bearer, NULL);
	is_int(sample(&a, "spoolcgi_jobs{task=\"echo\",state=\"succeeded\"}"),
	    e0, "metrics: removed, it is no longer in the store");
	is_int(sample(&a, "spoolcgi_jobs_finished_total{task=\"echo\","
	    "outcome=\"succeeded\"}"), 1, "metrics: but it did finish");
	is_int(sample(&a, "spoolcgi_jobs{task=\"fail\",state=\"failed\"}"),
	    f0 + 1, "metrics: the failed job is still there");
	answer_free(&a);

	cfg.metrics_allow = &allow;
	cfg.nmetrics_allow = 1;
	request(&a, "GET", "/metrics", NULL, other, NULL);
	is_int(a.status, 403, "metrics: the token from an address not "
	    "listed: 403");
	answer_free(&a);
	request(&a, "GET", "/metrics", NULL, NULL, NULL);
	is_int(a.status, 401, "metrics: a listed address without the token: "
	    "401 (both are required)");
	answer_free(&a);
	cfg.metrics_token = NULL;
	request(&a, "GET", "/metrics", NULL, NULL, NULL);
	is_int(a.status, 200, "metrics: metrics_allow alone: a listed "
	    "address reads them");
	answer_free(&a);
	request(&a, "GET", "/metrics", NULL, other, NULL);
	is_int(a.status, 403, "metrics: metrics_allow alone: another "
	    "address gets 403");
	answer_free(&a);
	cfg.metrics_allow = NULL;
	cfg.nmetrics_allow = 0;
}

/* CONTENT_LENGTH as read for a start and for the close. */
static void
test_content_length(void)
{
	static const struct {
		const char		*var;
		int			 rc;
		unsigned long long	 len;
	} c[] = {
		{ NULL, 0, 0 },
		{ "CONTENT_LENGTH=", 0, 0 },
		{ "CONTENT_LENGTH=0", 0, 0 },
		{ "CONTENT_LENGTH=1234", 0, 1234 },
		{ "CONTENT_LENGTH=18446744073709551615", 0,
		    18446744073709551615ULL },
		{ "CONTENT_LENGTH=18446744073709551616", -1, 0 },
		{ "CONTENT_LENGTH=-1", -1, 0 },
		{ "CONTENT_LENGTH=+1", -1, 0 },
		{ "CONTENT_LENGTH=12x", -1, 0 },
		{ "CONTENT_LENGTH=0x10", -1, 0 },
	};
	struct req		 r;
	char			*env[3];
	unsigned long long	 len;
	size_t			 i;
	int			 rc;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		env[0] = (char *)"REQUEST_METHOD=POST";
		env[1] = (char *)c[i].var;
		env[2] = NULL;
		http_begin(&r, &srv, NULL, NULL, env);
		rc = http_content_length(&r, &len);
		ok(rc == c[i].rc && (rc == -1 || len == c[i].len),
		    "http_content_length: %s: %s", c[i].var != NULL ? c[i].var :
		    "none", c[i].rc == 0 ? "its length" : "not a number");
		is_int(http_input_done(&r), 0, "http_input_done: %s: 0 under "
		    "plain CGI", c[i].var != NULL ? c[i].var : "none");
		http_end(&r);
	}
}

int
main(void)
{
	char	 cmd[300];
	int	 i;

	setup();
	test_info();
	test_refusals();
	test_jobs();
	test_negotiation();
	test_dialects();
	test_cross_site();
	test_log();
	test_retry();
	test_timing();
	test_ranges();
	test_myjobs();
	test_retry_owner();
	test_metrics();
	test_content_length();
	store_close(srv.store);
	config_free(&cfg);
	/*
	 * Detached supervisors (and the clean-up) may still be ending in the
	 * spool: try the removal again for up to 5 s.
	 */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' 2>/dev/null", root);
	for (i = 0; i < 50 && system(cmd) != 0; i++)
		poll(NULL, 0, 100);
	return tap_done();
}
