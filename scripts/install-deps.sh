#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install, through apt and nothing else, what building and testing regbuf
# needs. Idempotent: packages already present are not touched, so a warm
# machine pays one dpkg query.
#
#   scripts/install-deps.sh [--bench]
#
# --bench adds what only `make bench` needs (linux-source-6.12, gnuplot).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

packages=(
	build-essential bc bison flex libelf-dev libssl-dev cpio kmod rsync
	xz-utils python3 git ccache
	qemu-system-x86 e2fsprogs busybox-static iproute2 util-linux
	liburing-dev fio dpkg-dev python3-ply python3-git
)
[[ ${1:-} == --bench ]] && packages+=(gnuplot-nox)

# The kernel sources are pinned in kernel/versions.
pinned=()
while read -r name version; do
	[[ $name == linux-source-6.1 || ${1:-} == --bench ]] || continue
	pinned+=("$name=$version")
done < <(grep -v '^#' "$here/kernel/versions")

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
for pv in "${pinned[@]}"; do
	name=${pv%%=*} version=${pv#*=}
	[[ $(dpkg-query -W -f='${Version}' "$name" 2>/dev/null) == "$version" ]] ||
		missing+=("$pv")
done

sudo=
((EUID == 0)) || sudo=sudo

# liburing's own test suite comes from its Debian source package.
need_src=0
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	need_src=1
fi

if ((${#missing[@]} == 0 && need_src == 0)); then
	exit 0
fi

if ((need_src)); then
	# Same archive and suites as the binary entries, source type only.
	echo "install-deps: adding deb-src entries for apt-get source"
	if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
		sed 's/^Types: deb$/Types: deb-src/' \
			/etc/apt/sources.list.d/debian.sources |
			$sudo tee /etc/apt/sources.list.d/regbuf-deb-src.sources >/dev/null
	else
		sed -n 's/^deb /deb-src /p' /etc/apt/sources.list |
			$sudo tee /etc/apt/sources.list.d/regbuf-deb-src.list >/dev/null
	fi
fi

echo "install-deps: apt-get install ${missing[*]:-(none, refreshing lists)}"
$sudo apt-get update -qq
for pv in "${pinned[@]}"; do
	name=${pv%%=*} version=${pv#*=}
	# Not piped into grep -q: under pipefail, grep quitting at the first
	# match can SIGPIPE apt-cache and make a listed version look gone.
	versions=$(apt-cache madison "$name")
	if [[ $versions != *" $version "* ]]; then
		echo "install-deps: WARNING: $name $version is gone from the archive;" \
			"installing the current one. Patches may no longer apply:" \
			"update kernel/versions." >&2
		missing=("${missing[@]/#$pv/$name}")
	fi
done
((${#missing[@]})) || exit 0
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
	--no-install-recommends --allow-downgrades "${missing[@]}" >/dev/null
