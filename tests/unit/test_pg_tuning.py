import re

import pytest
from ansible.errors import AnsibleFilterError

import pg_tuning
from pg_tuning import pg_tuning as tune


def _expected(**overrides):
    """Settings for a 16 GB / 8 CPU SSD host with 100 connections, with overrides."""
    base = {
        "max_connections": 100,
        "shared_buffers": "4096MB",
        "effective_cache_size": "12288MB",
        "maintenance_work_mem": "1024MB",
        "work_mem": "41943kB",
        "min_wal_size": "1GB",
        "max_wal_size": "4GB",
        "checkpoint_completion_target": 0.9,
        "random_page_cost": 1.1,
        "effective_io_concurrency": 200,
        "max_worker_processes": 8,
        "max_parallel_workers": 8,
        "max_parallel_workers_per_gather": 4,
        "max_parallel_maintenance_workers": 4,
        "huge_pages": "try",
    }
    base.update(overrides)
    return base


HOST_SHAPES = [
    pytest.param(
        (256, 1),
        _expected(
            shared_buffers="128MB",  # 25% would be 64MB; floor is 128MB
            effective_cache_size="192MB",
            maintenance_work_mem="64MB",  # RAM/16 = 16MB; floor is 64MB
            work_mem="4096kB",  # (256-128)*1024/300 = 436kB; floor is 4096kB
            min_wal_size="512MB",
            max_wal_size="2GB",
            max_parallel_workers=1,
            max_parallel_workers_per_gather=1,
            max_parallel_maintenance_workers=1,
        ),
        id="256MB-1cpu-minimum",
    ),
    pytest.param(
        (1024, 1),
        _expected(
            shared_buffers="256MB",
            effective_cache_size="768MB",
            maintenance_work_mem="64MB",
            work_mem="4096kB",  # (1024-256)*1024/300 = 2621kB; floor is 4096kB
            min_wal_size="512MB",
            max_wal_size="2GB",
            max_parallel_workers=1,
            max_parallel_workers_per_gather=1,
            max_parallel_maintenance_workers=1,
        ),
        id="1GB-1cpu",
    ),
    pytest.param(
        (2047, 2),
        _expected(
            shared_buffers="511MB",
            effective_cache_size="1535MB",
            maintenance_work_mem="127MB",
            work_mem="5242kB",  # (2047-511)*1024/300 = 5242.88, rounded down
            min_wal_size="512MB",
            max_wal_size="2GB",
            max_parallel_workers=2,
            max_parallel_workers_per_gather=1,
            max_parallel_maintenance_workers=1,
        ),
        id="2047MB-2cpu-last-small-host",
    ),
    pytest.param(
        (4096, 2),
        _expected(
            shared_buffers="1024MB",
            effective_cache_size="3072MB",
            maintenance_work_mem="256MB",
            work_mem="10485kB",  # 3072*1024/300 = 10485.76
            max_parallel_workers=2,
            max_parallel_workers_per_gather=1,
            max_parallel_maintenance_workers=1,
        ),
        id="4GB-2cpu",
    ),
    pytest.param((16384, 8), _expected(), id="16GB-8cpu"),
    pytest.param(
        (65536, 16),
        _expected(
            shared_buffers="16384MB",
            effective_cache_size="49152MB",
            maintenance_work_mem="2048MB",  # RAM/16 = 4096MB; cap is 2048MB
            work_mem="167772kB",  # 49152*1024/300 = 167772.16
            max_worker_processes=16,
            max_parallel_workers=16,
        ),
        id="64GB-16cpu",
    ),
    pytest.param(
        (262144, 64),
        _expected(
            shared_buffers="32768MB",  # 25% would be 65536MB; cap is 32GB
            effective_cache_size="196608MB",
            maintenance_work_mem="2048MB",
            work_mem="782936kB",  # (262144-32768)*1024/300 = 782936.75
            max_worker_processes=64,
            max_parallel_workers=64,
        ),
        id="256GB-64cpu-caps",
    ),
]


@pytest.mark.parametrize(("host", "expected"), HOST_SHAPES)
def test_pg_tuning_host_shapes(host, expected):
    memtotal_mb, cpus = host
    assert tune(memtotal_mb, cpus) == expected


# 2047MB is the largest "small host"; 2048MB switches to the larger WAL sizes.
def test_pg_tuning_wal_sizes_switch_at_2GB():
    small = tune(2047, 2)
    large = tune(2048, 2)
    assert (small["min_wal_size"], small["max_wal_size"]) == ("512MB", "2GB")
    assert (large["min_wal_size"], large["max_wal_size"]) == ("1GB", "4GB")


def test_pg_tuning_rounds_down():
    result = tune(5001, 4)
    assert result["shared_buffers"] == "1250MB"  # 1250.25
    assert result["effective_cache_size"] == "3750MB"  # 3750.75
    assert result["maintenance_work_mem"] == "312MB"  # 312.5625
    assert result["work_mem"] == "12803kB"  # (5001 - 1250) * 1024 / 300 = 12803.41


@pytest.mark.parametrize(
    ("storage", "random_page_cost", "effective_io_concurrency"),
    [("ssd", 1.1, 200), ("hdd", 4.0, 2), ("network", 1.1, 100)],
)
def test_pg_tuning_storage(storage, random_page_cost, effective_io_concurrency):
    result = tune(16384, 8, storage=storage)
    assert result == _expected(
        random_page_cost=random_page_cost, effective_io_concurrency=effective_io_concurrency
    )


@pytest.mark.parametrize(
    ("max_connections", "work_mem"),
    [
        (10, "419430kB"),  # 12288*1024/30 = 419430.4
        (100, "41943kB"),
        (500, "8388kB"),  # 12288*1024/1500 = 8388.608
        (1000, "4194kB"),  # 12288*1024/3000 = 4194.304
        (2000, "4096kB"),  # 2097.152 -> floor 4096kB
        (10000, "4096kB"),
    ],
)
def test_pg_tuning_max_connections_drive_work_mem(max_connections, work_mem):
    assert tune(16384, 8, max_connections=max_connections) == _expected(
        max_connections=max_connections, work_mem=work_mem
    )


def test_pg_tuning_work_mem_capped_at_postgresql_maximum():
    # (4194304 - 32768) * 1024 / 30 = 142044501kB, above PostgreSQL's limit of 2097151kB
    assert tune(4_194_304, 128, max_connections=10)["work_mem"] == "2097151kB"


@pytest.mark.parametrize(
    ("cpus", "workers", "per_task"),
    [(1, 8, 1), (2, 8, 1), (3, 8, 1), (4, 8, 2), (6, 8, 3), (8, 8, 4), (9, 9, 4), (96, 96, 4)],
)
def test_pg_tuning_parallelism(cpus, workers, per_task):
    result = tune(16384, cpus)
    assert result["max_worker_processes"] == workers
    assert result["max_parallel_workers"] == cpus
    assert result["max_parallel_workers_per_gather"] == per_task
    assert result["max_parallel_maintenance_workers"] == per_task


def test_pg_tuning_accepts_digit_strings():
    assert tune("16384", " 8 ", max_connections="100") == _expected()


def test_pg_tuning_is_deterministic_and_returns_fresh_dicts():
    first = tune(4096, 2)
    first["shared_buffers"] = "changed"
    assert tune(4096, 2)["shared_buffers"] == "1024MB"


def test_pg_tuning_has_no_wal_buffers():
    assert "wal_buffers" not in tune(65536, 16)


INVALID_INPUTS = [
    (
        {"memtotal_mb": 255},
        "memtotal_mb 255 is out of range; expected the host memory in megabytes, at least 256",
    ),
    (
        {"memtotal_mb": -1},
        "memtotal_mb -1 is out of range; expected the host memory in megabytes, at least 256",
    ),
    (
        {"memtotal_mb": 4096.0},
        "memtotal_mb 4096.0 is not a whole number; expected the host memory in megabytes, "
        "at least 256",
    ),
    (
        {"memtotal_mb": "4GB"},
        "memtotal_mb '4GB' is not a whole number; expected the host memory in megabytes, "
        "at least 256",
    ),
    (
        {"memtotal_mb": None},
        "memtotal_mb None is not a whole number; expected the host memory in megabytes, "
        "at least 256",
    ),
    (
        {"memtotal_mb": True},
        "memtotal_mb True is not a whole number; expected the host memory in megabytes, "
        "at least 256",
    ),
    ({"cpus": 0}, "cpus 0 is out of range; expected the number of CPUs, at least 1"),
    ({"cpus": "two"}, "cpus 'two' is not a whole number; expected the number of CPUs, at least 1"),
    ({"cpus": 1.5}, "cpus 1.5 is not a whole number; expected the number of CPUs, at least 1"),
    ({"cpus": True}, "cpus True is not a whole number; expected the number of CPUs, at least 1"),
    (
        {"storage": "SSD"},
        "storage 'SSD' is not a known storage type; expected one of ssd, hdd, network",
    ),
    (
        {"storage": "nvme"},
        "storage 'nvme' is not a known storage type; expected one of ssd, hdd, network",
    ),
    (
        {"storage": None},
        "storage None is not a known storage type; expected one of ssd, hdd, network",
    ),
    (
        {"max_connections": 9},
        "max_connections 9 is out of range; expected a whole number of connections, "
        "between 10 and 10000",
    ),
    (
        {"max_connections": 10001},
        "max_connections 10001 is out of range; expected a whole number of connections, "
        "between 10 and 10000",
    ),
    (
        {"max_connections": "many"},
        "max_connections 'many' is not a whole number; expected a whole number of connections, "
        "between 10 and 10000",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), INVALID_INPUTS)
def test_pg_tuning_invalid_inputs(overrides, message):
    kwargs = {"memtotal_mb": 16384, "cpus": 8, "storage": "ssd", "max_connections": 100}
    kwargs.update(overrides)
    full = f"postgresql_tuning: {message}"
    with pytest.raises(AnsibleFilterError, match=f"^{re.escape(full)}$"):
        tune(**kwargs)


def test_pg_tuning_custom_name():
    with pytest.raises(AnsibleFilterError, match=r"^my_tuning: cpus 0 is out of range"):
        tune(4096, 0, name="my_tuning")


def test_filter_module_exports():
    assert pg_tuning.FilterModule().filters() == {"pg_tuning": tune}
