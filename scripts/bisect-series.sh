#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The series as a reviewer bisects it: on the pristine 6.1 tree, git am one
# patch at a time, run checkpatch.pl --strict on it, and compile mm/,
# io_uring/ and every other directory the patch touches with the project's
# production config (BISECT_DEFCONFIG=1: with x86_64_defconfig as well).
#
#   scripts/bisect-series.sh        (make bisect)
#
# Stops at the first patch that does not apply, draws a checkpatch warning
# or check, or does not compile. Two checkpatch types are ignored, each
# for a reason of the tree, not the patch: FILE_PATH_CHANGES (new files
# under io_uring/, which MAINTAINERS' IO_URING entry covers already) and
# UNKNOWN_COMMIT_ID (the base tree is Debian's tarball, with no history to
# look a Fixes: commit up in). Builds go to build/bisect/.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
tree=$repo/build/tree/bisect
out=$repo/build/bisect
base=$repo/build/tree/base

git_tree() {
	git -C "$tree" -c user.name='regbuf build' -c user.email=regbuf@localhost "$@"
}

# Directories with objects the patch's .c files build into.
touched_dirs() {
	git_tree diff --name-only HEAD~1 HEAD -- '*.c' '*.h' | while read -r f; do
		case $f in
		include/*) ;;
		*) dirname "$f" ;;
		esac
	done | sort -u
}

# Makes @dirs in build dir @dir, skipping those the config builds nothing in.
compile() {
	local dir=$1 flavour=$2 d targets=()
	shift 2
	for d in "$@"; do
		[[ -d $tree/$d ]] || continue
		targets+=("$d/")
	done
	mkdir -p "$dir"
	"$repo/scripts/build-kernel.sh" "$tree" "$dir" "$flavour" \
		"${targets[@]}" > "$dir/build.log" 2>&1 ||
		{ cat "$dir/build.log" >&2; return 1; }
}

defconfig_compile() {
	local dir=$out/defconfig
	mkdir -p "$dir"
	[[ -f $dir/.config ]] ||
		make -s -C "$tree" O="$dir" x86_64_defconfig >/dev/null
	CC="ccache gcc" make -s -C "$tree" O="$dir" -j"$(nproc)" \
		CC="ccache gcc" "${@/%//}"
}

"$repo/scripts/prepare-tree.sh" base >/dev/null
[[ -d $tree ]] || git -C "$base" worktree add -q --detach "$tree" base
git_tree am --abort >/dev/null 2>&1 || true
git_tree checkout -q -f --detach base
git_tree clean -q -fdx

start=$SECONDS
n=0
while read -r p; do
	n=$((n + 1))
	t=$SECONDS
	if ! git_tree am -q "$repo/patches/$p" >/dev/null 2>&1; then
		git_tree am --abort >/dev/null 2>&1 || true
		echo "bisect: $p does not apply" >&2
		exit 1
	fi
	# Debian's python3, which has python3-ply for checkpatch's SPDX check
	if ! PATH=/usr/bin:$PATH perl "$base/scripts/checkpatch.pl" --strict --quiet \
		--ignore FILE_PATH_CHANGES,UNKNOWN_COMMIT_ID \
		"$repo/patches/$p" >&2; then
		echo "bisect: checkpatch --strict complains about $p" >&2
		exit 1
	fi
	mapfile -t dirs < <({ echo mm; echo io_uring; touched_dirs; } | sort -u)
	if ! compile "$out/production" production "${dirs[@]}"; then
		echo "bisect: $p does not compile (${dirs[*]})" >&2
		exit 1
	fi
	if [[ ${BISECT_DEFCONFIG:-0} == 1 ]] &&
		! defconfig_compile "${dirs[@]}" >&2; then
		echo "bisect: $p does not compile with x86_64_defconfig" >&2
		exit 1
	fi
	printf 'bisect: %-70s ok (%ds)\n' "$p" $((SECONDS - t))
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$repo/patches/series")
echo "bisect: $n patches applied, checkpatch-clean and compiled one by one in $((SECONDS - start)) s"
