#!/bin/bash
# Does HAProxy's health check verify the member's name? Run inside a member
# (podman exec -i HOST bash -s -- MEMBER < haproxy-verifyhost.sh): a throwaway HAProxy on
# 127.0.0.1:15000 checks MEMBER with the installed configuration's own check options, once
# with the name the configuration expects and once with another name. Prints
#   {"verifyhost": true, "right": DOWNS, "wrong": DOWNS}
# (how often each check marked the server down in 4 s), or {"verifyhost": false} when the
# installed configuration does not check MEMBER's name at all.
set -uo pipefail
member=$1
cfg=/etc/haproxy/haproxy.cfg
ds=$(grep -m1 ' default-server ' "$cfg")
srv=$(grep -m1 "^ *server $member .* verifyhost $member\$" "$cfg") || { echo '{"verifyhost": false}'; exit 0; }
downs() {
  printf '%s\n' global '    log stdout format raw local0' defaults '    mode tcp' '    log global' \
    '    timeout connect 3s' '    timeout client 1m' '    timeout server 1m' '    timeout check 2s' \
    'listen t' '    bind 127.0.0.1:15000' '    option httpchk' '    http-check send meth OPTIONS uri /' \
    '    http-check expect rstatus .' "$ds" "${srv/verifyhost $member/verifyhost $1}" >/tmp/verifyhost.cfg
  timeout 4 haproxy -db -f /tmp/verifyhost.cfg 2>&1 | grep -c 'is DOWN'
}
printf '{"verifyhost": true, "right": %s, "wrong": %s}\n' "$(downs "$member")" "$(downs "not-$member")"
rm -f /tmp/verifyhost.cfg
