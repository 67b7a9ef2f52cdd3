#!/usr/bin/python3
"""Ansible module: what the roles need to know about one PostgreSQL host, in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_node_facts
short_description: Everything the roles probe on a PostgreSQL host, in one round trip
description:
  - Gathers in one module run what the server, pgbackrest, replica, topology and patroni
    roles decide from; sets the fact C(postgresql_node).
  - Packages (one dpkg-query), the Debian cluster's files (PG_VERSION, postgresql.conf,
    the include_dir line), the state of the files the roles render (sha1, owner, group,
    mode), the TLS files, the services (one systemctl call), the topology record and the
    fence markers, the server's own view (one psql session as postgres, with the project's
    session options), Patroni's view of the cluster (its REST API, verified TLS) when its
    agent runs, and whether a watchdog device exists.
  - Reads only; runs in check mode.
options:
  cluster:
    description:
      - The shared cluster definition (C(postgresql_cluster)). Read keys are port,
        data_dir, conf_dir, dropin_dir, tls_dir, service, patroni_service,
        patroni_config, record_file, legacy_record_file, fence_file, legacy_fence_file.
    type: dict
    required: true
  packages:
    description: Debian packages whose installation is reported.
    type: list
    elements: str
    default: []
  files:
    description: Paths whose state is reported (a file, a directory, or absent).
    type: list
    elements: str
    default: []
  query:
    description: Ask the running server (and Patroni, when its agent runs).
    type: bool
    default: true
  host_facts:
    description:
      - Also set the host facts the roles size PostgreSQL and pgBackRest from, with the
        names and values of the setup module (C(memtotal_mb), C(processor_vcpus), and
        C(mounts) with C(mount), C(size_total) and C(size_available) for the mount points
        that hold the data directory), so a play that runs this probe needs no fact
        gathering.
    type: bool
    default: false
  publish:
    description:
      - Set the fact C(postgresql_node). False returns the result as C(node) only (a
        partial probe that must not replace the full one).
    type: bool
    default: true
author: pgfleet
"""

EXAMPLES = r"""
- name: Probe the host
  pg_node_facts:
    cluster: "{{ postgresql_cluster }}"
    packages: [postgresql-17, pgbackrest]
    files: [/etc/postgresql/17/main/pg_hba.conf]

- name: Installed and running
  ansible.builtin.assert:
    that:
      - postgresql_node.missing_packages == []
      - postgresql_node.topology.running
"""

RETURN = r"""
node:
  description: The same dictionary as the fact postgresql_node.
  returned: always
  type: dict
ansible_facts:
  description: >-
    C(postgresql_node) (when publish); C(memtotal_mb), C(processor_vcpus) and C(mounts)
    (when host_facts).
  returned: when publish or host_facts
  type: dict
  contains:
    postgresql_node:
      description: >-
        packages (name -> installed), missing_packages, cluster (PG_VERSION present and not
        empty), registered (Debian's postgresql.conf exists), main_conf (postgresql.conf, or
        postgresql.base.conf under Patroni), include_dir (the line and conf.d exist),
        files (path -> '<sha1> owner:group:mode' for a file, 'owner:group:mode' for a
        directory, '-' when absent), tls_dir (its state), tls_cert (server.crt, only when
        server.key exists), tls_ca (ca.crt), service_active, patroni_active, active (either
        runs PostgreSQL), data_checksums ('on'/'off', null when not running), watchdog,
        patroni (Patroni's leader, members, paused, failsafe; or error; only when its agent
        runs), and topology (what postgresql_topology decides from - running, data,
        in_recovery, system_identifier, timeline, lsn, upstream, receive_lsn, replay_lsn,
        receiver, receiver_quiet_s, synchronous, record, record_owner, record_legacy,
        record_stray, fence_marker, patroni).
      type: dict
"""

import grp
import hashlib
import json
import os
import pwd
import stat
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgfleet.patroni_rest import Client, cluster_summary
from ansible.module_utils.pgfleet.session import Session

# The server's own view, as one JSON object (the topology decision and the server role).
QUERY = """SELECT json_build_object(
  'running', true, 'data', true, 'in_recovery', pg_is_in_recovery(),
  'system_identifier', (SELECT system_identifier::text FROM pg_control_system()),
  'timeline', CASE WHEN pg_is_in_recovery()
    THEN (SELECT coalesce(max(received_tli), (SELECT timeline_id FROM pg_control_checkpoint()))
            FROM pg_stat_wal_receiver)
    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
  'lsn', (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
          ELSE pg_current_wal_lsn() END)::text,
  'upstream', (SELECT sender_host FROM pg_stat_wal_receiver),
  'receive_lsn', pg_last_wal_receive_lsn()::text,
  'replay_lsn', pg_last_wal_replay_lsn()::text,
  'receiver', (SELECT status FROM pg_stat_wal_receiver),
  'receiver_quiet_s', (SELECT round(extract(epoch FROM
                           clock_timestamp() - last_msg_receipt_time), 1)
                         FROM pg_stat_wal_receiver),
  'synchronous', current_setting('synchronous_standby_names') <> '',
  'data_checksums', current_setting('data_checksums'))"""

INCLUDE_LINE = "include_dir = 'conf.d'"
SESSION_TIMEOUT = 10.0
PATRONI_TIMEOUT = 3.0


# --- pure pieces ---------------------------------------------------------------------------


def owner_mode(st: os.stat_result) -> str:
    """'owner:group:mode' as stat -c %U:%G:%a prints it (numeric ids when unnamed)."""
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"{owner}:{group}:{st.st_mode & 0o7777:o}"


def path_state(path: str) -> str:
    """'<sha1> owner:group:mode' for a file, 'owner:group:mode' for a directory, '-' when
    absent (the notation of the stale_files filter)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "-"
    who = owner_mode(st)
    if os.path.isdir(path):
        return who
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return f"{digest.hexdigest()} {who}"


def is_char_device(path: str) -> bool:
    """test -c: a watchdog device exists."""
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def read_text(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return ""


def installed_packages(dpkg_output: str) -> set[str]:
    """The packages dpkg-query -W -f='${Package} ${Status}\\n' reports as installed."""
    return {
        line.split()[0]
        for line in dpkg_output.splitlines()
        if line.strip() and line.endswith(" install ok installed")
    }


def active_units(units: list[str], systemctl_output: str) -> dict[str, bool]:
    """systemctl is-active UNIT... prints one state per unit, in order."""
    states = systemctl_output.split()
    return {
        unit: (states[i] == "active" if i < len(states) else False) for i, unit in enumerate(units)
    }


def has_include_dir(conf_text: str) -> bool:
    return INCLUDE_LINE in conf_text.splitlines()


def record_probe(
    record_file: str,
    legacy_record_file: str,
    *,
    exists: Callable[[str], bool] = os.path.exists,
    isdir: Callable[[str], bool] = os.path.isdir,
    state: Callable[[str], str] = lambda p: owner_mode(os.stat(p)),
    load: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """The sanctioned topology this host was last told, and who owns it.

    A host this version has not converged yet (no record directory) has the record at the
    old place (record_legacy); once the directory exists, a record at the old place is only
    named (record_stray, its owner and mode). record_owner: 'file-owner dir-owner' (the
    decision counts the record only when root owns both); record: null when absent or
    unreadable."""
    if load is None:
        load = _load_json
    path, legacy, stray, owner = record_file, False, None, None
    directory = os.path.dirname(record_file)
    if not isdir(directory) and exists(legacy_record_file):
        path, legacy = legacy_record_file, True
    elif exists(legacy_record_file):
        stray = state(legacy_record_file)
    if exists(path):
        owner = f"{state(path)} {state(os.path.dirname(path))}"
    try:
        record = load(path)
    except (OSError, ValueError):
        record = None
    return {
        "record": record,
        "record_owner": owner,
        "record_legacy": legacy,
        "record_stray": stray,
    }


def _load_json(path: str) -> Any:
    with open(path) as fh:
        return json.load(fh)


def topology_view(
    *,
    server: Mapping[str, Any] | None,
    data: bool,
    record: Mapping[str, Any],
    fence_marker: bool,
    patroni: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """What postgresql_topology decides from: the server's answer when it gave one,
    else running false and whether a data directory exists; the record, the fence
    marker and Patroni's view (only when its agent runs)."""
    out: dict[str, Any] = {}
    if patroni is not None:
        out["patroni"] = dict(patroni)
    if server is not None:
        out.update(record)
        out["fence_marker"] = fence_marker
        out.update({k: v for k, v in server.items() if k != "data_checksums"})
    else:
        out.update({"running": False, "data": data})
        out.update(record)
        out["fence_marker"] = fence_marker
    return out


def server_answer(text: str) -> dict[str, Any] | None:
    """The QUERY's JSON answer, or None when it is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def node_facts(
    cluster: Mapping[str, Any],
    packages: Iterable[str],
    files: Iterable[str],
    *,
    installed: set[str],
    units: Mapping[str, bool],
    server: Mapping[str, Any] | None,
    patroni: Mapping[str, Any] | None,
    state: Callable[[str], str] = path_state,
    text: Callable[[str], str] = read_text,
    exists: Callable[[str], bool] = os.path.exists,
    isdir: Callable[[str], bool] = os.path.isdir,
    record: Mapping[str, Any] | None = None,
    watchdog: bool = False,
) -> dict[str, Any]:
    """postgresql_node, from what was read on the host (the readers are parameters so
    the decision can be tested without a host)."""
    packages = list(dict.fromkeys(packages))
    conf_dir = cluster["conf_dir"]
    conf = os.path.join(conf_dir, "postgresql.conf")
    # Under Patroni, Debian's postgresql.conf is renamed postgresql.base.conf (Patroni's own
    # postgresql.conf includes it first).
    base = os.path.join(conf_dir, "postgresql.base.conf")
    main_conf = base if exists(base) else conf
    version = os.path.join(cluster["data_dir"], "PG_VERSION")
    tls = cluster["tls_dir"]
    service_active = bool(units.get(cluster["service"]))
    patroni_active = bool(units.get(cluster["patroni_service"]))
    if record is None:
        record = record_probe(
            cluster["record_file"], cluster["legacy_record_file"], exists=exists, isdir=isdir
        )
    fence_marker = exists(cluster["fence_file"]) or exists(cluster["legacy_fence_file"])
    return {
        "packages": {p: p in installed for p in packages},
        "missing_packages": [p for p in packages if p not in installed],
        "cluster": exists(version) and bool(text(version).strip()),
        "registered": exists(conf),
        "main_conf": main_conf,
        "include_dir": has_include_dir(text(main_conf)) and isdir(cluster["dropin_dir"]),
        "files": {p: state(p) for p in dict.fromkeys(files)},
        "tls_dir": state(tls),
        "tls_cert": text(os.path.join(tls, "server.crt"))
        if exists(os.path.join(tls, "server.key"))
        else "",
        "tls_ca": text(os.path.join(tls, "ca.crt")),
        "service_active": service_active,
        "patroni_active": patroni_active,
        "active": service_active or patroni_active,
        "data_checksums": (server or {}).get("data_checksums"),
        "watchdog": watchdog,
        "patroni": dict(patroni) if patroni is not None else None,
        "topology": topology_view(
            server=server,
            data=exists(version) and bool(text(version).strip()),
            record=record,
            fence_marker=fence_marker,
            patroni=patroni,
        ),
    }


REQUIRED_KEYS = (
    "port",
    "data_dir",
    "conf_dir",
    "dropin_dir",
    "tls_dir",
    "service",
    "patroni_service",
    "patroni_config",
    "record_file",
    "legacy_record_file",
    "fence_file",
    "legacy_fence_file",
)


def memtotal_mb(meminfo: str) -> int | None:
    """MemTotal of /proc/meminfo in MiB, as the setup module reports memtotal_mb."""
    for line in meminfo.splitlines():
        name, _, rest = line.partition(":")
        if name == "MemTotal":
            fields = rest.split()
            if fields and fields[0].isdigit():
                return int(fields[0]) // 1024
    return None


def mount_candidates(data_dir: str) -> list[str]:
    """The directories whose file system may hold data_dir: /, each parent, data_dir."""
    parts = [p for p in data_dir.split("/") if p]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def host_facts(
    meminfo: str,
    cpus: int | None,
    data_dir: str,
    is_mount: Callable[[str], bool],
    statvfs: Callable[[str], Any],
) -> dict[str, Any]:
    """memtotal_mb, processor_vcpus and the mounts on data_dir's path (setup's names)."""
    mounts = []
    for path in mount_candidates(data_dir):
        if path != "/" and not is_mount(path):
            continue
        try:
            st = statvfs(path)
        except OSError:
            continue
        mounts.append(
            {
                "mount": path,
                "size_total": st.f_frsize * st.f_blocks,
                "size_available": st.f_frsize * st.f_bavail,
            }
        )
    return {"memtotal_mb": memtotal_mb(meminfo), "processor_vcpus": cpus or 1, "mounts": mounts}


def missing_keys(cluster: Mapping[str, Any]) -> list[str]:
    return [k for k in REQUIRED_KEYS if cluster.get(k) in (None, "")]


# --- on the host ---------------------------------------------------------------------------


def patroni_view(config: str) -> dict[str, Any]:
    """Patroni's view from its local agent, or the reason there is none."""
    try:
        client = Client.from_config(config, timeout=PATRONI_TIMEOUT)
        return cluster_summary(client.cluster())
    except Exception:  # any failure reads as an agent that does not answer
        return {"error": "the Patroni agent does not answer"}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "cluster": {"type": "dict", "required": True},
            "packages": {"type": "list", "elements": "str", "default": []},
            "files": {"type": "list", "elements": "str", "default": []},
            "query": {"type": "bool", "default": True},
            "publish": {"type": "bool", "default": True},
            "host_facts": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    cluster = module.params["cluster"]
    missing = missing_keys(cluster)
    if missing:
        module.fail_json(
            msg="cluster: missing " + ", ".join(missing) + "; expected postgresql_cluster"
        )
    packages = module.params["packages"]
    installed: set[str] = set()
    if packages:
        _, out, _ = module.run_command(
            ["dpkg-query", "-W", "-f=${Package} ${Status}\\n", *packages],
            environ_update={"LC_ALL": "C"},
        )
        installed = installed_packages(out)
    unit_names = [cluster["service"], cluster["patroni_service"]]
    _, out, _ = module.run_command(["systemctl", "is-active", *unit_names])
    units = active_units(unit_names, out)
    server = patroni = None
    if module.params["query"]:
        if units[cluster["patroni_service"]]:
            patroni = patroni_view(cluster["patroni_config"])
        if any(units.values()):
            session = Session(cluster["port"], timeout=SESSION_TIMEOUT)
            result = session.run(QUERY, check=False)
            server = server_answer(result.value) if result.ok else None
    node = node_facts(
        cluster,
        packages,
        module.params["files"],
        installed=installed,
        units=units,
        server=server,
        patroni=patroni,
        watchdog=is_char_device("/dev/watchdog"),
    )
    facts: dict[str, Any] = {"postgresql_node": node} if module.params["publish"] else {}
    if module.params["host_facts"]:
        facts.update(
            host_facts(
                read_text("/proc/meminfo"),
                os.cpu_count(),
                cluster["data_dir"],
                os.path.ismount,
                os.statvfs,
            )
        )
    module.exit_json(changed=False, node=node, ansible_facts=facts)


if __name__ == "__main__":
    main()
