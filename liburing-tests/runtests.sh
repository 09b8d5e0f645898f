#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run test binaries in the guest, one at a time, and judge each one by its
# exit status (0 pass, 77 skip, anything else fail) AND by what the kernel
# did meanwhile:
#  - a WARNING, BUG, Oops, KASAN, lockdep or RCU stall report in the kernel
#    log after the test's /dev/kmsg marker fails it, and the failure shows
#    the first such report with its stack;
#  - so does a FOLL_PIN imbalance: nr_foll_pin_acquired - released in
#    /proc/vmstat must be back where it was before the test once its rings
#    are torn down (asynchronously: we wait, bounded, before judging).
#
#   runtests.sh [--suite NAME] [--expect FILE] [--args FILE] [--timeout SEC]
#               [--no-skips] TEST... [--suite NAME2 ... TEST...]
#
# Options apply to the tests after them, so one run covers several suites
# and ends with one verdict. --expect FILE lists tests known to fail or skip
# in this VM ("name fail|skip reason"); such a test counts as skipped when
# it does what the file says and as failed when it does worse. Prints one
# line per test and ends with "N passed, N failed, N skipped"; exits 1 on
# any failure. A "timeout=SECONDS" word before the reason shortens the wait
# for a test known to hang. --args FILE gives tests their command-line
# arguments ("name arg...", e.g. the device liburing's passthrough test
# drives). --no-skips makes the suite's skips failures, a whole test's
# (exit 77) or a TAP case's ("ok N ... # SKIP"), unless --expect lists the
# test with "skip" or with "skips=N" (up to N cases).
set -u

timeout=600
expect=/dev/null
args_file=/dev/null
no_skips=
suite=tests

passed=0 failed=0 skipped=0
failed_names=()
log_pattern='WARNING:|BUG:|BUG at|Oops|KASAN|UBSAN|possible (circular|recursive) locking|inconsistent lock state|suspicious RCU usage|INFO: lockdep is turned off|rcu.*(stall|self-detected)|general protection fault|Kernel panic'
pin_settle_seconds=20

pins_outstanding() {
	local acquired released
	# Fold the per-cpu deltas first: /proc/vmstat alone lags behind.
	echo 1 > /proc/sys/vm/stat_refresh 2>/dev/null
	acquired=$(awk '/^nr_foll_pin_acquired /{print $2}' /proc/vmstat)
	released=$(awk '/^nr_foll_pin_released /{print $2}' /proc/vmstat)
	echo $((acquired - released))
}

# The rest of test $1's line in file $2.
lookup() {
	awk -v t="$1" '$1 == t { $1 = ""; sub(/^ /, ""); print; exit }' "$2"
}

expected() {
	lookup "$1" "$expect"
}

# The first line that mentions skipping (a TAP "# SKIP reason" included),
# else the last line the test printed.
skip_reason() {
	grep -m 1 -i 'skip' "$1" || grep -v '^[[:space:]]*$' "$1" | tail -n 1
}

# The kernel's first report after marker $1, from its "cut here" line to
# its "end trace" line and at most 60 lines: what a failure shows of it.
kernel_report() {
	dmesg | awk -v m="$1" -v p="$log_pattern" '
		!after { after = index($0, m) > 0; next }
		shown { print; if (/end trace/ || ++shown > 60) exit; next }
		/cut here/ { held = $0; nheld = 1; next }
		$0 ~ p { if (nheld) print held; print; shown = 1; next }
		nheld && nheld < 3 { held = held "\n" $0; nheld++; next }
		{ nheld = 0 }'
}

report() {
	local verdict=$1 name=$2 detail=$3
	printf '%-5s %s/%s%s\n' "$verdict" "$suite" "$name" "${detail:+: $detail}"
}

scratch=${REGBUF_SCRATCH:-$PWD}
logdir=$(mktemp -d /tmp/runtests.XXXXXX)
seq=0
while (($#)); do
	case $1 in
	--timeout) timeout=$2; shift 2; continue ;;
	--expect) expect=$2; shift 2; continue ;;
	--args) args_file=$2; shift 2; continue ;;
	--no-skips) no_skips=1; shift; continue ;;
	--suite) suite=$2; expect=/dev/null; args_file=/dev/null; no_skips=
		shift 2; continue ;;
	esac
	test=$(realpath "$1")
	shift
	name=$(basename "$test" .t)
	seq=$((seq + 1))
	marker="regbuf-runtests: begin $suite/$name #$seq"
	read -r known_outcome known_reason <<< "$(expected "$name")"
	test_timeout=$timeout
	if [[ $known_reason == timeout=* ]]; then
		test_timeout=${known_reason%%[[:space:]]*}
		test_timeout=${test_timeout#timeout=}
		known_reason=${known_reason#*[[:space:]]}
	fi
	pins_before=$(pins_outstanding)
	echo "$marker" > /dev/kmsg
	workdir=$(mktemp -d "$scratch/$name.XXXXXX")
	start=$SECONDS
	read -r -a test_args <<< "$(lookup "$name" "$args_file")"
	(cd "$workdir" && exec timeout -k 5 "$test_timeout" "$test" "${test_args[@]}") \
		> "$logdir/$name.out" 2>&1
	status=$?
	elapsed=$((SECONDS - start))
	rm -rf "$workdir"

	waited=0
	pins_after=$(pins_outstanding)
	while ((pins_after != pins_before && waited < pin_settle_seconds)); do
		sleep 1
		waited=$((waited + 1))
		pins_after=$(pins_outstanding)
	done
	kernel_log=$(dmesg | awk -v m="$marker" 'found; index($0, m) { found = 1 }' |
		grep -E "$log_pattern" | head -n 5)

	reason=
	if ((status == 124 || status == 137)); then
		reason="timed out after ${test_timeout}s"
	elif [[ -n $kernel_log ]]; then
		reason="kernel log: $(head -n 1 <<< "$kernel_log")"
	elif ((pins_after != pins_before)); then
		reason="FOLL_PIN imbalance: $((pins_after - pins_before)) pins not released after ${waited}s"
	elif ((status != 0 && status != 77)); then
		reason="exit status $status"
	fi
	cases_skipped=$(grep -cE '^ok [0-9]+ .*# SKIP' "$logdir/$name.out")
	allowed=0
	[[ $known_outcome == skips=* ]] && allowed=${known_outcome#skips=}
	if [[ -z $reason && -n $no_skips ]]; then
		if ((status == 77)) && [[ $known_outcome != skip ]]; then
			reason="skipped, and this suite allows no skip here: $(
				skip_reason "$logdir/$name.out")"
		elif ((cases_skipped > allowed)); then
			reason="$cases_skipped cases skipped, $allowed allowed: $(
				grep -m 1 -E '^ok [0-9]+ .*# SKIP' "$logdir/$name.out")"
		fi
	fi
	outcome=pass
	[[ -n $reason ]] && outcome=fail
	((status == 77)) && [[ -z $reason ]] && outcome=skip

	if [[ $outcome == fail && -z $kernel_log && $known_outcome == fail ]]; then
		skipped=$((skipped + 1))
		report SKIP "$name" "known failure in this VM ($known_reason): $reason"
	elif [[ $outcome == skip ]]; then
		skipped=$((skipped + 1))
		report SKIP "$name" "$(skip_reason "$logdir/$name.out")"
	elif [[ $outcome == pass ]]; then
		passed=$((passed + 1))
		detail=${elapsed}s
		((cases_skipped)) && detail+=" ($cases_skipped cases skipped)"
		[[ $known_outcome == fail || $known_outcome == skip ]] &&
			detail+=" (better than expected: $known_reason)"
		report PASS "$name" "$detail"
	else
		failed=$((failed + 1))
		failed_names+=("$suite/$name")
		report FAIL "$name" "$reason"
		sed 's/^/    | /' "$logdir/$name.out" | tail -n 30
		[[ -n $kernel_log ]] && kernel_report "$marker" | sed 's/^/    ! /'
	fi
done
rm -rf "$logdir"

((failed)) && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
