#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What tests/report-svg.sh asks of a picture of `cdmplace report --svg`.

    svg_picture.py well-formed SVG            exit 1 unless SVG is well-formed SVG 1.1 XML
    svg_picture.py color SVG LABEL            the fill of the text that starts with LABEL
                                              ("node 1", "to CDM"); exit 1 when there is none
    svg_picture.py count SVG PNG CLASS COLOR  how many pixels of PNG inside the SVG's rects of
                                              CLASS ("plot", "migrations") have COLOR

COLOR matches within a small distance: anti-aliasing blends a line's edges, not its middle.
The rects' places come from the SVG, so that the test checks what was drawn where the
picture says its plots are, whatever the layout."""
import re
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
    from PIL import Image  # python3-pil; only this check needs it

    image = Image.open(png).convert("RGB")
    if not re.fullmatch("#[0-9a-fA-F]{6}", wanted):
        sys.exit(f"not a color: {wanted!r}")
    target = tuple(int(wanted[i : i + 2], 16) for i in (1, 3, 5))
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
                found += all(abs(pixel[i] - target[i]) <= TOLERANCE for i in range(3))
    return found


def main(argv):
    if len(argv) == 2 and argv[0] == "well-formed":
        parse(argv[1])
    elif len(argv) == 3 and argv[0] == "color":
        print(color(parse(argv[1]), argv[2]))
    elif len(argv) == 5 and argv[0] == "count":
        print(count(parse(argv[1]), argv[2], argv[3], argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
