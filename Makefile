# SPDX-License-Identifier: GPL-2.0
# regbuf: build the patched 6.1 kernel, boot it under qemu, run the tests.
#
#   make check              unit harness, then the debug patched kernel in a VM
#                           running our tests and liburing's (subset)
#   make patches            regenerate patches/ after editing io_uring/
#                           (scripts/series.sh has the workflow)
#   make bisect             apply patches/ one by one on pristine 6.1:
#                           checkpatch --strict and compile at each step
#   make check BASE=1       the same suites on the unpatched 6.1 kernel
#   make check-full         as check, with liburing's whole test suite
#   make vm-run CMD='...'   run a command in the guest (KERNEL=, FLAVOUR=)
#   make print-kernel       path of the patched debug kernel image
#   make bench              base, patched and 6.12 production kernels in the
#                           same VM: register cost and fio throughput,
#                           build/bench/report.md (options: bench/README.md)
#
# Everything generated lives under build/.

REPO := $(CURDIR)
BUILD := $(REPO)/build

# Which kernel: patched (default), base (unpatched 6.1) or a bzImage path.
BASE ?=
KERNEL ?= $(if $(BASE),base,patched)
FLAVOUR ?= debug
kernel_image = $(BUILD)/kernel/$(1)-$(2)/arch/x86/boot/bzImage
KIMAGE := $(if $(filter base patched,$(KERNEL)),$(call kernel_image,$(KERNEL),$(FLAVOUR)),$(KERNEL))

# Guest limits: the whole run must fit CI's budget with room to spare.
VM_TIMEOUT ?= 3000
TEST_TIMEOUT ?= 300
VM_ENV := $(foreach v,STRESS_ITER STRESS_SEED STRESS_THREADS STRESS_TIME,--env $(v))

# reg-movable needs a ZONE_MOVABLE, which would also move the other tests'
# memory around: it runs alone, in a boot of its own with one.
MOVABLE_TESTS := $(BUILD)/liburing-tests/reg-movable.t
OUR_TESTS := $(filter-out $(MOVABLE_TESTS),\
	$(patsubst liburing-tests/%.c,$(BUILD)/liburing-tests/%.t,\
	$(wildcard liburing-tests/*.c)))
LIBURING_DIR := $(BUILD)/liburing-suite/liburing-2.3/test
LIBURING_TESTS := $(REPO)/liburing-tests/liburing-2.3
# On the patched kernel nothing of ours may skip unless expectations.txt
# says why.
OUR_EXPECT := $(if $(filter patched,$(KERNEL)),--expect $(REPO)/liburing-tests/expectations.txt --no-skips)

.PHONY: all check check-full bench deps kernel tests liburing-suite unit vm-run print-kernel clean \
	patches series-check bisect

all: check

deps:
	@scripts/install-deps.sh

# The patched kernel is built from patches/ alone; io_uring/ is where its
# new files are edited, so the two must agree before anything is built.
series-check:
	@scripts/series.sh check

patches: deps
	@scripts/series.sh export

bisect: deps
	@scripts/bisect-series.sh

# The kernel build is incremental: both scripts return quickly when
# nothing changed, so they always run.
kernel: series-check deps
ifneq ($(filter base patched,$(KERNEL)),)
	@scripts/build-kernel.sh "$$(scripts/prepare-tree.sh $(KERNEL))" \
		$(BUILD)/kernel/$(KERNEL)-$(FLAVOUR) $(FLAVOUR) >/dev/null
endif

tests: deps
	@$(MAKE) -s -C liburing-tests BUILD=$(BUILD)/liburing-tests

liburing-suite: deps
	@scripts/build-liburing-suite.sh >/dev/null

unit:
	@if [ -f unit/Makefile ]; then $(MAKE) -s -C unit; fi

# One guest run, one verdict: our suite, fio's data verification through
# registered buffers, then liburing's.
define run_suites
	@echo "== $(KERNEL) $(FLAVOUR) kernel, base: $$(cat $(BUILD)/base-version.txt)"
	@echo "== booting $(KIMAGE:$(REPO)/%=%) under qemu"
	@vm/run.sh --kernel $(KIMAGE) --timeout $(VM_TIMEOUT) \
		--results $(BUILD)/vm-results/check $(VM_ENV) -- \
		$(REPO)/liburing-tests/runtests.sh --timeout $(TEST_TIMEOUT) \
		--suite regbuf $(OUR_EXPECT) $(OUR_TESTS) \
		--suite fio $(OUR_EXPECT) $(REPO)/fio-jobs/verify-fixedbufs.sh \
		$(REPO)/fio-jobs/verify-devices.sh \
		--suite liburing-2.3 --expect $(LIBURING_TESTS)/expectations.txt \
		--args $(LIBURING_TESTS)/args.txt $(1)
	@echo "== booting again with 1 GiB of ZONE_MOVABLE"
	@vm/run.sh --kernel $(KIMAGE) --timeout $(VM_TIMEOUT) \
		--movablecore 1G --hugepages 0 --gigantic 0 --no-disks \
		--results $(BUILD)/vm-results/check-movable -- \
		$(REPO)/liburing-tests/runtests.sh --timeout $(TEST_TIMEOUT) \
		--suite regbuf-movable $(OUR_EXPECT) $(MOVABLE_TESTS)
endef

check: series-check unit kernel tests liburing-suite
	$(call run_suites,$$(sed -n 's|^\([^#].*\)|$(LIBURING_DIR)/\1.t|p' $(LIBURING_TESTS)/subset.txt))

check-full: series-check unit kernel tests liburing-suite
	$(call run_suites,$(LIBURING_DIR)/*.t)

# bench/bench.sh reads these from the environment; bench/README.md has them.
KERNELS ?= base patched mainline
export KERNELS BENCH_ROUNDS BENCH_QUICK BENCH_REPS BENCH_PAUSE_MS BENCH_FIO BENCH_ICOUNT BENCH_TIMEOUT
bench:
	@scripts/install-deps.sh --bench
	@bench/bench.sh

# CMD is taken as typed ($(value)): make expands nothing in it, the guest's
# shell does. There the test binaries and the runner are on PATH.
vm-run: kernel tests
	@vm/run.sh --kernel $(KIMAGE) --timeout $(VM_TIMEOUT) $(VM_ENV) \
		$(if $(INTERACTIVE),--interactive) -- bash -c \
		'PATH=$(BUILD)/liburing-tests:$(REPO)/liburing-tests:$$PATH; $(subst ','\'',$(value CMD))'

print-kernel:
	@echo $(call kernel_image,patched,debug)

clean:
	rm -rf $(BUILD)
