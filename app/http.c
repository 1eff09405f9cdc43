/*
 * HTTP through FastCGI or plain CGI: the request's variables, its body,
 * content negotiation and the answer.  Under FastCGI the streams are
 * libfcgi's; under CGI (fd 0 not a socket) they are stdin and stdout, and
 * the variables are the environment (RFC 3875).  Either way an answer is
 * written with one Status line and a Content-Length.
 */
#include "config.h"

#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "extern.h"

/*
 * Copy SCRIPT_NAME into r->base, percent-encoding anything outside the
 * characters RFC 3986 allows in a path, so that it can go into Location
 * headers and HTML attributes (which escape it again) unchanged.
 */
static void
http_set_base(struct req *r, const char *sn)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 o = 0;
	unsigned char		 c;

	for (; sn != NULL && *sn != '\0'; sn++) {
		c = (unsigned char)*sn;
		if (isalnum(c) || strchr("-._~/!$&'()*+,;=:@%", c) != NULL) {
			if (o + 1 >= sizeof(r->base))
				break;
			r->base[o++] = (char)c;
		} else {
			if (o + 3 >= sizeof(r->base))
				break;
			r->base[o++] = '%';
			r->base[o++] = hex[c >> 4];
			r->base[o++] = hex[c & 15];
		}
	}
	/* "/" alone as a base would give "//jobs/...": a network path. */
	while (o > 0 && r->base[o - 1] == '/')
		o--;
	r->base[o] = '\0';
}

/*
 * Start a request of server srv: in/out are libfcgi's streams, or NULL
 * under CGI, where the body is read from r->cgi_in and the answer
 * written to r->cgi_out (stdin and stdout unless the caller sets others
 * after this call).
 */
void
http_begin(struct req *r, struct server *srv, FCGX_Stream *in,
    FCGX_Stream *out, char **envp)
{
	memset(r, 0, sizeof(*r));
	r->srv = srv;
	r->cgi_in = stdin;
	r->cgi_out = stdout;
	r->in = in;
	r->out = out;
	r->envp = envp;
	r->method = route_method(http_param(r, "REQUEST_METHOD"));
	r->path_info = http_param(r, "PATH_INFO");
	r->query = http_param(r, "QUERY_STRING");
	http_set_base(r, http_param(r, "SCRIPT_NAME"));
	r->json = http_wants_json(http_param(r, "HTTP_ACCEPT"), r->query,
	    r->method == METHOD_POST ? http_param(r, "CONTENT_TYPE") : NULL);
}

void
http_end(struct req *r)
{
	buf_free(&r->head);
	if (r->in == NULL)
		fflush(r->cgi_out);
}

/* A request variable, or NULL. */
const char *
http_param(const struct req *r, const char *name)
{
	size_t	 n = strlen(name);
	char	**p;

	/* The first byte rules out most variables before a strncmp. */
	for (p = r->envp; p != NULL && *p != NULL; p++)
		if ((*p)[0] == name[0] && strncmp(*p, name, n) == 0 &&
		    (*p)[n] == '=')
			return *p + n + 1;
	return NULL;
}

/* Read up to n body bytes.  Returns the count, 0 at the end, -1 on error. */
ssize_t
http_read(struct req *r, char *buf, size_t n)
{
	size_t	 got;

	if (n > INT_MAX)
		n = INT_MAX;
	if (r->in != NULL)
		return FCGX_GetStr(buf, (int)n, r->in);
	got = fread(buf, 1, n, r->cgi_in);
	if (got == 0 && ferror(r->cgi_in))
		return -1;
	return (ssize_t)got;
}

/* Write body bytes.  Returns 0, or -1 when the client went away. */
int
http_write(struct req *r, const void *p, size_t len)
{
	if (len == 0)
		return 0;
	if (r->out != NULL)
		return FCGX_PutStr(p, (int)len, r->out) == (int)len ? 0 : -1;
	return fwrite(p, 1, len, r->cgi_out) == len ? 0 : -1;
}

/* v in decimal at the end of buf (size sz, at least 12): its start. */
static const char *
http_utoa(char *buf, size_t sz, unsigned v)
{
	char	*p = buf + sz - 1;

	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return p;
}

/*
 * Add a header line for the answer.  Values never carry client input
 * unescaped; CR and LF are refused all the same, so no header can be
 * split.  Returns 0, or -1.
 */
int
http_header(struct req *r, const char *name, const char *fmt, ...)
{
	va_list		 ap;
	char		 val[1024], num[24];
	const char	*v = val;
	int		 n;

	/* Plain text, "%s" and "%d" without printf: the poll path. */
	va_start(ap, fmt);
	if (strchr(fmt, '%') == NULL)
		v = fmt;
	else if (strcmp(fmt, "%s") == 0)
		v = va_arg(ap, const char *);
	else if (strcmp(fmt, "%d") == 0) {
		/* Header numbers (Retry-After, wait=) are never negative. */
		n = va_arg(ap, int);
		v = http_utoa(num, sizeof(num), n < 0 ? 0U : (unsigned)n);
	} else if ((n = vsnprintf(val, sizeof(val), fmt, ap)) < 0 ||
	    (size_t)n >= sizeof(val))
		v = NULL;
	va_end(ap);
	if (v == NULL || strlen(v) >= sizeof(val) || strpbrk(v, "\r\n")) {
		log_warnx("http: header %s refused: too long or CR/LF", name);
		return -1;
	}
	if (buf_puts(&r->head, name) == -1 || buf_puts(&r->head, ": ") ==
	    -1 || buf_puts(&r->head, v) == -1)
		return -1;
	return buf_puts(&r->head, "\r\n");
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/*
 * Send the status line and headers of an answer whose body will be len
 * bytes (-1: none, as for 204 and 304).  Returns 0, or -1.
 */
int
http_send_head(struct req *r, int status, const char *ctype, long long len)
{
	struct buf	 h = { 0 };
	int		 rc;

	if (r->sent)
		return -1;
	r->sent = 1;
	/* Built here: libfcgi's FCGX_FPrintF knows no %lld or %zu. */
	buf_puts(&h, "Status: ");
	buf_putint(&h, status);
	buf_puts(&h, " ");
	buf_puts(&h, http_reason(status));
	buf_puts(&h, "\r\n");
	if (ctype != NULL) {
		buf_puts(&h, "Content-Type: ");
		buf_puts(&h, ctype);
		buf_puts(&h, "\r\n");
	}
	if (len >= 0) {
		buf_puts(&h, "Content-Length: ");
		buf_putint(&h, len);
		buf_puts(&h, "\r\n");
	}
	/* Every answer: a body is what its Content-Type says it is. */
	buf_puts(&h, "X-Content-Type-Options: nosniff\r\n");
	if (r->head.len > 0)
		buf_append(&h, r->head.data, r->head.len);
	if (buf_puts(&h, "\r\n") == -1) {
		buf_free(&h);
		return -1;
	}
	rc = http_write(r, h.data, h.len);
	buf_free(&h);
	return rc;
}

/* Send a whole answer; a HEAD request gets the headers only. */
int
http_send(struct req *r, int status, const char *ctype, const char *body,
    size_t len)
{
	if (http_send_head(r, status, ctype, (long long)len) == -1)
		return -1;
	if (r->method == METHOD_HEAD)
		return 0;
	return http_write(r, body, len);
}

/*
 * The media type of a Content-Type value, lower-cased and without
 * parameters, in out.  Returns out, or NULL when there is none.
 */
const char *
http_media_type(const char *ct, char *out, size_t sz)
{
	size_t	 i = 0;

	if (ct == NULL || sz == 0)
		return NULL;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	for (; *ct != '\0' && *ct != ';' && *ct != ' ' && *ct != '\t'; ct++) {
		if (i + 1 >= sz)
			return NULL;
		out[i++] = (char)tolower((unsigned char)*ct);
	}
	out[i] = '\0';
	return i > 0 ? out : NULL;
}

/*
 * The q value (RFC 9110 12.4.2) the Accept header gives type (e.g.
 * "application/json"), taking the most specific matching range.
 */
static double
http_accept_q(const char *accept, const char *type)
{
	const char	*p = accept, *end, *semi, *slash;
	double		 q, best = 0.0;
	int		 spec, bestspec = -1;
	size_t		 n;
	char		 range[128];

	slash = strchr(type, '/');
	while (p != NULL && *p != '\0') {
		end = strchr(p, ',');
		n = end ? (size_t)(end - p) : strlen(p);
		if (n < sizeof(range)) {
			memcpy(range, p, n);
			range[n] = '\0';
			q = 1.0;
			if ((semi = strchr(range, ';')) != NULL) {
				const char *qp = strstr(semi, "q=");

				if (qp != NULL)
					q = strtod(qp + 2, NULL);
				range[semi - range] = '\0';
			}
			{
				char *s = range, *e;

				while (*s == ' ' || *s == '\t')
					s++;
				e = s + strlen(s);
				while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
					*--e = '\0';
				spec = -1;
				if (strcasecmp(s, type) == 0)
					spec = 2;
				else if (strncasecmp(s, type,
				    (size_t)(slash - type) + 1) == 0 &&
				    strcmp(s + (slash - type) + 1, "*") == 0)
					spec = 1;
				else if (strcmp(s, "*/*") == 0)
					spec = 0;
				if (spec > bestspec) {
					bestspec = spec;
					best = q;
				}
			}
		}
		p = end ? end + 1 : NULL;
	}
	return best;
}

/*
 * Does the client want JSON?  Yes when the query has format=json, or the
 * Accept header prefers application/json over text/html (RFC 9110
 * 12.5.1; README "How a request flows").  A JSON body with no preference in Accept is a script, not a
 * browser: it gets JSON too.
 */
int
http_wants_json(const char *accept, const char *query, const char *ctype)
{
	char	 fmt[16], mt[64];
	double	 qj, qh;

	if (query != NULL && route_query_param(query, "format", fmt,
	    sizeof(fmt)) == 0)
		return strcmp(fmt, "json") == 0;
	if (accept == NULL || *accept == '\0' || strcmp(accept, "*/*") == 0)
		return http_media_type(ctype, mt, sizeof(mt)) != NULL &&
		    strcmp(mt, "application/json") == 0;
	qj = http_accept_q(accept, "application/json");
	qh = http_accept_q(accept, "text/html");
	return qj > qh;
}
