#!/usr/bin/env bash
# Keep a release's source in the repository, for the upgrade tests.
#
# A clone made for CI may carry neither the tags nor the history behind them, and the upgrade tests must run the
# previous release all the same: so each release's `src` (and pyproject.toml) is kept as
# releases/quorate-X.Y.Z-src.tar.gz, with its checksum in releases/SHA256SUMS. Run this right after tagging:
#   bash scripts/release-archive.sh v0.3.0 && git add releases && git commit -m "releases: v0.3.0 source"
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:?usage: scripts/release-archive.sh vX.Y.Z}
[[ $tag =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "not a release tag: $tag (vMAJOR.MINOR.PATCH)" >&2; exit 2; }
git rev-parse --verify --quiet "$tag^{commit}" >/dev/null || { echo "no tag $tag in this clone" >&2; exit 1; }
version=${tag#v}
mkdir -p releases
git archive --format=tar.gz --prefix="quorate-$version/" "$tag" src pyproject.toml >"releases/quorate-$version-src.tar.gz"
(cd releases && sha256sum quorate-*-src.tar.gz >SHA256SUMS)
echo "releases/quorate-$version-src.tar.gz"
