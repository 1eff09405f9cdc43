/*
 * "spoolcgi init [DIR]": set up a web folder on a shared host, run by the
 * account over SSH (README "A shared host").  It writes DIR/.htaccess (the
 * mod_fcgid handler, ExecCGI, the configuration refused to browsers) and
 * DIR/.htspoolcgi.json (a sample task, the spool in the account's home),
 * creates that spool with mode 0700, then runs the checks of "-t" on the
 * new configuration and prints the URLs to try.
 *
 * It never overwrites: if any of the three exists, nothing is written.
 * Files are created under a temporary name and linked into place, so a
 * name that appears meanwhile is an EEXIST outcome, never clobbered, and
 * a reader never sees half a file.
 *
 * It refuses to run as a CGI program: Apache passes a query string with no
 * '=' as arguments (RFC 3875 4.4), so "?init" would run it for anybody,
 * with the web server's environment (no HOME of the account) and perhaps
 * as the web server's user, leaving files the account cannot edit.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "extern.h"

#define INIT_SPOOL_NAME		"spoolcgi-spool"	/* in $HOME */
#define INIT_HTACCESS		".htaccess"
#define INIT_EXE_SUFFIX		".fcgi"
/* mod_fcgid refuses bodies over FcgidMaxRequestLen, 128 KiB by default. */
#define INIT_MAX_BODY		100000

static const char init_htaccess[] =
    "# spoolcgi, set up by \"spoolcgi init\": run *.fcgi through mod_fcgid,\n"
    "# one long-lived process for many requests.  Without mod_fcgid,\n"
    "# \"AddHandler cgi-script .fcgi\" runs the same program as plain CGI.\n"
    "AddHandler fcgid-script .fcgi\n"
    "Options +ExecCGI\n"
    "\n"
    "# Never serve the configuration.  Stock Apache refuses every name\n"
    "# starting with \".ht\" already; this keeps it refused where a host\n"
    "# dropped that rule.\n"
    "<Files \"" CONFIG_DEFAULT_NAME "\">\n"
    "\tRequire all denied\n"
    "</Files>\n";

/* Folder names under which hosts publish files: the URL starts below. */
static const char *const init_docroots[] = {
	"public_html", "www", "htdocs", "httpdocs", "html", "web", "public"
};

/*
 * The sample configuration for spool, as pretty JSON.  The parser is
 * strict (no comments, no unknown keys), so the explanation is the
 * sample task's description, which the form page shows.
 * Returns a string to free, or NULL.
 */
static char *
init_config_text(const char *spool)
{
	json_object	*root, *tasks, *t, *cmd, *fields, *f;
	char		*s = NULL;
	const char	*p;

	if ((root = json_object_new_object()) == NULL)
		return NULL;
	tasks = json_object_new_object();
	t = json_object_new_object();
	cmd = json_object_new_array();
	fields = json_object_new_object();
	f = json_object_new_object();
	if (tasks == NULL || t == NULL || cmd == NULL || fields == NULL ||
	    f == NULL) {
		json_object_put(tasks);
		json_object_put(t);
		json_object_put(cmd);
		json_object_put(fields);
		json_object_put(f);
		goto out;
	}
	json_object_object_add(root, "spool", json_object_new_string(spool));
	json_object_object_add(root, "max_body_bytes",
	    json_object_new_int(INIT_MAX_BODY));
	json_object_object_add(root, "tasks", tasks);
	json_object_object_add(tasks, "wordcount", t);
	json_object_object_add(t, "title",
	    json_object_new_string("Count words (a sample task)"));
	json_object_object_add(t, "description", json_object_new_string(
	    "A sample written by spoolcgi init: it counts the words of a "
	    "text. Put your own tasks in .htspoolcgi.json beside the "
	    "program: \"command\" is the absolute path of a program and its "
	    "arguments, run without a shell unless you name one (as here); "
	    "each field reaches it as $SPOOLCGI_FIELD_name and in the JSON "
	    "on its standard input; what it prints is the result. Run "
	    "\"spoolcgi.fcgi -t\" after every change."));
	json_object_array_add(cmd, json_object_new_string("/bin/sh"));
	json_object_array_add(cmd, json_object_new_string("-c"));
	json_object_array_add(cmd, json_object_new_string(
	    "printf '%s' \"$SPOOLCGI_FIELD_text\" | wc -w"));
	json_object_object_add(t, "command", cmd);
	json_object_object_add(t, "fields", fields);
	json_object_object_add(fields, "text", f);
	json_object_object_add(f, "label", json_object_new_string("Text"));
	json_object_object_add(f, "type", json_object_new_string("textarea"));
	json_object_object_add(f, "required", json_object_new_boolean(1));
	json_object_object_add(f, "max_bytes", json_object_new_int(10000));
	json_object_object_add(t, "result_type",
	    json_object_new_string("text/plain; charset=utf-8"));
	json_object_object_add(t, "timeout_seconds", json_object_new_int(60));
	p = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (p != NULL && asprintf(&s, "%s\n", p) == -1)
		s = NULL;
out:
	json_object_put(root);
	return s;
}

/*
 * Create name in dirfd with mode and contents text, never replacing what
 * is there: written and fsynced under a temporary name, then linked into
 * place.  Returns 0, or -1 with errno set (EEXIST: name
 * exists), having said why unless it exists.
 */
static int
init_write(int dirfd, const char *dir, const char *name, mode_t mode,
    const char *text)
{
	char	 tmp[NAME_MAX + 1];
	size_t	 len = strlen(text), off = 0;
	ssize_t	 n;
	int	 fd, saved;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.init-%ld", name,
	    (long)getpid()) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		log_warn("%s/%s", dir, name);
		return -1;
	}
	if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		log_warn("openat %s/%s", dir, tmp);
		return -1;
	}
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("write %s/%s", dir, tmp);
			goto fail;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) == -1) {
		log_warn("fchmod %s/%s", dir, tmp);
		goto fail;
	}
	if (fsync(fd) == -1) {
		log_warn("fsync %s/%s", dir, tmp);
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		log_warn("close %s/%s", dir, tmp);
		goto fail;
	}
	fd = -1;
	if (linkat(dirfd, tmp, dirfd, name, 0) == -1) {
		saved = errno;
		if (saved != EEXIST)
			log_warn("linkat %s/%s", dir, name);
		(void)unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	(void)unlinkat(dirfd, tmp, 0);
	(void)fsync(dirfd);
	return 0;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	(void)unlinkat(dirfd, tmp, 0);
	errno = saved;
	return -1;
}

/* Whether path is dir itself or below it (both canonical). */
static int
init_inside(const char *path, const char *dir)
{
	size_t	 n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return 1;
	return strncmp(path, dir, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

/*
 * Run "EXE -t -c config" (the same binary: /proc/self/exe) with our
 * standard output and error, so that its words reach the user as they
 * are.  Returns its exit status (1 when it could not run, 128 + N when
 * killed by signal N).
 */
static int
init_run_checks(const char *config)
{
	pid_t	 pid;
	int	 status;

	fflush(NULL);
	if ((pid = fork()) == -1) {
		log_warn("fork");
		return 1;
	}
	if (pid == 0) {
		execl("/proc/self/exe", "spoolcgi", "-t", "-c", config,
		    (char *)NULL);
		log_warn("exec /proc/self/exe -t");
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			log_warn("waitpid");
			return 1;
		}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/*
 * The folder's URL path, when dir lies below one of the folders hosts
 * publish (".../public_html/app" is "/app"), into buf.  Returns buf, or
 * NULL when there is none to go by.
 */
static const char *
init_url_path(const char *dir, char *buf, size_t sz)
{
	const char	*best = NULL, *p;
	size_t		 i, n;

	for (i = 0; i < sizeof(init_docroots) / sizeof(init_docroots[0]);
	    i++) {
		n = strlen(init_docroots[i]);
		for (p = dir; (p = strchr(p, '/')) != NULL; p++)
			if (strncmp(p + 1, init_docroots[i], n) == 0 &&
			    (p[n + 1] == '/' || p[n + 1] == '\0') &&
			    (best == NULL || p + n + 1 > best))
				best = p + n + 1;
	}
	if (best == NULL)
		return NULL;
	if ((size_t)snprintf(buf, sz, "%s", best) >= sz)
		return NULL;
	return buf;
}

/*
 * "spoolcgi init [DIR]" with its arguments after "init".  DIR defaults to
 * the program's own folder, where it will look for its configuration.
 * Returns the exit status: 0 when everything was written and the checks
 * passed, 1 when something was refused or failed, 2 on a usage error, or
 * the status of the failed checks.
 */
int
init_main(int argc, char *argv[])
{
	char		 exe[PATH_MAX], exedir[PATH_MAX], dir[PATH_MAX];
	char		 home[PATH_MAX];
	char		 spool[PATH_MAX], config[PATH_MAX], url[PATH_MAX];
	char		*text = NULL, *exename, *slash;
	const char	*h, *prog, *upath;
	struct stat	 st;
	ssize_t		 n;
	int		 dirfd = -1, rc = 1, conflicts = 0;
	int		 made_spool = 0, made_config = 0, same_dir;

	if (argc > 1) {
		fprintf(stderr, "usage: spoolcgi init [dir]\n");
		return 2;
	}
	if (getenv("GATEWAY_INTERFACE") != NULL) {
		log_warnx("init: run it from a shell (SSH) in your account, "
		    "not through the web server");
		return 1;
	}
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) == -1) {
		log_warn("init: readlink /proc/self/exe");
		return 1;
	}
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL) {
		log_warnx("init: cannot tell the program's folder from %s", exe);
		return 1;
	}
	exename = slash + 1;
	if (slash == exe)
		snprintf(exedir, sizeof(exedir), "/");
	else
		snprintf(exedir, sizeof(exedir), "%.*s", (int)(slash - exe),
		    exe);
	if (realpath(argc == 1 ? argv[0] : exedir, dir) == NULL) {
		log_warn("init: %s", argc == 1 ? argv[0] : exedir);
		return 1;
	}

	if ((h = getenv("HOME")) == NULL || h[0] != '/') {
		log_warnx("init: HOME is not set to your home folder, where "
		    "the spool goes: set it (export HOME=/home/you)");
		return 1;
	}
	if (realpath(h, home) == NULL) {
		log_warn("init: HOME %s", h);
		return 1;
	}
	if ((size_t)snprintf(spool, sizeof(spool), "%s/%s",
	    strcmp(home, "/") == 0 ? "" : home, INIT_SPOOL_NAME) >=
	    sizeof(spool) || (size_t)snprintf(config, sizeof(config),
	    "%s/%s", dir, CONFIG_DEFAULT_NAME) >= sizeof(config)) {
		errno = ENAMETOOLONG;
		log_warn("init: %s", dir);
		return 1;
	}
	if (init_inside(spool, dir)) {
		log_warnx("init: the spool %s would be inside %s, where the "
		    "web server could publish every job's files; run init "
		    "for the web folder itself, below your home", spool, dir);
		return 1;
	}
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("init: %s", dir);
		return 1;
	}

	/* Look at all three before writing any. */
	if (fstatat(dirfd, INIT_HTACCESS, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    ++conflicts)
		log_warnx("init: %s/%s exists", dir, INIT_HTACCESS);
	if (fstatat(dirfd, CONFIG_DEFAULT_NAME, &st, AT_SYMLINK_NOFOLLOW) ==
	    0 && ++conflicts)
		log_warnx("init: %s exists", config);
	if (lstat(spool, &st) == 0 && ++conflicts)
		log_warnx("init: %s exists", spool);
	if (conflicts > 0) {
		log_warnx("init: nothing was written: init never replaces a "
		    "file; move %s aside to start again",
		    conflicts == 1 ? "it" : "them");
		goto out;
	}

	if ((text = init_config_text(spool)) == NULL) {
		log_warnx("init: out of memory");
		goto out;
	}
	if (mkdir(spool, 0700) == -1) {
		if (errno == EEXIST)
			log_warnx("init: %s appeared meanwhile: nothing was "
			    "written", spool);
		else
			log_warn("init: mkdir %s", spool);
		goto out;
	}
	made_spool = 1;
	/* Exactly 0700 whatever the umask: job files are private. */
	if (chmod(spool, 0700) == -1) {
		log_warn("init: chmod %s", spool);
		goto out;
	}
	if (init_write(dirfd, dir, CONFIG_DEFAULT_NAME, 0600, text) == -1) {
		if (errno == EEXIST)
			log_warnx("init: %s appeared meanwhile", config);
		goto out;
	}
	made_config = 1;
	if (init_write(dirfd, dir, INIT_HTACCESS, 0644, init_htaccess) ==
	    -1) {
		if (errno == EEXIST)
			log_warnx("init: %s/%s appeared meanwhile", dir,
			    INIT_HTACCESS);
		goto out;
	}
	made_spool = made_config = 0;	/* done: keep them */
	printf("spoolcgi init: created %s (mode 0700): the jobs live "
	    "there\n", spool);
	printf("spoolcgi init: wrote %s (mode 0600): a sample task to edit\n",
	    config);
	printf("spoolcgi init: wrote %s/%s: mod_fcgid runs *%s, the "
	    "configuration is never served\n", dir, INIT_HTACCESS,
	    INIT_EXE_SUFFIX);

	if ((rc = init_run_checks(config)) != 0) {
		log_warnx("init: the checks failed (above): fix %s and run "
		    "%s -t", config, exe);
		goto out;
	}

	same_dir = strcmp(exedir, dir) == 0;
	prog = same_dir ? exename : "spoolcgi" INIT_EXE_SUFFIX;
	if (!same_dir)
		printf("spoolcgi init: put the program in %s as %s (chmod "
		    "755): it reads its configuration from beside itself\n",
		    dir, prog);
	else if (strlen(prog) <= strlen(INIT_EXE_SUFFIX) ||
	    strcmp(prog + strlen(prog) - strlen(INIT_EXE_SUFFIX),
	    INIT_EXE_SUFFIX) != 0) {
		prog = "spoolcgi" INIT_EXE_SUFFIX;
		printf("spoolcgi init: rename the program to %s/%s: the "
		    ".htaccess hands *%s to mod_fcgid\n", dir, prog,
		    INIT_EXE_SUFFIX);
	}
	if ((upath = init_url_path(dir, url, sizeof(url))) == NULL)
		upath = "/FOLDER";
	printf("\nNow open these on your site (your domain in place of "
	    "example.org%s):\n", upath == url ? "" : ", this folder's URL "
	    "in place of /FOLDER");
	printf("  https://example.org%s/%s/tasks   a form per task\n",
	    upath, prog);
	printf("  https://example.org%s/%s/health  answers 200\n", upath,
	    prog);
	printf("  https://example.org%s/%s      must answer 403 or 404\n",
	    upath, CONFIG_DEFAULT_NAME);
	printf("The API's {base} is %s/%s (POST {base}/jobs starts a job).\n",
	    upath, prog);
	rc = 0;
out:
	if (made_config)
		(void)unlinkat(dirfd, CONFIG_DEFAULT_NAME, 0);
	if (made_spool)
		(void)rmdir(spool);
	if (dirfd != -1)
		close(dirfd);
	free(text);
	return rc;
}
