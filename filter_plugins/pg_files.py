"""Which rendered files differ from what a host has, from one probe of that host.

Roles probe a host once (sha1, owner, group and mode of each file they render) and render
the templates on the controller; only the files listed here are then written. A converged
host therefore costs one round trip instead of one module run per file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError


def file_state(sha1: str, owner: str, group: str, mode: str | int) -> str:
    """The probe's notation: '<sha1> <owner>:<group>:<octal mode without leading zeros>'."""
    octal = int(mode, 8) if isinstance(mode, str) else int(mode)
    return f"{sha1} {owner}:{group}:{octal:o}"


def stale_files(
    files: Sequence[Mapping[str, Any]],
    probed: Mapping[str, str],
    sha1s: Sequence[str],
    name: str = "files",
) -> list[Mapping[str, Any]]:
    """The entries of files ({dest, owner, group?, mode}) whose probed state differs.

    sha1s are the sha1 sums of the rendered contents, in the order of files. A file the
    probe did not report, or reported as '-' (absent), is stale.
    """
    if len(files) != len(sha1s):
        raise AnsibleFilterError(f"{name}: {len(files)} files but {len(sha1s)} checksums")
    if not isinstance(probed, Mapping):
        raise AnsibleFilterError(f"{name}: the probe result must be a mapping of paths")
    stale = []
    for entry, sha1 in zip(files, sha1s, strict=True):
        try:
            want = file_state(
                sha1, entry["owner"], entry.get("group", entry["owner"]), entry["mode"]
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise AnsibleFilterError(f"{name}: bad file entry {entry!r} ({exc})") from exc
        if probed.get(entry["dest"]) != want:
            stale.append(entry)
    return stale


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"stale_files": stale_files}
