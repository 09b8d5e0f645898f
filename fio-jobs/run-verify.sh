#!/bin/bash
# SPDX-License-Identifier: MIT
# Run a fio verify job file as a test:
#
#   run-verify.sh JOBFILE HUGEPAGES [DEVICE...]
#
# exits 0 when every job's data verified and the kernel logged no report of
# a debug checker (WARNING, BUG, KASAN, lockdep...) meanwhile, 1 when a job
# failed or the kernel did, 77 (skip) when fio, the free 2 MiB HUGEPAGES or
# a DEVICE the job file assumes is missing. Runs fio in the current
# directory (liburing-tests/runtests.sh makes it a scratch one on ext4).
set -u

here=$(dirname "$(realpath "$0")")
jobs=$here/${1:?usage: run-verify.sh JOBFILE HUGEPAGES [DEVICE...]}
need_hugepages=${2:?usage}
shift 2
checkers='WARNING:|BUG:|BUG at|Oops|KASAN|UBSAN|possible (circular|recursive) locking|inconsistent lock state|suspicious RCU usage|general protection fault'

if ! command -v fio > /dev/null; then
	echo "SKIP: fio is not installed"
	exit 77
fi
for dev in "$@"; do
	if [[ ! -b $dev && ! -c $dev ]]; then
		echo "SKIP: no $dev (vm/run.sh gives the guest one)"
		exit 77
	fi
done
free=$(awk '/^HugePages_Free/ { print $2 }' /proc/meminfo)
if ((${free:-0} < need_hugepages)); then
	echo "SKIP: ${free:-0} free 2 MiB hugepages, the job file needs $need_hugepages"
	exit 77
fi
if ! mark=$(dmesg 2>/dev/null | wc -l); then
	echo "SKIP: cannot read the kernel log (dmesg), which this test checks"
	exit 77
fi
# fio 3.33 cannot ask for THP buffers; glibc's tunable makes malloc-* THP.
GLIBC_TUNABLES=glibc.malloc.hugetlb=1 fio --eta=never "$jobs"
status=$?
report=$(dmesg | tail -n +$((mark + 1)) | grep -m 1 -E "$checkers")
if [[ -n $report ]]; then
	echo "kernel log: $report"
	exit 1
fi
exit $status
