"""`python -m benchmarks` (`make bench`): start the platform and the ceilings, measure every
figure (or those named with `--only`), print the table."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import wrk
from benchmarks.figures import GROUPS, Options, chosen
from benchmarks.report import Figure, markdown_table, text_table
from benchmarks.stack import mongo_server_from_env, running


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--only",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help=f"comma-separated groups of figures, of: {', '.join(GROUPS)}",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (the median)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one wrk run")
    parser.add_argument("--markdown", action="store_true", help="also print the table in Markdown")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit with 1 when a figure misses its target (as CI runs it)",
    )
    return parser.parse_args(argv)


def database_in_use() -> str:
    server = mongo_server_from_env()
    return "the embedded Mongo stand-in" if server is None else f"MongoDB at {server}"


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    try:
        groups = chosen(args.only)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if not wrk.available():
        print("wrk is not installed (Debian package wrk; make install adds it)", file=sys.stderr)
        return 2
    options = Options(runs=args.runs, seconds=args.seconds)
    started = time.monotonic()
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(
        f"benchmarks: {stamp}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{database_in_use()}; wrk -c{wrk.CONNECTIONS}, median of {options.runs} "
        f"runs of {options.seconds:g} s",
        flush=True,
    )
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch, running(Path(scratch)) as stack:
        print(f"platform and ceilings started in {time.monotonic() - started:.0f} s", flush=True)
        for name in groups:
            began = time.monotonic()
            print(f"{name} ...", flush=True)
            measured = GROUPS[name](stack, options)
            figures += measured
            print(text_table(measured), flush=True)
            print(f"  ({time.monotonic() - began:.0f} s)", flush=True)
    print(f"\n== {stamp}: every figure ==")
    print(text_table(figures))
    if args.markdown:
        print()
        print(markdown_table(figures))
    print(f"\nmake bench took {time.monotonic() - started:.0f} s")
    return 1 if args.check and missed(figures) else 0


def missed(figures: list[Figure]) -> list[Figure]:
    """The figures with a target that they did not meet."""
    return [figure for figure in figures if figure.met is False]


if __name__ == "__main__":
    sys.exit(main())
