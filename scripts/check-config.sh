#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fail, naming each one, if an option requested by a config fragment did not
# survive into the final .config (a missing dependency makes olddefconfig
# drop it silently).
#
#   scripts/check-config.sh .config FRAGMENT...
set -euo pipefail

config=${1:?usage: check-config.sh .config FRAGMENT...}
shift
lost=0
while IFS= read -r line; do
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
		want=$line
	elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		want=$line
	else
		continue
	fi
	name=${BASH_REMATCH[1]}
	got=$(grep -E "^(# )?$name[= ]" "$config" || true)
	# "not set" is also satisfied by the option being absent.
	if [[ $want == "# $name is not set" && -z $got ]]; then
		continue
	fi
	if [[ $got != "$want" ]]; then
		echo "check-config: requested '$want', got '${got:-absent}'" >&2
		lost=1
	fi
done < <(cat "$@")
if ((lost)); then
	echo "check-config: options were dropped by olddefconfig:" \
		"fix their dependencies in the fragment" >&2
	exit 1
fi
