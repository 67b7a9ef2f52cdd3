#!/usr/bin/env bash
# Installs everything the lab and the tests need on a fresh Debian machine, from the
# project's own files: Debian packages (podman without Docker, debootstrap, ...) and the
# pinned Python requirements in .venv. Safe to re-run: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# postgresql: the unit tests of the shared database session start a throwaway server
# (initdb on a temporary directory); Debian's own main cluster is not created.
apt_packages=(podman runc netavark aardvark-dns iptables debootstrap openssl openssh-client make rsync postgresql)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [[ " ${missing[*]} " == *" postgresql "* && ! -e /etc/postgresql-common/createcluster.d/pgfleet.conf ]]; then
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/pgfleet.conf
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "setup: pip install -r requirements.txt into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" >"$stamp"
fi
