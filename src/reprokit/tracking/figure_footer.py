"""A footer on each evaluation figure MLflow holds: the run, model version and fingerprint.

The figures DVC tracks (the catalog's figures folder, data/08_reporting/figures) keep the
same bytes for the same config and data, since their md5 is in dvc.lock, so they cannot
name the run that made them. The copies logged to the run can: a figure downloaded from
MLflow and pasted into a report still says which run and model version it shows.

Pure: PNG bytes in, PNG bytes out. Pillow is matplotlib's own image library (a dependency
of matplotlib, which draws the figures), imported only when a footer is drawn.
"""

from __future__ import annotations

import io

# The catalog type of a folder of figures (reprokit.datasets.FiguresDataset).
FIGURES_DATASET_TYPE = "reprokit.datasets.FiguresDataset"
FIGURE_SUFFIX = ".png"
# Small but legible (the issue asks at least 11 px) under a ~700 px wide figure.
FONT_PX = 12
PADDING_PX = 5
BACKGROUND = (255, 255, 255, 255)
INK = (64, 64, 64, 255)
SEPARATOR = " · "
SHORT_ID = 8  # as `reprokit runs` shows run ids; `reprokit reproduce` takes the prefix


def footer_text(run_id: str, fingerprint: str, model: str | None, version: str | None) -> str:
    """`run 1a2b3c4d · reprokit-credit v3 · fingerprint 741d9480` ("not registered" when
    the run registered no version)."""
    registered = f"{model} v{version}" if model and version else "not registered"
    return SEPARATOR.join(
        (f"run {run_id[:SHORT_ID]}", registered, f"fingerprint {fingerprint[:SHORT_ID]}")
    )


def strip_height() -> int:
    """The footer strip's height in pixels: one line of text and its padding."""
    return FONT_PX + 2 * PADDING_PX


def with_footer(png: bytes, text: str) -> bytes:
    """The PNG with a strip drawn under it holding `text`; every pixel of the original
    kept, as RGBA, in the top rows."""
    from PIL import Image, ImageDraw, ImageFont

    with Image.open(io.BytesIO(png)) as opened:
        image = opened.convert("RGBA")
    width, height = image.size
    stamped = Image.new("RGBA", (width, height + strip_height()), BACKGROUND)
    stamped.paste(image, (0, 0))
    font = ImageFont.load_default(size=FONT_PX)
    ImageDraw.Draw(stamped).text((PADDING_PX, height + PADDING_PX), text, fill=INK, font=font)
    out = io.BytesIO()
    stamped.save(out, format="PNG")
    return out.getvalue()
