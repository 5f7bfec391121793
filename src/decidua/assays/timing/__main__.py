"""``python -m decidua.assays.timing --write-default-reference [PATH]``.

The maintenance command recorded in the shipped reference's provenance. It is a
program entry point, not library code: it hands over to the CLI
(:func:`decidua.cli.timing.main`; also ``decidua timing write-default-reference``).
"""

from decidua.cli.timing import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
