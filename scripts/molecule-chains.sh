#!/usr/bin/env bash
# Runs the molecule scenarios named as arguments (make molecule SCENARIOS="...").
#
# A scenario that reuses another one's converged hosts runs right after it, and that one
# keeps its hosts (--destroy=never, after an explicit destroy that resets molecule's
# record of them and removes anything a failed earlier run left on its network):
#   restore reuses default's hosts.
# Chains that share no hosts run side by side (default+restore, failover, patroni) and end
# at about the same time; together they keep both cores busy (the hosts are containers on
# them), so less work in any chain shortens the run. Each chain logs to
# .lab/logs/molecule-<first>.log and is printed when it ends; the run fails when any chain
# fails. MOLECULE_SERIAL=1 runs the chains one after the other instead.
set -uo pipefail
cd "$(dirname "$0")/.."

declare -A reuses=([restore]=default)
scenarios=("$@")
has() { local s; for s in "${scenarios[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# Chains: a scenario whose host scenario is also listed joins that scenario's chain.
chains=()
for s in "${scenarios[@]}"; do
  host=${reuses[$s]:-}
  if [ -n "$host" ] && has "$host"; then continue; fi
  chain=$s
  for t in "${scenarios[@]}"; do
    [ "${reuses[$t]:-}" = "$s" ] && chain="$chain $t"
  done
  chains+=("$chain")
done

# Molecule's step lines get the time of day, so a log shows where a scenario spent it.
stamp() {
  local line
  while IFS= read -r line; do
    case $line in
      *" ➜ "*) printf '%(%T)T %s\n' -1 "$line" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done
}

run_chain() {
  local chain=($1) i s start
  for i in "${!chain[@]}"; do
    s=${chain[$i]}
    start=$(date +%s)
    if [ $((i + 1)) -lt ${#chain[@]} ]; then
      echo "== molecule: $s (keeps its hosts for ${chain[$((i + 1))]})"
      { molecule destroy -s "$s" && molecule test -s "$s" --destroy=never; } 2>&1 | stamp || return 1
    else
      echo "== molecule: $s"
      molecule test -s "$s" 2>&1 | stamp || return 1
    fi
    echo "== molecule: $s passed in $(( $(date +%s) - start )) s"
  done
}

# Made once, before any chain starts: the image, the SSH key, the store's CA, the secrets.
ansible-playbook -i molecule/default/inventory lab/shared.yml >/dev/null || {
  echo "molecule: lab/shared.yml failed" >&2; exit 1; }

# The lab's own teardown, checked on one throwaway host before every scenario relies on it.
pytest -q tests/lab || { echo "molecule: the lab's teardown (tests/lab) failed" >&2; exit 1; }

if [ "${MOLECULE_SERIAL:-0}" = 1 ] || [ ${#chains[@]} -le 1 ]; then
  for c in "${chains[@]}"; do run_chain "$c" || exit 1; done
  exit 0
fi

mkdir -p .lab/logs
pids=() logs=()
for c in "${chains[@]}"; do
  log=.lab/logs/molecule-${c%% *}.log
  logs+=("$log")
  start=$(date +%s)
  ( run_chain "$c"; rc=$?; echo "== chain [$c]: exit $rc after $(( $(date +%s) - start )) s"; exit $rc ) >"$log" 2>&1 &
  pids+=($!)
  echo "== chain [$c] started (log $log)"
done
rc=0 failed=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { rc=1; failed+=("${logs[$i]}"); }
  cat "${logs[$i]}"
done
# A failed chain's own failures again, last, where a truncated CI log still shows them.
for log in "${failed[@]}"; do
  echo "== failed tasks in $log:"
  grep -a -A 8 -E '(fatal|failed): \[' "$log" | tail -n 80
done
exit $rc
