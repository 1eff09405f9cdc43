/*
 * Tests of app/tmpl.c: the template syntax, its errors and their offsets,
 * inputs cut at every byte, the built-in templates, and loading overrides
 * from a directory.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"
#include "tap.h"

#define NVARS(a)	(sizeof(a) / sizeof((a)[0]))

static char	 out_text[65536];
static char	 errmsg[256];

/*
 * Render t (len bytes) into out_text.  Returns what tmpl_render returned;
 * out_text is "" on error.
 */
static int
render_n(const char *t, size_t len, const struct tmpl_var *vars,
    size_t nvars)
{
	struct buf	 b = { 0 };
	int		 r;

	errmsg[0] = '\0';
	out_text[0] = '\0';
	r = tmpl_render(&b, t, len, vars, nvars, errmsg, sizeof(errmsg));
	if (r == 0 && b.len > 0)
		snprintf(out_text, sizeof(out_text), "%s", b.data);
	buf_free(&b);
	return r;
}

static const char *
render(const char *t, const struct tmpl_var *vars, size_t nvars)
{
	if (render_n(t, strlen(t), vars, nvars) == -1)
		return "(error)";
	return out_text;
}

/* Returns the error message of a template that must fail, or "(ok)". */
static const char *
error_of(const char *t)
{
	int	 r;

	r = render_n(t, strlen(t), NULL, 0);
	if (r == 0)
		return "(ok)";
	return errmsg;
}

static void
test_variables(void)
{
	const struct tmpl_var	 v[] = {
		{ "all", "<a href=\"x\" title='y'>&amp;</a>" },
		{ "five", "<>&\"'" },
		{ "plain", "hello" },
		{ "empty", "" },
		{ "absent", NULL },
		{ "frag", "<b>bold</b>" },
		{ "a-b_c9", "dash" },
		{ NULL, "nameless entries are skipped" },
	};

	is_str(render("{{five}}", v, NVARS(v)),
	    "&lt;&gt;&amp;&quot;&#39;", "all five characters escaped");
	is_str(render("<p title=\"{{all}}\">{{all}}</p>", v, NVARS(v)),
	    "<p title=\"&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;"
	    "&amp;amp;&lt;/a&gt;\">&lt;a href=&quot;x&quot; "
	    "title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;</p>",
	    "escaped in attributes and text alike");
	is_str(render("{{&frag}}", v, NVARS(v)), "<b>bold</b>",
	    "{{&name}} is raw");
	is_str(render("{{&five}}", v, NVARS(v)), "<>&\"'",
	    "{{&name}} escapes nothing");
	is_str(render("[{{plain}}]", v, NVARS(v)), "[hello]", "plain value");
	is_str(render("[{{empty}}]", v, NVARS(v)), "[]", "empty value");
	is_str(render("[{{absent}}][{{&absent}}]", v, NVARS(v)), "[][]",
	    "NULL value renders as nothing");
	is_str(render("[{{nosuch}}][{{&nosuch}}]", v, NVARS(v)), "[][]",
	    "unknown variable renders as nothing");
	is_str(render("{{a-b_c9}}", v, NVARS(v)), "dash",
	    "name with - _ and digits");
	is_str(render("{{plai}}{{plainx}}", v, NVARS(v)), "",
	    "a prefix or extension of a name does not match");
	is_str(render("{{PLAIN}}", v, NVARS(v)), "",
	    "names are case-sensitive");
	is_str(render("{{plain}}{{plain}}", v, NVARS(v)), "hellohello",
	    "a variable used twice");
	is_str(render("{{plain}}", NULL, 0), "", "no variables at all");
	is_str(render("", v, NVARS(v)), "", "empty template");
	is_str(render("a { b } c {x} }} {", v, NVARS(v)),
	    "a { b } c {x} }} {", "single braces and }} are text");
	is_str(render("{", NULL, 0), "{", "lone { at the end is text");
	is_str(render("x}}", NULL, 0), "x}}", "}} alone is text");
}

static void
test_sections(void)
{
	const struct tmpl_var	 v[] = {
		{ "yes", "1" },
		{ "zero", "0" },
		{ "empty", "" },
		{ "absent", NULL },
		{ "name", "<x>" },
	};
	const struct tmpl_var	 ab[4][2] = {
		{ { "a", "1" }, { "b", "1" } },
		{ { "a", "1" }, { "b", "" } },
		{ { "a", NULL }, { "b", "1" } },
		{ { "a", "" }, { "b", NULL } },
	};
	const char		*nested =
	    "{{#a}}A{{#b}}B{{/b}}{{^b}}nb{{/b}}{{/a}}{{^a}}na{{#b}}B{{/b}}{{/a}}";
	const char		*want[4] = { "AB", "Anb", "naB", "na" };
	size_t			 i;

	is_str(render("[{{#yes}}Y {{name}}{{/yes}}]", v, NVARS(v)),
	    "[Y &lt;x&gt;]", "section shown when true");
	is_str(render("[{{#zero}}Z{{/zero}}]", v, NVARS(v)), "[Z]",
	    "\"0\" is present and not empty: true");
	is_str(render("[{{#empty}}E{{/empty}}]", v, NVARS(v)), "[]",
	    "section hidden when empty");
	is_str(render("[{{#absent}}A{{/absent}}]", v, NVARS(v)), "[]",
	    "section hidden when NULL");
	is_str(render("[{{#nosuch}}N{{/nosuch}}]", v, NVARS(v)), "[]",
	    "section hidden when unknown");
	is_str(render("[{{^yes}}Y{{/yes}}]", v, NVARS(v)), "[]",
	    "inverted section hidden when true");
	is_str(render("[{{^empty}}E{{/empty}}]", v, NVARS(v)), "[E]",
	    "inverted section shown when empty");
	is_str(render("[{{^absent}}A{{/absent}}]", v, NVARS(v)), "[A]",
	    "inverted section shown when NULL");
	is_str(render("[{{^nosuch}}N{{/nosuch}}]", v, NVARS(v)), "[N]",
	    "inverted section shown when unknown");
	is_str(render("{{#yes}}1{{/yes}}{{#yes}}2{{/yes}}", v, NVARS(v)),
	    "12", "a section used twice");
	is_str(render("{{#yes}}{{#yes}}in{{/yes}}{{/yes}}", v, NVARS(v)),
	    "in", "a section nested in itself");
	is_str(render("{{#empty}}{{&name}}{{name}}{{#yes}}x{{/yes}}{{/empty}}"
	    "{{^yes}}{{name}}{{/yes}}", v, NVARS(v)), "",
	    "nothing of a hidden section is rendered");
	for (i = 0; i < 4; i++)
		is_str(render(nested, ab[i], 2), want[i],
		    "nested sections, case %zu", i);
	is_str(render("{{#a}}{{#b}}{{#c}}{{#d}}{{#e}}{{#f}}{{#g}}{{#h}}deep"
	    "{{/h}}{{/g}}{{/f}}{{/e}}{{/d}}{{/c}}{{/b}}{{/a}}",
	    (const struct tmpl_var[]){ { "a", "1" }, { "b", "1" },
	    { "c", "1" }, { "d", "1" }, { "e", "1" }, { "f", "1" },
	    { "g", "1" }, { "h", "1" } }, 8), "deep",
	    "eight sections deep is allowed");
}

static void
test_errors(void)
{
	struct buf	 b = { 0 };
	int		 r;

	is_str(error_of("ab{{x"), "byte 2, line 1: unterminated tag",
	    "unterminated: no }}");
	is_str(error_of("ab{{x}"), "byte 2, line 1: unterminated tag",
	    "unterminated: one }");
	is_str(error_of("{{"), "byte 0, line 1: unterminated tag",
	    "unterminated: {{ alone");
	is_str(error_of("a\nb\n{{#"), "byte 4, line 3: unterminated tag",
	    "unterminated: line counted");
	is_str(error_of("x{{a b}}"), "byte 1, line 1: bad name in tag: "
	    "a name is [A-Za-z0-9_-]+, with no white space",
	    "bad name: space inside");
	is_str(error_of("{{ a}}"), "byte 0, line 1: bad name in tag: "
	    "a name is [A-Za-z0-9_-]+, with no white space",
	    "bad name: leading space");
	is_str(error_of("xy{{}}"), "byte 2, line 1: bad name in tag: empty",
	    "bad name: empty");
	is_str(error_of("{{#}}{{/}}"), "byte 0, line 1: bad name in tag: "
	    "empty", "bad name: empty section");
	is_str(error_of("{{a.b}}"), "byte 0, line 1: bad name in tag: "
	    "a name is [A-Za-z0-9_-]+, with no white space",
	    "bad name: dot");
	is_str(error_of("{{{a}}}"), "byte 0, line 1: bad name in tag: "
	    "a name is [A-Za-z0-9_-]+, with no white space",
	    "bad name: triple braces");
	is_str(error_of("{{!a}}"), "byte 0, line 1: bad name in tag: "
	    "a name is [A-Za-z0-9_-]+, with no white space",
	    "bad name: unknown sigil");
	is_str(error_of("{{a}x}}"), "byte 0, line 1: bad name in tag: "
	    "a name is [A-Za-z0-9_-]+, with no white space",
	    "bad name: single } inside");
	is_str(error_of("{{é}}"), "byte 0, line 1: bad name in tag: "
	    "a name is [A-Za-z0-9_-]+, with no white space",
	    "bad name: non-ASCII");
	is_str(error_of("x\n{{/a}}"), "byte 2, line 2: {{/a}} closes no "
	    "section", "unmatched close");
	is_str(error_of("{{#a}}{{/a}}{{/a}}"), "byte 12, line 1: {{/a}} "
	    "closes no section", "close after the section closed");
	is_str(error_of("{{#a}}{{#b}}{{/a}}{{/b}}"), "byte 12, line 1: "
	    "{{/a}} closes the section {{b}} opened at byte 6",
	    "mis-nested close");
	is_str(error_of("{{#a}}{{/ab}}"), "byte 6, line 1: {{/ab}} closes "
	    "the section {{a}} opened at byte 0", "close of a longer name");
	is_str(error_of("{{^ab}}{{/a}}"), "byte 7, line 1: {{/a}} closes "
	    "the section {{ab}} opened at byte 0", "close of a shorter name");
	is_str(error_of("x{{#a}}y"), "byte 1, line 1: section {{a}} is never "
	    "closed", "unclosed section");
	is_str(error_of("{{#a}}{{^b}}{{/b}}"), "byte 0, line 1: section "
	    "{{a}} is never closed", "unclosed outer section");
	is_str(error_of("{{#a}}{{#b}}{{/b}}{{^c}}"), "byte 18, line 1: "
	    "section {{c}} is never closed",
	    "the innermost unclosed section is named");
	is_str(error_of("{{#a}}{{#b}}{{#c}}{{#d}}{{#e}}{{#f}}{{#g}}{{#h}}"
	    "{{#i}}{{/i}}{{/h}}{{/g}}{{/f}}{{/e}}{{/d}}{{/c}}{{/b}}{{/a}}"),
	    "byte 48, line 1: sections nested more than 8 deep",
	    "nesting too deep");
	is_str(error_of("{{#absent}}{{bad name}}{{/absent}}"),
	    "byte 11, line 1: bad name in tag: a name is [A-Za-z0-9_-]+, "
	    "with no white space", "errors in a hidden section are found");

	/* On error, errno is EINVAL and the buffer is as it was. */
	buf_puts(&b, "kept");
	errno = 0;
	r = tmpl_render(&b, "abc{{x}}def{{/y}}", 17, NULL, 0, errmsg,
	    sizeof(errmsg));
	is_int(r, -1, "render fails");
	is_int(errno, EINVAL, "errno is EINVAL for a syntax error");
	is_int(b.len, 4, "the buffer keeps its length");
	is_str(b.data, "kept", "the buffer keeps its text");
	ok(tmpl_render(&b, "{{#a}}", 6, NULL, 0, NULL, 0) == -1,
	    "a NULL err is allowed");
	ok(tmpl_render(&b, "{{#a}}", 6, NULL, 0, errmsg, 1) == -1 &&
	    errmsg[0] == '\0', "a one-byte err gets the NUL");
	r = tmpl_render(&b, "+{{x}}", 6, (const struct tmpl_var[]){
	    { "x", "<" } }, 1, errmsg, sizeof(errmsg));
	ok(r == 0 && strcmp(b.data, "kept+&lt;") == 0,
	    "render appends to what the buffer holds");
	buf_free(&b);
	ok(tmpl_render(NULL, "x", 1, NULL, 0, errmsg, sizeof(errmsg)) == -1,
	    "a NULL buffer is refused");

	ok(tmpl_check("{{#a}}{{&b}}{{c}}{{/a}}{{^d}}{{/d}}", 35, errmsg,
	    sizeof(errmsg)) == 0, "tmpl_check accepts a good template");
	ok(tmpl_check("{{#a}}", 6, errmsg, sizeof(errmsg)) == -1 &&
	    strcmp(errmsg, "byte 0, line 1: section {{a}} is never closed")
	    == 0, "tmpl_check finds an unclosed section");
	ok(tmpl_check(NULL, 0, errmsg, sizeof(errmsg)) == 0,
	    "tmpl_check of nothing");
}

static void
test_nul(void)
{
	const struct tmpl_var	 v[] = { { "x", "<X>" } };
	const char		 t[] = "a\0b{{x}}\0c{{#x}}\0{{/x}}";
	const char		 want[] = "a\0b&lt;X&gt;\0c\0";
	struct buf		 b = { 0 };
	int			 r;

	r = tmpl_render(&b, t, sizeof(t) - 1, v, 1, errmsg, sizeof(errmsg));
	is_int(r, 0, "template with NUL bytes renders");
	ok(b.len == sizeof(want) - 1 && memcmp(b.data, want, b.len) == 0,
	    "NUL bytes are copied as text");
	buf_free(&b);
	is_str(error_of("{{a\0}}") /* strlen stops at the NUL */,
	    "byte 0, line 1: unterminated tag", "cut at a NUL by strlen");
	ok(tmpl_check("{{a\0}}", 6, errmsg, sizeof(errmsg)) == -1 &&
	    strcmp(errmsg, "byte 0, line 1: bad name in tag: a name is "
	    "[A-Za-z0-9_-]+, with no white space") == 0,
	    "NUL inside a tag is a bad name");
	ok(tmpl_check("\0{{#\0", 5, errmsg, sizeof(errmsg)) == -1 &&
	    strcmp(errmsg, "byte 1, line 1: unterminated tag") == 0,
	    "NUL after an open tag: unterminated");
}

/*
 * Every prefix of a template, each in a buffer of exactly its size (so
 * that valgrind sees a read past the end): render and check agree, and
 * neither crashes.
 */
static void
test_cuts(const char *label, const char *t, size_t len,
    const struct tmpl_var *vars, size_t nvars)
{
	struct buf	 b = { 0 };
	char		*p;
	size_t		 cut, bad = 0, fails = 0;
	int		 r, c;

	for (cut = 0; cut <= len; cut++) {
		if ((p = malloc(cut ? cut : 1)) == NULL)
			break;
		memcpy(p, t, cut);
		buf_reset(&b);
		r = tmpl_render(&b, p, cut, vars, nvars, errmsg,
		    sizeof(errmsg));
		c = tmpl_check(p, cut, errmsg, sizeof(errmsg));
		if ((r != 0 && r != -1) || r != c || (r == -1 && b.len != 0))
			bad++;
		if (r == -1)
			fails++;
		free(p);
	}
	buf_free(&b);
	is_int(bad, 0, "%s: every cut of %zu bytes renders or fails cleanly "
	    "(%zu fail)", label, len, fails);
}

/* A small deterministic generator, so that a failure can be replayed. */
static unsigned long	rnd_state = 20261122;

static unsigned
rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245UL + 12345UL;
	return (unsigned)((rnd_state >> 16) % n);
}

/* Random texts over the template alphabet: never a crash, check == render. */
static void
test_random(void)
{
	static const char	 alpha[] = "{}#^/&ab- \0x";
	const struct tmpl_var	 v[] = { { "a", "1" }, { "b", "" },
	    { "x", "<&>" } };
	struct buf		 b = { 0 };
	char			*p;
	size_t			 len, k, bad = 0, good = 0;
	int			 n, r;

	for (n = 0; n < 20000; n++) {
		len = rnd(40);
		if ((p = malloc(len ? len : 1)) == NULL)
			break;
		for (k = 0; k < len; k++)
			p[k] = alpha[rnd(sizeof(alpha) - 1)];
		buf_reset(&b);
		r = tmpl_render(&b, p, len, v, NVARS(v), errmsg,
		    sizeof(errmsg));
		if (r != tmpl_check(p, len, NULL, 0))
			bad++;
		if (r == 0)
			good++;
		free(p);
	}
	buf_free(&b);
	is_int(bad, 0, "random texts: check and render agree (%zu of 20000 "
	    "render)", good);
}

static const char *
has(const char *hay, const char *needle)
{
	return strstr(hay, needle);
}

/* Render a built-in template and, around it, page.html. */
static int
render_page(const char *name, const struct tmpl_var *vars, size_t nvars,
    const char *title, const char *refresh)
{
	struct buf	 inner = { 0 }, page = { 0 };
	struct tmpl_var	 pv[4];
	const char	*t;
	size_t		 len;
	int		 r = -1;

	out_text[0] = '\0';
	if ((t = tmpl_get(name, &len)) == NULL)
		return -1;
	if (tmpl_render(&inner, t, len, vars, nvars, errmsg,
	    sizeof(errmsg)) == -1)
		goto out;
	pv[0] = (struct tmpl_var){ "title", title };
	pv[1] = (struct tmpl_var){ "content", inner.len ? inner.data : "" };
	pv[2] = (struct tmpl_var){ "refresh", refresh };
	pv[3] = (struct tmpl_var){ "base", "/app" };
	if ((t = tmpl_get("page.html", &len)) == NULL ||
	    tmpl_render(&page, t, len, pv, 4, errmsg, sizeof(errmsg)) == -1)
		goto out;
	snprintf(out_text, sizeof(out_text), "%s", page.data);
	r = 0;
out:
	buf_free(&inner);
	buf_free(&page);
	return r;
}

static void
test_builtins(void)
{
	const char		*names[] = { "page.html", "job-progress.html",
	    "job-result.html", "error.html", "tasks.html", "task-form.html",
	    "task-field.html", "task-option.html", "jobs.html",
	    "jobs-row.html" };
	const struct tmpl_var	 running[] = {
		{ "id", "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11" },
		{ "task", "wordcount" },
		{ "task_title", "Count <words>" },
		{ "state", "running" },
		{ "progress", "42" },
		{ "message", "page 3 of 7 & more" },
		{ "created_at", "2026-11-22T09:00:00Z" },
		{ "started_at", "2026-11-22T09:00:01Z" },
		{ "self_url", "/app/jobs/2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11" },
		{ "cancel_url", "/app/jobs/2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11"
		    "/cancel" },
		{ "refresh", "5" },
	};
	const struct tmpl_var	 queued[] = {
		{ "id", "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11" },
		{ "task", "wordcount" },
		{ "task_title", "Count words" },
		{ "state", "queued" },
		{ "queue_position", "3" },
		{ "created_at", "2026-11-22T09:00:00Z" },
		{ "self_url", "/app/jobs/x" },
		{ "cancel_url", "/app/jobs/x/cancel" },
		{ "refresh", "2" },
	};
	struct tmpl_var		 done[] = {
		{ "id", "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11" },
		{ "task_title", "Count words" },
		{ "state", "succeeded" },
		{ "succeeded", "1" },
		{ "result_text", "42 words\n" },
		{ "result_url", "/app/jobs/x/result" },
		{ "result_type", "text/plain" },
		{ "result_size", "9" },
		{ "created_at", "2026-11-22T09:00:00Z" },
		{ "started_at", "2026-11-22T09:00:01Z" },
		{ "finished_at", "2026-11-22T09:00:21Z" },
		{ "self_url", "/app/jobs/x" },
		{ "base", "/app" },
	};
	const struct tmpl_var	 failed[] = {
		{ "id", "x" },
		{ "task_title", "Count words" },
		{ "state", "failed" },
		{ "failed", "1" },
		{ "error_code", "exit" },
		{ "error_message", "exit status 2: <no input>" },
		{ "base", "/app" },
	};
	const struct tmpl_var	 cancelled[] = {
		{ "id", "x" },
		{ "task_title", "Count words" },
		{ "state", "cancelled" },
		{ "cancelled", "1" },
		{ "base", "/app" },
	};
	const struct tmpl_var	 error[] = {
		{ "status", "400" },
		{ "reason", "Bad Request" },
		{ "message", "the field \"seconds\" must be at most 120" },
		{ "field", "seconds" },
		{ "base", "/app" },
	};
	const struct tmpl_var	 tasks[] = {
		{ "forms", "<section><h2>Demo</h2><form method=\"post\">"
		    "</form></section>" },
		{ "base", "/app" },
	};
	const char		*t, *p;
	size_t			 i, len, raw;

	ok(tmpl_nbuiltin == NVARS(names), "%zu built-in templates",
	    tmpl_nbuiltin);
	for (i = 0; i < NVARS(names); i++) {
		t = tmpl_get(names[i], &len);
		ok(t != NULL && len == strlen(t), "%s is built in", names[i]);
		if (t == NULL)
			continue;
		ok(tmpl_check(t, len, errmsg, sizeof(errmsg)) == 0,
		    "%s passes tmpl_check%s%s", names[i],
		    errmsg[0] ? ": " : "", errmsg);
		test_cuts(names[i], t, len, running, NVARS(running));
		/* Raw output only where the program passes its own HTML. */
		for (raw = 0, p = t; (p = strstr(p, "{{&")) != NULL; p++)
			if (strncmp(p, "{{&content}}", 12) != 0 &&
			    strncmp(p, "{{&forms}}", 10) != 0 &&
			    strncmp(p, "{{&fields}}", 11) != 0 &&
			    strncmp(p, "{{&options}}", 12) != 0 &&
			    strncmp(p, "{{&rows}}", 9) != 0)
				raw++;
		is_int(raw, 0, "%s: {{& only for content, forms, fields, "
		    "options and rows (rendered from templates)", names[i]);
	}
	ok(tmpl_get("nosuch.html", &len) == NULL, "no such template");

	ok(render_page("job-progress.html", running, NVARS(running),
	    "Count words", "5") == 0, "job-progress.html renders%s%s",
	    errmsg[0] ? ": " : "", errmsg);
	ok(has(out_text, "<!DOCTYPE html>") && has(out_text,
	    "<html lang=\"en\">") && has(out_text, "name=\"viewport\""),
	    "page: doctype, lang, viewport");
	ok(has(out_text, "<meta http-equiv=\"refresh\" content=\"5\">"),
	    "page: refresh meta");
	ok(has(out_text, "<title>Count words · spoolcgi</title>"),
	    "page: title");
	ok(has(out_text, "<h1>Count &lt;words&gt;</h1>"),
	    "progress: task title escaped in the heading");
	ok(has(out_text, "<progress max=\"100\" value=\"42\""),
	    "progress: determinate bar");
	ok(has(out_text, "42%</span>"), "progress: visible percentage");
	ok(has(out_text, "page 3 of 7 &amp; more"), "progress: message");
	ok(has(out_text, "aria-live=\"polite\""), "progress: live region");
	ok(has(out_text, "every 5 seconds") && has(out_text,
	    "<a href=\"/app/jobs/2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11\">"
	    "Refresh now</a>"), "progress: refresh note and link");
	ok(has(out_text, "<form method=\"post\" action=\"/app/jobs/"
	    "2f1c0b9e-8d4e-4c53-9a61-0b7f3c9d2e11/cancel\"><button>Cancel"
	    "</button></form>"), "progress: cancel form");
	ok(has(out_text, "<strong>Running</strong>"), "progress: running");

	ok(render_page("job-progress.html", queued, NVARS(queued),
	    "Count words", "2") == 0, "queued job-progress.html renders");
	ok(has(out_text, "Waiting to start") && has(out_text,
	    "number 3 in the queue"), "progress: queued, with position");
	ok(has(out_text, "<progress aria-label") && !has(out_text,
	    "value=\""), "progress: indeterminate bar when unknown");

	ok(render_page("job-result.html", done, NVARS(done), "Count words",
	    NULL) == 0, "job-result.html renders");
	ok(!has(out_text, "http-equiv"), "page: no refresh when absent");
	ok(has(out_text, "<pre>42 words\n</pre>"), "result: text shown");
	ok(has(out_text, "<a href=\"/app/tasks\">") && has(out_text,
	    "Start another job"), "result: start another job");
	done[4].value = NULL;
	ok(render_page("job-result.html", done, NVARS(done), "Count words",
	    NULL) == 0 && has(out_text, "<a class=\"button\" "
	    "href=\"/app/jobs/x/result\" download>") && has(out_text,
	    "text/plain, 9 bytes") && !has(out_text, "<pre>"),
	    "result: download link when no text");
	done[4].value = "<script>alert(1)</script>";
	ok(render_page("job-result.html", done, NVARS(done),
	    "<script>alert(2)</script>", NULL) == 0 &&
	    !has(out_text, "<script>") && !has(out_text, "alert(1)</") &&
	    !has(out_text, "alert(2)</") &&
	    has(out_text, "&lt;script&gt;alert(1)&lt;/script&gt;"),
	    "XSS: a result text holding <script> stays text");
	{
		/* The one script of a page is the client, from {base}. */
		const char *sp = strstr(out_text, "<script");

		ok(sp != NULL && strncmp(sp, "<script src=\"/app/static/"
		    "spoolcgi.js\" defer></script>", 53) == 0 &&
		    strstr(sp + 1, "<script") == NULL,
		    "XSS: the only script element is the client's");
	}

	ok(render_page("job-result.html", failed, NVARS(failed),
	    "Count words", NULL) == 0 && has(out_text, "<code>exit</code>") &&
	    has(out_text, "<pre>exit status 2: &lt;no input&gt;</pre>") &&
	    !has(out_text, "Done."), "result: failed, code and message");
	ok(render_page("job-result.html", cancelled, NVARS(cancelled),
	    "Count words", NULL) == 0 && has(out_text, "Cancelled.") &&
	    !has(out_text, "Failed."), "result: cancelled");

	ok(render_page("error.html", error, NVARS(error), "Bad Request",
	    NULL) == 0 && has(out_text, "<h1>400 Bad Request</h1>") &&
	    has(out_text, "the field &quot;seconds&quot; must be at most") &&
	    has(out_text, "The field “seconds”"), "error.html renders");
	ok(render_page("error.html", error, 2, "Not Found", NULL) == 0 &&
	    !has(out_text, "The field"), "error.html: no field line");

	ok(render_page("tasks.html", tasks, NVARS(tasks), "Tasks",
	    NULL) == 0 && has(out_text, "<section><h2>Demo</h2>") &&
	    !has(out_text, "offers no tasks"), "tasks.html renders forms");
	ok(render_page("tasks.html", tasks + 1, 1, "Tasks", NULL) == 0 &&
	    has(out_text, "offers no tasks"), "tasks.html without forms");
}

static int
write_file(const char *dir, const char *name, const char *text, size_t len)
{
	char	 path[PATH_MAX];
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static void
remove_file(const char *dir, const char *name)
{
	char	 path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	(void)unlink(path);
	(void)rmdir(path);
}

/*
 * buf_on: a buffer started in the caller's bytes stays there while it
 * fits, moves to the heap with its bytes when it outgrows them, and
 * buf_free frees only the heap's (ASan and valgrind check the rest).
 */
static void
test_buf_on(void)
{
	struct buf	 b;
	char		 space[8];
	int		 i;

	memset(space, 'x', sizeof(space));
	buf_on(&b, space, sizeof(space));
	ok(b.data == space && b.len == 0 && space[0] == '\0',
	    "buf_on: empty, in the given bytes, a C string");
	ok(buf_lit(&b, "1234567") == 0 && b.data == space &&
	    strcmp(space, "1234567") == 0, "buf_on: 7 bytes and the NUL fit");
	ok(buf_lit(&b, "8") == 0 && b.data != space && b.len == 8 &&
	    strcmp(b.data, "12345678") == 0 && b.cap > sizeof(space),
	    "buf_on: the 8th byte moves it to the heap, bytes kept");
	for (i = 0; i < 1000; i++)
		buf_lit(&b, "abc");
	ok(b.len == 3008 && memcmp(b.data, "12345678abcabc", 14) == 0 &&
	    strcmp(b.data + b.len - 3, "abc") == 0,
	    "buf_on: it grows on the heap like any buffer");
	buf_free(&b);
	ok(b.data == NULL && b.len == 0 && b.cap == 0 && b.space == NULL,
	    "buf_free: freed, and empty");
	ok(buf_lit(&b, "again") == 0 && strcmp(b.data, "again") == 0,
	    "after buf_free: on the heap, like a new buffer");
	buf_free(&b);
	buf_on(&b, space, sizeof(space));
	buf_lit(&b, "kept");
	buf_free(&b);
	ok(strcmp(space, "kept") == 0 && b.data == NULL,
	    "buf_free of a buffer still in its bytes leaves them alone");
}

/*
 * url_path_char: the bytes RFC 3986 lets stand in a path, and no other
 * (the base from SCRIPT_NAME and "public_url" are checked by it).
 */
static void
test_url_path_char(void)
{
	const char	*keep = "azAZ09-._~/!$&'()*+,;=:@%";
	int		 c, n = 0;

	for (c = 0; c < 256; c++)
		n += url_path_char(c);
	ok(n == 62 + 19, "url_path_char: 81 of the 256 bytes (%d)", n);
	for (; *keep != '\0'; keep++)
		if (!url_path_char((unsigned char)*keep))
			break;
	ok(*keep == '\0', "url_path_char: letters, digits, pchar, '/', '%%'");
	ok(!url_path_char('\0') && !url_path_char(' ') &&
	    !url_path_char('?') && !url_path_char('#') &&
	    !url_path_char('"') && !url_path_char('<') &&
	    !url_path_char('\\') && !url_path_char(0x80) &&
	    !url_path_char(0xff), "url_path_char: NUL, space, ?, #, \", <, "
	    "\\, 8-bit: none");
}

static void
test_load(void)
{
	char		 dir[] = "/tmp/tmpl-t.XXXXXX", path[PATH_MAX];
	static char	 big[256 * 1024 + 1];
	const char	*t, *builtin = NULL;
	size_t		 i, len;

	for (i = 0; i < tmpl_nbuiltin; i++)
		if (strcmp(tmpl_builtin[i].name, "error.html") == 0)
			builtin = tmpl_builtin[i].text;
	ok(tmpl_load(NULL, errmsg, sizeof(errmsg)) == 0, "load built-ins");
	t = tmpl_get("error.html", &len);
	ok(t != NULL && builtin != NULL && t == builtin &&
	    len == strlen(builtin), "error.html is the built-in one");
	ok(tmpl_get("nosuch.html", NULL) == NULL, "no such template");

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	ok(tmpl_load(dir, errmsg, sizeof(errmsg)) == 0,
	    "load from an empty directory");
	t = tmpl_get("tasks.html", &len);
	ok(t != NULL && len == strlen(t) && strstr(t, "{{&forms}}"),
	    "an empty directory gives the built-ins");

	write_file(dir, "tasks.html", "mine\0{{&forms}}", 15);
	write_file(dir, "unrelated.html", "{{#x", 4);
	ok(tmpl_load(dir, errmsg, sizeof(errmsg)) == 0,
	    "load an override%s%s", errmsg[0] ? ": " : "",
	    errmsg);
	t = tmpl_get("tasks.html", &len);
	ok(t != NULL && len == 15 && memcmp(t, "mine\0{{&forms}}", 15) == 0,
	    "the override is used, NUL and all");
	ok(tmpl_get("unrelated.html", NULL) == NULL,
	    "files that are not templates are ignored");
	t = tmpl_get("page.html", &len);
	ok(t != NULL && strstr(t, "<!DOCTYPE html>"),
	    "the others stay built in");

	write_file(dir, "error.html", "<p>\n{{message}\n", 16);
	ok(tmpl_load(dir, errmsg, sizeof(errmsg)) == -1, "bad override fails");
	snprintf(path, sizeof(path), "%s/error.html: byte 4, line 2: "
	    "unterminated tag", dir);
	is_str(errmsg, path, "the error names the file and the offset");
	is_int(errno, EINVAL, "errno EINVAL");
	t = tmpl_get("tasks.html", &len);
	ok(t != NULL && len == 15, "a failed load keeps the old table");
	remove_file(dir, "error.html");

	snprintf(path, sizeof(path), "%s/tasks.html", dir);
	remove_file(dir, "tasks.html");
	ok(symlink("/etc/passwd", path) == 0, "symlink made");
	ok(tmpl_load(dir, errmsg, sizeof(errmsg)) == -1 &&
	    strstr(errmsg, "tasks.html: is a symbolic link") != NULL,
	    "a symbolic link is refused: %s", errmsg);
	remove_file(dir, "tasks.html");

	ok(mkdir(path, 0755) == 0, "directory made");
	ok(tmpl_load(dir, errmsg, sizeof(errmsg)) == -1 &&
	    strstr(errmsg, "tasks.html: not a regular file") != NULL,
	    "a directory is refused: %s", errmsg);
	remove_file(dir, "tasks.html");

	ok(mkfifo(path, 0644) == 0, "fifo made");
	ok(tmpl_load(dir, errmsg, sizeof(errmsg)) == -1 &&
	    strstr(errmsg, "tasks.html: not a regular file") != NULL,
	    "a FIFO is refused without blocking: %s", errmsg);
	remove_file(dir, "tasks.html");

	memset(big, 'x', sizeof(big));
	write_file(dir, "tasks.html", big, 256 * 1024);
	ok(tmpl_load(dir, errmsg, sizeof(errmsg)) == 0 &&
	    tmpl_get("tasks.html", &len) != NULL && len == 256 * 1024,
	    "256 KiB is allowed");
	write_file(dir, "tasks.html", big, 256 * 1024 + 1);
	ok(tmpl_load(dir, errmsg, sizeof(errmsg)) == -1 &&
	    strstr(errmsg, "larger than 262144 bytes") != NULL,
	    "one byte more is refused: %s", errmsg);
	remove_file(dir, "tasks.html");
	remove_file(dir, "unrelated.html");
	ok(rmdir(dir) == 0, "temporary directory removed");

	ok(tmpl_load(dir, errmsg, sizeof(errmsg)) == 0 &&
	    (t = tmpl_get("tasks.html", &len)) != NULL &&
	    strstr(t, "{{&forms}}") != NULL,
	    "a missing directory gives the built-ins");
	ok(tmpl_load("/dev/null", errmsg, sizeof(errmsg)) == -1 &&
	    strstr(errmsg, "/dev/null: ") == errmsg,
	    "a file in place of the directory is refused: %s", errmsg);
	ok(tmpl_load(NULL, NULL, 0) == 0, "load with no err buffer");
}

int
main(void)
{
	const char	 sample[] = "<h1>{{title}}</h1>\n{{#list}}<p>"
	    "{{&raw}} {{item}}</p>{{^empty}}none{{/empty}}{{/list}}"
	    "{{#a}}{{^b}}{{c}}{{/b}}{{/a}} tail {";
	const struct tmpl_var	 v[] = { { "title", "<T>" },
	    { "list", "1" }, { "raw", "<r>" }, { "item", "&" } };

	test_variables();
	test_sections();
	test_errors();
	test_nul();
	test_cuts("sample", sample, sizeof(sample) - 1, v, NVARS(v));
	test_cuts("sample, no vars", sample, sizeof(sample) - 1, NULL, 0);
	test_random();
	test_builtins();
	test_load();
	test_buf_on();
	test_url_path_char();
	return tap_done();
}
