"""The default reference shipped with Decidua (EndoTime's training data, default settings,
seed ``DEFAULT_REFERENCE_SEED``, calibrated) and the shipped training cohort's checksum."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from decidua.assays.timing.constants import DEFAULT_REFERENCE_SEED
from decidua.assays.timing.reference import TimingReference
from decidua.assays.timing.validation import load_endotime_training_data
from decidua.errors import InputError

DEFAULT_REFERENCE_COMMAND = "python -m decidua.assays.timing --write-default-reference"


def training_data_sha256() -> str:
    """sha256 of the shipped EndoTime ``training_data.csv`` (file bytes).

    Examples
    --------
    >>> len(training_data_sha256())
    64
    """
    ref = resources.files("decidua.reference").joinpath("endotime/training_data.csv")
    return hashlib.sha256(ref.read_bytes()).hexdigest()


def default_reference_path() -> Path:
    """Path of the shipped default reference (``reference/endotime/reference.json``).

    Examples
    --------
    >>> default_reference_path().name
    'reference.json'
    """
    return Path(str(resources.files("decidua.reference").joinpath("endotime/reference.json")))


def fit_default_reference(*, calibrate: bool = True) -> TimingReference:
    """Fit the default reference: EndoTime's training data, default settings, seed 1.

    Default settings include the seed ensemble (``DEFAULT_N_SEEDS`` members,
    :func:`ensemble_seeds`); members and their seeds are in the provenance.

    Parameters
    ----------
    calibrate
        Also run the leave-one-batch-out interval calibration (9 extra fits).

    Returns
    -------
    TimingReference
        Fitted with ``seed=DEFAULT_REFERENCE_SEED``, with provenance (data sha256,
        seed, model and Decidua versions, regeneration command).

    Examples
    --------
    The fit takes a few seconds (80 orderings with the calibration), so it is not run here:

    >>> ref = fit_default_reference()  # doctest: +SKIP
    >>> ref.to_dict()["cohort"] == load_default_reference().to_dict()["cohort"]  # doctest: +SKIP
    True
    """
    data = load_endotime_training_data()
    ref = TimingReference().fit(data, seed=DEFAULT_REFERENCE_SEED)
    if calibrate:
        ref.calibrate(data)
    ref.provenance.update(
        {
            "data": "EndoTime training_data.csv (257 biopsies, GPL-3; see README.md)",
            "data_sha256": training_data_sha256(),
            "command": DEFAULT_REFERENCE_COMMAND,
        }
    )
    return ref


def write_default_reference(path: str | Path | None = None) -> Path:
    """Refit the default reference and write it (default: the shipped file).

    Parameters
    ----------
    path
        Output file or directory; default :func:`default_reference_path`.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> write_default_reference("/tmp/reference.json")  # doctest: +SKIP
    PosixPath('/tmp/reference.json')
    """
    return fit_default_reference().save(path if path is not None else default_reference_path())


def load_default_reference() -> TimingReference:
    """The default reference shipped with Decidua (fitted by :func:`fit_default_reference`).

    Raises
    ------
    InputError
        If the shipped file is missing (regenerate with ``DEFAULT_REFERENCE_COMMAND``).

    Examples
    --------
    >>> ref = load_default_reference()
    >>> ref.provenance["seed"], ref.n_seeds, len(ref.result.ids)
    (1, 8, 257)
    """
    ref = resources.files("decidua.reference").joinpath("endotime/reference.json")
    if not ref.is_file():
        raise InputError(
            f"the default timing reference is not installed (run {DEFAULT_REFERENCE_COMMAND})"
        )
    return TimingReference.from_dict(json.loads(ref.read_text()))
