#!/usr/bin/env bash
# install-deps.sh: install what tug needs on a Debian machine, only what is
# missing. Idempotent; safe to run on every `make run` and `make test`.
set -euo pipefail

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]; }

# binary-or-file → Debian package
check() { have "$1" || need_pkgs+=("$2"); }
check containerd containerd
check runc runc
check nft nftables
check /usr/lib/cni/bridge containernetworking-plugins
check /usr/lib/cni/host-local containernetworking-plugins
check /usr/lib/cni/loopback containernetworking-plugins
check git git
check ip iproute2
check nsenter util-linux
check mount mount
check curl curl

if [ ${#need_pkgs[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing ${need_pkgs[*]}; run as root (or: apt-get install ${need_pkgs[*]})" >&2
		exit 1
	fi
	# shellcheck disable=SC2207
	pkgs=($(printf '%s\n' "${need_pkgs[@]}" | sort -u))
	echo "install-deps: installing ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

# The Debian containerd package may start a system containerd; tug runs its
# own child process and never uses or stops the system one.

go_bin=$(command -v go || echo /usr/local/go/bin/go)
if ! [ -x "$go_bin" ]; then
	echo "install-deps: Go 1.26 or newer is needed (expected on PATH or at /usr/local/go/bin/go)" >&2
	exit 1
fi
ver=$("$go_bin" env GOVERSION | sed 's/^go//')
major=${ver%%.*}; rest=${ver#*.}; minor=${rest%%.*}
if [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -lt 26 ]; }; then
	echo "install-deps: Go $ver found; tug needs Go 1.26 or newer" >&2
	exit 1
fi

# Kernel pieces the pod network needs.
for mod in bridge veth overlay br_netfilter nf_tables; do
	modprobe -q "$mod" 2>/dev/null || true
done
echo "install-deps: ok"
