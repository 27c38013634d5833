#!/usr/bin/env bash
# Build loadkit:local (what `make image` runs). The base is the Dockerfile's
# normal one (python:3.11-slim) when it is here or a registry gives it; else
# the image docker/build-base.sh builds from Debian packages, for air-gapped
# and offline CI. --network host: pip inside the build uses the same package
# index, proxy and CA as this machine.
# Usage: docker/build-image.sh [TAG]     env: BASE_IMAGE forces a base.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${1:-loadkit:local}"
NORMAL_BASE="python:3.11-slim"
LOCAL_BASE="loadkit-base:bookworm"
docker info >/dev/null 2>&1 || {
    echo "build-image: no Docker engine answers; install and start one: apt-get install -y docker.io && dockerd &" >&2
    exit 2; }

base="${BASE_IMAGE:-}"
if [ -z "$base" ]; then
    if docker image inspect "$NORMAL_BASE" >/dev/null 2>&1 \
        || timeout 60 docker pull -q "$NORMAL_BASE" >/dev/null 2>&1; then
        base="$NORMAL_BASE"
    else
        echo "build-image: $NORMAL_BASE cannot be pulled (no registry answers); building $LOCAL_BASE from Debian packages"
        docker/build-base.sh "$LOCAL_BASE"
        base="$LOCAL_BASE"
    fi
fi
echo "build-image: $TAG from $base"
docker build --network host --build-arg "BASE_IMAGE=$base" -f docker/Dockerfile -t "$TAG" . 
echo "build-image: built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%d MB", $1/1e6}'))"
