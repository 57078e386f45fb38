def pytest_configure(config):
    # Also to be registered in pyproject.toml's [tool.pytest.ini_options] markers.
    config.addinivalue_line("markers", "fast: no broker, no network; runs in seconds")
