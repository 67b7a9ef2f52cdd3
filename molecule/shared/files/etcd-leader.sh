#!/bin/bash
# etcd's leader, run inside an etcd member's container (podman exec -i HOST bash -s -- ...):
#   show ADDRESS...         print the address of the member that leads etcd
#   move TARGET ADDRESS...  make the member at TARGET etcd's leader
# ADDRESS...: every member's address (client port 2379).
set -euo pipefail
action=$1; shift
target=
if [ "$action" = move ]; then target=$1; shift; fi
endpoints=$(printf 'https://%s:2379,' "$@"); endpoints=${endpoints%,}
ctl() {
  etcdctl --endpoints="$endpoints" --cacert=/etc/etcd/tls/ca.crt \
    --cert=/etc/etcd/tls/member.crt --key=/etc/etcd/tls/member.key "$@"
}
out=$(ctl endpoint status -w json | python3 -c '
import json, sys
status = json.load(sys.stdin)
leader = status[0]["Status"]["leader"]
ids = {s["Endpoint"].split("//")[1].split(":")[0]: s["Status"]["header"]["member_id"] for s in status}
if sys.argv[1] == "show":
    print([address for address, i in ids.items() if i == leader][0])
else:
    print(format(ids[sys.argv[2]], "x"))
' "$action" "$target")
if [ "$action" = move ]; then ctl move-leader "$out" >/dev/null; else echo "$out"; fi
