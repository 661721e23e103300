#!/usr/bin/env bash
# demo-repo.sh DIR: make DIR a Git repository (branch main) holding the
# examples/hello manifests, unless it already is one. `make run` points tugd
# at it; commit there to change the cluster.
set -euo pipefail
dir=$1
src=$(cd "$(dirname "$0")/../examples/hello/deploy" && pwd)
if [ -d "$dir/.git" ]; then
	exit 0
fi
mkdir -p "$dir"
cp "$src"/*.yaml "$dir"/
git -C "$dir" init -q -b main
git -C "$dir" add -A
git -C "$dir" -c user.name=tug -c user.email=tug@localhost commit -qm "hello: the demo application"
echo "demo repository: $dir (commit there to change the cluster)"
