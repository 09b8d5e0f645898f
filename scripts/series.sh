#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The patch series as a git branch, and back.
#
#   scripts/series.sh checkout   build/tree/series: the pristine 6.1 tree
#                                with patches/ applied by git am, one
#                                commit per patch (prints its path)
#   scripts/series.sh export     fold io_uring/'s files into the commits
#                                that last touch them, then write patches/
#                                and its series file from that branch
#   scripts/series.sh check      cheap: do patches/ create exactly the
#                                files in io_uring/? (no kernel tree needed)
#
# io_uring/ holds the new kernel files as the series leaves them; every
# other change is made in build/tree/series, committed there (git commit
# --fixup=<commit> and git rebase --autosquash base), then exported.
# `export` without a checkout made since patches/ last changed starts with
# one, so `make patches` after editing io_uring/ is all it takes. Commits
# made in build/tree/series are exported as long as no patch was edited
# by hand since the checkout.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
tree=$repo/build/tree/series
stamp=$repo/build/tree/series.stamp
cmd=${1:?usage: series.sh checkout|export|check}

git_tree() {
	git -C "$tree" -c user.name='regbuf developers' \
		-c user.email=regbuf@example.org "$@"
}

series_patches() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$repo/patches/series"
}

# What a checkout is made from; the cover letter's prose is not part of it.
patches_hash() {
	series_patches | while read -r p; do cat "$repo/patches/$p"; done |
		sha256sum | cut -d' ' -f1
}

checkout() {
	local base=$repo/build/tree/base p
	"$repo/scripts/prepare-tree.sh" base >/dev/null
	[[ -d $tree ]] || git -C "$base" worktree add -q --detach "$tree" base
	git_tree am --abort >/dev/null 2>&1 || true
	git_tree rebase --abort >/dev/null 2>&1 || true
	git_tree checkout -q -f --detach base
	git_tree clean -q -fdx
	while read -r p; do
		if ! git_tree am -q --committer-date-is-author-date \
			"$repo/patches/$p" >&2; then
			git_tree am --abort >/dev/null 2>&1 || true
			echo "series: patches/$p does not apply" >&2
			exit 1
		fi
	done < <(series_patches)
	write_stamp
}

# The patches a checkout was made from, and the commit it left HEAD at.
write_stamp() {
	{ patches_hash; git_tree rev-parse HEAD; } > "$stamp"
}

# Folds the repo's copy of each io_uring/ file into the last commit of the
# branch that touches it.
fold_io_uring() {
	local f rel last
	for f in "$repo"/io_uring/*; do
		rel=io_uring/${f##*/}
		cmp -s "$f" "$tree/$rel" && continue
		last=$(git_tree log -1 --format=%H base..HEAD -- "$rel")
		if [[ -z $last ]]; then
			echo "series: $rel is in no patch; add it to one first" >&2
			exit 1
		fi
		cp "$f" "$tree/$rel"
		git_tree add -f "$rel"
		git_tree commit -q --fixup="$last"
	done
	GIT_SEQUENCE_EDITOR=: git_tree rebase -q -i --autosquash \
		--committer-date-is-author-date base >&2
}

# The cover letter's prose is kept; its shortlog and diffstat are the
# branch's.
refresh_cover() {
	local cover=$repo/patches/0000-cover-letter.patch n tmp
	[[ -f $cover ]] || return 0
	n=$(git_tree rev-list --count base..HEAD)
	tmp=$(mktemp)
	sed -n '1,/^regbuf developers (/p' "$cover" | sed '$d' |
		sed "s|^Subject: \[PATCH[^]]*\]|Subject: [PATCH v2 00/$n]|" > "$tmp"
	{
		git_tree shortlog -w72,2,4 base..HEAD
		git_tree diff --stat=72 --summary base HEAD
	} >> "$tmp"
	mv "$tmp" "$cover"
}

export_patches() {
	local p
	if [[ ! -d $tree || ! -f $stamp ||
		$(head -1 "$stamp") != "$(patches_hash)" ]]; then
		if [[ -d $tree && -f $stamp &&
			$(git_tree rev-parse HEAD) != "$(sed -n 2p "$stamp")" ]]; then
			echo "series: patches/ changed, and build/tree/series has commits" \
				"not exported; export or drop them first" >&2
			exit 1
		fi
		checkout
	fi
	fold_io_uring
	find "$repo/patches" -name '[0-9][0-9][0-9][0-9]-*.patch' \
		! -name '0000-cover-letter.patch' -delete
	git_tree format-patch -q --zero-commit --no-signature --numbered \
		--subject-prefix="PATCH v2" \
		-o "$repo/patches" base..HEAD
	(cd "$repo/patches" && ls [0-9][0-9][0-9][0-9]-*.patch |
		grep -v '^0000-' > series)
	refresh_cover
	write_stamp
	echo "series: wrote $(wc -l < "$repo/patches/series") patches" >&2
}

# Applies only the io_uring/ files of the new-file kind from each patch, in
# an empty directory, and compares the result with io_uring/.
check() {
	local tmp p rc=0
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	while read -r p; do
		git -C "$tmp" apply --unsafe-paths --include='io_uring/regbuf*' \
			"$repo/patches/$p" 2>/dev/null || {
			echo "series: patches/$p does not apply to the io_uring/ files" >&2
			return 1
		}
	done < <(series_patches)
	for p in $( (cd "$repo" && ls io_uring/*; cd "$tmp" && ls io_uring/*) |
		sort -u); do
		if ! cmp -s "$repo/$p" "$tmp/$p"; then
			echo "series: $p differs from what patches/ create; run make patches" >&2
			rc=1
		fi
	done
	return $rc
}

case $cmd in
checkout) checkout; echo "$tree" ;;
export) export_patches ;;
check) check ;;
*) echo "usage: series.sh checkout|export|check" >&2; exit 2 ;;
esac
