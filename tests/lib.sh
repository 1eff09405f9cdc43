# tests/lib.sh: helpers for the end-to-end tests (POSIX sh; /bin/sh is dash).
#
# Sourced by tests/e2e/*.test, after they have set top_srcdir and
# top_builddir (make check exports both).  It provides:
#
#   TAP        ok, ok_false, is, isnt, like, unlike, pass, fail, skip,
#              diag, diag_file,
#              bail_out, done_testing (prints the plan at the end and
#              returns 1 if any test failed)
#   time       now_cs, wait_for SECONDS CMD...  (poll with a deadline),
#              wait_while_alive PID SECONDS CMD...  (from tools/lib.sh)
#   processes  proc_alive, proc_state, proc_ppid, all_dead, all_alive
#              (from tools/lib.sh), children_of, fcgi_pids, job_task_pids,
#              zombies_of, site_pids
#   a site     setup_site, write_config, write_lighttpd_conf,
#              start_lighttpd, stop_lighttpd, cleanup (an EXIT trap)
#   HTTP       http METHOD PATH [CURL_ARGS...] -> $HTTP_STATUS, $HDR, $BODY;
#              header NAME, jget FILTER, jtest FILTER, start_json,
#              location_id, job_wait_final ID SECONDS
#
# Synchronisation is always a poll of a condition with a deadline; the only
# sleeps are the short pauses inside those polls.

: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

SPOOLCGI_BIN=${SPOOLCGI_BIN:-$top_builddir/app/spoolcgi}
REAPER=${REAPER:-$top_builddir/tests/reaper}
TASKS_SRC=$top_srcdir/tests/tasks
APP=/app				# SCRIPT_NAME of the FastCGI handler
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
TIME_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'

# The helpers shared with tools/bench.sh and tools/demo.sh: now_cs,
# wait_for, wait_while_alive, proc_state, proc_ppid, proc_alive, all_dead,
# all_alive, free_port, lighttpd_user_lines, url_code, lighttpd_conf_head,
# lighttpd_fcgi_site.
. "$top_srcdir/tools/lib.sh"

TAP_N=0
TAP_FAILED=0
TAP_TODO=
TESTDIR=
SITE=
REAPER_PID=
LIGHTTPD_PID=

# ---------------------------------------------------------------- TAP

# diag LINE...: TAP diagnostics, each argument (and each line within it)
# as a "# " line.
diag() {
	printf '%s\n' "$@" | sed 's/^/# /'
}

# diag_file FILE [LINES]: the last LINES (default 60) lines of FILE as
# diagnostics, with control characters made visible.
diag_file() {
	[ -f "$1" ] || { diag "($1: no such file)"; return 0; }
	diag "--- $1 (last ${2:-60} lines)"
	tail -n "${2:-60}" "$1" | LC_ALL=C sed 's/[^[:print:]\t]/?/g; s/^/#   /'
}

# tap_result STATUS DESCRIPTION: one test line; STATUS 0 passes.  While
# TAP_TODO is set, the line carries "# TODO $TAP_TODO": a known gap that
# the driver reports as XFAIL (and as XPASS, a failure, once fixed).
tap_result() {
	TAP_N=$((TAP_N + 1))
	# "#" would start a TAP directive; keep descriptions plain.
	set -- "$1" "$(printf '%s' "$2" | tr '#\n' '_ ')" ""
	[ -z "$TAP_TODO" ] || set -- "$1" "$2" " # TODO $TAP_TODO"
	if [ "$1" -eq 0 ]; then
		printf 'ok %d - %s%s\n' "$TAP_N" "$2" "$3"
		return 0
	fi
	[ -n "$TAP_TODO" ] || TAP_FAILED=$((TAP_FAILED + 1))
	printf 'not ok %d - %s%s\n' "$TAP_N" "$2" "$3"
	return 1
}

pass() { tap_result 0 "$1"; }
# fail DESCRIPTION [DIAG_LINE...]
fail() {
	tap_result 1 "$1"
	shift
	[ $# -eq 0 ] || diag "$@"
	return 1
}

# ok DESCRIPTION CMD [ARGS...]: passes if CMD exits 0.
ok() {
	local _d=$1
	shift
	if "$@"; then
		tap_result 0 "$_d"
	else
		tap_result 1 "$_d"
		return 1
	fi
}

# is GOT WANT DESCRIPTION: string equality.
is() {
	if [ "$1" = "$2" ]; then
		tap_result 0 "$3"
	else
		tap_result 1 "$3"
		diag "   got: '$1'" "  want: '$2'"
		return 1
	fi
}

# isnt GOT UNWANTED DESCRIPTION
isnt() {
	if [ "$1" != "$2" ]; then
		tap_result 0 "$3"
	else
		tap_result 1 "$3"
		diag "   got: '$1' (unwanted)"
		return 1
	fi
}

# like GOT ERE DESCRIPTION: GOT (any number of lines) matches ERE somewhere.
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		tap_result 0 "$3"
	else
		tap_result 1 "$3"
		diag "   got: '$1'" "  want: /$2/"
		return 1
	fi
}

# unlike GOT ERE DESCRIPTION: GOT matches ERE nowhere.
unlike() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		tap_result 1 "$3"
		diag "   got: '$1'" "  unwanted: /$2/"
		return 1
	fi
	tap_result 0 "$3"
}

# ok_false DESCRIPTION CMD [ARGS...]: passes if CMD fails.
ok_false() {
	local _d=$1
	shift
	if "$@"; then
		tap_result 1 "$_d"
		return 1
	fi
	tap_result 0 "$_d"
}

# skip DESCRIPTION REASON
skip() {
	TAP_N=$((TAP_N + 1))
	printf 'ok %d - %s # SKIP %s\n' "$TAP_N" "$1" "$2"
}

bail_out() {
	printf 'Bail out! %s\n' "$*"
	exit 1
}

# relay_results FILE: the lines a client script printed to FILE ("ok -
# NAME", "not ok - NAME", then "# " lines of detail: tests/browser/lib.mjs,
# tests/lro/azure-poll.py) as this test's own, numbered in turn.
relay_results() {
	local _line
	while IFS= read -r _line; do
		case $_line in
		"ok - "*) pass "${_line#ok - }" ;;
		"not ok - "*) fail "${_line#not ok - }" ;;
		"#"*) printf '%s\n' "$_line" ;;
		esac
	done <"$1"
	return 0
}

# done_testing: the plan; on failure the server logs as diagnostics.
# Returns 1 if any test failed.
done_testing() {
	printf '1..%d\n' "$TAP_N"
	if [ "$TAP_FAILED" -gt 0 ]; then
		diag "$TAP_FAILED of $TAP_N failed; site in ${TESTDIR:-?}" \
		    "(KEEP_TMP=1 keeps it)"
		dump_logs
		return 1
	fi
	return 0
}

dump_logs() {
	[ -n "$SITE" ] || return 0
	diag_file "$SITE/log/error.log" 200
	diag_file "$SITE/log/lighttpd.out" 40
}

# ---------------------------------------------------------------- processes

all_pids() {
	local _d
	for _d in /proc/[0-9]*; do
		echo "${_d#/proc/}"
	done
}

# children_of PID: live children of PID.
children_of() {
	local _p
	for _p in $(all_pids); do
		[ "$(proc_ppid "$_p")" = "$1" ] && proc_alive "$_p" && echo "$_p"
	done
	return 0
}

# fcgi_pids: the live FastCGI backends of the running lighttpd: its children
# that run the site's spoolcgi.
fcgi_pids() {
	local _p
	[ -n "$LIGHTTPD_PID" ] || return 0
	for _p in $(children_of "$LIGHTTPD_PID"); do
		[ "$(readlink "/proc/$_p/exe" 2>/dev/null)" = \
		    "$SITE/bin/spoolcgi" ] && echo "$_p"
	done
	return 0
}

# env_has PID VAR=VALUE: the process's initial environment holds it.
env_has() {
	tr '\0' '\n' 2>/dev/null <"/proc/$1/environ" | grep -qxF -- "$2"
}

# job_task_pids ID: the live task process of job ID (it carries
# SPOOLCGI_JOB_ID=ID in its environment, and its parent does not: the
# task's own children, such as a sleep, inherit it) and its supervisor
# (the task's parent, when that is a spoolcgi process but no FastCGI one).
job_task_pids() {
	local _p _pp _fcgi
	_fcgi=" $(echo $(fcgi_pids)) "
	for _p in $(all_pids); do
		env_has "$_p" "SPOOLCGI_JOB_ID=$1" || continue
		proc_alive "$_p" || continue
		# One that ended since (the gate task's short "sleep"s) has
		# no parent to read: it is no task.
		_pp=$(proc_ppid "$_p") || continue
		env_has "$_pp" "SPOOLCGI_JOB_ID=$1" && continue
		echo "$_p"
		case $_fcgi in *" $_pp "*) continue ;; esac
		[ "$(readlink "/proc/$_pp/exe" 2>/dev/null)" = \
		    "$SITE/bin/spoolcgi" ] && echo "$_pp"
	done | sort -u
}

# zombies_of PID...: zombies whose parent is one of the PIDs, as
# "pid ppid comm" lines.
zombies_of() {
	local _p _pp
	for _p in $(all_pids); do
		[ "$(proc_state "$_p")" = Z ] || continue
		_pp=$(proc_ppid "$_p")
		case " $* " in
		*" $_pp "*) echo "$_p $_pp $(cat "/proc/$_p/comm" 2>/dev/null)" ;;
		esac
	done
	return 0
}

no_zombies_of() {
	[ -z "$(zombies_of "$@")" ]
}

# site_pids: every live process of this site: the site's spoolcgi binary
# (backends and job supervisors), anything whose working directory is in the
# site (tasks and their children), anything with the site's job directory
# in its environment.  The web server itself is not included.
site_pids() {
	local _p _cwd
	[ -n "$SITE" ] || return 0
	for _p in $(all_pids); do
		[ "$_p" = "$$" ] && continue
		proc_alive "$_p" || continue
		if [ "$(readlink "/proc/$_p/exe" 2>/dev/null)" = \
		    "$SITE/bin/spoolcgi" ]; then
			echo "$_p"
			continue
		fi
		_cwd=$(readlink "/proc/$_p/cwd" 2>/dev/null)
		case $_cwd in
		"$SITE"/*) echo "$_p"; continue ;;
		esac
		tr '\0' '\n' 2>/dev/null <"/proc/$_p/environ" |
		    grep -q "^SPOOLCGI_JOB_DIR=$SITE/" && echo "$_p"
	done
	return 0
}

# socket_inodes PATH_PREFIX: inodes of the unix sockets bound to a path
# starting with PATH_PREFIX (from /proc/net/unix).
socket_inodes() {
	awk -v p="$1" 'NR > 1 && index($8, p) == 1 { print $7 }' \
	    /proc/net/unix | sort -u
}

# holders_of INODE...: "pid fd inode" for every descriptor of every process
# that refers to one of the socket inodes.
holders_of() {
	[ $# -gt 0 ] || return 0
	find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 -lname 'socket:*' \
	    -printf '%h %f %l\n' 2>/dev/null |
	    awk -v want=" $* " '{
		i = $3; gsub(/[^0-9]/, "", i)
		if (index(want, " " i " ")) {
			split($1, d, "/"); print d[3], $2, i
		}
	    }'
	return 0
}

# ---------------------------------------------------------------- the site

# setup_site: a self-contained site in a fresh temporary directory:
#
#   $TESTDIR/t          scratch files of the test (root only)
#   $SITE/bin/spoolcgi  a copy of the built binary
#   $SITE/tasks/*       the test tasks
#   $SITE/spoolcgi.json the configuration ($CONFIG)
#   $SITE/spool         the spool ($SPOOL), outside the document root
#   $SITE/htdocs        the document root, with static.txt
#   $SITE/gates         files the gate task waits for
#   $SITE/log, run, tmp lighttpd's error log, pid file and sockets, uploads
#
# As root, lighttpd runs as www-data and the site belongs to www-data
# (lighttpd opens its error log after dropping privileges).
setup_site() {
	command -v lighttpd >/dev/null || bail_out "lighttpd is not installed"
	command -v curl >/dev/null || bail_out "curl is not installed"
	command -v jq >/dev/null || bail_out "jq is not installed"
	[ -x "$SPOOLCGI_BIN" ] || bail_out "no $SPOOLCGI_BIN: build first"
	[ -x "$REAPER" ] || bail_out "no $REAPER: make check builds it"

	# The canonical path: /proc/PID/exe and cwd are compared with it.
	TESTDIR=$(mktemp -d "${TMPDIR:-/tmp}/spoolcgi-e2e.XXXXXX") &&
	    TESTDIR=$(cd "$TESTDIR" && pwd -P) || bail_out "mktemp failed"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	T=$TESTDIR/t
	SITE=$TESTDIR/site
	SPOOL=$SITE/spool
	CONFIG=$SITE/spoolcgi.json
	HDR=$T/last.hdr
	BODY=$T/last.body
	mkdir -p "$T" "$SITE/bin" "$SITE/tasks" "$SITE/htdocs" "$SPOOL" \
	    "$SITE/gates" "$SITE/log" "$SITE/run" "$SITE/tmp" ||
	    bail_out "cannot create the site"
	cp "$SPOOLCGI_BIN" "$SITE/bin/spoolcgi" &&
	    cp "$TASKS_SRC"/* "$SITE/tasks/" &&
	    chmod 755 "$SITE/bin/spoolcgi" "$SITE/tasks"/* ||
	    bail_out "cannot copy the binary and tasks"
	echo "spoolcgi e2e static file" >"$SITE/htdocs/static.txt"
	write_config
	PORT=$(free_port) || bail_out "no free port"
	write_lighttpd_conf
	if [ "$(id -u)" -eq 0 ]; then
		WEB_USER=www-data
		chmod 711 "$TESTDIR"
		chown -R "$WEB_USER:$WEB_USER" "$SITE" ||
		    bail_out "cannot chown the site to $WEB_USER"
	fi
}

# write_config: the spoolcgi configuration for the test tasks; the gate
# task takes "limit" (the seconds it waits, default 60), and
# max_wait_seconds is $SRV_MAX_WAIT (default 10).
write_config() {
	local _t=$SITE/tasks
	cat >"$CONFIG" <<EOF
{
  "spool": "$SPOOL",
  "max_running": 8,
  "max_body_bytes": 65536,
  "max_wait_seconds": ${SRV_MAX_WAIT:-10},
  "tasks": {
    "progress": {
      "title": "Progress in ten steps",
      "command": ["$_t/progress"],
      "fields": {"seconds": {"type": "number", "required": false}},
      "result_type": "text/plain; charset=utf-8",
      "timeout_seconds": 120
    },
    "echo": {
      "command": ["$_t/echo"],
      "fields": {"text": {"type": "textarea", "required": true,
                          "max_bytes": 1000}},
      "result_type": "application/json",
      "timeout_seconds": 60
    },
    "bytes": {
      "command": ["$_t/bytes"],
      "fields": {},
      "result_type": "application/octet-stream",
      "timeout_seconds": 60
    },
    "fail": {
      "command": ["$_t/fail"],
      "fields": {},
      "result_type": "text/plain; charset=utf-8",
      "timeout_seconds": 60
    },
    "fdcheck": {
      "command": ["$_t/fdcheck"],
      "fields": {},
      "result_type": "text/plain; charset=utf-8",
      "timeout_seconds": 60
    },
    "upload": {
      "command": ["$_t/upload"],
      "fields": {"note": {"type": "text", "required": false}},
      "files": {"doc": {"label": "Document", "required": true,
                        "max_bytes": 60000}},
      "result_type": "application/octet-stream",
      "timeout_seconds": 60
    },
    "gate": {
      "command": ["$_t/gate"],
      "fields": {"gate": {"type": "text", "required": true,
                          "max_bytes": 4096},
                 "limit": {"type": "number", "required": false,
                           "min": 1, "max": 600}},
      "result_type": "text/plain; charset=utf-8",
      "timeout_seconds": 660
    }
  }
}
EOF
}

# write_lighttpd_conf: $SITE/lighttpd.conf for $PORT.
write_lighttpd_conf() {
	{
		lighttpd_conf_head "$SITE" "$PORT" 100000 \
		    "tests/lib.sh for one test run"
		cat <<EOF
index-file.names = ("index.html")
mimetype.assign = (".txt" => "text/plain", ".html" => "text/html",
    ".js" => "text/javascript", ".css" => "text/css")
fastcgi.server = (
EOF
		lighttpd_fcgi_site "$APP" "$SITE/bin/spoolcgi" \
		    "$SITE/run/fcgi.sock" 4 SPOOLCGI_CONFIG "$CONFIG"
		echo ")"
	} >"$SITE/lighttpd.conf"
}

static_ok() {
	[ "$(url_code "http://127.0.0.1:$PORT/static.txt")" = 200 ]
}

health_ok() {
	[ "$(url_code "http://127.0.0.1:$PORT$APP/health")" = 200 ]
}

# start_lighttpd: lighttpd -D under tests/reaper, in the background, its
# output in $SITE/log/lighttpd.out (never the test's stdout: the TAP driver
# reads that pipe to its end).  Ready when it serves a static file; returns
# 1 if it exits or is not ready within 20 s.  A port taken since free_port
# chose it is retried with another.
start_lighttpd() {
	local _try=0 _rc
	while [ "$_try" -lt 3 ]; do
		_try=$((_try + 1))
		rm -f "$SITE/run/reaper.pid"
		"$REAPER" -p "$SITE/run/reaper.pid" -- \
		    lighttpd -D -f "$SITE/lighttpd.conf" \
		    </dev/null >>"$SITE/log/lighttpd.out" 2>&1 &
		REAPER_PID=$!
		_rc=0
		wait_while_alive "$REAPER_PID" 20 static_ok || _rc=$?
		if [ "$_rc" -eq 0 ]; then
			LIGHTTPD_PID=$(cat "$SITE/run/reaper.pid")
			return 0
		fi
		if [ "$_rc" -eq 2 ]; then
			diag "lighttpd not ready within 20 s"
			stop_lighttpd
			return 1
		fi
		wait "$REAPER_PID" 2>/dev/null
		REAPER_PID=
		if grep -q 'in use' "$SITE/log/lighttpd.out" \
		    "$SITE/log/error.log" 2>/dev/null; then
			PORT=$(free_port) || return 1
			write_lighttpd_conf
			continue
		fi
		diag "lighttpd exited at start"
		return 1
	done
	return 1
}

# stop_lighttpd: SIGTERM to lighttpd (through the reaper), then waits up
# to 20 s until lighttpd, the reaper and every FastCGI backend are gone.
# Whatever is left then is killed, and the call returns 1.
stop_lighttpd() {
	local _backends _rc=0 _p
	[ -n "$REAPER_PID" ] || return 0
	_backends=$(fcgi_pids)
	kill -TERM "$REAPER_PID" 2>/dev/null
	if ! wait_for 20 all_dead "$REAPER_PID" $LIGHTTPD_PID $_backends; then
		diag "lighttpd or its backends outlived SIGTERM by 20 s:" \
		    "$REAPER_PID $LIGHTTPD_PID $_backends"
		for _p in $LIGHTTPD_PID $_backends $REAPER_PID; do
			proc_alive "$_p" && kill -KILL "$_p" 2>/dev/null
		done
		wait_for 5 all_dead "$REAPER_PID" $LIGHTTPD_PID $_backends
		_rc=1
	fi
	wait "$REAPER_PID" 2>/dev/null
	REAPER_PID=
	LIGHTTPD_PID=
	return $_rc
}

# cleanup: the EXIT trap.  Stops lighttpd, kills whatever the site still
# runs (job supervisors and tasks, by pid), removes the temporary directory
# unless KEEP_TMP=1.
cleanup() {
	local _rc=$? _left
	trap - EXIT
	stop_lighttpd >/dev/null
	_left=$(site_pids)
	if [ -n "$_left" ]; then
		kill -KILL $_left 2>/dev/null
		wait_for 5 all_dead $_left
	fi
	if [ -n "$TESTDIR" ]; then
		if [ "${KEEP_TMP:-0}" = 1 ]; then
			echo "# kept $TESTDIR"
		else
			rm -rf "$TESTDIR"
		fi
	fi
	exit $_rc
}

# under_reaper "$0" "$@": re-executes the test script under tests/reaper,
# once, so that job processes orphaned when their lighttpd stops are
# reaped at once (by this reaper) instead of seconds late by PID 1.
under_reaper() {
	[ -n "$SPOOLCGI_TEST_REAPED" ] && return 0
	[ -x "$REAPER" ] || return 0
	SPOOLCGI_TEST_REAPED=1
	export SPOOLCGI_TEST_REAPED
	exec "$REAPER" -- /bin/sh "$@"
}

# ---------------------------------------------------------------- HTTP

# http METHOD PATH [CURL_ARGS...]: one request to the site.  Sets
# HTTP_STATUS ("000" if curl failed) and leaves the response headers in
# $HDR and the body in $BODY.
http() {
	local _m=$1 _path=$2
	shift 2
	rm -f "$HDR" "$BODY"
	if [ "$_m" = HEAD ]; then
		set -- --head "$@"
	else
		set -- -X "$_m" "$@"
	fi
	HTTP_STATUS=$(curl -sS --path-as-is --max-time 30 -o "$BODY" \
	    -D "$HDR" -w '%{http_code}' "$@" \
	    "http://127.0.0.1:$PORT$_path" 2>"$T/curl.err") || {
		diag "curl $_m $_path: $(cat "$T/curl.err")"
		HTTP_STATUS=000
	}
	[ -f "$BODY" ] || : >"$BODY"
	[ -f "$HDR" ] || : >"$HDR"
}

# save_response NAME: keeps the last response as $T/NAME.hdr, $T/NAME.body.
save_response() {
	cp "$HDR" "$T/$1.hdr" && cp "$BODY" "$T/$1.body"
}

# header NAME [FILE]: the value of header NAME (case-insensitive, the last
# one if repeated) in FILE (default $HDR); fails if absent.
header() {
	awk -v n="$1" '
		BEGIN { n = tolower(n) }
		{ sub(/\r$/, "") }
		/^HTTP\// { found = 0; v = "" }	# a new response starts
		{
			i = index($0, ":")
			if (i > 1 && tolower(substr($0, 1, i - 1)) == n) {
				v = substr($0, i + 1)
				sub(/^[ \t]+/, "", v)
				sub(/[ \t]+$/, "", v)
				found = 1
			}
		}
		END { if (found) print v; else exit 1 }' "${2:-$HDR}"
}

# jget FILTER [FILE]: jq -r FILTER on FILE (default $BODY); nothing and
# failure when FILE is not JSON.
jget() {
	jq -r "$1" "${2:-$BODY}" 2>/dev/null
}

# jtest FILTER [FILE]: true if FILTER yields true on FILE (default $BODY).
jtest() {
	jq -e "$1" "${2:-$BODY}" >/dev/null 2>&1
}

# json_string TEXT: TEXT as a JSON string literal.
json_string() {
	printf '%s' "$1" | jq -Rs .
}

# start_json BODY [CURL_ARGS...]: POST $APP/jobs with a JSON body, asking
# for JSON.  Sets JOB_ID from the Location header ("" if none).
start_json() {
	local _b=$1
	shift
	printf '%s' "$_b" >"$T/req.json"
	http POST "$APP/jobs" -H 'Content-Type: application/json' \
	    -H 'Accept: application/json' --data-binary "@$T/req.json" "$@"
	JOB_ID=$(location_id)
}

# location_id: the job id at the end of the Location header, if any.
location_id() {
	local _l
	_l=$(header Location) || return 0
	printf '%s\n' "${_l##*/}"
}

# job_wait_final ID SECONDS: polls GET $APP/jobs/ID (JSON) until the job is
# in a final state, at most SECONDS.  Sets JOB_STATE (the last state seen,
# or "timeout (STATE)"); the last answer stays in $HDR/$BODY.  Returns 0
# once final, 1 at the deadline.
job_wait_final() {
	local _id=$1 _limit
	_limit=$(($(now_cs) + $2 * 100))
	while :; do
		http GET "$APP/jobs/$_id" -H 'Accept: application/json'
		JOB_STATE=$(jget .state)
		case $JOB_STATE in
		succeeded|failed|cancelled) return 0 ;;
		esac
		if [ "$(now_cs)" -ge "$_limit" ]; then
			diag "job $_id not final within $2 s:" \
			    "$HTTP_STATUS $(head -c 600 "$BODY")"
			JOB_STATE="timeout ($JOB_STATE)"
			return 1
		fi
		sleep 0.2
	done
}

# job_state ID: the job's state, read once.
job_state() {
	http GET "$APP/jobs/$1" -H 'Accept: application/json'
	jget .state
}

job_is_running() {
	[ "$(job_state "$1")" = running ]
}

# spool_listing: every path in the spool, sorted (refusals must leave it
# byte-identical).
spool_listing() {
	(cd "$SPOOL" && find . | LC_ALL=C sort)
}
