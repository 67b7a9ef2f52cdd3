#!/usr/bin/python3
"""Documentation of the pg_reach action (action_plugins/pg_reach.py runs it on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_reach
short_description: Whether a host's TCP port answers, tried from the controller
description:
  - Connects to O(host):O(port) from the controller until a connection succeeds or
    O(timeout) seconds have passed; a refused connection is tried again every 0.1 s.
  - >-
    An action plugin (action_plugins/pg_reach.py): no module runs, nothing is sent to the
    host. The on-call playbooks use it so that a lost host leaves the play at once.
options:
  host:
    description: The address to try.
    type: str
    required: true
  port:
    description: The TCP port.
    type: int
    default: 22
  timeout:
    description: Seconds before the host counts as not answering.
    type: float
    default: 1
author: pgfleet
"""

EXAMPLES = r"""
- name: SSH port of each host
  pg_reach:
    host: "{{ ansible_host }}"
    port: 22
    timeout: 1
  register: reach
  ignore_errors: true
"""

RETURN = r"""
reached:
  description: Whether the port answered in time (the task fails only on bad arguments).
  returned: always
  type: bool
elapsed:
  description: Seconds until the answer, or until it gave up.
  returned: always
  type: float
"""
