"""Follow every component's log file and print new lines prefixed with its name."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

COLOURS = ("36", "33", "32", "35", "34", "91", "96", "93", "92", "95", "94")


@dataclass
class Followed:
    label: str
    path: Path
    offset: int
    partial: bytes = b""


class LogFollower:
    """One thread polling the files (no inotify needed); starts at each file's current end."""

    def __init__(
        self, logs: dict[str, Path], out: TextIO = sys.stdout, interval: float = 0.2
    ) -> None:
        self.out = out
        self.interval = interval
        width = max(map(len, logs), default=0)
        colour = out.isatty()
        self.files: list[Followed] = []
        for index, (name, path) in enumerate(logs.items()):
            label = f"{name:<{width}} |"
            if colour:
                label = f"\033[{COLOURS[index % len(COLOURS)]}m{label}\033[0m"
            offset = path.stat().st_size if path.exists() else 0
            self.files.append(Followed(label, path, offset))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.poll()  # the last lines written while stopping

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        for followed in self.files:
            try:
                size = followed.path.stat().st_size
                if size < followed.offset:  # truncated or replaced
                    followed.offset, followed.partial = 0, b""
                if size == followed.offset:
                    continue
                with followed.path.open("rb") as file:
                    file.seek(followed.offset)
                    chunk = file.read(size - followed.offset)
            except FileNotFoundError:
                continue
            followed.offset += len(chunk)
            *lines, followed.partial = (followed.partial + chunk).split(b"\n")
            for line in lines:
                text = line.decode("utf-8", errors="replace").rstrip("\r")
                self.out.write(f"{followed.label} {text}\n")
        self.out.flush()
