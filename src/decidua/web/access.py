"""Which role-table command each web route and API call needs.

The web application has no role table of its own: every route names the
command of :data:`decidua.services.access.RULES` whose rule it follows (a
page showing a patient is ``patient show``; a form adding a pregnancy is
``import`` of kind ``pregnancies``), and :func:`need` asks
:func:`decidua.services.access.allowed` with the logged-in user's role.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from decidua.services import access


@dataclass(frozen=True)
class Route:
    """A web route and the role-table command (with parameters) it is allowed as."""

    name: str
    method: str
    path: str
    command: str
    params: dict[str, Any] = field(default_factory=dict)


#: Every route that needs a login (pages and API); tests generate their per-role checks here.
ROUTES: tuple[Route, ...] = (
    Route("patients", "GET", "/patients", "patients list"),
    Route("patient", "GET", "/patients/{patient_id}", "patient show"),
    Route("patient_new", "GET", "/patients/new", "import", {"kind": "patients"}),
    Route("patient_create", "POST", "/patients/new", "import", {"kind": "patients"}),
    Route("pregnancy_new", "GET", "/patients/{patient_id}/pregnancies/new", "import",
          {"kind": "pregnancies"}),
    Route("pregnancy_create", "POST", "/patients/{patient_id}/pregnancies/new", "import",
          {"kind": "pregnancies"}),
    Route("biopsy_new", "GET", "/patients/{patient_id}/biopsies/new", "import",
          {"kind": "biopsies"}),
    Route("biopsy_create", "POST", "/patients/{patient_id}/biopsies/new", "import",
          {"kind": "biopsies"}),
    Route("investigation_new", "GET", "/patients/{patient_id}/investigations/new", "import",
          {"kind": "investigations"}),
    Route("investigation_create", "POST", "/patients/{patient_id}/investigations/new", "import",
          {"kind": "investigations"}),
    Route("intervention_new", "GET", "/patients/{patient_id}/interventions/new", "import",
          {"kind": "interventions"}),
    Route("intervention_create", "POST", "/patients/{patient_id}/interventions/new", "import",
          {"kind": "interventions"}),
    *(Route(f"{name}_{verb}", method, f"/patients/{{patient_id}}/{kind}/{{record_id}}/edit",
            "import", {"kind": kind})
      for name, kind in (("pregnancy", "pregnancies"), ("investigation", "investigations"),
                         ("biopsy", "biopsies"), ("intervention", "interventions"))
      for verb, method in (("edit", "GET"), ("update", "POST"))),
    Route("patient_audit", "GET", "/patients/{patient_id}/audit", "patient show"),
    Route("biopsy", "GET", "/biopsies/{code}", "biopsy show"),
    Route("biopsy_sign", "POST", "/biopsies/{code}/sign", "biopsy sign"),
    Route("upload", "GET", "/upload", "import"),
    Route("upload_preview", "POST", "/upload", "import"),
    Route("upload_commit", "POST", "/upload/commit", "import"),
    Route("users", "GET", "/users", "users list"),
    Route("user_create", "POST", "/users", "users add"),
    Route("user_password", "POST", "/users/{username}/password", "users set-password"),
    Route("user_deactivate", "POST", "/users/{username}/deactivate", "users deactivate"),
    Route("token_create", "POST", "/tokens", "users token"),
    Route("token_revoke", "POST", "/tokens/{token_id}/revoke", "users token"),
    Route("api_me", "GET", "/api/v1/me", "patients list"),
    Route("api_patients", "GET", "/api/v1/patients", "patients list"),
    Route("api_patient", "GET", "/api/v1/patients/{patient_id}", "patient show"),
    Route("api_patient_audit", "GET", "/api/v1/patients/{patient_id}/audit", "patient show"),
    Route("api_pregnancy_create", "POST", "/api/v1/patients/{patient_id}/pregnancies",
          "import", {"kind": "pregnancies"}),
    Route("api_biopsy", "GET", "/api/v1/biopsies/{code}", "biopsy show"),
)  # fmt: skip

BY_NAME = {r.name: r for r in ROUTES}


#: Import kinds offered on the upload page.
UPLOAD_KINDS = ("patients", "pregnancies", "investigations", "biopsies", "interventions", "cfu")


def allowed(role: str | None, name: str, /, **params: Any) -> bool:
    """Whether a user with ``role`` may use route ``name`` (params refine the rule).

    An ``import`` route without a kind (the upload page) is open to a role that
    may import at least one kind; the kind chosen is checked when the file comes.
    """
    r = BY_NAME[name]
    merged = {**r.params, **params}
    if r.command == "import" and "kind" not in merged:
        return any(access.allowed(role, "import", {"kind": k}) for k in UPLOAD_KINDS)
    return access.allowed(role, r.command, merged)


def risk_allowed(role: str | None, *, save: bool = False) -> bool:
    """Whether the role may see (or store) a woman's risk (``risk patient``)."""
    return access.allowed(role, "risk patient", {"save": save})


def pathway_allowed(role: str | None) -> bool:
    """Whether the role may see a woman's care pathway (``pathway patient``)."""
    return access.allowed(role, "pathway patient", {})


def monitor_allowed(role: str | None) -> bool:
    """Whether the role may see before/after an intervention (``patient monitor``)."""
    return access.allowed(role, "patient monitor", {})
