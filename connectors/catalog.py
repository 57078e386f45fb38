"""The app catalog: app_id -> company, display names, store ids (``catalog.yaml``).

Lookups go by store id first, then by name; an app not in the catalog gets a
stable slug (``slug_for``), so its events still validate and keep one series.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core import yamlfile

APP_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
AppId = Annotated[str, Field(pattern=APP_ID.pattern)]
Platform = Literal["ios", "android"]


class App(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    company: str
    names: dict[Literal["zh", "en"], str]
    stores: dict[Platform, str] = {}

    @field_validator("stores")
    @classmethod
    def _ios_numeric(cls, v: dict[str, str]) -> dict[str, str]:
        if "ios" in v and not str(v["ios"]).isdigit():
            raise ValueError(f"ios store id must be numeric, got {v['ios']!r}")
        return v


class CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    apps: dict[AppId, App]


def _norm(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold().strip()


class Catalog:
    def __init__(self, apps: dict[str, App]) -> None:
        self.apps = dict(apps)
        self._stores = {(p, str(sid).lower()): a for a, app in apps.items() for p, sid in app.stores.items()}
        self._names = {_norm(n): a for a, app in apps.items() for n in (a, *app.names.values())}

    def companies(self) -> dict[str, str]:
        """app_id -> company, for correlating app alerts with news about the company."""
        return {a: app.company for a, app in self.apps.items()}

    def get(self, app_id: str) -> App | None:
        return self.apps.get(app_id)

    def by_store(self, platform: str, store_id: str | int) -> str | None:
        return self._stores.get((platform, str(store_id).lower()))

    def by_name(self, name: str) -> str | None:
        """Exact (case- and width-insensitive) name, or the part before " - " / ":"."""
        n = _norm(name)
        if n in self._names:
            return self._names[n]
        head = re.split(r"\s+[-–—|]\s+|[:：]", n, maxsplit=1)[0].strip()
        return self._names.get(head)

    def app_id(self, *, name: str | None = None, ios: str | int | None = None, android: str | None = None) -> str:
        """The catalog app_id for a store id or name, else a stable slug."""
        for platform, sid in (("ios", ios), ("android", android)):
            if sid is not None and (found := self.by_store(platform, sid)):
                return found
        if name and (found := self.by_name(name)):
            return found
        return slug_for(name, ios=ios, android=android)


def slug_for(name: str | None, *, ios: str | int | None = None, android: str | None = None) -> str:
    """Lowercase ASCII slug of ``name``; ``ios-<id>`` / ``android-<pkg>`` when it has no ASCII letters."""
    if name:
        ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        if re.search(r"[a-zA-Z]", ascii_):
            return _fit(re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-"))
    if ios is not None:
        return _fit(f"ios-{ios}")
    if android:
        return _fit("android-" + re.sub(r"[^a-z0-9_.-]+", "-", android.lower()))
    raise ValueError(f"cannot make an app_id: no ASCII letters in name {name!r} and no store id")


def _fit(slug: str) -> str:
    """Keep a slug within 64 chars (long ones get a short hash suffix, so they stay distinct)."""
    if len(slug) > 64:
        digest = hashlib.sha256(slug.encode()).hexdigest()[:8]
        slug = slug[:55].rstrip("-_.") + "-" + digest
    if not APP_ID.match(slug):
        raise ValueError(f"cannot make a valid app_id from {slug!r}")
    return slug


def load(path: str | Path | None = None) -> Catalog:
    """Load a catalog file; without ``path``, the one shipped with the package."""
    if path is None:
        return shipped()
    return Catalog(yamlfile.load(path, CatalogFile).apps)


@lru_cache(maxsize=1)
def shipped() -> Catalog:
    ref = resources.files("connectors").joinpath("catalog.yaml")
    return Catalog(yamlfile.parse(ref.read_text(encoding="utf-8"), CatalogFile, str(ref)).apps)
