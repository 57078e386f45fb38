"""The import checkpoint: it moves only past lines the broker acknowledged."""

import orjson
import pytest

from connectors import catalog, file_import


class Future:
    def __init__(self, error: Exception | None = None) -> None:
        self.exception = error

    def failed(self) -> bool:
        return self.exception is not None


class Publisher:
    """Takes the first ``good`` records; the broker refuses the rest (their futures fail)."""

    def __init__(self, good: int) -> None:
        self.good, self.sent = good, []

    def send(self, ev):
        self.sent.append(ev)
        return Future(None if len(self.sent) <= self.good else RuntimeError("NOT_ENOUGH_REPLICAS"))

    def flush(self) -> None:
        pass


def lines(tmp_path, n: int, bad: set[int] = frozenset()):
    path = tmp_path / "in.jsonl"
    rows = [
        dict(
            event_id=f"e{i}",
            type="app.metric",
            source="t",
            ts="2024-11-14T00:00:00+08:00",
            app_id="doubao",
            platform="all",
            country="cn",
            metric="downloads",
            value=-1 if i in bad else i,
            period="day",
        )
        for i in range(1, n + 1)
    ]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def run(path, pub, tmp_path):
    ckpt = file_import.Checkpoint(tmp_path / "state", path)
    return ckpt, file_import.run(path, pub, file_import.Mapping(), catalog.shipped(), ckpt)


def test_a_refused_record_stops_the_import_and_the_checkpoint_does_not_move(tmp_path):
    path = lines(tmp_path, 10)
    with pytest.raises(file_import.PublishError, match="NOT_ENOUGH_REPLICAS"):
        run(path, Publisher(good=7), tmp_path)
    assert file_import.Checkpoint(tmp_path / "state", path).load() == 0


def test_the_checkpoint_stops_before_the_first_invalid_line(tmp_path):
    path = lines(tmp_path, 6, bad={4})
    ckpt, summary = run(path, Publisher(good=100), tmp_path)
    assert [n for n, *_ in summary.invalid] == [4] and summary.published == 5
    assert ckpt.load() == summary.checkpoint == 3
    _, again = run(path, Publisher(good=100), tmp_path)  # starts at line 4 again
    assert again.skipped == 3 and again.published == 2 and [n for n, *_ in again.invalid] == [4]


def test_a_clean_import_checkpoints_its_last_line(tmp_path):
    path = lines(tmp_path, 6)
    ckpt, summary = run(path, Publisher(good=100), tmp_path)
    assert summary.published == 6 and ckpt.load() == summary.checkpoint == 6


# ------------------------------------------------------------------ run_parallel's shards


def _answer(conn, answer) -> None:
    """A shard process that sends ``answer`` (or dies with exit code 3 when it is None)."""
    import os

    if answer is None:
        os._exit(3)
    conn.send(answer)
    conn.close()


def _shards(answers: list):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs, conns = [], []
    for answer in answers:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_answer, args=(send, answer), daemon=True)
        proc.start()
        send.close()
        procs.append(proc)
        conns.append(recv)
    return procs, conns


def test_the_shards_summaries_come_back_in_shard_order():
    procs, conns = _shards([("ok", file_import.Summary(published=n)) for n in (5, 7, 9)])
    ticks = []
    parts = file_import._collect(procs, conns, lambda: ticks.append(1))
    assert [p.published for p in parts] == [5, 7, 9] and ticks
    for proc in procs:
        proc.join(10)


def test_a_shards_error_is_raised_in_the_parent():
    procs, conns = _shards(
        [("ok", file_import.Summary()), ("error", file_import.PublishError("the broker did not take a record"))]
    )
    with pytest.raises(file_import.PublishError, match="the broker did not take a record"):
        file_import._collect(procs, conns, lambda: None)
    for proc in procs:
        proc.join(10)


def test_a_shard_that_dies_without_answering_is_an_error_naming_its_exit_code():
    procs, conns = _shards([None])
    with pytest.raises(file_import.PublishError, match=r"import shard 0 died \(exit code 3\)"):
        file_import._collect(procs, conns, lambda: None)
