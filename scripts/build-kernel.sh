#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Configure and build a guest kernel out of tree.
#
#   scripts/build-kernel.sh SOURCE_TREE OUTPUT_DIR debug|production [TARGET...]
#
# TARGETs are make targets (default bzImage), e.g. mm/ io_uring/ to compile
# only those directories, as the bisect check does.
#
# The config is tinyconfig + kvm_guest.config + kernel/regbuf.config +
# kernel/VERSION.config (options spelled differently in 6.1 and 6.12) (+
# kernel/debug.config for the debug flavour), then olddefconfig. The build
# fails if any option the fragments ask for did not survive. Uses ccache
# when installed. Prints the bzImage path on success when building it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
src=$(realpath "${1:?usage: build-kernel.sh SOURCE_TREE OUTPUT_DIR debug|production}")
out=$(realpath -m "${2:?usage}")
flavour=${3:?usage}
targets=("${@:4}")
((${#targets[@]})) || targets=(bzImage)

fragments=("$repo/kernel/regbuf.config")
version=$(make -s -C "$src" kernelversion | cut -d. -f1,2)
if [[ -f $repo/kernel/$version.config ]]; then
	fragments+=("$repo/kernel/$version.config")
fi
case $flavour in
debug) fragments+=("$repo/kernel/debug.config") ;;
production) ;;
*) echo "build-kernel: unknown flavour '$flavour'" >&2; exit 2 ;;
esac

jobs=${JOBS:-$(nproc)}
# Fixed build identity: reproducible images and ccache hits across clones.
export KBUILD_BUILD_USER=regbuf KBUILD_BUILD_HOST=regbuf
export KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026'
kmake=(make -C "$src" O="$out" ARCH=x86_64 -j"$jobs" -s)
if command -v ccache >/dev/null; then
	kmake+=(CC="ccache gcc")
	export CCACHE_BASEDIR=$repo/build CCACHE_SLOPPINESS=time_macros
fi

# Config steps are chatty about the choices our fragments override: keep
# their output in a log and show it only when a step fails.
logged() {
	"$@" >> "$out/config.log" 2>&1 ||
		{ cat "$out/config.log" >&2; return 1; }
}

# Regenerate the config only when a fragment changed: an untouched .config
# keeps the incremental build incremental.
fingerprint=$(cat "${fragments[@]}" | sha256sum | cut -d' ' -f1)
mkdir -p "$out"
if [[ ! -f $out/.config || $(cat "$out/.regbuf-config" 2>/dev/null) != "$fingerprint" ]]; then
	echo "build-kernel: configuring $flavour kernel in ${out#"$repo"/}" >&2
	: > "$out/config.log"
	logged "${kmake[@]}" tinyconfig
	logged "${kmake[@]}" kvm_guest.config
	logged "$src/scripts/kconfig/merge_config.sh" -m -O "$out" \
		"$out/.config" "${fragments[@]}"
	logged "${kmake[@]}" olddefconfig
	"$repo/scripts/check-config.sh" "$out/.config" "${fragments[@]}"
	echo "$fingerprint" > "$out/.regbuf-config"
fi

echo "build-kernel: building ${targets[*]} ($flavour) from ${src#"$repo"/}" >&2
"${kmake[@]}" "${targets[@]}" >&2
[[ ${targets[*]} != bzImage ]] || echo "$out/arch/x86/boot/bzImage"
