"""The benchmark's table: each figure, what was measured, its ratio to its ceiling (or its
baseline), the target and whether it was met."""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """`value >= at_least` or `value <= at_most` of a figure's ratio (or of its measured
    value, for figures without a ceiling)."""

    bound: float
    at_least: bool = True
    unit: str = ""
    """How the bound is printed: "%" for a share, "x" for a growth factor, "/s", " s"."""

    def met(self, value: float) -> bool:
        compare: Callable[[float, float], bool] = operator.ge if self.at_least else operator.le
        return compare(value, self.bound)

    def __str__(self) -> str:
        return f"{'>=' if self.at_least else '<='} {format_value(self.bound, self.unit)}"


def at_least(bound: float, unit: str = "") -> Target:
    return Target(bound, at_least=True, unit=unit)


def at_most(bound: float, unit: str = "") -> Target:
    return Target(bound, at_least=False, unit=unit)


def format_value(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.1f} %"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "/s":
        return f"{value:,.1f}/s"
    if unit == " s":
        return f"{value:.3f} s"
    if unit == " MiB":
        return f"{value:.0f} MiB"
    return f"{value:.2f}{unit}"


@dataclass(frozen=True)
class Figure:
    """One line of the table. `ratio` is the figure over its ceiling (or over its baseline);
    the target applies to the ratio when there is one, else to `value`."""

    name: str
    measured: str
    target: Target | None = None
    ratio: float | None = None
    value: float | None = None
    note: str = ""
    correct: bool = True
    """False when an answer was wrong (e.g. errors under load, not exactly one winner): the
    figure is then not met, whatever its numbers."""

    @property
    def judged(self) -> float | None:
        return self.ratio if self.ratio is not None else self.value

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None if self.correct else False
        judged = self.judged
        if judged is None:
            return False
        return self.correct and self.target.met(judged)

    def cells(self) -> list[str]:
        ratio = "-" if self.ratio is None else format_value(self.ratio, self.ratio_unit)
        met = {True: "yes", False: "NO", None: "-"}[self.met]
        return [self.name, self.measured, ratio, str(self.target or "-"), met, self.note]

    @property
    def ratio_unit(self) -> str:
        return self.target.unit if self.target is not None and self.target.unit else "x"


def ratio_of(measured: float, ceiling: float) -> float:
    """`measured / ceiling`, 0 when the ceiling could not be measured."""
    return measured / ceiling if ceiling > 0 else 0.0


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


HEADERS = ["figure", "measured", "ratio", "target", "met?", "note"]


def text_table(figures: Sequence[Figure]) -> str:
    """A plain-text table: the first column left-aligned, the numbers right-aligned."""
    cells = [HEADERS, *[figure.cells() for figure in figures]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        middle = [cell.rjust(width) for cell, width in zip(row[1:-1], widths[1:-1], strict=True)]
        return "  ".join([first, *middle, row[-1]]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule, *[line(row) for row in cells[1:]]])


def markdown_table(figures: Sequence[Figure]) -> str:
    """The same table in Markdown (for benchmarks/README.md)."""
    rows = [HEADERS, *[figure.cells() for figure in figures]]
    lines = ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    lines.insert(1, "|" + "|".join(["---"] + ["---:"] * 4 + ["---"]) + "|")
    return "\n".join(lines)
