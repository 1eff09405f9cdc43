/*
 * Logging to stderr, which every web server we run under connects to its
 * error log.  One line per event; request data is escaped with log_safe()
 * before it is logged, so a client cannot forge log lines.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

static const char	*log_prog = "spoolcgi";
static void		(*log_fatal_hook)(void);

/* Have fn run before a fatal exit (after the message is logged). */
void
log_on_fatal(void (*fn)(void))
{
	log_fatal_hook = fn;
}

void
log_init(const char *prog)
{
	log_prog = prog;
}

static void
log_vemit(const char *level, const char *fmt, va_list ap, const char *err)
{
	char	 line[2048];
	int	 n;

	n = snprintf(line, sizeof(line), "%s[%ld]: %s", log_prog,
	    (long)getpid(), level);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (err != NULL) {
		n = strlen(line);
		snprintf(line + n, sizeof(line) - n, ": %s", err);
	}
	/* One write per line, so lines of concurrent processes never mix. */
	n = strlen(line);
	if ((size_t)n < sizeof(line) - 1) {
		line[n++] = '\n';
		line[n] = '\0';
	} else
		line[sizeof(line) - 2] = '\n';
	(void)write(STDERR_FILENO, line, strlen(line));
}

/* Log a warning and the current errno's text. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vemit("warning: ", fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vemit("warning: ", fmt, ap, NULL);
	va_end(ap);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vemit("info: ", fmt, ap, NULL);
	va_end(ap);
	errno = saved;
}

/* Only before the accept loop: one bad request must never stop the process. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vemit("fatal: ", fmt, ap, strerror(saved));
	va_end(ap);
	if (log_fatal_hook != NULL)
		log_fatal_hook();
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vemit("fatal: ", fmt, ap, NULL);
	va_end(ap);
	if (log_fatal_hook != NULL)
		log_fatal_hook();
	exit(1);
}

/*
 * Copy len bytes of untrusted text into dst for a log line, with control
 * characters, quotes and backslashes written as \xHH.  Returns dst, always
 * NUL-terminated; a long text is cut and ends in "...".
 */
const char *
log_safe(char *dst, size_t dstsz, const char *src, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, o;
	unsigned char		 c;

	if (dstsz == 0)
		return dst;
	for (i = o = 0; i < len; i++) {
		c = (unsigned char)src[i];
		if (c < 0x20 || c == 0x7f || c == '\\' || c == '"') {
			if (o + 4 >= dstsz)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		} else {
			if (o + 1 >= dstsz)
				break;
			dst[o++] = (char)c;
		}
	}
	if (i < len && dstsz > 4) {
		o = o > dstsz - 4 ? dstsz - 4 : o;
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}
