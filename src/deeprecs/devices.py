"""Where tensors live: ``--device auto|cpu|cuda|cuda:N|mps``, resolved once, checked with a clear error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deeprecs.errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICE_HELP = "auto (CUDA when available, else the CPU), cpu, cuda, cuda:N or mps"


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The device ``spec`` names, after checking that this machine has it; ``auto``/``None``:
    the first CUDA device when there is one, else the CPU. A missing device is a
    :class:`~deeprecs.errors.ConfigError` that says what this build of torch can use."""
    import torch  # here, not at import: the CLI starts without torch

    if isinstance(spec, torch.device):
        spec = str(spec)
    text = (spec or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise ConfigError(f"--device {spec!r} is not a device; use {DEVICE_HELP}") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__}" + (", a CPU-only build" if torch.version.cuda is None else "")
            raise ConfigError(f"--device {spec}: CUDA is not available on this machine ({build}); use --device cpu "
                              "(or auto), or install a CUDA build of torch (README, 'GPUs')")
        index = 0 if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                              f"(cuda:0 .. cuda:{torch.cuda.device_count() - 1})")
        return torch.device("cuda", index)
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"--device {spec}: Apple's MPS is not available on this machine; use --device cpu")
        return torch.device("mps")
    raise ConfigError(f"--device {spec!r} is not supported; use {DEVICE_HELP}")


def available_devices() -> list[torch.device]:
    """Every kind of device this machine can compute on: the CPU, the first CUDA device, MPS."""
    import torch

    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found.append(torch.device("cuda", 0))
    if torch.backends.mps.is_available():
        found.append(torch.device("mps"))
    return found


def float64_ok(device: torch.device) -> bool:
    """Whether ``device`` computes in float64 (MPS does not)."""
    return device.type != "mps"


def synchronize(device: torch.device) -> None:
    """Wait for ``device``'s queued work (for honest timings)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


__all__ = ["DEVICE_HELP", "available_devices", "float64_ok", "resolve_device", "synchronize"]
