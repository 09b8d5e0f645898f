#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: build the production flavour of each kernel, boot each in
# the same VM settings, run the register-cost tool and the fio throughput
# jobs, then write build/bench/report.md and the plots.
#
#   bench/bench.sh
#
# Environment: KERNELS and the BENCH_* variables, each documented in
# bench/README.md ("Running it"); the Makefile passes its variables of the
# same names.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/build/bench
read -r -a kernels <<< "${KERNELS:-base patched mainline}"
vm_timeout=${BENCH_TIMEOUT:-1800}

regcost_args=()
rounds=${BENCH_ROUNDS:-3}
if [[ ${BENCH_QUICK:-} == 1 ]]; then
	regcost_args+=(-q)
	BENCH_FIO=${BENCH_FIO:-0}
fi
[[ -n ${BENCH_REPS:-} ]] && regcost_args+=(-r "$BENCH_REPS")
[[ -n ${BENCH_PAUSE_MS:-} ]] && regcost_args+=(-p "$BENCH_PAUSE_MS")
export BENCH_FIO=${BENCH_FIO:-1}
icount=${BENCH_ICOUNT:-1}

for k in "${kernels[@]}"; do
	case $k in
	base|patched|mainline) ;;
	*) echo "bench: unknown kernel '$k' in KERNELS (base, patched, mainline)" >&2
	   exit 2 ;;
	esac
done

step() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
n=${#kernels[@]}

declare -A source
i=0
for k in "${kernels[@]}"; do
	i=$((i + 1))
	step "kernel $i/$n: $k, production flavour (an up-to-date build is reused)"
	tree=$("$repo/scripts/prepare-tree.sh" "$k")
	"$repo/scripts/build-kernel.sh" "$tree" "$repo/build/kernel/$k-production" \
		production > /dev/null
	case $k in
	base) source[$k]=$(cat "$repo/build/base-version.txt") ;;
	patched) source[$k]="$(cat "$repo/build/base-version.txt") + patches/series" ;;
	mainline) source[$k]="Linux $(make -s -C "$tree" kernelversion) from Debian linux-source-6.12 $(
		dpkg-query -W -f='${Version}' linux-source-6.12)" ;;
	esac
done

make -s -C "$repo/bench" BUILD="$out"

# The run before this one moves to previous/, whose verdicts the report
# compares with this run's; an older previous/ goes.
if [[ -f $out/report.md ]]; then
	rm -rf "${out:?}/previous"
	mkdir "$out/previous"
	for f in "$out"/{base,patched,mainline,report.md,run.txt} "$out"/*.png; do
		if [[ -e $f ]]; then mv "$f" "$out/previous/"; fi
	done
fi
for k in "${kernels[@]}"; do
	rm -rf "${out:?}/$k"
	mkdir -p "$out/$k"
	# Which tree the figures came from, for the report.
	echo "${source[$k]}" > "$out/$k/source.txt"
done

# Which commit of this repository measured, and when, for the report.
printf 'commit\t%s\nstarted\t%s\n' \
	"$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)" \
	"$(date -u '+%Y-%m-%d %H:%M')" > "$out/run.txt"

# One guest run: boot kernel $1 (with vm/run.sh option $3, if not empty),
# results in $out/$1/$2, regcost's arguments $4...
guest_run() {
	local k=$1 dir=$2 vm_opt=$3
	shift 3
	if ! "$repo/vm/run.sh" ${vm_opt:+"$vm_opt"} \
		--kernel "$repo/build/kernel/$k-production/arch/x86/boot/bzImage" \
		--timeout "$vm_timeout" --results "$out/$k/$dir" \
		--env BENCH_FIO -- \
		"$repo/bench/guest-bench.sh" "$out/regcost" "$@"; then
		echo "bench: the $k run failed; its logs are in" \
			"${out#"$repo"/}/$k/$dir/" >&2
		exit 1
	fi
}

total=$((rounds * n + (icount ? n : 0)))
run=0
for ((round = 1; round <= rounds; round++)); do
	for k in "${kernels[@]}"; do
		run=$((run + 1))
		step "run $run/$total: $k kernel, wall-clock round $round/$rounds" \
			"(regcost${regcost_args[*]:+ ${regcost_args[*]}}$(
			((BENCH_FIO)) && echo ', then fio'))"
		guest_run "$k" "round$round" "" "${regcost_args[@]}"
	done
done
if ((icount)); then
	for k in "${kernels[@]}"; do
		run=$((run + 1))
		step "run $run/$total: $k kernel under icount (regcost)"
		BENCH_FIO=0 guest_run "$k" icount --icount -q -r 3
	done
fi

step "report"
"$repo/bench/report.py" "$out" "${kernels[@]}"
