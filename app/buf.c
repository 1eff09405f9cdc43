/*
 * A growable byte buffer: what templates, JSON answers and request bodies
 * are built in.  The data is always NUL-terminated once anything was added,
 * so it can be handed to functions that want a C string.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

/* Make room for n more bytes and the NUL.  Returns 0, or -1 with errno set. */
static int
buf_grow(struct buf *b, size_t n)
{
	size_t	 cap;
	char	*p;

	if (n > SIZE_MAX - b->len - 1) {
		errno = ENOMEM;
		return -1;
	}
	if (b->len + n + 1 <= b->cap)
		return 0;
	/* Most answers fit the first allocation. */
	cap = b->cap ? b->cap : 1024;
	while (cap < b->len + n + 1) {
		if (cap > SIZE_MAX / 2) {
			cap = b->len + n + 1;
			break;
		}
		cap *= 2;
	}
	if (b->data != NULL && b->data == b->space) {
		if ((p = malloc(cap)) == NULL)
			return -1;
		memcpy(p, b->data, b->len + 1);
	} else if ((p = realloc(b->data, cap)) == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

/*
 * buf_append when the bytes do not fit: grow, then append.  Returns 0, or
 * -1 with errno set.
 */
int
buf_append_grow(struct buf *b, const void *p, size_t len)
{
	if (buf_grow(b, len) == -1)
		return -1;
	if (len > 0)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

/* Is c a tchar, a byte of an HTTP token (RFC 9110 5.6.2)? */
int
is_tchar(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The value of hex digit c (either case), or -1 if it is none. */
int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Append n in decimal, without printf: answers on the poll path carry a
 * few numbers each.  Returns 0, or -1 with errno set.
 */
int
buf_putint(struct buf *b, long long n)
{
	char			 tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long	 u = n < 0 ? 0ULL - (unsigned long long)n :
				    (unsigned long long)n;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (n < 0)
		*--p = '-';
	return buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Append formatted text.  Returns 0, or -1 with errno set. */
int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if (buf_grow(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/*
 * Append text escaped for HTML element content and quoted attribute values
 * alike: the five characters that can end either are replaced.
 * Returns 0, or -1 with errno set.
 */
int
buf_html_escape(struct buf *b, const char *s, size_t len)
{
	size_t		 i, run;
	const char	*ent;

	for (i = run = 0; i < len; i++) {
		switch (s[i]) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		default: continue;
		}
		if (buf_append(b, s + run, i - run) == -1 ||
		    buf_puts(b, ent) == -1)
			return -1;
		run = i + 1;
	}
	return buf_append(b, s + run, len - run);
}

/*
 * Append the len bytes at s to b as valid UTF-8: each byte that starts no
 * valid sequence (RFC 3629 4), and each NUL, becomes U+FFFD, as the
 * WHATWG decoder does, so a log cut in mid-character still reads.
 * Returns 0, or -1 with errno set.
 */
int
buf_utf8_clean(struct buf *b, const char *s, size_t len)
{
	unsigned long	 cp;
	size_t		 i, run, k;

	for (i = run = 0; i < len; i += k) {
		if ((k = utf8_seq(s + i, len - i, &cp)) > 0 && cp != 0)
			continue;
		if (buf_append(b, s + run, i - run) == -1 ||
		    buf_puts(b, "\xef\xbf\xbd") == -1)
			return -1;
		k = 1;
		run = i + 1;
	}
	return buf_append(b, s + run, len - run);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	if (b->data != b->space)
		free(b->data);
	b->data = b->space = NULL;
	b->len = b->cap = 0;
}

/* Fill a refusal: status, error code, the field at fault ("" or NULL). */
void
refuse(struct refusal *r, int status, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list	 ap;

	r->status = status;
	snprintf(r->code, sizeof(r->code), "%s", code);
	snprintf(r->field, sizeof(r->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

/*
 * The length of the valid UTF-8 sequence (RFC 3629 4: no overlong form,
 * no surrogate, nothing above U+10FFFF) at the start of s (n > 0 bytes),
 * with its code point in *cp; 0 if it is not one.
 */
size_t
utf8_seq(const char *s, size_t n, unsigned long *cp)
{
	const unsigned char	*u = (const unsigned char *)s;
	unsigned char		 lo = 0x80, hi = 0xbf;
	size_t			 len, k;

	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		len = 2;
		*cp = u[0] & 0x1f;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		len = 3;
		*cp = u[0] & 0x0f;
		if (u[0] == 0xe0)
			lo = 0xa0;
		else if (u[0] == 0xed)
			hi = 0x9f;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		len = 4;
		*cp = u[0] & 0x07;
		if (u[0] == 0xf0)
			lo = 0x90;
		else if (u[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len > n || u[1] < lo || u[1] > hi)
		return 0;
	for (k = 1; k < len; k++) {
		if (u[k] < 0x80 || u[k] > 0xbf)
			return 0;
		*cp = (*cp << 6) | (u[k] & 0x3f);
	}
	return len;
}

/* Is s (len bytes) strict UTF-8 throughout?  Returns 1 if so, else 0. */
int
utf8_valid(const char *s, size_t len)
{
	unsigned long	 cp;
	size_t		 i, n;

	for (i = 0; i < len; i += n)
		if ((n = utf8_seq(s + i, len - i, &cp)) == 0)
			return 0;
	return 1;
}

/*
 * Call fn for each member name in JSON text (well-formed: the caller
 * parsed it), with the quoted name as written, its length and its
 * object's depth (1: the top level).  json-c keeps only the last of two
 * equal names in an object, silently; the text is the only witness.
 */
void
json_names(const char *buf, size_t len,
    void (*fn)(void *, const char *, size_t, int), void *arg)
{
	size_t	 i, j, start = 0;
	int	 depth = 0, instr = 0, esc = 0;

	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (instr) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"') {
				instr = 0;
				/* A name is a string followed by ':'. */
				for (j = i + 1; j < len && (buf[j] == ' ' ||
				    buf[j] == '\t' || buf[j] == '\r' ||
				    buf[j] == '\n'); j++)
					;
				if (j < len && buf[j] == ':')
					fn(arg, buf + start, i + 1 - start,
					    depth);
			}
			continue;
		}
		if (c == '"') {
			instr = 1;
			start = i;
		} else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			depth--;
	}
}

/*
 * May byte c stand as itself in a URL's path (RFC 3986 3.3: pchar, '/',
 * and '%' of an escape)?  Returns 1 or 0.
 */
int
url_path_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("-._~/!$&'()*+,;=:@%", c) != NULL);
}

/*
 * Is s (len bytes) a host[:port] (RFC 3986 3.2.2, 3.2.3) and nothing
 * else: a name or IPv4 address, or an IPv6 literal in brackets, and an
 * optional port?  Such a value is safe in a URL and in a header.
 * Returns 1 or 0.
 */
int
host_valid(const char *s, size_t len)
{
	size_t	 i = 0, digits;

	if (len == 0 || len > 255)
		return 0;
	if (s[0] == '[') {
		/* An IPv6 literal (RFC 3986 3.2.2), without zone. */
		for (i = 1; i < len && s[i] != ']'; i++)
			if (!isxdigit((unsigned char)s[i]) && s[i] != ':' &&
			    s[i] != '.')
				return 0;
		if (i >= len || i == 1)
			return 0;
		i++;
	} else {
		for (; i < len && s[i] != ':'; i++)
			if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
			    s[i] != '-' && s[i] != '_')
				return 0;
		if (i == 0)
			return 0;
	}
	if (i == len)
		return 1;
	if (s[i++] != ':')
		return 0;
	for (digits = 0; i < len; i++, digits++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return digits >= 1 && digits <= 5;
}
