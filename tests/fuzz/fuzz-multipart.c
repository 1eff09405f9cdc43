/*
 * tests/fuzz/fuzz-multipart.c: the multipart/form-data push parser
 * (mp_boundary, mp_init, mp_feed, mp_finish) and mp_safe_filename() on
 * any request.
 *
 * The input is a seed byte, a Content-Type up to the first newline, and
 * the body.  The body is parsed twice: fed whole, and fed in chunks whose
 * sizes come from the seed (0: one byte at a time).  A push parser must
 * not care where the chunks end, so both parses must call back the same
 * events with the same bytes and end with the same answer; that is what
 * holding back a possible delimiter across chunks is for.  Also checked:
 * a boundary mp_boundary() accepts is one mp_init() accepts; parts
 * begin, get data and end in order, at most MP_PARTS_MAX of them; a name
 * is 1 to 64 bytes of UTF-8; a part's data never holds the delimiter;
 * mp_finish() succeeds only after a closing delimiter; a refusal made in
 * a callback stops the parse; safe file names are non-empty, fit, have
 * no '/', '\\' or control character and are not "." or "..".
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "fuzz.h"

#define FUZZ_FALLBACK	"fuzz-boundary"	/* when the Content-Type has none */

struct ctx {
	struct refusal	*r;
	struct buf	 log;		/* every event, in order */
	struct buf	 data;		/* the current part's bytes */
	const char	*delim;		/* CRLF "--" boundary */
	int		 inpart;
	int		 indata;	/* the last event was data */
	int		 stop_at_end;	/* the part is called "stopend" */
	size_t		 parts;
};

static void
check_safe_filename(const char *name, size_t outsz)
{
	char	*out;
	size_t	 i, n;

	if ((out = malloc(outsz)) == NULL)
		abort();
	if (mp_safe_filename(name, out, outsz) == -1) {
		FUZZ_CHECK(outsz < sizeof("upload") && errno == EINVAL);
		free(out);
		return;
	}
	FUZZ_CHECK(fuzz_terminated(out, outsz));
	n = strlen(out);
	FUZZ_CHECK(n > 0 && n < outsz);
	FUZZ_CHECK(strcmp(out, ".") != 0 && strcmp(out, "..") != 0);
	FUZZ_CHECK(fuzz_utf8_valid(out, n));
	FUZZ_CHECK(out[0] != ' ' && out[n - 1] != ' ');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];

		FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != '/' && c != '\\');
	}
	free(out);
}

static void
log_str(struct buf *b, const char *tag, const char *s)
{
	if (buf_puts(b, tag) == -1 || buf_puts(b, s != NULL ? s : "(null)") ==
	    -1 || buf_append(b, "", 1) == -1)
		abort();
}

static int
cb_begin(void *arg, const char *name, const char *filename,
    const char *ctype)
{
	struct ctx	*c = arg;
	size_t		 n;

	FUZZ_CHECK(!c->inpart);
	FUZZ_CHECK(name != NULL && ctype != NULL);
	n = strlen(name);
	FUZZ_CHECK(n >= 1 && n <= SPOOLCGI_NAME_MAX);
	FUZZ_CHECK(fuzz_utf8_valid(name, n));
	FUZZ_CHECK(ctype[0] != '\0' && strlen(ctype) <= MP_CTYPE_MAX);
	FUZZ_CHECK(++c->parts <= MP_PARTS_MAX);
	if (filename != NULL) {
		check_safe_filename(filename, 256);
		check_safe_filename(filename, sizeof("upload"));
		check_safe_filename(filename, 8 + strlen(filename) % 16);
		check_safe_filename(filename, 3);
	}
	c->inpart = 1;
	c->indata = 0;
	buf_reset(&c->data);
	log_str(&c->log, "B", name);
	log_str(&c->log, "F", filename);
	log_str(&c->log, "T", ctype);
	if (strcmp(name, "stop") == 0) {
		refuse(c->r, 400, "invalid_field", name, "stopped at begin");
		return -1;
	}
	c->stop_at_end = strcmp(name, "stopend") == 0;
	return 0;
}

static int
cb_data(void *arg, const char *s, size_t n)
{
	struct ctx	*c = arg;

	FUZZ_CHECK(c->inpart);
	FUZZ_CHECK(s != NULL && n > 0);
	if (!c->indata && buf_puts(&c->log, "D") == -1)
		abort();
	c->indata = 1;
	if (buf_append(&c->log, s, n) == -1 || buf_append(&c->data, s, n) == -1)
		abort();
	return 0;
}

static int
cb_end(void *arg)
{
	struct ctx	*c = arg;
	size_t		 i, dl = strlen(c->delim);

	FUZZ_CHECK(c->inpart);
	/* The delimiter ends a part: it cannot be inside one. */
	for (i = 0; i + dl <= c->data.len; i++)
		FUZZ_CHECK(memcmp(c->data.data + i, c->delim, dl) != 0);
	c->inpart = 0;
	c->indata = 0;
	if (buf_puts(&c->log, "E") == -1)
		abort();
	if (c->stop_at_end) {
		refuse(c->r, 400, "invalid_field", "stopend", "stopped at end");
		return -1;
	}
	return 0;
}

static const struct mp_callbacks callbacks = { cb_begin, cb_data, cb_end };

/*
 * Parse body with boundary, in chunks from seed (-1: whole; 0: bytes).
 * Returns the answer: 0, or -1 with r filled; c->log holds the events.
 */
static int
parse(struct ctx *c, struct refusal *r, const char *boundary,
    const char *body, size_t len, int seed)
{
	struct mp_parser	*p;
	struct refusal		 late;
	char			 delim[MP_BOUNDARY_MAX + 8];
	uint32_t		 x = (uint32_t)seed * 2654435761u + 1;
	size_t			 off = 0, n, max = 1 + ((size_t)seed & 63);
	int			 rc, fin;

	/* The parser is large (its header buffer): heap, to see overflows. */
	if ((p = malloc(sizeof(*p))) == NULL)
		abort();
	memset(c, 0, sizeof(*c));
	c->r = r;
	snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	c->delim = delim;
	memset(r, 0, sizeof(*r));
	FUZZ_CHECK(mp_init(p, boundary, &callbacks, c) == 0);

	rc = 0;
	while (off < len) {
		if (seed < 0)
			n = len - off;
		else if (seed == 0)
			n = 1;
		else {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			n = 1 + x % max;
			/* Now and then a long run, past MP_HEADER_MAX. */
			if (x % 16 == 0)
				n = 1 + x % 16384;
		}
		if (n > len - off)
			n = len - off;
		if ((rc = mp_feed(p, body + off, n, r)) == -1)
			break;
		off += n;
	}
	if (rc == 0) {
		rc = mp_finish(p, r);
		if (rc == 0) {
			FUZZ_CHECK(!c->inpart && c->parts >= 1);
			/* The epilogue is ignored, and finishing twice is. */
			FUZZ_CHECK(mp_feed(p, "\r\n--", 4, &late) == 0);
			fin = mp_finish(p, &late);
			FUZZ_CHECK(fin == 0);
		}
	}
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		FUZZ_CHECK(r->status == 400 || r->status == 413 ||
		    r->status == 500);
		FUZZ_CHECK(fuzz_terminated(r->code, sizeof(r->code)) &&
		    r->code[0] != '\0');
		FUZZ_CHECK(fuzz_terminated(r->field, sizeof(r->field)));
		FUZZ_CHECK(fuzz_terminated(r->message, sizeof(r->message)));
		/* A stopped parser stays stopped. */
		FUZZ_CHECK(mp_feed(p, "x", 1, &late) == -1);
		FUZZ_CHECK(mp_finish(p, &late) == -1);
	}
	free(p);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx	 whole, chunked;
	struct refusal	 r1, r2, rb;
	const uint8_t	*nl;
	char		*ctype, *body, boundary[MP_BOUNDARY_MAX + 1];
	char		 small[MP_BOUNDARY_MAX];
	const char	*bd;
	size_t		 clen, blen;
	int		 seed, rc1, rc2;

	if (size < 1)
		return 0;
	seed = data[0];
	data++;
	size--;
	nl = memchr(data, '\n', size);
	clen = nl != NULL ? (size_t)(nl - data) : size;
	ctype = fuzz_strndup(data, clen);
	blen = nl != NULL ? size - clen - 1 : 0;
	body = fuzz_dup(nl != NULL ? nl + 1 : data + size, blen);

	memset(boundary, 'x', sizeof(boundary));
	memset(&rb, 0, sizeof(rb));
	if (mp_boundary(ctype, boundary, sizeof(boundary), &rb) == 0) {
		FUZZ_CHECK(fuzz_terminated(boundary, sizeof(boundary)));
		FUZZ_CHECK(boundary[0] != '\0' &&
		    strlen(boundary) <= MP_BOUNDARY_MAX);
		bd = boundary;
	} else {
		FUZZ_CHECK(rb.status == 400 && boundary[0] == '\0');
		bd = FUZZ_FALLBACK;
	}
	/* Too small a buffer is the caller's error, never an overflow. */
	FUZZ_CHECK(mp_boundary(ctype, small, sizeof(small), &rb) == -1 &&
	    rb.status == 500);

	rc1 = parse(&whole, &r1, bd, body, blen, -1);
	rc2 = parse(&chunked, &r2, bd, body, blen, seed);
	FUZZ_CHECK(rc1 == rc2);
	FUZZ_CHECK(whole.log.len == chunked.log.len &&
	    (whole.log.len == 0 ||
	    memcmp(whole.log.data, chunked.log.data, whole.log.len) == 0));
	if (rc1 == -1) {
		FUZZ_CHECK(r1.status == r2.status);
		FUZZ_CHECK(strcmp(r1.code, r2.code) == 0);
		FUZZ_CHECK(strcmp(r1.field, r2.field) == 0);
		FUZZ_CHECK(strcmp(r1.message, r2.message) == 0);
	}

	buf_free(&whole.log);
	buf_free(&whole.data);
	buf_free(&chunked.log);
	buf_free(&chunked.data);
	free(body);
	free(ctype);
	return 0;
}
