"""``appwatch worker`` with one setting changed in memory, for the profile's experiments.

    python -m bench.variant_worker --variant batch1

Variants (none edits streams/*.py; each patches a module in this process only):
  shipped  the worker as the code is now
  batch1   Faust ``producer_max_batch_size=1``: the Tansu workaround for table recovery
           that streams/app.py used until streams/tansu.py (``true_ends``) replaced it;
           kept here to measure what it cost
  batch    the opposite on code that still has the workaround: Faust's default batch
"""

from __future__ import annotations

import argparse
import sys


def _settings() -> dict:
    """The Faust settings the worker applies on Tansu, in whichever module holds them."""
    import streams.app as app_mod

    if hasattr(app_mod, "TANSU"):  # before streams/tansu.py
        return app_mod.TANSU
    from streams import tansu

    return tansu.SETTINGS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", choices=["shipped", "batch1", "batch"], default="shipped")
    args, rest = ap.parse_known_args()
    settings = _settings()
    if args.variant == "batch1":
        settings["producer_max_batch_size"] = 1
    elif args.variant == "batch":
        settings.pop("producer_max_batch_size", None)
    from appwatch.cli import main as cli_main

    sys.argv = ["appwatch", "worker", *rest]
    cli_main()


if __name__ == "__main__":
    main()
