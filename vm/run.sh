#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot a kernel under qemu with the host root shared read-only over 9p and
# run one command in it; exit with the command's exit status.
#
#   vm/run.sh [options] -- COMMAND...
#
#   --kernel BZIMAGE   kernel to boot (required)
#   --results DIR      host directory shared writable with the guest, seen
#                      there as $REGBUF_RESULTS (default: a new directory
#                      under build/vm-results/)
#   --timeout SECONDS  kill the guest after this long (default 3600)
#   --mem SIZE         guest memory (default 6G)
#   --cpus N           guest CPUs (default 2)
#   --hugepages N      2 MiB hugepages reserved at boot (default 600)
#   --gigantic N       1 GiB hugepages reserved at boot (default 1)
#   --movablecore SIZE memory for ZONE_MOVABLE (movablecore=; default none)
#   --env NAME         pass host variable NAME into the guest (repeatable)
#   --interactive      connect the guest command to this terminal
#   --kvm              use KVM instead of TCG (hangs on some hosts: opt-in)
#   --no-disks         leave out the NVMe controller and the virtio-blk disk
#   --icount           single-threaded TCG with -icount shift=0,sleep=off:
#                      the guest clock counts executed instructions (1 ns
#                      each) and skips idle time, so a timing inside the
#                      guest no longer moves with the host's load or speed;
#                      one vCPU (a second one hangs in bring-up that way)
#
# The guest has two real block devices, each backed by a sparse 1 GiB file
# in the results directory (removed when the guest is done): an NVMe
# controller (nvme-pci: /dev/nvme0n1, and /dev/ng0n1 for passthrough) and a
# virtio-blk disk (/dev/vda).
#
# The guest (vm/guest-init.sh) mounts the usual filesystems, brings up lo,
# makes an ext4 scratch filesystem on a ramdisk and runs COMMAND with that
# as the working directory. The command talks to this terminal through the
# guest's first serial port (logged in output.log); the kernel's console is
# the second one, logged in console.log, so kernel messages never mix with
# the command's output. A panic, a hang or the timeout makes this script
# fail and show the end of the console log.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
kernel= results= timeout=3600 mem=6G cpus=2 hugepages=600 gigantic=1
accel=tcg,thread=multi interactive= movablecore=
envs=() icount=() disks=1
while (($#)); do
	case $1 in
	--kernel) kernel=$2; shift 2 ;;
	--results) results=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--hugepages) hugepages=$2; shift 2 ;;
	--gigantic) gigantic=$2; shift 2 ;;
	--movablecore) movablecore=$2; shift 2 ;;
	--env) envs+=("$2"); shift 2 ;;
	--kvm) accel=kvm; shift ;;
	--no-disks) disks=; shift ;;
	--icount) accel=tcg,thread=single; icount=(-icount shift=0,sleep=off)
		cpus=1; shift ;;
	--interactive) interactive=1; shift ;;
	--) shift; break ;;
	*) echo "vm/run.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
if [[ -z $kernel || ! -f $kernel ]]; then
	echo "vm/run.sh: no kernel image '${kernel}' (build it first)" >&2
	exit 2
fi
(($#)) || { echo "vm/run.sh: no command given" >&2; exit 2; }

if [[ -z $results ]]; then
	mkdir -p "$repo/build/vm-results"
	results=$(mktemp -d "$repo/build/vm-results/run.XXXXXX")
fi
mkdir -p "$results"
results=$(realpath "$results")
rm -f "$results/exit-status"

# The command travels as a script in the results directory: no quoting
# limits of the kernel command line.
{
	if [[ -n $interactive ]]; then
		echo 'exec </dev/ttyS0 >/dev/ttyS0 2>&1'
	else
		# Plain newlines: the output is read by programs, not a terminal.
		echo 'exec >/dev/ttyS0 2>&1; stty -F /dev/ttyS0 -onlcr 2>/dev/null'
	fi
	echo "cd \"\$REGBUF_SCRATCH\""
	for name in "${envs[@]}"; do
		[[ -v $name ]] && printf 'export %s=%q\n' "$name" "${!name}"
	done
	printf '%q ' "$@"
	echo
} > "$results/command.sh"

console=$results/console.log
cmdline=(
	console=ttyS1 panic=-1
	root=/dev/root rootfstype=9p ro
	rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose
	init="$repo/vm/guest-init.sh"
	hugepagesz=1G hugepages="$gigantic" hugepagesz=2M hugepages="$hugepages"
	transparent_hugepage=madvise
	brd.rd_nr=1 brd.rd_size=1048576
	regbuf.results=results
	${movablecore:+movablecore=$movablecore}
)

qemu=(
	qemu-system-x86_64 -accel "$accel" "${icount[@]}" -cpu max -smp "$cpus" -m "$mem"
	-nodefaults -no-reboot -display none -vga none
	-kernel "$kernel" -append "${cmdline[*]}"
	-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap
	-device virtio-9p-pci,fsdev=root,mount_tag=/dev/root
	-fsdev local,id=results,path="$results",security_model=none
	-device virtio-9p-pci,fsdev=results,mount_tag=results
	-chardev stdio,id=output,signal=off,logfile="$results/output.log"
	-serial chardev:output
	-serial file:"$console"
)

if [[ -n $disks ]]; then
	truncate -s 1G "$results/nvme.img" "$results/virtio.img"
	qemu+=(
		-drive file="$results/nvme.img",if=none,id=nvm,format=raw,cache=unsafe
		-device nvme,serial=regbuf,drive=nvm
		-drive file="$results/virtio.img",if=none,id=vblk,format=raw,cache=unsafe
		-device virtio-blk-pci,drive=vblk
	)
fi

status=0
if [[ -n $interactive ]]; then
	timeout --foreground "$timeout" "${qemu[@]}" || status=$?
else
	timeout --kill-after=10 "$timeout" "${qemu[@]}" </dev/null || status=$?
fi
rm -f "$results/nvme.img" "$results/virtio.img"
if ((status == 124 || status == 137)); then
	echo "vm/run.sh: guest timed out after ${timeout}s; console log: $console" >&2
	exit 125
fi
if [[ ! -f $results/exit-status ]]; then
	echo "vm/run.sh: guest died before the command finished (qemu status" \
		"$status); last console lines ($console):" >&2
	tail -n 40 "$console" >&2
	exit 125
fi
exit "$(<"$results/exit-status")"
