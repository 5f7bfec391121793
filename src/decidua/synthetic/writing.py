"""Writing a synthetic cohort to disk: CSV tables, population summary, README."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from decidua.synthetic.params import (
    SYNTHETIC_LABEL,
)
from decidua.synthetic.tables import (
    TABLE_COLUMNS,
    SyntheticCohort,
)


def _csv_text(df: pd.DataFrame) -> str:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].map({True: "true", False: "false"})
    return out.to_csv(index=False, lineterminator="\n")


def _readme(cohort: SyntheticCohort) -> str:
    p, s = cohort.params, cohort.population_summary
    lines = [
        f"# Decidua demo cohort — {SYNTHETIC_LABEL}",
        "",
        "**SYNTHETIC — not real patients.** Every row in this directory was made up by a",
        "seeded simulation; no person's data were used. For demos and tests only.",
        "Research use only; not a diagnostic device.",
        "",
        "## Provenance",
        "",
        f"- generator: `decidua.synthetic.cohort` (version {p.generator_version})",
        f"- seed: {p.seed}; RPL referrals: {p.n_rpl}; controls: {p.n_controls}; "
        f"simulated population: {p.n_population} women",
        f"- anchor date (synthetic 'today'; no date is later): {p.anchor_date}",
        "- regenerate: `python -m decidua.synthetic.cohort --out src/decidua/data/demo`",
        "  (a test checks that these files equal a fresh generation).",
        "- licence: GPL-3.0-or-later, like the rest of Decidua.",
        "",
        "## Model",
        "",
        "A general population is simulated pregnancy by pregnancy. A pregnancy is lost by an",
        "age-related route (curve calibrated to Magnus et al., BMJ 2019) or by a decidual route:",
        "each woman has a latent frequency `theta ~ Beta"
        f"({p.theta_alpha}, {p.theta_beta})` of cycles with a defective decidual",
        "reaction (Muter et al., Sci Adv 2025). The clinic samples women referred after >= 2",
        "losses (ESHRE 2022) and controls with <= 1 loss; each has 1-3 biopsies in different",
        "cycles on LH+5..+12. The clinic's call on a biopsy reads the latent defective state",
        f"with sensitivity {p.call_sensitivity} and specificity {p.call_specificity}; the",
        f"reported LH day differs from the true cycle time by N(0, {p.lh_day_sd}) days.",
        "",
        "## Files",
        "",
        "| file | content |",
        "|---|---|",
    ]
    for name, cols in TABLE_COLUMNS.items():
        latent = " (latent truth, not imported)" if name.endswith("truth") else ""
        lines.append(f"| `{name}.csv`{latent} | {', '.join(f'`{c}`' for c in cols)} |")
    lines += [
        "| `population_summary.json` | simulated population vs published figures |",
        "",
        "Dates are ISO (YYYY-MM-DD); flags are `true`/`false`; an ongoing pregnancy has no",
        '`outcome_date`. Some investigations are missing on purpose ("TSH not recorded").',
        "",
        "## Simulated population vs published figures",
        "",
        "| age band | pregnancies | simulated loss rate | Magnus 2019 |",
        "|---|---|---|---|",
    ]
    for row in s["by_age_band"]:
        lines.append(
            f"| {row['band']} | {row['n_pregnancies']} | {row['simulated_loss_rate']:.3f} "
            f"| {row['target_loss_rate']:.3f} |"
        )
    lines += [
        "",
        "| previous consecutive losses | pregnancies | loss rate | age-adjusted OR | Magnus 2019 |",
        "|---|---|---|---|---|",
    ]
    for row in s["by_previous_consecutive_losses"]:
        target = row.get("target_or")
        lines.append(
            f"| {row['previous_consecutive_losses']} | {row['n_pregnancies']} "
            f"| {row['simulated_loss_rate']:.3f} | {row.get('age_adjusted_or', 1.0):.2f} "
            f"| {target if target else 1.0:.2f} |"
        )
    lines += ["", f"Odds ratios: {s['odds_ratio_method']}.", ""]
    return "\n".join(lines)


def write_cohort(cohort: SyntheticCohort, directory: str | Path) -> list[Path]:
    """Write a cohort's CSV files, its population summary and a provenance README.

    Parameters
    ----------
    cohort
        A cohort from :func:`generate_cohort`.
    directory
        Target directory (created if missing); existing files are overwritten.

    Returns
    -------
    list of pathlib.Path
        The files written: ``patients.csv``, ``pregnancies.csv``,
        ``investigations.csv``, ``biopsies.csv``, ``interventions.csv``,
        ``truth.csv``, ``patient_truth.csv``, ``pregnancy_truth.csv``,
        ``population_summary.json`` and ``README.md``.

    Examples
    --------
    >>> import tempfile
    >>> from decidua.synthetic import generate_cohort
    >>> cohort = generate_cohort(seed=1, n_rpl=20, n_controls=5, n_population=10_000)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = write_cohort(cohort, tmp)
    ...     header = paths[0].read_text(encoding="utf-8").splitlines()[0]
    >>> paths[0].name, header.split(",")[:3], len(paths)
    ('patients.csv', ['patient_id', 'year_of_birth', 'bmi'], 10)
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in cohort.tables().items():
        path = out / f"{name}.csv"
        path.write_text(_csv_text(df), encoding="utf-8")
        written.append(path)
    summary = {"params": cohort.params.to_dict(), **cohort.population_summary}
    path = out / "population_summary.json"
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written.append(path)
    path = out / "README.md"
    path.write_text(_readme(cohort), encoding="utf-8")
    written.append(path)
    return written
