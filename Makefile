# Packet traits: build a kernel with our patches, our nftables module,
# a patched iproute2 and our BPF programs, then prove it all in a VM.
#
#   make          build everything into build/
#   make check    build, then run the pytest suite inside the VM
#   make check-debug  the same on a KASAN/UBSAN/kmemleak/lockdep kernel
#   make demo     build, then play the demo scenario inside the VM
#   make bench    build, then print the benchmark tables and plot (VM, icount)
#   make bench-profile  where the hand-over's instructions go (perf, ftrace in the VM)
#                 and which kernel calls it adds per packet (ftrace)
#   make selftests  upstream net/netfilter/XDP selftests of the patched tree, in
#                 the VM (VARIANT=notraits: on the kernel without traits, Debian's ip)
#   make vm-shell an interactive shell in the VM
#   make deps     install the Debian packages everything needs (root)
#
# Each step leaves a stamp in build/; nothing expensive reruns when its
# inputs did not change.

B        := $(CURDIR)/build
KSRC     := $(B)/linux
KTARBALL := /usr/src/linux-source-6.12.tar.xz
KPATCHES := $(shell sed -e 's/\#.*//' kernel/patches/series 2>/dev/null)
# VARIANT=debug builds the sanitizer kernel beside the test kernel: its own
# object folder, stamps and module build (same source, same userspace).
# VARIANT=notraits is the same kernel with packet traits compiled out, for
# the benchmark's idle leg (only its kernel target: nft_meta_trait needs traits).
VARIANT  ?=
ifeq ($(VARIANT),debug)
SFX      := -debug
KCONFIGS := kernel/config/traits.config kernel/config/debug.config
else ifeq ($(VARIANT),notraits)
SFX      := -notraits
KCONFIGS := kernel/config/traits.config kernel/config/notraits.config
else ifeq ($(VARIANT),)
SFX      :=
KCONFIGS := kernel/config/traits.config
else
$(error VARIANT is empty, debug or notraits, not '$(VARIANT)')
endif
KOBJ     := $(B)/kobj$(SFX)
MODBUILD := $(B)/nft_meta_trait$(SFX)
IPATCHES := $(shell sed -e 's/\#.*//' iproute2-patches/series 2>/dev/null)
MODSRC   := $(wildcard kernel/nft_meta_trait/*.c kernel/nft_meta_trait/Kbuild)
BPFSRC   := $(wildcard tests/bpf/*.bpf.c)
BPFOBJ   := $(patsubst tests/bpf/%.bpf.c,$(B)/bpf/%.bpf.o,$(BPFSRC))
XT       := tools/xdp-trait
XTSRC    := $(filter-out %.bpf.c,$(wildcard $(XT)/*.c)) tools/lib/names.c
TRSRC    := tools/trait-recv/trait-recv.c tools/lib/names.c
# include/uapi/linux/traits.h of the patched kernel, alone in a folder
# that our BPF programs and tools put first on their include path
UAPI     := $(B)/uapi
JOBS     ?= $(shell echo $$(( $$(nproc) + 1 )))
CCACHE    = $(shell command -v ccache)
KMAKE     = $(MAKE) -s -C $(KSRC) O=$(KOBJ) ARCH=x86_64 \
	    CC="$(CCACHE) gcc" KBUILD_BUILD_TIMESTAMP=traits \
	    KBUILD_BUILD_USER=traits KBUILD_BUILD_HOST=traits
PYTEST   := /usr/bin/python3 -m pytest -p no:cacheprovider
# ccache hits whatever folder the repository was cloned into
export CCACHE_NOHASHDIR := true
export CCACHE_BASEDIR := $(CURDIR)

.PHONY: all deps kernel module iproute2 bpf tools check check-debug demo bench bench-profile selftests vm-shell clean

all: deps $(B)/.kernel$(SFX) $(B)/.module$(SFX) $(B)/.iproute2 $(BPFOBJ) \
	$(B)/bin/xdp-trait $(B)/bin/trait-recv

# 1. Debian packages (tools/deps.sh says what is missing and installs it).
# Cheap to run every time: it only acts when something is missing.
deps:
	@tools/deps.sh

# 2. Kernel source: Debian's tarball with kernel/patches/series applied.
# It is patched in a fresh folder and synced by content, so only files the
# patches change get new timestamps and the kernel build stays incremental.
$(B)/.kernel-src: kernel/patches/series $(addprefix kernel/patches/,$(KPATCHES)) | deps
	@echo "  KSRC    $(KTARBALL) + $(words $(KPATCHES)) patches"
	@rm -rf $(B)/linux.new && mkdir -p $(B)/linux.new
	@tar -C $(B)/linux.new --strip-components=1 -xf $(KTARBALL)
	@for p in $(KPATCHES); do \
		patch -d $(B)/linux.new -p1 -s -N --no-backup-if-mismatch \
			< kernel/patches/$$p > $(B)/patch.log 2>&1 || { \
		cat $(B)/patch.log; \
		echo "error: kernel patch $$p does not apply"; exit 1; }; \
	done
	@rsync -a --checksum --delete $(B)/linux.new/ $(KSRC)/
	@rm -rf $(B)/linux.new
	@touch $@

# 3. Kernel config: tinyconfig + our fragment(s); every option must stick.
$(B)/.kernel-config$(SFX): $(B)/.kernel-src $(KCONFIGS)
	@echo "  KCONFIG $(KCONFIGS)"
	@mkdir -p $(KOBJ)
	@$(KMAKE) tinyconfig > /dev/null
	@cp $(KOBJ)/.config $(KOBJ)/.config.base
	@KCONFIG_CONFIG=$(KOBJ)/.config $(KSRC)/scripts/kconfig/merge_config.sh \
		-m -O $(KOBJ) $(KOBJ)/.config.base $(KCONFIGS) > $(B)/kconfig.log
	@$(KMAKE) olddefconfig > /dev/null
	@tools/check-kconfig $(KOBJ)/.config $(KCONFIGS)
	@touch $@

# 4. Kernel image and built-in modules.
$(B)/.kernel$(SFX): $(B)/.kernel-config$(SFX)
	@echo "  KBUILD  $(KOBJ) (-j$(JOBS))"
	@$(KMAKE) -j$(JOBS) bzImage modules
	@rm -rf $(B)/modules/lib/modules/$$(cat $(KOBJ)/include/config/kernel.release)
	@$(KMAKE) INSTALL_MOD_PATH=$(B)/modules modules_install > /dev/null
	@touch $@

kernel: $(B)/.kernel$(SFX)

# 5. Our nftables expression, built out of tree (in a copy, so the
# repository stays clean) and installed where the VM's modprobe looks.
$(B)/.module$(SFX): $(B)/.kernel$(SFX) $(MODSRC)
	@echo "  MODULE  nft_meta_trait ($(KOBJ))"
	@mkdir -p $(MODBUILD)
	@rsync -a --checksum kernel/nft_meta_trait/ $(MODBUILD)/
	@$(KMAKE) M=$(MODBUILD) modules
	@$(KMAKE) M=$(MODBUILD) INSTALL_MOD_PATH=$(B)/modules \
		modules_install > /dev/null 2>&1
	@depmod -b $(B)/modules $$(cat $(KOBJ)/include/config/kernel.release)
	@touch $@

module: $(B)/.module$(SFX)

# 6. iproute2 from Debian's source package with iproute2-patches/ applied.
$(B)/.iproute2-src: iproute2-patches/series $(addprefix iproute2-patches/,$(IPATCHES)) | deps
	@echo "  IPSRC   iproute2 (apt-get source) + $(words $(IPATCHES)) patches"
	@mkdir -p $(B)/iproute2-deb
	@test -d $(B)/iproute2-deb/iproute2-6.1.0 || \
		(cd $(B)/iproute2-deb && apt-get source -q iproute2=6.1.0-3 > apt.log 2>&1) || \
		{ cat $(B)/iproute2-deb/apt.log; echo "error: apt-get source iproute2 failed"; exit 1; }
	@rm -rf $(B)/iproute2.new && cp -a $(B)/iproute2-deb/iproute2-6.1.0 $(B)/iproute2.new
	@for p in $(IPATCHES); do \
		patch -d $(B)/iproute2.new -p1 -s -N --no-backup-if-mismatch \
			< iproute2-patches/$$p > $(B)/patch.log 2>&1 || { \
		cat $(B)/patch.log; \
		echo "error: iproute2 patch $$p does not apply"; exit 1; }; \
	done
	@mkdir -p $(B)/iproute2
	@rsync -a --checksum --delete --exclude '*.o' --exclude '*.a' \
		--exclude config.mk $(B)/iproute2.new/ $(B)/iproute2/
	@rm -rf $(B)/iproute2.new
	@touch $@

$(B)/.iproute2: $(B)/.iproute2-src
	@echo "  IPBUILD iproute2 (ip, tc)"
	@cd $(B)/iproute2 && { test -f config.mk || ./configure > configure.log; }
	@$(MAKE) -s -C $(B)/iproute2 -j$(JOBS) SUBDIRS="lib ip tc" > $(B)/iproute2.log 2>&1 || \
		{ tail -30 $(B)/iproute2.log; echo "error: iproute2 build failed"; exit 1; }
	@mkdir -p $(B)/bin
	@ln -sf ../iproute2/ip/ip ../iproute2/tc/tc $(B)/bin/
	@touch $@

iproute2: $(B)/.iproute2

$(UAPI)/linux/traits.h: $(B)/.kernel-src
	@mkdir -p $(@D)
	@cp $(KSRC)/include/uapi/linux/traits.h $@

# 7. Our BPF programs (clang, bpf target), loaded in tests with libbpf.
$(B)/bpf/%.bpf.o: tests/bpf/%.bpf.c $(wildcard tests/bpf/*.h) $(UAPI)/linux/traits.h | deps
	@echo "  BPF     $@"
	@mkdir -p $(B)/bpf
	@clang -target bpf -O2 -g -Wall -Werror -I tests/bpf -I $(UAPI) \
		-I/usr/include/$(shell gcc -dumpmachine) -c $< -o $@

bpf: $(BPFOBJ)

# 8. Our tools. xdp-trait carries its XDP program inside (a libbpf
# skeleton), so the binary in build/bin is all it needs.
$(B)/xdp-trait/xdp_trait.bpf.o: $(XT)/xdp_trait.bpf.c $(XT)/xdp_trait.h tests/bpf/traits.h \
		$(UAPI)/linux/traits.h | deps
	@echo "  BPF     $@"
	@mkdir -p $(B)/xdp-trait
	@clang -target bpf -O2 -g -Wall -Werror -I tests/bpf -I $(UAPI) \
		-I/usr/include/$(shell gcc -dumpmachine) -c $< -o $@
	@llvm-strip -g $@

$(B)/xdp-trait/xdp_trait.skel.h: $(B)/xdp-trait/xdp_trait.bpf.o
	@echo "  GEN     $@"
	@bpftool gen skeleton $< name xdp_trait > $@.tmp && mv $@.tmp $@

$(B)/bin/xdp-trait: $(XTSRC) $(wildcard $(XT)/*.h) tools/lib/names.h \
		$(B)/xdp-trait/xdp_trait.skel.h $(UAPI)/linux/traits.h
	@echo "  CC      $@"
	@mkdir -p $(B)/bin
	@gcc -O2 -g -Wall -Werror -I $(B)/xdp-trait -I $(UAPI) -I tools/lib \
		-o $@ $(XTSRC) -lbpf -lelf -lz

# trait-recv: prints the traits of the datagrams it receives (SO_RCVTRAITS).
$(B)/bin/trait-recv: $(TRSRC) tools/lib/names.h $(UAPI)/linux/traits.h
	@echo "  CC      $@"
	@mkdir -p $(B)/bin
	@gcc -O2 -g -Wall -Werror -I $(UAPI) -I tools/lib -o $@ $(TRSRC)

tools: $(B)/bin/xdp-trait $(B)/bin/trait-recv

# 9. The VM runs: tests, demo, benchmarks, a shell.
# KFENCE samples allocations (every 10 ms) for out-of-bounds and
# use-after-free accesses; vm-run fails the run on its reports.
check: all
	VM_CMDLINE="kfence.sample_interval=10 $(VM_CMDLINE)" \
		tools/vm-run -- tools/vm/run-tests $(PYTEST_ARGS)

# The sanitizer kernel: tools/vm-run fails the run on any report it
# prints (KASAN, UBSAN, lockdep, WARN, kmemleak scan at the end). CI runs
# this selection, the tests whose witness is a sanitizer: the store's
# KUnit, the IPsec refcount, failing closed under failslab, the lifetime
# rules, the sockets' traits (request sockets, corks, RCU) and the
# hand-over's headroom bound. Everything else runs in
# `make check` on every CI run, and passes here too when named (README).
DEBUG_TESTS ?= tests/test_kunit.py tests/test_trait_ipsec.py \
	       tests/test_trait_failure.py tests/test_trait_lifetime.py \
	       tests/test_trait_sockets.py \
	       tests/test_xdp_handover.py::test_metadata_longer_than_the_headroom_is_counted_not_read
check-debug:
	$(MAKE) VARIANT=debug all
	KERNEL=$(B)/kobj-debug/arch/x86/boot/bzImage VM_CMDLINE="slab_nomerge $(VM_CMDLINE)" \
		tools/vm-run -- tools/vm/run-tests $(DEBUG_TESTS) $(PYTEST_ARGS)

demo: all
	tools/vm-run -- tools/demo.py

# Deterministic timing: one guest CPU, one virtual ns per instruction.
# Then the kernel without traits runs the end-to-end benchmark's idle leg
# (icount makes two boots comparable) and the host draws the plot.
BENCH_VM := VM_SMP=1 VM_QEMU_ARGS="-icount shift=0,sleep=off" tools/vm-run --
bench: all
	$(MAKE) VARIANT=notraits kernel
	@rm -rf $(B)/results/bench
	$(BENCH_VM) tests/bench/run
	KERNEL=$(B)/kobj-notraits/arch/x86/boot/bzImage \
		$(BENCH_VM) tests/bench/bench_e2e.py --compiled-out
	@mkdir -p $(B)/bench && cp $(B)/results/bench/* $(B)/bench/
	/usr/bin/python3 tests/bench/plot.py $(B)/bench
	@echo "written to $(B)/bench/"

bench-profile: all
	$(BENCH_VM) tests/bench/profile.py
	$(BENCH_VM) tests/bench/calls.py
	$(BENCH_VM) tests/bench/costs.py

# Upstream selftests on what the series touches, from the patched tree:
# the scripts, nettest, the BPF objects and a test_progs with only XDP
# tests, staged in build/selftests by tools/build-selftests (vmlinux.h from
# the kernel of this VARIANT); tools/vm/run-selftests runs them in the
# guest and fails on any failure tools/vm/selftests.known does not name.
# VARIANT=notraits boots the kernel without traits with Debian's ip and tc.
$(B)/.selftests: $(B)/.kernel-src tools/build-selftests | deps $(B)/.kernel$(SFX)
	@echo "  SELFTST $(B)/selftests"
	@tools/build-selftests $(KSRC) $(KOBJ)/vmlinux $(B)/selftests > $(B)/selftests.log 2>&1 || \
		{ tail -30 $(B)/selftests.log; echo "error: building the selftests failed"; exit 1; }
	@touch $@

selftests: deps $(B)/.kernel$(SFX) $(B)/.iproute2 $(B)/.selftests
	KERNEL=$(KOBJ)/arch/x86/boot/bzImage tools/vm-run -- tools/vm/run-selftests \
		$(if $(filter notraits,$(VARIANT)),--debian-ip) $(SELFTESTS)

vm-shell: all
	VM_INTERACTIVE=1 tools/vm-run -- bash -i

clean:
	rm -rf $(B)
