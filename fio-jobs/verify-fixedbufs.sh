#!/bin/bash
# SPDX-License-Identifier: MIT
# verify-fixedbufs.fio as a test (run-verify.sh says how it is judged): 20
# free 2 MiB hugepages are bs x iodepth of the 8m jobs, plus slack.
exec "$(dirname "$(realpath "$0")")/run-verify.sh" verify-fixedbufs.fio 20
