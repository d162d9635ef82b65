"""The report's figures, each rendered to PNG bytes (matplotlib, headless).

Every run keeps one colour across figures: ``run_color(i)`` for the i-th run on the page.
"""

from __future__ import annotations

import numpy as np

from matplotlib import colors as matplotlib_colors

from deeprecs.plots import higher_is_better, plt, png_bytes
from deeprecs.report.run_info import RunInfo

N_GENRE_COLORS = 12  # the most frequent primary genres get a colour; the rest are "other"


def run_color(i: int):
    return plt.get_cmap("tab10")(i % 10)


def _epoch_rows(run: RunInfo) -> list[dict]:
    """Per-epoch rows; a blend's members are chained one after another on the x axis."""
    rows = run.history.get("epochs", [])
    if any("member" in r for r in rows):
        return [{**r, "epoch": n + 1} for n, r in enumerate(rows)]
    return rows


def loss_curves(runs: list[RunInfo]) -> bytes | None:
    """Train loss, and each validation metric, per epoch: all runs overlaid, best epoch starred."""
    with_rows = [(i, r) for i, r in enumerate(runs) if _epoch_rows(r)]
    if not with_rows:
        return None
    metrics = []
    for _, r in with_rows:
        m = r.history.get("valid_metric")
        if m and m in _epoch_rows(r)[0] and m not in metrics:
            metrics.append(m)
    fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(5.2 * (1 + len(metrics)), 3.6), squeeze=False)
    axes = axes[0]
    for i, r in with_rows:
        rows = _epoch_rows(r)
        x = [row["epoch"] for row in rows]
        axes[0].plot(x, [row["train_loss"] for row in rows], "o-", ms=3, color=run_color(i), label=r.label)
        m = r.history.get("valid_metric")
        if m in metrics:
            ax = axes[1 + metrics.index(m)]
            ax.plot(x, [row[m] for row in rows], "s--", ms=3, color=run_color(i), label=r.label)
            best = next((row for row in rows if row["epoch"] == r.history.get("best_epoch")), None)
            if best is not None:
                ax.plot([best["epoch"]], [best[m]], "*", ms=12, color=run_color(i), mec="black", mew=0.5)
    losses = [row["train_loss"] for _, r in with_rows for row in _epoch_rows(r)]
    if min(losses) > 0 and max(losses) / min(losses) > 20:
        axes[0].set_yscale("log")  # rating (MSE) and ranking (BCE) losses differ by orders of magnitude
    axes[0].set_title("train loss (each run's own loss)")
    for ax, m in zip(axes[1:], metrics):
        ax.set_title(f"{m} ({'higher' if higher_is_better(m) else 'lower'} is better; ★ best epoch)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.04 * ((len(labels) - 1) // 4), 1, 1))
    return png_bytes(fig)


def metric_scatter(runs: list[RunInfo]) -> bytes | None:
    """Each run's main metric against its fit time: one panel per main metric."""
    points = [(i, r, r.main_metric) for i, r in enumerate(runs)]
    points = [(i, r, m) for i, r, m in points if m and isinstance(r.metrics.get("fit_seconds"), (int, float))]
    if not points:
        return None
    metrics = list(dict.fromkeys(m for _, _, m in points))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.6 * len(metrics), 3.8), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        mine = [(i, r) for i, r, mm in points if mm == m]
        xs = [max(r.metrics["fit_seconds"], 1e-3) for _, r in mine]
        for (i, r), x in zip(mine, xs):
            ax.scatter([x], [r.metrics[m]], s=60, color=run_color(i), edgecolor="black", linewidth=0.5, zorder=3)
            ax.annotate(r.name, (x, r.metrics[m]), textcoords="offset points", xytext=(6, 4), fontsize=8)
        if max(xs) / min(xs) > 20:
            ax.set_xscale("log")
        ax.margins(0.25)
        better = "higher" if higher_is_better(m) else "lower"
        ax.set_title(f"test {m} vs fit time ({better} {m} and further left are better)", fontsize=9)
        ax.set_xlabel("fit time (s)")
        ax.set_ylabel(m)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return png_bytes(fig)


def tuning_trials(run: RunInfo) -> bytes:
    """A tuned run's search (``tuning.json``): each trial's validation value in order, the best so
    far as a line, the chosen trial starred; and, for each searched option, value against the metric."""
    tuning = run.tuning
    trials = [t for t in tuning["trials"] if t.get("value") is not None]
    options = list(dict.fromkeys(k for t in trials for k in (*t["model_options"], *t["train_options"])))
    higher = tuning.get("direction", "maximize") == "maximize"
    fig, axes = plt.subplots(1, 1 + min(len(options), 3), figsize=(4.6 * (1 + min(len(options), 3)), 3.4), squeeze=False)
    axes = axes[0]
    x = [t["number"] for t in trials]
    y = [t["value"] for t in trials]
    best = (np.maximum if higher else np.minimum).accumulate(y)
    axes[0].plot(x, y, "o", ms=4, alpha=0.6, label="trial")
    axes[0].plot(x, best, "-", color="black", lw=1.2, label="best so far")
    chosen = tuning["best"]
    axes[0].plot([chosen["number"]], [chosen["value"]], "*", ms=14, color="gold", mec="black", mew=0.6, label="chosen")
    axes[0].set_title(f"{run.name}: {tuning['metric']} per trial ({'higher' if higher else 'lower'} is better)", fontsize=9)
    axes[0].set_xlabel("trial")
    axes[0].legend(fontsize=7, frameon=False)
    for ax, name in zip(axes[1:], options[:3]):
        pairs = [({**t["model_options"], **t["train_options"]}.get(name), t["value"]) for t in trials]
        pairs = [(v, m) for v, m in pairs if isinstance(v, (int, float)) and not isinstance(v, bool)]
        ax.scatter([v for v, _ in pairs], [m for _, m in pairs], s=14, alpha=0.7)
        values = [v for v, _ in pairs]
        if values and min(values) > 0 and max(values) / min(values) > 20:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_title(f"{tuning['metric']} against {name}", fontsize=9)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return png_bytes(fig)


def embedding_boxplot(emb: np.ndarray, n_dims: int = 16, title: str = "") -> bytes:
    """Box plots of the first ``n_dims`` embedding dimensions (whiskers 1.5 IQR, outliers dotted)."""
    k = min(n_dims, emb.shape[1])
    fig, ax = plt.subplots(figsize=(max(3.5, 0.3 * k + 1.2), 3.0))
    ax.boxplot([emb[:, j] for j in range(k)], tick_labels=[str(j) for j in range(k)], widths=0.6,
               flierprops={"marker": ".", "markersize": 2, "alpha": 0.4}, medianprops={"color": "tab:orange"})
    ax.axhline(0, color="gray", lw=0.6)
    ax.set_xlabel(f"dimension (first {k} of {emb.shape[1]})")
    ax.set_ylabel("value")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return png_bytes(fig)


def genre_colours(genres: np.ndarray) -> tuple[np.ndarray, list[tuple[str, tuple]]]:
    """``(legend entry of each point (n,), legend [(label, colour)])``: the :data:`N_GENRE_COLORS`
    most frequent genres (most frequent first, ties alphabetical) get a colour each; the rest and
    the unknown (``""``) share light gray, the legend's last entry ``"other / unknown"``."""
    names, counts = np.unique(genres, return_counts=True)
    coloured = [n for n in names[np.argsort(-counts, kind="stable")] if n][:N_GENRE_COLORS]
    palette = [plt.get_cmap("tab20")(j) for j in (*range(0, 20, 2), *range(1, 20, 2))]  # dark shades first
    legend = [(g, palette[n]) for n, g in enumerate(coloured)] + [("other / unknown", matplotlib_colors.to_rgba("lightgray"))]
    position = {g: n for n, g in enumerate(coloured)}
    entry = np.array([position.get(g, len(coloured)) for g in genres], dtype=np.int64)
    return entry, legend


def item_map(coords: np.ndarray, genres: np.ndarray | None, labels: list[tuple[int, str]], axis: str, title: str) -> bytes:
    """Items as points in 2-D, coloured by primary genre; ``labels``: ``(row, text)`` to annotate."""
    fig, ax = plt.subplots(figsize=(8.6, 6.4))
    if genres is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=6, alpha=0.5, color="tab:blue", linewidths=0)
    else:
        entry, legend = genre_colours(genres)
        for n, (genre, colour) in reversed(list(enumerate(legend))):  # "other / unknown" (last) drawn first, underneath
            mask = entry == n
            if mask.any():
                other = n == len(legend) - 1
                ax.scatter(coords[mask, 0], coords[mask, 1], s=6 if other else 7, alpha=0.35 if other else 0.7, color=colour,
                           linewidths=0, label=genre if other else f"{genre} ({int(mask.sum())})")
        handles, texts = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], texts[::-1], loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, markerscale=2.5, frameon=False,
                  title="primary genre", title_fontsize=8)
    for (row, text), offset in zip(labels, _label_offsets(ax, coords[[r for r, _ in labels]], [t[:32] for _, t in labels])):
        ax.scatter([coords[row, 0]], [coords[row, 1]], s=28, facecolor="none", edgecolor="black", linewidth=0.8, zorder=3)
        ax.annotate(text[:32], coords[row], textcoords="offset points", xytext=offset, fontsize=7,
                    arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "gray"} if offset[1] != 3 else None,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75}, zorder=4)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(f"{axis}: axis 1")
    ax.set_ylabel("axis 2")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return png_bytes(fig)


def _label_offsets(ax, points: np.ndarray, texts: list[str]) -> list[tuple[float, float]]:
    """Text offsets (points) that keep labels from overlapping: each label moves up or down
    in steps of one line until its (estimated) box is clear of those already placed."""
    ax.autoscale_view()
    to_pt = 72.0 / ax.figure.dpi
    xy = ax.transData.transform(points) * to_pt  # anchor positions in points
    placed: list[tuple[float, float, float, float]] = []
    offsets = []
    for (x, y), text in zip(xy, texts):
        width, height = 4.4 * len(text) + 4, 10.0
        for step in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6):
            box = (x + 4, y + 3 + step * height, x + 4 + width, y + 3 + (step + 1) * height)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        offsets.append((4.0, 3.0 + step * height))
    return offsets
