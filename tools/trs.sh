# tools/trs.sh: sourced by tools/check.sh and tools/sanitize.sh.
#
# trs_count DIR [LINES]: add the results of the automake .trs files under
# DIR (a distcheck tree ./spoolcgi-* excepted) to $passed, $todo,
# $skipped and $failed, and print the log of every test that did not
# pass: whole, or its last LINES lines.  Each failing test's name and its
# first "not ok" lines are also added to $failures, which check.sh prints
# again last, where a CI log cut to its tail still shows them.
failures=
trs_count() {
	local trs log r name
	for trs in $(find "$1" -path ./spoolcgi-\* -prune -o -name '*.trs' \
	    -print | sort); do
		log=${trs%.trs}.log
		for r in $(sed -n 's/^:test-result: *\([A-Z]*\).*/\1/p' "$trs")
		do
			case $r in
			PASS) passed=$((passed + 1)) ;;
			XFAIL) todo=$((todo + 1)) ;;
			SKIP) skipped=$((skipped + 1)) ;;
			*) failed=$((failed + 1)) ;;
			esac
		done
		if grep -Eq '^:test-result: *(FAIL|XPASS|ERROR)' "$trs"; then
			name=${log#"$1"/}
			echo "======== FAILED: ${name#./}"
			if [ -n "${2:-}" ]; then
				tail -n "$2" "$log"
			else
				cat "$log"
			fi
			echo "======== end of ${name#./}"
			failures="${failures:-}
  ${name%.log}: $(grep -E '^(not ok|Bail out!)' "$log" | head -n 3 |
			    tr '\n' ' ' | cut -c1-400)"
		fi
	done
}
