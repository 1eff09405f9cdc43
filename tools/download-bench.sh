#!/bin/sh
# tools/download-bench.sh: how long a big download holds a FastCGI process,
# through each web server, with spoolcgi sending the result itself
# ("send_result": "spoolcgi", before) and with the web server sending it
# from a header ("x-sendfile", "x-accel-redirect", after).  Issue 11,
# item 2: "the FastCGI process count held during a 300 MB download
# through each web server, before and after".
#
# Each server runs ONE FastCGI process of spoolcgi, as a small host would:
#   lighttpd  bin-path, max-procs 1 (x-sendfile: lighttpd's own option)
#   Apache    mod_fcgid, FcgidMaxProcessesPerClass 1 (x-sendfile:
#             libapache2-mod-xsendfile; the rows are left out without it)
#   nginx     spawn-fcgi, 1 child (x-accel-redirect to an internal
#             location)
# and each default buffering: lighttpd and nginx read a backend's answer
# into temporary files as fast as it comes, mod_fcgid passes it on as the
# client takes it.
#
# One job makes a DL_BYTES result of random bytes; for each server and
# way, one client downloads it at DL_RATE (curl --limit-rate, so that it
# takes seconds), and while it does:
#   held      every 0.1 s, the FastCGI processes inside a request: not
#             waiting in accept(2) (/proc/PID/syscall); the most at once,
#             and process-seconds (each sample weighted by its interval)
#   poll      one GET {base}/health after POLL_AFTER_CS hundredths of a
#             second: how long it took.  With the one process held, it
#             waits for the end of the download (or fails).
# Every download is checked byte-exact (sha256).  Prints a table.
#
#	tools/download-bench.sh		(as root, from the source tree after
#					"make" and "make tests/reaper")
#
# Environment:
#   DL_BYTES       the result's size (default 314572800, 300 MiB)
#   DL_RATE        curl --limit-rate (default 50M: about 6 s)
#   POLL_AFTER_CS  when the poll is sent (default 200: 2 s in)
#   SPOOLCGI_BIN   the binary (default app/spoolcgi)
#   KEEP_TMP       1: keep the site
#
# Exits 0 with the table, 1 when a server did not start, a download was
# not byte-exact, or the job failed.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/lib-servers.sh"
srv_require_root
under_reaper "$0" "$@"

[ -x "$SPAWN_FCGI_BIN" ] || bail_out "spawn-fcgi is not installed"
DL_BYTES=${DL_BYTES:-314572800}
DL_RATE=${DL_RATE:-50M}
POLL_AFTER_CS=${POLL_AFTER_CS:-200}
setup_site
trap srv_cleanup EXIT
ROWS=$T/rows
: >"$ROWS"
bad=0

printf '#!/bin/sh\nexec head -c %s /dev/urandom\n' "$DL_BYTES" \
    >"$SITE/tasks/big"
chmod 755 "$SITE/tasks/big"

# write_bench_config MODE: send_result MODE into $CONFIG.
write_bench_config() {
	cat >"$CONFIG" <<EOF
{
  "spool": "$SPOOL",
  "send_result": "$1",
  "send_result_prefix": "/spoolcgi-spool/",
  "min_free_bytes": 0,
  "tasks": {
    "big": {
      "command": ["$SITE/tasks/big"],
      "max_result_bytes": $DL_BYTES,
      "timeout_seconds": 120
    }
  }
}
EOF
	chown "$WEB_USER:$WEB_USER" "$CONFIG"
}

# held_now PIDS_FN: how many of the FastCGI processes PIDS_FN names are
# inside a request; an idle libfcgi process waits in accept(2) (43) or
# accept4(2) (288).
held_now() {
	local _p _sc _rest _n=0
	for _p in $($1); do
		read -r _sc _rest <"/proc/$_p/syscall" 2>/dev/null || continue
		case $_sc in
		43|288) ;;
		*) _n=$((_n + 1)) ;;
		esac
	done
	echo "$_n"
}

# measure SERVER MODE PIDS_FN: one throttled download of $RESULT, its
# FastCGI processes sampled meanwhile; appends a row to $ROWS.
measure() {
	local _dl _t0 _prev _now _n _max=0 _sum=0 _poll= _code _got _secs
	local _pcode _ptime
	rm -f "$T/dl" "$T/poll.w"
	curl -sS --max-time 300 --limit-rate "$DL_RATE" -o "$T/dl" \
	    -w '%{http_code} %{size_download} %{time_total}' \
	    "http://127.0.0.1:$PORT$RESULT" >"$T/dl.w" 2>"$T/dl.err" &
	_dl=$!
	_t0=$(now_cs)
	_prev=$_t0
	while proc_alive "$_dl"; do
		_n=$(held_now "$3")
		_now=$(now_cs)
		[ "$_n" -le "$_max" ] || _max=$_n
		_sum=$((_sum + _n * (_now - _prev)))
		_prev=$_now
		if [ -z "$_poll" ] && [ $((_now - _t0)) -ge "$POLL_AFTER_CS" ]; then
			curl -s -o /dev/null --max-time 120 \
			    -w '%{http_code} %{time_total}' \
			    "http://127.0.0.1:$PORT$APP/health" >"$T/poll.w" &
			_poll=$!
		fi
		sleep 0.1
	done
	wait "$_dl"
	[ -z "$_poll" ] || wait "$_poll"
	# curl's -w has no final newline: read the words, not a line.
	set -- "$1" "$2" $(cat "$T/dl.w") 000 0 0
	_code=$3 _got=$4 _secs=$5
	set -- "$1" "$2" $(cat "$T/poll.w" 2>/dev/null) none 0
	_pcode=$3 _ptime=$4
	if [ "$_code" != 200 ] || [ "$_got" != "$DL_BYTES" ] ||
	    [ "$(sha256sum <"$T/dl" | cut -d' ' -f1)" != "$WANT" ]; then
		echo "$1 $2: the download was not byte-exact ($_code, $_got bytes)" >&2
		sed 's/^/  /' "$T/dl.err" >&2
		bad=1
	fi
	# process-seconds from hundredths of process-seconds
	printf '%s\t%s\t%.1f\t%s\t%d.%02d\t%s\t%s\n' "$1" "$2" "$_secs" "$_max" \
	    $((_sum / 100)) $((_sum % 100)) "$_pcode" \
	    "$(awk -v t="${_ptime:-0}" 'BEGIN { printf "%d", t * 1000 }')" \
	    >>"$ROWS"
	rm -f "$T/dl"
}

# ================================================================ lighttpd

write_bench_config spoolcgi
write_lighttpd_conf
sed -i -e 's|"max-procs" => 4,|"max-procs" => 1,|' "$SITE/lighttpd.conf"
start_lighttpd || { dump_logs; bail_out "lighttpd did not start"; }
wait_for 10 health_ok || bail_out "lighttpd: no /health within 10 s"
start_json '{"task": "big"}'
[ "$HTTP_STATUS" = 202 ] || bail_out "the job did not start: $HTTP_STATUS"
job_wait_final "$JOB_ID" 120 && [ "$JOB_STATE" = succeeded ] ||
    bail_out "the job did not succeed within 120 s: $JOB_STATE"
BIG_ID=$JOB_ID
WANT=$(sha256sum <"$SPOOL/jobs/$BIG_ID/result" | cut -d' ' -f1)
RESULT=$APP/jobs/$BIG_ID/result
measure lighttpd spoolcgi fcgi_pids
stop_lighttpd

write_bench_config x-sendfile
write_lighttpd_conf
sed -i -e 's|"max-procs" => 4,|"max-procs" => 1,\n\t"x-sendfile" => "enable",\n\t"x-sendfile-docroot" => ("'"$SPOOL"'/jobs/"),|' \
    "$SITE/lighttpd.conf"
start_lighttpd || { dump_logs; bail_out "lighttpd did not start again"; }
wait_for 10 health_ok || bail_out "lighttpd: no /health within 10 s"
measure lighttpd x-sendfile fcgi_pids
stop_lighttpd

# ================================================================ nginx

nginx_site
SOCK=$SITE/run/spoolcgi.sock
PORT=$(free_port) || bail_out "no free port"
cat >"$SITE/nginx/conf/spoolcgi.conf" <<EOF
server {
	listen 127.0.0.1:$PORT;
	root $SITE/htdocs;
	location ~ ^/app(/.*)?\$ {
		fastcgi_split_path_info ^(/app)(/.*)?\$;
		include fastcgi_params;
		fastcgi_param PATH_INFO \$fastcgi_path_info;
		fastcgi_pass unix:$SOCK;
	}
	location /spoolcgi-spool/ {
		internal;
		alias $SPOOL/;
	}
}
EOF
write_nginx_main spoolcgi.conf
start_nginx "$PORT" || bail_out "nginx did not start"
for mode in spoolcgi x-accel-redirect; do
	write_bench_config "$mode"
	SPAWN_FCGI_CHILDREN=1 start_spawn_fcgi ||
	    { diag_file "$SITE/log/spawn-fcgi.out"; bail_out "spawn-fcgi did not start"; }
	wait_for 10 health_ok || bail_out "nginx: no /health within 10 s"
	measure nginx "$mode" spawn_fcgi_pids
	kill_spawn_fcgi
done
stop_nginx

# ================================================================ Apache

if [ -f "$APACHE_MODULES/mod_xsendfile.so" ]; then
	write_bench_config spoolcgi
	PORT=$(free_port) || bail_out "no free port"
	APACHE_FCGID_EXTRA="FcgidMaxProcessesPerClass 1"
	APACHE_EXTRA_CONF="LoadModule xsendfile_module $APACHE_MODULES/mod_xsendfile.so
XSendFile On
XSendFilePath $SPOOL/jobs"
	apache_site fcgid
	RESULT=$APP/jobs/$BIG_ID/result
	for mode in spoolcgi x-sendfile; do
		write_bench_config "$mode"
		start_apache || { dump_logs; bail_out "Apache did not start"; }
		wait_for 20 health_ok || bail_out "Apache: no /health within 20 s"
		measure Apache "$mode" apache_fcgi_pids
		stop_apache
	done
else
	echo "no mod_xsendfile: Apache left out" \
	    "(apt-get install libapache2-mod-xsendfile)" >&2
fi

# ================================================================ table

printf '\n%s MiB at %s/s, one FastCGI process per server, a poll %s s in\n\n' \
    $((DL_BYTES / 1048576)) "$DL_RATE" $((POLL_AFTER_CS / 100))
printf '| server | send_result | download, s | FastCGI processes held (most) | process-seconds held | a poll meanwhile: status, ms |\n'
printf '| --- | --- | --- | --- | --- | --- |\n'
while IFS='	' read -r s m d h ps pc pt; do
	printf '| %s | %s | %s | %s | %s | %s, %s |\n' "$s" "$m" "$d" "$h" \
	    "$ps" "$pc" "$pt"
done <"$ROWS"
exit "$bad"
