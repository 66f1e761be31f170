"""A made-up dashboard screenshot for the seeded sign-offs (drawn with Pillow, no files shipped)."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1280, 800
INK, MUTED, LINE = (28, 37, 48), (96, 110, 125), (214, 221, 228)
BRAND, GOOD, BAD = (36, 52, 71), (24, 128, 56), (192, 43, 43)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1 has one bitmap size only
        return ImageFont.load_default()


def dashboard_png(*, title: str, subtitle: str, rows: list[tuple[str, str, bool]], seed: int = 7) -> bytes:
    """A PNG that looks like a monitoring dashboard: a header, a chart, and a table of (name, value, ok) rows."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (246, 248, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 64), fill=BRAND)
    draw.text((24, 18), title, fill=(255, 255, 255), font=_font(26))
    draw.text((24, 84), subtitle, fill=MUTED, font=_font(18))

    # A request-rate chart: a wobbly line over a grid.
    left, top, right, bottom = 24, 124, WIDTH - 24, 444
    draw.rectangle((left, top, right, bottom), fill=(255, 255, 255), outline=LINE)
    for y in range(top + 40, bottom, 40):
        draw.line((left, y, right, y), fill=LINE)
    rng = random.Random(seed)
    points, level = [], 0.55
    for x in range(left + 10, right - 10, 16):
        level = min(0.9, max(0.2, level + rng.uniform(-0.06, 0.06)))
        points.append((x, bottom - level * (bottom - top)))
    draw.line(points, fill=(11, 94, 215), width=3)
    draw.text((left + 12, top + 8), "Requests per minute (last 24 h)", fill=MUTED, font=_font(16))

    # The table the reviewer actually looks at.
    y = 472
    for name, value, ok in rows:
        draw.rectangle((24, y, WIDTH - 24, y + 48), fill=(255, 255, 255), outline=LINE)
        draw.ellipse((40, y + 16, 56, y + 32), fill=GOOD if ok else BAD)
        draw.text((72, y + 13), name, fill=INK, font=_font(18))
        draw.text((WIDTH - 360, y + 13), value, fill=INK, font=_font(18))
        y += 56
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
