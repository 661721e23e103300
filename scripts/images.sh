#!/usr/bin/env bash
# Builds tug's demo images with no Docker and no registry:
#   _output/images/hello-v1.tar   tug.local/hello:v1
#   _output/images/hello-v2.tar   tug.local/hello:v2
# Each is the static demo app (examples/hello/app, CGO_ENABLED=0, -trimpath,
# -buildvcs=false, stripped, main.version set to v1 or v2) packed by
# examples/mkimage into a docker-format archive that containerd imports
# keeping its name.
#
# Idempotent and fast when up to date: a stamp keyed by the sources, go.mod,
# go.sum and the Go version skips the build; mkimage leaves an unchanged
# archive untouched. The output is deterministic (same sources and Go version,
# same digests). Set FORCE=1 to rebuild anyway.
# internal/testenv.HelloImages builds the same way; keep the two in step.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

out="_output/images"
bin="_output/bin"
versions=(v1 v2)
mkdir -p "$out" "$bin"

key="$(
	{
		go version
		find examples/hello/app examples/mkimage scripts/images.sh -type f \( -name '*.go' -o -name '*.sh' \) -print0 |
			LC_ALL=C sort -z | xargs -0 sha256sum
		sha256sum go.mod go.sum
	} | sha256sum | cut -d' ' -f1
)"
stamp="$out/.hello.stamp"

up_to_date=1
[[ "${FORCE:-}" == 1 ]] && up_to_date=0
[[ -f "$stamp" && "$(cat "$stamp")" == "$key" ]] || up_to_date=0
for v in "${versions[@]}"; do
	[[ -f "$out/hello-$v.tar" ]] || up_to_date=0
done
if [[ $up_to_date == 1 ]]; then
	echo "images: up to date in $out"
	exit 0
fi

export CGO_ENABLED=0 GOOS=linux GOARCH=amd64
go build -trimpath -buildvcs=false -o "$bin/mkimage" ./examples/mkimage
for v in "${versions[@]}"; do
	go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$v" -o "$bin/hello-$v" ./examples/hello/app
	"$bin/mkimage" -binary "$bin/hello-$v" -ref "tug.local/hello:$v" -o "$out/hello-$v.tar" -port 8080 -path /hello
done
echo "$key" >"$stamp"
