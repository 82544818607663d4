"""The repository explains itself: every document the code and the README cite is in the repository."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _sources():
    yield from (REPO / "src" / "svprune").rglob("*.py")
    yield from (REPO / "workflow").rglob("*.smk")
    yield REPO / "workflow" / "Snakefile"
    yield REPO / "README.md"
    yield REPO / "config" / "README.md"


def test_every_cited_document_exists_and_none_is_outside_the_repository():
    cited = set()
    for path in _sources():
        text = path.read_text()
        assert "SPEC" not in text, f"{path.relative_to(REPO)} cites SPEC.md, which the repository does not contain"
        cited |= set(re.findall(r"\bdocs/[\w./-]+\.md", text))
    assert cited, "the code cites its definitions in docs/"
    for doc in cited:
        assert (REPO / doc).is_file(), f"{doc} is cited but missing"


def test_the_definitions_cited_by_section_exist():
    headings = set(re.findall(r"^## (.+)$", (REPO / "docs" / "definitions.md").read_text(), flags=re.M))
    for path in _sources():
        for section in re.findall(r'docs/definitions\.md, "([^"]+)"', path.read_text()):
            assert section in headings, f"{path.relative_to(REPO)} cites a section {section!r} that does not exist"
