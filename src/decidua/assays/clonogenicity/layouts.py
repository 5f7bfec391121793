"""Dish and multi-well plate geometry used by the CFU counter and the generator.

Dimensions are nominal catalogue values for tissue-culture plastic with the
ANSI/SLAS 1-2004 (SBS) footprint of 127.76 mm x 85.48 mm. Well diameters and
centre-to-centre spacings are those printed on Corning's "Multiple well plate
dimensions" sheet (Costar 3516 / 3513 / 3524); the 35 mm dish has a culture
growth area of about 9 cm2 (inner diameter ~ 34-35 mm). They are used only to
turn a detected dish or well diameter into a pixel scale, so +-1 mm matters
little (a 3 % error in diameter is a 6 % error in a minimum area).
"""

from __future__ import annotations

from dataclasses import dataclass

from decidua.errors import InputError

#: SBS / ANSI-SLAS 1-2004 plate footprint (mm).
SBS_FOOTPRINT_MM = (127.76, 85.48)


@dataclass(frozen=True)
class Layout:
    """Geometry of one vessel type.

    Attributes
    ----------
    name
        ``"dish"``, ``"6-well"``, ``"12-well"``, ``"24-well"``, ``"48-well"``,
        ``"96-well"`` or ``"flask"``.
    rows, cols
        Grid of wells (1 x 1 for a dish).
    well_diameter_mm
        Inner diameter of one well (or the dish) in millimetres.
    pitch_mm
        Centre-to-centre spacing of wells (0 for a dish).
    a1_offset_mm
        (x, y) of well A1's centre from the plate's top-left corner.
    """

    name: str
    rows: int
    cols: int
    well_diameter_mm: float
    pitch_mm: float
    a1_offset_mm: tuple[float, float]

    @property
    def n_wells(self) -> int:
        """Number of wells in the layout."""
        return self.rows * self.cols

    def well_names(self) -> list[str]:
        """Well names in row-major order (``A1``, ``A2`` …; ``dish`` for a dish)."""
        if self.name in ("dish", "flask"):
            return [self.name]
        return [f"{chr(ord('A') + r)}{c + 1}" for r in range(self.rows) for c in range(self.cols)]


#: Nominal geometry per layout (Corning multiple-well plate dimension sheet;
#: 35 mm dish: Corning 430165, growth area 9.6 cm2 -> ~35 mm).
LAYOUTS: dict[str, Layout] = {
    "dish": Layout("dish", 1, 1, 35.0, 0.0, (0.0, 0.0)),
    "6-well": Layout("6-well", 2, 3, 34.8, 39.12, (24.76, 23.16)),
    "12-well": Layout("12-well", 3, 4, 22.1, 26.01, (24.94, 16.79)),
    "24-well": Layout("24-well", 4, 6, 15.6, 19.30, (17.52, 13.67)),
    # 48- and 96-well: well diameter from the growth area (Costar 3548,
    # 0.95 cm2 -> 11.0 mm; Costar 3596, 0.32 cm2 -> 6.4 mm, the bottom of the
    # well a photograph from above sees), spacing and A1 offsets from the
    # same dimension sheet (SBS 96-well pitch 9 mm)
    "48-well": Layout("48-well", 6, 8, 11.0, 13.08, (18.16, 10.08)),
    "96-well": Layout("96-well", 8, 12, 6.4, 9.0, (14.38, 11.24)),
    # T25 flask (Corning 430639, growth area 25 cm2): a rectangle, calibrated
    # by its area; the "diameter" is that of the disc of the same area
    # (2 * sqrt(2500 / pi) = 56.4 mm; a T75's would be 97.7 mm)
    "flask": Layout("flask", 1, 1, 56.42, 0.0, (0.0, 0.0)),
}

#: Growth area of the flask layout (cm2) and the sides drawn by the generator
#: (mm; the aspect is an assumption, only the area calibrates).
FLASK_AREA_CM2 = 25.0
FLASK_SIDES_MM = (63.2, 39.6)


def get_layout(name: str) -> Layout:
    """Return the :class:`Layout` called ``name`` or raise :class:`InputError`.

    Examples
    --------
    >>> lay = get_layout("6-well")
    >>> lay.n_wells, lay.well_names()[:4]
    (6, ['A1', 'A2', 'A3', 'B1'])
    """
    try:
        return LAYOUTS[name]
    except KeyError:
        raise InputError(
            f"unknown layout {name!r}; choose one of {', '.join(LAYOUTS)}", value=name
        ) from None
