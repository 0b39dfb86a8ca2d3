"""The documentation's defaults tables match the configuration, so docs and code cannot drift."""

import dataclasses
import math
import re
from pathlib import Path

import pytest

from bcfl_env.config import PRESETS, BCFLConfig, flat_keys

DOCS = Path(__file__).parents[1] / "docs"
ROW = re.compile(r"^\| `([a-z_.0-9]+)` \| ([^|]+) \| ([^|]+) \|", re.M)


def _value(cfg, path):
    for part in path:
        cfg = getattr(cfg, part)
    return cfg


def _parse(text: str):
    text = text.strip()
    if text == "None":
        return None
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError:
        return text


def _same(documented, actual) -> bool:
    if isinstance(actual, bool) or actual is None or isinstance(actual, str):
        return documented == actual
    return math.isclose(float(documented), float(actual), rel_tol=1e-6)


def _default_rows():
    for doc in ("mdp.md", "world.md", "chain.md", "fl.md"):
        for key, default, allowed in ROW.findall((DOCS / doc).read_text()):
            yield doc, key, default, allowed


def test_every_documented_default_and_range_matches_the_config():
    keys, base = flat_keys(), BCFLConfig()
    seen = set()
    for doc, key, default, allowed in _default_rows():
        assert key in keys, f"{doc} documents unknown key {key}"
        assert _same(_parse(default), _value(base, keys[key])), (
            f"{doc}: {key} documented as {default}"
        )
        section = _value(base, keys[key][:-1])
        field = next(f for f in dataclasses.fields(section) if f.name == keys[key][-1])
        if "rng" in field.metadata:
            lo, hi, _ = field.metadata["rng"]
            low_text = allowed.strip()[1:].split(",")[0]
            assert float(low_text) == pytest.approx(lo), f"{doc}: {key} lower bound"
        elif "choices" in field.metadata:
            declared = field.metadata.get("declared", field.metadata["choices"])
            assert [c.strip() for c in allowed.split(",")] == list(declared), f"{doc}: {key}"
        seen.add(key)
    assert seen == set(keys), f"undocumented keys: {sorted(set(keys) - seen)}"


def test_preset_table_matches_the_presets():
    keys, base = flat_keys(), BCFLConfig()
    rows = re.findall(
        r"^\| `([a-z_.0-9]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|",
        (DOCS / "scenarios.md").read_text(),
        re.M,
    )
    assert rows
    documented = set()
    for key, default, *values in rows:
        assert _same(_parse(default), _value(base, keys[key]))
        for name, text in zip(("iov", "iiot", "ioht"), values, strict=True):
            assert _same(_parse(text), _value(PRESETS[name](), keys[key])), f"{name}: {key}"
        documented.add(key)
    differing = {
        k
        for k, p in keys.items()
        if any(_value(f(), p) != _value(base, p) for f in PRESETS.values())
    }
    assert documented == differing


def test_formula_pages_cite_their_sources():
    for doc, needles in {
        "world.md": ["3GPP TR 36.885", "Gudmundson", "Jakes", "Yang et al.", "Ye et al."],
        "chain.md": ["RFC 6962", "BFLC", "Castro and Liskov", "BlockFL"],
        "fl.md": ["McMahan", "Xie et al.", "Blanchard", "Yin et al.", "FedProx"],
        "mdp.md": ["Lu et al.", "INFOCOM 2020"],
    }.items():
        text = (DOCS / doc).read_text()
        assert all(n in text for n in needles), doc


def test_docs_and_code_point_only_inside_the_repository():
    """A clone has no DESIGN.md, no shared/ folder and no issue tracker: nothing may point there."""
    root = DOCS.parent
    files = [root / "README.md", *DOCS.glob("*.md")]
    for package in ("bcfl_env", "agents", "training", "benchmarks", "notebooks"):
        files += [
            p for p in (root / package).rglob("*") if p.suffix in (".py", ".yml", ".ipynb", ".md")
        ]
    pattern = re.compile(r"DESIGN\.md|shared/|\bissues? #?\d|closing notes? of issue", re.I)
    offenders = [
        f"{p.relative_to(root)}: {m.group(0)}"
        for p in files
        for m in pattern.finditer(p.read_text())
    ]
    assert offenders == []


def test_the_readme_and_the_results_page_point_at_files_that_exist():
    """Every relative link and every ``python benchmarks/...`` or ``examples/...`` command in the
    README and docs/results.md names a file of the repository."""
    root = DOCS.parent
    readme, results = root / "README.md", DOCS / "results.md"
    assert "docs/results.md" in readme.read_text()
    for page in (readme, results):
        text = page.read_text()
        links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
        scripts = re.findall(r"python (?:-m )?((?:benchmarks|examples)/\w+\.py)", text)
        assert links and all((page.parent / link).exists() for link in links), (page, links)
        assert all((root / script).is_file() for script in scripts), (page, scripts)
