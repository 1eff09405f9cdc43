# tools/lib.sh: shell helpers shared by tests/lib.sh (the end-to-end tests),
# tools/bench.sh and tools/demo.sh.  POSIX sh plus "local" (dash, bash);
# safe under "set -eu".  Sourced, never run; it defines functions only.
#
#   time       now_cs, wait_for SECONDS CMD..., wait_while_alive PID SECONDS CMD...
#   processes  proc_state, proc_ppid, proc_alive, all_dead, all_alive
#   the site   free_port, lighttpd_user_lines, url_code URL [CURL_ARGS...]
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
