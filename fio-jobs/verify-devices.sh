#!/bin/bash
# SPDX-License-Identifier: MIT
# verify-devices.fio as a test (run-verify.sh says how it is judged) on the
# devices vm/run.sh gives the guest.
exec "$(dirname "$(realpath "$0")")/run-verify.sh" verify-devices.fio 8 \
	/dev/nvme0n1 /dev/ng0n1 /dev/vda
