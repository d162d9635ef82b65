"""An HTML report comparing run directories (``deeprecs report``): :func:`build_report`."""

from deeprecs.report.page import build_report

__all__ = ["build_report"]
