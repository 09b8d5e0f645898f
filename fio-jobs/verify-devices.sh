#!/bin/bash
# SPDX-License-Identifier: MIT
# Run verify-devices.fio as a test: exit 0 when every job's data verified,
# 1 when one did not or fio failed, 77 (skip) when fio, the devices or the
# hugepages the job file assumes are missing.
set -u

jobs=$(dirname "$(realpath "$0")")/verify-devices.fio
need_hugepages=8

if ! command -v fio > /dev/null; then
	echo "SKIP: fio is not installed"
	exit 77
fi
for dev in /dev/nvme0n1 /dev/ng0n1 /dev/vda; do
	if [[ ! -b $dev && ! -c $dev ]]; then
		echo "SKIP: no $dev (vm/run.sh gives the guest one)"
		exit 77
	fi
done
free=$(awk '/^HugePages_Free/ { print $2 }' /proc/meminfo)
if ((${free:-0} < need_hugepages)); then
	echo "SKIP: ${free:-0} free 2 MiB hugepages, the shmhuge jobs need $need_hugepages"
	exit 77
fi
exec fio --eta=never "$jobs"
