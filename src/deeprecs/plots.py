"""Figures a person would rather look at than a table (matplotlib, headless)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

LOSS_COLOR, VALID_COLOR = "tab:blue", "tab:orange"


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (validation and test metric names)."""
    name = metric.removeprefix("valid_").split("@")[0]
    return name in {"auc", "ndcg", "hr", "precision", "recall", "map", "mrr", "coverage"}


def _member_rows(epochs: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by blend member (``""`` for an ordinary single-model history)."""
    groups: dict[str, list[dict]] = {}
    for row in epochs:
        groups.setdefault(str(row.get("member", "")), []).append(row)
    return groups


def plot_history(history: dict, path: str | Path, title: str = "") -> None:
    """Training loss (left axis) and the validation metric (right axis) per epoch, with the
    best (restored) epoch marked."""
    epochs = history.get("epochs", [])
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    ax.set_title(title or "training curves")
    if epochs:
        groups = _member_rows(epochs)
        handles = []
        for n, (member, rows) in enumerate(groups.items()):
            label = f"train loss ({member})" if member else "train loss"
            style = "o-" if n == 0 else "o-."
            handles += ax.plot([r["epoch"] for r in rows], [r["train_loss"] for r in rows], style, color=LOSS_COLOR, ms=4, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("train loss", color=LOSS_COLOR)
        ax.tick_params(axis="y", colors=LOSS_COLOR)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        metric = history.get("valid_metric")
        if metric and len(groups) == 1 and metric in epochs[0]:
            ax2 = ax.twinx()
            x = [r["epoch"] for r in epochs]
            better = "higher" if higher_is_better(metric) else "lower"
            handles += ax2.plot(x, [r[metric] for r in epochs], "s--", color=VALID_COLOR, ms=4, label=f"{metric} ({better} is better)")
            ax2.set_ylabel(metric, color=VALID_COLOR)
            ax2.tick_params(axis="y", colors=VALID_COLOR)
            best = history.get("best_epoch", -1)
            best_row = next((r for r in epochs if r["epoch"] == best), None)
            if best_row is not None:
                ax.axvline(best, color="gray", lw=0.8, ls=":")
                handles += ax2.plot([best], [best_row[metric]], "*", color="tab:red", ms=13, label=f"best epoch {best}: {best_row[metric]:.4f}")
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    else:
        ax.text(0.5, 0.5, "no training epochs (nothing to train)", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def png_bytes(fig, dpi: int = 100) -> bytes:
    """Render ``fig`` to PNG bytes and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()
