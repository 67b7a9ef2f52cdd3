#!/usr/bin/env bash
# Builds the lab's Debian 13 host image locally (no registry is reachable here):
#   1. debootstrap trixie (minbase)      -> localhost/pglab-base:trixie
#   2. systemd + sshd on top (Containerfile) -> localhost/pglab-host:<content hash>, tagged :latest
#   3. the streaming engine's packages installed on top (Containerfile.packages)
#      -> localhost/pglab-host-packages:<content hash>, tagged :latest (scenarios that do
#      not test the install itself start from it: lab_host_image in their inventory)
# Each step is skipped when an image built from the same inputs exists already.
# Prints "image: built <tag>" or "image: unchanged <tag>" (the host image) as its last line.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
mirror="${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
base=localhost/pglab-base:trixie
host_repo=localhost/pglab-host

packages_repo=localhost/pglab-host-packages
hash=$(cat "$here/image/Containerfile" "$here/image/lab-ssh-hostkeys.service" | sha256sum | cut -c1-12)
tag="$host_repo:$hash"
packages_hash=$(cat "$here/image/Containerfile" "$here/image/lab-ssh-hostkeys.service" \
  "$here/image/Containerfile.packages" | sha256sum | cut -c1-12)
packages_tag="$packages_repo:$packages_hash"

# build <tag> <latest> <Containerfile>: one podman build, its log shown only on failure.
build() {
  local log
  log=$(mktemp /var/tmp/pglab-build.XXXXXX.log)
  podman build -t "$1" -t "$2" -f "$3" "$here/image" >"$log" 2>&1 \
    || { tail -n 30 "$log" >&2; rm -f "$log"; exit 1; }
  rm -f "$log"
}

# The packages image, from the host image of the same inputs (built first when missing).
packages() {
  if podman image exists "$packages_tag"; then
    podman tag "$packages_tag" "$packages_repo:latest"
  else
    build "$packages_tag" "$packages_repo:latest" "$here/image/Containerfile.packages"
  fi
}

if podman image exists "$tag"; then
  podman tag "$tag" "$host_repo:latest"
  packages
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

build "$tag" "$host_repo:latest" "$here/image/Containerfile"
packages
echo "image: built $tag"
