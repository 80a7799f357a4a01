"""The footer under the evaluation figures logged to MLflow (issue 16): the figure's pixels
kept, a strip of text under them naming the run, the model version and the fingerprint."""

from __future__ import annotations

import io

from PIL import Image

from reprokit.tracking.figure_footer import (
    BACKGROUND,
    FONT_PX,
    footer_text,
    strip_height,
    with_footer,
)


def png(width: int, height: int) -> tuple[bytes, Image.Image]:
    """A figure-like RGBA image (a gradient, so every row differs) and its PNG bytes."""
    image = Image.new("RGBA", (width, height))
    image.putdata([(x % 256, y % 256, 128, 255) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue(), image


def test_the_footer_grows_the_image_by_its_strip_and_keeps_every_original_pixel() -> None:
    original, image = png(320, 90)
    stamped = Image.open(io.BytesIO(with_footer(original, "run 1a2b3c4d · not registered")))
    assert stamped.size == (320, 90 + strip_height())
    assert stamped.crop((0, 0, 320, 90)).tobytes() == image.tobytes()
    strip = stamped.crop((0, 90, 320, 90 + strip_height()))
    inked = [pixel for pixel in strip.getdata() if pixel != BACKGROUND]
    assert inked  # the text is drawn
    rows = {index // 320 for index, pixel in enumerate(strip.getdata()) if pixel != BACKGROUND}
    assert max(rows) - min(rows) + 1 >= FONT_PX - 3  # text about FONT_PX tall, not a speck
    assert FONT_PX >= 11


def test_the_text_names_run_version_and_fingerprint_by_short_ids() -> None:
    run_id, fingerprint = "1a2b3c4d" + "e" * 24, "741d9480" + "f" * 56
    assert footer_text(run_id, fingerprint, "reprokit-credit", "3") == (
        "run 1a2b3c4d · reprokit-credit v3 · fingerprint 741d9480"
    )
    assert footer_text(run_id, fingerprint, "reprokit-credit", None) == (
        "run 1a2b3c4d · not registered · fingerprint 741d9480"
    )
    assert footer_text(run_id, fingerprint, None, None).count("not registered") == 1
