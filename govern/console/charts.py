"""Charts drawn on the server as SVG (issue 19 item 5): no script, no chart library, nothing fetched, nothing the
Content-Security-Policy would block (colours are SVG attributes, not styles). This module lays a chart out — axes,
bars, lines, in numbers — and console/_chart.html draws it, escaped like every template; each chart is a figure with a
caption, a legend and the same numbers as a table: the text a screen reader, a phone or a printout reads instead."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

PALETTE = ("#0b5cad", "#d4731c", "#2e8b57", "#a40e26", "#6f42c1", "#1b7c83", "#8a6d00", "#57606a", "#c2185b", "#3f6212")
WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 10, 10, 30
PLOT_H = HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    labels: list[str]  # the x axis: weeks or days
    series: list[tuple[str, list[float | None]]]  # (name, one value per label; None: nothing to show)
    unit: str = ""  # after each value ("%")
    grid: list[tuple[float, str]] = field(default_factory=list)  # (y, the value's label) of each horizontal line
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (x, label) under the axis
    rects: list[tuple[float, float, float, float, str, str]] = field(default_factory=list)  # x, y, width, height, colour, tooltip
    polylines: list[tuple[str, str]] = field(default_factory=list)  # points, colour
    dots: list[tuple[float, float, str, str]] = field(default_factory=list)  # x, y, colour, tooltip
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT

    @property
    def legend(self) -> list[tuple[str, str]]:
        return [(name, colour(i)) for i, (name, _) in enumerate(self.series)]

    @property
    def empty(self) -> bool:
        return not any(v for _, values in self.series for v in values)


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _ceiling(top: float) -> float:
    """A round top for the y axis: 1, 2 or 5 times a power of ten, at least the largest value."""
    if top <= 0:
        return 1
    power = 10 ** math.floor(math.log10(top))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= top)


def _axes(labels: list[str], top: float, unit: str) -> tuple[list[tuple[float, str]], list[tuple[float, str]], float]:
    grid = [(round(TOP + PLOT_H - PLOT_H * i / 4, 1), f"{top * i / 4:g}{unit}") for i in range(5)]
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    step = max(1, math.ceil(len(labels) / 8))  # at most eight labels under the axis: they never overlap
    ticks = [(round(LEFT + slot * (i + 0.5), 1), label) for i, label in enumerate(labels) if i % step == 0]
    return grid, ticks, slot


def _tip(label: str, name: str, value: float, unit: str) -> str:
    return f"{label} · {name}: {value:g}{unit}"


def bars(chart_id: str, title: str, labels: list[str], series: list[tuple[str, list[float | None]]], unit: str = "") -> Chart:
    """Stacked bars: one bar per label, one coloured part per series."""
    top = _ceiling(max((sum(values[i] or 0 for _, values in series) for i in range(len(labels))), default=0))
    grid, ticks, slot = _axes(labels, top, unit)
    rects = []
    for i, label in enumerate(labels):
        y = float(TOP + PLOT_H)
        for k, (name, values) in enumerate(series):
            v = values[i] or 0
            if v:
                h = PLOT_H * v / top
                y -= h
                rects.append((round(LEFT + slot * (i + 0.15), 1), round(y, 1), round(slot * 0.7, 1), round(h, 1), colour(k), _tip(label, name, v, unit)))
    return Chart(chart_id, title, labels, series, unit, grid, ticks, rects=rects)


def lines(chart_id: str, title: str, labels: list[str], series: list[tuple[str, list[float | None]]], unit: str = "", top: float | None = None) -> Chart:
    """Lines with a dot per value; a None leaves the dot out (a week with nothing closed has no rate)."""
    top = top or _ceiling(max((v for _, values in series for v in values if v is not None), default=0))
    grid, ticks, slot = _axes(labels, top, unit)
    polylines, dots = [], []
    for k, (name, values) in enumerate(series):
        points = [(round(LEFT + slot * (i + 0.5), 1), round(TOP + PLOT_H - PLOT_H * min(v, top) / top, 1), v, labels[i])
                  for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            polylines.append((" ".join(f"{x},{y}" for x, y, _, _ in points), colour(k)))
        dots += [(x, y, colour(k), _tip(label, name, v, unit)) for x, y, v, label in points]
    return Chart(chart_id, title, labels, series, unit, grid, ticks, polylines=polylines, dots=dots)
