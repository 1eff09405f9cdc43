# tests/lib-servers.sh: Apache, nginx and spawn-fcgi for the end-to-end
# tests (POSIX sh; /bin/sh is dash).  Sourced after tests/lib.sh, whose
# site (setup_site), TAP and HTTP helpers it builds on.  It provides:
#
#   setup      srv_require_root (skips the test unless run as root)
#   config     lib.sh's write_config (max_wait_seconds from $SRV_MAX_WAIT)
#   processes  srv_ptable, srv_exe_pids, srv_descendants, srv_job_pids,
#              srv_site_pids, srv_zombies, srv_socket_holders
#   Apache     apache_site fcgid|cgi, write_apache_conf (with
#              $APACHE_FCGID_EXTRA and $APACHE_EXTRA_CONF), start_apache,
#              apache_ctl graceful|graceful-stop, stop_apache,
#              apache_fcgi_pids, apache_all_pids, apache_instance_pids
#   nginx      nginx_site, write_nginx_main CONF_INCLUDE, start_nginx,
#              stop_nginx
#   spawn-fcgi start_spawn_fcgi, spawn_fcgi_pids, kill_spawn_fcgi
#   HTTP       srv_http PORT MAXTIME METHOD PATH [CURL_ARGS...] (sets
#              HTTP_STATUS and HTTP_TIME), srv_flow LABEL (the contract's
#              main flow against $APP on $PORT), gate_start, gate_finish
#   cleanup    srv_cleanup, the EXIT trap: stops every server started
#              here, then runs lib.sh's cleanup
#
# Servers are started the way a host starts them (apache2 -k start, nginx
# with its default daemon mode, spawn-fcgi forking its children), from a
# test that runs under tests/reaper (lib.sh's under_reaper): the
# daemonised servers and every detached job are orphaned to that reaper,
# which reaps them at once.  Readiness and every stop are polls with a
# deadline.

APACHE_BIN=${APACHE_BIN:-/usr/sbin/apache2}
APACHE_MODULES=${APACHE_MODULES:-/usr/lib/apache2/modules}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
SPAWN_FCGI_BIN=${SPAWN_FCGI_BIN:-/usr/bin/spawn-fcgi}
# A clean environment for the servers, as an init system gives them: no
# SPOOLCGI_CONFIG (or anything else) leaks from the test into the program.
SRV_ENV="env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C"

APACHE_PID=
APACHE_MODE=
APACHE_FCGID_EXTRA=
APACHE_EXTRA_CONF=
NGINX_PID=
APP_EXE=

# srv_require_root: these tests start servers the way a host does, as root
# with www-data as the user of the web server's workers and of spoolcgi
# (Apache's User, spawn-fcgi -u): without root, the test is skipped.
srv_require_root() {
	[ "$(id -u)" -eq 0 ] && return 0
	echo "1..0 # SKIP needs root (servers run their workers as www-data)"
	exit 0
}

# ---------------------------------------------------------------- config

# The configuration is lib.sh's write_config (the gate task's "limit",
# max_wait_seconds from $SRV_MAX_WAIT).

# ---------------------------------------------------------------- processes

# srv_ptable: "pid ppid state" for every process, from one read of
# /proc/*/stat (the command name may hold spaces or parentheses: the
# fields are taken after the last ") ").
srv_ptable() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk '{
		pid = $1
		i = 0
		for (j = length($0); j > 0; j--)
			if (substr($0, j, 2) == ") ") { i = j; break }
		if (i == 0) next
		split(substr($0, i + 2), f, " ")
		print pid, f[2], f[1]
	}'
}

# srv_exe_pids EXE: live processes running the file EXE.
srv_exe_pids() {
	local _p
	for _p in $(srv_ptable | awk '$3 !~ /^[ZXx]$/ { print $1 }'); do
		[ "$(readlink "/proc/$_p/exe" 2>/dev/null)" = "$1" ] && echo "$_p"
	done
	return 0
}

# srv_descendants PID...: the live descendants of the PIDs (not the PIDs).
srv_descendants() {
	srv_ptable | awk -v roots=" $* " '
		{ pp[$1] = $2; st[$1] = $3; n++; pid[n] = $1 }
		END {
			for (k = 1; k <= n; k++) {
				p = pid[k]
				if (st[p] ~ /^[ZXx]$/) continue
				q = pp[p]; d = 0
				while (q != "" && q != 0 && d < 64) {
					if (index(roots, " " q " ")) { print p; break }
					q = pp[q]; d++
				}
			}
		}'
}

# srv_zombies PID...: zombies whose parent is one of the PIDs, as
# "pid ppid" lines.
srv_zombies() {
	srv_ptable | awk -v want=" $* " \
	    '$3 == "Z" && index(want, " " $2 " ") { print $1, $2 }'
}

# srv_job_pids ID: job ID's live task process (it has SPOOLCGI_JOB_ID=ID in
# its environment and its parent has not) and its supervisor (the task's
# parent, when that runs $APP_EXE).  lib.sh's job_task_pids, for a binary
# that is not $SITE/bin/spoolcgi.
srv_job_pids() {
	local _p _pp
	for _p in $(srv_ptable | awk '$3 !~ /^[ZXx]$/ { print $1 }'); do
		env_has "$_p" "SPOOLCGI_JOB_ID=$1" || continue
		_pp=$(proc_ppid "$_p") || continue
		env_has "$_pp" "SPOOLCGI_JOB_ID=$1" && continue
		echo "$_p"
		[ "$(readlink "/proc/$_pp/exe" 2>/dev/null)" = "$APP_EXE" ] &&
		    echo "$_pp"
	done | sort -u
}

# srv_site_pids: lib.sh's site_pids and every process running $APP_EXE.
srv_site_pids() {
	{
		site_pids
		[ -z "$APP_EXE" ] || srv_exe_pids "$APP_EXE"
	} | sort -u
}

# srv_socket_holders PREFIX: "pid fd inode" for every descriptor that
# refers to a unix socket bound under PREFIX (lib.sh's socket_inodes and
# holders_of).
srv_socket_holders() {
	holders_of $(socket_inodes "$1")
}

# srv_wait_gone SECONDS PID...: polls until none of the PIDs is alive.
srv_wait_gone() {
	local _s=$1
	shift
	[ $# -gt 0 ] || return 0
	wait_for "$_s" all_dead "$@"
}

# ---------------------------------------------------------------- HTTP

# srv_http PORT MAXTIME METHOD PATH [CURL_ARGS...]: lib.sh's http against
# another port and with another time limit; also sets HTTP_TIME (seconds,
# e.g. 0.004512).
srv_http() {
	local _port=$1 _max=$2 _m=$3 _path=$4 _out
	shift 4
	rm -f "$HDR" "$BODY"
	if [ "$_m" = HEAD ]; then
		set -- --head "$@"
	else
		set -- -X "$_m" "$@"
	fi
	_out=$(curl -sS --path-as-is --max-time "$_max" -o "$BODY" \
	    -D "$HDR" -w '%{http_code} %{time_total}' "$@" \
	    "http://127.0.0.1:$_port$_path" 2>"$T/curl.err")
	HTTP_STATUS=${_out%% *}
	HTTP_TIME=${_out#* }
	case $HTTP_STATUS in
	''|000) diag "curl $_m $_path: $(cat "$T/curl.err")"
		HTTP_STATUS=000 ;;
	esac
	[ -f "$BODY" ] || : >"$BODY"
	[ -f "$HDR" ] || : >"$HDR"
}

# time_below SECONDS LIMIT: SECONDS (a decimal) < LIMIT.
time_below() {
	awk -v t="$1" -v l="$2" 'BEGIN { exit !(t + 0 < l + 0) }'
}

# srv_health_ok: GET $APP/health answers 200 (through whatever serves
# $PORT).
srv_health_ok() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 \
	    "http://127.0.0.1:$PORT$APP/health")" = 200 ]
}

srv_static_ok() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
	    "http://127.0.0.1:$PORT/static.txt")" = 200 ]
}

# srv_flow LABEL: the HTTP contract's main flow against $APP: a JSON start
# polled to the end with rising progress, a byte-exact result, an HTML
# start (303) and its page, a failing task, the {base}-alone spelling and
# 404s.  Every test is named "LABEL: ...".
srv_flow() {
	local _l=$1 _id _seen _last _bad _st _p _limit
	http GET "$APP/health" -H 'Accept: application/json'
	is "$HTTP_STATUS" 200 "$_l: GET /health 200"
	ok "$_l: /health is JSON with a version" jtest '(.version|type) == "string"'
	http GET "$APP/tasks" -H 'Accept: application/json'
	is "$HTTP_STATUS" 200 "$_l: GET /tasks 200"
	ok "$_l: /tasks names the gate task" \
	    jtest '[.. | objects | ((.name? // empty | strings), keys[])] | index("gate") != null'

	# A JSON start, polled to the end.
	start_json '{"task": "progress", "seconds": "3"}'
	_id=$JOB_ID
	is "$HTTP_STATUS" 202 "$_l: JSON start 202"
	like "$(header Location)" "^https?://[^/]+$APP/jobs/[0-9a-f-]{36}\$" \
	    "$_l: Location is the absolute URL of $APP/jobs/{id}"
	is "$(jget .links.self)" "$APP/jobs/$_id" "$_l: links use SCRIPT_NAME"
	_seen= _last= _bad=0
	_limit=$(($(now_cs) + 3000))
	while :; do
		http GET "$APP/jobs/$_id" -H 'Accept: application/json'
		_st=$(jget .state)
		case $_st in
		succeeded|failed|cancelled) break ;;
		queued|running)
			if [ "$HTTP_STATUS" != 202 ] ||
			    ! header Retry-After >/dev/null; then
				_bad=$((_bad + 1))
				diag "pending answer: $HTTP_STATUS $(tr -d '\r' \
				    <"$HDR" | tr '\n' '|')"
			fi ;;
		*)	_bad=$((_bad + 1))
			diag "poll: $HTTP_STATUS $(head -c 300 "$BODY")" ;;
		esac
		_p=$(jget .progress)
		if [ -n "$_p" ] && [ "$_p" != null ] && [ "$_p" != "$_last" ]
		then
			_seen="$_seen $_p"
			_last=$_p
		fi
		[ "$(now_cs)" -lt "$_limit" ] || { _st="timeout ($_st)"; break; }
		sleep 0.15
	done
	diag "$_l: progress seen:$_seen"
	is "$_st" succeeded "$_l: the progress job succeeds"
	is "$_bad" 0 "$_l: every pending poll answered 202 with Retry-After"
	ok "$_l: a progress strictly between 0 and 100 was seen" \
	    test -n "$(printf '%s\n' $_seen | awk '$1 > 0 && $1 < 100')"
	is "$(printf '%s\n' $_seen)" "$(printf '%s\n' $_seen | sort -n)" \
	    "$_l: progress never goes back"
	http GET "$APP/jobs/$_id/result"
	is "$HTTP_STATUS" 200 "$_l: result 200"
	is "$(cat "$BODY")" "done 10 steps" "$_l: result text"
	like "$(header Cache-Control)" private "$_l: result Cache-Control: private"

	# A byte-exact binary result.
	start_json '{"task": "bytes"}'
	_id=$JOB_ID
	job_wait_final "$_id" 30
	is "$JOB_STATE" succeeded "$_l: bytes job succeeds"
	http GET "$APP/jobs/$_id/result"
	"$TASKS_SRC/bytes" >"$T/bytes.want"
	ok "$_l: the 512-byte result is byte-identical (cmp)" \
	    cmp "$T/bytes.want" "$BODY"
	# Apache's CGI handler may send a CGI's body chunked, dropping the
	# Content-Length the program gave; when there is one, it is right.
	if header Content-Length >/dev/null; then
		is "$(header Content-Length)" 512 "$_l: bytes Content-Length 512"
	else
		like "$(header Transfer-Encoding)" chunked \
		    "$_l: bytes without Content-Length: chunked"
	fi
	is "$(header Content-Type)" application/octet-stream \
	    "$_l: bytes Content-Type"

	# An HTML start and its page.
	http POST "$APP/jobs" --data 'task=progress&seconds=2'
	_id=$(location_id)
	is "$HTTP_STATUS" 303 "$_l: form start 303"
	like "$(header Location)" "^$APP/jobs/[0-9a-f-]{36}\$" \
	    "$_l: form start Location is $APP/jobs/{id}"
	http GET "$APP/jobs/$_id" -H 'Accept: text/html'
	is "$HTTP_STATUS" 200 "$_l: HTML job page 200"
	like "$(header Content-Type)" '^text/html' "$_l: HTML job page text/html"
	ok "$_l: HTML job page has a <progress> or the result" \
	    grep -Eqi '<progress|done 10 steps' "$BODY"
	job_wait_final "$_id" 30
	is "$JOB_STATE" succeeded "$_l: the form-started job succeeds"
	http GET "$APP/jobs/$_id" -H 'Accept: text/html'
	ok "$_l: the finished job's page shows the result" \
	    grep -q 'done 10 steps' "$BODY"

	# A failing task.
	start_json '{"task": "fail"}'
	_id=$JOB_ID
	job_wait_final "$_id" 30
	is "$JOB_STATE" failed "$_l: the failing task reads failed"
	is "$(jget .error.code)" exit "$_l: error.code exit"
	like "$(jget .error.message)" 'the last words of the failing task' \
	    "$_l: the error carries the stderr tail"
	http GET "$APP/jobs/$_id/result" -H 'Accept: application/json'
	is "$HTTP_STATUS" 409 "$_l: the failed job's result 409"

	# {base} alone: POST {base} starts, GET {base}?job=ID reads.
	http POST "$APP" -H 'Content-Type: application/json' \
	    -H 'Accept: application/json' \
	    --data-binary '{"task": "echo", "text": "at base"}'
	_id=$(location_id)
	is "$HTTP_STATUS" 202 "$_l: POST $APP (no PATH_INFO) 202"
	job_wait_final "$_id" 30
	http GET "$APP?job=$_id&format=json"
	is "$(jget .state)" succeeded "$_l: GET $APP?job=ID reads the job"
	http GET "$APP/jobs/$_id/result"
	is "$(jget .fields.text)" "at base" "$_l: echo result"

	# 404s.
	http GET "$APP/nosuchroute" -H 'Accept: application/json'
	is "$HTTP_STATUS" 404 "$_l: unknown route 404"
	http GET "$APP/jobs/00000000-0000-4000-8000-000000000000" \
	    -H 'Accept: application/json'
	is "$HTTP_STATUS" 404 "$_l: unknown id 404"
	http GET "$APP/jobs/not-an-id/result" -H 'Accept: application/json'
	is "$HTTP_STATUS" 404 "$_l: malformed id 404"
	http GET "$APP/jobs/..%2F..%2Fspoolcgi.json" -H 'Accept: application/json'
	is "$HTTP_STATUS" 404 "$_l: ..%2F id 404"
}

# gate_start NAME [LIMIT]: starts a gate job waiting for $SITE/gates/NAME
# (at most LIMIT s, default 120); sets JOB_ID; passes if it answered 202
# and reads running within 20 s.
gate_start() {
	start_json "{\"task\": \"gate\", \"gate\": \"$SITE/gates/$1\", \"limit\": \"${2:-120}\"}"
	is "$HTTP_STATUS" 202 "gate job $1: 202" || diag "$(cat "$BODY")"
	ok "gate job $1: running within 20 s" \
	    wait_for 20 job_is_running "$JOB_ID"
}

# gate_finish NAME ID SECONDS [PID...]: opens the gate; the job must
# succeed within SECONDS with the result "gate passed: ID", and its
# processes (the PIDs) be gone within 5 s.
gate_finish() {
	local _n=$1 _id=$2 _s=$3
	shift 3
	touch "$SITE/gates/$_n"
	job_wait_final "$_id" "$_s"
	is "$JOB_STATE" succeeded "gate job $_n: succeeded once the gate opens" ||
	    diag "$(jget .error)"
	http GET "$APP/jobs/$_id/result"
	is "$HTTP_STATUS" 200 "gate job $_n: result 200"
	is "$(cat "$BODY")" "gate passed: $_id" "gate job $_n: the result is right"
	[ $# -eq 0 ] ||
	    ok "gate job $_n: its processes are gone within 5 s" \
	    srv_wait_gone 5 "$@"
}

# ---------------------------------------------------------------- Apache

# apache_site fcgid|cgi: after setup_site, a shared-host layout in the
# document root, enabled by a .htaccess only:
#
#   $SITE/htdocs/app/spoolcgi.fcgi (.cgi)  the binary ($APP_EXE)
#   $SITE/htdocs/app/.htaccess            examples/htaccess (fcgid), or
#                                         the CGI lines (cgi)
#   $SITE/htdocs/app/.htspoolcgi.json     the configuration ($CONFIG):
#                                         its default place, beside the
#                                         binary; nothing else names it
#   $SITE/apache                          ServerRoot: httpd.conf, run/,
#                                         fcgid/ (IPC dir, process table)
#
# Sets APP (the SCRIPT_NAME), APP_EXE and CONFIG.
apache_site() {
	local _ext
	[ -x "$APACHE_BIN" ] || bail_out "apache2 is not installed"
	APACHE_MODE=$1
	case $APACHE_MODE in
	fcgid)	_ext=fcgi
		[ -f "$APACHE_MODULES/mod_fcgid.so" ] ||
		    bail_out "mod_fcgid is not installed" ;;
	cgi)	_ext=cgi ;;
	*)	bail_out "apache_site: fcgid or cgi" ;;
	esac
	mkdir -p "$SITE/htdocs/app" "$SITE/apache/run" "$SITE/apache/fcgid" ||
	    bail_out "cannot create the Apache layout"
	APP=/app/spoolcgi.$_ext
	APP_EXE=$SITE/htdocs/app/spoolcgi.$_ext
	cp "$SPOOLCGI_BIN" "$APP_EXE" && chmod 755 "$APP_EXE" ||
	    bail_out "cannot copy the binary"
	if [ "$APACHE_MODE" = fcgid ]; then
		cp "$top_srcdir/examples/htaccess" "$SITE/htdocs/app/.htaccess"
	else
		cat >"$SITE/htdocs/app/.htaccess" <<'EOF'
# spoolcgi as plain CGI: one process per request.
AddHandler cgi-script .cgi
Options +ExecCGI
<Files ".htspoolcgi.json">
	Require all denied
</Files>
EOF
	fi || bail_out "cannot write the .htaccess"
	mv "$CONFIG" "$SITE/htdocs/app/.htspoolcgi.json" ||
	    bail_out "cannot move the configuration"
	CONFIG=$SITE/htdocs/app/.htspoolcgi.json
	printf 'text/plain txt\ntext/html html\n' >"$SITE/apache/mime.types"
	if [ "$(id -u)" -eq 0 ]; then
		chown -R www-data:www-data "$SITE/htdocs" "$SITE/apache/fcgid"
	fi
	write_apache_conf
}

# write_apache_conf: $SITE/apache/httpd.conf for $PORT and $APACHE_MODE,
# with $APACHE_FCGID_EXTRA (mod_fcgid directives, one a line) and then
# $APACHE_EXTRA_CONF (anything, e.g. an Include) appended.
write_apache_conf() {
	local _m=$APACHE_MODULES _user= _handler
	if [ "$(id -u)" -eq 0 ]; then
		_user="User www-data
Group www-data"
	fi
	if [ "$APACHE_MODE" = fcgid ]; then
		_handler="LoadModule fcgid_module $_m/mod_fcgid.so
FcgidIPCDir \"$SITE/apache/fcgid\"
FcgidProcessTableFile \"$SITE/apache/fcgid/shm\"
FcgidMaxProcessesPerClass 8
FcgidIOTimeout 60
$APACHE_FCGID_EXTRA"
	else
		_handler="LoadModule cgid_module $_m/mod_cgid.so
ScriptSock \"$SITE/apache/run/cgid.sock\""
	fi
	cat >"$SITE/apache/httpd.conf" <<EOF
# Generated by tests/lib-servers.sh for one test run: a self-contained
# Apache 2.4; nothing of /etc/apache2 but the module files.
ServerRoot "$SITE/apache"
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
PidFile "$SITE/run/apache2.pid"
DefaultRuntimeDir "$SITE/apache/run"
# A file mutex makes mod_fcgid fail under load with mpm_event ("(35)Resource
# deadlock avoided: can't lock process table").
Mutex default
ErrorLog "$SITE/log/error.log"
LogLevel warn
LogFormat "%h %t \"%r\" %>s %b %D" timed
CustomLog "$SITE/log/access.log" timed
$_user
Timeout 60
KeepAlive On

LoadModule mpm_event_module $_m/mod_mpm_event.so
StartServers 1
ServerLimit 4
ThreadsPerChild 25
MinSpareThreads 5
MaxSpareThreads 75
MaxRequestWorkers 100
LoadModule authz_core_module $_m/mod_authz_core.so
LoadModule alias_module $_m/mod_alias.so
LoadModule mime_module $_m/mod_mime.so
TypesConfig "$SITE/apache/mime.types"

DocumentRoot "$SITE/htdocs"
AccessFileName .htaccess
<Directory />
	Options None
	AllowOverride None
	Require all denied
</Directory>
# A shared host: .htaccess may set handlers, ExecCGI and access rules.
<Directory "$SITE/htdocs">
	Options None
	AllowOverride AuthConfig FileInfo Options=ExecCGI
	Require all granted
</Directory>
# As Debian's apache2.conf: never serve .htaccess, .htpasswd (nor
# .htspoolcgi.json).
<FilesMatch "^\\.ht">
	Require all denied
</FilesMatch>

$_handler
$APACHE_EXTRA_CONF
EOF
}

apache_main_alive() {
	local _p
	_p=$(cat "$SITE/run/apache2.pid" 2>/dev/null) || return 1
	[ -n "$_p" ] && proc_alive "$_p"
}

# start_apache: apache2 -k start with a clean environment; ready when the
# pid file names a live process and a static file is served.  Returns 1
# if not ready within 20 s.  A port taken since free_port chose it is
# retried with another.
start_apache() {
	local _try=0 _limit
	while [ "$_try" -lt 3 ]; do
		_try=$((_try + 1))
		rm -f "$SITE/run/apache2.pid"
		$SRV_ENV "$APACHE_BIN" -d "$SITE/apache" \
		    -f "$SITE/apache/httpd.conf" -k start \
		    </dev/null >>"$SITE/log/apache.out" 2>&1
		_limit=$(($(now_cs) + 2000))
		while :; do
			if apache_main_alive && srv_static_ok; then
				APACHE_PID=$(cat "$SITE/run/apache2.pid")
				return 0
			fi
			[ "$(now_cs)" -lt "$_limit" ] || break
			sleep 0.1
		done
		if grep -q 'could not bind\|Address already in use' \
		    "$SITE/log/apache.out" "$SITE/log/error.log" 2>/dev/null
		then
			: >"$SITE/log/apache.out"
			sed -i '/could not bind\|Address already in use/d' \
			    "$SITE/log/error.log"
			PORT=$(free_port) || return 1
			write_apache_conf
			continue
		fi
		diag "apache2 not ready within 20 s"
		diag_file "$SITE/log/apache.out" 20
		return 1
	done
	return 1
}

# apache_ctl ARG: apache2 -k ARG (graceful, graceful-stop, stop) on this
# site's Apache.
apache_ctl() {
	$SRV_ENV "$APACHE_BIN" -d "$SITE/apache" -f "$SITE/apache/httpd.conf" \
	    -k "$1" </dev/null >>"$SITE/log/apache.out" 2>&1
}

# apache_fcgi_pids: the live mod_fcgid FastCGI processes: $APP_EXE
# processes whose parent is an Apache process (job supervisors are not:
# they are orphaned to the reaper at once).
apache_fcgi_pids() {
	local _p _pp
	for _p in $(srv_exe_pids "$APP_EXE"); do
		_pp=$(proc_ppid "$_p") || continue
		[ "$(readlink "/proc/$_pp/exe" 2>/dev/null)" = "$APACHE_BIN" ] &&
		    echo "$_p"
	done
	return 0
}

# apache_all_pids: Apache's main process and its descendants.
apache_all_pids() {
	[ -n "$APACHE_PID" ] || return 0
	proc_alive "$APACHE_PID" && echo "$APACHE_PID"
	srv_descendants "$APACHE_PID"
}

# apache_instance_pids: every live process of this site's Apache (by its
# command line, which names the site's httpd.conf).
apache_instance_pids() {
	local _p
	for _p in $(srv_exe_pids "$APACHE_BIN"); do
		tr '\0' ' ' <"/proc/$_p/cmdline" 2>/dev/null |
		    grep -qF "$SITE/apache/httpd.conf" && echo "$_p"
	done
	return 0
}

# stop_apache [stop|graceful-stop]: stops Apache and waits up to 30 s until
# its main process, its children and its FastCGI processes are gone;
# whatever is left then is killed, and the call returns 1.
stop_apache() {
	local _pids _rc=0
	[ -n "$APACHE_PID" ] || return 0
	_pids=$(apache_all_pids)
	apache_ctl "${1:-stop}"
	if ! srv_wait_gone 30 $_pids; then
		diag "Apache outlived ${1:-stop} by 30 s: $(echo $_pids)"
		kill -KILL $_pids 2>/dev/null
		srv_wait_gone 5 $_pids
		_rc=1
	fi
	APACHE_PID=
	return $_rc
}

# ---------------------------------------------------------------- nginx

# nginx_site: $SITE/nginx/{conf,temp} and a log directory; nginx runs as
# root (master) and www-data (workers).
nginx_site() {
	[ -x "$NGINX_BIN" ] || bail_out "nginx is not installed"
	mkdir -p "$SITE/nginx/conf" "$SITE/nginx/temp" ||
	    bail_out "cannot create the nginx layout"
	cp /etc/nginx/fastcgi_params /etc/nginx/proxy_params \
	    "$SITE/nginx/conf/" 2>/dev/null ||
	    bail_out "no /etc/nginx/fastcgi_params"
}

# write_nginx_main INCLUDE: $SITE/nginx/conf/nginx.conf, a self-contained
# main configuration (own pid, error log, temp paths) whose http block
# includes INCLUDE (a file of server blocks, in the conf directory).
write_nginx_main() {
	local _user= _t=$SITE/nginx/temp
	[ "$(id -u)" -eq 0 ] && _user="user www-data www-data;"
	cat >"$SITE/nginx/conf/nginx.conf" <<EOF
# Generated by tests/lib-servers.sh for one test run.
$_user
worker_processes 1;
pid $SITE/run/nginx.pid;
error_log $SITE/log/nginx-error.log info;
events { worker_connections 256; }
http {
	access_log $SITE/log/nginx-access.log;
	client_body_temp_path $_t/body;
	proxy_temp_path $_t/proxy;
	fastcgi_temp_path $_t/fastcgi;
	uwsgi_temp_path $_t/uwsgi;
	scgi_temp_path $_t/scgi;
	default_type application/octet-stream;
	types { text/plain txt; text/html html; }
	include $1;
}
EOF
}

nginx_main_alive() {
	local _p
	_p=$(cat "$SITE/run/nginx.pid" 2>/dev/null) || return 1
	[ -n "$_p" ] && proc_alive "$_p"
}

# start_nginx PORT: nginx -p DIR -c FILE (it daemonises); ready when its
# pid file names a live process and PORT answers.  Returns 1 if not ready
# within 20 s.
start_nginx() {
	local _limit
	rm -f "$SITE/run/nginx.pid"
	if ! $SRV_ENV "$NGINX_BIN" -p "$SITE/nginx" \
	    -c "$SITE/nginx/conf/nginx.conf" \
	    </dev/null >>"$SITE/log/nginx.out" 2>&1; then
		diag "nginx did not start"
		diag_file "$SITE/log/nginx.out" 20
		diag_file "$SITE/log/nginx-error.log" 20
		return 1
	fi
	_limit=$(($(now_cs) + 2000))
	while :; do
		if nginx_main_alive && [ "$(curl -s -o /dev/null \
		    -w '%{http_code}' --max-time 5 \
		    "http://127.0.0.1:$1/static.txt")" != 000 ]; then
			NGINX_PID=$(cat "$SITE/run/nginx.pid")
			return 0
		fi
		[ "$(now_cs)" -lt "$_limit" ] || break
		sleep 0.1
	done
	diag "nginx not ready within 20 s"
	diag_file "$SITE/log/nginx-error.log" 20
	return 1
}

# stop_nginx: nginx -s stop; waits up to 20 s for the master and its
# workers to go (then kills them and returns 1).
stop_nginx() {
	local _pids _rc=0
	[ -n "$NGINX_PID" ] || return 0
	_pids="$NGINX_PID $(srv_descendants "$NGINX_PID")"
	$SRV_ENV "$NGINX_BIN" -p "$SITE/nginx" -c "$SITE/nginx/conf/nginx.conf" \
	    -s stop </dev/null >>"$SITE/log/nginx.out" 2>&1
	if ! srv_wait_gone 20 $_pids; then
		diag "nginx outlived -s stop by 20 s: $(echo $_pids)"
		kill -KILL $_pids 2>/dev/null
		srv_wait_gone 5 $_pids
		_rc=1
	fi
	NGINX_PID=
	return $_rc
}

# ---------------------------------------------------------------- spawn-fcgi

# start_spawn_fcgi: runs examples/spawn-fcgi.sh start with the test's
# paths: $SPAWN_FCGI_CHILDREN (default 2) children of $SITE/bin/spoolcgi
# on $SITE/run/spoolcgi.sock, as www-data, pids in
# $SITE/run/spawn-fcgi.pid, configuration from SPOOLCGI_CONFIG.  Returns
# spawn-fcgi's status.
start_spawn_fcgi() {
	rm -f "$SITE/run/spawn-fcgi.pid"
	$SRV_ENV SPOOLCGI_BIN="$SITE/bin/spoolcgi" SPOOLCGI_CONFIG="$CONFIG" \
	    SPOOLCGI_SOCKET="$SITE/run/spoolcgi.sock" \
	    SPOOLCGI_PIDFILE="$SITE/run/spawn-fcgi.pid" \
	    SPOOLCGI_CHILDREN="${SPAWN_FCGI_CHILDREN:-2}" \
	    SPOOLCGI_USER=www-data SPOOLCGI_GROUP=www-data \
	    SPOOLCGI_SOCKET_USER=www-data SPOOLCGI_SOCKET_GROUP=www-data \
	    SPAWN_FCGI="$SPAWN_FCGI_BIN" \
	    /bin/sh "$top_srcdir/examples/spawn-fcgi.sh" start \
	    </dev/null >"$SITE/log/spawn-fcgi.out" 2>&1
}

# spawn_fcgi_pids: the pids spawn-fcgi wrote that are alive (spawn-fcgi -P
# writes them with no final newline).
spawn_fcgi_pids() {
	local _p
	[ -f "$SITE/run/spawn-fcgi.pid" ] || return 0
	for _p in $(cat "$SITE/run/spawn-fcgi.pid"; echo); do
		proc_alive "$_p" && echo "$_p"
	done
	return 0
}

# kill_spawn_fcgi [SIGNAL]: signals the spawn-fcgi children (default TERM)
# and waits up to 10 s for them to go.
kill_spawn_fcgi() {
	local _pids
	_pids=$(spawn_fcgi_pids)
	[ -n "$_pids" ] || return 0
	kill -"${1:-TERM}" $_pids 2>/dev/null
	srv_wait_gone 10 $_pids
}

# ---------------------------------------------------------------- cleanup

# srv_cleanup: the EXIT trap (set it after setup_site): stops Apache,
# nginx and the spawn-fcgi children, kills what the site still runs, then
# runs lib.sh's cleanup.
srv_cleanup() {
	local _rc=$? _left
	trap - EXIT
	if [ -n "$APACHE_PID" ]; then
		stop_apache >/dev/null 2>&1
	elif apache_main_alive 2>/dev/null; then
		APACHE_PID=$(cat "$SITE/run/apache2.pid") &&
		    stop_apache >/dev/null 2>&1
	fi
	[ -z "$SITE" ] || _left=$(apache_instance_pids)
	[ -z "$_left" ] || kill -KILL $_left 2>/dev/null
	if [ -z "$NGINX_PID" ] && nginx_main_alive 2>/dev/null; then
		NGINX_PID=$(cat "$SITE/run/nginx.pid")
	fi
	stop_nginx >/dev/null 2>&1
	[ -z "$SITE" ] || kill_spawn_fcgi KILL >/dev/null 2>&1
	_left=$(srv_site_pids)
	if [ -n "$_left" ]; then
		kill -KILL $_left 2>/dev/null
		wait_for 5 all_dead $_left
	fi
	(exit $_rc)
	cleanup
}

# srv_dump_logs: the servers' logs as diagnostics.
srv_dump_logs() {
	diag_file "$SITE/log/error.log" 80
	diag_file "$SITE/log/apache.out" 20
	diag_file "$SITE/log/nginx-error.log" 40
	diag_file "$SITE/log/spawn-fcgi.out" 20
}
