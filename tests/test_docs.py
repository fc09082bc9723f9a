"""The documentation: the README's shape, links that reach their files, the site's build.

The README is the front page and stays short, its sections in a fixed order; every
other page lives under docs/ and is built by mkdocs-material from mkdocs.yml. A link
that points nowhere, or a navigation entry without its page, fails here before a
reader meets it. The code examples in the pages are run by the tests of what they
show (``doc_block`` in tests/helpers/commands.py).
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

README = ROOT / "README.md"
README_MAX_LINES = 300
README_SECTIONS = [
    "Install and quick start",
    "Your own CSV in three commands",
    "The API in a dozen lines",
    "Many series, and the M3 benchmark",
    "Where to read more",
    "Tests",
]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
"""An inline Markdown link or image: the target is group 1."""


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code, where brackets are not links."""
    without_fences = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", without_fences)


def headings(text: str, level: int) -> list[str]:
    """The titles of the headings of ``level`` (1: ``#``), in order, outside code blocks."""
    marker = "#" * level + " "
    return [line[len(marker) :] for line in prose(text).splitlines() if line.startswith(marker)]


def pages() -> list[Path]:
    """The README and every page under docs/."""
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def nav_pages(entries: object) -> list[str]:
    """Every page file named in mkdocs.yml's ``nav``, however deeply nested."""
    if isinstance(entries, str):
        return [] if "://" in entries else [entries]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in nav_pages(value)]
    if isinstance(entries, list):
        return [page for entry in entries for page in nav_pages(entry)]
    return []


class _MkDocsLoader(yaml.SafeLoader):
    """A safe loader that reads mkdocs.yml's ``!!python/name:`` and ``!ENV`` tags as None."""


_MkDocsLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def test_the_readme_is_short_and_its_sections_come_in_order():
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    assert headings(text, 1) == ["lstm-tuner"]
    assert headings(text, 2) == README_SECTIONS
    what_it_is = text.split("\n## ", 1)[0].split("\n", 1)[1]
    assert what_it_is.strip(), "the README says what lstm-tuner is before its first section"


def test_every_relative_link_in_the_readme_and_the_docs_reaches_a_file():
    dead = []
    for page in pages():
        for target in LINK.findall(prose(page.read_text())):
            path = target.split("#", 1)[0]
            if not path or "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / path).exists():
                dead.append(f"{page.relative_to(ROOT)}: {target}")
    assert not dead, dead


def test_every_page_of_the_site_navigation_exists():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_MkDocsLoader)
    named = nav_pages(config["nav"])
    assert "index.md" in named
    missing = [page for page in named if not (ROOT / "docs" / page).is_file()]
    assert not missing, missing


@pytest.mark.slow
def test_the_site_builds_without_a_warning(tmp_path):
    needed = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers")
    absent = [name for name in needed if importlib.util.find_spec(name) is None]
    if absent and not os.environ.get("CI"):
        pytest.skip(f"{', '.join(absent)} not installed: pip install -e '.[docs]'")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "api" / "index.html").is_file()
