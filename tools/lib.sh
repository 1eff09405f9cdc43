# tools/lib.sh: shell helpers shared by tests/lib.sh (the end-to-end tests),
# tools/bench.sh, tools/bench-pg.sh and tools/demo.sh.  POSIX sh plus
# "local" (dash, bash); safe under "set -eu".  Sourced, never run; it
# defines functions only.
#
#   time       now_cs, wait_for SECONDS CMD..., wait_while_alive PID SECONDS CMD...
#   processes  proc_state, proc_ppid, proc_alive, all_dead, all_alive
#   the site   free_port, lighttpd_user_lines, url_code URL [CURL_ARGS...],
#              lighttpd_conf_head DIR PORT KEEPALIVE WHO,
#              lighttpd_fcgi_site MOUNT BIN SOCKET PROCS [VAR VALUE]
#   benches    median, percentile P, ratio A B, cpu_busy, cpu_snap, cpu_pct,
#              wrk_rps FILE WHAT,
#              build_fcgi OUT SRC, bench_settings SECONDS, bench_tmpdir
#              NAME, bench_cat_task, bench_traps, bench_rm_dir,
#              bench_lighttpd WRITE_CONF READY, http_code, health_idle,
#              describe, run_wrk, write_post_lua FILE, ms_now,
#              bench_backlog NAME BASE SECONDS WHAT, machine_desc
#              (tools/bench.sh, tools/bench-pg.sh)
#
# Synchronisation is a poll of a condition with a deadline; the only sleeps
# are the short pauses inside those polls.

# now_cs: a monotonic clock (seconds since boot) in centiseconds.
now_cs() {
	local _up _rest
	read -r _up _rest </proc/uptime
	echo "${_up%.*}${_up#*.}"
}

# wait_for SECONDS CMD [ARGS...]: runs CMD every 0.1 s until it succeeds
# (returns 0) or SECONDS have passed (returns 1, having tried once more).
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

# wait_while_alive PID SECONDS CMD [ARGS...]: runs CMD every 0.1 s until it
# succeeds (returns 0), while PID lives: returns 1 once PID has died (a
# server that exited at start), 2 once SECONDS have passed.
wait_while_alive() {
	local _pid=$1 _limit
	_limit=$(($(now_cs) + $2 * 100))
	shift 2
	while :; do
		"$@" && return 0
		proc_alive "$_pid" || return 1
		[ "$(now_cs)" -lt "$_limit" ] || return 2
		sleep 0.1
	done
}

# proc_state PID: the state letter from /proc/PID/stat (R, S, Z, ...);
# fails if there is no such process.  The command name may hold spaces or
# parentheses, so the fields are read after the last ") ".
proc_state() {
	local _s
	_s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	_s=${_s##*) }
	echo "${_s%% *}"
}

# proc_ppid PID: the parent's pid; fails if there is no such process.
proc_ppid() {
	local _s
	_s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	_s=${_s##*) }
	set -- $_s
	echo "$2"
}

# proc_alive PID: exists and is neither a zombie nor dead.  kill -0 is no
# test: it succeeds on a zombie, and an orphan's zombie can wait seconds for
# PID 1 to reap it on some hosts.
proc_alive() {
	case $(proc_state "$1") in
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

all_alive() {
	local _p
	for _p; do
		proc_alive "$_p" || return 1
	done
	return 0
}

# free_port: a TCP port nobody listens on (nor uses) right now.  Another
# program may take it before the caller binds it: callers retry on "in use".
# It is drawn from below the kernel's ephemeral range (ip_local_port_range,
# 32768-60999 by default) where there is room: the tests run side by side,
# and each of their clients' connections takes a port from that range,
# which a server about to bind there (PostgreSQL after its initdb, Apache
# after its start-up) can lose to them.
free_port() {
	local _n _p _hex _lo _hi _base _span
	_base=30000 _span=20000
	# Read whole: a sysctl file read a byte at a time (dash's read)
	# ends after its first byte.
	_lo=$(cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	_hi=${_lo##*[!0-9]} _lo=${_lo%%[!0-9]*}
	if [ -n "$_lo" ] && [ -n "$_hi" ]; then
		if [ "$_lo" -ge 12000 ]; then
			_base=10000 _span=$((_lo - 10000))
		elif [ "$_hi" -le 63000 ]; then
			_base=$((_hi + 1)) _span=$((65535 - _hi))
		fi
	fi
	_n=0
	while [ "$_n" -lt 200 ]; do
		_n=$((_n + 1))
		_p=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		_p=$((_p % _span + _base))
		_hex=$(printf '%04X' "$_p")
		grep -q ":$_hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null ||
		    { echo "$_p"; return 0; }
	done
	return 1
}

# lighttpd_user_lines: as root, the lines of a lighttpd configuration that
# make it drop to www-data (it refuses to run as root otherwise); nothing
# for other users.  lighttpd opens server.errorlog after dropping
# privileges, so the log's directory must belong to www-data too.
lighttpd_user_lines() {
	[ "$(id -u)" -eq 0 ] || return 0
	printf '%s\n' 'server.username = "www-data"' \
	    'server.groupname = "www-data"'
}

# lighttpd_conf_head DIR PORT KEEPALIVE WHO: the server.* lines of a
# lighttpd configuration (written by WHO) for the site in DIR (htdocs,
# run, log, tmp below it) on 127.0.0.1:PORT, with mod_fastcgi, a
# connection kept for KEEPALIVE requests, and lighttpd_user_lines.
lighttpd_conf_head() {
	cat <<EOF
# Generated by $4.
server.modules = ("mod_fastcgi")
server.document-root = "$1/htdocs"
server.bind = "127.0.0.1"
server.port = $2
server.pid-file = "$1/run/lighttpd.pid"
server.errorlog = "$1/log/error.log"
server.upload-dirs = ("$1/tmp")
server.max-keep-alive-requests = $3
EOF
	lighttpd_user_lines
}

# lighttpd_fcgi_site MOUNT BIN SOCKET PROCS [VAR VALUE]...: one entry of
# fastcgi.server: MOUNT served by PROCS processes of BIN (bin-path) on
# SOCKET, with each VAR=VALUE given in their environment.
lighttpd_fcgi_site() {
	local _sep=
	printf '\t"%s" => ((\n' "$1"
	printf '\t\t"bin-path" => "%s",\n' "$2"
	printf '\t\t"socket" => "%s",\n' "$3"
	printf '\t\t"max-procs" => %s,\n' "$4"
	printf '\t\t"check-local" => "disable",\n'
	shift 4
	if [ "$#" -ge 2 ]; then
		printf '\t\t"bin-environment" => ('
		while [ "$#" -ge 2 ]; do
			printf '%s"%s" => "%s"' "$_sep" "$1" "$2"
			_sep=', '
			shift 2
		done
		printf '),\n'
	fi
	printf '\t)),\n'
}

# url_code URL [CURL_ARGS...]: the status code of one request, "000" when
# no answer came within 5 s.
url_code() {
	local _url=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$_url" \
	    2>/dev/null
}

# ---------------------------------------------------------------- benches

# median: the middle of the numbers on stdin (the lower middle if even).
median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# percentile P: the P-th percentile (nearest rank) of the numbers on stdin.
percentile() {
	sort -n | awk -v p="$1" '{ v[NR] = $1 } END {
		r = int(p / 100 * NR); if (r < p / 100 * NR) r++
		if (r < 1) r = 1
		print v[r]
	}'
}

# ratio A B: A/B with two decimals, "?" if B is not a positive number.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (b + 0 > 0) printf "%.2f\n", a / b; else print "?"
	}'
}

# cpu_busy: percentage of all CPUs' time spent busy over the next second
# (from /proc/stat), to tell a quiet machine from a shared, busy one.
cpu_busy() {
	local _a
	_a=$(cpu_snap)
	sleep 1
	cpu_pct "$_a" "$(cpu_snap)"
}

# cpu_snap: the machine's CPU times now (the "cpu" line of /proc/stat).
cpu_snap() {
	sed -n 's/^cpu  //p' /proc/stat
}

# cpu_pct A B: how busy the CPUs were between snapshots A and B, "N%".
cpu_pct() {
	echo "$1 $2" | awk '{
		for (i = 1; i <= 8; i++) {
			t += $(i + 10) - $i
			if (i == 4 || i == 5) idle += $(i + 10) - $i
		}
		printf "%.0f%%\n", t ? 100 * (t - idle) / t : 0
	}'
}

# wrk_rps FILE WHAT: the req/s of the wrk output in FILE, or a message
# naming WHAT on stderr and status 1 when a request got a non-2xx/3xx
# answer, a socket error happened, or no request completed.
wrk_rps() {
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
	}' "$1"
}

# build_fcgi OUT SRC: compile the libfcgi program SRC (tests/bench/*.c)
# into OUT with gcc -O2.  Returns gcc's status (1 without gcc).
build_fcgi() {
	command -v gcc >/dev/null || { echo "gcc is not installed" >&2; return 1; }
	# Unquoted on purpose: pkg-config prints several words.
	gcc -O2 -o "$1" "$2" \
	    $(pkg-config --cflags --libs fcgi 2>/dev/null || echo -lfcgi)
}

# The rest serves the benches: each sets DIR (its temporary directory,
# the site's in DIR/htdocs, DIR/log, DIR/run), PORT (once lighttpd runs),
# THREADS, CONNS and ACCEPT (bench_settings), and defines say (a message
# on stderr) and die (say, then exit 1).

# ms_now: wall-clock milliseconds, for intervals measured here.
ms_now() {
	date +%s%3N
}

# bench_settings SECONDS: the settings the benches read from the
# environment (their headers list them; BENCH_SECONDS defaults to
# SECONDS), the job every start posts, and the state cleanup reads.
bench_settings() {
	SPOOLCGI_BIN=${SPOOLCGI_BIN:-$top_builddir/app/spoolcgi}
	HELLO_BIN=${HELLO_BIN:-}
	SECONDS_=${BENCH_SECONDS:-$1}
	ROUNDS=${BENCH_ROUNDS:-3}
	THREADS=${BENCH_THREADS:-2}
	CONNS=${BENCH_CONNS:-16}
	WARMUP=${BENCH_WARMUP:-2}
	BACKLOG=${BENCH_BACKLOG:-400}
	ACCEPT='Accept: application/json'
	# Small, urlencoded, as a browser form posts it; for the task "cat".
	JOB_BODY='task=cat&text=hello+bench'
	DIR=
	LIGHTTPD_PID=
	PORT=
}

# bench_tmpdir NAME: DIR, a new temporary directory NAME.XXXXXX, its
# physical path (the benches find their processes by it in /proc).
bench_tmpdir() {
	DIR=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") &&
	    DIR=$(cd "$DIR" && pwd -P)
}

# bench_cat_task: the task "cat" of a spoolcgi configuration, the last of
# its "tasks": /bin/cat copies its input, the job's JSON, to the result.
bench_cat_task() {
	cat <<EOF
    "cat": {
      "title": "Copy the input",
      "command": ["/bin/cat"],
      "fields": {"text": {"type": "text", "required": false}},
      "result_type": "application/json",
      "timeout_seconds": 60
    }
EOF
}

# bench_traps: the EXIT trap is the caller's cleanup; a signal (or output
# into a closed pipe, as with | head) exits through it, so that lighttpd
# is stopped.
bench_traps() {
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	trap 'exit 141' PIPE
}

# bench_rm_dir: removes $DIR, or keeps it (and says so) with KEEP_TMP=1.
bench_rm_dir() {
	[ -n "$DIR" ] || return 0
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		say "kept $DIR"
	else
		rm -rf "$DIR"
	fi
}

# bench_lighttpd WRITE_CONF READY: lighttpd -D -f $DIR/lighttpd.conf in
# the background (LIGHTTPD_PID), its output in $DIR/log/lighttpd.out, on a
# free PORT for which WRITE_CONF writes the configuration; returns 0 once
# READY succeeds.  A port taken since free_port chose it is retried (three
# tries).  Otherwise returns 1 with the reason in BENCH_WHY, having shown
# lighttpd's logs on stderr.
bench_lighttpd() {
	local _try=0 _rc
	while :; do
		_try=$((_try + 1))
		BENCH_WHY="lighttpd did not start (see above)"
		[ "$_try" -le 3 ] || return 1
		BENCH_WHY="no free port"
		PORT=$(free_port) || return 1
		"$1"
		lighttpd -D -f "$DIR/lighttpd.conf" </dev/null \
		    >>"$DIR/log/lighttpd.out" 2>&1 &
		LIGHTTPD_PID=$!
		_rc=0
		wait_while_alive "$LIGHTTPD_PID" 20 "$2" || _rc=$?
		[ "$_rc" -eq 0 ] && return 0
		if [ "$_rc" -eq 2 ]; then
			cat "$DIR/log/lighttpd.out" "$DIR/log/error.log" >&2 \
			    2>/dev/null
			BENCH_WHY="lighttpd not ready within 20 s"
			return 1
		fi
		wait "$LIGHTTPD_PID" 2>/dev/null
		LIGHTTPD_PID=
		grep -qs 'in use' "$DIR/log/lighttpd.out" "$DIR/log/error.log" &&
		    continue
		cat "$DIR/log/lighttpd.out" "$DIR/log/error.log" >&2 2>/dev/null
		BENCH_WHY="lighttpd exited at start"
		return 1
	done
}

# http_code PATH [CURL_ARGS...]: the status code of one request to the
# site ("000" when none came).
http_code() {
	local _path=$1
	shift
	url_code "http://127.0.0.1:$PORT$_path" "$@"
}

# health_idle BASE: /health of the spoolcgi site at BASE says no job is
# queued or running.
health_idle() {
	local _h
	_h=$(curl -s --max-time 5 "http://127.0.0.1:$PORT$1/health") &&
	    printf '%s\n' "$_h" | grep -Eq '"queued": *0[,} ]' &&
	    printf '%s\n' "$_h" | grep -Eq '"running": *0[,} ]'
}

# describe PATH [CURL_ARGS...]: the status, type and size of one answer.
describe() {
	local _path=$1
	shift
	curl -s -o /dev/null --max-time 5 -H "$ACCEPT" \
	    -w '%{http_code} %{content_type} %{size_download}' "$@" \
	    "http://127.0.0.1:$PORT$_path"
}

# run_wrk NAME PATH SECONDS [WRK_ARGS...]: one wrk run, its output in
# $DIR/wrk.NAME.out; prints its req/s, or fails (with wrk's output) on a
# non-2xx/3xx answer, a socket error or no request at all.
run_wrk() {
	local _out=$DIR/wrk.$1.out _path=$2 _s=$3
	shift 3
	wrk -t"$THREADS" -c"$CONNS" -d"$_s"s -H "$ACCEPT" "$@" \
	    "http://127.0.0.1:$PORT$_path" >"$_out" 2>&1 ||
	    { cat "$_out" >&2; say "wrk failed on $_path"; return 1; }
	wrk_rps "$_out" "$_path" || { cat "$_out" >&2; return 1; }
}

# write_post_lua FILE BODY: wrk's script for a form post of BODY asking
# for JSON.
write_post_lua() {
	cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = "$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
EOF
}

# bench_backlog NAME BASE SECONDS WHAT: BACKLOG jobs (JOB_BODY) posted
# to BASE/jobs, 16 at a time, each answered 202; done when /health says
# nothing is queued or running and every job says succeeded, within
# SECONDS.  Sets BL_T0, BL_POSTED and BL_T1: ms_now at the first POST,
# after the last answer, and at the /health answer that said done.  Its
# files are $DIR/bl.NAME*; WHAT names it in a message on failure.
bench_backlog() {
	local _n=$1 _b=$2 _s=$3 _what=$4 _i=0 _n202 _done _limit
	rm -rf "$DIR/bl.$_n"
	mkdir "$DIR/bl.$_n"
	while [ "$_i" -lt "$BACKLOG" ]; do
		_i=$((_i + 1))
		echo "url = \"http://127.0.0.1:$PORT$_b/jobs\""
		echo "output = \"$DIR/bl.$_n/$_i.json\""
	done >"$DIR/bl.$_n.curl"
	BL_T0=$(ms_now)
	curl -s --no-progress-meter --parallel --parallel-max 16 \
	    --max-time 60 -H "$ACCEPT" -d "$JOB_BODY" -w '%{http_code}\n' \
	    -K "$DIR/bl.$_n.curl" >"$DIR/bl.$_n.codes" ||
	    die "posting $_what failed"
	BL_POSTED=$(ms_now)
	_n202=$(grep -c '^202$' "$DIR/bl.$_n.codes")
	[ "$_n202" -eq "$BACKLOG" ] ||
	    die "$_what: $_n202 of $BACKLOG answered 202" \
	    "($(sort "$DIR/bl.$_n.codes" | uniq -c | tr '\n' ' '))"
	# Each answer is one line without a newline: one id per file.
	grep -hoE '"id": *"[0-9a-f-]{36}"' "$DIR/bl.$_n"/*.json |
	    sed 's/.*"\([0-9a-f-]*\)"$/\1/' | while read -r _i; do
		echo "url = \"http://127.0.0.1:$PORT$_b/jobs/$_i\""
	done >"$DIR/bl.$_n.get"
	_limit=$(($(now_cs) + _s * 100))
	while :; do
		while ! health_idle "$_b"; do
			[ "$(now_cs)" -lt "$_limit" ] ||
			    die "$_what did not finish within $_s s"
			sleep 0.02
		done
		BL_T1=$(ms_now)
		_done=$(curl -s -H "$ACCEPT" -K "$DIR/bl.$_n.get" |
		    grep -Eo '"state": *"succeeded"' | wc -l)
		[ "$_done" -eq "$BACKLOG" ] && break
		[ "$(now_cs)" -lt "$_limit" ] ||
		    die "$_what: $_done of $BACKLOG succeeded in $_s s"
	done
}

# machine_desc: lighttpd's version; the CPUs and the kernel, as the
# benches' tables name them.  Sets LIGHTTPD_VERSION and MACHINE.
machine_desc() {
	LIGHTTPD_VERSION=$(lighttpd -v 2>/dev/null |
	    sed -n 's/^lighttpd\/\([^ ]*\).*/\1/p')
	MACHINE="$(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' \
	    /proc/cpuinfo | head -n 1); kernel $(uname -r);"
}
