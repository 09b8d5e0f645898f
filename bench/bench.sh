#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: build the production flavour of each kernel, boot each in
# the same VM settings, run the register-cost tool and the fio throughput
# jobs, then write build/bench/report.md and the plots.
#
#   bench/bench.sh
#
# Environment (the Makefile passes its variables of the same names):
#   KERNELS      which kernels, in report order (default "base patched
#                mainline"): base = Debian's 6.1, patched = 6.1 +
#                patches/series, mainline = Debian's 6.12
#   BENCH_QUICK  1: regcost's quick preset (the report's target rows only,
#                same 9 repetitions) and no fio
#   BENCH_REPS   repetitions per regcost row (default: regcost's own)
#   BENCH_PAUSE_MS  regcost's pause before each timed register (default:
#                regcost's own, 200 ms; 0 times them back to back)
#   BENCH_FIO    0: leave out the fio throughput jobs
#   BENCH_ROUNDS boots of each kernel for regcost (default 2), interleaved
#                base, patched, mainline, base, ...; the report takes each
#                row's best over all rounds, which evens out the boot-to-boot
#                noise of an emulated machine. fio runs in the first round.
#   BENCH_TIMEOUT  seconds one kernel's guest run may take (default 1800)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/build/bench
read -r -a kernels <<< "${KERNELS:-base patched mainline}"
vm_timeout=${BENCH_TIMEOUT:-1800}

regcost_args=()
if [[ ${BENCH_QUICK:-} == 1 ]]; then
	regcost_args+=(-q)
	export BENCH_FIO=0
fi
[[ -n ${BENCH_REPS:-} ]] && regcost_args+=(-r "$BENCH_REPS")
[[ -n ${BENCH_PAUSE_MS:-} ]] && regcost_args+=(-p "$BENCH_PAUSE_MS")
export BENCH_FIO=${BENCH_FIO:-1}
rounds=${BENCH_ROUNDS:-2}

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

for k in "${kernels[@]}"; do
	rm -rf "${out:?}/$k"
	mkdir -p "$out/$k"
	# Which tree the figures came from, for the report.
	echo "${source[$k]}" > "$out/$k/source.txt"
done

run=0
for ((round = 1; round <= rounds; round++)); do
	for k in "${kernels[@]}"; do
		run=$((run + 1))
		fio=0
		((round == 1)) && fio=$BENCH_FIO
		step "run $run/$((rounds * n)): $k kernel, round $round/$rounds (regcost${regcost_args[*]:+ ${regcost_args[*]}}$(
			((fio)) && echo ', then fio'))"
		if ! BENCH_FIO=$fio "$repo/vm/run.sh" \
			--kernel "$repo/build/kernel/$k-production/arch/x86/boot/bzImage" \
			--timeout "$vm_timeout" --results "$out/$k/round$round" \
			--env BENCH_FIO -- \
			"$repo/bench/guest-bench.sh" "$out/regcost" "${regcost_args[@]}"; then
			echo "bench: the $k run failed; its logs are in" \
				"${out#"$repo"/}/$k/round$round/" >&2
			exit 1
		fi
	done
done

step "report"
"$repo/bench/report.py" "$out" "${kernels[@]}"
