#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Make a kernel source tree under build/tree/ ready for an out-of-tree build.
#
#   scripts/prepare-tree.sh base      Debian's 6.1, untouched
#   scripts/prepare-tree.sh patched   6.1 + git am of patches/series
#   scripts/prepare-tree.sh mainline  Debian's 6.12, untouched
#
# Prints the tree's path. The 6.1 trees are git worktrees of one repository
# so that switching the patched tree to a new series rewrites only the files
# that differ: make then rebuilds only what really changed.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
trees=$repo/build/tree
what=${1:?usage: prepare-tree.sh base|patched|mainline}

git_tree() {
	git -C "$1" -c user.name='regbuf build' -c user.email=regbuf@localhost \
		"${@:2}"
}

installed_version() {
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null ||
		{ echo "prepare-tree: $1 is not installed (make deps)" >&2; exit 1; }
}

# Unpack a Debian linux-source tarball into $2 unless the same package
# version is already there.
unpack() {
	local pkg=$1 dest=$2 version
	version=$(installed_version "$pkg")
	if [[ -f $dest/.regbuf-source && $(<"$dest/.regbuf-source") == "$pkg $version" ]]; then
		return 0
	fi
	echo "prepare-tree: unpacking $pkg $version" >&2
	rm -rf "$dest" "$dest.tmp"
	mkdir -p "$dest.tmp"
	tar -xf "/usr/src/$pkg.tar.xz" -C "$dest.tmp" --strip-components=1
	echo "$pkg $version" > "$dest.tmp/.regbuf-source"
	mv "$dest.tmp" "$dest"
}

prepare_base() {
	local base=$trees/base version
	version=$(installed_version linux-source-6.1)
	if [[ ! -d $base/.git || $(<"$base/.regbuf-source") != "linux-source-6.1 $version" ]]; then
		rm -rf "$trees"/{base,patched,.apply} "$trees/patched.stamp"
		unpack linux-source-6.1 "$base"
		echo "prepare-tree: recording the base tree in git" >&2
		printf '/.regbuf-source\n' > "$base/.git-info-exclude"
		git init -q "$base"
		mv "$base/.git-info-exclude" "$base/.git/info/exclude"
		git_tree "$base" add -A -f
		git_tree "$base" commit -q -m "Debian linux-source-6.1 $version"
		git_tree "$base" tag base
	fi
	mkdir -p "$repo/build"
	printf 'Linux %s from Debian linux-source-6.1 %s\n' \
		"$(make -s -C "$base" kernelversion)" "$version" \
		> "$repo/build/base-version.txt"
}

series_patches() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$repo/patches/series"
}

# Everything the patched tree depends on, hashed.
patched_fingerprint() {
	{
		cat "$trees/base/.regbuf-source"
		series_patches | while read -r p; do
			echo "$p"; cat "$repo/patches/$p"
		done
	} | sha256sum | cut -d' ' -f1
}

prepare_patched() {
	local apply=$trees/.apply tree=$trees/patched stamp=$trees/patched.stamp
	local fingerprint p head
	prepare_base
	fingerprint=$(patched_fingerprint)
	if [[ -d $tree && -f $stamp && $(<"$stamp") == "$fingerprint" ]]; then
		return 0
	fi
	[[ -d $apply ]] || git_tree "$trees/base" worktree add -q --detach "$apply" base
	git_tree "$apply" am --abort >/dev/null 2>&1 || true
	git_tree "$apply" reset -q --hard base
	git_tree "$apply" clean -q -fdx
	while read -r p; do
		if [[ ! -f $repo/patches/$p ]]; then
			echo "prepare-tree: patches/series names $p, which does not exist" >&2
			exit 1
		fi
		if ! git_tree "$apply" am -q "$repo/patches/$p" >&2; then
			git_tree "$apply" am --abort >/dev/null 2>&1 || true
			echo "prepare-tree: FAILED to apply patches/$p" >&2
			exit 1
		fi
	done < <(series_patches)
	head=$(git_tree "$apply" rev-parse HEAD)

	[[ -d $tree ]] || git_tree "$trees/base" worktree add -q --detach "$tree" base
	# A checkout rewrites only the files that differ, so make rebuilds
	# only what the new series changed.
	git_tree "$tree" checkout -q -f --detach "$head"
	git_tree "$tree" clean -q -fdx
	echo "$fingerprint" > "$stamp"
}

case $what in
base)
	prepare_base
	echo "$trees/base"
	;;
patched)
	prepare_patched
	echo "$trees/patched"
	;;
mainline)
	unpack linux-source-6.12 "$trees/mainline"
	echo "$trees/mainline"
	;;
*)
	echo "usage: prepare-tree.sh base|patched|mainline" >&2
	exit 2
	;;
esac
