#!/bin/sh
# tools/bench.sh: throughput of spoolcgi's poll path, GET {base}/jobs/{id}
# (read the job's status.json, answer the status object in JSON), next to a
# hello-world libfcgi program (tests/bench/hello.c) under the same lighttpd,
# measured with wrk on loopback in one run and given as a ratio.  Numbers
# from different runs or machines are not comparable (NOTES.md: 10-20 %
# spread); the ratio is the result.
#
#	tools/bench.sh			(from the source tree, after "make")
#
# Environment:
#   SPOOLCGI_BIN     the spoolcgi binary (default: app/spoolcgi)
#   HELLO_BIN        a built hello (default: compile tests/bench/hello.c
#                    with gcc -O2 into the temporary directory)
#   BENCH_SECONDS    length of each measured wrk run (default 10)
#   BENCH_ROUNDS     measured runs per URL, interleaved (default 3)
#   BENCH_THREADS    wrk -t (default 2)
#   BENCH_CONNS      wrk -c (default 16)
#   BENCH_WARMUP     seconds of unmeasured load on each URL first (default 2)
#   BENCH_PERF       1: afterwards, count the instructions per request of
#                    both backends (perf stat), and profile the spoolcgi
#                    processes (perf record -g) during one more poll run
#                    and print the top of the report (needs a working perf)
#   KEEP_TMP         1: keep the temporary directory
#
# Runs as root or not.  As root, lighttpd drops to www-data and the site
# (binaries copied into it) belongs to www-data.  Exits 0 with a table and
# the ratio, or 1 when anything failed, including a wrk run with a non-2xx
# answer or a socket error.

set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
SPOOLCGI_BIN=${SPOOLCGI_BIN:-$top_builddir/app/spoolcgi}
HELLO_SRC=$top_srcdir/tests/bench/hello.c
HELLO_BIN=${HELLO_BIN:-}
SECONDS_=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNS:-16}
WARMUP=${BENCH_WARMUP:-2}
ACCEPT='Accept: application/json'

DIR=
LIGHTTPD_PID=
PORT=

die() {
	echo "bench: $*" >&2
	exit 1
}

# now_cs: a monotonic clock (seconds since boot) in centiseconds.
now_cs() {
	local _up _rest
	read -r _up _rest </proc/uptime
	echo "${_up%.*}${_up#*.}"
}

# wait_for SECONDS CMD [ARGS...]: runs CMD every 0.1 s until it succeeds,
# or fails once SECONDS have passed.
wait_for() {
	local _limit
	_limit=$(($(now_cs) + $1 * 100))
	shift
	while :; do
		"$@" && return 0
		[ "$(now_cs)" -lt "$_limit" ] || break
		sleep 0.1
	done
	"$@"
}

# proc_alive PID: exists and is not a zombie (kill -0 succeeds on zombies,
# which PID 1 reaps late here: NOTES.md).
proc_alive() {
	local _s
	_s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	_s=${_s##*) }
	case ${_s%% *} in
	''|Z|X|x) return 1 ;;
	esac
	return 0
}

all_dead() {
	local _p
	for _p; do
		proc_alive "$_p" && return 1
	done
	return 0
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

# rss_kb PID: VmRSS of PID in kB.
rss_kb() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null
}

# cpu_busy: percentage of all CPUs' time spent busy over the next second
# (from /proc/stat), to tell a quiet machine from a shared, busy one.
cpu_busy() {
	local _a _b
	_a=$(sed -n 's/^cpu  //p' /proc/stat)
	sleep 1
	_b=$(sed -n 's/^cpu  //p' /proc/stat)
	echo "$_a $_b" | awk '{
		for (i = 1; i <= 8; i++) {
			t += $(i + 10) - $i
			if (i == 4 || i == 5) idle += $(i + 10) - $i
		}
		printf "%.0f%%\n", t ? 100 * (t - idle) / t : 0
	}'
}

# free_port: a TCP port nobody listens on (nor uses) right now.
free_port() {
	local _n=0 _p
	while [ "$_n" -lt 200 ]; do
		_n=$((_n + 1))
		_p=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		_p=$((_p % 20000 + 30000))
		grep -q ":$(printf '%04X' "$_p") " /proc/net/tcp \
		    /proc/net/tcp6 2>/dev/null || { echo "$_p"; return 0; }
	done
	return 1
}

stop_lighttpd() {
	local _pids _p
	[ -n "$LIGHTTPD_PID" ] || return 0
	_pids="$LIGHTTPD_PID $(backend_pids "$DIR/bin/spoolcgi")
	    $(backend_pids "$DIR/bin/hello")"
	kill -TERM "$LIGHTTPD_PID" 2>/dev/null
	if ! wait_for 10 all_dead $_pids; then
		echo "bench: lighttpd or a backend outlived SIGTERM by 10 s;" \
		    "killing $_pids" >&2
		for _p in $_pids; do
			proc_alive "$_p" && kill -KILL "$_p" 2>/dev/null
		done
		wait_for 5 all_dead $_pids
	fi
	wait "$LIGHTTPD_PID" 2>/dev/null
	LIGHTTPD_PID=
}

cleanup() {
	local _rc=$?
	trap - EXIT
	stop_lighttpd
	if [ -n "$DIR" ]; then
		if [ "${KEEP_TMP:-0}" = 1 ]; then
			echo "bench: kept $DIR" >&2
		else
			rm -rf "$DIR"
		fi
	fi
	exit $_rc
}

# http_code PATH [CURL_ARGS...]: the status code of one request ("000"
# when none came).
http_code() {
	local _path=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" \
	    "http://127.0.0.1:$PORT$_path" 2>/dev/null
}

ready() {
	[ "$(http_code /hello)" = 200 ] &&
	    [ "$(http_code /app/health)" = 200 ]
}

job_final() {
	[ "$(http_code "/app/jobs/$JOB" -H "$ACCEPT")" = 200 ]
}

# ---------------------------------------------------------------- the site

for _c in lighttpd wrk curl awk; do
	command -v "$_c" >/dev/null || die "$_c is not installed"
done
[ -x "$SPOOLCGI_BIN" ] || die "no $SPOOLCGI_BIN: run make app/spoolcgi first"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/spoolcgi-bench.XXXXXX") ||
    die "mktemp failed"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# Output into a closed pipe (| head) must still stop lighttpd.
trap 'exit 141' PIPE
mkdir -p "$DIR/bin" "$DIR/htdocs" "$DIR/spool" "$DIR/log" "$DIR/run" \
    "$DIR/tmp" || die "cannot create $DIR"

cp -p "$SPOOLCGI_BIN" "$DIR/bin/spoolcgi" || die "cannot copy $SPOOLCGI_BIN"
BIN_DATE=$(date -u -r "$DIR/bin/spoolcgi" '+%Y-%m-%d %H:%M UTC')
BIN_SRC=$(git -C "$(dirname "$SPOOLCGI_BIN")" describe --always --dirty \
    2>/dev/null || echo unknown)
if [ -n "$HELLO_BIN" ]; then
	cp "$HELLO_BIN" "$DIR/bin/hello" || die "cannot copy $HELLO_BIN"
else
	command -v gcc >/dev/null ||
	    die "gcc is not installed (or set HELLO_BIN)"
	# Unquoted on purpose: pkg-config prints several words.
	gcc -O2 -o "$DIR/bin/hello" "$HELLO_SRC" \
	    $(pkg-config --cflags --libs fcgi 2>/dev/null || echo -lfcgi) ||
	    die "cannot build $HELLO_SRC"
fi
# The task: nothing to do, so the job is final at once.
printf '#!/bin/sh\n# bench: a task that finishes at once.\nexit 0\n' \
    >"$DIR/bin/bench-task"
chmod 755 "$DIR/bin/spoolcgi" "$DIR/bin/hello" "$DIR/bin/bench-task"

# The spool lies outside the document root (spoolcgi refuses it inside).
cat >"$DIR/spoolcgi.json" <<EOF
{
  "spool": "$DIR/spool",
  "tasks": {
    "bench": {
      "title": "Finish at once",
      "command": ["$DIR/bin/bench-task"],
      "fields": {},
      "result_type": "text/plain; charset=utf-8",
      "timeout_seconds": 60
    }
  }
}
EOF
"$DIR/bin/spoolcgi" -t -c "$DIR/spoolcgi.json" >/dev/null ||
    die "spoolcgi refuses the configuration $DIR/spoolcgi.json"

USER_CONF=
if [ "$(id -u)" -eq 0 ]; then
	USER_CONF='server.username = "www-data"
server.groupname = "www-data"'
	chmod 711 "$DIR"
	chown -R www-data:www-data "$DIR"/* ||
	    die "cannot chown $DIR to www-data"
fi

write_lighttpd_conf() {
	cat >"$DIR/lighttpd.conf" <<EOF
# Generated by tools/bench.sh.
server.modules = ("mod_fastcgi")
server.document-root = "$DIR/htdocs"
server.bind = "127.0.0.1"
server.port = $PORT
server.pid-file = "$DIR/run/lighttpd.pid"
server.errorlog = "$DIR/log/error.log"
server.upload-dirs = ("$DIR/tmp")
# wrk keeps its connections for the whole run (NOTES.md: default 1000).
server.max-keep-alive-requests = 10000000
$USER_CONF
fastcgi.server = (
	"/app" => ((
		"bin-path" => "$DIR/bin/spoolcgi",
		"socket" => "$DIR/run/spoolcgi.sock",
		"max-procs" => 2,
		"check-local" => "disable",
		"bin-environment" => ("SPOOLCGI_CONFIG" => "$DIR/spoolcgi.json"),
	)),
	"/hello" => ((
		"bin-path" => "$DIR/bin/hello",
		"socket" => "$DIR/run/hello.sock",
		"max-procs" => 2,
		"check-local" => "disable",
	)),
)
EOF
}

# Start lighttpd; a port taken since free_port chose it is retried.
try=0
while :; do
	try=$((try + 1))
	[ "$try" -le 3 ] || die "lighttpd did not start (see above)"
	PORT=$(free_port) || die "no free port"
	write_lighttpd_conf
	lighttpd -D -f "$DIR/lighttpd.conf" </dev/null \
	    >>"$DIR/log/lighttpd.out" 2>&1 &
	LIGHTTPD_PID=$!
	limit=$(($(now_cs) + 2000))
	while ! ready && proc_alive "$LIGHTTPD_PID" &&
	    [ "$(now_cs)" -lt "$limit" ]; do
		sleep 0.1
	done
	ready && break
	if proc_alive "$LIGHTTPD_PID"; then
		cat "$DIR/log/lighttpd.out" "$DIR/log/error.log" >&2 2>/dev/null
		die "lighttpd not ready within 20 s"
	fi
	wait "$LIGHTTPD_PID" 2>/dev/null
	LIGHTTPD_PID=
	grep -qs 'in use' "$DIR/log/lighttpd.out" "$DIR/log/error.log" &&
	    continue
	cat "$DIR/log/lighttpd.out" "$DIR/log/error.log" >&2 2>/dev/null
	die "lighttpd exited at start"
done

# One job, polled until final (200; 202 while it is pending).
JOB=$(curl -s --max-time 10 -H "$ACCEPT" -d task=bench \
    "http://127.0.0.1:$PORT/app/jobs" |
    sed -n 's/.*"id":"\([0-9a-f-]\{36\}\)".*/\1/p')
[ -n "$JOB" ] || die "POST /app/jobs gave no job id"
wait_for 20 job_final || die "job $JOB not final within 20 s"
POLL=/app/jobs/$JOB

# Both answers once, by hand: status, type and size.
describe() {
	curl -s -o /dev/null --max-time 5 -H "$ACCEPT" \
	    -w '%{http_code} %{content_type} %{size_download}' \
	    "http://127.0.0.1:$PORT$1"
}
HELLO_DESC=$(describe /hello)
POLL_DESC=$(describe "$POLL")
case $HELLO_DESC in "200 application/json "*) ;;
*) die "GET /hello answered: $HELLO_DESC" ;; esac
case $POLL_DESC in "200 application/json "*) ;;
*) die "GET $POLL answered: $POLL_DESC" ;; esac

# ---------------------------------------------------------------- load

# run_wrk NAME PATH SECONDS: one wrk run; prints its req/s, or fails
# (with wrk's output) on a non-2xx/3xx answer, a socket error or no
# request at all.
run_wrk() {
	local _out=$DIR/wrk.$1.out
	wrk -t"$THREADS" -c"$CONNS" -d"$3"s -H "$ACCEPT" \
	    "http://127.0.0.1:$PORT$2" >"$_out" 2>&1 ||
	    { cat "$_out" >&2; echo "bench: wrk failed on $2" >&2; return 1; }
	awk -v what="$2" '
	/^ *Socket errors:/ {
		n = $0; gsub(/[^0-9 ]/, " ", n); split(n, a, " ")
		for (i in a) if (a[i] + 0 > 0) bad = bad " socket errors:" $0
	}
	/^ *Non-2xx or 3xx responses:/ { if ($NF + 0 > 0) bad = bad " " $0 }
	/requests in/ { reqs = $1 }
	/^Requests\/sec:/ { rps = $2 }
	END {
		if (reqs + 0 == 0 || rps == "")
			bad = bad " no requests completed"
		if (bad != "") {
			printf "bench: %s:%s\n", what, bad > "/dev/stderr"
			exit 1
		}
		printf "%.0f\n", rps
	}' "$_out" || { cat "$_out" >&2; return 1; }
}

# median: the middle of the numbers on stdin (the lower middle if even).
median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

BUSY_BEFORE=$(cpu_busy)
echo "bench: lighttpd on 127.0.0.1:$PORT, job $JOB;" \
    "wrk -t$THREADS -c$CONNS, $ROUNDS x ${SECONDS_}s per URL" >&2
if [ "$WARMUP" -gt 0 ]; then
	run_wrk warm-hello /hello "$WARMUP" >/dev/null || exit 1
	run_wrk warm-poll "$POLL" "$WARMUP" >/dev/null || exit 1
fi
: >"$DIR/hello.rps"
: >"$DIR/poll.rps"
r=0
while [ "$r" -lt "$ROUNDS" ]; do
	r=$((r + 1))
	# Alternate which goes first, so a drift in the machine's speed
	# does not favour one side.
	if [ $((r % 2)) -eq 1 ]; then
		set -- hello /hello poll "$POLL"
	else
		set -- poll "$POLL" hello /hello
	fi
	while [ $# -gt 0 ]; do
		v=$(run_wrk "$1.$r" "$2" "$SECONDS_") || exit 1
		echo "$v" >>"$DIR/$1.rps"
		echo "bench: round $r $1: $v req/s" >&2
		shift 2
	done
done
HELLO_MED=$(median <"$DIR/hello.rps")
POLL_MED=$(median <"$DIR/poll.rps")

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

runs() { tr '\n' ' ' <"$1" | sed 's/ $//; s/ /, /g'; }
echo "| what | URL | answer | runs (req/s) | median req/s | RSS per process |"
echo "| --- | --- | --- | --- | --- | --- |"
echo "| hello (libfcgi) | GET /hello |" \
    "${HELLO_DESC#200 application/json } B JSON |" \
    "$(runs "$DIR/hello.rps") | $HELLO_MED | $HELLO_RSS |"
echo "| spoolcgi poll | GET /app/jobs/{id} |" \
    "${POLL_DESC#200 application/json } B JSON |" \
    "$(runs "$DIR/poll.rps") | $POLL_MED | $SPOOLCGI_RSS |"
echo
awk -v p="$POLL_MED" -v h="$HELLO_MED" 'BEGIN {
	printf "ratio poll/hello (of the medians): %.2f\n", p / h
}'
# The ratio within each round too: its two runs were back to back, so a
# load that came and went (other users of the machine) shows here.
paste -d ' ' "$DIR/poll.rps" "$DIR/hello.rps" | awk '
	{ r = r sep sprintf("%.2f", $1 / $2); sep = ", " }
	END { print "ratio per round: " r }'
echo "(lighttpd $(lighttpd -v 2>/dev/null |
    sed -n 's/^lighttpd\/\([^ ]*\).*/\1/p'), bin-path, max-procs 2 each;" \
    "wrk -t$THREADS -c$CONNS," \
    "$ROUNDS x ${SECONDS_}s per URL, interleaved; $(nproc) CPUs)"
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
