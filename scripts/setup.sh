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

# promtool, for the alert rules' unit tests: Debian's own binary, taken out of its package
# (promtool on Debian 13, prometheus on Debian 12) without installing it, so no Prometheus
# service is set up on this machine. The monitoring hosts run Debian 13's.
if [[ ! -x .venv/bin/promtool ]]; then
  echo "setup: promtool into .venv/bin"
  tmp=$(mktemp -d)
  chmod 0755 "$tmp"
  fetch() { (cd "$tmp" && { apt-get download -qq promtool || apt-get download -qq prometheus; }) 2>/dev/null; }
  fetch || { apt-get update -qq && fetch; }
  dpkg-deb -x "$(ls "$tmp"/*.deb | head -n 1)" "$tmp/root"
  install -m 0755 "$tmp/root/usr/bin/promtool" .venv/bin/promtool
  rm -rf "$tmp"
fi
