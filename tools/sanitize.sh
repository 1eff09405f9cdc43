#!/bin/sh
# tools/sanitize.sh: the test suite under the memory checkers.
#
#   tools/sanitize.sh asan       make check (unit and end-to-end tests)
#                                built with clang's AddressSanitizer and
#                                UndefinedBehaviorSanitizer ("make check-asan")
#   tools/sanitize.sh valgrind   every unit test under valgrind's memcheck
#                                ("make check-valgrind")
#
#   SANITIZE_BUILDDIR=DIR  the build directory (default ./build-asan or
#                          ./build-valgrind, from where this is run); it is
#                          rebuilt from scratch every time
#   SANITIZE_JOBS=N        make -jN (default: the CPU count)
#   SANITIZE_CC=CC         the compiler of the asan build (default clang)
#   SANITIZE_E2E=1         valgrind: end-to-end tests too (flow, hostile and
#                          lifecycle, or SANITIZE_E2E_TESTS), with each
#                          spoolcgi process under valgrind (see below)
#
# Each build is a separate, out-of-tree configure of the sources: a source
# tree configured in place cannot also be configured out of tree, so such
# a tree (a git checkout) is copied first: the files git knows and the new
# ones it does not ignore, edits included.
#
# asan: every program (tests, tests/reaper, spoolcgi) links
# tests/fuzz/sanitizer-options.c, which compiles the sanitizer options in
# and sends every report to DIR/sanitizer-logs/sanitizer.PID.  The
# options have to be compiled in: the end-to-end tests run spoolcgi under
# lighttpd, as www-data, with an environment they do not pass on.  The run
# fails on a failed test or on any report file.
#
# valgrind: the unit tests through automake's LOG_COMPILER.  A leak that
# is definite or indirect is an error.  Forked children are not watched
# (see run_valgrind); the asan run covers them.
# The end-to-end tests are left out by default: they find their FastCGI
# backends and supervisors by /proc/PID/exe, which under valgrind is
# valgrind's, and they have deadlines a valgrind start-up misses, so many
# of their checks fail for reasons that are not memory errors.
# SANITIZE_E2E=1 runs them anyway with spoolcgi wrapped in valgrind and
# fails only on valgrind's reports, not on their own failures.
#
# Ends with a summary; exits 0 when everything passed, 1 when a test failed
# or a checker reported, 2 when the build could not be made.

set -u
srcdir=$(cd "$(dirname "$0")/.." && pwd) || exit 2
mode=${1:-}
case $mode in
asan|check-asan) mode=asan ;;
valgrind|check-valgrind) mode=valgrind ;;
*) echo "usage: $0 asan|valgrind" >&2; exit 2 ;;
esac
jobs=${SANITIZE_JOBS:-$(nproc 2>/dev/null || echo 2)}
build=${SANITIZE_BUILDDIR:-$(pwd)/build-$mode}

say() { printf 'sanitize.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

mkdir -p "$build" || die "cannot create $build"
build=$(cd "$build" && pwd) || exit 2
case $build in
"$srcdir") die "SANITIZE_BUILDDIR must not be the source tree" ;;
esac
rm -rf "$build/src" "$build/build" "$build/sanitizer-logs" "$build/logs"
mkdir -p "$build/build" "$build/logs" || die "cannot populate $build"

# tail_log FILE: the end of a log, for a failure message.
tail_log() {
	tail -n "${2:-40}" "$1" | sed 's/^/    | /' >&2
}

# ---------------------------------------------------------------- source

# Sets src: the tree to configure (the source tree, or a copy of it).
prepare_source() {
	local rel
	if [ ! -f "$srcdir/config.status" ]; then
		src=$srcdir
		if [ ! -x "$src/configure" ]; then
			say "autoreconf -fi in $src"
			(cd "$src" && autoreconf -fi) >"$build/logs/autoreconf.log" \
			    2>&1 || { tail_log "$build/logs/autoreconf.log";
			    die "autoreconf failed"; }
		fi
		return 0
	fi
	git -C "$srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
	    die "$srcdir is configured in place and is no git checkout:" \
	    "run 'make distclean' there, or build it out of tree"
	src=$build/src
	mkdir -p "$src" || die "cannot create $src"
	# Not this build directory, if it is inside the tree, nor the other
	# build directories of this script or of make distcheck.
	case $build in
	"$srcdir"/*) rel=$(printf '%s' "${build#"$srcdir"/}" |
	    sed 's/[].[^$*+?(){}|\\]/\\&/g') ;;
	*) rel='//none' ;;
	esac
	say "copying the sources to $src"
	(cd "$srcdir" && git ls-files -z --cached --others --exclude-standard) |
	    grep -zvE "^($rel|build-[^/]*|_build|spoolcgi-[^/]*)/" |
	    (cd "$srcdir" && tar --null --ignore-failed-read -T - -cf - \
	    2>/dev/null) | (cd "$src" && tar -xf -) ||
	    die "cannot copy the sources"
	say "autoreconf -fi"
	(cd "$src" && autoreconf -fi) >"$build/logs/autoreconf.log" 2>&1 ||
	    { tail_log "$build/logs/autoreconf.log"; die "autoreconf failed"; }
}

# configure_and_make ARGS...: configure in $build/build, then make.
configure_and_make() {
	say "configure $*"
	(cd "$build/build" && "$src/configure" "$@") \
	    >"$build/logs/configure.log" 2>&1 ||
	    { tail_log "$build/logs/configure.log";
	    die "configure failed (see $build/build/config.log)"; }
	say "make -j$jobs"
	make -C "$build/build" -j"$jobs" >"$build/logs/make.log" 2>&1 ||
	    { tail_log "$build/logs/make.log"; die "the build failed"; }
	make -C "$build/build" -j"$jobs" check TESTS= \
	    >>"$build/logs/make.log" 2>&1 ||
	    { tail_log "$build/logs/make.log"; die "the tests do not build"; }
}

# ---------------------------------------------------------------- results

passed=0 failed=0 todo=0 skipped=0

. "$(dirname "$0")/trs.sh"

# the list of a variable of the build's Makefile, e.g. UNIT_TESTS.
make_var() {
	printf 'sanitize-print-var:\n\t@echo $(%s)\n' "$1" \
	    >"$build/logs/print.mk"
	make -s -C "$build/build" -f Makefile -f "$build/logs/print.mk" \
	    sanitize-print-var
}

# ---------------------------------------------------------------- asan

run_asan() {
	local cc=${SANITIZE_CC:-clang} logs=$build/sanitizer-logs n rc
	local san="-fsanitize=address,undefined"
	local cflags="-O1 -g $san -fno-omit-frame-pointer"

	command -v "$cc" >/dev/null 2>&1 ||
	    die "no $cc: install clang and libclang-rt-14-dev" \
	    "(or the matching version)"
	mkdir -p "$logs" && chmod 1777 "$logs" || die "cannot create $logs"
	# The backends of the end-to-end tests run as www-data.
	if [ "$(id -u)" -eq 0 ] && id www-data >/dev/null 2>&1 &&
	    command -v runuser >/dev/null 2>&1; then
		runuser -u www-data -- sh -c ": >'$logs/.probe'" 2>/dev/null ||
		    die "www-data cannot write to $logs: choose a" \
		    "SANITIZE_BUILDDIR it can reach"
		rm -f "$logs/.probe"
	fi
	"$cc" -c -O1 -g -DSANITIZER_LOG_DIR="\"$logs\"" \
	    "$srcdir/tests/fuzz/sanitizer-options.c" \
	    -o "$build/sanitizer-options.o" ||
	    die "cannot compile tests/fuzz/sanitizer-options.c"

	prepare_source
	configure_and_make CC="$cc" \
	    CFLAGS="$cflags -fno-sanitize-recover=undefined" \
	    LDFLAGS="$san" LIBS="$build/sanitizer-options.o"
	# configure runs a program or two: a report from them is no test's.
	rm -f "$logs"/sanitizer.*

	say "make check (ASan+UBSan; reports go to $logs)"
	make -C "$build/build" -j"$jobs" check >"$build/logs/check.log" 2>&1
	rc=$?
	trs_count "$build/build" 80

	n=0
	for f in "$logs"/sanitizer.*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		echo "======== sanitizer report: $f"
		head -n 80 "$f"
		echo "======== end of $f"
	done
	[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || {
		tail_log "$build/logs/check.log"
		failed=$((failed + 1))
	}
	echo "check-asan: $passed passed, $failed failed ($todo todo," \
	    "$skipped skipped); $n sanitizer report(s) in $logs"
	[ "$failed" -eq 0 ] && [ "$n" -eq 0 ]
}

# ---------------------------------------------------------------- valgrind

# vg_errors: the valgrind logs under $1 with errors, one "file: summary"
# line each; the full text of each goes to stdout first.
vg_errors() {
	local f
	for f in "$1"/*.log; do
		[ -f "$f" ] || continue
		grep -q 'ERROR SUMMARY: [1-9]' "$f" || continue
		echo "======== valgrind: $f"
		head -n 120 "$f"
		echo "======== end of $f"
	done
}

run_valgrind() {
	local logs=$build/valgrind-logs units e2e vg n rc rc2=0 wrapper
	command -v valgrind >/dev/null 2>&1 ||
	    die "no valgrind: install valgrind"
	rm -rf "$logs"
	mkdir -p "$logs" && chmod 1777 "$logs" || die "cannot create $logs"

	prepare_source
	configure_and_make CFLAGS="-O1 -g"
	units=$(make_var UNIT_TESTS) || die "cannot read UNIT_TESTS"
	[ -n "$units" ] || die "no UNIT_TESTS in the Makefile"

	# --child-silent-after-fork: a detached supervisor builds the task's
	# environment and ends with _exit() (exit() would flush the stdio
	# buffers it inherited into the request socket), which valgrind reports
	# as leaks, and its --error-exitcode would change the exit status the
	# test checks.  The asan run watches those children instead.
	vg="valgrind --error-exitcode=99 --leak-check=full
	    --show-leak-kinds=definite,indirect
	    --errors-for-leak-kinds=definite,indirect
	    --trace-children=no --child-silent-after-fork=yes
	    --log-file=$logs/unit.%p.log"
	say "make check under valgrind: $(echo $units)"
	make -C "$build/build" -j"$jobs" check TESTS="$units" \
	    LOG_COMPILER="$(echo $vg)" >"$build/logs/check.log" 2>&1
	rc=$?
	trs_count "$build/build" 80

	if [ "${SANITIZE_E2E:-0}" = 1 ]; then
		# The request parsers and the job's whole life: the tests
		# that put the most of spoolcgi's code under valgrind.
		e2e=${SANITIZE_E2E_TESTS:-tests/e2e/flow.test tests/e2e/hostile.test tests/e2e/lifecycle.test}
		wrapper=$build/spoolcgi-valgrind
		# The site copies this script as its spoolcgi; it runs the
		# real binary under valgrind, one log per process.
		cat >"$wrapper" <<WRAP
#!/bin/sh
exec valgrind --leak-check=full \\
    --show-leak-kinds=definite,indirect \\
    --errors-for-leak-kinds=definite,indirect \\
    --trace-children=no --child-silent-after-fork=yes \\
    --log-file=$logs/e2e.%p.log $build/build/app/spoolcgi "\$@"
WRAP
		chmod 755 "$wrapper"
		say "end-to-end tests with spoolcgi under valgrind:" \
		    "their own failures are expected and not counted"
		SPOOLCGI_BIN=$wrapper make -C "$build/build" check \
		    TESTS="$e2e" >"$build/logs/check-e2e.log" 2>&1
		rc2=$?
		say "end-to-end tests exited $rc2 (not counted)"
	fi

	vg_errors "$logs" >"$build/logs/valgrind-errors.txt"
	n=$(grep -c '^======== valgrind:' "$build/logs/valgrind-errors.txt")
	cat "$build/logs/valgrind-errors.txt"
	[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || {
		tail_log "$build/logs/check.log"
		failed=$((failed + 1))
	}
	echo "check-valgrind: $passed passed, $failed failed ($todo todo," \
	    "$skipped skipped); $n process(es) with valgrind errors," \
	    "logs in $logs"
	[ "$failed" -eq 0 ] && [ "$n" -eq 0 ]
}

case $mode in
asan) run_asan ;;
valgrind) run_valgrind ;;
esac
rc=$?
[ "$rc" -eq 0 ] || exit 1
exit 0
