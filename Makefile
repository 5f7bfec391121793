# Decidua developer commands. `make demo` and `make test` are the two
# commands a new user needs (see README.md).

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean venv report-libs screenshots

# System libraries of PDF reports (WeasyPrint: Pango and a font). Installed with
# apt-get when run as root on Debian; otherwise the packages are named.
REPORT_APT := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Decidua needs Python >= 3.11"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "Could not create a virtual environment: on Debian run 'apt-get install python3-venv'." >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

report-libs:
	@if command -v dpkg >/dev/null 2>&1; then \
	  missing=""; for p in $(REPORT_APT); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	else ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 && missing="" || missing=" $(REPORT_APT)"; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else echo "PDF reports need the system packages:$$missing (Debian/Ubuntu: sudo apt-get install$$missing)" >&2; exit 1; fi; \
	fi

demo: $(STAMP) report-libs
	$(BIN)/decidua demo

# Pictures of one demo patient report's pages (PDF -> PNG, pdftoppm from poppler-utils),
# and of the web application's main pages (Playwright in Debian's chromium).
SHOTS := docs/screenshots
SHOT_DIR := var/screenshots
screenshots: $(STAMP) report-libs
	@command -v pdftoppm >/dev/null 2>&1 || { echo "make screenshots needs pdftoppm (Debian: apt-get install poppler-utils)" >&2; exit 1; }
	rm -rf $(SHOT_DIR) && mkdir -p $(SHOT_DIR) $(SHOTS)
	DECIDUA_DATA_DIR=$(SHOT_DIR) $(BIN)/decidua demo >/dev/null
	DECIDUA_DATA_DIR=$(SHOT_DIR) $(BIN)/decidua --db sqlite:///$(SHOT_DIR)/demo.sqlite \
	  report patient DEC-0003 --on 2026-01-15 -o $(SHOT_DIR)/patient-report.pdf
	rm -f $(SHOTS)/patient-report-*.png
	pdftoppm -png -r 60 $(SHOT_DIR)/patient-report.pdf $(SHOTS)/patient-report
	$(BIN)/python $(SHOTS)/web.py

# pytest exit code 5 means "no tests collected": treat it as a failure.
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	  exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis var
