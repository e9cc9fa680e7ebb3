"""Where browser and poster tests leave their pictures for people to look at."""

from __future__ import annotations

from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"


def shot(name: str) -> str:
    """The path for picture ``name`` (``.png`` added), its folder made on first use."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / f"{name}.png")
