#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# PID 1 of the test guest booted by vm/run.sh. The root filesystem is the
# host's, read-only over 9p; everything writable lives in tmpfs, the shared
# results directory and an ext4 scratch filesystem on a ramdisk.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp LANG=C.UTF-8

# Without an exit-status file the host reports the guest as failed.
fail() {
	echo "guest-init: $*" >&2
	echo b > /proc/sysrq-trigger
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /dev/hugepages
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t hugetlbfs hugetlbfs /dev/hugepages
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ip link set lo up || fail "cannot bring up lo"

export REGBUF_RESULTS=/tmp/results REGBUF_SCRATCH=/tmp/scratch
mkdir -p "$REGBUF_RESULTS" "$REGBUF_SCRATCH"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results \
	"$REGBUF_RESULTS" || fail "cannot mount the results directory"
mkfs.ext4 -q -F /dev/ram0 || fail "mkfs.ext4 on /dev/ram0 failed"
mount -t ext4 /dev/ram0 "$REGBUF_SCRATCH" || fail "cannot mount scratch ext4"

echo madvise > /sys/kernel/mm/transparent_hugepage/enabled

bash "$REGBUF_RESULTS/command.sh" < /dev/null
echo $? > "$REGBUF_RESULTS/exit-status"
sync
umount "$REGBUF_SCRATCH" "$REGBUF_RESULTS"
echo b > /proc/sysrq-trigger
