"""library/pg_node_facts.py: the one probe of a host, decided without a host."""

import hashlib
import json
import os

import pytest
from conftest import load_module

CLUSTER = {
    "port": 5433,
    "data_dir": "/var/lib/postgresql/17/learning",
    "conf_dir": "/etc/postgresql/17/learning",
    "dropin_dir": "/etc/postgresql/17/learning/conf.d",
    "tls_dir": "/etc/postgresql/17/learning/tls",
    "service": "postgresql@17-learning",
    "patroni_service": "patroni@17-learning",
    "patroni_config": "/etc/patroni/17-learning.yml",
    "record_file": "/etc/pgfleet/17-learning/topology.json",
    "legacy_record_file": "/etc/postgresql/17/learning/topology.json",
    "fence_file": "/etc/pgfleet/17-learning/fenced",
    "legacy_fence_file": "/etc/postgresql/17/learning/fenced",
}

SERVER = {
    "running": True,
    "data": True,
    "in_recovery": False,
    "system_identifier": "7444011816716828746",
    "timeline": 1,
    "lsn": "0/3000060",
    "upstream": None,
    "receiver": None,
    "synchronous": False,
    "data_checksums": "on",
}


@pytest.fixture(scope="module")
def mod():
    return load_module("pg_node_facts")


class FakeHost:
    """Files by path: text content, or None for a directory."""

    def __init__(self, files):
        self.files = files

    def exists(self, path):
        return path in self.files

    def isdir(self, path):
        return path in self.files and self.files[path] is None

    def text(self, path):
        value = self.files.get(path)
        return value if isinstance(value, str) else ""

    def state(self, path):
        if path not in self.files:
            return "-"
        if self.files[path] is None:
            return "root:root:755"
        return hashlib.sha1(self.files[path].encode()).hexdigest() + " postgres:postgres:640"


def facts(mod, host, **kwargs):
    args = {
        "installed": set(),
        "units": {},
        "server": None,
        "patroni": None,
        "record": {
            "record": None,
            "record_owner": None,
            "record_legacy": False,
            "record_stray": None,
        },
    }
    args.update(kwargs)
    return mod.node_facts(
        CLUSTER,
        kwargs.pop("packages", []),
        kwargs.pop("files", []),
        state=host.state,
        text=host.text,
        exists=host.exists,
        isdir=host.isdir,
        **{k: v for k, v in args.items() if k not in ("packages", "files")},
    )


def converged_host():
    c = CLUSTER
    return FakeHost(
        {
            c["data_dir"] + "/PG_VERSION": "17\n",
            c["conf_dir"] + "/postgresql.conf": "port = 5433\ninclude_dir = 'conf.d'\n",
            c["dropin_dir"]: None,
            c["tls_dir"]: None,
            c["tls_dir"] + "/server.key": "KEY",
            c["tls_dir"] + "/server.crt": "CERT",
            c["tls_dir"] + "/ca.crt": "CA",
            c["dropin_dir"] + "/90-ansible.conf": "work_mem = '4MB'\n",
        }
    )


def test_dpkg_output_names_the_installed_packages(mod):
    out = (
        "postgresql-17 install ok installed\n"
        "pgbackrest deinstall ok config-files\n"
        "cron install ok installed\n"
    )
    assert mod.installed_packages(out) == {"postgresql-17", "cron"}


def test_systemctl_states_in_the_order_of_the_units(mod):
    assert mod.active_units(["a", "b"], "active\ninactive\n") == {"a": True, "b": False}
    assert mod.active_units(["a", "b"], "failed\n") == {"a": False, "b": False}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("include_dir = 'conf.d'\n", True),
        ("#include_dir = 'conf.d'\n", False),
        ("include_dir = 'conf.d' # x\n", False),
        ("", False),
    ],
)
def test_include_dir_line(mod, text, expected):
    assert mod.has_include_dir(text) is expected


def test_a_converged_running_primary(mod):
    host = converged_host()
    dropin = CLUSTER["dropin_dir"] + "/90-ansible.conf"
    node = facts(
        mod,
        host,
        packages=["postgresql-17", "pgbackrest", "postgresql-17"],
        files=[dropin, "/etc/pgbackrest/pgbackrest.conf", CLUSTER["dropin_dir"]],
        installed={"postgresql-17"},
        units={CLUSTER["service"]: True, CLUSTER["patroni_service"]: False},
        server=SERVER,
    )
    assert node["packages"] == {"postgresql-17": True, "pgbackrest": False}
    assert node["missing_packages"] == ["pgbackrest"]
    assert node["cluster"] is True
    assert node["registered"] is True
    assert node["main_conf"] == CLUSTER["conf_dir"] + "/postgresql.conf"
    assert node["include_dir"] is True
    assert node["files"] == {
        dropin: hashlib.sha1(b"work_mem = '4MB'\n").hexdigest() + " postgres:postgres:640",
        "/etc/pgbackrest/pgbackrest.conf": "-",
        CLUSTER["dropin_dir"]: "root:root:755",
    }
    assert node["tls_cert"] == "CERT"
    assert node["tls_ca"] == "CA"
    assert node["active"] is True
    assert node["service_active"] is True
    assert node["patroni_active"] is False
    assert node["data_checksums"] == "on"
    assert node["patroni"] is None
    topology = node["topology"]
    assert topology["running"] is True
    assert topology["timeline"] == 1
    assert topology["fence_marker"] is False
    assert "data_checksums" not in topology
    assert "patroni" not in topology


def test_a_new_host_has_nothing(mod):
    node = facts(mod, FakeHost({}), packages=["postgresql-17"], files=["/x"])
    assert node["missing_packages"] == ["postgresql-17"]
    assert node["cluster"] is False
    assert node["registered"] is False
    assert node["include_dir"] is False
    assert node["files"] == {"/x": "-"}
    assert node["tls_dir"] == "-"
    assert node["active"] is False
    assert node["data_checksums"] is None
    assert node["topology"] == {
        "running": False,
        "data": False,
        "record": None,
        "record_owner": None,
        "record_legacy": False,
        "record_stray": None,
        "fence_marker": False,
    }


def test_an_empty_pg_version_is_no_cluster(mod):
    host = FakeHost({CLUSTER["data_dir"] + "/PG_VERSION": ""})
    assert facts(mod, host)["cluster"] is False


def test_the_tls_certificate_counts_only_with_its_key(mod):
    host = converged_host()
    del host.files[CLUSTER["tls_dir"] + "/server.key"]
    assert facts(mod, host)["tls_cert"] == ""


def test_under_patroni_the_base_conf_is_the_main_one(mod):
    host = converged_host()
    base = CLUSTER["conf_dir"] + "/postgresql.base.conf"
    host.files[base] = "include_dir = 'conf.d'\n"
    node = facts(mod, host, units={CLUSTER["patroni_service"]: True}, patroni={"leader": "pg1"})
    assert node["main_conf"] == base
    assert node["include_dir"] is True
    assert node["active"] is True
    assert node["patroni"] == {"leader": "pg1"}
    # A running Patroni whose server did not answer: down, with Patroni's view.
    assert node["topology"]["patroni"] == {"leader": "pg1"}
    assert node["topology"]["running"] is False


def test_a_fence_marker_at_either_place(mod):
    for marker in (CLUSTER["fence_file"], CLUSTER["legacy_fence_file"]):
        host = FakeHost({marker: ""})
        assert facts(mod, host)["topology"]["fence_marker"] is True


def test_a_stopped_server_that_has_data(mod):
    host = converged_host()
    topology = facts(mod, host, units={CLUSTER["service"]: False})["topology"]
    assert topology["running"] is False
    assert topology["data"] is True


@pytest.mark.parametrize(
    "text, expected",
    [
        (json.dumps(SERVER), SERVER),
        ("", None),
        ("not json", None),
        ("[1]", None),
    ],
)
def test_the_server_answer(mod, text, expected):
    assert mod.server_answer(text) == expected


def test_the_record_at_its_place(mod):
    host = FakeHost({"/etc/pgfleet/17-learning": None, CLUSTER["record_file"]: "{}"})
    out = mod.record_probe(
        CLUSTER["record_file"],
        CLUSTER["legacy_record_file"],
        exists=host.exists,
        isdir=host.isdir,
        state=lambda p: "root:root:644" if p.endswith(".json") else "root:root:755",
        load=lambda p: {"primary": "pg1", "path": p},
    )
    assert out == {
        "record": {"primary": "pg1", "path": CLUSTER["record_file"]},
        "record_owner": "root:root:644 root:root:755",
        "record_legacy": False,
        "record_stray": None,
    }


def test_the_record_at_the_old_place_before_the_directory_exists(mod):
    host = FakeHost({CLUSTER["legacy_record_file"]: "{}"})
    out = mod.record_probe(
        CLUSTER["record_file"],
        CLUSTER["legacy_record_file"],
        exists=host.exists,
        isdir=host.isdir,
        state=lambda p: "postgres:postgres:644",
        load=lambda p: {"path": p},
    )
    assert out["record_legacy"] is True
    assert out["record"] == {"path": CLUSTER["legacy_record_file"]}
    assert out["record_stray"] is None
    assert out["record_owner"] == "postgres:postgres:644 postgres:postgres:644"


def test_a_record_left_at_the_old_place_is_only_named(mod):
    host = FakeHost({"/etc/pgfleet/17-learning": None, CLUSTER["legacy_record_file"]: "{}"})

    def load(path):
        raise FileNotFoundError(path)

    out = mod.record_probe(
        CLUSTER["record_file"],
        CLUSTER["legacy_record_file"],
        exists=host.exists,
        isdir=host.isdir,
        state=lambda p: "postgres:postgres:644",
        load=load,
    )
    assert out == {
        "record": None,
        "record_owner": None,
        "record_legacy": False,
        "record_stray": "postgres:postgres:644",
    }


def test_an_unreadable_record_is_none(mod, tmp_path):
    record = tmp_path / "topology.json"
    record.write_text("{not json")
    out = mod.record_probe(str(record), str(tmp_path / "old.json"))
    assert out["record"] is None
    assert out["record_owner"] is not None


def test_path_state_of_a_real_file_directory_and_absence(mod, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    path.chmod(0o640)
    state = mod.path_state(str(path))
    digest, who = state.split(" ")
    assert digest == hashlib.sha1(b"abc").hexdigest()
    assert who.endswith(":640")
    assert mod.path_state(str(tmp_path)).count(":") == 2
    assert mod.path_state(str(tmp_path / "missing")) == "-"
    assert mod.path_state(str(path / "below-a-file")) == "-"


def test_missing_cluster_keys_are_named(mod):
    assert mod.missing_keys(CLUSTER) == []
    partial = {k: v for k, v in CLUSTER.items() if k != "tls_dir"} | {"port": ""}
    assert mod.missing_keys(partial) == ["port", "tls_dir"]


def test_the_query_is_one_json_object_with_the_topology_keys(mod):
    for key in ("in_recovery", "system_identifier", "timeline", "receiver", "data_checksums"):
        assert f"'{key}'" in mod.QUERY
    assert mod.QUERY.lstrip().startswith("SELECT json_build_object(")


def test_no_char_device_is_no_watchdog(mod, tmp_path):
    assert mod.is_char_device(str(tmp_path)) is False
    assert mod.is_char_device(str(tmp_path / "nothing")) is False
    if os.path.exists("/dev/null"):
        assert mod.is_char_device("/dev/null") is True


MEMINFO = "MemTotal:       24576000 kB\nMemFree:        1000 kB\n"


def test_memtotal_in_mib_as_setup_reports_it(mod):
    assert mod.memtotal_mb(MEMINFO) == 24000
    assert mod.memtotal_mb("MemFree: 1 kB\n") is None
    assert mod.memtotal_mb("") is None


def test_mount_candidates_are_root_and_each_parent(mod):
    assert mod.mount_candidates("/var/lib/postgresql/17/main") == [
        "/",
        "/var",
        "/var/lib",
        "/var/lib/postgresql",
        "/var/lib/postgresql/17",
        "/var/lib/postgresql/17/main",
    ]


class _Vfs:
    def __init__(self, blocks, avail):
        self.f_frsize, self.f_blocks, self.f_bavail = 4096, blocks, avail


def test_host_facts_names_and_mounts_on_the_data_path(mod):
    mounted = {"/", "/var/lib/postgresql"}

    def statvfs(path):
        if path == "/var/lib/postgresql":
            return _Vfs(1000, 250)
        if path == "/":
            return _Vfs(10, 5)
        raise AssertionError(f"statvfs of {path}, which is not a mount point")

    facts = mod.host_facts(
        MEMINFO, 4, "/var/lib/postgresql/17/main", lambda p: p in mounted, statvfs
    )
    assert facts == {
        "memtotal_mb": 24000,
        "processor_vcpus": 4,
        "mounts": [
            {"mount": "/", "size_total": 40960, "size_available": 20480},
            {"mount": "/var/lib/postgresql", "size_total": 4096000, "size_available": 1024000},
        ],
    }


def test_host_facts_unknown_cpus_count_one_and_unreadable_mounts_are_left_out(mod):
    def statvfs(path):
        raise OSError("gone")

    facts = mod.host_facts(MEMINFO, None, "/data", lambda p: True, statvfs)
    assert facts["processor_vcpus"] == 1
    assert facts["mounts"] == []


def test_host_facts_of_this_machine_match_the_setup_module_names(mod):
    with open("/proc/meminfo") as fh:
        facts = mod.host_facts(fh.read(), os.cpu_count(), "/tmp", os.path.ismount, os.statvfs)
    assert facts["memtotal_mb"] > 0
    assert facts["mounts"][0]["mount"] == "/"
    assert facts["mounts"][0]["size_total"] > 0
