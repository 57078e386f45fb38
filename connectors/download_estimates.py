"""Source ``download_estimates``: daily download/revenue estimates (Sensor Tower shape) -> ``app.metric``.

GET {base_url}/v1/{os}/sales_report_estimates?app_ids=A,B&countries=CN,US&date_granularity=daily
    &start_date=YYYY-MM-DD&end_date=YYYY-MM-DD&auth_token=T&limit=L&offset=O
returns a JSON array of rows:
- iOS: ``{"aid": 6459478672, "cc": "CN", "d": "2024-11-14T00:00:00Z", "iu": 812345, "ir": 1234567,
  "au": 0, "ar": 0}`` (iu/ir iPhone units/revenue, au/ar iPad);
- Android: ``{"aid": "com.larus.nova", "c": "CN", "d": "...", "u": 800000, "r": 123}``.

Each row becomes ``downloads`` (iPhone + iPad units) and ``revenue`` for its platform,
country and day (``period=day, mode=total``; ``ts`` is the day at 00:00 UTC). Revenue comes
in cents (of USD, the API's currency) and is published in the currency unit: ``r / 100``.
The event id holds the value, so a revised estimate is a new event and a re-poll of
the same number is not.

Window: the last ``lookback_days`` complete UTC days before ``ctx.now`` (today is left
out: its estimate is not final). Paging: ``limit``/``offset``; a page shorter than
``limit`` is the last. An envelope ``{"data": [...], "next_offset": N}`` (or ``"next"``:
an offset or a URL with ``offset=``; null = last page) is followed instead.

The token (``token``, ``token_env`` or ``token_file``) is read through ``core.secrets``
at each poll; one that is not there (variable unset, file missing or empty) skips the
instance, saying which field, variable or file. It travels in the query (the API's own
scheme), so: it is masked in error messages and, during the poll, in the ``httpx`` /
``connectors.http`` logs (a ``core.redact.RedactingFilter`` of the poll's own), and the
estimates are fetched without ``ctx.get_json``'s conditional GET (which would store the
URL, token and all, in the checkpoint; the date window changes daily anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.base import Connector, Context, Country, Params
from connectors.errors import FetchError, NotConfigured, PayloadError, SourceError
from core.events import Event, InvalidEvent
from core.redact import RedactingFilter
from core.secrets import SecretError, secret_value

StoreId = Annotated[str, Field(pattern=r"^[0-9]{1,15}$|^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")]

# (units fields, revenue fields, country fields) per os
FIELDS = {"ios": (("iu", "au"), ("ir", "ar")), "android": (("u",), ("r",))}
TOKEN_FIELDS = ("token", "token_env", "token_file")  # one of them, read through core.secrets
# the loggers that see request URLs, token and all (httpx logs each request at INFO)
URL_LOGGERS = ("httpx", "connectors.http")


class DownloadEstimatesParams(Params):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # the input may hold the token

    base_url: str = Field("https://api.sensortower.com", pattern=r"^https?://")
    token: SecretStr | None = Field(None, description="auth_token; prefer token_env or token_file")
    token_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="name of the environment variable holding the token"
    )
    token_file: Path | None = Field(None, description="a file holding the token (a mounted secret)")
    os: Literal["ios", "android"]
    app_ids: Annotated[list[StoreId], Field(min_length=1)] = Field(
        description="store ids: numeric App Store ids or Android package names"
    )
    countries: Annotated[list[Country], Field(min_length=1)] = ["cn", "us"]
    date_granularity: Literal["daily"] = "daily"
    lookback_days: int = Field(7, ge=1, le=90, description="complete UTC days before today")
    metrics: Annotated[list[Literal["downloads", "revenue"]], Field(min_length=1)] = ["downloads", "revenue"]
    limit: int = Field(1000, ge=1, le=10_000, description="rows per page")
    max_pages: int = Field(100, ge=1, description="safety stop for a pager that never ends")

    @field_validator("app_ids", mode="before")
    @classmethod
    def _ints(cls, v: Any) -> Any:
        return [str(i) if isinstance(i, int) else i for i in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _one_token(self) -> DownloadEstimatesParams:
        given = [name for name in TOKEN_FIELDS if getattr(self, name) is not None]
        if len(given) != 1:
            got = f" (got {' and '.join(given)})" if given else ""
            raise ValueError(f"give exactly one of token, token_env and token_file{got}")
        return self


class DownloadEstimates(Connector):
    kind = "download_estimates"
    Params = DownloadEstimatesParams
    params: DownloadEstimatesParams

    def url(self) -> str:
        return f"{self.params.base_url.rstrip('/')}/v1/{self.params.os}/sales_report_estimates"

    def window(self, now: datetime) -> tuple[date, date]:
        end = now.astimezone(UTC).date() - timedelta(days=1)
        return end - timedelta(days=self.params.lookback_days - 1), end

    def token(self, redactor: RedactingFilter) -> str:
        """The auth token, registered with ``redactor``; NotConfigured names the field and source."""
        p = self.params
        field = next(name for name in TOKEN_FIELDS if getattr(p, name) is not None)
        try:
            return secret_value(p.token, p.token_env, p.token_file, what=f"params.{field}", redactor=redactor)
        except SecretError as exc:
            raise NotConfigured(f"no auth token: {exc}") from None

    async def poll(self, ctx: Context) -> list[Event]:
        redactor = RedactingFilter()  # this poll's token: out of its errors and its HTTP logs
        token = self.token(redactor)  # NotConfigured: the runner skips the instance
        with _masking(redactor, URL_LOGGERS):
            rows = await self.fetch(ctx, token, redactor.redact)
        return self.map(ctx, rows)

    async def fetch(self, ctx: Context, token: str, mask: Callable[[str], str]) -> dict:
        """Every page of the window: (store id, country, day) -> (units, cents); errors counted."""
        p = self.params
        start, end = self.window(ctx.now)
        query = {
            "app_ids": ",".join(p.app_ids),
            "countries": ",".join(c.upper() for c in p.countries),
            "date_granularity": p.date_granularity,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "auth_token": token,
            "limit": p.limit,
        }
        rows: dict[tuple[str, str, date], tuple[int, int | None]] = {}  # a repeated row: last wins
        offset = 0
        try:
            for _ in range(p.max_pages):
                url = ctx.http.url(self.url(), {**query, "offset": offset})
                resp = await ctx.http.get_json(self.url(), {**query, "offset": offset})
                ctx.fetched += 1
                page, nxt = _page(resp.data, offset, p.limit, mask(url))
                for pos, row in enumerate(page):
                    try:
                        store_id, country, day, units, cents = self.parse(row)
                    except ValueError as exc:
                        ctx.failed(PayloadError(f"{mask(url)}: row {offset + pos}: {exc}", "bad_row"))
                        continue
                    rows[(store_id, country, day)] = (units, cents)
                if nxt is None:
                    break
                offset = nxt
            else:
                ctx.failed(
                    PayloadError(
                        f"{self.url()}: stopped after max_pages={p.max_pages}; later pages not fetched",
                        "too_many_pages",
                    )
                )
        except SourceError as exc:
            ctx.failed(_masked(exc, self.url(), mask))
        return rows

    def parse(self, row: Any) -> tuple[str, str, date, int, int | None]:
        """(store id, country, day, units, revenue cents or None); ValueError names the bad field."""
        if not isinstance(row, dict):
            raise ValueError(f"not an object: {row!r:.80}")
        aid = row.get("aid")
        if isinstance(aid, bool) or not isinstance(aid, (int, str)) or not str(aid).strip():
            raise ValueError(f'bad "aid": {aid!r}')
        cc = row.get("cc", row.get("c"))
        if not isinstance(cc, str) or not cc.isalpha() or len(cc) != 2:
            raise ValueError(f'bad country "cc"/"c": {cc!r}')
        day = _day(row.get("d"))
        unit_keys, rev_keys = FIELDS[self.params.os]
        units = _amount(row, unit_keys)
        if units is None:
            raise ValueError(f"no units ({'/'.join(unit_keys)})")
        return str(aid).strip(), cc.lower(), day, units, _amount(row, rev_keys)

    def map(self, ctx: Context, rows: dict) -> list[Event]:
        os_, out = self.params.os, []
        for (store_id, country, day), (units, cents) in rows.items():
            app_id = self.catalog.app_id(**{os_: store_id})
            common = dict(
                type="app.metric",
                ts=f"{day.isoformat()}T00:00:00+00:00",
                app_id=app_id,
                platform=os_,
                country=country,
                period="day",
                mode="total",
            )
            facts = {"downloads": (units, units), "revenue": (cents, None if cents is None else cents / 100)}
            for metric in self.params.metrics:
                raw, value = facts[metric]
                if raw is None:
                    continue  # the row has no revenue fields
                try:
                    out.append(
                        self.event(
                            event_id=self.event_id(os_, store_id, country, day, metric, raw),
                            metric=metric,
                            value=value,
                            **common,
                        )
                    )
                except InvalidEvent as exc:
                    ctx.failed(exc, f"{store_id} {country} {day} {metric}")
        return out


def _page(data: Any, offset: int, limit: int, url: str) -> tuple[list, int | None]:
    """The rows of one page and the next offset (None: this was the last page)."""
    explicit, has_next = None, False
    if isinstance(data, list):
        rows = data
    elif isinstance(data, dict) and isinstance(data.get("data"), list):
        rows = data["data"]
        for key in ("next_offset", "next"):
            if key in data:
                has_next, explicit = True, _offset(data[key], url)
                break
    else:
        what = (
            f"an object with keys {', '.join(map(repr, list(data)[:5]))}"
            if isinstance(data, dict)
            else type(data).__name__
        )
        raise PayloadError(f"{url}: expected a JSON array of rows, got {what}", "bad_payload", url)
    if has_next:
        nxt = explicit
    else:
        nxt = offset + len(rows) if len(rows) >= limit else None
    if nxt is not None and nxt <= offset:
        raise PayloadError(f"{url}: next offset {nxt} does not advance past {offset}", "bad_payload", url)
    return rows, nxt


def _offset(value: Any, url: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str):
        found = parse_qs(urlsplit(value).query).get("offset")
        if found and found[0].isdigit():
            return int(found[0])
    raise PayloadError(f"{url}: cannot read a next offset from {value!r:.80}", "bad_payload", url)


def _day(value: Any) -> date:
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return when.date()
        except ValueError:
            pass
    raise ValueError(f'bad day "d": {value!r}')


def _amount(row: dict, keys: tuple[str, ...]) -> int | None:
    """The sum of ``keys`` present in ``row`` (each a whole number >= 0), or None if none is."""
    total, found = 0, False
    for key in keys:
        v = row.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != int(v):
            raise ValueError(f"bad {key!r}: {v!r}")
        total, found = total + int(v), True
    return total if found else None


def _masked(exc: SourceError, fallback_url: str, mask: Callable[[str], str]) -> SourceError:
    """The same error without the token; a 401/403 says what it most likely means."""
    msg, url = mask(str(exc)), mask(exc.url) if exc.url else None
    if exc.reason in ("http_401", "http_403"):
        return FetchError(
            f"{msg}: the auth token was rejected (check token / token_env / token_file)", "auth", url or fallback_url
        )
    return type(exc)(msg, exc.reason, url)


@contextmanager
def _masking(redactor: RedactingFilter, loggers: tuple[str, ...]) -> Iterator[None]:
    """``redactor`` on ``loggers`` while the block runs (a filter on a logger sees only its own records)."""
    attached = [logging.getLogger(name) for name in loggers]
    for logger in attached:
        logger.addFilter(redactor)
    try:
        yield
    finally:
        for logger in attached:
            logger.removeFilter(redactor)
