/*
 * multipart.c: the streaming multipart/form-data parser, fed a browser's
 * body whole, in every two-way split and byte by byte; malformed bodies;
 * the boundary parameter; display-safe file names; and a fuzz loop whose
 * mutated bodies must give the same outcome however they are split.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "tap.h"

#define BOUNDARY	"----WebKitFormBoundaryePkpFF7tjBAqx29L"
#define CTYPE		"multipart/form-data; boundary=" BOUNDARY

/*
 * What the callbacks saw, as one transcript: "<name|filename|type>" at a
 * part's start, its bytes, "</>" at its end.  Pieces of data are joined,
 * so any split of a body must give the same transcript.
 */
struct rec {
	struct buf	 log;
	struct refusal	*rf;
	int		 inpart;
	int		 misordered;	/* a callback out of turn */
	int		 empty_data;	/* part_data with len 0 */
	int		 calls;
	int		 fail_at;	/* refuse at this call (1-based); 0: never */
	int		 after_fail;	/* calls after refusing */
};

static int
rec_refuse(struct rec *rc)
{
	if (rc->fail_at < 0) {
		rc->after_fail++;
		return -1;
	}
	if (++rc->calls != rc->fail_at)
		return 0;
	rc->fail_at = -1;
	refuse(rc->rf, 413, "file_too_large", "upload", "stop here");
	return -1;
}

static int
cb_begin(void *arg, const char *name, const char *filename,
    const char *ctype)
{
	struct rec	*rc = arg;

	if (rc->inpart)
		rc->misordered++;
	rc->inpart = 1;
	buf_printf(&rc->log, "<%s|%s|%s>", name,
	    filename ? filename : "(null)", ctype);
	return rec_refuse(rc);
}

static int
cb_data(void *arg, const char *b, size_t len)
{
	struct rec	*rc = arg;

	if (!rc->inpart)
		rc->misordered++;
	if (len == 0)
		rc->empty_data++;
	buf_append(&rc->log, b, len);
	return rec_refuse(rc);
}

static int
cb_end(void *arg)
{
	struct rec	*rc = arg;

	if (!rc->inpart)
		rc->misordered++;
	rc->inpart = 0;
	buf_puts(&rc->log, "</>");
	return rec_refuse(rc);
}

static const struct mp_callbacks	 cbs = { cb_begin, cb_data, cb_end };

/* The outcome of one parse: its value, refusal and transcript. */
struct outcome {
	int		 rc;
	struct refusal	 rf;
	struct rec	 rec;
};

/*
 * Parse body (len bytes) with boundary b, in chunks of the sizes next()
 * gives (whole when NULL), the callbacks refusing at call fail_at.
 */
static void
parse(struct outcome *o, const char *b, const char *body, size_t len,
    size_t (*next)(size_t, void *), void *narg, int fail_at)
{
	struct mp_parser	 p;
	size_t			 off = 0, n;

	memset(o, 0, sizeof(*o));
	o->rec.rf = &o->rf;
	o->rec.fail_at = fail_at;
	if (mp_init(&p, b, &cbs, &o->rec) == -1) {
		o->rc = -2;
		return;
	}
	while (off < len) {
		n = next != NULL ? next(len - off, narg) : len - off;
		if (n > len - off)
			n = len - off;
		if ((o->rc = mp_feed(&p, body + off, n, &o->rf)) == -1)
			return;
		off += n;
	}
	if (len == 0 && mp_feed(&p, body, 0, &o->rf) == -1) {
		o->rc = -1;
		return;
	}
	o->rc = mp_finish(&p, &o->rf);
}

static size_t
chunk_one(size_t left, void *arg)
{
	(void)left;
	(void)arg;
	return 1;
}

/* The first chunk is *(size_t *)arg bytes, the second the rest. */
static size_t
chunk_split(size_t left, void *arg)
{
	size_t	*at = arg, n = *at;

	*at = SIZE_MAX;
	return n == SIZE_MAX ? left : n;
}

/* Are two outcomes the same: value, refusal and transcript? */
static int
same(const struct outcome *a, const struct outcome *b)
{
	if (a->rc != b->rc || a->rec.log.len != b->rec.log.len ||
	    (a->rec.log.len > 0 &&
	    memcmp(a->rec.log.data, b->rec.log.data, a->rec.log.len) != 0))
		return 0;
	if (a->rc == 0)
		return 1;
	return a->rf.status == b->rf.status &&
	    strcmp(a->rf.code, b->rf.code) == 0 &&
	    strcmp(a->rf.field, b->rf.field) == 0 &&
	    strcmp(a->rf.message, b->rf.message) == 0;
}

static void
outcome_free(struct outcome *o)
{
	buf_free(&o->rec.log);
}

/* The binary file: every byte value, and data that looks like delimiters. */
static void
make_file(struct buf *f)
{
	int	 i;
	char	 c;

	buf_puts(f, "%PDF-1.4\r\n--\r\n-\r\r\n\n\r--");
	for (i = 0; i < 256; i++) {
		c = (char)i;
		buf_append(f, &c, 1);
	}
	/* The boundary but its last byte, then a CR that may begin it. */
	buf_puts(f, "\r\n--" "----WebKitFormBoundaryePkpFF7tjBAqx29");
	buf_puts(f, "\r\n-");
	buf_puts(f, "\r\n--");
	buf_puts(f, "\n--" BOUNDARY "\r\n");	/* LF alone: data */
	buf_puts(f, "\r--" BOUNDARY "--");	/* CR alone: data */
	buf_puts(f, "--" BOUNDARY "--\r\n");	/* no CRLF before it: data */
	buf_puts(f, "\r\n\r\n--\r\r");		/* a CR just before it */
}

/* The body Chromium sends for a task, a textarea and a file. */
static void
make_body(struct buf *body, const struct buf *file)
{
	buf_puts(body,
	    "--" BOUNDARY "\r\n"
	    "Content-Disposition: form-data; name=\"task\"\r\n"
	    "\r\n"
	    "wordcount\r\n"
	    "--" BOUNDARY "\r\n"
	    "Content-Disposition: form-data; name=\"text\"\r\n"
	    "\r\n"
	    "two\r\nlines -- and dashes\r\n"
	    "--" BOUNDARY "\r\n"
	    "Content-Disposition: form-data; name=\"upload\"; "
	    "filename=\"scan.pdf\"\r\n"
	    "Content-Type: application/pdf\r\n"
	    "\r\n");
	buf_append(body, file->data, file->len);
	buf_puts(body, "\r\n--" BOUNDARY "--\r\n");
}

static void
test_browser(void)
{
	struct buf	 file = { 0 }, body = { 0 }, want = { 0 };
	struct outcome	 whole, o;
	size_t		 at, bad;
	char		 b[MP_BOUNDARY_MAX + 1];
	struct refusal	 rf;

	memset(&rf, 0, sizeof(rf));
	is_int(mp_boundary(CTYPE, b, sizeof(b), &rf), 0, "Chromium's "
	    "Content-Type has a boundary");
	is_str(b, BOUNDARY, "the boundary");

	make_file(&file);
	make_body(&body, &file);
	buf_puts(&want, "<task|(null)|text/plain>wordcount</>"
	    "<text|(null)|text/plain>two\r\nlines -- and dashes</>"
	    "<upload|scan.pdf|application/pdf>");
	buf_append(&want, file.data, file.len);
	buf_puts(&want, "</>");

	parse(&whole, b, body.data, body.len, NULL, NULL, 0);
	is_int(whole.rc, 0, "whole body parsed (%s)", whole.rf.message);
	ok(whole.rec.log.len == want.len &&
	    memcmp(whole.rec.log.data, want.data, want.len) == 0,
	    "callbacks saw the two fields and the file, byte for byte");
	ok(whole.rec.misordered == 0 && !whole.rec.inpart,
	    "callbacks in order, every part ended");
	ok(whole.rec.empty_data == 0, "no empty part_data");

	for (at = 0, bad = 0; at <= body.len; at++) {
		size_t split = at;

		parse(&o, b, body.data, body.len, chunk_split, &split, 0);
		if (!same(&o, &whole) || o.rec.misordered ||
		    o.rec.empty_data) {
			if (bad++ == 0)
				printf("# split at %zu differs\n", at);
		}
		outcome_free(&o);
	}
	is_int(bad, 0, "every two-way split (%zu) gives the same callbacks",
	    body.len + 1);

	parse(&o, b, body.data, body.len, chunk_one, NULL, 0);
	ok(same(&o, &whole), "1-byte chunks give the same callbacks");
	outcome_free(&o);

	outcome_free(&whole);
	buf_free(&want);
	buf_free(&body);
	buf_free(&file);
}

/* Parse s whole and byte by byte with boundary "b"; both must agree. */
static void
try(struct outcome *o, const char *s, size_t len, const char *what)
{
	struct outcome	 one;

	parse(o, "b", s, len, NULL, NULL, 0);
	parse(&one, "b", s, len, chunk_one, NULL, 0);
	ok(same(o, &one), "%s: same whole and byte by byte", what);
	outcome_free(&one);
}

/* s parses to the transcript want. */
static void
good(const char *s, const char *want, const char *what)
{
	struct outcome	 o;

	try(&o, s, strlen(s), what);
	is_int(o.rc, 0, "%s: parsed (%s)", what, o.rf.message);
	is_str(o.rec.log.data ? o.rec.log.data : "", want, "%s: callbacks",
	    what);
	outcome_free(&o);
}

/* s (len bytes) is refused with (400, code, field), message holding msg. */
static void
bad_n(const char *s, size_t len, const char *code, const char *field,
    const char *msg, const char *what)
{
	struct outcome	 o;

	try(&o, s, len, what);
	is_int(o.rc, -1, "%s: refused", what);
	is_int(o.rf.status, 400, "%s: 400", what);
	is_str(o.rf.code, code, "%s: code", what);
	is_str(o.rf.field, field, "%s: field", what);
	ok(strstr(o.rf.message, msg) != NULL, "%s: says \"%s\" (%s)", what,
	    msg, o.rf.message);
	outcome_free(&o);
}

static void
bad(const char *s, const char *code, const char *field, const char *msg,
    const char *what)
{
	bad_n(s, strlen(s), code, field, msg, what);
}

#define CD	"Content-Disposition: form-data; "

static void
test_variants(void)
{
	good("preamble text\r\n--b\r\n" CD "name=a\r\n\r\nx\r\n--b--"
	    "\r\nepilogue --b\r\n", "<a|(null)|text/plain>x</>",
	    "preamble, unquoted name, epilogue ignored");
	good("--b \t\r\n" CD "name=\"a\"\r\n\r\n\r\n--b \r\n"
	    "content-disposition:FORM-DATA;NAME=\"c\" ; filename=\"\"\r\n"
	    "X-Other: ignored\r\n"
	    "Content-Type:   application/octet-stream  \r\n\r\n\r\n--b--",
	    "<a|(null)|text/plain></><c||application/octet-stream></>",
	    "padding, empty parts, empty filename, case, spaces");
	good("--b\r\n" CD "name=\"f\"; filename=\"a\\\"b\\\\c.txt\"\r\n\r\n"
	    "\r\n--b--", "<f|a\"b\\c.txt|text/plain></>",
	    "backslash escapes in a filename");
	good("--b\r\n" CD "name=\"f\"; filename=\"C:\\Users\\x\\doc.pdf\""
	    "\r\n\r\nz\r\n--b--", "<f|C:\\Users\\x\\doc.pdf|text/plain>z</>",
	    "an old browser's Windows path is kept whole");
	good("--b\r\n" CD "name=\"f\"; filename=\"x.txt\"; "
	    "filename*=UTF-8''%E2%82%AC%20rates.txt\r\n\r\n\r\n--b--",
	    "<f|\xe2\x82\xac rates.txt|text/plain></>",
	    "filename* decoded, and wins");
	good("--b\r\n" CD "name=\"f\"; filename=\"r\xc3\xa9sum\xc3\xa9.pdf\""
	    "\r\nContent-Transfer-Encoding: binary\r\n\r\n\r\n--b--",
	    "<f|r\xc3\xa9sum\xc3\xa9.pdf|text/plain></>",
	    "raw UTF-8 filename as Chromium sends it; identity CTE");
	good("--b\r\n" CD "name=\"%22q%22\"\r\n\r\n\r\n--b--",
	    "<%22q%22|(null)|text/plain></>",
	    "a browser's %22 is left as sent");
	good("--b\r\n" CD "name=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaa\"\r\n\r\n\r\n--b--",
	    "<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "|(null)|text/plain></>", "a name of 64 bytes");
	good("--b\r\n" CD "name=\"a\"\r\n\r\n\r\r\n\r\n-\r\n--\r\n-\r\n--b--",
	    "<a|(null)|text/plain>\r\r\n\r\n-\r\n--\r\n-</>",
	    "data: CRs and delimiter prefixes; a delimiter line ends it");
}

static void
test_malformed(void)
{
	char		 big[MP_HEADER_MAX + 200];
	struct buf	 s = { 0 };
	int		 i;

	bad("--b\r\n" CD "name=\"a\"\r\n\r\nx", "invalid_body", "",
	    "cut off", "no closing boundary");
	bad("--b\r\n" CD "name=\"a\"\r\n\r\nx\r\n--b", "invalid_body", "",
	    "cut off", "closing boundary without its --");
	bad("--b\r\n" CD "name=\"a\"\r\n", "invalid_body", "", "cut off",
	    "cut off in the header");
	bad("", "invalid_body", "", "empty", "empty body");
	bad("hello world\r\n", "invalid_body", "", "does not hold",
	    "no boundary at all");
	bad("--b--\r\n", "invalid_body", "", "no part", "body with no parts");
	bad("--b\nContent-Disposition: form-data; name=\"a\"\n\nx\n--b--\n",
	    "invalid_body", "", "bare LF", "LF-only line endings");
	bad("--b\r\n" CD "name=\"a\"\n\r\n\r\n--b--", "invalid_body", "",
	    "bare LF", "a header line ending in LF");
	bad("--b\rx", "invalid_body", "", "CR without LF",
	    "delimiter line with a CR alone");
	bad("--b\r\nContent-Disposition form-data\r\n\r\n\r\n--b--",
	    "invalid_body", "", "malformed", "header line without a colon");
	bad("--b\r\nContent-Disposition : form-data; name=a\r\n\r\n\r\n--b--",
	    "invalid_body", "", "malformed", "space before the colon");
	bad("--b\r\n" CD "name=\"a\"\r\n folded\r\n\r\n\r\n--b--",
	    "invalid_field", "a", "folded", "a folded header line");
	bad("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",
	    "invalid_body", "", "no Content-Disposition",
	    "missing Content-Disposition");
	bad("--b\r\n\r\nx\r\n--b--", "invalid_body", "",
	    "no Content-Disposition", "a part with no header");
	bad("--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\n"
	    "\r\n--b--", "invalid_body", "", "not form-data",
	    "disposition attachment");
	bad("--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",
	    "invalid_body", "", "no name", "missing name");
	bad("--b\r\n" CD "filename=\"x\"\r\n\r\nx\r\n--b--", "invalid_body",
	    "", "no name", "only a filename");
	bad("--b\r\n" CD "name=\"\"\r\n\r\nx\r\n--b--", "invalid_body", "",
	    "no name", "empty name");
	bad("--b\r\n" CD "name=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaa\"\r\n\r\n\r\n--b--", "invalid_body", "",
	    "longer than 64", "a name of 65 bytes");
	bad("--b\r\n" CD "name=\"a\"; name=\"b\"\r\n\r\n\r\n--b--",
	    "invalid_body", "", "two names", "two names");
	bad("--b\r\n" CD "name=\"a\xff\"\r\n\r\n\r\n--b--", "invalid_body",
	    "", "UTF-8", "a name that is not UTF-8");
	bad("--b\r\n" CD "name=\"a\x01\"\r\n\r\n\r\n--b--", "invalid_body",
	    "", "printable", "a control character in a name");
	bad_n("--b\r\n" CD "name=\"a\0b\"\r\n\r\n\r\n--b--", 55,
	    "invalid_body", "", "NUL", "NUL in a name");
	bad_n("--b\r\n" CD "name=\"f\"; filename=\"a\0b\"\r\n\r\n\r\n--b--",
	    69, "invalid_body", "", "NUL", "NUL in a filename");
	bad("--b\r\n" CD "name=\"f\"; filename*=UTF-8''a%00b\r\n\r\n\r\n"
	    "--b--", "invalid_field", "f", "NUL", "%00 in filename*");
	bad("--b\r\n" CD "name=\"f\"; filename*=ISO-8859-1''a%E9\r\n\r\n\r\n"
	    "--b--", "invalid_field", "f", "UTF-8", "filename* not UTF-8");
	bad("--b\r\n" CD "name=\"f\"; filename*=UTF-8''a%4\r\n\r\n\r\n--b--",
	    "invalid_field", "f", "escape", "filename* bad escape");
	bad("--b\r\n" CD "name=\"a; filename=x\r\n\r\n\r\n--b--",
	    "invalid_body", "", "malformed", "unterminated quote");
	bad("--b\r\n" CD "name=a b\r\n\r\n\r\n--b--", "invalid_body", "",
	    "malformed", "unquoted value with a space");
	bad("--b\r\n" CD "name=\"a\"\r\n" CD "name=\"a\"\r\n\r\n\r\n--b--",
	    "invalid_field", "a", "two Content-Disposition",
	    "two Content-Disposition headers");
	bad("--b\r\n" CD "name=\"a\"\r\nContent-Type: a\r\nContent-Type: b"
	    "\r\n\r\n\r\n--b--", "invalid_field", "a", "two Content-Type",
	    "two Content-Type headers");
	bad("--b\r\n" CD "name=\"a\"\r\nContent-Type: \r\n\r\n\r\n--b--",
	    "invalid_field", "a", "empty", "an empty Content-Type");
	bad("--b\r\n" CD "name=\"a\"\r\nContent-Transfer-Encoding: base64\r\n"
	    "\r\nYQ==\r\n--b--", "invalid_field", "a", "not supported",
	    "base64 Content-Transfer-Encoding");
	bad("--b\r\n" CD "name=\"a\"\r\n\r\nx\r\n--bX\r\n\r\n--b--",
	    "invalid_body", "", "occurs in the data",
	    "the boundary inside the data");
	bad("--b\r\n" CD "name=\"a\"\r\n\r\nx\r\n--b-x", "invalid_body", "",
	    "occurs in the data", "a delimiter with one dash");
	bad("--bX\r\n", "invalid_body", "", "occurs in the data",
	    "the first delimiter followed by junk");

	/* An overlong header line, then too many lines. */
	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "--b\r\n" CD "name=\"a\"\r\nX-Pad: ",
	    strlen("--b\r\n" CD "name=\"a\"\r\nX-Pad: "));
	bad(big, "invalid_field", "a", "longer than 8192",
	    "a header over 8 KiB");
	buf_puts(&s, "--b\r\n" CD "name=\"a\"\r\n");
	for (i = 0; i < MP_HEADERS_MAX; i++)
		buf_puts(&s, "X-Pad: p\r\n");
	buf_puts(&s, "\r\n\r\n--b--");
	bad(s.data, "invalid_field", "a", "more than 16",
	    "17 header lines");
	buf_reset(&s);
	for (i = 0; i <= MP_PARTS_MAX; i++)
		buf_puts(&s, "--b\r\n" CD "name=\"a\"\r\n\r\n\r\n");
	buf_puts(&s, "--b--");
	bad(s.data, "invalid_body", "", "more than 256", "257 parts");
	buf_free(&s);
}

/* A callback returning -1 stops the parse with its own refusal. */
static void
test_callback_stop(void)
{
	const char	*s = "--b\r\n" CD "name=\"a\"\r\n\r\nxy\r\n--b--";
	struct outcome	 o;
	int		 at;
	size_t		 len = strlen(s);

	for (at = 1; at <= 3; at++) {
		parse(&o, "b", s, len, NULL, NULL, at);
		is_int(o.rc, -1, "callback %d refuses: the parse stops", at);
		is_int(o.rf.status, 413, "callback %d: its status", at);
		is_str(o.rf.field, "upload", "callback %d: its field", at);
		is_str(o.rf.message, "stop here", "callback %d: its message",
		    at);
		is_int(o.rec.after_fail, 0, "callback %d: none after", at);
		outcome_free(&o);
	}
	{
		struct mp_parser	 p;
		struct rec		 rc;
		struct refusal		 rf;

		memset(&rc, 0, sizeof(rc));
		memset(&rf, 0, sizeof(rf));
		rc.rf = &rf;
		rc.fail_at = 1;
		mp_init(&p, "b", &cbs, &rc);
		is_int(mp_feed(&p, s, len, &rf), -1, "refused by part_begin");
		is_int(mp_feed(&p, s, len, &rf), -1, "a later feed fails");
		is_int(rf.status, 500, "as misuse");
		is_int(mp_finish(&p, &rf), -1, "and so does finish");
		is_int(rc.after_fail, 0, "no callback after the refusal");
		buf_free(&rc.log);
	}
}

/* mp_boundary(ct) gives want, or refuses when want is NULL. */
static void
boundary(const char *ct, const char *want, const char *what)
{
	char		 b[MP_BOUNDARY_MAX + 1];
	struct refusal	 rf;
	int		 rc;

	memset(&rf, 0, sizeof(rf));
	rc = mp_boundary(ct, b, sizeof(b), &rf);
	if (want != NULL) {
		is_int(rc, 0, "boundary: %s (%s)", what, rf.message);
		is_str(b, want, "boundary: %s: value", what);
	} else {
		is_int(rc, -1, "boundary: %s: refused", what);
		is_int(rf.status, 400, "boundary: %s: 400 (%s)", what,
		    rf.message);
		is_str(b, "", "boundary: %s: nothing kept", what);
	}
}

static void
test_boundary(void)
{
	char		 b71[128], ct[160], small[8];
	struct refusal	 rf;
	struct mp_parser p;

	boundary("multipart/form-data;boundary=abc", "abc", "no space");
	boundary("multipart/form-data; BOUNDARY=abc", "abc", "any case");
	boundary("multipart/form-data; boundary=\"gc0p4Jq0M2Yt08j U534c0p\"",
	    "gc0p4Jq0M2Yt08j U534c0p", "quoted, with a space");
	boundary("multipart/form-data; charset=\"a;b\"; boundary=x; q=1",
	    "x", "among other parameters");
	boundary("multipart/form-data; boundary=\"'()+_,-./:=?\"",
	    "'()+_,-./:=?", "every special bchar");
	boundary("multipart/form-data; boundary==_Part_1", "=_Part_1",
	    "unquoted, beginning with '='");
	boundary("multipart/form-data; boundary=x;", "x", "a trailing ';'");
	boundary(NULL, NULL, "no Content-Type");
	boundary("multipart/form-data", NULL, "parameter missing");
	boundary("multipart/form-data; charset=utf-8", NULL,
	    "another parameter only");
	boundary("multipart/form-data; boundary=", NULL, "empty");
	boundary("multipart/form-data; boundary=\"\"", NULL, "empty quoted");
	boundary("multipart/form-data; boundary=\"abc \"", NULL,
	    "ending in a space");
	boundary("multipart/form-data; boundary=\"abc", NULL,
	    "unterminated quote");
	boundary("multipart/form-data; boundary=a<b", NULL, "a '<'");
	boundary("multipart/form-data; boundary=\"a\\\"b\"", NULL,
	    "an escaped quote");
	boundary("multipart/form-data; boundary=a b", NULL, "a space, "
	    "unquoted");
	boundary("multipart/form-data; boundary=a; boundary=a", NULL,
	    "given twice");
	memset(b71, 'x', 71);
	b71[71] = '\0';
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%.70s", b71);
	boundary(ct, b71 + 1, "70 bytes");
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", b71);
	boundary(ct, NULL, "71 bytes");
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=\"%s\"", b71);
	boundary(ct, NULL, "71 bytes, quoted");

	memset(&rf, 0, sizeof(rf));
	is_int(mp_boundary("multipart/form-data; boundary=x", small,
	    sizeof(small), &rf), -1, "boundary: no room is refused");
	is_int(rf.status, 500, "boundary: no room is the caller's fault");
	is_int(mp_init(&p, "", &cbs, NULL), -1, "mp_init: empty boundary");
	is_int(mp_init(&p, b71, &cbs, NULL), -1, "mp_init: 71 bytes");
	is_int(mp_init(&p, "a\rb", &cbs, NULL), -1, "mp_init: a CR");
	memset(&rf, 0, sizeof(rf));
	is_int(mp_feed(&p, "--a", 3, &rf), -1, "a failed mp_init feeds no "
	    "bytes");
}

/* mp_safe_filename(in) is want. */
static void
safe(const char *in, size_t outsz, const char *want, const char *what)
{
	char	 out[256];

	memset(out, 'Z', sizeof(out));
	is_int(mp_safe_filename(in, out, outsz), 0, "safe name: %s", what);
	is_str(out, want, "safe name: %s: value", what);
}

static void
test_safe_filename(void)
{
	char	 out[8];

	safe("scan.pdf", 256, "scan.pdf", "plain");
	safe("../../etc/passwd", 256, "passwd", "a relative path");
	safe("C:\\Users\\x\\doc.pdf", 256, "doc.pdf", "a Windows path");
	safe("/abs/a\\b/c.txt", 256, "c.txt", "both separators");
	safe("", 256, "upload", "empty");
	safe(NULL, 256, "upload", "NULL");
	safe("dir/", 256, "upload", "a directory");
	safe("..", 256, "upload", "..");
	safe("a/.", 256, "upload", ".");
	safe("a\x01" "b\x7f\tc\r\n.txt", 256, "abc.txt", "control "
	    "characters");
	safe("x\xc2\x85y", 256, "xy", "a C1 control");
	safe("\xe2\x80\xae" "fdp.exe", 256, "fdp.exe", "a bidi override");
	safe("\xff\xfeok\xc3", 256, "ok", "invalid UTF-8 dropped");
	safe("\x01\x02", 256, "upload", "only controls");
	safe("  name.txt  ", 256, "name.txt", "surrounding spaces");
	safe("r\xc3\xa9sum\xc3\xa9.pdf", 256, "r\xc3\xa9sum\xc3\xa9.pdf",
	    "UTF-8 kept");
	safe("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8, "\xc3\xa9\xc3\xa9\xc3\xa9",
	    "cut at a character boundary");
	safe("abcdefghij", 7, "abcdef", "cut to fit");
	ok(mp_safe_filename("x", out, 6) == -1 && out[0] == '\0',
	    "safe name: no room for \"upload\" is an error");
}

/* A small PRNG (xorshift64), so runs repeat exactly. */
static uint64_t	 rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static size_t
chunk_random(size_t left, void *arg)
{
	size_t	 max = *(size_t *)arg;

	(void)left;
	return 1 + (size_t)(rng() % max);
}

/* Change body (a copy of the valid one) at random, a few times. */
static void
mutate(struct buf *body)
{
	static const char *const bits[] = { "\r", "\n", "\r\n", "-", "--",
	    "\r\n--", "\r\n--" BOUNDARY, "\r\n--" BOUNDARY "--",
	    "\r\n--" BOUNDARY "\r\n", "\"", "\\", ";", "=", ":", "\0",
	    "Content-Disposition: form-data; name=\"x\"\r\n",
	    "filename*=UTF-8''%41", " ", "\r\n\r\n" };
	struct buf	 t = { 0 };
	size_t		 n, at, k, len;
	const char	*bit;
	int		 i;

	n = 1 + (size_t)(rng() % 4);
	while (n-- > 0) {
		at = body->len ? (size_t)(rng() % body->len) : 0;
		buf_reset(&t);
		switch (rng() % 6) {
		case 0:		/* flip a byte */
			if (body->len > 0)
				body->data[at] = (char)rng();
			break;
		case 1:		/* insert a piece of syntax */
			i = (int)(rng() % (sizeof(bits) / sizeof(bits[0])));
			bit = bits[i];
			len = *bit ? strlen(bit) : 1;
			buf_append(&t, body->data, at);
			buf_append(&t, bit, len);
			buf_append(&t, body->data + at, body->len - at);
			buf_reset(body);
			buf_append(body, t.data, t.len);
			break;
		case 2:		/* delete a range */
			k = (size_t)(rng() % 64);
			if (k > body->len - at)
				k = body->len - at;
			memmove(body->data + at, body->data + at + k,
			    body->len - at - k);
			body->len -= k;
			break;
		case 3:		/* repeat a range */
			k = (size_t)(rng() % 128);
			if (k > body->len - at)
				k = body->len - at;
			buf_append(&t, body->data, at + k);
			buf_append(&t, body->data + at, body->len - at);
			buf_reset(body);
			buf_append(body, t.data, t.len);
			break;
		case 4:		/* truncate */
			body->len = at;
			break;
		default:	/* a long header value */
			buf_append(&t, body->data, at);
			for (k = rng() % 9000; k > 0; k--)
				buf_append(&t, "h", 1);
			buf_append(&t, body->data + at, body->len - at);
			buf_reset(body);
			buf_append(body, t.data, t.len);
			break;
		}
	}
	buf_free(&t);
}

static void
test_fuzz(void)
{
	struct buf	 file = { 0 }, valid = { 0 }, body = { 0 };
	struct outcome	 whole, o;
	size_t		 max, differ = 0, misordered = 0, badstatus = 0;
	size_t		 accepted = 0;
	int		 i, iters = 20000;
	const char	*env;

	if ((env = getenv("MULTIPART_FUZZ")) != NULL)
		iters = atoi(env);
	make_file(&file);
	make_body(&valid, &file);
	for (i = 0; i < iters; i++) {
		buf_reset(&body);
		buf_append(&body, valid.data, valid.len);
		mutate(&body);
		parse(&whole, BOUNDARY, body.data ? body.data : "", body.len,
		    NULL, NULL, 0);
		max = rng() % 2 ? 8 : 512;
		max = 1 + (size_t)(rng() % max);
		parse(&o, BOUNDARY, body.data ? body.data : "", body.len,
		    chunk_random, &max, 0);
		if (!same(&whole, &o) && differ++ == 0)
			printf("# fuzz %d: chunked parse differs\n", i);
		if (o.rec.misordered || o.rec.empty_data ||
		    (o.rc == 0 && o.rec.inpart))
			misordered++;
		if (o.rc == -1 && (o.rf.status != 400 ||
		    o.rf.message[0] == '\0'))
			badstatus++;
		if (o.rc == 0)
			accepted++;
		outcome_free(&whole);
		outcome_free(&o);
	}
	is_int(differ, 0, "fuzz: %d mutated bodies parse the same in random "
	    "chunks", iters);
	is_int(misordered, 0, "fuzz: callbacks always in order");
	is_int(badstatus, 0, "fuzz: every refusal is a 400 with a message");
	ok(1, "fuzz: no crash (%zu of %d accepted)", accepted, iters);
	buf_free(&body);
	buf_free(&valid);
	buf_free(&file);
}

int
main(void)
{
	test_browser();
	test_variants();
	test_malformed();
	test_callback_stop();
	test_boundary();
	test_safe_filename();
	test_fuzz();
	return tap_done();
}
