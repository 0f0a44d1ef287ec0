"""The README and docs/ as a reader meets them: every relative link leads somewhere, every
command shown uses flags that exist, and the README stays one screen's entry."""

import re
import shlex
from pathlib import Path

import pytest

from sweeps.spec import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).strip().replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        assert where.exists(), f"{page.name}: {target} does not exist"
        if anchor and where.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", where.read_text(), re.M)
            assert anchor in {_slug(h) for h in headings}, f"{page.name}: no heading #{anchor}"


def _commands(module: str) -> list[tuple[str, list[str]]]:
    found = []
    for page in PAGES:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            text = block.replace("\\\n", " ")
            for line in text.splitlines():
                line = line.split("  #")[0].strip()
                if f"python -m {module}" in line:
                    argv = shlex.split(line.split(f"python -m {module}", 1)[1].split("&&")[0])
                    found.append((page.name, argv))
    return found


@pytest.mark.parametrize(("page", "argv"), _commands("sweeps.bn_placement"))
def test_every_sweep_command_shown_has_flags_that_exist(page, argv):
    build_parser().parse_args(argv)  # a flag that does not exist raises SpecError


def test_the_readme_is_an_entry_that_fits_a_screen():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
