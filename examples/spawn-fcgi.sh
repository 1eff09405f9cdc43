#!/bin/sh
# spawn-fcgi.sh: start or stop spoolcgi's FastCGI processes for nginx (or
# any web server that connects to a FastCGI socket), with spawn-fcgi.
#
#	spawn-fcgi.sh start | stop | restart
#
# Run it as root: spawn-fcgi binds the socket, gives it to the web
# server's user (SPOOLCGI_SOCKET_USER) and runs the processes as
# SPOOLCGI_USER; spoolcgi refuses to run as root.  The settings come from
# the environment; the defaults match examples/nginx.conf:
#
#	SPOOLCGI_BIN		/usr/local/bin/spoolcgi
#	SPOOLCGI_CONFIG		/etc/spoolcgi/spoolcgi.json
#	SPOOLCGI_SOCKET		/run/spoolcgi/spoolcgi.sock
#	SPOOLCGI_PIDFILE	/run/spoolcgi/spawn-fcgi.pid
#	SPOOLCGI_CHILDREN	4 (processes; each serves one request at a time)
#	SPOOLCGI_USER, SPOOLCGI_GROUP			www-data
#	SPOOLCGI_SOCKET_USER, SPOOLCGI_SOCKET_GROUP	www-data (nginx's user)
#	SPAWN_FCGI		/usr/bin/spawn-fcgi
#
# "stop" ends the FastCGI processes only.  Jobs run in their own sessions
# and hold no descriptor of the socket, so they go on, and a later "start"
# can bind the socket again at once (spawn-fcgi refuses a socket that
# still accepts connections: "socket is already in use").
#
# Exit status: 0 on success, 1 on failure (the reason on stderr).

SPAWN_FCGI=${SPAWN_FCGI:-/usr/bin/spawn-fcgi}
SPOOLCGI_BIN=${SPOOLCGI_BIN:-/usr/local/bin/spoolcgi}
SPOOLCGI_CONFIG=${SPOOLCGI_CONFIG:-/etc/spoolcgi/spoolcgi.json}
SPOOLCGI_SOCKET=${SPOOLCGI_SOCKET:-/run/spoolcgi/spoolcgi.sock}
SPOOLCGI_PIDFILE=${SPOOLCGI_PIDFILE:-/run/spoolcgi/spawn-fcgi.pid}
SPOOLCGI_CHILDREN=${SPOOLCGI_CHILDREN:-4}
SPOOLCGI_USER=${SPOOLCGI_USER:-www-data}
SPOOLCGI_GROUP=${SPOOLCGI_GROUP:-www-data}
SPOOLCGI_SOCKET_USER=${SPOOLCGI_SOCKET_USER:-www-data}
SPOOLCGI_SOCKET_GROUP=${SPOOLCGI_SOCKET_GROUP:-www-data}

me=${0##*/}

die() {
	echo "$me: $*" >&2
	exit 1
}

# The pids spawn-fcgi wrote, one a line (its file has no final newline).
pids() {
	[ -f "$SPOOLCGI_PIDFILE" ] || return 0
	{ cat "$SPOOLCGI_PIDFILE"; echo; } | grep -E '^[0-9]+$'
}

alive() {
	kill -0 "$1" 2>/dev/null || return 1
	# A zombie is not alive; its state is the field after the name.
	case $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) in
	Z*|X*|'') return 1 ;;
	esac
	return 0
}

start() {
	local p
	for p in $(pids); do
		alive "$p" && die "already running (pid $p in $SPOOLCGI_PIDFILE)"
	done
	[ -x "$SPAWN_FCGI" ] || die "$SPAWN_FCGI: not found (apt-get install spawn-fcgi)"
	[ -x "$SPOOLCGI_BIN" ] || die "$SPOOLCGI_BIN: not found or not executable"
	# A configuration error stops here, with the file, the key and the fix.
	"$SPOOLCGI_BIN" -t -c "$SPOOLCGI_CONFIG" >/dev/null ||
	    die "$SPOOLCGI_CONFIG: not started (see above)"
	mkdir -p "$(dirname "$SPOOLCGI_SOCKET")" \
	    "$(dirname "$SPOOLCGI_PIDFILE")" || die "cannot create the run directory"
	rm -f "$SPOOLCGI_PIDFILE"
	"$SPAWN_FCGI" -F "$SPOOLCGI_CHILDREN" -P "$SPOOLCGI_PIDFILE" \
	    -s "$SPOOLCGI_SOCKET" -M 0660 \
	    -U "$SPOOLCGI_SOCKET_USER" -G "$SPOOLCGI_SOCKET_GROUP" \
	    -u "$SPOOLCGI_USER" -g "$SPOOLCGI_GROUP" \
	    -- "$SPOOLCGI_BIN" -c "$SPOOLCGI_CONFIG" ||
	    die "spawn-fcgi failed (see above)"
}

stop() {
	local p left n=0
	left=
	for p in $(pids); do
		alive "$p" && kill -TERM "$p" 2>/dev/null && left="$left $p"
	done
	# Up to 10 s for them to exit.
	while [ -n "$left" ] && [ "$n" -lt 100 ]; do
		set -- $left
		left=
		for p; do
			alive "$p" && left="$left $p"
		done
		[ -z "$left" ] || sleep 0.1
		n=$((n + 1))
	done
	[ -z "$left" ] || die "still running after 10 s:$left"
	rm -f "$SPOOLCGI_PIDFILE"
}

case ${1:-} in
start)	start ;;
stop)	stop ;;
restart) stop && start ;;
*)	echo "usage: $me start | stop | restart" >&2
	exit 2 ;;
esac
