"""pg_probe_json: a probe that prints something else stops with a message, not a traceback."""

import pytest
from ansible.errors import AnsibleFilterError

from pg_probe import pg_probe_json


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"active": true}', {"active": True}),
        ('warning: locale\n{"a": 1}\n', {"a": 1}),
    ],
)
def test_reads_the_last_json_line(text, expected):
    assert pg_probe_json(text) == expected


@pytest.mark.parametrize("text", ["", "bash: python3: command not found", "[1, 2]", '{"a": ', None])
def test_refuses_other_output(text):
    with pytest.raises(AnsibleFilterError, match="the server probe"):
        pg_probe_json(text, "the server probe")
