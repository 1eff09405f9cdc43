# tests/lib-pg.sh: a real PostgreSQL for the tests (POSIX sh), sourced
# after tests/lib.sh.  It provides:
#
#   pg_setup    skips the test (TAP "1..0 # SKIP") when PostgreSQL is not
#               installed; else initdb in a fresh temporary directory
#               ($PG_DIR), as www-data when run as root (initdb refuses
#               root), and an EXIT trap that stops the server and removes
#               the directory
#   pg_start    start it, on a Unix socket in $PG_DIR/sock and on
#               127.0.0.1:$PG_PORT; returns when it accepts connections
#               (pg_ctl -w, bounded by -t)
#   pg_listen_also ADDR CLIENT
#               before pg_start: listen on ADDR too, and let CLIENT (one
#               address) in over TCP, as a test's network namespace does
#   pg_stop     stop it (immediate: nothing of a test's server is kept)
#   pg_restart_immediate
#               kill it the way a crash does (pg_ctl -m immediate) and
#               start it again: the recovery replays the WAL
#   pg_sql DB SQL
#               run SQL with psql (tuples only, unaligned)
#   pg_front_db DB
#               for a front's site (tests/lib.sh setup_site, done, with
#               "database": "$PG_CONNINFO dbname=DB" in its configuration):
#               an EXIT trap that stops the server and the site, the server
#               started, DB created and "spoolcgi db init" run on it as the
#               site's user; bails out on failure.  The caller then starts
#               its web server (and workers)
#   as_web CMD [ARGS...]
#               CMD as the site's user (the spool is theirs)
#   PG_CONNINFO     "host=$PG_DIR/sock port=$PG_PORT user=spoolcgi"
#   PG_CONNINFO_TCP the same over 127.0.0.1
#
# Authentication is "trust": the server listens on loopback (and on what
# pg_listen_also names, for one client address) and in a
# directory only the test's user can enter.

PG_BIN=${PG_BIN:-$(pg_config --bindir 2>/dev/null)}
[ -x "$PG_BIN/initdb" ] || PG_BIN=/usr/lib/postgresql/15/bin
PG_DIR=
PG_PORT=
PG_AS=

# pg_run CMD [ARGS...]: CMD as the server's user.
pg_run() {
	if [ -n "$PG_AS" ]; then
		runuser -u "$PG_AS" -- "$@"
	else
		"$@"
	fi
}

pg_cleanup() {
	[ -n "$PG_DIR" ] || return 0
	[ -f "$PG_DIR/data/postmaster.pid" ] && pg_stop
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "# kept $PG_DIR"
	else
		rm -rf "$PG_DIR"
	fi
}

pg_setup() {
	if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
		echo "1..0 # SKIP PostgreSQL is not installed (Debian: postgresql)"
		exit 0
	fi
	command -v psql >/dev/null ||
	    { echo "1..0 # SKIP psql is not installed (Debian: postgresql-client)"; exit 0; }
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/spoolcgi-pg.XXXXXX") ||
	    bail_out "mktemp failed"
	trap pg_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mkdir "$PG_DIR/sock" || bail_out "mkdir $PG_DIR/sock"
	if [ "$(id -u)" -eq 0 ]; then
		PG_AS=www-data
		chown -R "$PG_AS" "$PG_DIR" || bail_out "chown $PG_DIR"
	fi
	chmod 700 "$PG_DIR"
	pg_run "$PG_BIN/initdb" -D "$PG_DIR/data" -U spoolcgi -A trust \
	    -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 || {
		diag_file "$PG_DIR/initdb.log"
		bail_out "initdb failed"
	}
	PG_PORT=$(free_port) || bail_out "no free port"
	cat >>"$PG_DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR/sock'
max_connections = 40
shared_buffers = 16MB
EOF
	PG_CONNINFO="host=$PG_DIR/sock port=$PG_PORT user=spoolcgi"
	PG_CONNINFO_TCP="host=127.0.0.1 port=$PG_PORT user=spoolcgi"
}

pg_listen_also() {
	{ echo "listen_addresses = '127.0.0.1, $1'" >>"$PG_DIR/data/postgresql.conf" &&
	    echo "host all all $2/32 trust" >>"$PG_DIR/data/pg_hba.conf"; } ||
	    bail_out "pg_listen_also $1 $2"
}

pg_start() {
	pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
	    -w -t 60 start >/dev/null 2>&1 || {
		diag_file "$PG_DIR/server.log"
		return 1
	}
}

pg_stop() {
	pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 60 \
	    stop >/dev/null 2>&1
}

pg_restart_immediate() {
	pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
	    -m immediate -w -t 60 restart >/dev/null 2>&1 || {
		diag_file "$PG_DIR/server.log"
		return 1
	}
}

pg_sql() {
	psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$PG_CONNINFO dbname=$1" \
	    -c "$2"
}

as_web() {
	if [ -n "$WEB_USER" ]; then
		runuser -u "$WEB_USER" -- "$@"
	else
		"$@"
	fi
}

pg_front_db() {
	trap '_rc=$?; pg_cleanup; (exit $_rc); cleanup' EXIT
	pg_start || bail_out "the PostgreSQL server did not start"
	pg_sql postgres "CREATE DATABASE $1" || bail_out "createdb failed"
	as_web "$SITE/bin/spoolcgi" -c "$CONFIG" db init >"$T/init.out" \
	    2>&1 || { diag_file "$T/init.out"; bail_out "db init failed"; }
}
