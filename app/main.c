/*
 * spoolcgi: start-up and the accept loop.
 *
 * Everything that can be wrong with the configuration is found here,
 * before the first request, and stops the program with a message naming
 * the file, the key and what to do (fatal exits only before the
 * accept loop).  The same binary answers FastCGI (fd 0 is a listen socket)
 * or, started by a web server's CGI handler, exactly one CGI request.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "extern.h"

extern char **environ;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: spoolcgi [-t] [-c file]\n"
	    "       spoolcgi [-c file] gc\n"
	    "       spoolcgi [-c file] jobs [--state state[,...]] "
	    "[--task task] [--json]\n"
	    "       spoolcgi [-c file] show | log | cancel | retry id\n"
	    "       spoolcgi [-c file] drain [on | off]\n"
	    "       spoolcgi init [dir]\n"
	    "       spoolcgi [-c file] db init|upgrade|status\n"
	    "       spoolcgi [-c file] worker [--slots N] [--task TASK]...\n"
	    "       spoolcgi [-c file] supervise id fd fd fd key  (internal)\n"
	    "       spoolcgi [-c file] cleanup  (internal)\n"
	    "       spoolcgi [-c file] spawner  (internal)\n"
	    "       spoolcgi -V\n"
	    "       spoolcgi --help-config\n");
	exit(2);
}

/* Print every configuration key as a Markdown table.  Returns 0 or 1. */
static int
main_help_config(void)
{
	struct buf	 b = { 0 };
	int		 rc = 0;

	if (config_render_keys(&b) == -1 ||
	    fwrite(b.data, 1, b.len, stdout) != b.len || fflush(stdout) != 0) {
		log_warn("--help-config");
		rc = 1;
	}
	buf_free(&b);
	return rc;
}

/*
 * Under CGI a query without '=' arrives as arguments, one per '+'
 * separated word (RFC 3875 4.4): a visitor must not choose an option or
 * a command.  Those words are the last arguments; what comes before them
 * is a wrapper's own (exec spoolcgi -c FILE), and stays.
 */
static void
main_cgi_words(int *argc, char *argv[])
{
	const char	*q = getenv("QUERY_STRING"), *p;
	int		 words;

	if (getenv("GATEWAY_INTERFACE") == NULL || q == NULL || *q == '\0' ||
	    strchr(q, '=') != NULL)
		return;
	for (words = 1, p = q; *p != '\0'; p++)
		if (*p == '+')
			words++;
	*argc = words < *argc ? *argc - words : 1;
	argv[*argc] = NULL;
}

/* The configuration file: -c, then $SPOOLCGI_CONFIG, then the default. */
static const char *
main_config_path(const char *opt, char *buf, size_t sz)
{
	const char	*env;

	if (opt != NULL)
		return opt;
	if ((env = getenv(CONFIG_ENV)) != NULL && *env != '\0')
		return env;
	return config_default_path(buf, sz);
}

/*
 * Under plain CGI a start-up failure would leave the web server with no
 * answer at all ("premature end of script headers"): give it a 500 that
 * points at the error log, where the reason is.
 */
static void
main_cgi_fatal(void)
{
	static const char msg[] = "Status: 500 Internal Server Error\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\n\r\n"
	    "spoolcgi could not start: the web server's error log says "
	    "why.\n";

	(void)write(STDOUT_FILENO, msg, sizeof(msg) - 1);
}

/* Start-up checks that need the loaded configuration. */
static void
main_check(const struct config *cfg)
{
	const char	*why;

	/* Honest, not silently the file spool: the jobs would be elsewhere. */
	if (cfg->database != NULL && (why = pg_unavailable()) != NULL) {
		log_warnx("%s: database: %s", cfg->path, why);
		if (getenv("GATEWAY_INTERFACE") != NULL)
			main_cgi_fatal();
		exit(2);
	}
	/* DOCUMENT_ROOT comes with each request: serve.c checks it. */
	if (cfg->document_root != NULL &&
	    store_inside(cfg->spool, cfg->document_root) == 1)
		fatalx("%s: spool: %s is inside document_root %s, where the "
		    "web server would publish every job's files; move the "
		    "spool outside it", cfg->path, cfg->spool,
		    cfg->document_root);
}

/*
 * With "database" the task programs run on the workers, which check them
 * (config_load does not, here): -t says which this host lacks.
 */
static void
main_programs_check(const struct config *cfg)
{
	char	 err[1024];
	size_t	 i;

	if (cfg->database == NULL)
		return;
	for (i = 0; i <= cfg->ntasks; i++)
		if (config_check_programs(cfg, i == 0 ? NULL :
		    &cfg->tasks[i - 1], err, sizeof(err)) == -1)
			log_warnx("%s (a front on a database runs no task; "
			    "a worker on this host would not run it)", err);
}

/*
 * What would make jobs vanish or never start, said once at start in the
 * web server's error log.
 */
static void
main_spool_check(const struct config *cfg, struct store *sp, int warn)
{
	const char	*what = NULL;

	/* Under plain CGI every request is a start: warn with -t only. */
	if (warn && (strncmp(cfg->spool, "/tmp/", 5) == 0 ||
	    strncmp(cfg->spool, "/var/tmp/", 9) == 0))
		log_warnx("%s: spool: %s is under a temporary directory: "
		    "systemd's PrivateTmp (set for apache2.service) gives the "
		    "web server a private one that is discarded at every "
		    "restart, and tmp cleaners remove old files; move the "
		    "spool, e.g. to /var/lib/spoolcgi or your home", cfg->path,
		    cfg->spool);
	if (store_selftest(sp, &what) == -1 && strcmp(what, "flock") == 0)
		fatal("%s: spool: flock does not work on the file system of "
		    "%s (a network file system?); spoolcgi knows a job runs "
		    "by its lock: put the spool on a local disk", cfg->path,
		    cfg->spool);
	else if (what != NULL && strcmp(what, "writable") == 0)
		fatalx("%s: spool: %s is not writable by uid %ld: make it "
		    "(and everything in it) belong to the web server's user",
		    cfg->path, cfg->spool, (long)geteuid());
}

/* What the spawner's children start from (main_inproc). */
struct main_spawner {
	struct config	*cfg;
	struct store	*store;		/* open once, kept by each child */
};

/*
 * The spawner's own way to start a supervisor (proc_spawner_run): fork
 * this image, whose configuration is loaded and whose libraries are
 * mapped, rather than exec the program again.  The child is what
 * "spoolcgi supervise" would be after its exec: its own session, out of
 * the web server's process tree, /dev/null on 0 and 1, default signals,
 * the three locks and the spool this process opened once, nothing else.
 * Under a launcher the request is exec'd (PROC_EXEC), as the launcher
 * must wrap it.  Returns 0 once the child exists, -1 (logged), or
 * PROC_EXEC.
 */
static int
main_inproc(void *arg, char *const av[], const int *pass)
{
	struct main_spawner	*ms = arg;
	struct config		*cfg = ms->cfg;
	int			 keep[16];
	size_t			 n, nkeep, i;
	pid_t			 pid;

	for (n = 0; av[n] != NULL; n++)
		;
	if (cfg->launcher != NULL || n != 10 || strcmp(av[3], "--") != 0 ||
	    strcmp(av[4], "supervise") != 0)
		return PROC_EXEC;
	nkeep = store_fds(ms->store, keep, sizeof(keep) / sizeof(keep[0]) -
	    3);
	for (i = 0; i < 3; i++)
		if (pass[i] != -1)
			keep[nkeep++] = pass[i];
	if ((pid = fork()) == -1) {
		log_warn("fork of the supervisor of job %s", av[5]);
		return -1;
	}
	if (pid > 0)
		return 0;
	proc_sanitize(keep, nkeep, 0);
	if (setsid() == -1)
		_exit(1);
	proc_signals_reset();
	/*
	 * No descendant of the web server's process tree, as an exec'd
	 * supervisor is not either: a server (or its test) that waits for
	 * or kills its whole tree must not take the job with it.
	 */
	proc_orphan();
	lifecycle_resume(ms->store, cfg, av[5], pass[0], pass[1], pass[2],
	    strtoull(av[9], NULL, 10));
	/* NOTREACHED */
	_exit(1);
}

int
main(int argc, char *argv[])
{
	static struct config	 cfg;
	static struct server	 srv;
	static struct store	*sp;	/* reachable until exit, for LeakSanitizer */
	FCGX_Request		 fr;
	struct req		 r;
	const char		*conf = NULL, *path;
	char			 pbuf[4096], err[1024];
	struct gcstats		 gs;
	char			**sup = NULL;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	size_t			 i;
	int			 ch, test = 0, gc = 0, cleanup = 0, db = 0;
	char			**admin = NULL;
	int			 nadmin = 0;
	int			 worker = 0, spawner = 0;
	char			 self[PATH_MAX];
	ssize_t			 len;

	log_init("spoolcgi");
	main_cgi_words(&argc, argv);
	/* Long, and alone: getopt(3) has no long options, and the table
	 * needs no configuration.  Options come before the command ("+":
	 * glibc would take a command's own "--json" for ours). */
	if (argc == 2 && strcmp(argv[1], "--help-config") == 0)
		return main_help_config();
	while ((ch = getopt(argc, argv, "+c:tV")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("spoolcgi %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	/* Sets up a web folder over SSH; needs no configuration (init.c). */
	if (optind < argc && strcmp(argv[optind], "init") == 0)
		return init_main(argc - optind - 1, argv + optind + 1);
	if (optind < argc) {
		if (strcmp(argv[optind], "gc") == 0 && optind + 1 == argc)
			gc = 1;
		else if (strcmp(argv[optind], "supervise") == 0 &&
		    optind + 6 == argc)
			sup = argv + optind + 1;
		else if (strcmp(argv[optind], "db") == 0)
			db = optind + 1;
		else if (strcmp(argv[optind], "worker") == 0)
			worker = optind + 1;
		else if (admin_command(argv[optind])) {
			/* The operator's commands (admin.c) check their own. */
			admin = argv + optind;
			nadmin = argc - optind;
		} else if (strcmp(argv[optind], "cleanup") == 0 &&
		    optind + 1 == argc)
			cleanup = 1;
		else if (strcmp(argv[optind], "spawner") == 0 &&
		    optind + 1 == argc) {
			/* Its socket is descriptor 3. */
			if (fcntl(3, F_GETFD) == -1)
				fatalx("spawner: this command is run by "
				    "spoolcgi itself");
			spawner = 1;
		} else
			usage();
	}

	/* A CGI request: variables in the environment, no socket on 0. */
	if (!test && !gc && !cleanup && !db && !worker && sup == NULL &&
	    admin == NULL &&
	    getenv("REQUEST_METHOD") != NULL &&
	    getsockname(0, (struct sockaddr *)&ss, &sslen) == -1 &&
	    errno == ENOTSOCK)
		log_on_fatal(main_cgi_fatal);
	if ((path = main_config_path(conf, pbuf, sizeof(pbuf))) == NULL)
		fatalx("cannot find the configuration: give -c FILE or set "
		    CONFIG_ENV);
	if (config_load(&cfg, path, err, sizeof(err)) == -1)
		fatalx("%s", err);
	/* The configuration its FastCGI process has just loaded. */
	if (spawner) {
		struct main_spawner	ms = { &cfg, NULL };

		cfg.forks = 1;
		/* Its supervisors fork from here: the file spool only. */
		if (cfg.database == NULL)
			ms.store = store_open_config(&cfg);
		proc_spawner_run(3, ms.store != NULL ? main_inproc : NULL,
		    &ms);
	}
	/* The schema of the PostgreSQL store: no templates, no spool. */
	if (db)
		return pg_main(&cfg, argc - db, argv + db);
	/* A compute host of the PostgreSQL store: no templates, no front. */
	if (worker)
		return worker_main(&cfg, argc - worker, argv + worker);
	/* A supervisor, a clean-up and a command render no page. */
	if (sup == NULL && !cleanup && admin == NULL &&
	    tmpl_load(cfg.templates, err, sizeof(err)) == -1)
		fatalx("%s: templates: %s", cfg.path, err);
	for (i = 0; sup == NULL && !cleanup && admin == NULL &&
	    i < cfg.ntasks; i++)
		if ((cfg.tasks[i].form_template != NULL &&
		    tmpl_load_extra(cfg.templates, cfg.tasks[i].form_template,
		    err, sizeof(err)) == -1) ||
		    (cfg.tasks[i].result_template != NULL &&
		    tmpl_load_extra(cfg.templates,
		    cfg.tasks[i].result_template, err, sizeof(err)) == -1))
			fatalx("%s: tasks.%s: %s", cfg.path,
			    cfg.tasks[i].name, err);
	main_check(&cfg);
	/*
	 * Supervisors and clean-ups are this binary, exec'd (proc_spawn):
	 * children that never hold the listen socket.  Without /proc (a
	 * chroot) they are forked from this process instead.
	 */
	if ((len = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[len] = '\0';
		if (access(self, X_OK) == 0)
			cfg.self = self;
	}
	if (test) {
		/* As root the spool would be made root's: leave it be. */
		if (geteuid() != 0 || cfg.allow_root) {
			if ((sp = store_open_config(&cfg)) == NULL)
				fatalx("%s: spool: %s cannot be used (see "
				    "above)", cfg.path, cfg.spool);
			main_spool_check(&cfg, sp, 1);
		} else
			printf("%s: running as root: the spool was not "
			    "checked; run -t as the web server's user\n",
			    cfg.path);
		main_programs_check(&cfg);
		printf("%s: configuration ok (%zu task%s)\n", cfg.path,
		    cfg.ntasks, cfg.ntasks == 1 ? "" : "s");
		return 0;
	}
	if (geteuid() == 0 && !cfg.allow_root)
		fatalx("%s: refusing to run as root: every task would run as "
		    "root, and files root makes in the spool could not be "
		    "changed by the web server's user; run spoolcgi as that "
		    "user (lighttpd server.username, Apache User, spawn-fcgi "
		    "-u), or set \"allow_root\": true if you really mean it",
		    cfg.path);
	if ((sp = store_open_config(&cfg)) == NULL)
		fatalx("%s: spool: %s cannot be used (see above); create it "
		    "and make it writable by the web server's user", cfg.path,
		    cfg.spool);
	/*
	 * Spawned by a FastCGI process: no descendant of the web server's
	 * process tree.  Under a launcher, the launcher decides where the
	 * supervisor lives (systemd-run --scope: its own unit); stay put.
	 */
	if ((sup != NULL && cfg.launcher == NULL) || cleanup)
		proc_orphan();
	if (sup != NULL) {
		cfg.forks = 1;
		lifecycle_resume(sp, &cfg, sup[0], atoi(sup[1]),
		    atoi(sup[2]), atoi(sup[3]), strtoull(sup[4], NULL, 10));
	}
	if (cleanup) {
		lifecycle_cleanup(sp, &cfg);
		return 0;
	}
	if (admin != NULL) {
		main_spool_check(&cfg, sp, 0);
		/* Supervisors a command's dispatch starts: no zombies. */
		if (cfg.self != NULL)
			signal(SIGCHLD, SIG_IGN);
		return admin_main(&cfg, sp, nadmin, admin);
	}
	main_spool_check(&cfg, sp, !FCGX_IsCGI());
	if (gc) {
		/* The clean-up requests run, for hosts that have cron. */
		switch (lifecycle_gc(sp, &cfg, time(NULL), &gs)) {
		case LC_OK:
			break;
		case LC_FULL:
			fatalx("gc: another clean-up is running in %s",
			    cfg.spool);
		default:
			fatalx("gc: the clean-up of %s failed (see above)",
			    cfg.spool);
		}
		printf("gc: removed %d expired jobs, %d tombstones, %d stale "
		    "temporaries, %d keys; %d interrupted jobs settled\n",
		    gs.expired, gs.tombstones, gs.temps, gs.keys, gs.settled);
		return 0;
	}

	/* A client that goes away must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	/* Spawned supervisors and clean-ups must not become zombies. */
	if (cfg.self != NULL)
		signal(SIGCHLD, SIG_IGN);
	/*
	 * Under FastCGI every child is made by the spawner, started here
	 * once, so that no child of ours ever holds the listen socket.
	 */
	if (cfg.self != NULL && !FCGX_IsCGI())
		cfg.spawner = proc_spawner_start(cfg.self, cfg.path);

	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");
	srv.cfg = &cfg;
	srv.store = sp;
	srv.cgi = FCGX_IsCGI();
	if (srv.cgi) {
		/* Plain CGI: one request from the environment (RFC 3875). */
		http_begin(&r, &srv, NULL, NULL, environ);
		serve_request(&r);
		http_end(&r);
		return 0;
	}
	/*
	 * The listen socket must never reach a task: every child lets go
	 * of it first (proc.c), and an exec closes it in any case.
	 */
	(void)fcntl(0, F_SETFD, FD_CLOEXEC);
	if (FCGX_InitRequest(&fr, 0, 0) != 0)
		fatalx("FCGX_InitRequest failed");
	while (FCGX_Accept_r(&fr) >= 0) {
		http_begin(&r, &srv, fr.in, fr.out, fr.envp);
		serve_request(&r);
		/*
		 * Unless the request is detached, libfcgi's close shuts the
		 * socket down and then waits, up to 2 s, for the server to
		 * close its end: a sleep and a wake-up per request.  That
		 * wait drains input nobody read: closing with input unread
		 * makes TCP send a reset (RFC 1122, section 4.2.2.13), which
		 * can destroy the answer in flight.  With the input read to
		 * its end there is none, and a detached request's close is
		 * plain.  A connection the server keeps (FCGI_KEEP_CONN) is
		 * not closed; the next request on it starts attached.
		 */
		if (http_input_done(&r))
			(void)FCGX_Detach(&fr);
		http_end(&r);
		FCGX_Finish_r(&fr);
		(void)FCGX_Attach(&fr);
	}
	return 0;
}
