"""Run every benchmark in turn and print its figures: `python -m benchmarks` (`make bench`)."""

from __future__ import annotations

import asyncio
import os
import platform
import time
from datetime import UTC, datetime

from benchmarks import bench_listing, bench_memory, bench_reservation
from benchmarks._support import using_stand_in


def main() -> None:
    started = time.perf_counter()
    mongo = "the embedded Mongo stand-in" if using_stand_in() else "MONGO_URI"
    print(
        f"benchmarks: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, against {mongo}"
    )
    asyncio.run(bench_listing.main())
    asyncio.run(bench_reservation.main())
    bench_memory.main()
    print(f"\nall benchmarks ran in {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
