#!/bin/sh
# tools/demo.sh: build spoolcgi and run a demo site, on a fresh Debian 12,
# as root.
#
#   tools/demo.sh          install what is missing, build, (re)start the
#                          demo and print its URL
#   tools/demo.sh stop     stop it
#
#   DEMO_DIR   where the site lives (default /var/lib/spoolcgi-demo)
#   DEMO_PORT  its port on 127.0.0.1 (default 8080)
#
# The site, all of it under DEMO_DIR and owned by www-data:
#
#   bin/spoolcgi          the program, run by lighttpd as a FastCGI handler
#   tasks/demo-task       the sample task (examples/demo-task)
#   spoolcgi.json         the configuration (from examples/spoolcgi.json)
#   htdocs/index.html     the document root, with the demo's form
#   spool/                jobs and results, outside the document root
#   lighttpd.conf, log/, run/, tmp/
#
# Running it again rebuilds and restarts the demo; jobs still running keep
# running (they are detached from the web server) and the spool is kept.

set -eu

DEMO_DIR=${DEMO_DIR:-/var/lib/spoolcgi-demo}
DEMO_PORT=${DEMO_PORT:-8080}
PACKAGES="build-essential autoconf automake pkg-config libfcgi-dev
libjson-c-dev uuid-dev lighttpd curl jq"

say() { printf 'demo.sh: %s\n' "$*"; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

cd "$(dirname "$0")/.."
src=$(pwd)
# now_cs, wait_for, proc_alive, lighttpd_user_lines, url_code
. "$src/tools/lib.sh"

[ "$(id -u)" -eq 0 ] || die "run me as root (I install packages and run lighttpd as www-data)"
case $DEMO_DIR in
/*) ;;
*) die "DEMO_DIR must be an absolute path" ;;
esac
case $DEMO_PORT in
''|*[!0-9]*) die "DEMO_PORT must be a number" ;;
esac

# demo_pid: the pid of the demo's lighttpd, if it runs.
demo_pid() {
	local pid
	# lighttpd removes its pid file as it exits, possibly between a test
	# for the file and the read: read it once, quietly.
	pid=$(cat "$DEMO_DIR/run/lighttpd.pid" 2>/dev/null) || return 1
	case $pid in ''|*[!0-9]*) return 1 ;; esac
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = lighttpd ] || return 1
	proc_alive "$pid" || return 1
	echo "$pid"
}

not_running() { ! demo_pid >/dev/null; }

stop_demo() {
	local pid
	pid=$(demo_pid) || return 0
	say "stopping the demo's lighttpd (pid $pid)"
	kill -TERM "$pid"
	if ! wait_for 20 not_running; then
		say "lighttpd ignored SIGTERM for 20 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
		wait_for 5 not_running || die "cannot stop pid $pid"
	fi
}

health_ok() {
	[ "$(url_code "http://127.0.0.1:$DEMO_PORT/app/health")" = 200 ]
}

if [ "${1:-}" = stop ]; then
	stop_demo
	say "stopped"
	exit 0
fi

# ---------------------------------------------------------------- packages

missing=
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing:$missing"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $missing
fi

# ---------------------------------------------------------------- build

if [ ! -f Makefile ]; then
	autoreconf -fi
	./configure
fi
make
[ -x app/spoolcgi ] || die "the build made no app/spoolcgi"

# ---------------------------------------------------------------- the site

stop_demo
mkdir -p "$DEMO_DIR/bin" "$DEMO_DIR/tasks" "$DEMO_DIR/htdocs" \
    "$DEMO_DIR/spool" "$DEMO_DIR/log" "$DEMO_DIR/run" "$DEMO_DIR/tmp"
# Copy, then rename: a detached job may still run the old binary, and
# writing over a running executable fails (ETXTBSY).
for f in app/spoolcgi:bin/spoolcgi examples/demo-task:tasks/demo-task; do
	cp "$src/${f%%:*}" "$DEMO_DIR/${f#*:}.new"
	chmod 755 "$DEMO_DIR/${f#*:}.new"
	mv -f "$DEMO_DIR/${f#*:}.new" "$DEMO_DIR/${f#*:}"
done
cp "$src/htdocs/index.html" "$src/htdocs/spoolcgi.js" \
    "$src/htdocs/spoolcgi.css" "$DEMO_DIR/htdocs/"

# The sample configuration, with this site's paths.
jq --arg spool "$DEMO_DIR/spool" --arg task "$DEMO_DIR/tasks/demo-task" \
    '.spool = $spool | .tasks.demo.command = [$task]' \
    "$src/examples/spoolcgi.json" >"$DEMO_DIR/spoolcgi.json.new"
mv -f "$DEMO_DIR/spoolcgi.json.new" "$DEMO_DIR/spoolcgi.json"
"$DEMO_DIR/bin/spoolcgi" -t -c "$DEMO_DIR/spoolcgi.json" ||
    die "spoolcgi rejects $DEMO_DIR/spoolcgi.json"

cat >"$DEMO_DIR/lighttpd.conf" <<EOF
# The spoolcgi demo site, written by tools/demo.sh.
server.modules = ("mod_fastcgi")
server.document-root = "$DEMO_DIR/htdocs"
server.bind = "127.0.0.1"
server.port = $DEMO_PORT
$(lighttpd_user_lines)
server.pid-file = "$DEMO_DIR/run/lighttpd.pid"
server.errorlog = "$DEMO_DIR/log/error.log"
server.upload-dirs = ("$DEMO_DIR/tmp")
index-file.names = ("index.html")
mimetype.assign = (".html" => "text/html; charset=utf-8",
	".css" => "text/css", ".js" => "text/javascript",
	".txt" => "text/plain; charset=utf-8")
fastcgi.server = ("/app" => ((
	"bin-path" => "$DEMO_DIR/bin/spoolcgi",
	"socket" => "$DEMO_DIR/run/spoolcgi.sock",
	"max-procs" => 2,
	"check-local" => "disable",
	"bin-environment" => ("SPOOLCGI_CONFIG" => "$DEMO_DIR/spoolcgi.json"),
)))
EOF
chown -R www-data:www-data "$DEMO_DIR"
lighttpd -tt -f "$DEMO_DIR/lighttpd.conf" >/dev/null ||
    die "lighttpd rejects $DEMO_DIR/lighttpd.conf"

if [ "$(url_code "http://127.0.0.1:$DEMO_PORT/" --max-time 2)" != 000 ]; then
	die "something else answers on 127.0.0.1:$DEMO_PORT (set DEMO_PORT)"
fi

# Without -D, lighttpd forks into the background and writes its pid file.
lighttpd -f "$DEMO_DIR/lighttpd.conf" </dev/null >>"$DEMO_DIR/log/lighttpd.out" 2>&1 ||
    die "lighttpd did not start; see $DEMO_DIR/log/error.log"
if ! wait_for 30 health_ok; then
	tail -n 20 "$DEMO_DIR/log/error.log" >&2 || true
	die "the demo does not answer on port $DEMO_PORT after 30 s"
fi

env=
[ "$DEMO_DIR" = /var/lib/spoolcgi-demo ] || env="DEMO_DIR=$DEMO_DIR "
cat <<EOF

The spoolcgi demo runs:   http://127.0.0.1:$DEMO_PORT/
  tasks and their forms:  http://127.0.0.1:$DEMO_PORT/app/tasks
  health (JSON):          http://127.0.0.1:$DEMO_PORT/app/health
  site, spool and logs:   $DEMO_DIR  (error log: $DEMO_DIR/log/error.log)

Stop it:  $env$src/tools/demo.sh stop
   (or:   kill \$(cat $DEMO_DIR/run/lighttpd.pid))
EOF
