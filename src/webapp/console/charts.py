"""Plotly figures (plain JSON specs) for the console's charts; ``static/console.js`` draws them.

The figures only place what the report files hold: timeline segments as
bands, polls as ticks, daily ratios as bars. Times are shown on a UTC axis;
the hover text gives each instant in UTC and in the store's local time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

__all__ = ["timeline_figure", "daily_figure", "fleet_daily_figure", "STATUS_COLOURS"]

#: One colour per status, used by bands, ticks and the legend.
STATUS_COLOURS = {"active": "#2e9d5b", "inactive": "#d64541", "unknown": "#9aa0a6"}

_BUSINESS_SHADE = "rgba(66, 133, 244, 0.13)"
_FONT = {"family": "system-ui, sans-serif", "size": 12}


def _axis_time(moment: datetime) -> str:
    """An instant as Plotly's date axis reads it (UTC wall time, microseconds)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _both(moment: datetime, zone: ZoneInfo | None) -> str:
    utc = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    if zone is None:
        return utc
    return f"{utc}<br>{moment.astimezone(zone).strftime('%Y-%m-%d %H:%M:%S %Z')}"


def _layout(**extra: Any) -> dict[str, Any]:
    return {
        "font": _FONT,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 40},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "closest",
        **extra,
    }


def timeline_figure(
    timeline: pl.DataFrame, polls: pl.DataFrame | None, now: datetime, zone: ZoneInfo | None
) -> dict[str, Any]:
    """The week: business hours shaded, one band per status stretch, polls as ticks, ``now`` marked."""
    data: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    for status, colour in STATUS_COLOURS.items():
        part = timeline.filter(pl.col("status").cast(pl.String) == status)
        if part.is_empty():
            continue
        starts, ends, business = part["start"].to_list(), part["end"].to_list(), part["business"].to_list()
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": status,
                "y": ["status"] * part.height,
                "base": [_axis_time(s) for s in starts],
                "x": [(e - s).total_seconds() * 1000 for s, e in zip(starts, ends, strict=True)],
                "marker": {"color": colour, "opacity": [1.0 if b else 0.35 for b in business]},
                "text": [
                    f"<b>{status}</b> ({'open' if b else 'closed'})<br>from {_both(s, zone)}<br>to {_both(e, zone)}"
                    for s, e, b in zip(starts, ends, business, strict=True)
                ],
                "hovertemplate": "%{text}<extra></extra>",
                "textposition": "none",
                "width": 0.6,
            }
        )
    open_from: datetime | None = None
    for start, end, business in timeline.select("start", "end", "business").iter_rows():
        if business and open_from is None:
            open_from = start
        if not business and open_from is not None:
            shapes.append(_shade(open_from, start))
            open_from = None
        last_end = end
    if open_from is not None:
        shapes.append(_shade(open_from, last_end))
    if polls is not None and not polls.is_empty():
        for status in ("active", "inactive"):
            part = polls.filter(pl.col("status").cast(pl.String) == status)
            if part.is_empty():
                continue
            stamps = part["timestamp_utc"].to_list()
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": f"poll: {status}",
                    "y": ["polls"] * part.height,
                    "x": [_axis_time(t) for t in stamps],
                    "marker": {"symbol": "line-ns-open", "size": 16, "color": STATUS_COLOURS[status]},
                    "text": [f"<b>poll: {status}</b><br>{_both(t, zone)}" for t in stamps],
                    "hovertemplate": "%{text}<extra></extra>",
                }
            )
    shapes.append(
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": _axis_time(now),
            "x1": _axis_time(now),
            "y0": 0,
            "y1": 1,
            "line": {"color": "#202124", "width": 2, "dash": "dot"},
        }
    )
    layout = _layout(
        height=240,
        barmode="overlay",
        shapes=shapes,
        annotations=[
            {
                "x": _axis_time(now),
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "text": "now",
                "showarrow": False,
                "yanchor": "bottom",
            }
        ],
        xaxis={"type": "date", "title": {"text": "UTC (shaded: business hours)"}},
        yaxis={"type": "category", "categoryorder": "array", "categoryarray": ["polls", "status"], "fixedrange": True},
        legend={"orientation": "h", "y": -0.35},
    )
    return {"data": data, "layout": layout}


def _shade(start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "type": "rect",
        "xref": "x",
        "yref": "paper",
        "x0": _axis_time(start),
        "x1": _axis_time(end),
        "y0": 0,
        "y1": 1,
        "fillcolor": _BUSINESS_SHADE,
        "line": {"width": 0},
        "layer": "below",
    }


def _ratio_bars(
    dates: list[Any], ratios: list[float | None], business: list[float], uptime: list[float], title: str
) -> dict[str, Any]:
    percents = [None if r is None else r * 100 for r in ratios]
    text = [
        f"<b>{d}</b><br>uptime {'—' if p is None else f'{p:.1f} %'}<br>{u:.2f} h up of {b:.2f} business h"
        for d, p, u, b in zip(dates, percents, uptime, business, strict=True)
    ]
    return {
        "data": [
            {
                "type": "bar",
                "x": [str(d) for d in dates],
                "y": percents,
                "marker": {"color": STATUS_COLOURS["active"]},
                "text": text,
                "hovertemplate": "%{text}<extra></extra>",
                "textposition": "none",
                "name": "uptime %",
            }
        ],
        "layout": _layout(
            height=220,
            xaxis={"type": "date", "title": {"text": title}},
            yaxis={"range": [0, 100], "title": {"text": "uptime %"}, "fixedrange": True},
        ),
    }


def daily_figure(daily: pl.DataFrame) -> dict[str, Any]:
    """One store's 30 days: uptime / business per local day (empty bar on a closed day)."""
    return _ratio_bars(
        daily["date"].to_list(),
        daily["uptime_ratio"].to_list(),
        daily["business_hours"].to_list(),
        daily["uptime_hours"].to_list(),
        "local date",
    )


def fleet_daily_figure(days: list[dict[str, Any]]) -> dict[str, Any]:
    """The fleet's daily uptime from the record's ``fleet.daily`` list."""
    return _ratio_bars(
        [d.get("date") for d in days],
        [d.get("uptime_ratio") for d in days],
        [float(d.get("business_hours") or 0) for d in days],
        [float(d.get("uptime_hours") or 0) for d in days],
        "date",
    )
