"""scripts/check_conventions.py: the repo follows Airbyte's QA conventions, and the script notices
when it does not."""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_conventions.py"
# What the script reads (everything else of the repo is irrelevant to it).
CHECKED = [
    "metadata.yaml",
    "pyproject.toml",
    "acceptance-test-config.yml",
    "manifest.yaml",
    "components.py",
    "source_cart/manifest.yaml",
    "source_cart/components.py",
    "docs/integrations/sources/cart.md",
    "unit_tests/resources",
]


def run_script(root: Path = ROOT) -> Tuple[int, List[str]]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root)], capture_output=True, text=True, timeout=60
    )
    assert not result.stderr, result.stderr
    return result.returncode, result.stdout.splitlines()


def test_repo_follows_the_conventions():
    code, lines = run_script()
    assert code == 0, "\n".join(lines)
    assert len(lines) == 1 and lines[0].startswith("OK")


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The files the script reads, copied, with metadata's icon present whatever its name."""
    for name in CHECKED:
        source, target = ROOT / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        elif source.exists():
            shutil.copyfile(source, target)
    import yaml

    icon = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"].get("icon") or "icon.svg"
    shutil.copyfile(ROOT / "icon.svg", tmp_path / icon)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems_after(repo: Path) -> List[str]:
    code, lines = run_script(repo)
    assert code == 1, lines
    return lines


def test_a_wrong_image_tag_is_named(repo_copy: Path):
    edit(repo_copy / "metadata.yaml", "dockerImageTag: ", "dockerImageTag: 9.9.9-wrong # was ")
    lines = problems_after(repo_copy)
    assert [line for line in lines if "dockerImageTag" in line and "9.9.9-wrong" in line], lines


def test_a_stale_root_manifest_copy_is_named(repo_copy: Path):
    with (repo_copy / "source_cart" / "manifest.yaml").open("a", encoding="utf-8") as handle:
        handle.write("\n# edited after the last `make sync-manifest`\n")
    lines = problems_after(repo_copy)
    assert "manifest.yaml: differs from source_cart/manifest.yaml (run `make sync-manifest`)" in lines


def test_a_base_image_of_another_cdk_is_named(repo_copy: Path):
    edit(repo_copy / "metadata.yaml", "source-declarative-manifest:", "source-declarative-manifest:6.0.0-")
    lines = problems_after(repo_copy)
    assert [line for line in lines if "baseImage" in line and "6.0.0-" in line], lines


def test_future_annotations_in_components_are_named(repo_copy: Path):
    for name in ("components.py", "source_cart/components.py"):
        path = repo_copy / name
        path.write_text("from __future__ import annotations\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    lines = problems_after(repo_copy)
    assert [line for line in lines if line.startswith("components.py:1:") and "__future__" in line], lines
