"""Byte counts as an operator reads them."""

from __future__ import annotations


def human_bytes(size: float) -> str:
    """`512 B`, `1.50 KiB`, ... up to GiB (larger sizes stay in GiB)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
