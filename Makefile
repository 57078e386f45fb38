# `make test` installs everything the tests need, then runs them.
PY ?= python3

.PHONY: install apt pip test demo bench audit

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

test: install
	$(PY) -m pytest -q -p no:cacheprovider --durations=12

demo: pip
	appwatch demo

bench: pip
	$(PY) -m bench.run

audit: pip
	bash tests/fault/audit.sh
