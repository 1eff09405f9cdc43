# tests/e2e/contract.sh: the checks of the HTTP contract whose answers are
# the same on every store, sourced after tests/lib.sh by a test that has
# started a site with lib.sh's "echo" task under $APP
# (tests/e2e/contract.test on the file spool, tests/e2e/pgflow.test on
# PostgreSQL).  The test defines
#
#   contract_run ID   bring echo job ID (and whatever is queued before
#                     it) to its end, as the store's runner does: on one
#                     host the job's own supervisor, on PostgreSQL a worker
#
# and calls contract_checks LABEL, LABEL naming the store in each check.
# Answers that differ by design (a running job's cancel waits for its
# supervisor on one host) are the tests' own.

# contract_as_web CMD...: CMD as the site's user (the spool is theirs).
contract_as_web() {
	if [ -n "$WEB_USER" ]; then
		runuser -u "$WEB_USER" -- "$@"
	else
		"$@"
	fi
}

# contract_text ID: GET its result into $BODY; its "text" field.
contract_text() {
	http GET "$APP/jobs/$1/result"
	jget .fields.text
}

contract_checks() {
	local _s=$1 _j _k _f _m1 _m2 _next _full

	# A JSON start, run, its result and a range of it.
	start_json '{"task": "echo", "text": "contract one"}'
	_j=$JOB_ID
	is "$HTTP_STATUS" 202 "$_s: JSON start: 202"
	like "$(header Location)" "/jobs/$_j\$" "$_s: JSON start: Location names the job"
	contract_run "$_j"
	http GET "$APP/jobs/$_j" -H 'Accept: application/json'
	is "$HTTP_STATUS $(jget .state)" "200 succeeded" \
	    "$_s: the job ends: 200, succeeded"
	like "$(jget .links.result)" "/jobs/$_j/result\$" \
	    "$_s: the status links its result"
	is "$(contract_text "$_j")" "contract one" \
	    "$_s: the result is the task's output (its stdin)"
	cp "$BODY" "$T/contract.full"
	http GET "$APP/jobs/$_j/result" -H 'Range: bytes=3-9'
	is "$HTTP_STATUS" 206 "$_s: a range of the result: 206"
	is "$(cat "$BODY")" "$(head -c 10 "$T/contract.full" | tail -c 7)" \
	    "$_s: the range's bytes"
	_full=$(wc -c <"$T/contract.full")
	like "$(header Content-Range)" "^bytes 3-9/$_full\$" \
	    "$_s: Content-Range"

	# An urlencoded form start.
	http POST "$APP/jobs" -H 'Accept: text/html' \
	    --data 'task=echo&text=contract+two'
	_f=$(location_id)
	is "$HTTP_STATUS" 303 "$_s: form start: 303"
	contract_run "$_f"
	is "$(contract_text "$_f")" "contract two" "$_s: form start: its result"

	# An upload (multipart/form-data): in the task's directory, byte for
	# byte, whichever host runs it.
	head -c 50000 /dev/urandom >"$T/contract.doc"
	http POST "$APP/jobs" -H 'Accept: application/json' -F task=upload \
	    -F note=hello -F "doc=@$T/contract.doc;filename=scan.pdf"
	_f=$(location_id)
	is "$HTTP_STATUS" 202 "$_s: an upload: 202"
	contract_run "$_f"
	is "$JOB_STATE" succeeded "$_s: the upload's job succeeds"
	http GET "$APP/jobs/$_f/result"
	tail -c +"$(($(head -n 1 "$BODY" | wc -c) + 1))" "$BODY" \
	    >"$T/contract.out"
	ok "$_s: the task reads the upload byte for byte" \
	    cmp -s "$T/contract.doc" "$T/contract.out"
	is "$(head -n 1 "$BODY" | jq -r '.files.doc.size')" 50000 \
	    "$_s: the upload's size in the task's input"

	# Refusals and unknown ids.
	start_json '{"task": "echo", "text": ""}'
	is "$HTTP_STATUS" 400 "$_s: a required field missing: 400"
	start_json '{"task": "nosuchtask"}'
	like "$HTTP_STATUS" '^4' "$_s: an unknown task: 4xx"
	http GET "$APP/jobs/00000000-0000-4000-8000-000000000000" \
	    -H 'Accept: application/json'
	is "$HTTP_STATUS" 404 "$_s: an unknown id: 404"
	http GET "$APP/jobs/not-an-id" -H 'Accept: application/json'
	is "$HTTP_STATUS" 404 "$_s: a malformed id: 404"

	# Idempotency keys.
	_k="contract-$$-$_s"
	start_json '{"task": "echo", "text": "keyed"}' -H "Idempotency-Key: $_k"
	_j=$JOB_ID
	is "$HTTP_STATUS" 202 "$_s: Idempotency-Key: 202"
	start_json '{"task": "echo", "text": "keyed"}' -H "Idempotency-Key: $_k"
	is "$JOB_ID" "$_j" "$_s: Idempotency-Key: the repeat names the same job"
	start_json '{"task": "echo", "text": "other"}' -H "Idempotency-Key: $_k"
	is "$HTTP_STATUS" 400 "$_s: Idempotency-Key: another body: 400"
	start_json '{"task": "echo", "text": "keyed"}' -H "Idempotency-Key: $_k-2"
	isnt "$JOB_ID" "$_j" "$_s: Idempotency-Key: another key, another job"

	# An Idempotency-Key is the owner's: another browser's same key is
	# another job (nobody finds another's job by guessing its key), and
	# a request with no owner has a scope of its own.
	for _f in A B; do
		: >"$T/contract.key$_f"
		http POST "$APP/jobs" -H 'Accept: text/html' \
		    -b "$T/contract.key$_f" -c "$T/contract.key$_f" \
		    --data "task=echo&text=owner+$_f"
	done
	_k="contract-owned-$$-$_s"
	start_json '{"task": "echo", "text": "owned"}' -H "Idempotency-Key: $_k" \
	    -b "$T/contract.keyA"
	_j=$JOB_ID
	is "$HTTP_STATUS" 202 "$_s: owner A's key: 202"
	start_json '{"task": "echo", "text": "owned"}' -H "Idempotency-Key: $_k" \
	    -b "$T/contract.keyB"
	is "$HTTP_STATUS" 202 "$_s: owner B's same key: 202"
	isnt "$JOB_ID" "$_j" "$_s: owner B's same key: another job, not A's"
	_f=$JOB_ID
	start_json '{"task": "echo", "text": "owned"}' -H "Idempotency-Key: $_k"
	ok "$_s: the same key without an owner: 202, neither owner's job" \
	    test "$HTTP_STATUS" = 202 -a -n "$JOB_ID" -a "$JOB_ID" != "$_j" \
	    -a "$JOB_ID" != "$_f"
	start_json '{"task": "echo", "text": "owned"}' -H "Idempotency-Key: $_k" \
	    -b "$T/contract.keyA"
	is "$JOB_ID" "$_j" "$_s: owner A's key again: A's job"
	start_json '{"task": "echo", "text": "owned"}' -H "Idempotency-Key: $_k" \
	    -b "$T/contract.keyB"
	is "$JOB_ID" "$_f" "$_s: owner B's key again: B's job"

	# A form's one-time token, posted twice by one browser.
	: >"$T/contract.jar"
	http GET "$APP/tasks" -H 'Accept: text/html' -b "$T/contract.jar" \
	    -c "$T/contract.jar"
	awk -v RS='<form' -v t='name="task" value="echo"' \
	    'index($0, t) { print; exit }' "$BODY" |
	    grep -o '<input type="hidden" name="[^"]*" value="[^"]*"' |
	    sed 's/.* name="\([^"]*\)" value="\([^"]*\)"/\1=\2/' \
	    >"$T/contract.fields"
	set --
	while read -r _f; do
		set -- "$@" --data-urlencode "$_f"
	done <"$T/contract.fields"
	http POST "$APP/jobs" -b "$T/contract.jar" -c "$T/contract.jar" "$@" \
	    --data-urlencode 'text=double'
	_f=$(location_id)
	is "$HTTP_STATUS" 303 "$_s: a form with its token: 303"
	http POST "$APP/jobs" -b "$T/contract.jar" -c "$T/contract.jar" "$@" \
	    --data-urlencode 'text=double'
	is "$(location_id)" "$_f" "$_s: the same form again: the same job"

	# My jobs, newest first, a page at a time.
	: >"$T/contract.mine"
	http POST "$APP/jobs" -b "$T/contract.mine" -c "$T/contract.mine" \
	    -H 'Accept: text/html' --data 'task=echo&text=mine1'
	_m1=$(location_id)
	http POST "$APP/jobs" -b "$T/contract.mine" -c "$T/contract.mine" \
	    -H 'Accept: text/html' --data 'task=echo&text=mine2'
	_m2=$(location_id)
	http GET "$APP/jobs" -b "$T/contract.mine" -H 'Accept: application/json'
	is "$HTTP_STATUS" 200 "$_s: my jobs: 200"
	is "$(jget '[.jobs[].id] | join(" ")')" "$_m2 $_m1" \
	    "$_s: my jobs: this browser's two, newest first"
	http GET "$APP/jobs?limit=1" -b "$T/contract.mine" \
	    -H 'Accept: application/json'
	is "$(jget '[.jobs[].id] | join(" ")')" "$_m2" "$_s: my jobs: a page of one"
	_next=$(jget .next)
	case $_next in
	http*) _next=/${_next#http://*/} ;;
	esac
	http GET "$_next" -b "$T/contract.mine" -H 'Accept: application/json'
	is "$(jget '[.jobs[].id] | join(" ")')" "$_m1" "$_s: my jobs: the next page"
	http GET "$APP/jobs?before=zz" -b "$T/contract.mine" \
	    -H 'Accept: application/json'
	is "$HTTP_STATUS" 400 "$_s: my jobs: a cursor not of this list: 400"

	# A final job: no cancel, no retry of a success; DELETE.
	contract_run "$_m2"
	http POST "$APP/jobs/$_m2/cancel" -H 'Accept: application/json' --data ''
	is "$HTTP_STATUS" 409 "$_s: cancel of a final job: 409"
	http POST "$APP/jobs/$_m2/retry" -H 'Accept: application/json' --data ''
	is "$HTTP_STATUS" 409 "$_s: retry of a succeeded job: 409"
	http DELETE "$APP/jobs/$_m2" -H 'Accept: application/json'
	is "$HTTP_STATUS" 204 "$_s: DELETE a final job: 204"
	http GET "$APP/jobs/$_m2" -H 'Accept: application/json'
	is "$HTTP_STATUS" 404 "$_s: a deleted job: 404"

	# Drain.
	contract_as_web "$SITE/bin/spoolcgi" -c "$CONFIG" drain on >/dev/null
	start_json '{"task": "echo", "text": "drained"}'
	is "$HTTP_STATUS" 503 "$_s: draining: a start is refused, 503"
	contract_as_web "$SITE/bin/spoolcgi" -c "$CONFIG" drain off >/dev/null
	start_json '{"task": "echo", "text": "undrained"}'
	is "$HTTP_STATUS" 202 "$_s: drain off: 202"
	contract_run "$JOB_ID"
}
