"""Figures a person would rather look at than a table (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_history(history: dict, path: str | Path, title: str = "") -> None:
    """Training loss (left axis) and the validation metric (right axis) per epoch."""
    epochs = history.get("epochs", [])
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    if epochs:
        x = [row["epoch"] for row in epochs]
        ax.plot(x, [row["train_loss"] for row in epochs], "o-", color="tab:blue", label="train loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("train loss", color="tab:blue")
        metric = history.get("valid_metric")
        if metric and metric in epochs[0]:
            ax2 = ax.twinx()
            ax2.plot(x, [row[metric] for row in epochs], "s--", color="tab:orange", label=metric)
            ax2.set_ylabel(metric, color="tab:orange")
            best = history.get("best_epoch", -1)
            if best and best > 0:
                ax2.axvline(best, color="gray", lw=0.8, ls=":")
                ax2.annotate(f"best epoch {best}", (best, history.get("best_valid") or 0), textcoords="offset points", xytext=(4, 6), fontsize=8)
    else:
        ax.text(0.5, 0.5, "no training epochs (nothing to train)", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    ax.set_title(title or "training curves")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
