"""pg_extension_advisories: the pgvector advisories apply below their fixed versions."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_advisories import pg_advisory_settings, pg_extension_advisories


@pytest.mark.parametrize(
    ("versions", "ids"),
    [
        ({"vector": "0.8.0"}, ["pgvector-959", "pgvector-hnsw-vacuum"]),  # Debian 13
        ({"vector": "0.7.4"}, ["pgvector-959", "pgvector-hnsw-vacuum"]),
        ({"vector": "0.8.1"}, ["pgvector-959", "pgvector-hnsw-vacuum"]),
        ({"vector": "0.8.2"}, ["pgvector-hnsw-vacuum"]),
        ({"vector": "0.8.3"}, []),
        ({"vector": "0.9"}, []),
        ({"vector": "1.0.0"}, []),
        ({"pgaudit": "17.1"}, []),
        ({}, []),
    ],
)
def test_advisories(versions, ids):
    assert [a["id"] for a in pg_extension_advisories(versions)] == ids


def test_advisory_carries_installed_version_and_mitigation():
    (first, _) = pg_extension_advisories({"vector": "0.8.0"})
    assert first["installed"] == "0.8.0"
    assert "max_parallel_maintenance_workers" in first["mitigation"]


@pytest.mark.parametrize(
    ("versions", "settings"),
    [
        ({"vector": "0.8.0"}, {"max_parallel_maintenance_workers": 0}),
        ({"vector": "0.8.2"}, {}),
        ({"vector": "0.8.3"}, {}),
    ],
)
def test_mitigation_settings(versions, settings):
    assert pg_advisory_settings(pg_extension_advisories(versions)) == settings


@pytest.mark.parametrize("versions", [["vector"], "vector=0.8.0", {"vector": "abc"}])
def test_invalid(versions):
    with pytest.raises(AnsibleFilterError, match="extension versions"):
        pg_extension_advisories(versions)
