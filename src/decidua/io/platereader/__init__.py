"""Plate-reader files -> ELISA plate records (:class:`decidua.assays.elisa.PlateData`).

Formats (``fmt=``; ``"auto"`` sniffs the content):

- ``"softmax"`` — Molecular Devices SoftMax Pro text export (``##BLOCKS=``;
  UTF-16 or UTF-8): plate blocks (plate or time format, several
  wavelengths, raw or reduced), group tables (standards with their
  concentration column, unknowns, controls, blanks; ``Masked`` wells).
  With two or more wavelengths and raw data, the last wavelength is the
  reference and is subtracted from the first.
- ``"gen5"`` — BioTek / Agilent Gen5 text export: ``Layout`` (Well ID +
  Conc/Dil), result matrices (the ``Blank ...`` matrix when Gen5 did blank
  subtraction), Gen5's own curve fit and concentrations kept in ``meta``.
- ``"grid"`` — plain 8 x 12 (or 16 x 24) OD grids in CSV or XLSX (rows
  labelled A-H, columns 1-12); several grids labelled with wavelengths
  (e.g. ``450`` and ``570``): the longer wavelength is the reference and is
  subtracted. Needs a plate map.

A plate map (:func:`read_plate_map`, CSV) assigns roles, concentrations,
dilutions and sample ids and overrides what the file says.
"""

from decidua.io.platereader.common import ReadPlate, read_plate_map, to_plate_data
from decidua.io.platereader.gen5 import read_gen5
from decidua.io.platereader.grid import read_grid
from decidua.io.platereader.sniff import read_plates
from decidua.io.platereader.softmax import read_softmax

__all__ = [
    "ReadPlate", "read_gen5", "read_grid", "read_plate_map", "read_plates", "read_softmax",
    "to_plate_data",
]
