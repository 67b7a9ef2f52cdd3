#!/usr/bin/env bash
# Builds the lab's Debian 13 host image locally (no registry is reachable here):
#   1. debootstrap trixie (minbase)      -> localhost/pglab-base:trixie
#   2. systemd + sshd on top (Containerfile) -> localhost/pglab-host:<content hash>, tagged :latest
# Both steps are skipped when an image built from the same inputs exists already.
# Prints "image: built <tag>" or "image: unchanged <tag>" as its last line.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
mirror="${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
base=localhost/pglab-base:trixie
host_repo=localhost/pglab-host

hash=$(cat "$here/image/Containerfile" "$here/image/lab-ssh-hostkeys.service" | sha256sum | cut -c1-12)
tag="$host_repo:$hash"

if podman image exists "$tag"; then
  podman tag "$tag" "$host_repo:latest"
  echo "image: unchanged $tag"
  exit 0
fi

if ! podman image exists "$base"; then
  rootfs=$(mktemp -d /var/tmp/pglab-rootfs.XXXXXX)
  cleanup() {
    umount -R "$rootfs/proc" "$rootfs/sys" 2>/dev/null || true
    rm -rf --one-file-system "$rootfs" || true
  }
  trap cleanup EXIT
  echo "debootstrap trixie into $rootfs"
  debootstrap --variant=minbase --include=python3,ca-certificates trixie "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -n 30 "$rootfs.log" >&2; exit 1; }
  rm -f "$rootfs.log"
  tar -C "$rootfs" -c . | podman import - "$base" >/dev/null
fi

log=$(mktemp /var/tmp/pglab-build.XXXXXX.log)
podman build -t "$tag" -t "$host_repo:latest" -f "$here/image/Containerfile" "$here/image" >"$log" 2>&1 \
  || { tail -n 30 "$log" >&2; rm -f "$log"; exit 1; }
rm -f "$log"
echo "image: built $tag"
