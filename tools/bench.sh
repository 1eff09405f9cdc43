#!/bin/sh
# tools/bench.sh: spoolcgi's speed next to what the machine can do, in one
# run under one lighttpd, each figure with its ratio.  Numbers from
# different runs or machines are not comparable (10-20 % run to run, far
# more machine to machine); the ratios are the result.
#
#   poll     GET {base}/jobs/{id} of a finished job (read the status,
#            answer it in JSON) against a hello-world libfcgi program
#            (tests/bench/hello.c): req/s, wrk at BENCH_CONNS connections,
#            in BENCH_POLL_ROUNDS short rounds, each a run of hello, of
#            "same" and of the poll, back to back in a rotating order; the
#            ratio is the median of the rounds' ratios, so that a machine
#            whose speed drifts (a shared VM's does, by 20 % from one
#            second to the next) compares runs made in the same seconds.
#            "same" is hello answering, verbatim, the bytes of the poll's
#            answer (taken from spoolcgi in CGI mode): what the web server
#            and libfcgi spend on an answer of that size and those headers,
#            apart from the work of making it.  "read" is "same" that also
#            opens, reads and closes the job's status file per request, as
#            the poll does: the least a poll that reads the job's state
#            from disk can do.  Both close a connection as spoolcgi does,
#            plainly once the request's input has ended; hello keeps
#            libfcgi's close (shut down, then wait for the server to
#            close), so same/hello shows what that close costs.  Each
#            also reports the CPU time its FastCGI processes took per
#            request, user and system (/proc, over all rounds): steadier
#            than the rates on a machine that drifts.
#   starts   POST {base}/jobs, a small urlencoded job asking for JSON, with
#            room to run every job at once, against the floor
#            (tests/bench/floor.c: write the body, fsync it, fsync the
#            staging directory, rename, fsync the parent, double-fork, exec
#            /bin/cat, answer 202): starts/s and p99, wrk and a Lua script.
#   procs    the starts and the floor again with eight FastCGI processes
#            (/starts8 and /floor8: the same spool, directory and config as
#            /starts and /floor), interleaved, against the two of "starts"
#            (which it runs too): do starts grow with processes, as the
#            floor's do, or does something serialise them?
#   latency  POST to final status of a trivial job, one at a time with
#            Prefer: wait (inotify in the server, no polling tick):
#            median and 90th percentile of BENCH_LAT_JOBS jobs.
#   backlog  BENCH_BACKLOG trivial jobs posted at once (16 at a time) under
#            the default max_running: jobs/s from the first POST until
#            /health says none is queued or running and all succeeded.
#   storm    the kill storm at scale: tests/e2e/storm.test with
#            BENCH_STORM starts (default 1,000) at 16 connections while
#            FastCGI processes and supervisors are killed at random; its
#            checks (every answered job final, no process of a job left,
#            no backend lost) pass or fail as in the suite.  Run after the
#            rest, under its own lighttpd.
#   syncs    fsync + fdatasync per job: strace -f on the FastCGI processes
#            (following the supervisors and tasks they start) over
#            BENCH_SYNC_JOBS starts, each waited for until its supervisor
#            has exited; "in the request" counts the FastCGI processes'
#            own calls, "in all" every process's.  The floor alike.
#   pg       tools/bench-pg.sh, under its own lighttpd and PostgreSQL:
#            starts/s and completions/s on the file spool and on
#            PostgreSQL with one worker, then two; polls against hello on
#            both stores.  Run after the rest.
#
# The task of every start is /bin/cat (it copies its input to the result).
# Two spoolcgi sites share the lighttpd: /app with the defaults
# (max_running 4; the poll, latency and backlog) and /starts with room to
# run (max_running and max_queued high; starts and syncs), so that a start
# does the whole of its work (publish the job, hand it to a supervisor)
# and no queue builds up that would run on into the next measurement.
# Each backend is bin-path with max-procs 2, but those of "procs".
#
#	tools/bench.sh			(from the source tree, after "make")
#
# Environment:
#   SPOOLCGI_BIN     the spoolcgi binary (default: app/spoolcgi)
#   HELLO_BIN        a built hello (default: compile tests/bench/hello.c
#                    with gcc -O2 into the temporary directory)
#   FLOOR_BIN        a built floor (default: compile tests/bench/floor.c)
#   BENCH_PARTS      which measurements, of: poll starts procs latency
#                    backlog syncs storm pg (default: all of them)
#   BENCH_SECONDS    length of each measured wrk run (default 10)
#   BENCH_ROUNDS     measured runs per URL, interleaved (default 3)
#   BENCH_POLL_ROUNDS   rounds of the poll part (default 10)
#   BENCH_POLL_SECONDS  length of each of its runs (default 3)
#   BENCH_THREADS    wrk -t (default 2)
#   BENCH_CONNS      wrk -c (default 16)
#   BENCH_WARMUP     seconds of unmeasured load on each URL first (default 2)
#   BENCH_LAT_JOBS   jobs timed from POST to final status (default 40)
#   BENCH_BACKLOG    jobs in the backlog (default 400)
#   BENCH_SYNC_JOBS  starts counted under strace (default 50)
#   BENCH_STORM      starts in the kill storm (default 1000)
#   BENCH_PERF       1: afterwards, count the instructions per request of
#                    both poll backends (perf stat), and profile the
#                    spoolcgi processes (perf record -g) during one more
#                    poll run and print the top of the report (needs perf)
#   KEEP_TMP         1: keep the temporary directory
#
# Runs as root or not (strace needs root, or ptrace allowed).  As root,
# lighttpd drops to www-data and the site (binaries copied into it)
# belongs to www-data.  Takes about three minutes with the defaults.
# Exits 0 with the tables and ratios, or 1 when anything failed, including
# a wrk run with a non-2xx answer or a socket error, a job that did not
# succeed, or a measurement that did not finish in time.

set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# now_cs, wait_for, wait_while_alive, proc_alive, all_dead, median,
# percentile, ratio, cpu_busy, cpu_snap, cpu_pct, build_fcgi,
# bench_settings, bench_tmpdir,
# bench_cat_task, lighttpd_conf_head,
# lighttpd_fcgi_site, bench_traps, bench_rm_dir, bench_lighttpd,
# http_code, health_idle, describe, run_wrk, write_post_lua, ms_now,
# bench_backlog, machine_desc
. "$top_srcdir/tools/lib.sh"

# SPOOLCGI_BIN, HELLO_BIN, SECONDS_, ROUNDS, THREADS, CONNS, WARMUP,
# BACKLOG, ACCEPT, JOB_BODY; DIR, LIGHTTPD_PID and PORT empty.
bench_settings 10
FLOOR_BIN=${FLOOR_BIN:-}
PARTS=" ${BENCH_PARTS:-poll starts procs latency backlog syncs storm pg} "
# procs compares with the two-process figures of starts.
case $PARTS in *" procs "*) PARTS="$PARTS starts " ;; esac
LAT_JOBS=${BENCH_LAT_JOBS:-40}
SYNC_JOBS=${BENCH_SYNC_JOBS:-50}

die() {
	echo "bench: $*" >&2
	exit 1
}

say() {
	echo "bench: $*" >&2
}

part() {
	case $PARTS in *" $1 "*) return 0 ;; esac
	return 1
}

# backend_pids BINARY: live children of lighttpd that run BINARY.
backend_pids() {
	local _d _s _p
	[ -n "$LIGHTTPD_PID" ] || return 0
	for _d in /proc/[0-9]*; do
		_p=${_d#/proc/}
		[ "$(readlink "$_d/exe" 2>/dev/null)" = "$1" ] || continue
		_s=$(cat "$_d/stat" 2>/dev/null) || continue
		_s=${_s##*) }
		set -- "$1" $_s
		[ "$3" = "$LIGHTTPD_PID" ] && proc_alive "$_p" && echo "$_p"
	done
	return 0
}

# site_pids: live processes of the site other than lighttpd's backends:
# job supervisors (a site binary, not lighttpd's child) and tasks (their
# working directory in the site).  One find, not a readlink per process:
# this runs between measurements.
site_pids() {
	local _p
	[ -n "$DIR" ] || return 0
	find /proc -mindepth 2 -maxdepth 2 -path '/proc/[0-9]*/*' \
	    \( -name exe -lname "$DIR/bin/*" -o -name cwd -lname "$DIR/*" \) \
	    2>/dev/null | sed 's,^/proc/\([0-9]*\)/.*,\1,' | sort -u |
	    while read -r _p; do
		[ "$(proc_ppid "$_p")" = "$LIGHTTPD_PID" ] && continue
		# A backend's spawner lives exactly as long as its backend.
		tr '\0' ' ' 2>/dev/null <"/proc/$_p/cmdline" |
		    grep -q ' spawner $' && continue
		proc_alive "$_p" && echo "$_p"
	done
	return 0
}

no_site_pids() {
	[ -z "$(site_pids)" ]
}

# rss_kb PID: VmRSS of PID in kB.
rss_kb() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null
}

stop_lighttpd() {
	local _pids _p
	[ -n "$LIGHTTPD_PID" ] || return 0
	_pids="$LIGHTTPD_PID $(backend_pids "$DIR/bin/spoolcgi")
	    $(backend_pids "$DIR/bin/spoolcgi-s") $(backend_pids "$DIR/bin/hello")
	    $(backend_pids "$DIR/bin/hello-same")
	    $(backend_pids "$DIR/bin/hello-read") $(backend_pids "$DIR/bin/floor")"
	kill -TERM "$LIGHTTPD_PID" 2>/dev/null
	if ! wait_for 10 all_dead $_pids; then
		say "lighttpd or a backend outlived SIGTERM by 10 s;" \
		    "killing $_pids"
		for _p in $_pids; do
			proc_alive "$_p" && kill -KILL "$_p" 2>/dev/null
		done
		wait_for 5 all_dead $_pids
	fi
	wait "$LIGHTTPD_PID" 2>/dev/null
	LIGHTTPD_PID=
}

cleanup() {
	local _rc=$? _left
	trap - EXIT
	[ -z "${STRACE_PID:-}" ] || kill -INT "$STRACE_PID" 2>/dev/null
	# Jobs still running once lighttpd is gone are this run's: end them.
	_left=$(site_pids)
	stop_lighttpd
	if [ -n "$_left" ]; then
		kill -KILL $_left 2>/dev/null
		wait_for 5 all_dead $_left
	fi
	bench_rm_dir
	exit $_rc
}

ready() {
	[ "$(http_code /hello)" = 200 ] &&
	    [ "$(http_code /app/health)" = 200 ] &&
	    [ "$(http_code /starts/health)" = 200 ] &&
	    { ! part procs || [ "$(http_code /starts8/health)" = 200 ]; }
}

job_final() {
	[ "$(http_code "/app/jobs/$JOB" -H "$ACCEPT")" = 200 ]
}

# build NAME: $DIR/bin/NAME from tests/bench/NAME.c, unless $2 names a
# built one.
build() {
	if [ -n "$2" ]; then
		cp "$2" "$DIR/bin/$1" || die "cannot copy $2"
		return 0
	fi
	build_fcgi "$DIR/bin/$1" "$top_srcdir/tests/bench/$1.c" ||
	    die "cannot build tests/bench/$1.c (or give a built $1)"
}

# ---------------------------------------------------------------- the site

for _c in lighttpd wrk curl awk; do
	command -v "$_c" >/dev/null || die "$_c is not installed"
done
if part syncs; then
	command -v strace >/dev/null || die "strace is not installed"
fi
[ -x "$SPOOLCGI_BIN" ] || die "no $SPOOLCGI_BIN: run make app/spoolcgi first"

bench_tmpdir spoolcgi-bench || die "mktemp failed"
bench_traps
mkdir -p "$DIR/bin" "$DIR/htdocs" "$DIR/spool" "$DIR/spool-starts" \
    "$DIR/floor" "$DIR/log" "$DIR/run" "$DIR/tmp" "$DIR/t" ||
    die "cannot create $DIR"

cp -p "$SPOOLCGI_BIN" "$DIR/bin/spoolcgi" || die "cannot copy $SPOOLCGI_BIN"
# The same binary under a second name, so that the two sites' processes
# can be told apart in /proc.
cp -p "$SPOOLCGI_BIN" "$DIR/bin/spoolcgi-s" || die "cannot copy $SPOOLCGI_BIN"
BIN_DATE=$(date -u -r "$DIR/bin/spoolcgi" '+%Y-%m-%d %H:%M UTC')
BIN_SRC=$(git -C "$(dirname "$SPOOLCGI_BIN")" describe --always --dirty \
    2>/dev/null || echo unknown)
build hello "$HELLO_BIN"
# hello under two more names, so that the processes of "same" and "read"
# can be told apart in /proc (their CPU time is measured).
cp -p "$DIR/bin/hello" "$DIR/bin/hello-same" &&
    cp -p "$DIR/bin/hello" "$DIR/bin/hello-read" ||
    die "cannot copy $DIR/bin/hello"
build floor "$FLOOR_BIN"
# The poll's job: nothing to do, so the job is final at once.
printf '#!/bin/sh\n# bench: a task that finishes at once.\nexit 0\n' \
    >"$DIR/bin/bench-task"
chmod 755 "$DIR/bin/spoolcgi" "$DIR/bin/spoolcgi-s" "$DIR/bin/hello" \
    "$DIR/bin/hello-same" "$DIR/bin/hello-read" \
    "$DIR/bin/floor" "$DIR/bin/bench-task"

# write_config FILE SPOOL [KEYS]: a configuration with the two tasks; the
# spool lies outside the document root (spoolcgi refuses it inside).  No
# clean-up runs during the bench (it would add its own syncs).
write_config() {
	cat >"$1" <<EOF
{
  "spool": "$2",$3
  "gc_interval_seconds": 86400,
  "tasks": {
    "bench": {
      "title": "Finish at once",
      "command": ["$DIR/bin/bench-task"],
      "fields": {},
      "result_type": "text/plain; charset=utf-8",
      "timeout_seconds": 60
    },
$(bench_cat_task)
  }
}
EOF
	"$DIR/bin/spoolcgi" -t -c "$1" >/dev/null ||
	    die "spoolcgi refuses the configuration $1"
}
write_config "$DIR/spoolcgi.json" "$DIR/spool" ""
write_config "$DIR/spoolcgi-starts.json" "$DIR/spool-starts" '
  "max_running": 100000,
  "max_queued": 100000,'

if [ "$(id -u)" -eq 0 ]; then
	chmod 711 "$DIR"
	chown -R www-data:www-data "$DIR"/* ||
	    die "cannot chown $DIR to www-data"
fi

# wrk keeps its connections for the whole run; lighttpd closes one after
# 1000 requests by default.
write_lighttpd_conf() {
	{
		lighttpd_conf_head "$DIR" "$PORT" 10000000 tools/bench.sh
		echo "fastcgi.server = ("
		lighttpd_fcgi_site /app "$DIR/bin/spoolcgi" \
		    "$DIR/run/spoolcgi.sock" 2 SPOOLCGI_CONFIG "$DIR/spoolcgi.json"
		lighttpd_fcgi_site /starts "$DIR/bin/spoolcgi-s" \
		    "$DIR/run/spoolcgi-s.sock" 2 \
		    SPOOLCGI_CONFIG "$DIR/spoolcgi-starts.json"
		lighttpd_fcgi_site /hello "$DIR/bin/hello" "$DIR/run/hello.sock" 2
		lighttpd_fcgi_site /same "$DIR/bin/hello-same" \
		    "$DIR/run/same.sock" 2 HELLO_ANSWER "$DIR/poll.answer" \
		    HELLO_PLAIN_CLOSE 1
		lighttpd_fcgi_site /read "$DIR/bin/hello-read" "$DIR/run/read.sock" 2 \
		    HELLO_ANSWER "$DIR/poll.answer" HELLO_READ "$DIR/poll.status" \
		    HELLO_PLAIN_CLOSE 1
		lighttpd_fcgi_site /floor "$DIR/bin/floor" "$DIR/run/floor.sock" 2 \
		    FLOOR_DIR "$DIR/floor"
		if part procs; then
			lighttpd_fcgi_site /starts8 "$DIR/bin/spoolcgi-s" \
			    "$DIR/run/spoolcgi-s8.sock" 8 \
			    SPOOLCGI_CONFIG "$DIR/spoolcgi-starts.json"
			lighttpd_fcgi_site /floor8 "$DIR/bin/floor" \
			    "$DIR/run/floor8.sock" 8 FLOOR_DIR "$DIR/floor"
		fi
		echo ")"
	} >"$DIR/lighttpd.conf"
}

bench_lighttpd write_lighttpd_conf ready || die "$BENCH_WHY"
# Each variable reaches its processes (a second one once went missing).
for _p in $(backend_pids "$DIR/bin/hello-read"); do
	tr '\0' '\n' <"/proc/$_p/environ" | grep -q '^HELLO_READ=' ||
	    die "hello-read (pid $_p) was started without HELLO_READ"
done

# One job, polled until final (200; 202 while it is pending).
JOB=$(curl -s --max-time 10 -H "$ACCEPT" -d task=bench \
    "http://127.0.0.1:$PORT/app/jobs" |
    sed -n 's/.*"id": *"\([0-9a-f-]\{36\}\)".*/\1/p')
[ -n "$JOB" ] || die "POST /app/jobs gave no job id"
wait_for 20 job_final || die "job $JOB not final within 20 s"
POLL=/app/jobs/$JOB
# The job's status file, for "read" (resolved at its first request).
_st=$(find "$DIR/spool" -path "*/$JOB/status.json" 2>/dev/null | head -n 1)
[ -n "$_st" ] || die "job $JOB: no status.json in $DIR/spool"
ln -s "$_st" "$DIR/poll.status" || die "cannot link $DIR/poll.status"

# The poll's answer as spoolcgi writes it (CGI mode, the request lighttpd
# would pass), for "same" to send verbatim.
as_site() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u www-data -- "$@"; else "$@"; fi
}
as_site env -i GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
    SCRIPT_NAME=/app PATH_INFO="/jobs/$JOB" QUERY_STRING= \
    HTTP_ACCEPT=application/json HTTP_HOST="127.0.0.1:$PORT" \
    SERVER_NAME=127.0.0.1 SERVER_PORT="$PORT" REMOTE_ADDR=127.0.0.1 \
    SPOOLCGI_CONFIG="$DIR/spoolcgi.json" "$DIR/bin/spoolcgi" \
    </dev/null >"$DIR/poll.answer" 2>"$DIR/poll.answer.err" ||
    die "spoolcgi in CGI mode failed: $(cat "$DIR/poll.answer.err")"

# Each answer once, by hand: status, type and size.
HELLO_DESC=$(describe /hello)
POLL_DESC=$(describe "$POLL")
SAME_DESC=$(describe /same)
READ_DESC=$(describe /read)
START_DESC=$(describe /starts/jobs -d "$JOB_BODY")
FLOOR_DESC=$(describe /floor -d "$JOB_BODY")
case $HELLO_DESC in "200 application/json "*) ;;
*) die "GET /hello answered: $HELLO_DESC" ;; esac
case $POLL_DESC in "200 application/json "*) ;;
*) die "GET $POLL answered: $POLL_DESC" ;; esac
[ "$SAME_DESC" = "$POLL_DESC" ] ||
    die "GET /same answered $SAME_DESC, the poll $POLL_DESC"
[ "$READ_DESC" = "$POLL_DESC" ] ||
    die "GET /read answered $READ_DESC, the poll $POLL_DESC"
case $START_DESC in "202 application/json"*) ;;
*) die "POST /starts/jobs answered: $START_DESC" ;; esac
case $FLOOR_DESC in "202 application/json "*) ;;
*) die "POST /floor answered: $FLOOR_DESC" ;; esac

# ---------------------------------------------------------------- load

# wrk_p99 NAME: the 99th percentile of latency in ms from the --latency
# distribution of run NAME.
wrk_p99() {
	awk '$1 == "99%" {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000
		else if (u == "m") v *= 60000
		printf "%.1f\n", v; found = 1
	} END { if (!found) exit 1 }' "$DIR/wrk.$1.out"
}

runs() { tr '\n' ' ' <"$1" | sed 's/ $//; s/ /, /g'; }

BUSY_BEFORE=$(cpu_busy)
say "lighttpd on 127.0.0.1:$PORT in $DIR; parts:$PARTS"

# wrk_round NAME PATH ROUND [WRK_ARGS...]: one measured wrk run, its req/s
# appended to $DIR/NAME.rps, (with --latency) its p99 to $DIR/NAME.p99 and
# how busy the CPUs were to $DIR/NAME.cpu.  A run of starts waits until
# the jobs of the last one are done.
wrk_round() {
	local _n=$1 _p=$2 _r=$3 _v _c
	shift 3
	case $_p in /starts*|/floor*) wait_starts_idle ;; esac
	_c=$(cpu_snap)
	_v=$(run_wrk "$_n.$_r" "$_p" "$SECONDS_" "$@") || exit 1
	cpu_pct "$_c" "$(cpu_snap)" >>"$DIR/$_n.cpu"
	echo "$_v" >>"$DIR/$_n.rps"
	wrk_p99 "$_n.$_r" >>"$DIR/$_n.p99" 2>/dev/null
	say "round $_r $_n: $_v req/s$(tail -n 1 "$DIR/$_n.p99" |
	    sed 's/^/, p99 /; s/$/ ms/')"
}

# interleave NAME1 PATH1 NAME2 PATH2 [WRK_ARGS...]: ROUNDS measured runs of
# each, alternating which goes first so that a drift in the machine's
# speed favours neither.
interleave() {
	local _r=0 _a=$1 _pa=$2 _b=$3 _pb=$4
	shift 4
	: >"$DIR/$_a.rps"; : >"$DIR/$_b.rps"
	: >"$DIR/$_a.p99"; : >"$DIR/$_b.p99"
	: >"$DIR/$_a.cpu"; : >"$DIR/$_b.cpu"
	while [ "$_r" -lt "$ROUNDS" ]; do
		_r=$((_r + 1))
		if [ $((_r % 2)) -eq 1 ]; then
			wrk_round "$_a" "$_pa" "$_r" "$@"
			wrk_round "$_b" "$_pb" "$_r" "$@"
		else
			wrk_round "$_b" "$_pb" "$_r" "$@"
			wrk_round "$_a" "$_pa" "$_r" "$@"
		fi
	done
}

# wait_starts_idle: the /starts site has no job queued or running, and no
# supervisor or task of it is left, so a run starts on a quiet machine.
wait_starts_idle() {
	wait_for 120 health_idle /starts ||
	    die "the /starts jobs did not finish within 120 s"
	wait_for 30 no_site_pids ||
	    die "supervisors or tasks still run after 30 s: $(site_pids)"
}

# ------------------------------------------------ (e) poll against hello

# median_ratio A B: the median of the ratios A/B, round by round.
median_ratio() {
	paste -d ' ' "$DIR/$1.rps" "$DIR/$2.rps" |
	    awk '{ printf "%.3f\n", $1 / $2 }' | median |
	    awk '{ printf "%.2f\n", $1 }'
}

# round_ratios A B: the ratios A/B of each round, "0.91, 0.88, ...".
round_ratios() {
	paste -d ' ' "$DIR/$1.rps" "$DIR/$2.rps" | awk '
		{ r = r sep sprintf("%.2f", $1 / $2); sep = ", " }
		END { print r }'
}

# cpu_ticks BIN: "USER SYSTEM", the clock ticks its backends have run.
cpu_ticks() {
	local _p _s _u=0 _k=0
	for _p in $(backend_pids "$1"); do
		_s=$(cat "/proc/$_p/stat" 2>/dev/null) || continue
		_s=${_s##*) }
		# utime and stime: the 14th and 15th fields, 12th and 13th here.
		set -- $_s
		_u=$((_u + ${12})); _k=$((_k + ${13}))
	done
	echo "$_u $_k"
}

# poll_round NAME PATH BIN R: round R of NAME (wrk_round), and the CPU
# time BIN's backends took for it, added up in $DIR/NAME.ticks as "user
# system requests".
poll_round() {
	local _t0 _t1 _n
	_t0=$(cpu_ticks "$3")
	wrk_round "$1" "$2" "$4"
	_t1=$(cpu_ticks "$3")
	_n=$(awk '/requests in/ { print $1 }' "$DIR/wrk.$1.$4.out")
	echo "$_t0 $_t1 ${_n:-0}" | awk '{ print $3 - $1, $4 - $2, $5 }' \
	    >>"$DIR/$1.ticks"
}

# cpu_per_request NAME: "USER / SYSTEM" microseconds of CPU the backends
# took per request of NAME, over all its rounds.
cpu_per_request() {
	awk -v hz="$(getconf CLK_TCK)" '
		{ u += $1; k += $2; n += $3 }
		END {
			if (n == 0) { print "?"; exit }
			printf "%.1f / %.1f\n", u * 1e6 / hz / n, k * 1e6 / hz / n
		}' "$DIR/$1.ticks"
}

if part poll; then
	POLL_ROUNDS=${BENCH_POLL_ROUNDS:-10}
	POLL_SECONDS=${BENCH_POLL_SECONDS:-3}
	say "poll: wrk -t$THREADS -c$CONNS, $POLL_ROUNDS rounds of" \
	    "hello, same, read and the poll, ${POLL_SECONDS}s each"
	if [ "$WARMUP" -gt 0 ]; then
		run_wrk warm-hello /hello "$WARMUP" >/dev/null || exit 1
		run_wrk warm-same /same "$WARMUP" >/dev/null || exit 1
		run_wrk warm-read /read "$WARMUP" >/dev/null || exit 1
		run_wrk warm-poll "$POLL" "$WARMUP" >/dev/null || exit 1
	fi
	for _n in hello same read poll; do
		: >"$DIR/$_n.rps"; : >"$DIR/$_n.p99"; : >"$DIR/$_n.cpu"
		: >"$DIR/$_n.ticks"
	done
	_keep=$SECONDS_
	SECONDS_=$POLL_SECONDS
	_r=0
	while [ "$_r" -lt "$POLL_ROUNDS" ]; do
		_r=$((_r + 1))
		case $((_r % 4)) in
		1) _order="hello same read poll" ;;
		2) _order="same read poll hello" ;;
		3) _order="read poll hello same" ;;
		*) _order="poll hello same read" ;;
		esac
		for _n in $_order; do
			case $_n in
			hello) poll_round hello /hello "$DIR/bin/hello" "$_r" ;;
			same) poll_round same /same "$DIR/bin/hello-same" "$_r" ;;
			read) poll_round read /read "$DIR/bin/hello-read" "$_r" ;;
			poll) poll_round poll "$POLL" "$DIR/bin/spoolcgi" "$_r" ;;
			esac
		done
	done
	SECONDS_=$_keep
	HELLO_MED=$(median <"$DIR/hello.rps")
	SAME_MED=$(median <"$DIR/same.rps")
	READ_MED=$(median <"$DIR/read.rps")
	POLL_MED=$(median <"$DIR/poll.rps")
	POLL_RATIO=$(median_ratio poll hello)
	SAME_RATIO=$(median_ratio same hello)
	READ_RATIO=$(median_ratio read hello)
	POLL_SAME_RATIO=$(median_ratio poll same)
	POLL_READ_RATIO=$(median_ratio poll read)
fi

# ------------------------------------------------ (a) starts against floor

# starts_vs_floor N: the warm-ups and the measured runs of /floorN and
# /startsN/jobs ("" for the sites with two processes, 8 for procs).
starts_vs_floor() {
	if [ "$WARMUP" -gt 0 ]; then
		run_wrk "warm-floor$1" "/floor$1" "$WARMUP" -s "$DIR/post.lua" \
		    >/dev/null || exit 1
		wait_starts_idle
		run_wrk "warm-start$1" "/starts$1/jobs" "$WARMUP" \
		    -s "$DIR/post.lua" >/dev/null || exit 1
	fi
	interleave "floor$1" "/floor$1" "start$1" "/starts$1/jobs" \
	    -s "$DIR/post.lua" --latency
	wait_starts_idle
}

if part starts; then
	write_post_lua "$DIR/post.lua" "$JOB_BODY"
	say "starts: wrk -t$THREADS -c$CONNS --latency, $ROUNDS x" \
	    "${SECONDS_}s per URL, /bin/cat as the task"
	starts_vs_floor ""
	FLOOR_MED=$(median <"$DIR/floor.rps")
	START_MED=$(median <"$DIR/start.rps")
	FLOOR_P99=$(median <"$DIR/floor.p99")
	START_P99=$(median <"$DIR/start.p99")
fi

# ------------------------------------------ (a') eight processes against two

if part procs; then
	say "procs: the same with 8 FastCGI processes, $ROUNDS x" \
	    "${SECONDS_}s per URL"
	starts_vs_floor 8
	FLOOR8_MED=$(median <"$DIR/floor8.rps")
	START8_MED=$(median <"$DIR/start8.rps")
fi

# ------------------------------------------------ (b) POST to final status

if part latency; then
	say "latency: $LAT_JOBS jobs one at a time, POST with Prefer: wait=10"
	: >"$DIR/latency.ms"
	n=-3			# three unmeasured first
	while [ "$n" -lt "$LAT_JOBS" ]; do
		n=$((n + 1))
		out=$(curl -s -o "$DIR/t/lat.json" --max-time 15 \
		    -w '%{http_code} %{time_total}' -H "$ACCEPT" \
		    -H 'Prefer: wait=10' -d "$JOB_BODY" \
		    "http://127.0.0.1:$PORT/app/jobs")
		case $out in
		"200 "*) ;;
		*) die "POST /app/jobs with Prefer: wait answered $out" ;;
		esac
		grep -Eq '"state": *"succeeded"' "$DIR/t/lat.json" ||
		    die "a trivial job did not succeed: $(cat "$DIR/t/lat.json")"
		[ "$n" -gt 0 ] &&
		    awk -v s="${out#* }" 'BEGIN { printf "%.1f\n", s * 1000 }' \
		    >>"$DIR/latency.ms"
	done
	LAT_MED=$(median <"$DIR/latency.ms")
	LAT_P90=$(percentile 90 <"$DIR/latency.ms")
	LAT_UNDER20=$(awk '$1 <= 20 { n++ } END { print n + 0 }' \
	    "$DIR/latency.ms")
fi

# ------------------------------------------------ (c) a backlog

if part backlog; then
	wait_for 60 health_idle /app || die "/app is not idle"
	say "backlog: $BACKLOG jobs, 16 posts at a time, default max_running"
	bench_backlog app /app 120 "the backlog"
	BACKLOG_RATE=$(awk -v n="$BACKLOG" -v ms=$((BL_T1 - BL_T0)) \
	    'BEGIN { printf "%.1f\n", n * 1000 / ms }')
	BACKLOG_SECS=$(awk -v ms=$((BL_T1 - BL_T0)) \
	    'BEGIN { printf "%.1f", ms / 1000 }')
	BACKLOG_POST=$(awk -v ms=$((BL_POSTED - BL_T0)) \
	    'BEGIN { printf "%.1f", ms / 1000 }')
fi

# ------------------------------------------------ (d) syncs per job

# traced PID...: strace is attached to every PID.
traced() {
	local _p
	for _p; do
		awk '$1 == "TracerPid:" && $2 != 0 { ok = 1 }
		    END { exit !ok }' "/proc/$_p/status" 2>/dev/null ||
		    return 1
	done
}

# children_of PID: its live children.
children_of() {
	local _d _p
	for _d in /proc/[0-9]*; do
		_p=${_d#/proc/}
		[ "$(proc_ppid "$_p")" = "$1" ] && proc_alive "$_p" && echo "$_p"
	done
	return 0
}

# count_syncs NAME BINARY PATH: strace -f on the BINARY backends during
# SYNC_JOBS sequential starts on PATH, until every process those starts
# made has exited.  Sets SYNC_REQ and SYNC_ALL: the calls per job of the
# backends themselves and of every traced process.
count_syncs() {
	local _pids _sp _i=0 _out _id
	_pids=$(backend_pids "$DIR/bin/$2")
	[ -n "$_pids" ] || die "no $2 backend to trace"
	# The backends' spawners start the supervisors: trace them too
	# (they count in "all", not in the request).
	_sp=$(for _i in $_pids; do children_of "$_i"; done)
	_i=0
	wait_starts_idle
	strace -f -q -e trace=fsync,fdatasync -o "$DIR/strace.$1" \
	    $(printf -- '-p %s ' $_pids $_sp) 2>"$DIR/strace.$1.err" &
	STRACE_PID=$!
	wait_for 10 traced $_pids $_sp ||
	    die "strace did not attach to $_pids $_sp"
	: >"$DIR/sync.$1.ids"
	while [ "$_i" -lt "$SYNC_JOBS" ]; do
		_i=$((_i + 1))
		_out=$(curl -s --max-time 10 -H "$ACCEPT" -d "$JOB_BODY" \
		    -w ' %{http_code}' "http://127.0.0.1:$PORT$3")
		case $_out in *" 202") ;;
		*) die "POST $3 under strace answered: $_out" ;; esac
		echo "$_out" | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' \
		    >>"$DIR/sync.$1.ids"
	done
	# spoolcgi's jobs: final, then no supervisor or task left.  The
	# floor's: its tasks are /bin/cat of a few bytes.
	if [ "$2" = spoolcgi-s ]; then
		while read -r _id; do
			_out=$(curl -s --max-time 15 -H "$ACCEPT" \
			    -H 'Prefer: wait=10' \
			    "http://127.0.0.1:$PORT/starts/jobs/$_id")
			echo "$_out" | grep -Eq '"state": *"succeeded"' ||
			    die "job $_id under strace: $_out"
		done <"$DIR/sync.$1.ids"
	fi
	wait_for 30 no_site_pids || die "processes left under strace"
	kill -INT "$STRACE_PID"
	wait "$STRACE_PID"
	STRACE_PID=
	set -- $(awk -v pids=" $(echo $_pids) " -v n="$SYNC_JOBS" '
	$2 ~ /^(fsync|fdatasync)\(/ {
		all++
		if (index(pids, " " $1 " ")) req++
	}
	END { printf "%.1f %.1f\n", req / n, all / n }' "$DIR/strace.$1")
	SYNC_REQ=$1 SYNC_ALL=$2
}

if part syncs; then
	say "syncs: strace -f -e trace=fsync,fdatasync over $SYNC_JOBS starts"
	count_syncs floor floor /floor
	FLOOR_SYNC_REQ=$SYNC_REQ FLOOR_SYNC_ALL=$SYNC_ALL
	count_syncs start spoolcgi-s /starts/jobs
	START_SYNC_REQ=$SYNC_REQ START_SYNC_ALL=$SYNC_ALL
fi

# RSS after the load, of every backend of each kind.
rss_list() {
	local _p _out=
	for _p in $(backend_pids "$1"); do
		_out="$_out${_out:+, }$(rss_kb "$_p") kB"
	done
	echo "${_out:-?}"
}
SPOOLCGI_RSS=$(rss_list "$DIR/bin/spoolcgi")
HELLO_RSS=$(rss_list "$DIR/bin/hello")

# ---------------------------------------------------------------- report

echo "## spoolcgi against what the machine can do, one run"
echo
echo "| measure | spoolcgi | baseline | ratio |"
echo "| --- | --- | --- | --- |"
if part starts; then
	echo "| starts/s, $CONNS connections (median of $ROUNDS) |" \
	    "$START_MED | floor $FLOOR_MED | $(ratio "$START_MED" "$FLOOR_MED") |"
	echo "| start p99, ms (median of $ROUNDS) |" \
	    "$START_P99 | floor $FLOOR_P99 | $(ratio "$START_P99" "$FLOOR_P99") |"
fi
if part procs; then
	echo "| starts/s with 8 FastCGI processes |" \
	    "$START8_MED | floor $FLOOR8_MED | $(ratio "$START8_MED" "$FLOOR8_MED") |"
	echo "| starts/s, 8 processes against 2 |" \
	    "$(ratio "$START8_MED" "$START_MED") | floor" \
	    "$(ratio "$FLOOR8_MED" "$FLOOR_MED") | |"
fi
if part latency; then
	echo "| POST to final status, median ms ($LAT_JOBS jobs) |" \
	    "$LAT_MED | | |"
	echo "| POST to final status, 90th percentile ms |" \
	    "$LAT_P90 | | |"
	echo "| jobs final within 20 ms |" \
	    "$LAT_UNDER20 of $LAT_JOBS | | |"
fi
if part backlog; then
	echo "| backlog of $BACKLOG, jobs/s (default max_running) |" \
	    "$BACKLOG_RATE | | |"
fi
if part syncs; then
	echo "| syncs per job in the request |" \
	    "$START_SYNC_REQ | floor $FLOOR_SYNC_REQ |" \
	    "$(ratio "$START_SYNC_REQ" "$FLOOR_SYNC_REQ") |"
	echo "| syncs per job in all |" \
	    "$START_SYNC_ALL | floor $FLOOR_SYNC_ALL |" \
	    "$(ratio "$START_SYNC_ALL" "$FLOOR_SYNC_ALL") |"
fi
if part poll; then
	echo "| polls/s, $CONNS connections (median of $POLL_ROUNDS rounds;" \
	    "ratio: median of the rounds') |" \
	    "$POLL_MED | hello $HELLO_MED | $POLL_RATIO |"
	echo "| the poll's answer sent verbatim by hello (\"same\") |" \
	    "$SAME_MED | hello $HELLO_MED | $SAME_RATIO |"
	echo "| polls/s against \"same\": the cost of making the answer |" \
	    "$POLL_MED | same $SAME_MED | $POLL_SAME_RATIO |"
	echo "| \"same\" reading the status file too (\"read\") |" \
	    "$READ_MED | hello $HELLO_MED | $READ_RATIO |"
	echo "| polls/s against \"read\": the work beyond reading the file |" \
	    "$POLL_MED | read $READ_MED | $POLL_READ_RATIO |"
fi
echo

if part starts; then
	echo "| what | URL | answer | runs (req/s) | p99 per run (ms) |" \
	    "CPUs busy per run |"
	echo "| --- | --- | --- | --- | --- | --- |"
	# run_row NAME WHAT URL ANSWER: a row of the runs of NAME.
	run_row() {
		echo "| $2 | POST $3 | $4 | $(runs "$DIR/$1.rps") |" \
		    "$(runs "$DIR/$1.p99") | $(runs "$DIR/$1.cpu") |"
	}
	run_row floor "floor (libfcgi)" /floor "${FLOOR_DESC#202 } B"
	run_row start "spoolcgi start" /starts/jobs "${START_DESC#202 } B"
	if part procs; then
		run_row floor8 "floor, 8 processes" /floor8 ""
		run_row start8 "spoolcgi start, 8 processes" /starts8/jobs ""
	fi
	echo
	echo "start/floor per round: $(round_ratios start floor)"
	echo
fi
if part backlog; then
	echo "backlog: $BACKLOG jobs posted in $BACKLOG_POST s, all" \
	    "succeeded after $BACKLOG_SECS s"
	echo
fi
if part poll; then
	echo "| what | URL | answer | runs (req/s) | median req/s |" \
	    "FastCGI CPU per request, user / system (us) | RSS per process |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	echo "| hello (libfcgi) | GET /hello |" \
	    "${HELLO_DESC#200 application/json } B JSON |" \
	    "$(runs "$DIR/hello.rps") | $HELLO_MED |" \
	    "$(cpu_per_request hello) | $HELLO_RSS |"
	echo "| same (hello, the poll's answer) | GET /same |" \
	    "${SAME_DESC#200 application/json } B JSON |" \
	    "$(runs "$DIR/same.rps") | $SAME_MED |" \
	    "$(cpu_per_request same) | |"
	echo "| read (same, and the status file read) | GET /read |" \
	    "${READ_DESC#200 application/json } B JSON |" \
	    "$(runs "$DIR/read.rps") | $READ_MED |" \
	    "$(cpu_per_request read) | |"
	echo "| spoolcgi poll | GET /app/jobs/{id} |" \
	    "${POLL_DESC#200 application/json } B JSON |" \
	    "$(runs "$DIR/poll.rps") | $POLL_MED |" \
	    "$(cpu_per_request poll) | $SPOOLCGI_RSS |"
	echo
	# The runs of a round were back to back, so a load that came and
	# went (other users of the machine) shows in the rounds' ratios.
	echo "poll/hello per round: $(round_ratios poll hello);" \
	    "median $POLL_RATIO (of the medians: $(ratio "$POLL_MED" \
	    "$HELLO_MED"))"
	echo "same/hello per round: $(round_ratios same hello);" \
	    "median $SAME_RATIO"
	echo "poll/same per round: $(round_ratios poll same);" \
	    "median $POLL_SAME_RATIO"
	echo "read/hello per round: $(round_ratios read hello);" \
	    "median $READ_RATIO"
	echo "poll/read per round: $(round_ratios poll read);" \
	    "median $POLL_READ_RATIO"
	echo
fi
machine_desc
echo "(lighttpd $LIGHTTPD_VERSION, bin-path, max-procs 2 each but /starts8" \
    "and /floor8 (8); wrk -t$THREADS -c$CONNS; starts $ROUNDS x" \
    "${SECONDS_}s per URL, interleaved; polls ${POLL_ROUNDS:-0} rounds of" \
    "${POLL_SECONDS:-0}s per URL;" \
    "$MACHINE" \
    "spool on $(df -T "$DIR" | awk 'NR == 2 { print $2 }'))"
echo "(CPU busy in the second before the runs: $BUSY_BEFORE, after:" \
    "$(cpu_busy); other work on the machine widens the spread)"
# Which spoolcgi this was: others may rebuild it while we run, so the
# copy we served is the one described.
echo "(spoolcgi: $SPOOLCGI_BIN, sha256 $(sha256sum "$DIR/bin/spoolcgi" |
    cut -c1-12), built $BIN_DATE;" \
    "its tree's git commit at the start: $BIN_SRC)"

# ---------------------------------------------------------------- profile

# perf_count NAME PATH BINARY: user and kernel instructions per request of
# the BINARY backends during one wrk run on PATH.
perf_count() {
	local _pids _reqs
	_pids=$(backend_pids "$3" | tr '\n' ',' | sed 's/,$//')
	[ -n "$_pids" ] || die "no $3 process to count"
	perf stat -x, -e instructions:u,instructions:k -p "$_pids" \
	    -o "$DIR/perf.$1.stat" -- sleep $((SECONDS_ + 1)) &
	run_wrk "perf.$1" "$2" "$SECONDS_" >/dev/null || exit 1
	wait $!
	_reqs=$(awk '/requests in/ { print $1 }' "$DIR/wrk.perf.$1.out")
	awk -F, -v n="$_reqs" -v what="$1" '
	$3 ~ /^instructions/ { v[$3] = $1 }
	END {
		printf "| %s | %d | %.0f | %.0f |\n", what, n,
		    v["instructions:u"] / n, v["instructions:k"] / n
	}' "$DIR/perf.$1.stat"
}

if part storm; then
	say "storm: ${BENCH_STORM:-1000} starts, kills at random (tests/e2e/storm.test)"
	t0=$(ms_now)
	STORM_STARTS=${BENCH_STORM:-1000} STORM_SECONDS=150 \
	    top_srcdir=$(pwd) top_builddir=$(pwd) \
	    sh tests/e2e/storm.test >"$DIR/storm.tap" 2>&1
	storm_rc=$?
	t1=$(ms_now)
	echo
	echo "kill storm: $(grep -c '^ok' "$DIR/storm.tap") checks passed," \
	    "$(grep -c '^not ok' "$DIR/storm.tap") failed, in" \
	    "$(((t1 - t0) / 1000)) s (exit $storm_rc)"
	grep '^# ' "$DIR/storm.tap" | grep -i 'storm:\|start\|kill' | head -n 8
	grep -A3 '^not ok' "$DIR/storm.tap" | head -n 40
fi

if part pg; then
	say "pg: tools/bench-pg.sh, its own lighttpd and PostgreSQL"
	echo
	SPOOLCGI_BIN=$SPOOLCGI_BIN HELLO_BIN=$DIR/bin/hello \
	    sh "$top_srcdir/tools/bench-pg.sh" || exit 1
fi

if [ "${BENCH_PERF:-0}" = 1 ]; then
	perf stat -e instructions true >/dev/null 2>&1 ||
	    die "BENCH_PERF=1, but perf cannot count instructions here"
	echo
	echo "Instructions per request in the FastCGI processes" \
	    "(perf stat, one ${SECONDS_}s wrk run each):"
	echo
	echo "| backend | requests | user | kernel |"
	echo "| --- | --- | --- | --- |"
	perf_count hello /hello "$DIR/bin/hello"
	perf_count spoolcgi "$POLL" "$DIR/bin/spoolcgi"
	pids=$(backend_pids "$DIR/bin/spoolcgi" | tr '\n' ',' | sed 's/,$//')
	perf record -q -g -p "$pids" -o "$DIR/perf.data" -- \
	    sleep $((SECONDS_ + 1)) >/dev/null 2>&1 &
	perf_pid=$!
	run_wrk perf.record "$POLL" "$SECONDS_" >/dev/null || exit 1
	wait "$perf_pid"
	echo
	echo "perf record of the spoolcgi processes under GET /app/jobs/{id}" \
	    "(self time, top 30):"
	echo
	perf report -i "$DIR/perf.data" --stdio --no-children \
	    --sort dso,symbol -g none 2>/dev/null |
	    grep -v '^#' | grep -v '^$' | head -n 30
fi
exit 0
