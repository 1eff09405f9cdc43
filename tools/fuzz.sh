#!/bin/sh
# tools/fuzz.sh: build the libFuzzer harnesses of tests/fuzz/ and run each
# for a while from its seed corpus.
#
#   tools/fuzz.sh [HARNESS...]     every tests/fuzz/fuzz-*.c, or those named
#                                  ("fuzz-form" or "form")
#
#   FUZZ_SECONDS=N     seconds per harness (default 60), -max_total_time
#   FUZZ_TIMEOUT=N     seconds one input may take (default 10)
#   FUZZ_WORKDIR=DIR   scratch directory (default: a new one under TMPDIR,
#                      removed after a clean run; one that you name is
#                      never removed)
#   FUZZ_KEEP=1        keep the scratch directory after a clean run
#   FUZZ_MERGE=1       merge what the runs found into tests/fuzz/corpus/
#                      (the only way this writes into the source tree)
#   FUZZ_BUILD_ONLY=1  build the harnesses, print where, run nothing
#   FUZZ_ARGS='...'    more libFuzzer flags, e.g. -jobs=2 or -max_len=N
#   FUZZ_CC            a clang with libFuzzer (default: clang)
#
# The application's objects (the sources of app/libspoolcgi.a in
# Makefile.am; app/templates.c made afresh with tools/embed.sh) are
# compiled here with the harnesses' own sanitizers, so nothing of an
# existing build is reused or changed.  A harness of a parser that is not
# in Makefile.am yet (fuzz-multipart before app/multipart.c) is skipped.
# Inputs kept in tests/fuzz/crashes/HARNESS/ are replayed first: a bug
# found once fails the run until it is fixed.
#
# Prints one line per harness: name, runs, seconds, result.  Exits 0 when
# every harness ran clean, 1 when one crashed, leaked, timed out or broke
# an invariant (the line names the input that did it), 2 when the build
# failed.  Needs clang and its runtime (Debian: clang, libclang-rt-14-dev)
# and the -dev packages of json-c, uuid and fcgi.

set -u
srcdir=$(cd "$(dirname "$0")/.." && pwd) || exit 2
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
CC=${FUZZ_CC:-clang}

say() { printf 'fuzz.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

case $FUZZ_SECONDS in ''|*[!0-9]*) die "FUZZ_SECONDS must be a number" ;; esac
case $FUZZ_TIMEOUT in ''|*[!0-9]*) die "FUZZ_TIMEOUT must be a number" ;; esac
command -v "$CC" >/dev/null 2>&1 ||
    die "no $CC: install clang and libclang-rt-14-dev (or the matching version)"
PKGS="json-c uuid fcgi"
if pkg-config --exists $PKGS 2>/dev/null; then
	PKG_CFLAGS=$(pkg-config --cflags $PKGS)
	PKG_LIBS=$(pkg-config --libs $PKGS)
else
	# Debian's libfcgi-dev has no fcgi.pc: the same fallback as configure.
	pkg-config --exists json-c uuid ||
	    die "pkg-config finds no json-c or uuid"
	PKG_CFLAGS=$(pkg-config --cflags json-c uuid)
	PKG_LIBS="$(pkg-config --libs json-c uuid) -lfcgi"
fi

# ---------------------------------------------------------------- scratch

if [ -n "${FUZZ_WORKDIR:-}" ]; then
	work=$FUZZ_WORKDIR
	mkdir -p "$work" || die "cannot create $work"
	work=$(cd "$work" && pwd) || exit 2
	own_work=0
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/spoolcgi-fuzz.XXXXXX") ||
	    die "mktemp failed"
	own_work=1
fi
build=$work/build
rm -rf "$build" "$work/corpus" "$work/artifacts" "$work/logs"
mkdir -p "$build/obj" "$work/bin" "$work/corpus" "$work/artifacts" \
    "$work/logs" || die "cannot populate $work"

# ---------------------------------------------------------------- build

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
# No harness reaches the PostgreSQL store: app/pg.c is built without libpq
# (its stand-in), so neither its headers nor its library are needed here.
CFLAGS_ALL="-g -O1 -fno-omit-frame-pointer $SAN -Wall -Wextra
    -Wno-unused-parameter -I$build -I$srcdir/app $PKG_CFLAGS
    -DSPOOLCGI_WITHOUT_LIBPQ
    -DPKGDATADIR=\"/nonexistent\" -DSYSCONFDIR=\"/nonexistent\""

# config.h: the configured tree's when there is one (make passes
# top_builddir), else the little the app's sources ask of it.
cfg=
for d in "${top_builddir:-}" "$srcdir"; do
	[ -n "$d" ] && [ -f "$d/config.h" ] && { cfg=$d/config.h; break; }
done
if [ -n "$cfg" ]; then
	cp "$cfg" "$build/config.h" || exit 2
else
	version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' \
	    "$srcdir/configure.ac")
	{
		echo '/* Written by tools/fuzz.sh for a tree not configured. */'
		echo '#define _GNU_SOURCE 1'
		echo "#define PACKAGE_VERSION \"${version:-0}\""
		echo "#define VERSION \"${version:-0}\""
	} >"$build/config.h"
fi

say "building in $build"
sh "$srcdir/tools/embed.sh" "$srcdir"/templates/*.html \
    >"$build/templates.c" || die "tools/embed.sh failed"
# The sources of app/libspoolcgi.a as Makefile.am lists them, so a file
# someone is still writing in app/ does not break this build; app/*.c but
# main.c when the list cannot be read.
srcs=$(awk '/^app_libspoolcgi_a_SOURCES[ \t]*[+]?=/ { on = 1 }
    on { print; if (!/\\$/) on = 0 }' "$srcdir/Makefile.am" |
    tr ' \t\\' '\n\n\n' | grep '^app/.*\.c$')
[ -n "$srcs" ] || srcs=$(cd "$srcdir" && ls app/*.c)
objs=
for src in $srcs "$build/templates.c"; do
	case $src in
	app/main.c|app/templates.c) continue ;;
	app/*) src=$srcdir/$src ;;
	esac
	base=$(basename "$src" .c)
	# shellcheck disable=SC2086
	$CC $CFLAGS_ALL -fsanitize=fuzzer-no-link -c "$src" \
	    -o "$build/obj/$base.o" || die "cannot compile $src"
	objs="$objs $build/obj/$base.o"
done
rm -f "$build/libapp.a"
# shellcheck disable=SC2086
ar rc "$build/libapp.a" $objs && ranlib "$build/libapp.a" ||
    die "ar failed"

# The harnesses to run: all of them, or those named.
all=
for h in "$srcdir"/tests/fuzz/fuzz-*.c; do
	[ -f "$h" ] && all="$all $(basename "$h" .c)"
done
if [ $# -gt 0 ]; then
	want=
	for a; do
		a=${a#fuzz-}
		a=${a%.c}
		case " $all " in
		*" fuzz-$a "*) want="$want fuzz-$a" ;;
		*) die "no harness tests/fuzz/fuzz-$a.c" ;;
		esac
	done
else
	want=$all
fi

built=
for name in $want; do
	# A harness of a parser that is not in app/ yet waits for it.
	case $name in
	fuzz-multipart)
		case " $(echo $srcs) " in
		*" app/multipart.c "*) ;;
		*)	say "$name: skipped: app/multipart.c is not in" \
			    "Makefile.am yet"
			continue ;;
		esac ;;
	esac
	# shellcheck disable=SC2086
	$CC $CFLAGS_ALL -fsanitize=fuzzer "$srcdir/tests/fuzz/$name.c" \
	    "$build/libapp.a" $PKG_LIBS -o "$work/bin/$name" ||
	    die "cannot build $name"
	built="$built $name"
done
[ -n "$built" ] || die "no harness to run"
if [ "${FUZZ_BUILD_ONLY:-0}" = 1 ]; then
	say "built in $work/bin:$built"
	exit 0
fi

# ---------------------------------------------------------------- run

now() { date +%s; }

# classify LOG: what went wrong, from libFuzzer's and the sanitizers' words.
classify() {
	if grep -q 'ERROR: LeakSanitizer' "$1"; then echo leak
	elif grep -q 'ERROR: libFuzzer: timeout' "$1"; then echo timeout
	elif grep -q 'out-of-memory' "$1"; then echo out-of-memory
	elif grep -q 'invariant failed' "$1"; then echo invariant
	elif grep -q 'ERROR: AddressSanitizer' "$1"; then
		echo "asan: $(sed -n 's/.*ERROR: AddressSanitizer: \([a-z-]*\).*/\1/p' \
		    "$1" | head -n 1)"
	elif grep -q 'runtime error:' "$1"; then echo ubsan
	else echo crash
	fi
}

# report NAME LOG: the first sanitizer report in LOG, for the CI log,
# without ASan's map of shadow bytes.
report() {
	local start='^==[0-9]*==ERROR\|runtime error:\|invariant failed'
	start="$start\\|ERROR: libFuzzer"
	sed -n "/$start/,\$p" "$2" |
	    sed '/^Shadow bytes around/,/^==[0-9]*==ABORTING/d' |
	    head -n 60 | sed "s/^/    $1| /"
}

printf '%-16s %12s %8s  %s\n' harness runs seconds result
failed=0
for name in $built; do
	bin=$work/bin/$name
	log=$work/logs/$name.log
	art=$work/artifacts/$name
	corpus=$work/corpus/$name
	seeds=$srcdir/tests/fuzz/corpus/$name
	crashes=$srcdir/tests/fuzz/crashes/$name
	mkdir -p "$art" "$corpus"
	[ -d "$seeds" ] && cp -R "$seeds/." "$corpus/"
	# The real templates seed the template harness; no copies are kept.
	[ "$name" = fuzz-tmpl ] && cp "$srcdir"/templates/*.html "$corpus/"
	dict=
	[ -f "$srcdir/tests/fuzz/$name.dict" ] &&
	    dict=-dict=$srcdir/tests/fuzz/$name.dict

	# The inputs of bugs found before: each must pass now.
	if [ -d "$crashes" ] && [ -n "$(ls -A "$crashes" 2>/dev/null)" ]; then
		if ! "$bin" -runs=1 "$crashes"/* >"$log.replay" 2>&1; then
			printf '%-16s %12s %8s  %s\n' "$name" - - \
			    "FAIL: $(classify "$log.replay") replaying $crashes"
			report "$name" "$log.replay"
			say "$name: log in $log.replay"
			failed=1
			continue
		fi
	fi

	start=$(now)
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$art/" $dict ${FUZZ_ARGS:-} "$corpus" \
	    >"$log" 2>&1
	rc=$?
	secs=$(($(now) - start))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
	    tail -n 1)
	[ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" |
	    tail -n 1)
	if [ "$rc" -eq 0 ]; then
		printf '%-16s %12s %8s  %s\n' "$name" "${runs:-?}" "$secs" ok
		if [ "${FUZZ_MERGE:-0}" = 1 ]; then
			mkdir -p "$seeds"
			"$bin" -merge=1 "$seeds" "$corpus" \
			    >"$log.merge" 2>&1 ||
			    say "$name: merge failed, see $log.merge"
		fi
		continue
	fi
	failed=1
	unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" |
	    tail -n 1)
	printf '%-16s %12s %8s  %s\n' "$name" "${runs:-?}" "$secs" \
	    "FAIL: $(classify "$log"): ${unit:-no input saved} (exit $rc)"
	report "$name" "$log"
	say "$name: log in $log; reproduce with: $bin ${unit:-}"
done

if [ "$failed" -ne 0 ]; then
	say "FAILED; everything is kept in $work"
	exit 1
fi
if [ "$own_work" = 1 ] && [ "${FUZZ_KEEP:-0}" != 1 ]; then
	rm -rf "$work"
else
	say "kept $work"
fi
exit 0
