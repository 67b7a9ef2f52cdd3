"""The lab's teardown (lab/down.yml) on a real lab host: a container from the lab image with
systemd as PID 1 and a service whose stop leaves a mark on a directory of this machine.

The teardown must kill the hosts, never run their shutdown: a host that shuts down cleanly
(Patroni, PostgreSQL and etcd stopping in turn) ran into podman's 10 s stop timeout on a
loaded machine, and its removal then failed. It must also remove the network, and a second
run on a lab that is already gone must pass.

Needs podman and the lab image (lab/shared.yml builds it; make molecule runs this first).
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "CONTAINERS_CONF": str(ROOT / "lab" / "containers.conf"),
    "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
}
IMAGE = "localhost/pglab-host:latest"
NETWORK = "pglab-downtest"
PREFIX = "downtest-"
HOST = PREFIX + "pg1"

PROBE_UNIT = """[Unit]
Description=Leaves a mark when it is stopped

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/bin/touch /probe/stopped

[Install]
WantedBy=multi-user.target
"""


def podman(*args, check=True):
    return subprocess.run(["podman", *args], env=ENV, capture_output=True, text=True, check=check)


def exists(kind, name):
    return podman(kind, "exists", name, check=False).returncode == 0


@pytest.fixture(scope="module", autouse=True)
def lab_image():
    """Never skipped: without podman or the image the suite fails, saying what is missing."""
    assert shutil.which("podman"), "podman is not installed (make setup installs it)"
    assert exists("image", IMAGE), f"no {IMAGE}: run lab/shared.yml first (make molecule does)"


def run_down(inventory):
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(ROOT / "lab" / "down.yml")],
        env=ENV,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


@pytest.fixture
def lab(tmp_path, request):
    """One lab host on a network of its own, its probe service started; removed afterwards
    whatever the test did. The host is in the `postgresql` group, or in the group the test
    names (`etcd`: a witness host with no PostgreSQL)."""
    group = getattr(request, "param", "postgresql")
    probe = tmp_path / "probe"
    probe.mkdir()
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "vars": {
                        "lab_network": NETWORK,
                        "lab_container_prefix": PREFIX,
                    },
                    "children": {group: {"hosts": {"pg1": {"ansible_host": "10.89.79.11"}}}},
                }
            }
        )
    )
    podman("rm", "--force", "--time", "0", HOST, check=False)
    podman("network", "rm", "--force", NETWORK, check=False)
    podman("network", "create", "--subnet", "10.89.79.0/24", NETWORK)
    podman(
        "run", "--detach", "--name", HOST, "--systemd", "always",
        "--network", NETWORK, "--ip", "10.89.79.11",
        "--volume", f"{probe}:/probe", IMAGE, "/sbin/init",
    )  # fmt: skip
    # systemd takes a moment before it accepts units.
    for _ in range(60):
        state = podman("exec", HOST, "systemctl", "is-system-running", check=False)
        if state.stdout.strip() in ("running", "degraded"):
            break
        time.sleep(0.5)
    unit = f"cat > /etc/systemd/system/probe.service <<'EOF'\n{PROBE_UNIT}EOF"
    podman("exec", HOST, "sh", "-c", unit)
    podman("exec", HOST, "systemctl", "daemon-reload")
    podman("exec", HOST, "systemctl", "start", "probe.service")
    yield inventory, probe
    podman("rm", "--force", "--time", "0", HOST, check=False)
    podman("network", "rm", "--force", NETWORK, check=False)


def test_the_probe_marks_a_clean_stop(lab):
    """The probe itself: stopping its service inside the host leaves the mark, so its
    absence below means the host's shutdown never ran."""
    _, probe = lab
    podman("exec", HOST, "systemctl", "stop", "probe.service")
    assert (probe / "stopped").exists()


@pytest.mark.parametrize("lab", ["postgresql", "etcd"], indirect=True)
def test_teardown_kills_the_hosts_and_removes_the_network(lab):
    inventory, probe = lab
    result = run_down(inventory)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not exists("container", HOST)
    assert not exists("network", NETWORK)
    assert not (probe / "stopped").exists(), "the teardown ran the host's own shutdown"


def test_teardown_of_a_lab_already_gone_passes(lab):
    inventory, _ = lab
    assert run_down(inventory).returncode == 0
    second = run_down(inventory)
    assert second.returncode == 0, second.stdout + second.stderr
