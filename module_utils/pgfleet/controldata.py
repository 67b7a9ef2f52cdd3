"""pg_controldata's output, parsed once.

Run pg_controldata with LC_ALL=C: the field names are translated in other locales.
"""

from __future__ import annotations

from typing import Any

from . import lsn as _lsn

# The fields other code reads, by the name this module gives them.
FIELDS = {
    "Database system identifier": "system_identifier",
    "Database cluster state": "state",
    "Latest checkpoint's TimeLineID": "timeline",
    "Latest checkpoint location": "checkpoint_lsn",
    "Latest checkpoint's REDO location": "redo_lsn",
    "Minimum recovery ending location": "min_recovery_lsn",
    "Min recovery ending loc's timeline": "min_recovery_timeline",
    "wal_log_hints setting": "wal_log_hints",
    "Data page checksum version": "checksum_version",
    "Bytes per WAL segment": "wal_segment_size",
    "pg_control last modified": "last_modified",
}
_INTS = {"timeline", "min_recovery_timeline", "checksum_version", "wal_segment_size"}
_LSNS = {"checkpoint_lsn", "redo_lsn", "min_recovery_lsn"}

# Cluster states after which the data directory was not shut down cleanly.
UNCLEAN = {"in production", "in archive recovery", "in crash recovery", "shutting down"}


def parse(text: str) -> dict[str, Any]:
    """The known fields of pg_controldata's output; a field that is missing is None.

    Integers are ints, WAL positions stay 'X/Y' text (``lsn.lsn_int`` turns them into
    numbers), ``wal_log_hints`` is a bool, ``data_checksums`` says whether checksums are on,
    and ``clean_shutdown`` says whether the state is a clean shutdown (primary or standby).
    """
    raw: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            raw[key.strip()] = value.strip()
    out: dict[str, Any] = {name: None for name in FIELDS.values()}
    for field, name in FIELDS.items():
        value = raw.get(field)
        if not value:
            continue
        if name in _INTS:
            out[name] = int(value) if value.isdigit() else None
        elif name in _LSNS:
            out[name] = value if _lsn.is_lsn(value) else None
        elif name == "wal_log_hints":
            out[name] = value == "on"
        else:
            out[name] = value
    checksum = out["checksum_version"]
    out["data_checksums"] = None if checksum is None else checksum > 0
    state = out["state"]
    out["clean_shutdown"] = None if state is None else state.startswith("shut down")
    return out
