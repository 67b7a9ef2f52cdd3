"""Load the project's Jinja filters and tests once, before Ansible forks its task workers.

Ansible reads and compiles every file of a legacy ``filter_plugins/`` directory the first
time a process resolves a filter or test by its short name, and it runs each task in a
freshly forked worker process. So every task that used any filter paid for loading all of
them again: on the three-node lab that was more than a third of the controller's CPU time
in a no-change run of site.yml. Resolving one name here, in the controller's main
process when the playbook starts, loads them once; the workers inherit them.
"""

from __future__ import annotations

from typing import Any

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.callback import CallbackBase
from ansible.template import Templar, trust_as_template

DOCUMENTATION = """
  name: plugin_cache
  type: aggregate
  short_description: Load the Jinja filters and tests once, before the task workers fork
  description:
    - When a playbook starts, resolves one filter and one test name in the controller's
      main process, which makes Ansible load every filter and test plugin file it finds
      by short name (this project's filter_plugins/ among them). The forked task workers
      inherit them instead of reading and compiling the files again for every task.
  requirements:
    - enable in ansible.cfg (callbacks_enabled)
"""


def warm() -> str:
    """Render one expression with a filter and a test of the project, which loads every
    filter and test plugin file once (and sets up the template engine the workers use)."""
    expression = trust_as_template("{{ 'main' | pg_slot_name }} {{ 'a' is match('a') }}")
    return Templar(loader=DataLoader()).template(expression)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "plugin_cache"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook: Any) -> None:
        warm()
