# The two commands that set up everything on a fresh Debian machine:
#   make lab    local lab (Debian 13 hosts in podman + an S3 store standing in for R2) + site.yml
#   make test   lint, unit tests, input tests and the molecule scenarios
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
SCENARIOS ?= default restore failover patroni
INVENTORY ?= inventory/lab
# Python programs the roles install on hosts have no .py suffix: ruff is given them by name.
HOST_TOOLS := $(shell grep -l '^\#!/usr/bin/.*python' roles/*/files/* 2>/dev/null)

.PHONY: setup lab lab-up lab-demo lab-down converge lint unit inputs molecule test bench clean

setup:
	@scripts/setup.sh

lab: setup lab-up converge lab-demo

lab-up:
	ansible-playbook -i $(INVENTORY) lab/up.yml

converge:
	ansible-playbook -i $(INVENTORY) site.yml

lab-demo:
	ansible-playbook -i $(INVENTORY) lab/demo.yml

lab-down: setup
	ansible-playbook -i $(INVENTORY) lab/down.yml

lint: setup
	yamllint -s .
	ansible-lint --profile production
	ruff check . $(HOST_TOOLS)
	ruff format --check . $(HOST_TOOLS)

# Line coverage of the host tools and the shared package. The tools have no .py suffix:
# coverage measures them as the unit tests load them by path (conftest.load_script); a
# tool no test loads has no data, and `coverage report` fails on that as on a figure
# under 70 % for the restore tool.
COVERAGE := --cov=roles/postgresql_restore/files --cov=roles/postgresql_server/files \
	--cov=roles/patroni/files --cov=module_utils/pgfleet --cov-report=term
export COVERAGE_FILE := $(CURDIR)/.coverage

unit: setup
	pytest -q tests/unit $(COVERAGE)
	coverage report --include=roles/postgresql_restore/files/postgresql-restore --fail-under=70

# The two input suites run side by side (with the promotion hook's test after the requests).
inputs: setup
	@pytest -q tests/inputs/test_bad_inputs.py & bad=$$!; \
	pytest -q tests/inputs/test_ha_requests.py tests/inputs/test_promotion_hook.py; requests=$$?; \
	wait $$bad; rc=$$?; [ $$rc -eq 0 ] && [ $$requests -eq 0 ]

# Scenarios run in chains: restore on default's hosts; the chains that share no hosts run
# side by side (scripts/molecule-chains.sh says how).
molecule: setup
	@scripts/molecule-chains.sh $(SCENARIOS)

# lint, unit, inputs and the scenarios run side by side (each prints when it ends). It
# prints its wall time and how busy the cores were meanwhile (/proc/stat): the hosts are
# containers on this machine, so when the cores stay busy only less work shortens it.
CPU_TICKS := awk '/^cpu /{print $$2+$$3+$$4+$$7+$$8+$$9, $$5+$$6}' /proc/stat
test: setup
	@start=$$(date +%s); read busy0 idle0 < <($(CPU_TICKS)); \
	$(MAKE) --no-print-directory -j4 --output-sync=target lint unit inputs molecule; rc=$$?; \
	read busy1 idle1 < <($(CPU_TICKS)); \
	echo "make test: $$(( $$(date +%s) - start )) s wall time, exit $$rc;" \
	  "cores busy $$(( 100 * (busy1 - busy0) / (busy1 - busy0 + idle1 - idle0) )) % of the time"; exit $$rc

bench: setup  ## cold lab benchmark (removes the lab and its images first)
	python3 bench/lab.py --cold-image

clean: lab-down
	rm -rf .ansible
