#!/bin/bash
# SPDX-License-Identifier: MIT
# Run verify-fixedbufs.fio as a test: exit 0 when every job's data
# verified, 1 when one did not, 77 (skip) when fio or the hugepages the
# job file assumes are missing. liburing-tests/runtests.sh runs it in the
# guest from a scratch directory on ext4.
set -u

jobs=$(dirname "$(realpath "$0")")/verify-fixedbufs.fio
# bs x iodepth of the 8m jobs, in 2 MiB hugepages, plus slack.
need_hugepages=20

if ! command -v fio > /dev/null; then
	echo "SKIP: fio is not installed"
	exit 77
fi
free=$(awk '/^HugePages_Free/ { print $2 }' /proc/meminfo)
if ((${free:-0} < need_hugepages)); then
	echo "SKIP: ${free:-0} free 2 MiB hugepages, the shmhuge/mmaphuge jobs need $need_hugepages"
	exit 77
fi
# fio 3.33 cannot ask for THP buffers; glibc's tunable makes malloc-* THP.
GLIBC_TUNABLES=glibc.malloc.hugetlb=1 exec fio --eta=never "$jobs"
