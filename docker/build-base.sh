#!/usr/bin/env bash
# Build a Python base image from Debian packages (debootstrap), for machines
# that reach a Debian mirror and a Python package index but no image registry
# (air-gapped or offline CI). The Dockerfile takes it with
#   docker build --build-arg BASE_IMAGE=loadkit-base:bookworm ...
# Usage: docker/build-base.sh [TAG]   (default loadkit-base:bookworm; root needed)
set -euo pipefail

TAG="${1:-loadkit-base:bookworm}"
SUITE="${LOADKIT_BASE_SUITE:-bookworm}"
if docker image inspect "$TAG" >/dev/null 2>&1 && [ -z "${LOADKIT_BASE_REBUILD:-}" ]; then
    echo "build-base: $TAG exists (LOADKIT_BASE_REBUILD=1 rebuilds it)"
    exit 0
fi
command -v debootstrap >/dev/null || {
    echo "build-base: debootstrap not found; install it: apt-get install -y debootstrap" >&2; exit 2; }

# The mirror apt already uses here: the image must come from the same place.
MIRROR="${LOADKIT_BASE_MIRROR:-}"
if [ -z "$MIRROR" ]; then
    MIRROR="$(grep -hoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -v security | head -1 | awk '{print $2}')" || true
fi
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

ROOT="$(mktemp -d /var/tmp/loadkit-base.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
echo "build-base: debootstrap $SUITE from $MIRROR into $ROOT"
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || {
    echo "build-base: debootstrap failed; last lines of $ROOT.log:" >&2; tail -20 "$ROOT.log" >&2; exit 1; }
rm -f "$ROOT.log"

# What the python:3.x-slim images give: python and pip on PATH, pip allowed to
# install into the system (the image is the environment; no venv needed).
ln -sf /usr/bin/python3 "$ROOT/usr/local/bin/python"
ln -sf /usr/bin/pip3 "$ROOT/usr/local/bin/pip"
rm -f "$ROOT"/usr/lib/python3*/EXTERNALLY-MANAGED
# The machine's CA bundle and pip configuration: the image installs its Python
# dependencies from the same package index, through the same proxy CA.
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOT/etc/pip.conf"
if [ -d /etc/xdg/pip ]; then mkdir -p "$ROOT/etc/xdg" && cp -r /etc/xdg/pip "$ROOT/etc/xdg/"; fi
# Package lists and caches are not part of an image.
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/archives/*.deb

tar -C "$ROOT" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' - "$TAG" >/dev/null
echo "build-base: built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%d MB", $1/1e6}'))"
