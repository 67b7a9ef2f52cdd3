"""Which rendered files differ from what a host has, from one probe of that host.

Roles probe a host once (sha1, owner, group and mode of each file they render) and render
the templates on the controller; only the files listed here are then written. A converged
host therefore costs one round trip instead of one module run per file.
"""

from __future__ import annotations

import hashlib
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


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def sha1_manifest(contents: Mapping[str, str]) -> str:
    """The names and sums of a directory's files in sha1sum's format ('<sha1>  <name>').

    Installed beside the files, it changes whenever a file is added, removed or edited,
    so the probe of that one file tells whether the host's copy of the set is current;
    `sha1sum -c` in the directory checks the files against it.
    """
    return "".join(f"{_sha1(contents[name])}  {name}\n" for name in sorted(contents))


def stale_tree(
    contents: Mapping[str, str],
    directory: str,
    probed: Mapping[str, str],
    owner: str = "root",
    group: str | None = None,
    mode: str = "0644",
) -> list[str]:
    """The names of contents (file name -> text) whose file in directory the probe
    reported in another state than the one written, or not at all; sorted."""
    if not isinstance(contents, Mapping):
        raise AnsibleFilterError("stale_tree: the contents must map file names to text")
    if not isinstance(probed, Mapping):
        raise AnsibleFilterError("stale_tree: the probe result must be a mapping of paths")
    files = [
        {
            "dest": f"{directory.rstrip('/')}/{name}",
            "owner": owner,
            "group": group or owner,
            "mode": mode,
        }
        for name in sorted(contents)
    ]
    sha1s = [_sha1(contents[name]) for name in sorted(contents)]
    return [entry["dest"].rsplit("/", 1)[1] for entry in stale_files(files, probed, sha1s)]


def missing_packages(packages: Sequence[str], probed: Mapping[str, Any]) -> list[str]:
    """The packages of packages the probe did not report installed (name -> installed), in
    their order; a package the probe was not asked about counts as missing."""
    if not isinstance(probed, Mapping):
        raise AnsibleFilterError(
            "missing_packages: the probe result must map packages to installed"
        )
    return [name for name in packages if not probed.get(name)]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "stale_files": stale_files,
            "stale_tree": stale_tree,
            "sha1_manifest": sha1_manifest,
            "missing_packages": missing_packages,
        }
