"""What the user sees from commands that use kafka-python: their own output, not the
library's deprecation warnings or its log lines about settings appwatch chose."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("args", [["alerts", "list"], ["silence", "list"], ["silence", "expire", "nope"]])
def test_no_library_warnings_reach_the_user(broker, topics, args):
    env = {
        **os.environ,
        "APPWATCH_BROKER": f"kafka://{broker}",
        "APPWATCH_TOPIC_PREFIX": topics.prefix,
        "PYTHONWARNINGS": "default",
    }  # show every warning Python would show
    r = subprocess.run([sys.executable, "-m", "appwatch", *args], capture_output=True, env=env, timeout=60)
    stderr = r.stderr.decode()
    assert r.returncode in (0, 1), stderr
    assert "Warning" not in stderr and "kafka." not in stderr, stderr
