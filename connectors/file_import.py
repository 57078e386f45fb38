"""Import a CSV or JSONL export from any vendor: map columns, validate, publish, resume.

A mapping renames source columns to contract fields (``value=Downloads``) and
``constants`` fill fields the file lacks (``metric=downloads``). Dates without a
time become the start of that day in ``timezone``; numbers may carry thousands
separators; a missing ``event_id`` is derived from the row's fact, so that
importing the same file twice publishes the same ids.

The checkpoint (with the file's size and a hash of its head) makes a second run resume
where the first stopped, also after lines were appended; a rewritten file starts over.
It advances only past lines the broker acknowledged: never past an invalid line (the
next run starts there again, once the file is fixed), and not at all when a send failed.

Exceptions:
    PublishError(RuntimeError) -- a record the broker did not take; the checkpoint stays.
"""

from __future__ import annotations

import csv
import hashlib
import multiprocessing
import multiprocessing.connection
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from connectors.catalog import Catalog
from core.events import Event, InvalidEvent, event_id, validate

NUMERIC = {"value", "rank"}
CHECKPOINT_EVERY = 5000


@dataclass
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)  # contract field -> source column
    constants: dict[str, str] = field(default_factory=dict)  # contract field -> value
    timezone: str = "Asia/Shanghai"

    @classmethod
    def parse(cls, maps: list[str], sets: list[str], timezone: str = "Asia/Shanghai") -> Mapping:
        def pairs(items: list[str], flag: str) -> dict[str, str]:
            out = {}
            for item in items:
                key, sep, val = item.partition("=")
                if not sep or not key.strip():
                    raise ValueError(f"{flag} {item!r}: expected field=value")
                out[key.strip()] = val.strip()
            return out

        ZoneInfo(timezone)
        return cls(pairs(maps, "--map"), pairs(sets, "--set"), timezone)


class PublishError(RuntimeError):
    pass


@dataclass
class Summary:
    published: int = 0
    skipped: int = 0  # lines before the checkpoint
    invalid: list[tuple[int, str, dict | None]] = field(default_factory=list)  # (line, error, row)
    checkpoint: int | None = None  # the line the checkpoint now holds (None: no checkpoint kept)


def rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, row, error) for each record of a .csv or .jsonl file."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            for row in reader:
                yield reader.line_num, row, None
        return
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield n, None, f"invalid JSON: {exc}"
                continue
            yield (n, obj, None) if isinstance(obj, dict) else (n, None, "not a JSON object")


def to_event(row: dict, m: Mapping, catalog: Catalog, source: str) -> Event:
    return validate(prepare(row, m, catalog, source))


def prepare(row: dict, m: Mapping, catalog: Catalog, source: str) -> dict:
    """The row as a contract object, not yet validated (cheap: enough to shard on)."""
    obj = {k: v for k, v in row.items() if k not in m.columns.values()} if m.columns else dict(row)
    for fld, col in m.columns.items():
        if col not in row:
            raise InvalidEvent(f"{fld}:missing_column", f"{fld}: column {col!r} not in the file")
        obj[fld] = row[col]
    obj.update({k: v for k, v in m.constants.items() if k not in obj or obj[k] in ("", None)})
    obj = {k: v for k, v in obj.items() if v not in ("", None)}
    obj.setdefault("source", source)
    for fld in NUMERIC & obj.keys():
        if isinstance(obj[fld], str):
            obj[fld] = obj[fld].replace(",", "").replace("_", "")
    if isinstance(obj.get("country"), str):
        obj["country"] = obj["country"].lower()
    if isinstance(obj.get("ts"), str) and len(obj["ts"]) == 10:
        obj["ts"] = _day_start(obj["ts"], m.timezone)
    if "app_id" not in obj and obj.get("type", "app.metric") != "news":
        try:
            obj["app_id"] = _app_id(catalog, str(obj.get("app_name") or "") or None)
        except ValueError as exc:
            raise InvalidEvent("app_id:missing", f"app_id: missing, and {exc}") from None
    if "event_id" not in obj:
        fact = [obj.get(k) for k in ("type", "app_id", "platform", "country", "metric", "chart", "ts", "url")]
        obj["event_id"] = event_id(obj["source"], *fact)
    return obj


def shard_of(obj: dict, shards: int) -> int:
    """Rows of one series go to one shard, so their order is kept."""
    if shards == 1:
        return 0
    key = f"{obj.get('app_id')}|{obj.get('country')}" if "app_id" in obj else str(obj.get("event_id"))
    return zlib.crc32(key.encode()) % shards


@lru_cache(maxsize=4096)
def _day_start(day: str, tz: str) -> str:
    try:
        return datetime.combine(date.fromisoformat(day), time(0), ZoneInfo(tz)).isoformat()
    except ValueError:
        return day  # validation names the field


@lru_cache(maxsize=65536)
def _app_id(catalog: Catalog, name: str | None) -> str:
    return catalog.app_id(name=name)


class Checkpoint:
    """The last line published, valid while the file only grows (its head unchanged)."""

    HEAD = 64 * 1024

    def __init__(self, directory: Path, path: Path, shard: tuple[int, int] = (0, 1)) -> None:
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        part = "" if shard == (0, 1) else f"-{shard[0]}of{shard[1]}"
        self.file = directory / f"import-{key}{part}.json"
        self.path = path

    def _head(self, size: int) -> str:
        with self.path.open("rb") as f:
            return hashlib.sha256(f.read(min(size, self.HEAD))).hexdigest()

    def load(self) -> int:
        try:
            data = orjson.loads(self.file.read_bytes())
            if self.path.stat().st_size < data["size"] or self._head(data["size"]) != data["head"]:
                return 0  # a different file under the same name
            return int(data["line"])
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return 0

    def save(self, line: int) -> None:
        size = self.path.stat().st_size
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_bytes(
            orjson.dumps({"path": str(self.path.resolve()), "line": line, "size": size, "head": self._head(size)})
        )
        tmp.replace(self.file)


def run(
    path: Path,
    publisher,
    mapping: Mapping,
    catalog: Catalog,
    checkpoint: Checkpoint | None,
    on_line: Callable[[int], None] = lambda n: None,
    shard: tuple[int, int] = (0, 1),
) -> Summary:
    """Publish every valid record of this shard after the checkpoint; return what happened.

    Shard 0 also reports the lines that cannot be mapped to a series. The checkpoint moves
    to the line before this shard's first invalid line at the most, and only after the
    broker acknowledged every record up to it.
    """
    summary, source = Summary(), f"import:{path.name}"
    me, shards = shard
    start = checkpoint.load() if checkpoint else 0
    last, saved, bad, sent = start, start, None, []

    def save() -> None:
        nonlocal saved
        _acked(publisher, sent)
        upto = last if bad is None else min(last, bad - 1)
        if checkpoint and upto > saved:
            checkpoint.save(upto)
            saved = upto

    for n, row, error in rows(path):
        if n % 1000 == 0:
            on_line(n)
        if n <= start:
            summary.skipped += 1
            continue
        last = n
        if error is None:
            try:
                obj = prepare(row, mapping, catalog, source)
            except InvalidEvent as exc:
                error = str(exc)  # no series to shard on: shard 0 reports it
            else:
                if shard_of(obj, shards) != me:
                    continue
                try:
                    sent.append(publisher.send(validate(obj)))
                    summary.published += 1
                except InvalidEvent as exc:
                    summary.invalid.append((n, str(exc), row))
                    bad = bad or n
        if error is not None:  # every shard stops its checkpoint here: the fix may be any shard's
            bad = bad or n
            if me == 0:
                summary.invalid.append((n, error, row))
        if len(sent) >= CHECKPOINT_EVERY:
            save()
    save()
    summary.checkpoint = saved if checkpoint else None
    on_line(last)
    return summary


def _acked(publisher, sent: list) -> None:
    """Flush, then raise if the broker refused any of ``sent`` (kafka-python's flush does not)."""
    publisher.flush()
    for future in sent:
        if future is not None and callable(getattr(future, "failed", None)) and future.failed():
            raise PublishError(f"the broker did not take a record: {future.exception!r}")
    sent.clear()


def _shard_main(job: tuple, progress, child_setup: Callable[[int], None] | None, parent: int, conn) -> None:
    """One shard in a process of its own: ``run`` it, writing its line to ``progress[shard]``;
    its Summary, or the error it raised, goes back to the parent through ``conn``."""
    path, bootstrap, prefix, mapping, state_dir, shard, producer_config = job

    def on_line(n: int) -> None:
        progress[shard[0]] = n

    try:
        if child_setup:
            child_setup(parent)
        from connectors import catalog as catalog_mod
        from connectors.publish import Publisher
        from core.events import Topics

        ckpt = Checkpoint(state_dir, path, shard) if state_dir else None
        with Publisher(bootstrap, Topics(prefix), **producer_config) as pub:
            result = ("ok", run(path, pub, mapping, catalog_mod.shipped(), ckpt, on_line, shard))
    except BaseException as exc:  # noqa: BLE001 - raised again in the parent
        result = ("error", exc)
    try:
        conn.send(result)
    except Exception:  # noqa: BLE001 - an error that cannot be pickled: its text then
        conn.send(("error", RuntimeError(f"import shard {shard[0]}: {result[1]!r}")))
    finally:
        conn.close()


def run_parallel(
    path: Path,
    bootstrap: str,
    prefix: str,
    mapping: Mapping,
    state_dir: Path | None,
    workers: int,
    producer_config: dict,
    on_line: Callable[[int], None] = lambda n: None,
    child_setup: Callable[[int], None] | None = None,
) -> Summary:
    """``run`` in ``workers`` processes, each with its own producer and a shard of the series;
    ``child_setup(this pid)`` runs first in each (the CLI's: die with this process). The first
    error of a shard is raised here and the other shards are stopped (their checkpoints stay
    where the broker last acknowledged everything)."""
    ctx = multiprocessing.get_context("spawn")
    progress = ctx.Array("q", workers, lock=False)  # each shard's line, shared with the processes
    procs, conns = [], []
    try:
        for i in range(workers):
            job = (path, bootstrap, prefix, mapping, state_dir, (i, workers), producer_config)
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=_shard_main,
                args=(job, progress, child_setup, os.getpid(), send),
                name=f"import-shard-{i}",
                daemon=True,
            )
            proc.start()
            send.close()  # the child has its own: EOF here when it dies without an answer
            procs.append(proc)
            conns.append(recv)
        parts = _collect(procs, conns, lambda: on_line(min(progress)))
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(10)
    total = Summary(skipped=parts[0].skipped)
    for part in parts:
        total.published += part.published
        total.invalid.extend(part.invalid)
    total.invalid.sort(key=lambda x: x[0])
    kept = [part.checkpoint for part in parts if part.checkpoint is not None]
    total.checkpoint = min(kept) if kept else None
    on_line(max(progress))
    return total


def _collect(procs: list, conns: list, tick: Callable[[], None]) -> list[Summary]:
    """Each shard's Summary in shard order, calling ``tick`` every 0.2 s meanwhile; a shard's
    error is raised as soon as it arrives, and a shard that died without answering is a
    ``PublishError`` naming its exit code."""
    parts: dict[int, Summary] = {}
    waiting = {conn: i for i, conn in enumerate(conns)}
    while waiting:
        for conn in multiprocessing.connection.wait(list(waiting), timeout=0.2):
            i = waiting.pop(conn)
            try:
                status, value = conn.recv()
            except EOFError:
                procs[i].join(5)
                raise PublishError(
                    f"import shard {i} died (exit code {procs[i].exitcode}) before "
                    "it finished; its checkpoint stays where the broker last "
                    "acknowledged everything"
                ) from None
            if status == "error":
                raise value
            parts[i] = value
        tick()
    return [parts[i] for i in range(len(conns))]


def count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(buf.count(b"\n") for buf in iter(lambda: f.read(1 << 20), b""))


def write_rejected(summary: Summary, path: Path) -> Path:
    """The invalid rows as JSONL (line number, error, row), for fixing and importing again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for n, msg, row in summary.invalid:
            f.write(orjson.dumps({"line": n, "error": msg, "row": row}, default=str) + b"\n")
    return path
