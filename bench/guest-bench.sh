#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark half of one kernel's `make bench` run, inside the guest
# (vm/run.sh boots the kernel and runs this). Writes to the results
# directory vm/run.sh shares with the guest ($REGBUF_RESULTS):
#   env.txt          what the figures were measured on
#   regcost.tsv      bench/regcost's rows (its table goes to the terminal)
#   fio.json         fio-jobs/throughput-fixedbufs.fio, JSON output
#   fio-devices.json fio-jobs/throughput-devices.fio, JSON output
#
#   bench/guest-bench.sh REGCOST [REGCOST_ARGS...]
#
# Set BENCH_FIO=0 to leave out the fio jobs. Runs from the scratch ext4
# filesystem vm/guest-init.sh made the working directory: the file-* fio
# jobs put their files there.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${REGBUF_RESULTS:?guest-bench.sh runs in the guest booted by vm/run.sh}
regcost=${1:?usage: guest-bench.sh REGCOST [REGCOST_ARGS...]}
shift

step() { echo "[bench] $(uname -r): $*"; }

{
	echo "kernel	$(uname -r)"
	echo "cpus	$(nproc)"
	echo "memory	$(awk '/^MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo)"
	echo "thp	$(cat /sys/kernel/mm/transparent_hugepage/enabled)"
	echo "hugepages_2m	$(cat /proc/sys/vm/nr_hugepages)"
	echo "cmdline	$(cat /proc/cmdline)"
	echo "regcost_args	$*"
} > "$out/env.txt"

# Fresh, unfragmented 2 MiB blocks for the THP rows.
echo 1 > /proc/sys/vm/compact_memory

step "register cost (regcost${*:+ $*})"
status=0
"$regcost" -o "$out/regcost.tsv" "$@" || status=$?
# 77: rows skipped for lack of a resource, already explained on stderr.
if ((status != 0 && status != 77)); then
	step "regcost FAILED (exit $status)"
	exit 1
fi

if [[ ${BENCH_FIO:-1} != 0 ]]; then
	step "fixed-buffer throughput (fio-jobs/throughput-fixedbufs.fio)"
	# fio 3.33 has no THP option: glibc's tunable makes malloc-* THP.
	GLIBC_TUNABLES=glibc.malloc.hugetlb=1 fio --eta=never \
		--output-format=json --output="$out/fio.json" \
		"$repo/fio-jobs/throughput-fixedbufs.fio"
	step "fixed-buffer throughput on NVMe and virtio-blk (fio-jobs/throughput-devices.fio)"
	fio --eta=never --output-format=json --output="$out/fio-devices.json" \
		"$repo/fio-jobs/throughput-devices.fio"
fi
step "done"
