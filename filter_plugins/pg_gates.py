"""The gates and refusals of the on-call playbooks, as filters that deserve unit tests.

Each ``*_problems`` or ``*_refusals`` filter reads what the playbook knows before it
changes anything (the request, the live topology, what the primary reports) and returns
a list of sentences, each naming the variable or the host and what is expected. An empty
list lets the playbook go on; the calling task fails with the sentences joined, prefixed
by "... refused, nothing was changed:" where it says so.

Every true/false input is read by ``pgfleet.boolean.parse_bool``, the one parser: the
request is refused when a switch says neither (``'ture'``, ``''``, ``2``), and the tasks
that act read the same switch through ``pg_bool``, so a value the check accepted never
means something else when acted on.

Values are turned into text as Jinja's ``~`` and ``| string`` do (``str()``), and numbers
as ``| int`` does (0 when not a number), so the messages read as they did in templates.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from pgfleet.boolean import parse_bool
from pgfleet.errors import InputError
from pgfleet.filters import wrap

pg_bool = wrap(parse_bool, AnsibleFilterError)

_GIB = 1024**3
_DEBIAN_CLUSTER_NAME = r"^[a-z][a-z0-9_]{0,30}$"


def _int(value: Any) -> int:
    """As Jinja's ``| int``: the number, or 0 when the value is not one."""
    try:
        return int(value, 10) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return 0


def _gib(value: Any) -> float:
    return round(_int(value) / _GIB, 1)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    if value is None or isinstance(value, (str, Mapping)):
        return []
    return list(value) if isinstance(value, Iterable) else []


def _is_bool(value: Any) -> bool:
    try:
        parse_bool(value)
    except InputError:
        return False
    return True


def _bool_problem(name: str, value: Any) -> list[str]:
    return [] if _is_bool(value) else [f"{name} must be true or false; got {value}."]


def _host_list(value: Any) -> list[str]:
    """Comma-separated host names (restore_hosts_down), blanks dropped, in the given order."""
    return [part.strip() for part in str(value).split(",") if part.strip()]


def pg_ha_request_problems(
    request: Mapping[str, Any], action: str, members: Iterable[str], force: Any = False
) -> list[str]:
    """What is wrong with a switchover, failover or rejoin request (the -e variables).

    `request` maps the action's variables to their values (None when not given): the one
    the action needs (switchover_to, failover_from, rejoin_host) is required; each given
    one must be a member. A failover may not name the failed primary as failover_to, and
    failover_force must be true or false.
    """
    members = [str(m) for m in _list(members)]
    if not isinstance(request, Mapping):
        raise AnsibleFilterError("pg_ha_request_problems: the request is not a mapping")
    required = {
        "switchover": "switchover_to",
        "failover": "failover_from",
        "rejoin": "rejoin_host",
    }.get(action)
    if required is None:
        raise AnsibleFilterError(
            f"pg_ha_request_problems: action {action!r} is not switchover, failover or rejoin"
        )
    out: list[str] = []
    for name, value in request.items():
        if value is None or str(value) == "":
            if name == required:
                example = members[-1] if members else "NAME"
                out.append(
                    f"{name} is required: the inventory name of a PostgreSQL host, one of "
                    f"{', '.join(members)} (e.g. -e {name}={example})."
                )
        elif not isinstance(value, str) or value not in members:
            out.append(
                f"{name}={value} is not a host of the postgresql group; expected one of "
                f"{', '.join(members)}."
            )
    if action == "failover":
        target = request.get("failover_to")
        if target not in (None, "") and target == request.get("failover_from"):
            out.append(f"failover_to={target} is the failed primary itself; name a survivor.")
        out += _bool_problem("failover_force", force)
    return out


def pg_switchover_gates(
    gates: Any,
    old: Any,
    new: str,
    state: Mapping[str, Any],
    target: Any,
    max_lag_bytes: Any,
    max_transaction_seconds: Any,
) -> list[str]:
    """Why a switchover from `old` to `new` must not start (nothing has changed yet).

    `gates` is what the primary reports (its pg_stat_replication row for the target,
    transactions open too long, archiver failing), `state` the topology
    (sanctioned, fenced) and `target` the target's probe. There must be a live primary,
    the target must not be fenced and must stream from the primary within max_lag_bytes;
    no transaction may be open longer than max_transaction_seconds, and archiving must work.
    """
    gates = _mapping(gates)
    state = _mapping(state)
    target = _mapping(target)
    replica = gates.get("replica")
    out: list[str] = []
    if old is None:
        out.append(
            "no node is the live primary: this is a failover (playbooks/failover.yml "
            f"-e failover_from={state.get('sanctioned')})."
        )
    elif new in _list(state.get("fenced")):
        out.append(f"{new} is fenced; run playbooks/rejoin.yml -e rejoin_host={new} first.")
    elif (
        not target.get("running", False)
        or not target.get("in_recovery", False)
        or target.get("receiver", "") != "streaming"
    ):
        why = (
            "unreachable"
            if target.get("unreachable", False)
            else "down"
            if not target.get("running", False)
            else f"WAL receiver: {target.get('receiver') or 'none'}"
        )
        out.append(f"switchover_to={new} is not a streaming standby ({why}).")
    elif replica is None:
        out.append(
            f"{old} has no replication connection from {new} (it may stream from another standby)."
        )
    elif not isinstance(replica, Mapping):
        raise AnsibleFilterError(
            f"pg_switchover_gates: the replica row {replica!r} is not a mapping"
        )
    elif replica.get("state") != "streaming" or _int(replica.get("lag")) > _int(max_lag_bytes):
        out.append(
            f"{new} is {replica.get('state')} and {replica.get('lag')} bytes behind "
            f"(postgresql_ha_switchover_max_lag_bytes is {max_lag_bytes}); "
            "wait for it to catch up."
        )
    transactions = _list(gates.get("transactions"))
    if transactions:
        out.append(
            f"transactions open longer than {max_transaction_seconds} s would be ended: "
            f"{'; '.join(str(t) for t in transactions)} "
            "(postgresql_ha_switchover_max_transaction_seconds)."
        )
    archiver = _mapping(gates.get("archiver"))
    if archiver.get("failing", False):
        out.append(
            f"WAL archiving is failing on {old} (last failed {archiver.get('last_failed_wal')}); "
            "fix it first (status.yml)."
        )
    return out


def pg_failover_refusals(state: Mapping[str, Any], old: Any) -> list[str]:
    """Why a failover of `old` (failover_from) must not start (nothing has changed yet).

    `old` must be the sanctioned primary, typed exactly, and must not accept writes (that
    is a switchover); no other node may accept writes (a second primary is never made);
    `old` must not be fenced already (the failover was done).
    """
    state = _mapping(state)
    writable = _list(state.get("writable"))
    others = [str(w) for w in writable if w != old]
    out: list[str] = []
    if old != state.get("sanctioned"):
        out.append(
            f"failover_from={old} does not name the primary: the sanctioned primary is "
            f"{state.get('sanctioned')}. The confirmation is the failed primary's name, "
            "typed exactly."
        )
    elif old in writable:
        out.append(
            f"{old} is running and accepts writes: this is a switchover "
            "(playbooks/switchover.yml -e switchover_to=NAME), not a failover."
        )
    if others:
        out.append(
            f"{', '.join(others)} already accepts writes: a second primary is never made. "
            "Stop all but one writable node first."
        )
    if old in _list(state.get("fenced")):
        out.append(
            f"{old} is already fenced: the failover was done (status.yml shows the primary)."
        )
    return out


def pg_rejoin_refusals(state: Mapping[str, Any], node: Any, answering: Iterable[str]) -> list[str]:
    """Why `node` (rejoin_host) must not be rewound onto the sanctioned primary now.

    The sanctioned primary must run as a primary and be the only writable node besides
    `node` itself; `node` must not be the sanctioned primary and must answer over SSH
    (be one of `answering`, the play's hosts).
    """
    state = _mapping(state)
    sanctioned = state.get("sanctioned")
    writable = _list(state.get("writable"))
    not_sanctioned = [str(w) for w in writable if w != sanctioned]
    out: list[str] = []
    if sanctioned not in writable:
        out.append(
            f"the sanctioned primary {sanctioned} is not running as a primary "
            f"({state.get('summary')})."
        )
    elif [w for w in not_sanctioned if w != node]:
        out.append(f"other writable nodes: {', '.join(not_sanctioned)}.")
    if node == sanctioned:
        out.append(f"rejoin_host={node} is the sanctioned primary; it is never rewound.")
    elif node not in _list(answering):
        out.append(f"rejoin_host={node} does not answer over SSH.")
    return out


def pg_restore_request_problems(
    request: Mapping[str, Any],
    members: Iterable[str],
    confirm: Any = "",
    hosts_down: Any = "",
    drill_host: Any = "",
    side_drop: Any = False,
    accept_loss: Any = False,
    verify_sql: Any = "",
) -> list[str]:
    """What is wrong with a restore or drill request (the -e variables), before any host.

    `request` is pg_restore_request's result (its problems come first). restore_host,
    restore_confirm, each name in restore_hosts_down (comma-separated) and drill_host must
    be members when given; restore_side_drop and restore_accept_loss true or false;
    restore_verify_sql a string; restore_side_drop=true needs restore_mode=side.
    """
    request = _mapping(request)
    members = [str(m) for m in _list(members)]
    listed = ", ".join(members)
    out = [str(p) for p in _list(request.get("problems"))]
    host = request.get("host")
    if host and host not in members:
        out.append(
            f"restore_host={host} is not a host of the postgresql group; expected one of {listed}."
        )
    confirm = str(confirm)
    if confirm and confirm not in members:
        out.append(
            f"restore_confirm={confirm} is not a host of the postgresql group; "
            "type the name of the primary being restored."
        )
    for down in _host_list(hosts_down):
        if down not in members:
            out.append(
                f"restore_hosts_down={hosts_down}: {down} is not a host of the postgresql group;"
                f" expected the members that do not answer, comma-separated, from {listed}."
            )
    drill = str(drill_host)
    if drill and drill not in members:
        out.append(
            f"drill_host={drill} is not a host of the postgresql group; expected one of {listed}."
        )
    out += _bool_problem("restore_side_drop", side_drop)
    out += _bool_problem("restore_accept_loss", accept_loss)
    if not isinstance(verify_sql, str):
        out.append(
            "restore_verify_sql must be one SQL statement as a string, "
            'e.g. "SELECT count(*) > 0 FROM app.orders".'
        )
    if _is_bool(side_drop) and parse_bool(side_drop) and request.get("mode") != "side":
        out.append(
            "restore_side_drop=true needs restore_mode=side and restore_host=NAME "
            "(the host of the side cluster)."
        )
    return out


def pg_restore_input_problems(
    settings: Mapping[str, Any], cluster: Mapping[str, Any], members: Iterable[str]
) -> list[str]:
    """What is wrong with the restore role's inventory settings, beyond their types.

    `settings` holds postgresql_restore_side_port, _drill_port, _side_name, _drill_name and
    _drill_host by name; `cluster` is postgresql_cluster (port, name). The side and drill
    clusters need ports of their own, other than production's and each other's, and
    Debian cluster names other than production's; the drill host must be a member.
    """
    settings = _mapping(settings)
    cluster = _mapping(cluster)
    members = [str(m) for m in _list(members)]
    out: list[str] = []
    for name in ("postgresql_restore_side_port", "postgresql_restore_drill_port"):
        if _int(settings.get(name)) == _int(cluster.get("port")):
            out.append(
                f"{name}={settings.get(name)} is the production port (postgresql_cluster_port); "
                "a separate cluster needs a port of its own."
            )
    side_port = settings.get("postgresql_restore_side_port")
    if _int(side_port) == _int(settings.get("postgresql_restore_drill_port")):
        out.append(
            "postgresql_restore_side_port and postgresql_restore_drill_port are both "
            f"{side_port}; give each its own port."
        )
    for name in ("postgresql_restore_side_name", "postgresql_restore_drill_name"):
        value = str(settings.get(name))
        if value == cluster.get("name") or not re.match(_DEBIAN_CLUSTER_NAME, value):
            out.append(
                f"{name}={value}: expected a Debian cluster name of lowercase letters, digits "
                f"and _, other than the production cluster {cluster.get('name')}."
            )
    drill_host = settings.get("postgresql_restore_drill_host")
    if drill_host and drill_host not in members:
        out.append(
            f"postgresql_restore_drill_host={drill_host} is not a host of the postgresql "
            f"group; expected one of {', '.join(members)} or empty."
        )
    return out


def pg_restore_refusals(
    plan: Mapping[str, Any],
    request: Mapping[str, Any],
    room: Any,
    state: Mapping[str, Any],
    primary: Any,
    safety: Any = "none",
    target_host: Any = "",
    side_cluster: Any = "",
    confirm: Any = "",
    members: Iterable[str] = (),
    answering: Iterable[str] = (),
    hosts_down: Any = "",
    patroni: Any = False,
    live: Any = False,
    nodes: Any = None,
    repo: Any = None,
) -> list[str]:
    """Why the planned restore must not start (nothing has changed yet).

    The plan's own problems come first. Beside production (restore_mode=side): the side
    cluster `side_cluster` must not exist on `target_host`, which needs 1.2 x the backup's
    size free (`room`: avail, data, side_exists). In place: something of the primary is
    kept (`safety` is not no-room); only the primary accepts writes; a typed
    restore_confirm names `primary`; under Patroni, restore_hosts_down names exactly the
    members that do not answer. When the primary runs (`live`) and no timeline was asked
    for, it must be on the repository's newest timeline.
    """
    plan = _mapping(plan)
    request = _mapping(request)
    room = _mapping(room)
    state = _mapping(state)
    out = [str(p) for p in _list(plan.get("problems"))]
    if request.get("mode") == "side":
        if room.get("side_exists", False):
            out.append(
                f"cluster {side_cluster} exists on {target_host} from an earlier side restore; "
                "remove it first with -e restore_side_drop=true."
            )
        backup = plan.get("backup")
        if backup:
            size = _int(_mapping(backup).get("size"))
            if _int(room.get("avail")) < int(size * 1.2):
                out.append(
                    f"{target_host} has {_gib(room.get('avail'))} GiB free; the backup needs "
                    f"{round(size * 1.2 / _GIB, 1)} GiB."
                )
    else:
        if safety == "no-room":
            out.append(
                f"the primary {primary} is down, so no last backup can be taken, and "
                f"{_gib(room.get('avail'))} GiB free cannot hold a copy of its "
                f"{_gib(room.get('data'))} GiB data directory. Free space, or accept losing "
                "what it holds beyond the archive with -e restore_accept_loss=true."
            )
        if [w for w in _list(state.get("writable")) if w != primary]:
            out.append(
                f"more than one node accepts writes ({state.get('summary')}); "
                "settle the topology first."
            )
        confirm = str(confirm)
        if confirm and confirm != primary:
            out.append(
                f"restore_confirm={confirm} does not name the primary being restored, {primary}."
            )
        # Under Patroni the cluster is removed from etcd: a member the controller cannot
        # reach may still run its agent, reach etcd and claim the empty cluster (a second
        # primary).
        answering = _list(answering)
        down = sorted(m for m in _list(members) if m not in answering)
        named = sorted(set(_host_list(hosts_down)))
        if pg_bool(patroni, "postgresql_cluster.patroni") and down != named:
            out.append(
                "under Patroni an in-place restore removes the cluster from etcd, and a member "
                "the controller cannot reach may still run its Patroni agent, reach etcd and "
                "claim the empty cluster as a second primary. "
                + (
                    f"Members that do not answer: {', '.join(down)}. Make sure they are down "
                    "(powered off, or their Patroni stopped), then confirm with "
                    f"-e restore_hosts_down={','.join(down)}."
                    if down
                    else "Every member answers: drop restore_hosts_down."
                )
                + (
                    f" restore_hosts_down={','.join(named)} must name exactly the members that "
                    "do not answer."
                    if named
                    else ""
                )
            )
    if pg_bool(live, "live") and request.get("timeline") is None:
        have = _mapping(_mapping(nodes).get(primary)).get("timeline")
        newest = _mapping(repo).get("timeline")
        if _int(have) != _int(newest):
            out.append(
                f"the repository newest timeline is {newest} but the primary is on timeline "
                f"{have} (a node was promoted outside these playbooks?); say which history to "
                "restore along with -e restore_target_timeline=N."
            )
    return out


def pg_patroni_input_problems(
    settings: Mapping[str, Any],
    members: Iterable[str],
    password_length: Any = 0,
    cluster_port: Any = None,
    source_problems: Iterable[str] = (),
) -> list[str]:
    """What is wrong with the patroni role's inventory settings (postgresql_ha_engine patroni).

    `settings` holds the patroni_* variables by name (and
    postgresql_server_synchronous_standbys); `password_length` is the length of
    patroni_restapi_password (the secret itself never reaches a filter); `source_problems`
    are pg_haproxy_sources' problems.
    """
    s = _mapping(settings)
    members = _list(members)
    out: list[str] = []
    if _int(password_length) < 12:
        out.append(
            "patroni_restapi_password is required with postgresql_ha_engine patroni: "
            "at least 12 characters (from the vault)."
        )
    user = s.get("patroni_restapi_user")
    if not re.match(r"^[A-Za-z0-9_.-]+$", str(user)):
        out.append(
            f"patroni_restapi_user: letters, digits, _ . and -; got {json.dumps(str(user))}."
        )
    ttl, loop_wait, retry = (
        s.get("patroni_ttl"),
        s.get("patroni_loop_wait"),
        s.get("patroni_retry_timeout"),
    )
    if (
        _int(ttl) < 20
        or _int(loop_wait) < 1
        or _int(retry) < 3
        or _int(loop_wait) + 2 * _int(retry) > _int(ttl)
    ):
        out.append(
            "patroni_ttl, patroni_loop_wait, patroni_retry_timeout: Patroni needs ttl >= 20, "
            "loop_wait >= 1, retry_timeout >= 3 and loop_wait + 2 x retry_timeout <= ttl; "
            f"got ttl {ttl}, loop_wait {loop_wait}, retry_timeout {retry}."
        )
    mode = s.get("patroni_synchronous_mode")
    count = s.get("patroni_synchronous_node_count")
    if mode not in ("off", "on", "quorum"):
        out.append(f"patroni_synchronous_mode: off, on or quorum; got {json.dumps(str(mode))}.")
    elif mode != "off" and (_int(count) < 1 or _int(count) >= len(members)):
        out.append(
            f"patroni_synchronous_node_count: from 1 to the number of replicas "
            f"({len(members) - 1}); got {count}."
        )
    standbys = s.get("postgresql_server_synchronous_standbys") or []
    if len(standbys) > 0:
        out.append(
            "postgresql_server_synchronous_standbys must be empty with postgresql_ha_engine "
            "patroni (Patroni sets the synchronous standbys itself): set "
            f"patroni_synchronous_mode instead; got {json.dumps(standbys)}."
        )
    ports = [
        _int(p)
        for p in (
            s.get("patroni_restapi_port"),
            s.get("patroni_haproxy_primary_port"),
            s.get("patroni_haproxy_replica_port"),
            s.get("patroni_haproxy_direct_port"),
            cluster_port,
        )
    ]
    if len(set(ports)) != len(ports):
        out.append(
            "patroni_restapi_port, patroni_haproxy_primary_port, patroni_haproxy_replica_port, "
            "patroni_haproxy_direct_port and postgresql_cluster_port must all differ; "
            f"got {', '.join(map(str, ports))}."
        )
    lag = s.get("patroni_maximum_lag_on_failover")
    if _int(lag) < 0:
        out.append(f"patroni_maximum_lag_on_failover: bytes, 0 or more; got {lag}.")
    bind = str(s.get("patroni_haproxy_bind_address"))
    if bind.strip() in ("", "*", "0.0.0.0", "::") or " " in bind:
        out.append(
            "patroni_haproxy_bind_address: the member's private address (an IP address or a "
            f"host name), never every interface; got {json.dumps(bind)}."
        )
    bad = [str(a) for a in _list(s.get("patroni_restapi_allowlist")) if not _is_ip(str(a))]
    if bad:
        out.append(
            "patroni_restapi_allowlist: IP addresses or CIDR networks (the controller's); "
            f"got {json.dumps(bad)}."
        )
    out += [f"{p}." for p in _list(source_problems)]
    return out


def _is_ip(text: str) -> bool:
    """As the ansible.utils.ip test: an address or a network (without host bits)."""
    try:
        ipaddress.ip_network(text)
    except ValueError:
        return False
    return True


def pg_etcd_input_problems(settings: Mapping[str, Any], members: Iterable[str]) -> list[str]:
    """What is wrong with the etcd role's inventory settings (postgresql_ha_engine patroni).

    `members` are the etcd members (the etcd group, else the PostgreSQL hosts): 3, 5 or 7.
    `settings` holds the etcd_* variables by name.
    """
    s = _mapping(settings)
    members = [str(m) for m in _list(members)]
    out: list[str] = []
    if len(members) not in (3, 5, 7):
        out.append(
            "etcd (postgresql_ha_engine patroni) needs 3, 5 or 7 members: the `etcd` group, "
            f"else the PostgreSQL hosts; got {len(members)} ({', '.join(members)}). With two "
            "database hosts, add a small witness host to an `etcd` group."
        )
    client, peer = s.get("etcd_client_port"), s.get("etcd_peer_port")
    if _int(client) == _int(peer):
        out.append(f"etcd_client_port and etcd_peer_port must differ; got {client} for both.")
    heartbeat = s.get("etcd_heartbeat_interval_ms")
    election = s.get("etcd_election_timeout_ms")
    if _int(heartbeat) < 50 or _int(election) < 5 * _int(heartbeat):
        out.append(
            "etcd_election_timeout_ms must be at least 5 x etcd_heartbeat_interval_ms, the "
            f"heartbeat at least 50; got {election} and {heartbeat}."
        )
    data_dir = s.get("etcd_data_dir")
    if not re.match(r"^/[^ ]+$", str(data_dir)):
        out.append(
            f"etcd_data_dir: an absolute path without spaces; got {json.dumps(str(data_dir))}."
        )
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pg_bool": pg_bool,
            "pg_ha_request_problems": pg_ha_request_problems,
            "pg_switchover_gates": pg_switchover_gates,
            "pg_failover_refusals": pg_failover_refusals,
            "pg_rejoin_refusals": pg_rejoin_refusals,
            "pg_restore_request_problems": pg_restore_request_problems,
            "pg_restore_input_problems": pg_restore_input_problems,
            "pg_restore_refusals": pg_restore_refusals,
            "pg_patroni_input_problems": pg_patroni_input_problems,
            "pg_etcd_input_problems": pg_etcd_input_problems,
        }
