# stf: `make run` starts the console, `make test` runs the linter and the tests. Both set up
# first: a virtual environment in .venv with dependencies.txt installed (again
# only when dependencies.txt changes), and the external tools argus, ra and
# capinfos (installed with apt-get as root; otherwise the sudo command is shown).

PYTHON ?= python3
VENV := .venv
# Inside the venv, so that a new venv gets its packages again.
STAMP := $(VENV)/.dependencies.stamp
ARGS ?=

.DEFAULT_GOAL := setup
.PHONY: setup run test tools postgres

setup: $(STAMP) tools

run: setup
	./$(VENV)/bin/python stf.py $(ARGS)

test: setup
	./$(VENV)/bin/ruff check .
	./$(VENV)/bin/python -m pytest -q -n auto tests

tools:
	@bash scripts/install-tools.sh tools

# stf on RelStorage with PostgreSQL: RelStorage and psycopg2 in .venv
# (dependencies-postgres.txt, checked against the ZODB installed), and the
# PostgreSQL server from Debian's packages for the tests.
POSTGRES_STAMP := $(VENV)/.postgres.stamp
postgres: $(POSTGRES_STAMP)
	@bash scripts/install-tools.sh postgres

$(POSTGRES_STAMP): dependencies-postgres.txt $(STAMP)
	./$(VENV)/bin/python -m pip install --disable-pip-version-check -q -r dependencies-postgres.txt
	./$(VENV)/bin/python -m pip check
	./$(VENV)/bin/python -c "import relstorage.storage, psycopg2, ZODB"
	touch $@

# pip, not python, marks a usable venv: without ensurepip (Debian without
# python3-venv) `python -m venv` leaves a venv that has python but no pip.
$(VENV)/bin/pip:
	@PYTHON=$(PYTHON) bash scripts/install-tools.sh venv
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)

$(STAMP): dependencies.txt | $(VENV)/bin/pip
	./$(VENV)/bin/python -m pip install --disable-pip-version-check -q -r dependencies.txt
	touch $@
