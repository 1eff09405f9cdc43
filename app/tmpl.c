/*
 * Templates: an escape-by-default renderer that makes one pass over the
 * text, and the table of the templates the program uses (built in, or
 * read from the configured directory once at start-up).
 *
 * The syntax is a small subset of mustache, and nothing else:
 *
 *	{{name}}		the variable, HTML-escaped
 *	{{&name}}		the variable as is: only for HTML fragments the
 *				program built itself (grep for "{{&")
 *	{{#name}}...{{/name}}	the body, when the variable is present and
 *				not empty
 *	{{^name}}...{{/name}}	the body, when it is absent or empty
 *
 * Names are [A-Za-z0-9_-]+, with no white space inside the braces.  A
 * variable the caller did not pass is absent and renders as nothing.
 * Every "{{" opens a tag; there is no way to write a literal "{{".
 * Sections nest up to TMPL_DEPTH_MAX deep.  The body of a section that is
 * not shown is still parsed, so a template's syntax errors do not depend
 * on its variables: tmpl_check() finds every error tmpl_render() can.
 *
 * The renderer is a pure function of its input: it never
 * logs and never reads past len; the text may contain NUL bytes.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

#define TMPL_DEPTH_MAX	8		/* open sections at once */
#define TMPL_FILE_MAX	(256 * 1024)	/* bytes of a template file */
#define TMPL_NAME_SHOW	64		/* bytes of a name in a message */

struct tmpl_section {
	const char	*name;
	size_t		 namelen;
	size_t		 off;		/* of the opening tag */
	int		 outer;		/* output was on before it opened */
};

/* A loaded template: the built-in text, or a copy read from a file. */
struct tmpl_entry {
	const char	*name;
	const char	*text;
	size_t		 len;
	char		*owned;		/* what tmpl_load() read, or NULL */
};

static struct tmpl_entry	*tmpl_table;
static size_t			 tmpl_ntable;

/* Not isalnum(): names must not depend on the locale. */
static int
tmpl_namechar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Returns the offset of the next two bytes c c ("{{", "}}") from i, or len. */
static size_t
tmpl_find(const char *t, size_t i, size_t len, char c)
{
	const char	*p;

	while (i + 1 < len) {
		if ((p = memchr(t + i, c, len - i - 1)) == NULL)
			break;
		i = (size_t)(p - t);
		if (t[i + 1] == c)
			return i;
		i++;
	}
	return len;
}

/* Returns the value of a variable, or NULL when it is absent. */
static const char *
tmpl_lookup(const struct tmpl_var *vars, size_t nvars, const char *name,
    size_t namelen)
{
	size_t	 i;

	/* name holds only name characters, so strncmp sees no NUL in it. */
	for (i = 0; i < nvars; i++)
		if (vars[i].name != NULL &&
		    strncmp(vars[i].name, name, namelen) == 0 &&
		    vars[i].name[namelen] == '\0')
			return vars[i].value;
	return NULL;
}

/*
 * Fill err with "byte N, line L: what" for the syntax error at offset off,
 * and set errno to EINVAL.
 */
static void __attribute__((format(printf, 5, 6)))
tmpl_error(char *err, size_t errsz, const char *t, size_t off,
    const char *fmt, ...)
{
	char	 what[256];
	size_t	 i, line;
	va_list	 ap;

	if (err != NULL && errsz > 0) {
		for (i = 0, line = 1; i < off; i++)
			if (t[i] == '\n')
				line++;
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		snprintf(err, errsz, "byte %zu, line %zu: %s", off, line, what);
	}
	errno = EINVAL;
}

static int
tmpl_shown(size_t namelen)
{
	return namelen > TMPL_NAME_SHOW ? TMPL_NAME_SHOW : (int)namelen;
}

/*
 * The one pass: copy text, expand tags, keep a stack of open sections.
 * With out NULL, only check the syntax.  Returns 0, or -1 with err filled
 * and errno set (EINVAL: a syntax error; ENOMEM: no memory); on error,
 * out is as it was before the call.
 */
static int
tmpl_run(struct buf *out, const char *t, size_t len,
    const struct tmpl_var *vars, size_t nvars, char *err, size_t errsz)
{
	struct tmpl_section	 st[TMPL_DEPTH_MAX];
	struct tmpl_section	*top;
	size_t			 depth = 0, i = 0, tag, j, nstart, namelen;
	size_t			 start = out != NULL ? out->len : 0;
	const char		*name, *v;
	char			 sigil;
	int			 show = out != NULL, truth, saved;

	if (err != NULL && errsz > 0)
		err[0] = '\0';
	while (i < len) {
		tag = tmpl_find(t, i, len, '{');
		if (show && buf_append(out, t + i, tag - i) == -1)
			goto nomem;
		if (tag == len)
			break;

		j = tag + 2;
		sigil = '\0';
		if (j < len && (t[j] == '&' || t[j] == '#' || t[j] == '^' ||
		    t[j] == '/'))
			sigil = t[j++];
		nstart = j;
		while (j < len && tmpl_namechar((unsigned char)t[j]))
			j++;
		name = t + nstart;
		namelen = j - nstart;

		if (j + 1 >= len || t[j] != '}' || t[j + 1] != '}') {
			/* No "}}" anywhere after it: the tag never ends. */
			if (tmpl_find(t, tag + 2, len, '}') == len) {
				tmpl_error(err, errsz, t, tag,
				    "unterminated tag");
				goto fail;
			}
			tmpl_error(err, errsz, t, tag, "bad name in tag: "
			    "a name is [A-Za-z0-9_-]+, with no white space");
			goto fail;
		}
		if (namelen == 0) {
			tmpl_error(err, errsz, t, tag, "bad name in tag: empty");
			goto fail;
		}
		i = j + 2;

		switch (sigil) {
		case '#':
		case '^':
			if (depth == TMPL_DEPTH_MAX) {
				tmpl_error(err, errsz, t, tag, "sections nested "
				    "more than %d deep", TMPL_DEPTH_MAX);
				goto fail;
			}
			top = &st[depth++];
			top->name = name;
			top->namelen = namelen;
			top->off = tag;
			top->outer = show;
			if (show) {
				v = tmpl_lookup(vars, nvars, name, namelen);
				truth = v != NULL && v[0] != '\0';
				show = sigil == '#' ? truth : !truth;
			}
			break;
		case '/':
			if (depth == 0) {
				tmpl_error(err, errsz, t, tag, "{{/%.*s}} closes "
				    "no section", tmpl_shown(namelen), name);
				goto fail;
			}
			top = &st[depth - 1];
			if (top->namelen != namelen ||
			    memcmp(top->name, name, namelen) != 0) {
				tmpl_error(err, errsz, t, tag, "{{/%.*s}} closes "
				    "the section {{%.*s}} opened at byte %zu",
				    tmpl_shown(namelen), name,
				    tmpl_shown(top->namelen), top->name,
				    top->off);
				goto fail;
			}
			show = top->outer;
			depth--;
			break;
		case '&':
			/* The one unescaped output. */
			if (show && (v = tmpl_lookup(vars, nvars, name,
			    namelen)) != NULL && buf_puts(out, v) == -1)
				goto nomem;
			break;
		default:
			if (show && (v = tmpl_lookup(vars, nvars, name,
			    namelen)) != NULL &&
			    buf_html_escape(out, v, strlen(v)) == -1)
				goto nomem;
			break;
		}
	}
	if (depth > 0) {
		top = &st[depth - 1];
		tmpl_error(err, errsz, t, top->off, "section {{%.*s}} is "
		    "never closed", tmpl_shown(top->namelen), top->name);
		goto fail;
	}
	return 0;

nomem:
	if (err != NULL && errsz > 0)
		snprintf(err, errsz, "out of memory");
	errno = ENOMEM;
fail:
	saved = errno;
	if (out != NULL && out->len > start) {
		out->len = start;
		out->data[start] = '\0';
	}
	errno = saved;
	return -1;
}

/*
 * Render the template t (len bytes) with vars into out.  Returns 0, or -1
 * with a message naming the byte offset in err (errno ENOMEM when memory
 * ran out, EINVAL for a syntax error); on error, out is left as it was.
 */
int
tmpl_render(struct buf *out, const char *t, size_t len,
    const struct tmpl_var *vars, size_t nvars, char *err, size_t errsz)
{
	if (out == NULL) {
		if (err != NULL && errsz > 0)
			snprintf(err, errsz, "no output buffer");
		errno = EINVAL;
		return -1;
	}
	return tmpl_run(out, t, len, vars, nvars, err, errsz);
}

/*
 * Check the syntax of a template without rendering it; allocates nothing.
 * Returns 0, or -1 with the message in err and errno set to EINVAL.
 */
int
tmpl_check(const char *t, size_t len, char *err, size_t errsz)
{
	return tmpl_run(NULL, t, len, NULL, 0, err, errsz);
}

/*
 * Read dir/name into *text (NUL-terminated, *len bytes).  A FIFO must not
 * block start-up, hence O_NONBLOCK; fstat of the open descriptor then
 * refuses anything but a regular file.  Returns 1 when read,
 * 0 when there is no such file, or -1 with errno set and err filled.
 */
static int
tmpl_read(int dfd, const char *dir, const char *name, char **text,
    size_t *len, char *err, size_t errsz)
{
	struct stat	 sb;
	char		*p = NULL;
	size_t		 n = 0;
	ssize_t		 r;
	int		 fd, saved;

	*text = NULL;
	*len = 0;
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		saved = errno;
		snprintf(err, errsz, "%s/%s: %s", dir, name,
		    saved == ELOOP ? "is a symbolic link" : strerror(saved));
		errno = saved;
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		snprintf(err, errsz, "%s/%s: fstat: %s", dir, name,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errsz, "%s/%s: not a regular file", dir, name);
		errno = EINVAL;
		goto fail;
	}
	if (sb.st_size > TMPL_FILE_MAX) {
		snprintf(err, errsz, "%s/%s: larger than %d bytes", dir, name,
		    TMPL_FILE_MAX);
		errno = EFBIG;
		goto fail;
	}
	if ((p = malloc((size_t)sb.st_size + 1)) == NULL) {
		snprintf(err, errsz, "%s/%s: out of memory", dir, name);
		goto fail;
	}
	/* A file that shrank since fstat is read as far as it goes. */
	while (n < (size_t)sb.st_size) {
		r = read(fd, p + n, (size_t)sb.st_size - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errsz, "%s/%s: read: %s", dir, name,
			    strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	p[n] = '\0';
	close(fd);
	*text = p;
	*len = n;
	return 1;
fail:
	saved = errno;
	free(p);
	close(fd);
	errno = saved;
	return -1;
}

static void
tmpl_table_free(struct tmpl_entry *tab, size_t n)
{
	size_t	 i;

	if (tab == NULL)
		return;
	for (i = 0; i < n; i++)
		free(tab[i].owned);
	free(tab);
}

/*
 * Load the templates: for each built-in one, the file of the same name in
 * dir when dir is not NULL and the file exists, else the built-in text.  A
 * missing dir means no overrides.  Every text is checked with tmpl_check().
 * On success the new table replaces the old one; on failure the old one
 * stays.  Returns 0, or -1 with errno set and err naming the file and,
 * for a syntax error, the offset.
 */
int
tmpl_load(const char *dir, char *err, size_t errsz)
{
	struct tmpl_entry	*tab;
	char			 msg[512], dummy[1];
	size_t			 i;
	int			 dfd = -1, r, saved;

	/* Every message below is written with snprintf(err, errsz, ...). */
	if (err == NULL || errsz == 0) {
		err = dummy;
		errsz = sizeof(dummy);
	}
	err[0] = '\0';
	if ((tab = calloc(tmpl_nbuiltin + 1, sizeof(*tab))) == NULL) {
		snprintf(err, errsz, "templates: out of memory");
		return -1;
	}
	if (dir != NULL && (dfd = open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 && errno != ENOENT) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		goto fail;
	}

	/* The names come from tools/embed.sh (basenames): no "/" in them. */
	for (i = 0; i < tmpl_nbuiltin; i++) {
		tab[i].name = tmpl_builtin[i].name;
		r = 0;
		if (dfd != -1 && (r = tmpl_read(dfd, dir, tab[i].name,
		    &tab[i].owned, &tab[i].len, err, errsz)) == -1)
			goto fail;
		if (r == 1)
			tab[i].text = tab[i].owned;
		else {
			tab[i].text = tmpl_builtin[i].text;
			tab[i].len = strlen(tab[i].text);
		}
		if (tmpl_check(tab[i].text, tab[i].len, msg,
		    sizeof(msg)) == -1) {
			if (r == 1)
				snprintf(err, errsz, "%s/%s: %s", dir,
				    tab[i].name, msg);
			else
				snprintf(err, errsz, "built-in %s: %s",
				    tab[i].name, msg);
			errno = EINVAL;
			goto fail;
		}
	}
	if (dfd != -1)
		close(dfd);
	tmpl_table_free(tmpl_table, tmpl_ntable);
	tmpl_table = tab;
	tmpl_ntable = tmpl_nbuiltin;
	return 0;

fail:
	saved = errno;
	if (dfd != -1)
		close(dfd);
	tmpl_table_free(tab, tmpl_nbuiltin);
	errno = saved;
	return -1;
}

/*
 * Add template name, which must exist in dir, to the loaded table: a
 * task's own form or result page.  Called after tmpl_load; name must stay
 * valid (it points into the configuration).  Returns 0, or -1 with err
 * filled.
 */
int
tmpl_load_extra(const char *dir, const char *name, char *err, size_t errsz)
{
	struct tmpl_entry	*tab, *e;
	char			 msg[512];
	int			 dfd, r;

	if (tmpl_table == NULL) {
		snprintf(err, errsz, "%s: templates not loaded", name);
		return -1;
	}
	if (tmpl_get(name, NULL) != NULL)
		return 0;	/* already there: shared by two tasks */
	if (dir == NULL) {
		snprintf(err, errsz, "%s: a task's own template needs the "
		    "\"templates\" directory", name);
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if ((tab = reallocarray(tmpl_table, tmpl_ntable + 1,
	    sizeof(*tab))) == NULL) {
		close(dfd);
		snprintf(err, errsz, "templates: out of memory");
		return -1;
	}
	tmpl_table = tab;
	e = &tab[tmpl_ntable];
	memset(e, 0, sizeof(*e));
	r = tmpl_read(dfd, dir, name, &e->owned, &e->len, err, errsz);
	close(dfd);
	if (r == 0)
		snprintf(err, errsz, "%s/%s: no such file", dir, name);
	if (r != 1)
		return -1;
	if (tmpl_check(e->owned, e->len, msg, sizeof(msg)) == -1) {
		snprintf(err, errsz, "%s/%s: %s", dir, name, msg);
		free(e->owned);
		return -1;
	}
	e->name = name;
	e->text = e->owned;
	tmpl_ntable++;
	return 0;
}

/*
 * Returns the text of the template called name and stores its length in
 * *len (the text may hold NUL bytes: use the length), or NULL when there
 * is no such template.  Before tmpl_load(), the built-in texts.
 */
const char *
tmpl_get(const char *name, size_t *len)
{
	size_t	 i;

	if (tmpl_table != NULL) {
		for (i = 0; i < tmpl_ntable; i++)
			if (strcmp(tmpl_table[i].name, name) == 0) {
				if (len != NULL)
					*len = tmpl_table[i].len;
				return tmpl_table[i].text;
			}
		return NULL;
	}
	for (i = 0; i < tmpl_nbuiltin; i++)
		if (strcmp(tmpl_builtin[i].name, name) == 0) {
			if (len != NULL)
				*len = strlen(tmpl_builtin[i].text);
			return tmpl_builtin[i].text;
		}
	return NULL;
}
