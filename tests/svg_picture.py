#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What tests/report-svg.sh asks of a picture of `cdmplace report --svg`.

    svg_picture.py well-formed SVG            exit 1 unless SVG is well-formed SVG 1.1 XML
    svg_picture.py color SVG LABEL            the fill of the text that starts with LABEL
                                              ("node 1", "to CDM"); exit 1 when there is none
    svg_picture.py count SVG PNG CLASS COLOR  how many pixels of PNG inside the SVG's rects of
                                              CLASS ("plot", "migrations") have COLOR
    svg_picture.py texts SVG                  every text's content, a line each
    svg_picture.py outside SVG                the texts that run past the canvas, measured in
                                              the font fontconfig gives for "DejaVu Sans" (as
                                              Chromium draws them); exit 1 when there is one
    svg_picture.py margin PNG COLUMNS         how many pixels of PNG's rightmost COLUMNS are
                                              not the background: a line cut by the canvas
    svg_picture.py bars SVG COLOR             the heights of the rects of COLOR inside the
                                              rects of class "migrations", left to right
    svg_picture.py bars SVG PNG COLOR         the same bars as drawn: for each run of columns
                                              of PNG with pixels of COLOR inside the strip,
                                              how many rows have one

COLOR matches within a small distance: anti-aliasing blends a line's edges, not its middle.
The rects' places come from the SVG, so that the test checks what was drawn where the
picture says its plots are, whatever the layout."""
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

SVG = "{http://www.w3.org/2000/svg}"
TOLERANCE = 12  # per channel


def parse(path):
    root = ElementTree.parse(path).getroot()
    if root.tag != SVG + "svg" or root.get("version") != "1.1":
        sys.exit(f"{path}: the root is {root.tag} version {root.get('version')}, not SVG 1.1")
    return root


def color(root, label):
    for text in root.iter(SVG + "text"):
        if "".join(text.itertext()).startswith(label):
            return text.get("fill")
    sys.exit(f"no text starting with {label!r}")


def count(root, png, kind, wanted):
    from PIL import Image  # python3-pil

    image = Image.open(png).convert("RGB")
    target = rgb(wanted)
    pixels = image.load()
    found = 0
    for rect in root.iter(SVG + "rect"):
        if rect.get("class") != kind:
            continue
        x, y = float(rect.get("x")), float(rect.get("y"))
        w, h = float(rect.get("width")), float(rect.get("height"))
        for row in range(max(0, int(y)), min(image.height, int(y + h) + 1)):
            for column in range(max(0, int(x)), min(image.width, int(x + w) + 1)):
                pixel = pixels[column, row]
                found += near(pixel, target)
    return found


def rgb(wanted):
    if not re.fullmatch("#[0-9a-fA-F]{6}", wanted or ""):
        sys.exit(f"not a color: {wanted!r}")
    return tuple(int(wanted[i : i + 2], 16) for i in (1, 3, 5))


def near(pixel, target):
    return all(abs(pixel[i] - target[i]) <= TOLERANCE for i in range(3))


def texts(root):
    return ["".join(text.itertext()) for text in root.iter(SVG + "text")]


def outside(root):
    from PIL import ImageFont  # python3-pil

    width = float(root.get("width"))
    fonts = {}
    found = []
    for text in root.iter(SVG + "text"):
        bold = text.get("font-weight") == "bold"
        size = float(text.get("font-size", root.get("font-size")))
        if (bold, size) not in fonts:
            pattern = "DejaVu Sans:bold" if bold else "DejaVu Sans"
            path = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True,
                                  text=True, check=True).stdout
            fonts[bold, size] = ImageFont.truetype(path, round(size))
        content = "".join(text.itertext())
        length = fonts[bold, size].getlength(content) * size / round(size)
        anchor = {"middle": 0.5, "end": 1.0}.get(text.get("text-anchor"), 0.0)
        left = float(text.get("x")) - anchor * length
        if left < 0 or left + length > width:
            found.append(f"{left:.0f}..{left + length:.0f} of {width:.0f}: {content}")
    return found


def margin(png, columns):
    from PIL import Image  # python3-pil

    image = Image.open(png).convert("RGB")
    pixels = image.load()
    background = pixels[image.width - 1, 0]
    return sum(pixels[x, y] != background for x in range(image.width - columns, image.width)
               for y in range(image.height))


def strips(root):
    for rect in root.iter(SVG + "rect"):
        if rect.get("class") == "migrations":
            x, y = float(rect.get("x")), float(rect.get("y"))
            yield x, y, x + float(rect.get("width")), y + float(rect.get("height"))


def bars_drawn(root, wanted):
    heights = []
    for left, top, right, bottom in strips(root):
        for rect in root.iter(SVG + "rect"):
            x, y = float(rect.get("x", 0)), float(rect.get("y", 0))
            if (rect.get("fill") == wanted and left <= x < right and top <= y < bottom):
                heights.append((x, float(rect.get("height"))))
    return [height for x, height in sorted(heights)]


def bars_seen(root, png, wanted):
    from PIL import Image  # python3-pil

    image = Image.open(png).convert("RGB")
    pixels = image.load()
    target = rgb(wanted)
    heights = []
    for left, top, right, bottom in strips(root):
        run = 0
        for column in range(int(left), int(right) + 1):
            rows = sum(near(pixels[column, row], target) for row in range(int(top), int(bottom)))
            if rows:
                run = max(run, rows)
            elif run:
                heights.append(run)
                run = 0
        if run:
            heights.append(run)
    return heights


def main(argv):
    if len(argv) == 2 and argv[0] == "well-formed":
        parse(argv[1])
    elif len(argv) == 3 and argv[0] == "color":
        print(color(parse(argv[1]), argv[2]))
    elif len(argv) == 5 and argv[0] == "count":
        print(count(parse(argv[1]), argv[2], argv[3], argv[4]))
    elif len(argv) == 2 and argv[0] == "texts":
        print("\n".join(texts(parse(argv[1]))))
    elif len(argv) == 2 and argv[0] == "outside":
        found = outside(parse(argv[1]))
        if found:
            sys.exit("\n".join(found))
    elif len(argv) == 3 and argv[0] == "margin":
        print(margin(argv[1], int(argv[2])))
    elif len(argv) == 3 and argv[0] == "bars":
        print(" ".join(f"{height:g}" for height in bars_drawn(parse(argv[1]), argv[2])))
    elif len(argv) == 4 and argv[0] == "bars":
        print(" ".join(str(height) for height in bars_seen(parse(argv[1]), argv[2], argv[3])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
