#!/bin/bash
# Install every Debian package the build, the VM and the tests need.
# Adds a deb-src entry (derived from the machine's own Debian entries) when
# none exists, since iproute2 comes from Debian's source package.
set -euo pipefail

PACKAGES=(
	# kernel build
	build-essential flex bison bc libelf-dev libssl-dev dwarves ccache
	kmod cpio xz-utils rsync linux-source-6.12
	# iproute2 build (apt-get source + its build dependencies)
	dpkg-dev pkg-config libmnl-dev libcap-dev libdb-dev libselinux1-dev
	libtirpc-dev zlib1g-dev
	# BPF programs and their loaders
	clang llvm libbpf-dev bpftool
	# VM
	qemu-system-x86
	# tests
	python3 python3-pytest python3-pyroute2 iputils-ping netcat-openbsd
	ethtool tcpdump nftables
	# upstream selftests (make selftests): fib_tests' mangle, GRO and RA
	# cases, rpath's iptables leg
	socat iptables netsniff-ng ipv6toolkit jq
	# benchmark plot (make bench)
	python3-matplotlib
	# make bench-profile: perf in the VM
	linux-perf
)
SRC_LIST=/etc/apt/sources.list.d/packet-traits-deb-src.sources

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done

have_deb_src() {
	grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list \
		/etc/apt/sources.list.d/
}

if [ ${#missing[@]} -eq 0 ] && have_deb_src; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${missing[*]:-a deb-src entry}; run 'make deps' as root" >&2
	exit 1
fi

if ! have_deb_src; then
	# Same URIs and suites as the Debian 'deb' entries, as deb822.
	tmp=$(mktemp)
	{
		awk '/^URIs:/ {u=$0} /^Suites:/ {s=$0} /^Components:/ {c=$0}
		     /^Signed-By:/ {k=$0}
		     /^$/ {flush()} END {flush()}
		     function flush() {
			if (u != "" && s ~ /bookworm/ && s !~ /cloud-sdk/) {
				print "Types: deb-src"; print u; print s;
				print c; if (k != "") print k; print ""
			}
			u = s = c = k = ""
		     }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
		grep -hE '^deb [^#]*bookworm' /etc/apt/sources.list \
			/etc/apt/sources.list.d/*.list 2>/dev/null |
			grep -v cloud-sdk | sed 's/^deb /# one-line entry\nTypes: deb-src\n/' |
			awk '/^Types/ {print; next} /^# one-line/ {next}
			     {n=split($0,a," "); i=1; if (a[1] ~ /^\[/) i=2;
			      print "URIs: " a[i]; print "Suites: " a[i+1];
			      c=""; for (j=i+2;j<=n;j++) c=c " " a[j];
			      print "Components:" c; print ""}' || true
	} > "$tmp"
	if ! grep -q '^URIs:' "$tmp"; then
		rm -f "$tmp"
		echo "deps: no Debian bookworm 'deb' entry found to derive deb-src from" >&2
		exit 1
	fi
	install -m 644 "$tmp" "$SRC_LIST"
	rm -f "$tmp"
	echo "deps: added $SRC_LIST"
	apt-get update
elif [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial -e auxfiles)" ]; then
	apt-get update
fi

if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" ||
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; }
fi
