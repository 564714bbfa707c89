"""The docs' links lead somewhere, the paths they name exist, the README stays short.

Checked in README.md and every docs/**/*.md: each relative link resolves to a file
or directory of the repository, each ``#anchor`` to a heading of its target (GitHub's
slugs), and each repository path written in backticks (``todos/bulk.py``) exists, so
moving a module without updating its documentation fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_BYTES = 10_000
DOCUMENTS = [README, *sorted((ROOT / "docs").rglob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# [text](target) and [text](target "title"); images too.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
# Backticked paths under these top-level names are claims about the repository.
TOP_LEVEL = (
    "api",
    "accounts",
    "todos",
    "config",
    "tests",
    "bench",
    "docs",
    "requirements",
)
REPO_PATH = re.compile(rf"^(?:\.ci|{'|'.join(TOP_LEVEL)})/[\w./-]*$")
# Written by commands, never committed (see .gitignore).
GENERATED = {"bench/results/"}


def _prose(text: str) -> str:
    """The text without fenced code blocks, where nothing is a link."""
    return FENCE.sub("", text)


def _links(text: str) -> list[str]:
    return LINK.findall(CODE_SPAN.sub("", _prose(text)))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    slugs: set[str] = set()
    counts: dict[str, int] = {}
    for heading in HEADING.findall(_prose(path.read_text())):
        slug = _slug(heading)
        seen = counts.get(slug, 0)
        counts[slug] = seen + 1
        slugs.add(slug if not seen else f"{slug}-{seen}")
    return slugs


def _broken_links(document: Path) -> list[str]:
    broken = []
    for target in _links(document.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (document.parent / path_part).resolve() if path_part else document
        if not resolved.exists() or ROOT not in (resolved, *resolved.parents):
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no heading #{anchor})")
    return broken


def _missing_paths(document: Path) -> list[str]:
    spans = CODE_SPAN.findall(_prose(document.read_text()))
    return sorted(
        {
            span
            for span in spans
            if REPO_PATH.match(span)
            and span not in GENERATED
            and not (ROOT / span).exists()
        }
    )


def _name(document: Path) -> str:
    return str(document.relative_to(ROOT))


def test_the_readme_is_at_most_ten_kilobytes():
    size = len(README.read_bytes())

    assert size <= README_MAX_BYTES, (
        f"README.md is {size} bytes; move detail to docs/ (limit {README_MAX_BYTES})"
    )


def test_the_documents_are_found():
    names = {_name(document) for document in DOCUMENTS}

    assert {"README.md", "docs/README.md"} <= names
    assert any(name.startswith("docs/decisions/") for name in names)


@pytest.mark.parametrize("document", DOCUMENTS, ids=_name)
def test_every_relative_link_resolves(document):
    assert _broken_links(document) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=_name)
def test_every_repository_path_in_backticks_exists(document):
    assert _missing_paths(document) == []


def test_every_document_is_reachable_from_the_docs_index():
    index = ROOT / "docs" / "README.md"
    linked = {
        (index.parent / target.partition("#")[0]).resolve()
        for target in _links(index.read_text())
    }

    unlinked = [
        _name(document)
        for document in DOCUMENTS
        if document not in (README, index) and document.resolve() not in linked
    ]

    assert unlinked == []


def test_the_checks_catch_a_broken_link_a_missing_anchor_and_a_missing_path(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "other.md").write_text(
        "# A heading, with `code`\n\n## Twice\n## Twice\n"
    )
    document = tmp_path / "doc.md"
    document.write_text(
        "[ok](other.md#a-heading-with-code) [ok](other.md#twice-1) [ok](#here)\n"
        "[web](https://example.com) `[not a link](nowhere.md)`\n"
        "[gone](missing.md) [bad anchor](other.md#nope)\n"
        "# Here\n```\n[in a fence](fenced.md)\n```\n"
        "`todos/missing.py` `todos/` `not/a/claim.py`\n"
    )
    (tmp_path / "todos").mkdir()

    assert _broken_links(document) == [
        "missing.md (no such file)",
        "other.md#nope (no heading #nope)",
    ]
    assert _missing_paths(document) == ["todos/missing.py"]


DECISIONS = sorted((ROOT / "docs" / "decisions").glob("*.md"))


def test_decision_records_are_numbered_in_sequence():
    numbers = [int(record.name[:4]) for record in DECISIONS]

    assert all(re.fullmatch(r"\d{4}-[a-z0-9-]+\.md", r.name) for r in DECISIONS)
    assert numbers == list(range(1, len(DECISIONS) + 1))


@pytest.mark.parametrize("record", DECISIONS, ids=_name)
def test_a_decision_record_has_context_decision_and_consequences(record):
    headings = HEADING.findall(_prose(record.read_text()))

    assert headings[0].startswith(f"{int(record.name[:4])}. ")
    assert headings[1:] == ["Context", "Decision", "Consequences"]
