# tools/lib.sh: shell helpers shared by tests/lib.sh (the end-to-end tests),
# tools/bench.sh and tools/demo.sh.  POSIX sh plus "local" (dash, bash);
# safe under "set -eu".  Sourced, never run; it defines functions only.
#
#   time       now_cs, wait_for SECONDS CMD..., wait_while_alive PID SECONDS CMD...
#   processes  proc_state, proc_ppid, proc_alive, all_dead, all_alive
#   the site   free_port, lighttpd_user_lines, url_code URL [CURL_ARGS...]
#   benches    median, percentile P, ratio A B, cpu_busy, wrk_rps FILE WHAT,
#              build_fcgi OUT SRC (tools/bench.sh, tools/bench-pg.sh)
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
free_port() {
	local _n _p _hex
	_n=0
	while [ "$_n" -lt 200 ]; do
		_n=$((_n + 1))
		_p=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		_p=$((_p % 20000 + 30000))
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
