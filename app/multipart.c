/*
 * Start requests with files: a streaming multipart/form-data parser
 * (RFC 7578, on the syntax of RFC 2046 5.1) and the helpers around it.
 *
 * One file, over 700 lines, because it is one state machine.  The parser
 * is a push state machine: the handler feeds it the body in
 * chunks of any size, and it calls back part_begin, part_data (the part's
 * bytes, in pieces) and part_end.  It holds no part whole and allocates
 * nothing: its struct holds the delimiter and one part's header (at most
 * MP_HEADER_MAX bytes).  It never touches a file and never logs, so a fuzz
 * driver can call it; what it finds wrong goes into a struct refusal.
 *
 * Body bytes that may be the start of the delimiter (CRLF "--" boundary)
 * are held back until they are known to be data or delimiter.  They are
 * always a prefix of the delimiter, so the count of them is all that is
 * kept.  A boundary holds no CR (RFC 2046 5.1.1 bchars), so after a
 * mismatch the only place a new match can begin is at a CR: no KMP table.
 *
 * Decisions, where the RFCs leave room:
 * - Line endings are CRLF.  A bare LF ending a delimiter or a header line
 *   is refused: were "LF--boundary" a delimiter as well, a file ending in
 *   CR before it could not be told from one that does not.  Browsers and
 *   curl send CRLF.
 * - A line that begins with the delimiter but is not one ("--boundaryX")
 *   is refused: RFC 2046 5.1.1 forbids the sender to let it occur.
 * - Everything after the closing delimiter is epilogue and is ignored, as
 *   is the preamble before the first one.  A body with no part is refused
 *   (RFC 2046 5.1.1 requires one).
 * - Part headers: CRLF-terminated, no folding, no NUL, at most
 *   MP_HEADERS_MAX lines and MP_HEADER_MAX bytes.  Content-Disposition must
 *   be form-data with a name of 1 to SPOOLCGI_NAME_MAX bytes of UTF-8;
 *   Content-Type defaults to text/plain (RFC 7578 4.4);
 *   Content-Transfer-Encoding, deprecated by RFC 7578 4.7, is accepted only
 *   as an identity (7bit, 8bit, binary).  Other headers are ignored.
 * - In a quoted-string a backslash escapes only '"' and '\\'; any other
 *   backslash is kept, so an old browser's "C:\Users\x\doc.pdf" stays a
 *   path that mp_safe_filename() can strip (Go's mime package does the
 *   same).  Browsers escape '"', CR and LF in names as %22, %0D and %0A
 *   (WHATWG HTML "multipart/form-data encoding algorithm"); that is left
 *   as sent: names are compared with the configuration as they are.
 * - filename*=UTF-8''... (RFC 8187), which RFC 7578 4.2 tells senders not
 *   to use, is decoded and wins over filename, as in RFC 6266 4.3.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "extern.h"

#define MP_NONE		SIZE_MAX	/* no offset in hbuf */
#define MP_DEFAULT_CTYPE "text/plain"	/* RFC 7578 4.4 */
#define MP_DEFAULT_FILENAME "upload"

#define MP_SEEN_DISP	0x01
#define MP_SEEN_CTYPE	0x02
#define MP_SEEN_CTE	0x04

enum mp_state {
	MP_S_PREAMBLE,		/* looking for the first delimiter */
	MP_S_DELIM,		/* just after a delimiter */
	MP_S_DASH,		/* delimiter and one '-' */
	MP_S_PAD,		/* in the transport padding after it */
	MP_S_DELIM_LF,		/* its line's CR seen */
	MP_S_HEADER,		/* in a part's header line */
	MP_S_HEADER_LF,		/* a header line's CR seen */
	MP_S_BODY,		/* in a part's data */
	MP_S_EPILOGUE,		/* after the closing delimiter */
	MP_S_FAILED		/* refused: feeds no more */
};

/* A parameter of a header value, as found in it: nothing decoded. */
struct mp_param {
	const char	*name;
	size_t		 nlen;
	const char	*val;		/* inside the quotes when quoted */
	size_t		 vlen;
	int		 quoted;
};

/*
 * Refuse for part p: with the field's name when its header named it
 * (invalid_field), otherwise as a malformed body (invalid_body).
 * Returns -1.
 */
static int __attribute__((format(printf, 3, 4)))
mp_refuse(const struct mp_parser *p, struct refusal *r, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[sizeof(r->message)];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p != NULL && p->name != MP_NONE)
		refuse(r, 400, "invalid_field", p->hbuf + p->name, "%s", msg);
	else
		refuse(r, 400, "invalid_body", NULL, "%s", msg);
	return -1;
}

/* A byte of an unquoted parameter value: not a separator nor a control. */
static int
mp_vchar(char c)
{
	unsigned char	 u = (unsigned char)c;

	return u > 0x20 && u != 0x7f && c != ';' && c != '"';
}

/* RFC 2046 5.1.1 bchars, space excluded. */
static int
mp_bchar_nospace(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' &&
	    strchr("'()+_,-./:=?", c) != NULL);
}

/* Is s (n bytes) a boundary RFC 2046 5.1.1 allows?  Returns 1 or 0. */
static int
mp_boundary_valid(const char *s, size_t n)
{
	size_t	 i;

	if (n < 1 || n > MP_BOUNDARY_MAX || s[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] != ' ' && !mp_bchar_nospace(s[i]))
			return 0;
	return 1;
}

/* Does s (n bytes) equal the lower-case ASCII lit, ignoring case? */
static int
mp_ieq(const char *s, size_t n, const char *lit)
{
	size_t	 i;
	char	 c;

	for (i = 0; i < n; i++) {
		if (lit[i] == '\0')
			return 0;
		c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return 0;
	}
	return lit[n] == '\0';
}

/* Skip spaces and tabs (RFC 9110 OWS); returns the index after them. */
static size_t
mp_ows(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/*
 * The next parameter (";" name "=" value, RFC 9110 5.6.6) of s[*ip..n),
 * with optional whitespace around each part and a trailing ';' allowed.
 * A quoted value is found with the backslash rule of the top comment, and
 * not decoded here.  Returns 1 with pr filled and *ip moved past it, 0 at
 * the end, or -1 if the text is malformed.
 */
static int
mp_param_next(const char *s, size_t n, size_t *ip, struct mp_param *pr)
{
	size_t	 i;

	i = mp_ows(s, n, *ip);
	if (i == n)
		return 0;
	if (s[i] != ';')
		return -1;
	i = mp_ows(s, n, i + 1);
	if (i == n) {
		*ip = i;
		return 0;
	}
	pr->name = s + i;
	while (i < n && is_tchar((unsigned char)s[i]))
		i++;
	if ((pr->nlen = (size_t)(s + i - pr->name)) == 0)
		return -1;
	i = mp_ows(s, n, i);
	if (i == n || s[i] != '=')
		return -1;
	i = mp_ows(s, n, i + 1);
	if (i < n && s[i] == '"') {
		pr->quoted = 1;
		pr->val = s + ++i;
		for (;;) {
			if (i == n)
				return -1;
			if (s[i] == '"')
				break;
			if (s[i] == '\\' && i + 1 < n &&
			    (s[i + 1] == '"' || s[i + 1] == '\\'))
				i += 2;
			else
				i++;
		}
		pr->vlen = (size_t)(s + i - pr->val);
		i++;
	} else {
		pr->quoted = 0;
		pr->val = s + i;
		while (i < n && mp_vchar(s[i]))
			i++;
		pr->vlen = (size_t)(s + i - pr->val);
	}
	*ip = i;
	return 1;
}

/*
 * Decode the n bytes inside a quoted-string at src into dst (dstsz bytes,
 * NUL-terminated); dst may be src, as decoding only shrinks.  Returns the
 * decoded length, or MP_NONE if it does not fit.
 */
static size_t
mp_unquote(const char *src, size_t n, char *dst, size_t dstsz)
{
	size_t	 i, o = 0;

	for (i = 0; i < n; i++) {
		if (src[i] == '\\' && i + 1 < n &&
		    (src[i + 1] == '"' || src[i + 1] == '\\'))
			i++;
		if (o + 1 >= dstsz)
			return MP_NONE;
		dst[o++] = src[i];
	}
	if (dstsz == 0)
		return MP_NONE;
	dst[o] = '\0';
	return o;
}

/*
 * Find the boundary parameter of a Content-Type (RFC 2046 5.1.1, quoted
 * or not) and copy it into out (outsz bytes, at least MP_BOUNDARY_MAX + 1).
 * The media type itself is the caller's to check.
 * Returns 0, or -1 with r filled: 400 when the parameter is missing, given
 * twice, malformed, empty, longer than 70 bytes or outside the allowed
 * characters.
 */
int
mp_boundary(const char *ct, char *out, size_t outsz, struct refusal *r)
{
	struct mp_param	 pr;
	const char	*semi;
	size_t		 i, n, len = 0;
	int		 rc, found = 0;

	if (outsz < MP_BOUNDARY_MAX + 1) {
		refuse(r, 500, "internal", NULL,
		    "no room for a multipart boundary");
		return -1;
	}
	out[0] = '\0';
	if (ct == NULL || (semi = strchr(ct, ';')) == NULL) {
		refuse(r, 400, "invalid_body", NULL, "the Content-Type "
		    "multipart/form-data has no boundary parameter");
		return -1;
	}
	n = strlen(ct);
	i = (size_t)(semi - ct);
	while ((rc = mp_param_next(ct, n, &i, &pr)) == 1) {
		if (!mp_ieq(pr.name, pr.nlen, "boundary"))
			continue;
		if (found++) {
			out[0] = '\0';
			refuse(r, 400, "invalid_body", NULL, "the "
			    "Content-Type has two boundary parameters");
			return -1;
		}
		if (pr.quoted)
			len = mp_unquote(pr.val, pr.vlen, out, outsz);
		else if ((len = pr.vlen) < outsz) {
			memcpy(out, pr.val, len);
			out[len] = '\0';
		} else
			len = MP_NONE;
		if (len == MP_NONE || !mp_boundary_valid(out, len)) {
			out[0] = '\0';
			refuse(r, 400, "invalid_body", NULL, "the multipart "
			    "boundary must be 1 to %d letters, digits or "
			    "'()+_,-./:=? and not end in a space (RFC 2046 "
			    "5.1.1)", MP_BOUNDARY_MAX);
			return -1;
		}
	}
	if (rc == -1) {
		out[0] = '\0';
		refuse(r, 400, "invalid_body", NULL, "the Content-Type's "
		    "parameters are malformed");
		return -1;
	}
	if (!found) {
		refuse(r, 400, "invalid_body", NULL, "the Content-Type "
		    "multipart/form-data has no boundary parameter");
		return -1;
	}
	return 0;
}

/*
 * Make p ready for a body whose Content-Type gave boundary (as from
 * mp_boundary()), calling back cb with arg.
 * Returns 0, or -1 with errno set to EINVAL if the boundary is not valid.
 */
int
mp_init(struct mp_parser *p, const char *boundary,
    const struct mp_callbacks *cb, void *arg)
{
	size_t	 n;

	memset(p, 0, sizeof(*p));
	p->state = MP_S_FAILED;
	n = strlen(boundary);
	if (!mp_boundary_valid(boundary, n) ||
	    n + 4 >= sizeof(p->delim)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(p->delim, "\r\n--", 4);
	memcpy(p->delim + 4, boundary, n);
	p->dlen = n + 4;
	p->cb = cb;
	p->arg = arg;
	p->name = p->filename = p->ctype = MP_NONE;
	/*
	 * The first delimiter may begin the body, with no CRLF before it
	 * (RFC 2046 5.1.1: the preamble and its CRLF are optional), so the
	 * parser starts as if a CRLF had been seen.
	 */
	p->match = 2;
	p->state = MP_S_PREAMBLE;
	return 0;
}

/* Hand n bytes of data to the current part; the preamble's are dropped. */
static int
mp_emit(struct mp_parser *p, const char *s, size_t n)
{
	if (p->state != MP_S_BODY || n == 0)
		return 0;
	return p->cb->part_data(p->arg, s, n);
}

/* Call part_end for the part a complete delimiter line closed. */
static int
mp_part_end(struct mp_parser *p)
{
	if (!p->inpart)
		return 0;
	p->inpart = 0;
	return p->cb->part_end(p->arg);
}

/*
 * Scan buf[*ip..len) of the preamble or of a part's data for the
 * delimiter, handing what precedes it on.  Returns 0 with *ip past the
 * bytes used (all of them, or up to the delimiter, the state then
 * MP_S_DELIM), or -1 when a callback refused.
 */
static int
mp_scan(struct mp_parser *p, const char *buf, size_t len, size_t *ip)
{
	const char	*q;
	size_t		 i = *ip, run = *ip, mstart = *ip, end;
	int		 carried = p->match > 0;	/* from earlier feeds */

	/* buf[run..i) is data not handed on yet, but for a match in it. */
	while (i < len) {
		if (p->match == 0) {
			if ((q = memchr(buf + i, '\r', len - i)) == NULL) {
				i = len;
				break;
			}
			mstart = (size_t)(q - buf);
			i = mstart + 1;
			p->match = 1;
			carried = 0;
			continue;
		}
		if (buf[i] == p->delim[p->match]) {
			i++;
			if (++p->match < p->dlen)
				continue;
			p->match = 0;
			end = carried ? run : mstart;
			if (mp_emit(p, buf + run, end - run) == -1)
				return -1;
			p->name = MP_NONE;	/* refusals no longer name it */
			p->state = MP_S_DELIM;
			*ip = i;
			return 0;
		}
		/* Not the delimiter: what was held back is data after all. */
		if (carried) {
			if (mp_emit(p, p->delim, p->match) == -1)
				return -1;
			run = i;
			carried = 0;
		}
		p->match = 0;
	}
	if (p->match > 0)
		end = carried ? run : mstart;
	else
		end = i;
	if (mp_emit(p, buf + run, end - run) == -1)
		return -1;
	*ip = len;
	return 0;
}

/* A byte after the delimiter that makes it no delimiter.  Returns -1. */
static int
mp_not_delim(const struct mp_parser *p, char c, struct refusal *r)
{
	if (c == '\n')
		return mp_refuse(p, r, "a multipart line ends in a bare LF: "
		    "lines must end in CRLF");
	return mp_refuse(p, r, "a line begins with the multipart boundary "
	    "but is not a delimiter: the boundary occurs in the data");
}

/* Forget the header of the last part, for the next one. */
static void
mp_part_reset(struct mp_parser *p)
{
	p->seen = 0;
	p->nlines = p->htotal = p->hlen = p->hline = 0;
	p->name = p->filename = p->ctype = MP_NONE;
}

/*
 * Decode the ext-value (RFC 8187 3.2.1) of filename* at p->hbuf + off
 * (n bytes) in place, leaving the result at off.  Returns its length, or
 * MP_NONE with r filled.
 */
static size_t
mp_ext_value(struct mp_parser *p, size_t off, size_t n, struct refusal *r)
{
	char		*s = p->hbuf + off;
	const char	*q1, *q2;
	size_t		 i, o = 0;
	int		 hi, lo;

	if ((q1 = memchr(s, '\'', n)) == NULL ||
	    (q2 = memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - s))) == NULL) {
		mp_refuse(p, r, "the filename* parameter is malformed "
		    "(RFC 8187)");
		return MP_NONE;
	}
	if (!mp_ieq(s, (size_t)(q1 - s), "utf-8")) {
		mp_refuse(p, r, "the filename* parameter is not in UTF-8");
		return MP_NONE;
	}
	for (i = (size_t)(q2 + 1 - s); i < n; i++) {
		if (s[i] != '%') {
			s[o++] = s[i];
			continue;
		}
		if (i + 2 >= n || (hi = hex_value((unsigned char)s[i + 1])) == -1 ||
		    (lo = hex_value((unsigned char)s[i + 2])) == -1) {
			mp_refuse(p, r, "the filename* parameter has a bad "
			    "%%-escape");
			return MP_NONE;
		}
		if ((s[o++] = (char)(hi << 4 | lo)) == '\0') {
			mp_refuse(p, r, "the file name holds a NUL byte");
			return MP_NONE;
		}
		i += 2;
	}
	return o;
}

/*
 * Parse a Content-Disposition value (RFC 7578 4.2), n bytes at
 * p->hbuf + off: "form-data", a name and maybe a filename, decoded in place
 * and NUL-terminated there (a decoded value ends at or before the byte that
 * ended it, which nothing reads again).  Returns 0, or -1 with r filled.
 */
static int
mp_disposition(struct mp_parser *p, size_t off, size_t n, struct refusal *r)
{
	struct mp_param	 pr;
	const char	*s = p->hbuf + off;
	size_t		 i = 0, voff, vlen, k;
	size_t		 name = MP_NONE, namelen = 0;
	size_t		 fn = MP_NONE, fnlen = 0, fx = MP_NONE, fxlen = 0;
	unsigned long	 cp;
	int		 rc;

	while (i < n && is_tchar((unsigned char)s[i]))
		i++;
	if (!mp_ieq(s, i, "form-data"))
		return mp_refuse(p, r, "a part's Content-Disposition is not "
		    "form-data");
	while ((rc = mp_param_next(s, n, &i, &pr)) == 1) {
		voff = (size_t)(pr.val - p->hbuf);
		vlen = pr.vlen;
		if (pr.quoted)
			vlen = mp_unquote(pr.val, pr.vlen, p->hbuf + voff,
			    pr.vlen + 1);
		if (mp_ieq(pr.name, pr.nlen, "name")) {
			if (name != MP_NONE)
				return mp_refuse(p, r, "a part is given two "
				    "names");
			name = voff;
			namelen = vlen;
		} else if (mp_ieq(pr.name, pr.nlen, "filename")) {
			if (fn != MP_NONE)
				return mp_refuse(p, r, "a part is given two "
				    "file names");
			fn = voff;
			fnlen = vlen;
		} else if (mp_ieq(pr.name, pr.nlen, "filename*")) {
			if (fx != MP_NONE)
				return mp_refuse(p, r, "a part is given two "
				    "file names");
			fx = voff;
			fxlen = vlen;
		}
	}
	if (rc == -1)
		return mp_refuse(p, r, "a part's Content-Disposition is "
		    "malformed");

	if (name == MP_NONE || namelen == 0)
		return mp_refuse(p, r, "a part has no name (Content-"
		    "Disposition: form-data; name=\"...\")");
	if (namelen > SPOOLCGI_NAME_MAX)
		return mp_refuse(p, r, "a part's name is longer than %d bytes",
		    SPOOLCGI_NAME_MAX);
	for (i = 0; i < namelen; i += k) {
		k = utf8_seq(p->hbuf + name + i, namelen - i, &cp);
		if (k == 0 || cp < 0x20 || cp == 0x7f)
			return mp_refuse(p, r, "a part's name is not "
			    "printable UTF-8");
	}
	p->hbuf[name + namelen] = '\0';
	p->name = name;
	if (fx != MP_NONE) {
		if ((fxlen = mp_ext_value(p, fx, fxlen, r)) == MP_NONE)
			return -1;
		fn = fx;
		fnlen = fxlen;
	}
	if (fn != MP_NONE) {
		p->hbuf[fn + fnlen] = '\0';
		p->filename = fn;
	}
	return 0;
}

/*
 * Take the complete header line of n bytes at p->hbuf + off (its CRLF
 * gone, NUL-terminated).  Returns 0, or -1 with r filled.
 */
static int
mp_header_line(struct mp_parser *p, size_t off, size_t n, struct refusal *r)
{
	const char	*s = p->hbuf + off;
	size_t		 i, nlen, v, vend;

	if (s[0] == ' ' || s[0] == '\t')
		return mp_refuse(p, r, "a part's header is folded over "
		    "lines");
	for (nlen = 0; nlen < n && is_tchar((unsigned char)s[nlen]); nlen++)
		continue;
	if (nlen == 0 || nlen == n || s[nlen] != ':')
		return mp_refuse(p, r, "a part's header line is malformed");
	v = mp_ows(s, n, nlen + 1);
	for (vend = n; vend > v && (s[vend - 1] == ' ' ||
	    s[vend - 1] == '\t'); vend--)
		continue;

	if (mp_ieq(s, nlen, "content-disposition")) {
		if (p->seen & MP_SEEN_DISP)
			return mp_refuse(p, r, "a part has two "
			    "Content-Disposition headers");
		p->seen |= MP_SEEN_DISP;
		return mp_disposition(p, off + v, vend - v, r);
	}
	if (mp_ieq(s, nlen, "content-type")) {
		if (p->seen & MP_SEEN_CTYPE)
			return mp_refuse(p, r, "a part has two Content-Type "
			    "headers");
		p->seen |= MP_SEEN_CTYPE;
		if (vend == v || vend - v > MP_CTYPE_MAX)
			return mp_refuse(p, r, "a part's Content-Type is "
			    "empty or longer than %d bytes", MP_CTYPE_MAX);
		for (i = v; i < vend; i++)
			if (((unsigned char)s[i] < 0x20 && s[i] != '\t') ||
			    s[i] == 0x7f)
				return mp_refuse(p, r, "a part's "
				    "Content-Type holds a control character");
		p->hbuf[off + vend] = '\0';
		p->ctype = off + v;
		return 0;
	}
	if (mp_ieq(s, nlen, "content-transfer-encoding")) {
		if (p->seen & MP_SEEN_CTE)
			return mp_refuse(p, r, "a part has two "
			    "Content-Transfer-Encoding headers");
		p->seen |= MP_SEEN_CTE;
		if (!mp_ieq(s + v, vend - v, "binary") &&
		    !mp_ieq(s + v, vend - v, "8bit") &&
		    !mp_ieq(s + v, vend - v, "7bit"))
			return mp_refuse(p, r, "a part's Content-Transfer-"
			    "Encoding is not supported (RFC 7578 4.7)");
	}
	return 0;
}

/* The header of a part is complete: announce it.  Returns 0 or -1. */
static int
mp_part_begin(struct mp_parser *p, struct refusal *r)
{
	if (!(p->seen & MP_SEEN_DISP))
		return mp_refuse(p, r, "a part has no Content-Disposition "
		    "header");
	p->inpart = 1;
	p->state = MP_S_BODY;
	p->match = 0;
	return p->cb->part_begin(p->arg, p->hbuf + p->name,
	    p->filename == MP_NONE ? NULL : p->hbuf + p->filename,
	    p->ctype == MP_NONE ? MP_DEFAULT_CTYPE : p->hbuf + p->ctype);
}

/*
 * One byte of a delimiter line's rest or of a part's header.
 * Returns 0, or -1 with r filled (or left to the callback that refused).
 */
static int
mp_byte(struct mp_parser *p, char c, struct refusal *r)
{
	size_t	 off;

	switch (p->state) {
	case MP_S_DELIM:
		if (c == '-')
			p->state = MP_S_DASH;
		else if (c == ' ' || c == '\t')
			p->state = MP_S_PAD;
		else if (c == '\r')
			p->state = MP_S_DELIM_LF;
		else
			return mp_not_delim(p, c, r);
		return 0;
	case MP_S_DASH:
		if (c != '-')
			return mp_not_delim(p, c, r);
		if (p->parts == 0)
			return mp_refuse(p, r, "the multipart body holds no "
			    "part");
		p->state = MP_S_EPILOGUE;
		return mp_part_end(p);
	case MP_S_PAD:
		if (c == '\r')
			p->state = MP_S_DELIM_LF;
		else if (c != ' ' && c != '\t')
			return mp_not_delim(p, c, r);
		return 0;
	case MP_S_DELIM_LF:
		if (c != '\n')
			return mp_refuse(p, r, "a multipart delimiter line has "
			    "a CR without LF");
		if (++p->parts > MP_PARTS_MAX)
			return mp_refuse(p, r, "the body has more than %d "
			    "parts", MP_PARTS_MAX);
		mp_part_reset(p);
		p->state = MP_S_HEADER;
		return mp_part_end(p);
	case MP_S_HEADER:
	case MP_S_HEADER_LF:
		break;
	default:
		return mp_refuse(p, r, "the multipart parser lost its state");
	}

	if (++p->htotal > MP_HEADER_MAX)
		return mp_refuse(p, r, "a part's header is longer than %d "
		    "bytes", MP_HEADER_MAX);
	if (p->state == MP_S_HEADER_LF) {
		if (c != '\n')
			return mp_refuse(p, r, "a part's header has a CR "
			    "without LF");
		if (p->hlen == p->hline)
			return mp_part_begin(p, r);
		if (++p->nlines > MP_HEADERS_MAX)
			return mp_refuse(p, r, "a part has more than %d "
			    "header lines", MP_HEADERS_MAX);
		if (p->hlen >= sizeof(p->hbuf))
			return mp_refuse(p, r, "a part's header is too long");
		p->hbuf[p->hlen++] = '\0';
		off = p->hline;
		p->hline = p->hlen;
		p->state = MP_S_HEADER;
		return mp_header_line(p, off, p->hlen - 1 - off, r);
	}
	if (c == '\r') {
		p->state = MP_S_HEADER_LF;
		return 0;
	}
	if (c == '\n')
		return mp_refuse(p, r, "a part's header line ends in a bare "
		    "LF: lines must end in CRLF");
	if (c == '\0')
		return mp_refuse(p, r, "a part's header holds a NUL byte");
	/* One byte stays free for the line's NUL (htotal counts the CR). */
	if (p->hlen + 1 >= sizeof(p->hbuf))
		return mp_refuse(p, r, "a part's header is too long");
	p->hbuf[p->hlen++] = c;
	return 0;
}

/*
 * Parse the next len bytes of the body (any split of it will do).
 * Returns 0, or -1 when the body is refused (r filled: 400) or a callback
 * returned -1 (r left as the callback filled it through its arg).  After
 * -1 no callback is made again; the caller cleans up the part it had.
 */
int
mp_feed(struct mp_parser *p, const char *buf, size_t len, struct refusal *r)
{
	size_t	 i = 0;

	if (p->state == MP_S_FAILED) {
		refuse(r, 500, "internal", NULL,
		    "the multipart parser was used after it stopped");
		return -1;
	}
	if (len > 0)
		p->fed = 1;
	while (i < len) {
		switch (p->state) {
		case MP_S_PREAMBLE:
		case MP_S_BODY:
			if (mp_scan(p, buf, len, &i) == -1)
				goto fail;
			break;
		case MP_S_EPILOGUE:
			i = len;
			break;
		default:
			if (mp_byte(p, buf[i++], r) == -1)
				goto fail;
			break;
		}
	}
	return 0;
fail:
	p->state = MP_S_FAILED;
	return -1;
}

/*
 * The body has ended.  Returns 0 if it was complete (its closing
 * delimiter seen), or -1 with r filled.
 */
int
mp_finish(struct mp_parser *p, struct refusal *r)
{
	switch (p->state) {
	case MP_S_EPILOGUE:
		return 0;
	case MP_S_FAILED:
		refuse(r, 500, "internal",
		    NULL, "the multipart parser was used after it stopped");
		return -1;
	case MP_S_PREAMBLE:
		p->state = MP_S_FAILED;
		if (!p->fed)
			return mp_refuse(NULL, r, "the multipart body is "
			    "empty");
		return mp_refuse(NULL, r, "the body does not hold the "
		    "multipart boundary of its Content-Type (with lines "
		    "ending in CRLF)");
	default:
		p->state = MP_S_FAILED;
		return mp_refuse(NULL, r, "the upload was cut off: the body "
		    "ended before its closing multipart boundary");
	}
}

/* Is cp a character a file name shown to people should not carry? */
static int
mp_unshowable(unsigned long cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||	/* C0, C1 */
	    (cp >= 0x202a && cp <= 0x202e) ||	/* bidi embedding, override */
	    (cp >= 0x2066 && cp <= 0x2069);	/* bidi isolates */
}

/*
 * Make a file name the browser sent (NULL allowed) safe to show: the part
 * after the last '/' or '\\', without control characters, bidi overrides,
 * invalid UTF-8 or surrounding spaces, cut at a character boundary to fit
 * out (outsz bytes, NUL included); "upload" if nothing, "." or ".." is
 * left.  The result is for display and the task's input, never a path.
 * Returns 0, or -1 with errno set to EINVAL if outsz cannot hold "upload".
 */
int
mp_safe_filename(const char *name, char *out, size_t outsz)
{
	const char	*base, *s;
	size_t		 i, k, n, o = 0;
	unsigned long	 cp;

	if (outsz < sizeof(MP_DEFAULT_FILENAME)) {
		if (outsz > 0)
			out[0] = '\0';
		errno = EINVAL;
		return -1;
	}
	base = name != NULL ? name : "";
	for (s = base; *s != '\0'; s++)
		if (*s == '/' || *s == '\\')
			base = s + 1;
	n = strlen(base);
	for (i = 0; i < n; i += k) {
		if ((k = utf8_seq(base + i, n - i, &cp)) == 0) {
			k = 1;
			continue;
		}
		if (mp_unshowable(cp) || (o == 0 && cp == ' '))
			continue;
		if (k >= outsz - o)
			break;
		memcpy(out + o, base + i, k);
		o += k;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	if (o == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		memcpy(out, MP_DEFAULT_FILENAME, sizeof(MP_DEFAULT_FILENAME));
	return 0;
}
