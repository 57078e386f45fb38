# `make test` installs everything the tests need, then runs them.
PY ?= python3

.PHONY: install apt pip lint test demo bench audit eval

install: apt pip

pip:
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'

# Debian packages the tests use: Chromium (and CJK fonts) to screenshot the backtest report,
# Alertmanager to receive pushed alerts.
APT_PACKAGES = chromium fonts-noto-cjk prometheus-alertmanager prometheus
apt:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi

# ruff (rules pinned in pyproject.toml), the formatting, and the import-linter contract:
# core/ below the three stages, which import none of each other, appwatch/ on top
lint: pip
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -c 'import sys; from importlinter.cli import lint_imports_command as lint; sys.argv[1:] = ["--no-cache"]; lint()'

test: install lint
	$(PY) -m pytest -q -p no:cacheprovider --durations=12

demo: pip
	appwatch demo

bench: pip
	$(PY) -m bench.run

# the news stage on its labelled test set: P/R per type and language, confusion, cost
eval: pip
	$(PY) -m bench.news_eval

audit: pip
	bash tests/fault/audit.sh
