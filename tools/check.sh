#!/bin/sh
# tools/check.sh: build spoolcgi and run every test, from a fresh Debian 12
# (as root) or an existing checkout.
#
#   tools/check.sh                      install what is missing, build,
#                                       make check
#   CHECK_DISTCHECK=1 tools/check.sh    then make distcheck too
#   CHECK_RECONF=1 tools/check.sh       autoreconf -fi and ./configure
#                                       even if a Makefile exists
#   CHECK_JOBS=N                        make -jN (default: the CPU count)
#   CHECK_EXTRA=1 tools/check.sh        then make check-asan, make
#                                       check-valgrind and make fuzz
#                                       (FUZZ_SECONDS, default 10 each),
#                                       each counted as one result
#
# Prints the log of every failing test, and ends with exactly one line
# "N passed, N failed" counted from the test results (.trs files: one
# result per TAP test case, plus one per script that exited badly or broke
# its plan).  TODO (XFAIL) and SKIP results are counted on the line before.
# Exits non-zero if anything failed, the build included.

set -u
cd "$(dirname "$0")/.." || exit 2

PACKAGES="build-essential autoconf automake pkg-config libfcgi-dev
libjson-c-dev uuid-dev busybox-static lighttpd curl jq apache2
libapache2-mod-fcgid libapache2-mod-xsendfile nginx spawn-fcgi chromium
util-linux python3-azure postgresql libpq-dev openssl iproute2"
# The memory checkers and fuzzers (CHECK_EXTRA=1) need these too.
[ "${CHECK_EXTRA:-0}" = 1 ] &&
    PACKAGES="$PACKAGES clang libclang-rt-14-dev valgrind git"

failed=0
passed=0
todo=0
skipped=0

say() { printf 'check.sh: %s\n' "$*"; }

finish() {
	[ "$failed" -gt 0 ] || [ "$passed" -gt 0 ] || failed=1
	[ -z "${failures:-}" ] || say "what failed:$failures"
	echo "($todo todo, $skipped skipped)"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

# ---------------------------------------------------------------- packages

missing=
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q 'install ok installed' || missing="$missing $p"
done
# Node for the browser test: any node >= 18 will do, and a NodeSource
# nodejs conflicts with Debian's npm package, so ask for them only when
# the commands are missing rather than by package name.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		say "missing packages:$missing (run as root to install them)"
	else
		say "installing:$missing"
		# Installing a server package must not start it (tests start
		# their own); Debian's policy-rc.d mechanism says so.
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod 755 /usr/sbin/policy-rc.d
			made_policy=1
		fi
		apt-get update -q &&
		    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		    --no-install-recommends $missing ||
		    { say "apt-get failed"; failed=1; }
		[ -z "${made_policy:-}" ] || rm -f /usr/sbin/policy-rc.d
		[ "$failed" -eq 0 ] || finish
	fi
fi

# ---------------------------------------------------------------- build

jobs=${CHECK_JOBS:-$(nproc 2>/dev/null || echo 2)}
if [ ! -f Makefile ] || [ "${CHECK_RECONF:-0}" = 1 ]; then
	say "autoreconf -fi && ./configure"
	if ! { autoreconf -fi && ./configure; }; then
		say "configure failed"
		failed=1
		finish
	fi
fi
say "make"
if ! make -j"$jobs"; then
	say "the build failed"
	failed=1
	finish
fi

# ---------------------------------------------------------------- tests

. tools/trs.sh

find . -path ./spoolcgi-\* -prune -o -name '*.trs' -exec rm -f {} + \
    2>/dev/null
say "make check"
make -j"$jobs" check
check_rc=$?
before=$failed
trs_count .
if [ "$check_rc" -ne 0 ] && [ "$failed" -eq "$before" ]; then
	say "make check failed (status $check_rc) with no failing test result"
	[ -f test-suite.log ] && cat test-suite.log
	failed=$((failed + 1))
	failures="${failures:-}
  make check (status $check_rc, no failing test result)"
fi

if [ "${CHECK_DISTCHECK:-0}" = 1 ]; then
	say "make distcheck"
	if ! make distcheck; then
		# The tests ran again in spoolcgi-*/_build: count only what
		# failed there, the passes are already counted above.
		p=$passed t=$todo s=$skipped f=$failed
		for d in spoolcgi-*/; do
			[ -d "$d" ] && trs_count "${d%/}"
		done
		passed=$p todo=$t skipped=$s
		[ "$failed" -gt "$f" ] || failed=$((failed + 1))
		say "make distcheck failed"
		failures="${failures:-}
  make distcheck"
	fi
fi

# extra NAME CMD...: one more result, from a whole command (the sanitizer
# builds and the fuzzers report their own details on failure).
extra() {
	local _name=$1 _log
	shift
	_log=$(mktemp)
	say "$_name"
	if "$@" >"$_log" 2>&1; then
		passed=$((passed + 1))
		tail -n 3 "$_log"
	else
		failed=$((failed + 1))
		echo "======== FAILED: $_name"
		tail -n 200 "$_log"
		echo "======== end of $_name"
		failures="${failures:-}
  $_name"
	fi
	rm -f "$_log"
}

if [ "${CHECK_EXTRA:-0}" = 1 ]; then
	extra "make check-asan" make check-asan
	extra "make check-valgrind" make check-valgrind
	extra "make fuzz" make fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-10}"
fi

finish
