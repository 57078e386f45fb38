# `make test` installs everything the tests need, then runs them.
PY ?= python3

.PHONY: install test demo

install:
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'

test: install
	$(PY) -m pytest -q -p no:cacheprovider

demo: install
	appwatch demo
