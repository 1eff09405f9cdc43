#!/bin/sh
# tools/bench-pg.sh: the PostgreSQL store next to the file spool, in one
# run under one lighttpd, each figure with its ratio (README "Performance").
# Numbers from different runs or machines are not comparable; the ratios
# are the result.
#
#   poll     GET {base}/jobs/{id} of a finished job on each store (the
#            file spool: one status file; PostgreSQL: one primary-key read
#            over the FastCGI process's kept connection), against the
#            hello-world libfcgi program (tests/bench/hello.c): req/s, wrk
#            at BENCH_CONNS connections, the three URLs interleaved.
#   starts   POST {base}/jobs, a small urlencoded job asking for JSON,
#            /bin/cat as the task: starts/s, wrk at BENCH_CONNS
#            connections.  The file spool with room to run every job at
#            once (as tools/bench.sh's /starts: each start also hands its
#            job to a supervisor on this host); PostgreSQL with one worker,
#            then two, claiming and running the jobs on the same CPUs
#            meanwhile.  After each PostgreSQL round the jobs still queued
#            are deleted (SQL) and the running ones awaited, so that no
#            backlog runs on into the next measurement.
#   backlog  BENCH_BACKLOG jobs posted at once (16 at a time):
#            completions/s from the first POST until /health says none is
#            queued or running and every job says succeeded.  The file
#            spool with max_running 4; PostgreSQL with one worker
#            (--slots 4), then two (--slots 4 each, max_running 8).
#
# PostgreSQL is started by the script, as tests/lib-pg.sh starts it for
# the tests: initdb in a temporary directory, on a Unix socket (as
# www-data when run as root), stopped and removed at the end.  The front
# and the workers reach it over that socket, as on one host; over TCP to
# another host every statement pays a network round trip more.
#
#	tools/bench-pg.sh		(from the source tree, after "make")
#	BENCH_PARTS=pg tools/bench.sh	(the same, as a part of bench.sh)
#
# Environment (the names of tools/bench.sh where they mean the same):
#   SPOOLCGI_BIN     the spoolcgi binary, built with libpq (default:
#                    app/spoolcgi)
#   HELLO_BIN        a built hello (default: compile tests/bench/hello.c)
#   BENCH_SECONDS    length of each measured wrk run (default 5)
#   BENCH_ROUNDS     measured runs per URL, interleaved (default 3)
#   BENCH_THREADS    wrk -t (default 2)
#   BENCH_CONNS      wrk -c (default 16)
#   BENCH_WARMUP     seconds of unmeasured load on each URL first (default 2)
#   BENCH_BACKLOG    jobs in each backlog (default 400)
#   BENCH_SLOTS      a worker's --slots (default 4)
#   BENCH_PG_PROCS   FastCGI processes of the PostgreSQL front (default 2,
#                    as every other site; each keeps one connection)
#   KEEP_TMP         1: keep the temporary directories
#
# Takes about three minutes with the defaults.  Exits 0 with the table
# and ratios, or 1 when anything failed, including a wrk run with a
# non-2xx answer or a socket error, a job that did not succeed, or a
# measurement that did not finish in time.

set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# now_cs, wait_for, wait_while_alive, proc_alive, all_dead, median,
# ratio, cpu_busy, build_fcgi, bench_settings, bench_tmpdir,
# bench_cat_task, lighttpd_conf_head, lighttpd_fcgi_site,
# bench_traps, bench_rm_dir, bench_lighttpd, http_code, health_idle,
# describe, run_wrk, write_post_lua, ms_now, bench_backlog, machine_desc
. "$top_srcdir/tools/lib.sh"

# SPOOLCGI_BIN, HELLO_BIN, SECONDS_, ROUNDS, THREADS, CONNS, WARMUP,
# BACKLOG, ACCEPT, JOB_BODY; DIR, LIGHTTPD_PID and PORT empty.
bench_settings 5
SLOTS=${BENCH_SLOTS:-4}
PG_PROCS=${BENCH_PG_PROCS:-2}

WORKERS=
AS=

die() {
	echo "bench-pg: $*" >&2
	exit 1
}

say() {
	echo "bench-pg: $*" >&2
}

# What tests/lib-pg.sh expects of its caller (tests/lib.sh's, for a tool).
bail_out() {
	die "$*"
}

diag_file() {
	[ -f "$1" ] && sed 's/^/bench-pg: /' "$1" >&2
	return 0
}

# as_site CMD [ARGS...]: CMD as the site's user (www-data under root:
# spoolcgi refuses root, and the database's socket is www-data's).
as_site() {
	if [ -n "$AS" ]; then
		setpriv --reuid="$AS" --regid="$AS" --init-groups -- "$@"
	else
		"$@"
	fi
}

# dir_pids: live processes whose program or working directory lies in
# $DIR (backends, file-spool supervisors, tasks, workers), but not the
# database's (its directory is tests/lib-pg.sh's own).
dir_pids() {
	[ -n "$DIR" ] || return 0
	find /proc -mindepth 2 -maxdepth 2 -path '/proc/[0-9]*/*' \
	    \( -name exe -lname "$DIR/*" -o -name cwd -lname "$DIR/*" \) \
	    2>/dev/null | sed 's,^/proc/\([0-9]*\)/.*,\1,' | sort -u |
	    while read -r _p; do
		proc_alive "$_p" && echo "$_p"
	done
	return 0
}

cleanup() {
	local _rc=$? _left _p
	trap - EXIT
	if [ -n "$WORKERS" ]; then
		kill -TERM $WORKERS 2>/dev/null
		wait_for 15 all_dead $WORKERS ||
		    say "a worker outlived SIGTERM by 15 s"
	fi
	if [ -n "$LIGHTTPD_PID" ]; then
		kill -TERM "$LIGHTTPD_PID" 2>/dev/null
		wait_for 10 all_dead "$LIGHTTPD_PID" ||
		    say "lighttpd outlived SIGTERM by 10 s"
	fi
	# What is left of this run (backends, supervisors, tasks): by pid.
	_left=$(dir_pids)
	if [ -n "$_left" ]; then
		for _p in $_left; do
			kill -KILL "$_p" 2>/dev/null
		done
		wait_for 5 all_dead $_left
	fi
	pg_cleanup
	bench_rm_dir
	exit $_rc
}

# ---------------------------------------------------------------- the site

for _c in lighttpd wrk curl awk psql; do
	command -v "$_c" >/dev/null || die "$_c is not installed"
done
[ -x "$SPOOLCGI_BIN" ] || die "no $SPOOLCGI_BIN: run make app/spoolcgi first"
# pg_setup, pg_start, pg_sql, PG_CONNINFO; pg_cleanup (called by ours)
. "$top_srcdir/tests/lib-pg.sh"
[ -x "$PG_BIN/initdb" ] ||
    die "PostgreSQL is not installed (Debian: apt-get install postgresql)"

pg_setup
bench_traps
[ "$(id -u)" -eq 0 ] && AS=www-data

bench_tmpdir spoolcgi-bench-pg || die "mktemp failed"
mkdir -p "$DIR/bin" "$DIR/htdocs" "$DIR/log" "$DIR/run" "$DIR/tmp" \
    "$DIR/t" "$DIR/spool-file" "$DIR/spool-files" "$DIR/spool-pg" \
    "$DIR/spool-w1" "$DIR/spool-w2" || die "cannot create $DIR"
# One binary under a name per site, so that their processes can be told
# apart in /proc.
for _n in spoolcgi-file spoolcgi-files spoolcgi-pg spoolcgi; do
	cp -p "$SPOOLCGI_BIN" "$DIR/bin/$_n" || die "cannot copy $SPOOLCGI_BIN"
done
BIN_SRC=$(git -C "$(dirname "$SPOOLCGI_BIN")" describe --always --dirty \
    2>/dev/null || echo unknown)
if [ -n "$HELLO_BIN" ]; then
	cp "$HELLO_BIN" "$DIR/bin/hello" || die "cannot copy $HELLO_BIN"
else
	build_fcgi "$DIR/bin/hello" "$top_srcdir/tests/bench/hello.c" ||
	    die "cannot build tests/bench/hello.c"
fi

pg_start || die "PostgreSQL did not start"
pg_sql postgres "CREATE DATABASE bench" >/dev/null ||
    die "CREATE DATABASE failed"
DB="$PG_CONNINFO dbname=bench"

# write_config FILE SPOOL [KEYS]: the task "cat" (/bin/cat copies its
# input, the job's JSON, to the result).  No clean-up runs meanwhile.
write_config() {
	cat >"$1" <<EOF
{
  "spool": "$2",$3
  "gc_interval_seconds": 86400,
  "kill_grace_seconds": 1,
  "tasks": {
$(bench_cat_task)
  }
}
EOF
	"$DIR/bin/spoolcgi" -t -c "$1" >/dev/null ||
	    die "spoolcgi refuses the configuration $1"
}
write_config "$DIR/file.json" "$DIR/spool-file" ""
write_config "$DIR/files.json" "$DIR/spool-files" '
  "max_running": 100000,
  "max_queued": 100000,'
# The front and the workers: the same tasks and database; max_running,
# counted across the workers, leaves each worker its slots.
write_config "$DIR/pg.json" "$DIR/spool-pg" "
  \"database\": \"$DB\",
  \"max_running\": $((2 * SLOTS)),
  \"max_queued\": 100000,"
for _w in 1 2; do
	write_config "$DIR/w$_w.json" "$DIR/spool-w$_w" "
  \"database\": \"$DB\",
  \"max_running\": $((2 * SLOTS)),"
done

if [ -n "$AS" ]; then
	chmod 711 "$DIR"
	chown -R "$AS:$AS" "$DIR"/* || die "cannot chown $DIR to $AS"
fi
OUT=$(as_site "$DIR/bin/spoolcgi" -c "$DIR/pg.json" db init 2>&1) ||
    die "db init: $OUT"

write_lighttpd_conf() {
	local _s _procs
	{
		lighttpd_conf_head "$DIR" "$PORT" 10000000 tools/bench-pg.sh
		echo "fastcgi.server = ("
		for _s in file files pg; do
			_procs=2
			[ "$_s" = pg ] && _procs=$PG_PROCS
			lighttpd_fcgi_site "/$_s" "$DIR/bin/spoolcgi-$_s" \
			    "$DIR/run/$_s.sock" "$_procs" \
			    SPOOLCGI_CONFIG "$DIR/$_s.json"
		done
		lighttpd_fcgi_site /hello "$DIR/bin/hello" "$DIR/run/hello.sock" 2
		echo ")"
	} >"$DIR/lighttpd.conf"
}

ready() {
	[ "$(http_code /hello)" = 200 ] &&
	    [ "$(http_code /file/health)" = 200 ] &&
	    [ "$(http_code /files/health)" = 200 ] &&
	    [ "$(http_code /pg/health)" = 200 ]
}

bench_lighttpd write_lighttpd_conf ready || die "$BENCH_WHY"

# start_worker N: worker N in the background, ready once it logs that it
# runs (connected, listening).
worker_ready() {
	grep -q 'running up to' "$DIR/log/w$1.log" 2>/dev/null
}
start_worker() {
	as_site "$DIR/bin/spoolcgi" -c "$DIR/w$1.json" worker --slots "$SLOTS" \
	    </dev/null >>"$DIR/log/w$1.log" 2>&1 &
	WORKERS="$WORKERS $!"
	wait_while_alive "$!" 20 worker_ready "$1" || {
		diag_file "$DIR/log/w$1.log"
		die "worker $1 did not start"
	}
}
start_worker 1

# job_id: the id in the JSON answer on stdin.
job_id() {
	sed -n 's/.*"id": *"\([0-9a-f-]\{36\}\)".*/\1/p'
}

# A finished job on each store, for the polls.
for _s in file pg; do
	_out=$(curl -s --max-time 20 -H "$ACCEPT" -H 'Prefer: wait=10' \
	    -d "$JOB_BODY" "http://127.0.0.1:$PORT/$_s/jobs")
	_id=$(echo "$_out" | job_id)
	[ -n "$_id" ] || die "POST /$_s/jobs: $_out"
	_final() {
		[ "$(http_code "/$_s/jobs/$_id" -H "$ACCEPT")" = 200 ]
	}
	wait_for 30 _final || die "job $_id on /$_s not final within 30 s"
	eval "POLL_$_s=/$_s/jobs/\$_id"
done
for _p in /hello "$POLL_file" "$POLL_pg"; do
	case $(describe "$_p") in "200 application/json "*) ;;
	*) die "GET $_p answered: $(describe "$_p")" ;; esac
done

write_post_lua "$DIR/post.lua" "$JOB_BODY"

BUSY_BEFORE=$(cpu_busy)
say "lighttpd on 127.0.0.1:$PORT, PostgreSQL in $PG_DIR, the site in $DIR"

# ---------------------------------------------------------------- load

# file_idle: the file spools' jobs are done and no supervisor or task of
# theirs is left.
no_file_jobs() {
	! dir_pids | while read -r _p; do
		tr '\0' ' ' <"/proc/$_p/cmdline" 2>/dev/null |
		    grep -q ' supervise ' && echo x
	done | grep -q x
}
file_idle() {
	wait_for 120 health_idle /files ||
	    die "the /files jobs did not finish within 120 s"
	wait_for 120 health_idle /file ||
	    die "the /file jobs did not finish within 120 s"
	wait_for 30 no_file_jobs ||
	    die "file-spool supervisors still run after 30 s"
}

# pg_idle: nothing queued (what a starts round left is deleted) and
# nothing running.
pg_running() {
	[ "$(pg_sql bench "SELECT count(*) FROM spoolcgi_job
	    WHERE state IN ('queued', 'running')")" = 0 ]
}
pg_idle() {
	pg_sql bench "DELETE FROM spoolcgi_job WHERE state = 'queued'" \
	    >/dev/null || die "deleting the queued jobs failed"
	wait_for 120 pg_running ||
	    die "the running PostgreSQL jobs did not end within 120 s"
}

# measure NAME PATH ROUND [WRK_ARGS...]: one measured run; req/s appended
# to $DIR/NAME.rps.  A start's run begins with its store idle.
measure() {
	local _n=$1 _p=$2 _r=$3 _v
	shift 3
	case $_p in
	/files/*) file_idle ;;
	/pg/jobs) pg_idle ;;
	esac
	_v=$(run_wrk "$_n.$_r" "$_p" "$SECONDS_" "$@") || exit 1
	echo "$_v" >>"$DIR/$_n.rps"
	say "round $_r $_n: $_v req/s"
}

# interleave "NAME PATH" ... -- [WRK_ARGS...]: ROUNDS runs of each,
# the order rotated every round so that a drift in the machine's speed
# favours none.
interleave() {
	local _r=0 _i _k _pairs= _n=0 _line
	while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
		_n=$((_n + 1))
		_pairs="$_pairs$1
"
		: >"$DIR/${1%% *}.rps"
		shift
	done
	[ "$#" -gt 0 ] && shift
	while [ "$_r" -lt "$ROUNDS" ]; do
		_r=$((_r + 1))
		_i=0
		while [ "$_i" -lt "$_n" ]; do
			_k=$(((_i + _r - 1) % _n + 1))
			_line=$(printf '%s' "$_pairs" | sed -n "${_k}p")
			measure "${_line%% *}" "${_line#* }" "$_r" "$@"
			_i=$((_i + 1))
		done
	done
}

# backlog NAME BASE: BACKLOG jobs posted 16 at a time; completions/s from
# the first POST until /health says none is queued or running and every
# job says succeeded, in $DIR/NAME.rate.
backlog() {
	local _n=$1 _b=$2
	case $_b in /file) file_idle ;; /pg) pg_idle ;; esac
	say "backlog $_n: $BACKLOG jobs on $_b"
	bench_backlog "$_n" "$_b" 180 "backlog $_n"
	awk -v n="$BACKLOG" -v ms=$((BL_T1 - BL_T0)) \
	    'BEGIN { printf "%.1f\n", n * 1000 / ms }' >"$DIR/$_n.rate"
	say "backlog $_n: $(cat "$DIR/$_n.rate") jobs/s"
}

# ---------------------------------------------------------------- runs

say "poll: wrk -t$THREADS -c$CONNS, $ROUNDS x ${SECONDS_}s per URL"
if [ "$WARMUP" -gt 0 ]; then
	for _p in /hello "$POLL_file" "$POLL_pg"; do
		run_wrk warm "$_p" "$WARMUP" >/dev/null || exit 1
	done
fi
interleave "hello /hello" "pollfile $POLL_file" "pollpg $POLL_pg"

say "starts and backlog, one worker: wrk -t$THREADS -c$CONNS, $ROUNDS x" \
    "${SECONDS_}s per URL, /bin/cat as the task"
if [ "$WARMUP" -gt 0 ]; then
	file_idle
	run_wrk warm /files/jobs "$WARMUP" -s "$DIR/post.lua" >/dev/null ||
	    exit 1
	pg_idle
	run_wrk warm /pg/jobs "$WARMUP" -s "$DIR/post.lua" >/dev/null ||
	    exit 1
fi
interleave "startfile /files/jobs" "startpg1 /pg/jobs" -- -s "$DIR/post.lua"
backlog file /file
backlog pg1 /pg

say "two workers"
start_worker 2
interleave "startpg2 /pg/jobs" -- -s "$DIR/post.lua"
backlog pg2 /pg
pg_idle
file_idle
[ "$(pg_sql bench "SELECT count(DISTINCT worker) FROM spoolcgi_job
    WHERE state = 'succeeded' AND worker IS NOT NULL")" -ge 2 ] ||
    die "the second worker ran no job"

# ---------------------------------------------------------------- report

m() { median <"$DIR/$1.rps"; }
HELLO=$(m hello) PFILE=$(m pollfile) PPG=$(m pollpg)
SFILE=$(m startfile) SPG1=$(m startpg1) SPG2=$(m startpg2)
CFILE=$(cat "$DIR/file.rate") CPG1=$(cat "$DIR/pg1.rate")
CPG2=$(cat "$DIR/pg2.rate")
runs() { tr '\n' ' ' <"$DIR/$1.rps" | sed 's/ $//; s/ /, /g'; }

echo "## The PostgreSQL store next to the file spool, one run"
echo
echo "| measure | file spool | PostgreSQL, 1 worker | PostgreSQL, 2 workers |"
echo "| --- | --- | --- | --- |"
echo "| starts/s, $CONNS connections (median of $ROUNDS) |" \
    "$SFILE | $SPG1 ($(ratio "$SPG1" "$SFILE")) |" \
    "$SPG2 ($(ratio "$SPG2" "$SFILE")) |"
echo "| completions/s, backlog of $BACKLOG |" \
    "$CFILE | $CPG1 ($(ratio "$CPG1" "$CFILE")) |" \
    "$CPG2 ($(ratio "$CPG2" "$CFILE")) |"
echo "| polls/s, $CONNS connections (median of $ROUNDS) |" \
    "$PFILE | $PPG ($(ratio "$PPG" "$PFILE")) | |"
echo "| polls / hello ($HELLO req/s) |" \
    "$(ratio "$PFILE" "$HELLO") | $(ratio "$PPG" "$HELLO") | |"
echo
echo "(In brackets: PostgreSQL / file spool.)"
echo
echo "| runs (req/s) | |"
echo "| --- | --- |"
echo "| hello | $(runs hello) |"
echo "| poll, file spool | $(runs pollfile) |"
echo "| poll, PostgreSQL | $(runs pollpg) |"
echo "| starts, file spool | $(runs startfile) |"
echo "| starts, PostgreSQL, 1 worker | $(runs startpg1) |"
echo "| starts, PostgreSQL, 2 workers | $(runs startpg2) |"
echo
machine_desc
echo "(lighttpd $LIGHTTPD_VERSION, bin-path, max-procs 2 each" \
    "($PG_PROCS for PostgreSQL);" \
    "PostgreSQL $(pg_sql postgres 'SHOW server_version' 2>/dev/null) on a" \
    "Unix socket; workers --slots $SLOTS on the same machine;" \
    "file spool max_running 4 for the backlog, room to run for the starts;" \
    "wrk -t$THREADS -c$CONNS, $ROUNDS x ${SECONDS_}s per URL, interleaved;" \
    "$MACHINE" \
    "spool and database on $(df -T "$DIR" | awk 'NR == 2 { print $2 }'))"
echo "(CPU busy in the second before the runs: $BUSY_BEFORE, after:" \
    "$(cpu_busy); spoolcgi $(sha256sum "$DIR/bin/spoolcgi" | cut -c1-12)," \
    "tree $BIN_SRC)"
exit 0
