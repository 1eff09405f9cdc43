/*
 * HTTP through FastCGI or plain CGI: the request's variables, its body,
 * content negotiation and the answer.  Under FastCGI the streams are
 * libfcgi's; under CGI (fd 0 not a socket) they are stdin and stdout, and
 * the variables are the environment (RFC 3875).  Either way an answer is
 * written with one Status line and a Content-Length.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

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
		if (url_path_char(c)) {
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
	const char	*ct;

	memset(r, 0, sizeof(*r));
	buf_on(&r->head, r->head_space, sizeof(r->head_space));
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
	ct = r->method == METHOD_POST ? http_param(r, "CONTENT_TYPE") : NULL;
	r->json = http_wants_json(http_param(r, "HTTP_ACCEPT"), r->query,
	    r->method == METHOD_POST ? (ct != NULL ? ct : "") : NULL);
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
		got = (size_t)FCGX_GetStr(buf, (int)n, r->in);
	else if ((got = fread(buf, 1, n, r->cgi_in)) == 0 &&
	    ferror(r->cgi_in))
		return -1;
	r->nread += got;
	return (ssize_t)got;
}

/*
 * The body's length from CONTENT_LENGTH into *lenp, 0 if none is given.
 * Returns 0, or -1 when it is not a number.
 */
int
http_content_length(const struct req *r, unsigned long long *lenp)
{
	const char	*cl = http_param(r, "CONTENT_LENGTH");
	char		*end;

	*lenp = 0;
	if (cl == NULL || *cl == '\0')
		return 0;
	errno = 0;
	*lenp = strtoull(cl, &end, 10);
	if (*end != '\0' || errno != 0 || *cl == '-' || *cl == '+')
		return -1;
	return 0;
}

/*
 * Whether a FastCGI request's input has been read to its end.  Once the
 * body's CONTENT_LENGTH bytes are read, only the end of the stdin stream
 * can follow (the server sends it at once), and it is read here.  A body
 * left unread, as by a refusal that answered before reading it, answers
 * 0, and so does plain CGI.
 */
int
http_input_done(struct req *r)
{
	unsigned long long	 len;

	if (r->in == NULL || http_content_length(r, &len) == -1 ||
	    r->nread < len)
		return 0;
	return FCGX_GetChar(r->in) == EOF;
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
	/* A format without a conversion is this program's own text. */
	if (v == NULL || (v != fmt && (strlen(v) >= sizeof(val) ||
	    strpbrk(v, "\r\n") != NULL))) {
		log_warnx("http: header %s refused: too long or CR/LF", name);
		return -1;
	}
	if (buf_puts(&r->head, name) == -1 || buf_lit(&r->head, ": ") ==
	    -1 || buf_puts(&r->head, v) == -1)
		return -1;
	return buf_lit(&r->head, "\r\n");
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
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
	struct buf	 h;
	char		 space[1024];
	int		 rc;

	if (r->sent)
		return -1;
	r->sent = 1;
	buf_on(&h, space, sizeof(space));
	/* Built here: libfcgi's FCGX_FPrintF knows no %lld or %zu. */
	buf_lit(&h, "Status: ");
	buf_putint(&h, status);
	buf_lit(&h, " ");
	buf_puts(&h, http_reason(status));
	buf_lit(&h, "\r\n");
	if (ctype != NULL) {
		buf_lit(&h, "Content-Type: ");
		buf_puts(&h, ctype);
		buf_lit(&h, "\r\n");
	}
	if (len >= 0) {
		buf_lit(&h, "Content-Length: ");
		buf_putint(&h, len);
		buf_lit(&h, "\r\n");
	}
	/* Every answer: a body is what its Content-Type says it is. */
	buf_lit(&h, "X-Content-Type-Options: nosniff\r\n");
	if (r->head.len > 0)
		buf_append(&h, r->head.data, r->head.len);
	if (buf_lit(&h, "\r\n") == -1) {
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
http_accept_q_spec(const char *accept, const char *type, int minspec)
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
				if (spec >= minspec && spec > bestspec) {
					bestspec = spec;
					best = q;
				}
			}
		}
		p = end ? end + 1 : NULL;
	}
	return best;
}

/* The q Accept gives type through any range, the wildcard included. */
static double
http_accept_q(const char *accept, const char *type)
{
	return http_accept_q_spec(accept, type, 0);
}

/* The q Accept gives type by its own name: 0 when it does not name it. */
static double
http_accept_named_q(const char *accept, const char *type)
{
	return http_accept_q_spec(accept, type, 2);
}

/*
 * Does the client want JSON?  The query's format= decides when present
 * (format=json: JSON, any other value: HTML).  A request without a body
 * (ctype NULL: GET, HEAD, DELETE) gets HTML only when its Accept names
 * text/html or application/xhtml+xml with a non-zero q (RFC 9110 12.5.1)
 * and prefers it to application/json: every browser navigation names it,
 * while generic HTTP clients send the wildcard range or nothing, and a poller
 * that got the HTML page's 200 would take a running job for a finished
 * one.  A POST (ctype its Content-Type, "" when none) keeps the rule of
 * forms: with no preference in Accept, a JSON body gets JSON and a form
 * post is a browser's, which gets HTML.
 */
int
http_wants_json(const char *accept, const char *query, const char *ctype)
{
	char	 fmt[16], mt[64];
	double	 qj, qh, qx;

	if (query != NULL && route_query_param(query, "format", fmt,
	    sizeof(fmt)) == 0)
		return strcmp(fmt, "json") == 0;
	/* A script's usual header, and its answer, without a parse. */
	if (accept != NULL && strcmp(accept, "application/json") == 0)
		return 1;
	if (ctype == NULL) {
		if (accept == NULL)
			return 1;
		qh = http_accept_named_q(accept, "text/html");
		qx = http_accept_named_q(accept, "application/xhtml+xml");
		if (qx > qh)
			qh = qx;
		if (qh <= 0.0)
			return 1;
		return http_accept_q(accept, "application/json") > qh;
	}
	if (accept == NULL || *accept == '\0' || strcmp(accept, "*/*") == 0)
		return http_media_type(ctype, mt, sizeof(mt)) != NULL &&
		    strcmp(mt, "application/json") == 0;
	qj = http_accept_q(accept, "application/json");
	qh = http_accept_q(accept, "text/html");
	return qj > qh;
}

/*
 * Parse an IP address and write it back normalised into out (so that
 * it is safe as a file name).  Returns AF_INET or AF_INET6 with bin
 * filled, or 0 when s is no address.
 */
int
http_addr_parse(const char *s, unsigned char *bin, char *out, size_t sz)
{
	int	 fam;

	if (s == NULL)
		return 0;
	fam = inet_pton(AF_INET, s, bin) == 1 ? AF_INET :
	    inet_pton(AF_INET6, s, bin) == 1 ? AF_INET6 : 0;
	if (fam == 0 || inet_ntop(fam, bin, out, (socklen_t)sz) == NULL)
		return 0;
	return fam;
}

/* Is the address in (family, bytes) form inside proxy range p? */
static int
http_in_range(int family, const unsigned char *a, const struct proxy *p)
{
	int	 full = p->bits / 8, rest = p->bits % 8;

	if (family != p->family)
		return 0;
	if (memcmp(a, p->addr, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((a[full] ^ p->addr[full]) &
	    (0xff << (8 - rest))) == 0;
}

/*
 * Does the request come from a proxy of trusted_proxies?  Only then may
 * its forwarding headers (CF-Connecting-IP, X-Forwarded-Proto,
 * CF-Visitor) be believed: anyone else could send them.  Returns 1 or 0;
 * peer, when not NULL, gets REMOTE_ADDR normalised ("" when none).
 */
int
http_from_proxy(const struct req *r, char *peer, size_t sz)
{
	const struct config	*cfg = r->srv->cfg;
	unsigned char		 bin[16];
	char			 tmp[64];
	size_t			 i;
	int			 fam;

	if (peer == NULL) {
		peer = tmp;
		sz = sizeof(tmp);
	}
	if (sz > 0)
		peer[0] = '\0';
	if (cfg->nproxies == 0 && peer == tmp)
		return 0;
	if ((fam = http_addr_parse(http_param(r, "REMOTE_ADDR"), bin, peer,
	    sz)) == 0)
		return 0;
	for (i = 0; i < cfg->nproxies; i++)
		if (http_in_range(fam, bin, &cfg->proxies[i]))
			return 1;
	return 0;
}

/*
 * Is REMOTE_ADDR, the peer the web server saw, inside one of the n
 * ranges of p?  Forwarding headers are not looked at.  Returns 1 or 0.
 */
int
http_addr_in(const struct req *r, const struct proxy *p, size_t n)
{
	unsigned char	 bin[16];
	char		 tmp[64];
	size_t		 i;
	int		 fam;

	if ((fam = http_addr_parse(http_param(r, "REMOTE_ADDR"), bin, tmp,
	    sizeof(tmp))) == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (http_in_range(fam, bin, &p[i]))
			return 1;
	return 0;
}

/*
 * The scheme a trusted proxy says the client used: X-Forwarded-Proto
 * (its first value), else CF-Visitor ({"scheme":"https"}).  Returns
 * "https", "http", or NULL when neither says.
 */
static const char *
http_forwarded_scheme(const struct req *r)
{
	const char	*v;

	if ((v = http_param(r, "HTTP_X_FORWARDED_PROTO")) != NULL) {
		while (*v == ' ')
			v++;
		if (strncasecmp(v, "https", 5) == 0 && strchr(", ",
		    v[5]) != NULL)
			return "https";
		if (strncasecmp(v, "http", 4) == 0 && strchr(", ",
		    v[4]) != NULL)
			return "http";
	}
	if ((v = http_param(r, "HTTP_CF_VISITOR")) != NULL &&
	    (v = strstr(v, "\"scheme\"")) != NULL) {
		v += 8;
		while (*v == ' ' || *v == ':')
			v++;
		if (strncmp(v, "\"https\"", 7) == 0)
			return "https";
		if (strncmp(v, "\"http\"", 6) == 0)
			return "http";
	}
	return NULL;
}

/*
 * The scheme the client used: "https" when the server says HTTPS=on,
 * or what a trusted proxy forwards (*forwarded then set); else "http".
 */
static const char *
http_scheme(const struct req *r, int *forwarded)
{
	const char	*scheme = "http", *fs, *v;

	*forwarded = 0;
	if ((v = http_param(r, "HTTPS")) != NULL && (strcasecmp(v, "on") ==
	    0 || strcmp(v, "1") == 0))
		scheme = "https";
	/* Forwarded headers count only from a trusted proxy: any? */
	if (r->srv->cfg->nproxies > 0 &&
	    (http_param(r, "HTTP_X_FORWARDED_PROTO") != NULL ||
	    http_param(r, "HTTP_CF_VISITOR") != NULL) &&
	    http_from_proxy(r, NULL, 0) &&
	    (fs = http_forwarded_scheme(r)) != NULL) {
		scheme = fs;
		*forwarded = 1;
	}
	return scheme;
}

/*
 * Did the request come over HTTPS, to this server or to a trusted proxy
 * in front of it?  (A cookie set then is Secure, RFC 6265 4.1.2.5.)
 */
int
http_https(const struct req *r)
{
	int	 forwarded;

	return strcmp(http_scheme(r, &forwarded), "https") == 0;
}

/* Append the n bytes at s to out (size sz) at *o.  Returns 0, or -1. */
static int
http_cat(char *out, size_t sz, size_t *o, const char *s, size_t n)
{
	if (*o + n >= sz)
		return -1;
	memcpy(out + *o, s, n);
	*o += n;
	out[*o] = '\0';
	return 0;
}

/*
 * The origin (RFC 6454 4) the client reached this program at, in out:
 * "scheme://host[:port]", without a path.  The scheme is https when the
 * server says HTTPS=on, or what a trusted proxy forwards; the host is
 * the Host header when it is a plain host[:port] (it is the client's
 * input: anything else is ignored, so it can never split a header),
 * else SERVER_NAME and SERVER_PORT.  Returns 0, or -1 ("" in out) when
 * no valid host is known.
 */
int
http_origin(const struct req *r, char *out, size_t sz)
{
	const char	*scheme, *host, *port;
	size_t		 o = 0;
	int		 forwarded;

	if (sz == 0)
		return -1;
	out[0] = '\0';
	scheme = http_scheme(r, &forwarded);
	if (http_cat(out, sz, &o, scheme, strlen(scheme)) == -1 ||
	    http_cat(out, sz, &o, "://", 3) == -1)
		goto fail;
	host = http_param(r, "HTTP_HOST");
	if (host != NULL && host_valid(host, strlen(host)))
		return http_cat(out, sz, &o, host, strlen(host)) == -1 ? -1 : 0;
	host = http_param(r, "SERVER_NAME");
	if (host == NULL || strchr(host, ':') != NULL ||
	    !host_valid(host, strlen(host)) ||
	    http_cat(out, sz, &o, host, strlen(host)) == -1)
		goto fail;
	/* Behind a proxy, SERVER_PORT is the back end's, not the client's. */
	port = http_param(r, "SERVER_PORT");
	if (!forwarded && port != NULL && *port != '\0' &&
	    strspn(port, "0123456789") == strlen(port) && strlen(port) <= 5 &&
	    strcmp(port, strcmp(scheme, "https") == 0 ? "443" : "80") != 0 &&
	    (http_cat(out, sz, &o, ":", 1) == -1 ||
	    http_cat(out, sz, &o, port, strlen(port)) == -1))
		goto fail;
	return 0;
fail:
	out[0] = '\0';
	return -1;
}

/*
 * The absolute URL of {base}: the configured public_url, or the
 * request's origin followed by SCRIPT_NAME.  Built once per request, and
 * only by the answers that carry an absolute URL (a start, a finished
 * job), never by a poll of a pending job.  Returns it, or r->base (a
 * path: still a valid reference, RFC 9110 10.2.2) when no host is known.
 */
const char *
http_abs_base(struct req *r)
{
	const char	*pub = r->srv->cfg->public_url;
	size_t		 o = 0;

	if (r->abs_base[0] != '\0')
		return r->abs_base;
	if (pub != NULL) {
		if (http_cat(r->abs_base, sizeof(r->abs_base), &o, pub,
		    strlen(pub)) == 0)
			return r->abs_base;
	} else if (http_origin(r, r->abs_base, sizeof(r->abs_base)) == 0) {
		o = strlen(r->abs_base);
		if (http_cat(r->abs_base, sizeof(r->abs_base), &o, r->base,
		    strlen(r->base)) == 0)
			return r->abs_base;
	}
	r->abs_base[0] = '\0';
	return r->base;
}

/* Is origin o (len bytes) one of allowed_origins?  Returns 1 or 0. */
static int
http_origin_allowed(const struct config *cfg, const char *o, size_t len)
{
	size_t	 i;

	for (i = 0; i < cfg->nallowed_origins; i++)
		if (strlen(cfg->allowed_origins[i]) == len &&
		    strncasecmp(cfg->allowed_origins[i], o, len) == 0)
			return 1;
	return 0;
}

/*
 * Is this state-changing request (POST, DELETE) a cross-site one that a
 * browser sent for another site's page (CSRF)?  Decided by Fetch
 * Metadata: Sec-Fetch-Site "same-origin", "same-site" and "none" (the
 * user's own navigation) pass, "cross-site" is refused unless its Origin
 * is in allowed_origins.  A browser too old to send it is judged by its
 * Origin (RFC 6454 7): it must name this host, the public_url's, or an
 * allowed origin; the host alone is compared, since behind a TLS proxy
 * the scheme the program sees is not the browser's.  A request with
 * neither header (curl, scripts, SDKs) carries no ambient credentials
 * of a visitor and passes.  Returns 1 to refuse, 0 to go on.
 */
int
http_cross_site(const struct req *r)
{
	const struct config	*cfg = r->srv->cfg;
	const char		*site, *origin, *host, *h, *pub;
	size_t			 n, hlen;

	site = http_param(r, "HTTP_SEC_FETCH_SITE");
	origin = http_param(r, "HTTP_ORIGIN");
	if (site != NULL && (strcmp(site, "same-origin") == 0 ||
	    strcmp(site, "same-site") == 0 || strcmp(site, "none") == 0))
		return 0;
	if (origin == NULL)
		return site != NULL && strcmp(site, "cross-site") == 0;
	n = strlen(origin);
	if (http_origin_allowed(cfg, origin, n))
		return 0;
	if (site != NULL && strcmp(site, "cross-site") == 0)
		return 1;
	/* "null" (an opaque origin) and anything unparsable: refused. */
	if ((h = strstr(origin, "://")) == NULL)
		return 1;
	h += 3;
	hlen = strlen(h);
	if ((host = http_param(r, "HTTP_HOST")) != NULL &&
	    strlen(host) == hlen && strncasecmp(host, h, hlen) == 0)
		return 0;
	if ((pub = cfg->public_url) != NULL &&
	    (pub = strstr(pub, "://")) != NULL &&
	    strncasecmp(pub + 3, h, hlen) == 0 &&
	    (pub[3 + hlen] == '\0' || pub[3 + hlen] == '/'))
		return 0;
	return 1;
}

/*
 * A Range header (RFC 9110 14.1.2, 14.2) against a representation of
 * size bytes.  Only one range is served: several are answered with the
 * whole representation, as 14.2 allows ("a server MAY ignore the Range
 * header field"), except more than HTTP_RANGES_MAX, which 14.2 lets a
 * server reject as a likely attack.  Returns HTTP_RANGE_NONE (send it
 * all: no header, another unit, a malformed or multiple ranges),
 * HTTP_RANGE_ONE with *first and *last set (inclusive), or
 * HTTP_RANGE_BAD (416: not satisfiable, or too many ranges).  Pure.
 */
int
http_range_parse(const char *h, long long size, long long *first,
    long long *last)
{
	const char	*p;
	long long	 a, b, n;
	int		 nranges = 1, havea, haveb;

	if (h == NULL || strncmp(h, "bytes=", 6) != 0)
		return HTTP_RANGE_NONE;
	for (p = h + 6; *p != '\0'; p++)
		if (*p == ',' && ++nranges > HTTP_RANGES_MAX)
			return HTTP_RANGE_BAD;
	if (nranges > 1)
		return HTTP_RANGE_NONE;
	p = h + 6;
	while (*p == ' ' || *p == '\t')
		p++;
	/* Digits only, saturating: "1e99" stops at 'e' and is malformed. */
	for (a = 0, havea = 0; *p >= '0' && *p <= '9'; p++, havea = 1)
		a = a > LLONG_MAX / 10 - 1 ? LLONG_MAX : a * 10 + (*p - '0');
	if (*p++ != '-')
		return HTTP_RANGE_NONE;
	for (b = 0, haveb = 0; *p >= '0' && *p <= '9'; p++, haveb = 1)
		b = b > LLONG_MAX / 10 - 1 ? LLONG_MAX : b * 10 + (*p - '0');
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0' || (!havea && !haveb))
		return HTTP_RANGE_NONE;
	if (!havea) {
		/* A suffix: the last b bytes (14.1.3); "-0" is none. */
		if (b == 0 || size == 0)
			return HTTP_RANGE_BAD;
		n = b > size ? size : b;
		*first = size - n;
		*last = size - 1;
		return HTTP_RANGE_ONE;
	}
	if (haveb && b < a)
		return HTTP_RANGE_NONE;	/* invalid: ignored (14.1.1) */
	if (a >= size)
		return HTTP_RANGE_BAD;
	*first = a;
	*last = !haveb || b >= size ? size - 1 : b;
	return HTTP_RANGE_ONE;
}

/*
 * Does the entity-tag list h (If-None-Match, If-Match) name etag?  "*"
 * matches any; weak compares ignore "W/" (RFC 9110 8.8.3.2: If-None-Match
 * uses the weak comparison, If-Range the strong one).  Pure.
 */
int
http_etag_match(const char *h, const char *etag, int weak)
{
	const char	*p = h, *q;
	size_t		 elen = strlen(etag);

	if (h == NULL || etag[0] == '\0')
		return 0;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0) {
			if (!weak)
				return 0;
			p += 2;
		}
		if (*p != '"')
			return 0;
		if ((q = strchr(p + 1, '"')) == NULL)
			return 0;
		if ((size_t)(q + 1 - p) == elen && memcmp(p, etag, elen) == 0)
			return 1;
		p = q + 1;
	}
	return 0;
}

/* An IMF-fixdate (RFC 9110 5.6.7) of t into out (at least 30 bytes). */
void
http_date_format(time_t t, char *out, size_t sz)
{
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, sz, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		out[0] = '\0';
}

/*
 * An IMF-fixdate into *t; the obsolete formats 5.6.7 also names are not
 * accepted (a validator in one is simply not used).  Returns 0, or -1.
 */
int
http_date_parse(const char *s, time_t *t)
{
	struct tm	 tm;
	const char	*end;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm)) == NULL ||
	    *end != '\0')
		return -1;
	*t = timegm(&tm);
	return *t == (time_t)-1 ? -1 : 0;
}
