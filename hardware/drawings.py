"""The build guide's plain-SVG drawings, from the firmware's pin map: the Pi header, the
breadboard / perma-proto layout and the sensor mounting.

Text is placed so that it cannot collide: the header view has one label per pin row
and side; the layout view labels each off-board wire vertically in its own column (a
column takes at most one such wire per side, or :func:`layout_svg` raises); the
mounting drawing is a fixed composition. A test renders every SVG and checks that no ink
falls outside its viewBox and that no two labels overlap.
"""

from __future__ import annotations

from html import escape

from firmware.config import HardwareConfig
from hardware.netlist import COLUMNS, RAILS, ROWS_BOTTOM, ROWS_TOP, Part, Wire, is_hole

FONT = 'font-family="DejaVu Sans, Verdana, sans-serif"'
# Wire colours as drawn (the table's names -> SVG colours).
COLOUR = {"red": "#d62728", "black": "#222222", "orange": "#ff7f0e", "yellow": "#d4b000",
          "blue": "#1f5fbf", "green": "#2ca02c", "white": "#9a9a9a", "cyan": "#00a5b5",
          "brown": "#8c564b", "grey": "#7f7f7f", "purple": "#7b3fa0",
          "pink (or any spare)": "#e377c2", "pink": "#e377c2"}
SENSOR_SPACING_CM = 4  # the two beads on the pad, centre to centre (the guide says the same)


def text(x: float, y: float, body: str, size: float = 12, anchor: str = "start",
         extra: str = "") -> str:
    return (f'<text x="{x:g}" y="{y:g}" font-size="{size:g}" text-anchor="{anchor}"'
            f'{(" " + extra) if extra else ""}>{escape(body)}</text>')


def svg_open(width: int, height: int, comment: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" {FONT}>', comment,
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']


# -- the header view --------------------------------------------------------------------------

ROLE_COLOUR = {"3V3": "#d62728", "5V": "#ff7f0e", "GND": "#222222"}
SIGNAL_COLOUR = "#1f77b4"
SPI_COLOUR = "#7b3fa0"
SHORT_ROLES = {  # pin_map roles, short enough for the header view
    "MCP3008 CLK": "ADC CLK", "MCP3008 DOUT (MISO)": "ADC DOUT",
    "MCP3008 DIN (MOSI)": "ADC DIN", "MCP3008 CS": "ADC CS", "heat relay": "relay IN",
    "status LED": "LED", "supply feedback": "feedback",
}


def short_role(pin: int, name: str, role: str) -> str:
    if name == "5V":
        return "relay VCC" if pin == 2 else "buzzer +"
    if name == "GND":
        return "relay GND" if pin == 9 else "− rail"
    if name == "3V3":
        return "+ rail"
    return SHORT_ROLES.get(role, role)


def header_svg(names: dict[int, str], uses: dict[int, tuple[str, bool]], comment: str) -> str:
    """``names``: header pin -> name; ``uses``: pin -> (role, is_spi) for the pins used."""
    width, row_h, top = 420, 26, 96
    col_x = (200, 220)
    height = top + 20 * row_h + 78
    out = svg_open(width, height, comment)
    out += [text(width / 2, 26, "Raspberry Pi 40-pin header", 17, "middle",
                 'font-weight="bold"'),
            text(width / 2, 47, "seen from above, USB ports toward you:", 12, "middle",
                 'fill="#444"'),
            text(width / 2, 63, "pin 1 (square solder pad underneath) is top left", 12,
                 "middle", 'fill="#444"'),
            f'<rect x="{col_x[0] - 16}" y="{top - 16}" width="{col_x[1] - col_x[0] + 32}" '
            f'height="{20 * row_h + 6}" rx="5" fill="#2b2b2b"/>']
    for number in range(1, 41):
        row, col = (number - 1) // 2, (number - 1) % 2
        x, y = col_x[col], top + row * row_h
        name = names[number]
        use = uses.get(number)
        if use is None:
            fill, stroke = "#ffffff", "#b0b0b0"
        else:
            fill = ROLE_COLOUR.get(name, SPI_COLOUR if use[1] else SIGNAL_COLOUR)
            stroke = "#000000"
        shape = (f'<rect x="{x - 8}" y="{y - 8}" width="16" height="16"' if number == 1 else
                 f'<circle cx="{x}" cy="{y}" r="8"')
        out.append(f'{shape} fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>')
        role = short_role(number, name, use[0]) if use else ""
        if col == 0:
            anchor, tx, label = "end", x - 22, f"{name} {number}"
            label = f"{role} · {label}" if use else label
        else:
            anchor, tx, label = "start", x + 22, f"{number} {name}"
            label = f"{label} · {role}" if use else label
        style = 'font-weight="bold" fill="#000"' if use else 'fill="#9a9a9a"'
        out.append(text(tx, y + 4, label, 12.5 if use else 11, anchor, style))
    legend_y = top + 20 * row_h + 12
    legend = [("#d62728", "3.3 V"), ("#ff7f0e", "5 V"), ("#222222", "GND"),
              (SIGNAL_COLOUR, "kit GPIO"), (SPI_COLOUR, "SPI to MCP3008"), ("#ffffff", "unused")]
    for i, (colour, label) in enumerate(legend):
        lx = 38 + (i % 3) * 124
        ly = legend_y + (i // 3) * 24
        out.append(f'<circle cx="{lx}" cy="{ly}" r="7" fill="{colour}" stroke="#000" '
                   'stroke-width="1"/>')
        out.append(text(lx + 13, ly + 4, label, 12))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- the breadboard / perma-proto layout --------------------------------------------------------

PITCH = 22
X0 = 150
Y_RAIL = {"T+": 262, "T-": 282, "B+": 544, "B-": 564}
Y_ROW = {r: 312 + i * PITCH for i, r in enumerate(ROWS_TOP)}
Y_ROW.update({r: 428 + i * PITCH for i, r in enumerate(ROWS_BOTTOM)})
TOP_LABEL_Y, BOTTOM_LABEL_Y = 240, 586


def hole_xy(hole: str) -> tuple[float, float]:
    if ":" in hole:
        rail, col = hole.split(":")
        return X0 + (int(col) - 1) * PITCH, Y_RAIL[rail]
    return X0 + (int(hole[1:]) - 1) * PITCH, Y_ROW[hole[0]]


def _board(width: int) -> list[str]:
    right = X0 + (COLUMNS - 1) * PITCH
    out = [f'<rect x="{X0 - 18}" y="{Y_RAIL["T+"] - 14}" width="{right - X0 + 36}" '
           f'height="{Y_RAIL["B-"] - Y_RAIL["T+"] + 28}" rx="6" fill="#f4f1e8" '
           'stroke="#b9b29c"/>']
    for rail, y in Y_RAIL.items():
        colour = "#d62728" if rail.endswith("+") else "#1f5fbf"
        out.append(f'<line x1="{X0 - 10}" y1="{y - 9}" x2="{right + 10}" y2="{y - 9}" '
                   f'stroke="{colour}" stroke-width="1.5"/>')
        out.append(text(X0 - 14, y + 4, "+" if rail.endswith("+") else "−", 12, "end",
                        f'fill="{colour}" font-weight="bold"'))
        out += [f'<rect x="{X0 + i * PITCH - 2.5:g}" y="{y - 2.5}" width="5" height="5" '
                'fill="#8a8a8a"/>' for i in range(COLUMNS)]
    for row, y in Y_ROW.items():
        out.append(text(X0 - 14, y + 4, row, 11, "end", 'fill="#6b6b6b"'))
        out += [f'<rect x="{X0 + i * PITCH - 2.5:g}" y="{y - 2.5}" width="5" height="5" '
                'fill="#8a8a8a"/>' for i in range(COLUMNS)]
    for col in range(1, COLUMNS + 1, 1):
        if col == 1 or col % 5 == 0:
            x = X0 + (col - 1) * PITCH
            out.append(text(x, Y_ROW["a"] - 14, str(col), 9, "middle", 'fill="#6b6b6b"'))
            out.append(text(x, Y_ROW["j"] + 20, str(col), 9, "middle", 'fill="#6b6b6b"'))
    mid = (Y_ROW["e"] + Y_ROW["f"]) / 2
    out.append(f'<rect x="{X0 - 10}" y="{mid - 4}" width="{right - X0 + 20}" height="8" '
               'fill="#e2dccb"/>')
    return out


def _cable(part: Part, used: dict[tuple[int, bool], str]) -> list[str]:
    """A thermistor's two wire ends, running down off the board to the pad."""
    out = []
    for n, (_, hole) in enumerate(part.legs):
        x, y = hole_xy(hole)
        col = int(hole.split(":")[1]) if ":" in hole else int(hole[1:])
        if (col, False) in used:
            raise ValueError(f"two off-board wires in column {col}")
        used[(col, False)] = part.ref
        out.append(f'<line x1="{x:g}" y1="{y:g}" x2="{x:g}" y2="{BOTTOM_LABEL_Y - 4:g}" '
                   'stroke="#2a7f62" stroke-width="2.5" stroke-dasharray="5 3"/>')
        label = f"{part.ref} cable to the pad" if n == 0 else f"{part.ref} other wire"
        out += _off_board_label(x - 8, False, label, "#2a7f62")
    return out


def _two_leg(part: Part) -> list[str]:
    (_, a), (_, b) = part.legs
    (x1, y1), (x2, y2) = hole_xy(a), hole_xy(b)
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    kind = part.ref.rstrip("0123456789")
    colour = {"R": "#c69c6d", "C": "#e0b000", "D": "#cc4444", "LED": "#ff5050",
              "SW": "#555555", "BZ": "#333333", "TH": "#2a7f62"}.get(kind, "#555555")
    out = [f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="#606060" '
           'stroke-width="1.6"/>']
    out.append(f'<circle cx="{mx:g}" cy="{my:g}" r="5.5" fill="{colour}" stroke="#333"/>')
    dx, dy = x2 - x1, y2 - y1
    # the designator beside the body, on the side away from the line
    if abs(dy) >= abs(dx):
        out.append(text(mx + 8, my + 4, part.ref, 10, "start", 'font-weight="bold"'))
    else:
        out.append(text(mx, my - 8, part.ref, 10, "middle", 'font-weight="bold"'))
    return out


def _chip_body(part: Part) -> list[str]:
    xs = [hole_xy(h)[0] for _, h in part.legs]
    left, right = min(xs) - 9, max(xs) + 9
    top, bottom = Y_ROW["e"] - 8, Y_ROW["f"] + 8
    out = [f'<rect x="{left:g}" y="{top:g}" width="{right - left:g}" height="{bottom - top:g}" '
           'rx="3" fill="#2b2b2b"/>',
           f'<circle cx="{left:g}" cy="{(top + bottom) / 2:g}" r="5" fill="#f4f1e8"/>',
           text((left + right) / 2 + 4, (top + bottom) / 2 + 4, f"{part.ref} {part.value}"
                if right - left > 90 else part.ref, 10, "middle", 'fill="#ffffff"')]
    return out


def _transistor(part: Part) -> list[str]:
    xs = [hole_xy(h)[0] for _, h in part.legs]
    y = hole_xy(part.legs[0][1])[1]
    out = [f'<path d="M {min(xs) - 6:g} {y:g} A {(max(xs) - min(xs)) / 2 + 6:g} 12 0 0 1 '
           f'{max(xs) + 6:g} {y:g} Z" fill="#333"/>',
           text(min(xs) - 12, y + 4, part.ref, 10, "end", 'font-weight="bold"')]
    for pin, hole in part.legs:
        x, _ = hole_xy(hole)
        out.append(text(x, y + 14, pin, 8, "middle", 'fill="#333"'))
    return out


def _off_board_label(x: float, top: bool, label: str, colour: str) -> list[str]:
    y = TOP_LABEL_Y if top else BOTTOM_LABEL_Y
    rotate = f'transform="rotate(-90 {x + 4:g} {y:g})"'
    anchor = "start" if top else "end"
    return [text(x + 4, y, label, 10.5, anchor, f'{rotate} fill="{colour}"')]


def layout_svg(parts: list[Part], wires: list[Wire], names: dict[str, str],
               comment: str) -> str:
    """``names``: endpoint -> a short label (``pin 23 CLK``, ``relay IN``...)."""
    width, height = X0 + (COLUMNS - 1) * PITCH + 90, BOTTOM_LABEL_Y + 340
    out = svg_open(width, height, comment)
    out.append(text(16, 26, "Breadboard (or half-size perma-proto) layout", 17, "start",
                    'font-weight="bold"'))
    out.append(text(16, 46, "seen from above; columns 1-30, rows a-j; both + rails 3.3 V, "
                    "both − rails GND", 12, "start", 'fill="#444"'))
    out += _board(width)
    used_columns: dict[tuple[int, bool], str] = {}
    for wire in wires:
        out += _wire(wire, names, used_columns)
    for part in parts:
        if part.ref.startswith("TH"):
            out += _cable(part, used_columns)
        elif part.ref.startswith("U"):
            out += _chip_body(part)
        elif part.ref.startswith("Q"):
            out += _transistor(part)
        else:
            out += _two_leg(part)
    out += _off_board_notes(wires, names, width, height)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _is_rail(name: str) -> bool:
    return ":" in name and name.split(":")[0] in RAILS


def _wire(wire: Wire, names: dict[str, str], used: dict[tuple[int, bool], str]) -> list[str]:
    colour = COLOUR.get(wire.colour, "#444")
    if _is_rail(wire.a) and _is_rail(wire.b):  # a bridge between rails, round the board's end
        (x1, y1), (x2, y2) = hole_xy(wire.a), hole_xy(wire.b)
        edge = X0 + (COLUMNS - 1) * PITCH + (28 if wire.a.endswith("+:30") else 44)
        return [f'<polyline points="{x1:g},{y1:g} {edge:g},{y1:g} {edge:g},{y2:g} {x2:g},{y2:g}" '
                f'fill="none" stroke="{colour}" stroke-width="3"/>']
    if is_hole(wire.a) and is_hole(wire.b):
        (x1, y1), (x2, y2) = hole_xy(wire.a), hole_xy(wire.b)
        return [f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="{colour}" '
                'stroke-width="3" stroke-linecap="round"/>']
    if not (is_hole(wire.a) or is_hole(wire.b)):
        return []  # off the board entirely (the pad loop): listed in the notes
    return _off_board_wire(wire, colour, names, used)


def _off_board_wire(wire: Wire, colour: str, names: dict[str, str],
                    used: dict[tuple[int, bool], str]) -> list[str]:
    hole, end = (wire.a, wire.b) if is_hole(wire.a) else (wire.b, wire.a)
    x, y = hole_xy(hole)
    top = y < (Y_ROW["e"] + Y_ROW["f"]) / 2
    col = int(hole.split(":")[1]) if ":" in hole else int(hole[1:])
    if end.startswith("K1:") and end != "K1:NO":  # the relay module sits to the left
        return [f'<polyline points="{x:g},{y:g} {X0 - 30:g},{y:g}" fill="none" '
                f'stroke="{colour}" stroke-width="3"/>',
                text(X0 - 34, y + 4, names.get(end, end), 10.5, "end")]
    if (col, top) in used:
        raise ValueError(f"two off-board wires in column {col} ({used[(col, top)]}, {end})")
    used[(col, top)] = end
    edge = TOP_LABEL_Y + 4 if top else BOTTOM_LABEL_Y - 4
    label = names.get(end, end) + (" (thin wire)" if "thin wire" in wire.note else "")
    return [f'<line x1="{x:g}" y1="{y:g}" x2="{x:g}" y2="{edge:g}" stroke="{colour}" '
            'stroke-width="3" stroke-linecap="round"/>',
            *_off_board_label(x - 8, top, label, "#111")]


def _off_board_notes(wires: list[Wire], names: dict[str, str], width: int,
                     height: int) -> list[str]:
    lines = ["Off the board (0.5 mm² wire):"]
    lines += [f"{names.get(w.a, w.a)} → {names.get(w.b, w.b)}" for w in wires
              if not is_hole(w.a) and not is_hole(w.b) and w.group == "pad"]
    lines += ["Relay module: VCC ← Pi pin 2 (5V), GND ← Pi pin 9 (GND)."]
    x, y = 16, BOTTOM_LABEL_Y + 196
    out = [text(x, y, lines[0], 11, "start", 'font-weight="bold"')]
    for i, line in enumerate(lines[1:], 1):
        out.append(text(x, y + 18 * i, line, 10.5))
    return out


# -- the sensor mounting ------------------------------------------------------------------------

def mounting_svg(config: HardwareConfig, comment: str) -> str:
    """Top view of the pad's inner face and a cross-section, with both beads."""
    from hardware.netlist import MCP3008_PIN  # noqa: F401 - the same chip everywhere

    width, height = 760, 560
    out = svg_open(width, height, comment)
    out.append(text(20, 28, "Mounting the thermistors on the pad", 17, "start",
                    'font-weight="bold"'))
    out.append(text(20, 48, "the pad's inner face (the side against the neck), seen from "
                    "that side", 12, "start", 'fill="#444"'))
    # the pad, 20 x 10 cm at 2.4 px/mm
    px = 2.4
    pad_x, pad_y, pad_w, pad_h = 60, 80, 200 * px, 100 * px
    out.append(f'<rect x="{pad_x}" y="{pad_y}" width="{pad_w:g}" height="{pad_h:g}" rx="14" '
               'fill="#f3e3d3" stroke="#8a6d4f" stroke-width="2"/>')
    out.append(f'<rect x="{pad_x + 20}" y="{pad_y + 20}" width="{pad_w - 40:g}" '
               f'height="{pad_h - 40:g}" rx="8" fill="none" stroke="#c98c55" '
               'stroke-dasharray="6 4"/>')
    out.append(text(pad_x + 28, pad_y + 38, "heating area", 11, "start", 'fill="#8a6d4f"'))
    cx, cy = pad_x + pad_w / 2, pad_y + pad_h / 2
    gap = SENSOR_SPACING_CM * 10 * px
    beads = {spec.index: (cx - gap / 2 + (spec.index - 1) * gap, cy) for spec in config.sensors()}
    cable_y = cy + 46
    edge_x = pad_x + pad_w
    for index, (bx, by) in beads.items():
        out.append(f'<rect x="{bx - 22:g}" y="{by - 16:g}" width="44" height="32" '
                   'fill="#f7c96a" fill-opacity="0.7" stroke="#b8892e"/>')
        out.append(f'<circle cx="{bx:g}" cy="{by:g}" r="5" fill="#2a7f62"/>')
        out.append(f'<polyline points="{bx:g},{by + 5:g} {bx:g},{cable_y + index * 6:g} '
                   f'{edge_x + 30:g},{cable_y + index * 6:g}" fill="none" stroke="#2a7f62" '
                   'stroke-width="2"/>')
        channel = next(s.channel for s in config.sensors() if s.index == index)
        first = index == 1  # the labels read outward, so two beads 4 cm apart never collide
        out.append(text(bx + (12 if first else -12), by - 24,
                        f"thermistor {index} → CH{channel}", 11, "end" if first else "start",
                        'font-weight="bold"'))
    if len(beads) == 2:
        y = cy - 52
        (x1, _), (x2, _) = beads[1], beads[2]
        out.append(f'<line x1="{x1:g}" y1="{y:g}" x2="{x2:g}" y2="{y:g}" stroke="#444" '
                   'marker-start="url(#a)" marker-end="url(#a)"/>')
        out.append(text((x1 + x2) / 2, y - 6, f"{SENSOR_SPACING_CM} cm", 11, "middle"))
    # the cutoff on the outer face, behind the sensors (dashed: the far side)
    out.append(f'<circle cx="{cx:g}" cy="{cy + 86:g}" r="22" fill="none" stroke="#b00000" '
               'stroke-dasharray="4 3" stroke-width="1.6"/>')
    out.append(text(cx + 30, cy + 90, "thermal cutoff, on the outer face", 11, "start",
                    'fill="#b00000"'))
    tie_x = edge_x - 16
    out.append(f'<rect x="{tie_x:g}" y="{cable_y:g}" width="8" height="20" rx="2" '
               'fill="#555"/>')
    out.append(text(edge_x + 34, cable_y + 12, "strain relief at the pad end:", 11))
    out.append(text(edge_x + 34, cable_y + 28, "cable tied/stitched to the pad", 11))
    out.append(text(edge_x + 34, cable_y + 44, "→ to the kit (twisted pairs)", 11))
    out += _cross_section(pad_y + pad_h + 60)
    out.insert(3, '<defs><marker id="a" viewBox="0 0 10 10" refX="5" refY="5" '
               'markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
               '<path d="M 0 0 L 10 5 L 0 10 z" fill="#444"/></marker></defs>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _cross_section(y0: float) -> list[str]:
    out = [text(20, y0, "Cross-section through a bead (not to scale)", 13, "start",
                'font-weight="bold"')]
    layers = [("neck side: a thin cloth between the pad and the skin", "#e9e2f5", 14),
              ("thin insulating cover: one layer of polyimide (Kapton) tape", "#f7c96a", 8),
              ("bead, flat on the pad; its leads along the pad", "#2a7f62", 10),
              ("heat pad (its own fabric cover and heating element)", "#f3e3d3", 22),
              ("outer face: thermal cutoff taped flat, behind the beads", "#f2c0c0", 14)]
    y = y0 + 16
    for label, colour, h in layers:
        out.append(f'<rect x="60" y="{y:g}" width="300" height="{h}" fill="{colour}" '
                   'stroke="#777"/>')
        out.append(text(376, y + h / 2 + 4, label, 11))
        y += h + 6
    return out
