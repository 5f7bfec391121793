"""The references Decidua ships, each labelled with what it is and is not.

- The six timing genes by **reported LH day**, fitted on EndoTime's training
  data (257 biopsies of Implantation Research Clinic patients, Lipecki et al.,
  Hum Reprod 2022): *clinic-population* centiles, not "normal". LH day, not the
  estimated day, since a day estimated from the same genes would be circular.
  The ΔCt are raw (not batch corrected), as a new plate's ΔCq are; checked on
  pooled leave-one-batch-out predictions (``tests/reference``).
- **uNK %** at LH+7-9 under the Sheffield CD56 immunohistochemistry count:
  the control range of Tuckerman et al., Hum Reprod 2007 (n = 10; 2.2-13.9 %).
  A range of ten women, not a fitted centile: a value outside it is "out of
  range", and no uNK value counted under another protocol (e.g. the Hong Kong
  LH+7 count, reference 1.2-4.5 %) is compared with it.
- No CFU or decidual-marker (PRL, SCARA5, DIO2, CDKN2A) reference is public per
  cycle day: a clinic fits its own with ``decidua reference fit``.

Examples
--------
>>> refs = timing_gene_references()
>>> sorted(refs)[:2], refs["IGFBP1"].info.time_basis
(['CXCL14', 'DPP4'], 'lh_day')
>>> unk_reference().classify(8, 20.0)
'high'
"""

from __future__ import annotations

from functools import lru_cache

from decidua.literature import TUCKERMAN_2007_CONTROL_UNK_PCT, TUCKERMAN_2007_LH_DAYS
from decidua.reference.centiles import DayCentiles, RangeReference, ReferenceInfo

#: Counting-protocol code of the Tuckerman 2007 uNK figures (the ``protocol`` column of a
#: uNK count sheet): CD56 immunohistochemistry, % of stromal cells, LH+7-9.
TUCKERMAN_2007_PROTOCOL = "tuckerman2007"
#: Population label of the EndoTime training data.
ENDOTIME_POPULATION = ("clinic population: Implantation Research Clinic patients, Coventry "
                       "(EndoTime training data, Lipecki et al. 2022), not healthy controls")
#: Source of the EndoTime training data.
ENDOTIME_SOURCE = "EndoTime training data (github AE-Mitchell/EndoTime 8abb0ad, GPL-3)"
#: The timing genes' protocol: ΔCt against L19/RPL19, EndoTime's convention.
ENDOTIME_PROTOCOL = "RT-qPCR ΔCt vs RPL19 (L19), raw (not batch corrected)"
TIMING_GENES = ("IL2RB", "IGFBP1", "CXCL14", "DPP4", "GPX3", "SLC15A2")


def endotime_training_data():  # -> pandas.DataFrame
    """EndoTime's training data as shipped (``reference/endotime/training_data.csv``)."""
    from importlib import resources

    import pandas as pd

    with resources.as_file(
        resources.files("decidua.reference") / "endotime" / "training_data.csv"
    ) as p:
        return pd.read_csv(p)


@lru_cache(maxsize=1)
def timing_gene_references() -> dict[str, DayCentiles]:
    """Clinic-population centiles of each timing gene's ΔCt by reported LH day."""
    d = endotime_training_data()
    out = {}
    for g in TIMING_GENES:
        info = ReferenceInfo(g, ENDOTIME_SOURCE, ENDOTIME_POPULATION, ENDOTIME_PROTOCOL,
                             "lh_day", "clinic-population centile by LH day")
        out[g] = DayCentiles(info).fit(d["LH"].to_numpy(float), d[g].to_numpy(float))
    return out


def unk_reference() -> RangeReference:
    """The Tuckerman 2007 control range of uNK % at LH+7-9 (protocol-specific)."""
    _, low, high = TUCKERMAN_2007_CONTROL_UNK_PCT
    source = ("Tuckerman et al., Hum Reprod 2007;22:2208 (controls, n=10; CD56 "
              "immunohistochemistry, % of stromal cells)")
    info = ReferenceInfo("unk_pct", source, "fertile controls (n=10)", TUCKERMAN_2007_PROTOCOL,
                         "lh_day", "published control range (Tuckerman 2007)")
    return RangeReference(info, low, high, *TUCKERMAN_2007_LH_DAYS)
