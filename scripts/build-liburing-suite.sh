#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build liburing's own test suite from Debian's source package: the suite
# `make check` runs next to ours. Prints the directory of the .t files.
# liburing-tests/liburing-2.3/fixes/*.patch are applied first: fixes to tests whose
# own assumptions no longer hold on current kernels, each explained in its
# header.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dest=$repo/build/liburing-suite
version=$(dpkg-query -W -f='${Version}' liburing-dev)
src=$dest/liburing-${version%%-*}
fixes=("$repo"/liburing-tests/liburing-2.3/fixes/*.patch)
stamp="$version $(cat "${fixes[@]}" | sha256sum | cut -d' ' -f1)"

if [[ ! -f $dest/.built || $(<"$dest/.built") != "$stamp" ]]; then
	rm -rf "$dest"
	mkdir -p "$dest"
	echo "build-liburing-suite: fetching liburing $version source" >&2
	if ! (cd "$dest" &&
		apt-get source -qq --download-only "liburing=$version" >apt-source.log 2>&1 &&
		dpkg-source -x --no-check ./*.dsc "$src" >/dev/null); then
		cat "$dest/apt-source.log" >&2
		echo "build-liburing-suite: cannot fetch liburing's source package" \
			"(scripts/install-deps.sh adds the deb-src entry it needs)" >&2
		exit 1
	fi
	for fix in "${fixes[@]}"; do
		if ! patch -s -p1 -d "$src" < "$fix" >&2; then
			echo "build-liburing-suite: FAILED to apply ${fix#"$repo"/}" >&2
			exit 1
		fi
	done
	echo "build-liburing-suite: building liburing's tests" >&2
	(cd "$src" && ./configure >/dev/null &&
		make -s -j"$(nproc)" -C src >/dev/null &&
		make -s -j"$(nproc)" -C test >/dev/null 2>&1)
	echo "$stamp" > "$dest/.built"
fi
echo "$src/test"
