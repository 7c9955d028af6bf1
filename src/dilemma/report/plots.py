"""Matplotlib figures for the HTML report, returned as base64 PNG data URIs.

Figures are built on `matplotlib.figure.Figure` with the Agg canvas (no pyplot, no display, no
global state), so they are safe in tests, headless machines and threads.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import stats

CURVES: tuple[tuple[str, str], ...] = (
    ("mean_growth_pct", "Mean arms growth per state (%)"),
    ("ladder_sum", "Ladder score (sum of the round's actions)"),
    ("mean_threat", "Mean perceived threat (0-10)"),
    ("mean_misperception", "Mean misperception (threat - warranted threat)"),
)
"""Per-round measures of the `rounds` frame drawn as escalation curves."""

DPI = 90


def data_uri(fig: Figure) -> str:
    """The figure as a `data:image/png;base64,...` URI."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def mean_ci(values: pd.Series) -> tuple[float, float, float, int]:
    """Mean and t-based 95% interval over runs (NaN bounds under two values)."""
    v = values.dropna().astype("float64").to_numpy()
    n = len(v)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(v.mean())
    if n < 2:
        return mean, math.nan, math.nan, n
    half = float(stats.t.ppf(0.975, n - 1)) * float(v.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def curve_table(rounds: pd.DataFrame, group: str, measure: str) -> pd.DataFrame:
    """Per group and round: mean, 95% bounds and number of runs of `measure`."""
    rows = []
    for (g, r), sub in rounds.groupby([group, "round"], sort=True):
        mean, low, high, n = mean_ci(sub[measure])
        rows.append({group: g, "round": r, "mean": mean, "low": low, "high": high, "n": n})
    return pd.DataFrame(rows, columns=[group, "round", "mean", "low", "high", "n"])


def escalation_curves(rounds: pd.DataFrame, group: str, title: str) -> str:
    """A 2x2 panel of per-round curves (mean over runs, 95% t band), one line per group."""
    return data_uri(escalation_figure(rounds, group, title))


def round_axis(ax: Axes, rounds: pd.Series) -> None:
    """Integer round ticks over the rounds played, half a round of margin each side (so one
    round is not drawn from 0.945 to 1.05)."""
    lo, hi = int(rounds.min()), int(rounds.max())
    ax.set_xlim(lo - 0.5, hi + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def value_axis(ax: Axes, values: pd.Series) -> None:
    """A sane y range when every value is the same: one unit either side, not a 1e-16 span."""
    finite = values.dropna()
    if finite.empty:
        return
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo < 1e-9:
        ax.set_ylim(lo - 1.0, hi + 1.0)


def escalation_figure(rounds: pd.DataFrame, group: str, title: str) -> Figure:
    """The figure of `escalation_curves`."""
    fig = Figure(figsize=(11, 7.5))
    axes = fig.subplots(2, 2, sharex=True)
    groups = sorted(rounds[group].dropna().unique(), key=str)
    colors = _colors(len(groups))
    styles = ["-", "--", "-.", ":"]
    markers = ["o", "s", "^", "D", "v"]
    for ax, (measure, label) in zip(axes.flat, CURVES, strict=True):
        table = curve_table(rounds, group, measure)
        for k, (g, color) in enumerate(zip(groups, colors, strict=True)):
            t = table[table[group] == g]
            if t.empty:
                continue
            ax.plot(
                t["round"],
                t["mean"],
                marker=markers[k % len(markers)],
                ms=3.5,
                ls=styles[k % len(styles)],
                color=color,
                label=str(g),
            )
            ax.fill_between(t["round"], t["low"], t["high"], color=color, alpha=0.18, lw=0)
        ax.set_title(label, fontsize=10)
        round_axis(ax, rounds["round"])
        value_axis(ax, pd.concat([table["mean"], table["low"], table["high"]]))
        ax.grid(alpha=0.3)
        if measure == "mean_misperception":
            ax.axhline(0, color="grey", lw=0.8)
    for ax in axes[1]:
        ax.set_xlabel("round")
    handles, labels = axes[0][0].get_legend_handles_labels()
    legend_rows = math.ceil(len(labels) / 3)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.subplots_adjust(
        left=0.06,
        right=0.98,
        top=0.92,
        bottom=0.11 + 0.04 * legend_rows,
        hspace=0.22,
        wspace=0.15,
    )
    return fig


def index_by_group(runs: pd.DataFrame, group: str) -> str:
    """Escalation index of every run by group: box plot with the runs as jittered points."""
    groups = sorted(runs[group].dropna().unique(), key=str)
    fig = Figure(figsize=(max(5.0, 1.6 * len(groups) + 2), 3.8))
    ax = fig.subplots()
    data = [runs.loc[runs[group] == g, "escalation_index"].dropna().to_numpy() for g in groups]
    positions = np.arange(1, len(groups) + 1)
    ax.boxplot(
        [d if len(d) else np.array([np.nan]) for d in data],
        positions=positions,
        widths=0.5,
        showfliers=False,
    )
    rng = np.random.default_rng(0)
    for pos, d in zip(positions, data, strict=True):
        ax.scatter(pos + rng.uniform(-0.12, 0.12, len(d)), d, s=12, alpha=0.6)
    ax.set_xticks(positions, [_wrap(str(g)) for g in groups], fontsize=8)
    ax.set_ylabel("escalation index (0-100)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return data_uri(fig)


def dyad_matrix(pairs: pd.DataFrame, states: list[str], value: str) -> np.ndarray:
    """Mean of `value` for observer i (row) toward j (column); NaN on the diagonal."""
    means = pairs.groupby(["i", "j"])[value].mean()
    out = np.full((len(states), len(states)), np.nan)
    for a, i in enumerate(states):
        for b, j in enumerate(states):
            if i != j and (i, j) in means.index:
                out[a, b] = means[(i, j)]
    return out


def _heatmap_size(n_groups: int, n_states: int) -> tuple[float, float]:
    """Width and height in inches of the heatmaps of `n_groups` groups of `n_states` states."""
    size = 1.0 + 0.55 * n_states
    return max(4.5, size * max(1, n_groups) + 1.5), 2 * size + 1.3


def heatmap_width_px(n_groups: int, n_states: int) -> int:
    """The drawn width of `heatmaps` in pixels (CSS pixels at 1x)."""
    return round(_heatmap_size(n_groups, n_states)[0] * DPI)


def heatmaps(pairs: pd.DataFrame, states: list[str], group: str, title: str) -> str:
    """Threat (top row) and misperception (bottom row) i -> j, one column per group."""
    groups = sorted(pairs[group].dropna().unique(), key=str)
    n = max(1, len(groups))
    width, height = _heatmap_size(len(groups), len(states))
    fig = Figure(figsize=(width, height))
    axes = np.array(fig.subplots(2, n, squeeze=False))
    fig.subplots_adjust(
        left=1.0 / width,
        right=1 - 0.3 / width,
        top=1 - 0.8 / height,
        bottom=0.6 / height,
        wspace=0.45,
        hspace=0.4,
    )
    mats = {
        g: (
            dyad_matrix(pairs[pairs[group] == g], states, "threat"),
            dyad_matrix(pairs[pairs[group] == g], states, "misperception"),
        )
        for g in groups
    }
    spread = max(
        [float(np.nanmax(np.abs(m[1]))) for m in mats.values() if np.isfinite(m[1]).any()] + [1.0]
    )
    for col, g in enumerate(groups):
        threat, mis = mats[g]
        for row, (mat, cmap, lo, hi) in enumerate(
            ((threat, "Reds", 0.0, 10.0), (mis, "RdBu_r", -spread, spread))
        ):
            ax = axes[row][col]
            image = ax.imshow(mat, cmap=cmap, vmin=lo, vmax=hi)
            ax.set_xticks(range(len(states)), states, fontsize=8, rotation=45, ha="right")
            ax.set_yticks(range(len(states)), states, fontsize=8)
            for a in range(len(states)):
                for b in range(len(states)):
                    if np.isfinite(mat[a, b]):
                        dark = abs(mat[a, b] - (lo + hi) / 2) > 0.3 * (hi - lo)
                        ax.text(
                            b,
                            a,
                            f"{mat[a, b]:.1f}",
                            ha="center",
                            va="center",
                            fontsize=8,
                            color="white" if dark else "black",
                        )
            if row == 0:
                ax.set_title(_wrap(str(g)), fontsize=8)
            if col == 0:
                ax.set_ylabel(
                    ("threat" if row == 0 else "misperception") + "\nobserver i", fontsize=9
                )
            if col == n - 1:
                fig.colorbar(image, ax=list(axes[row]), shrink=0.8)
    fig.suptitle(title, fontsize=10)
    return data_uri(fig)


def _wrap(text: str, width: int = 28) -> str:
    words = text.replace("/", "/ ").split()
    lines: list[str] = []
    for w in words:
        if lines and len(lines[-1]) + len(w) <= width:
            lines[-1] += ("" if lines[-1].endswith("/") else " ") + w
        else:
            lines.append(w)
    return "\n".join(lines)


def _colors(n: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
