#!/bin/sh
# tools/static-check.sh [-m x86-64] FILE: checks that FILE is a fully
# static ELF executable (no program interpreter, no dynamic section: the
# kernel runs it with no ld.so and no shared library of the host), and with
# -m that it is for that machine.  Prints one line saying so, with its
# size; exits 1 with a reason otherwise.  Used by "make static",
# "make static-release" and tests/e2e/chroot.test.

set -u
machine=
if [ "${1:-}" = -m ]; then
	machine=$2
	shift 2
fi
[ $# -eq 1 ] || { echo "usage: static-check.sh [-m x86-64] FILE" >&2; exit 2; }
f=$1

die() {
	echo "static-check.sh: $f: $*" >&2
	exit 1
}

command -v readelf >/dev/null 2>&1 || die "readelf (binutils) is needed"
hdr=$(LC_ALL=C readelf -h "$f" 2>/dev/null) || die "not an ELF file"
printf '%s\n' "$hdr" | grep -q 'Type:[[:space:]]*EXEC' ||
    die "not a fixed-address executable (a static-pie or a shared object?)"
LC_ALL=C readelf -l "$f" 2>/dev/null | grep -q 'INTERP' &&
    die "it names a program interpreter: dynamically linked"
LC_ALL=C readelf -d "$f" 2>/dev/null | grep -q 'NEEDED' &&
    die "it needs shared libraries"
if [ -n "$machine" ]; then
	case $machine in
	x86-64)	want='X86-64' ;;
	*)	die "unknown machine $machine" ;;
	esac
	printf '%s\n' "$hdr" | grep -q "Machine:.*$want" ||
	    die "not an $machine executable"
fi
# file(1), when installed, says it too ("statically linked").
if command -v file >/dev/null 2>&1; then
	file -b "$f" | grep -q 'statically linked' ||
	    die "file(1) does not call it statically linked: $(file -b "$f")"
fi
echo "$f: statically linked, $(wc -c <"$f") bytes"
