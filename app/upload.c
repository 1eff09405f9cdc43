/*
 * File uploads: a multipart/form-data body (RFC 7578) streamed through
 * the parser of multipart.c into the staging directory of a job that does
 * not exist yet.  Never is a whole file, or the whole body, in memory;
 * plain fields become a struct form like any other body.
 *
 * The browser's file name is kept for display only: a file is stored
 * under a name of the store's while the body streams (its place in the
 * body), then given the configured upload's name plus a tame extension,
 * e.g. "document.pdf", which the task reads in its stdin.  The caller aborts the staging on
 * any refusal, so a refused or cut-off upload leaves nothing behind.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json.h>

#include "extern.h"

struct upctx {
	struct refusal	*rf;
	struct form	*form;
	struct uploads	*up;
	int		 workfd;
	size_t		 maxfield;	/* largest plain field accepted */
	struct buf	 val;		/* the plain field being read */
	char		 name[SPOOLCGI_NAME_MAX + 1];
	int		 fd;		/* the file being written, or -1 */
	int		 skip;		/* an empty file input: no file */
	struct upfile	*cur;
};

static int
upload_begin(void *arg, const char *name, const char *filename,
    const char *ctype)
{
	struct upctx	*c = arg;
	struct upfile	*u;

	snprintf(c->name, sizeof(c->name), "%s", name);
	c->skip = 0;
	c->fd = -1;
	c->cur = NULL;
	buf_reset(&c->val);
	if (filename == NULL)
		return 0;
	/* A file input left empty: filename="" and no data. */
	if (filename[0] == '\0') {
		c->skip = 1;
		return 0;
	}
	if (c->up->n >= UPLOAD_FILES_MAX) {
		refuse(c->rf, 400, "invalid_body", NULL, "more than %d files",
		    UPLOAD_FILES_MAX);
		return -1;
	}
	u = &c->up->files[c->up->n];
	memset(u, 0, sizeof(*u));
	snprintf(u->field, sizeof(u->field), "%s", name);
	mp_safe_filename(filename, u->filename, sizeof(u->filename));
	snprintf(u->type, sizeof(u->type), "%s", ctype);
	if ((c->fd = store_upload_open(c->workfd, c->up->n)) == -1) {
		refuse(c->rf, 500, "internal", NULL, "the upload could not be "
		    "stored");
		return -1;
	}
	c->up->n++;
	c->cur = u;
	return 0;
}

static int
upload_data(void *arg, const char *p, size_t len)
{
	struct upctx	*c = arg;
	ssize_t		 n;

	if (c->skip)
		return 0;
	if (c->cur == NULL) {
		if (c->val.len + len > c->maxfield) {
			refuse(c->rf, 413, "field_too_large", c->name, "longer "
			    "than this server accepts (%zu bytes)",
			    c->maxfield);
			return -1;
		}
		if (buf_append(&c->val, p, len) == -1) {
			refuse(c->rf, 500, "internal", NULL, "out of memory");
			return -1;
		}
		return 0;
	}
	while (len > 0) {
		if ((n = write(c->fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == ENOSPC || errno == EDQUOT) {
				refuse(c->rf, 503, "disk_full", NULL, "the "
				    "server's disk is full; try again later");
				return -1;
			}
			log_warn("upload: write the file of %s", c->cur->field);
			refuse(c->rf, 500, "internal", NULL, "the upload could "
			    "not be stored");
			return -1;
		}
		p += n;
		len -= (size_t)n;
		c->cur->size += (size_t)n;
	}
	return 0;
}

static int
upload_end(void *arg)
{
	struct upctx	*c = arg;
	int		 fd = c->fd;

	if (c->skip)
		return 0;
	if (c->cur == NULL)
		return form_add(c->form, c->name, c->val.data ? c->val.data :
		    "", c->val.len, c->rf);
	c->fd = -1;
	c->cur = NULL;
	if (fsync(fd) == -1 || close(fd) == -1) {
		int saved = errno;

		if (saved == ENOSPC || saved == EDQUOT) {
			refuse(c->rf, 503, "disk_full", NULL, "the server's "
			    "disk is full; try again later");
			return -1;
		}
		log_warn("upload: close");
		refuse(c->rf, 500, "internal", NULL, "the upload could not be "
		    "stored");
		return -1;
	}
	return 0;
}

/*
 * Read a multipart/form-data body of len bytes (already checked against
 * the limit) from r: plain fields into f (each at most maxfield bytes),
 * files into the staging workfd (store_upload_open), listed in up.  Returns 0, or -1 with rf
 * filled; the caller then aborts the staging.
 */
int
upload_read(struct req *r, const char *ctype, size_t len, int workfd,
    size_t maxfield, struct form *f, struct uploads *up, struct refusal *rf)
{
	static const struct mp_callbacks cb = {
		upload_begin, upload_data, upload_end
	};
	struct mp_parser	 mp;
	struct upctx		 c;
	char			 boundary[MP_BOUNDARY_MAX + 1], chunk[16384];
	size_t			 got = 0, want;
	ssize_t			 n;
	int			 rc = -1;

	memset(f, 0, sizeof(*f));
	memset(up, 0, sizeof(*up));
	if (mp_boundary(ctype, boundary, sizeof(boundary), rf) == -1)
		return -1;
	memset(&c, 0, sizeof(c));
	c.rf = rf;
	c.form = f;
	c.up = up;
	c.workfd = workfd;
	c.maxfield = maxfield;
	c.fd = -1;
	if (mp_init(&mp, boundary, &cb, &c) == -1) {
		refuse(rf, 400, "invalid_body", NULL, "bad multipart boundary");
		return -1;
	}
	while (got < len) {
		want = len - got < sizeof(chunk) ? len - got : sizeof(chunk);
		if ((n = http_read(r, chunk, want)) <= 0)
			break;
		got += (size_t)n;
		if (mp_feed(&mp, chunk, (size_t)n, rf) == -1)
			goto done;
	}
	if (got < len) {
		refuse(rf, 400, "invalid_body", NULL, "the request body was "
		    "cut off: %zu of %zu bytes arrived", got, len);
		goto done;
	}
	if (mp_finish(&mp, rf) == -1)
		goto done;
	rc = 0;
done:
	if (c.fd != -1)
		close(c.fd);
	buf_free(&c.val);
	return rc;
}

/*
 * Check the uploads against task t (each a configured upload of it, none
 * twice, none over its max_bytes, every required one given) and give each
 * its final name in workfd.  Returns 0, or -1 with rf filled.
 */
int
upload_check(struct uploads *up, const struct task *t, int workfd,
    struct refusal *rf)
{
	const struct filespec	*fs;
	struct upfile		*u;
	const char		*dot;
	char			 ext[12];
	size_t			 i, j, k;

	for (i = 0; i < up->n; i++) {
		u = &up->files[i];
		for (fs = NULL, j = 0; j < t->nfiles; j++)
			if (strcmp(t->files[j].name, u->field) == 0)
				fs = &t->files[j];
		if (fs == NULL) {
			refuse(rf, 400, "invalid_field", u->field,
			    "this task takes no such file");
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcmp(up->files[j].field, u->field) == 0) {
				refuse(rf, 400, "invalid_field", u->field,
				    "given more than once");
				return -1;
			}
		if (u->size > fs->max_bytes) {
			refuse(rf, 413, "field_too_large", u->field, "the file "
			    "is larger than %zu bytes", fs->max_bytes);
			return -1;
		}
		/* A tame extension helps tasks that go by it; nothing else. */
		ext[0] = '\0';
		if ((dot = strrchr(u->filename, '.')) != NULL &&
		    strlen(dot + 1) < sizeof(ext) - 1 && dot[1] != '\0') {
			for (k = 1; dot[k] != '\0'; k++)
				if (!isalnum((unsigned char)dot[k]))
					break;
			if (dot[k] == '\0') {
				ext[0] = '.';
				for (k = 1; dot[k] != '\0'; k++)
					ext[k] = (char)tolower(
					    (unsigned char)dot[k]);
				ext[k] = '\0';
			}
		}
		snprintf(u->path, sizeof(u->path), "%s%s", fs->name, ext);
		if (store_upload_place(workfd, i, u->path) == -1) {
			refuse(rf, 500, "internal", NULL, "the upload could not "
			    "be stored");
			return -1;
		}
	}
	for (j = 0; j < t->nfiles; j++) {
		if (!t->files[j].required)
			continue;
		for (i = 0; i < up->n; i++)
			if (strcmp(up->files[i].field, t->files[j].name) == 0)
				break;
		if (i == up->n) {
			refuse(rf, 400, "invalid_field", t->files[j].name,
			    "missing: choose a file");
			return -1;
		}
	}
	if (up->n > 0 && store_upload_sync(workfd) == -1) {
		refuse(rf, 500, "internal", NULL, "the upload could not be "
		    "stored");
		return -1;
	}
	return 0;
}

/* The "files" object of the task's stdin (README "Writing a task"). */
void
upload_json(struct json_object *files, const struct uploads *up)
{
	json_object	*o;
	size_t		 i;

	for (i = 0; up != NULL && i < up->n; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "path",
		    json_object_new_string(up->files[i].path));
		json_object_object_add(o, "filename",
		    json_object_new_string(up->files[i].filename));
		json_object_object_add(o, "type",
		    json_object_new_string(up->files[i].type));
		json_object_object_add(o, "size",
		    json_object_new_int64((int64_t)up->files[i].size));
		json_object_object_add(files, up->files[i].field, o);
	}
}
