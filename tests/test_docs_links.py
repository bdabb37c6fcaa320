"""Every link and path cited by the README, docs/ and the built-in profiles stays inside the repository.

A fresh clone holds nothing beside the repository, so a link to ../shared/... (or any file
that is not there) is a dead end for a reader. Markdown links and path-like citations
(`stamp_sim/schema.py`, docs/COST_MODEL.md in a YAML source string) are both checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stamp_sim.hw_models import _schema

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "hw_models" / "README.md", *(ROOT / "docs").glob("*.md"),
                    *(ROOT / "hw_models" / "profiles").glob("*.yaml")])
TOP_LEVEL = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}

_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
# A path-like token: segments of [\w.-] joined by '/', or a bare upper-case document name (NOTES.md).
_PATH = re.compile(r"(?<![\w/<~$.-])((?:\.\.?/)*[\w.-]+(?:/[\w.-]+)+/?|[A-Z][A-Z0-9_-]*\.md)(?![\w/<*>-])")


def _is_link(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")


def _cited(text: str) -> list[str]:
    """Markdown link targets and path-like citations that name a repository place."""
    out = [t.split("#")[0] for t in _MD_LINK.findall(text) if _is_link(t)]
    for token in _PATH.findall(text):
        first = token.split("/")[0]
        if first in ("..", ".") or first in TOP_LEVEL or re.fullmatch(r"[A-Z][A-Z0-9_-]*\.md", token):
            out.append(token)
    return [t for t in dict.fromkeys(out) if t]


def _resolves(doc: Path, target: str) -> Path | None:
    """The existing path inside the repository that `target` names from `doc`, else None."""
    for base in (doc.parent, ROOT, ROOT / "docs"):
        path = (base / target).resolve()
        if path.exists() and path.is_relative_to(ROOT):
            return path
    return None


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_path_exists_inside_the_repository(doc):
    missing = [t for t in _cited(doc.read_text()) if _resolves(doc, t) is None]
    assert not missing, f"{doc.relative_to(ROOT)} cites paths that are not in the repository: {missing}"


def test_the_link_walker_catches_a_link_out_of_the_repository(tmp_path):
    doc = ROOT / "docs" / "METHODS.md"
    text = "see [x](../shared/design/ALGORITHMS.md) and `../../../shared/design/COST_MODEL.md`, NOTES.md"
    bad = [t for t in _cited(text) if _resolves(doc, t) is None]
    assert bad == ["../shared/design/ALGORITHMS.md", "../../../shared/design/COST_MODEL.md", "NOTES.md"]
    assert _resolves(doc, "COST_MODEL.md") == ROOT / "docs" / "COST_MODEL.md"
    assert [t for t in _cited("https://example.org/a.md and [a](#anchor)") if _resolves(doc, t) is None] == []


def test_readme_links_the_docs():
    readme = (ROOT / "README.md").read_text()
    for name in ("docs/METHODS.md", "docs/COST_MODEL.md", "docs/PROFILES.md", "docs/ARCHITECTURE.md"):
        assert f"]({name})" in readme, name


def test_every_profile_field_is_documented():
    text = (ROOT / "docs" / "PROFILES.md").read_text()
    keys = [f"{s}.{f}" if s else f for s, fields in _schema.FIELDS.items() for f in fields]
    keys += list(_schema.TOP_LEVEL) + [f"modes.<mode>.{f}" for f in _schema.MODE_FIELDS] + list(_schema.MODE_NAMES)
    missing = [k for k in keys if f"`{k}`" not in text]
    assert not missing, f"docs/PROFILES.md does not document {missing}"
