"""pgfleet: the code the controller, the modules and the host tools share.

One copy of each piece: WAL positions and file names, PostgreSQL units, quoting, SCRAM,
pg_controldata parsing, the true/false parser, the database session and the Patroni REST
client. Nothing here imports Ansible, so the same files run in three places:

- on the controller, from the filter plugins: ``from pgfleet import lsn`` (the project is
  installed in the virtualenv by requirements.txt, ``-e .``);
- on the hosts, inside modules: ``from ansible.module_utils.pgfleet import lsn``
  (ansible.cfg points ``module_utils`` here, and Ansible ships the files with the module);
- on the hosts, from the host tools: the roles copy this package into the system
  Python's site directory.

Modules inside the package import each other relatively (``from . import lsn``) so that
all three names work.
"""
