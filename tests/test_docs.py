"""The README and docs/: every relative link and picture resolves (the file, and the heading an
anchor names), and the README stays a short front page that starts with the two commands."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
README_MAX_LINES = 250  # issue 29: the five-minute tour; the rest lives in docs/

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target); the target ends at whitespace or ")" (an optional "title" after it)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text outside code: links written inside code blocks or `code` are examples, not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation other than - and _ dropped,
    each space a hyphen (markdown emphasis and code marks are punctuation too)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a markdown file; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug = github_slug(heading)
        n = seen.get(slug, 0)
        out.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    return out


def broken_links(path: Path) -> list[str]:
    """The relative links of ``path`` whose file or heading anchor does not exist."""
    problems = []
    for target in LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{target}: no heading '#{anchor}' in {linked.name}")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


def test_the_checker_sees_a_broken_link_and_a_broken_anchor(tmp_path):
    # The check itself must be able to fail: a missing file, a missing heading, a good link,
    # a link inside code (ignored), an external link (ignored), and a repeated heading's anchor.
    (tmp_path / "other.md").write_text("# Title\n\n## Spreadsheet formulas in exports (core/export.py)\n\n## A\n\n## A\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[gone](missing.md) [bad](other.md#nowhere) [good](other.md#title) "
        "[formulas](other.md#spreadsheet-formulas-in-exports-coreexportpy) [second](other.md#a-1) "
        "`[code](nothere.md)` [web](https://example.com/x.md) [self](#top)\n\n# Top\n"
        "```\n[fenced](also-missing.md)\n```\n"
    )
    problems = broken_links(page)
    assert [p.split(":")[0] for p in problems] == ["missing.md", "other.md#nowhere"]


def test_readme_is_short_and_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    first_block = FENCE.search(text).group(0)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:-1]]
    assert commands == ["make run", "make test"]
    assert re.search(r"!\[[^\]]*\]\(docs/img/[^)]+\.png\)", text), "the tour's picture"


def test_every_cli_command_is_documented():
    # The command list comes from the parser itself, so a new subcommand without docs fails here.
    from core.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    cli_doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [name for name in sub.choices if f"python -m core {name}" not in cli_doc]
    assert missing == []


# A comment or docstring citing the documentation: docs/<file>.md, "<words of one of its headings>".
CITATION = re.compile(r'docs/([\w-]+\.md),\s*(?:#\s*)?(?:the\s+)?"([^"]+)"')


def stale_citations(text: str, headings_of) -> list[str]:
    """The citations in ``text`` that name no existing docs file or none of its headings, and every
    README section cited as a source ("(README, ...)", "(README)": those sections moved to docs/)."""
    stale = [f"README{m.group(1)}" for m in re.finditer(r"\bREADME([,)])", text)]
    for name, words in CITATION.findall(text):
        headings = headings_of(name)
        words = " ".join(w for w in words.split() if w != "#")  # a section's name wrapped over two comment lines
        if headings is None or not any(words.lower() in h.lower() for h in headings):
            stale.append(f'docs/{name}, "{words}"')
    return stale


def _headings(name: str) -> list[str] | None:
    path = ROOT / "docs" / name
    return HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))) if path.is_file() else None


def test_the_citation_checker_sees_a_moved_section():
    text = ('# (README, "Batch prediction")\n# docs/data.md, "Limits"\n# docs/gone.md, "X"\n'
            '# (docs/measurements.md,\n# "No such section")')
    assert stale_citations(text, _headings) == ["README,", 'docs/gone.md, "X"', 'docs/measurements.md, "No such section"']


def test_code_cites_the_docs_where_the_numbers_now_live():
    """Comments and docstrings that give a number's source point at the docs/ file and section
    that holds it (the README's measurements and operations moved to docs/ in issue 29)."""
    stale = {}
    for folder in ("core", "ui", "pages"):
        for path in (ROOT / folder).rglob("*.py"):
            found = stale_citations(path.read_text(encoding="utf-8"), _headings)
            if found:
                stale[str(path.relative_to(ROOT))] = found
    assert stale == {}
