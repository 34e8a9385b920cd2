"""scripts/check_conventions.py: the repo follows Airbyte's QA conventions and ours, and the script
notices when a copy of the repo breaks one."""

import contextlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest
import yaml

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


def load_script():
    spec = importlib.util.spec_from_file_location("check_conventions", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECK_CONVENTIONS = load_script()


def run_script(root: Path = ROOT) -> Tuple[int, List[str]]:
    """The script's exit code and printed lines for a connector directory (run in-process: a
    Python start per case would make this file slow)."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = CHECK_CONVENTIONS.main(["--root", str(root)])
    return code, output.getvalue().splitlines()


def lowest_cdk(root: Path) -> str:
    """X of pyproject's `airbyte-cdk>=X,<8`, read the way a reader of the file would."""
    match = re.search(r'"airbyte-cdk\s*>=\s*([0-9.]+)\s*,\s*<\s*8"', (root / "pyproject.toml").read_text())
    assert match, "pyproject.toml requires airbyte-cdk as a range >=X,<8"
    return match.group(1)


def test_repo_follows_the_conventions():
    # As `make conventions` runs it: its own process, from any working directory.
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60, cwd=SCRIPT.parent)
    assert not result.stderr, result.stderr
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[0].startswith("OK") and len(result.stdout.splitlines()) == 1


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The files the script reads, copied (symlinks as symlinks), with metadata's icon present."""
    for name in CHECKED:
        source, target = ROOT / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_dir():
            shutil.copytree(source, target)
        elif source.exists():
            shutil.copyfile(source, target)
    icon = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"].get("icon") or "icon.svg"
    shutil.copyfile(ROOT / "icon.svg", tmp_path / icon)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def set_manifest_version(repo: Path, version: str) -> None:
    path = repo / "manifest.yaml"
    path.write_text(re.sub(r"(?m)^version: .*$", f"version: {version}", path.read_text(encoding="utf-8"), count=1))


def problems_after(repo: Path) -> List[str]:
    code, lines = run_script(repo)
    assert code == 1, lines
    return lines


def test_the_repo_copy_has_the_problems_of_the_repo_only(repo_copy: Path):
    # The baseline of every test below: a copy with the manifest's version set right is clean.
    set_manifest_version(repo_copy, lowest_cdk(repo_copy))
    code, lines = run_script(repo_copy)
    assert code == 0 and lines[0].startswith("OK"), lines


# ---------------------------------------------------------------------------------------------
# metadata.yaml, pyproject.toml and the manifest's version agree
# ---------------------------------------------------------------------------------------------


def test_a_wrong_image_tag_is_named(repo_copy: Path):
    edit(repo_copy / "metadata.yaml", "dockerImageTag: ", "dockerImageTag: 9.9.9-wrong # was ")
    lines = problems_after(repo_copy)
    assert [line for line in lines if "dockerImageTag" in line and "9.9.9-wrong" in line], lines


def test_a_base_image_of_another_cdk_is_named(repo_copy: Path):
    edit(repo_copy / "metadata.yaml", "source-declarative-manifest:", "source-declarative-manifest:6.0.0-")
    lines = problems_after(repo_copy)
    expected = f"docker.io/airbyte/source-declarative-manifest:{lowest_cdk(repo_copy)}"
    assert [line for line in lines if "baseImage" in line and "6.0.0-" in line and expected in line], lines


def test_a_base_image_with_its_digest_is_accepted(repo_copy: Path):
    metadata = repo_copy / "metadata.yaml"
    text = metadata.read_text(encoding="utf-8")
    image = re.search(r"baseImage: (\S+)", text).group(1)
    metadata.write_text(text.replace(image, f"{image}@sha256:{'0123abcd' * 8}"), encoding="utf-8")
    _, lines = run_script(repo_copy)
    assert not [line for line in lines if "baseImage" in line], lines
    metadata.write_text(text.replace(image, f"{image}@sha256:1234"), encoding="utf-8")  # not a digest
    assert [line for line in problems_after(repo_copy) if "baseImage" in line], lines


def test_the_lowest_cdk_is_read_from_pyproject(repo_copy: Path):
    # Raising the range's lower bound makes the base image and the manifest's version stale.
    lowest = lowest_cdk(repo_copy)
    set_manifest_version(repo_copy, lowest)
    edit(repo_copy / "pyproject.toml", f"airbyte-cdk>={lowest},<8", "airbyte-cdk>=7.99.3,<8")
    lines = problems_after(repo_copy)
    assert [line for line in lines if line.startswith("metadata.yaml: connectorBuildOptions.baseImage") and "source-declarative-manifest:7.99.3`" in line], lines
    assert f"manifest.yaml: version is `{lowest}`, expected `7.99.3`" in "\n".join(lines), lines


def test_a_manifest_version_other_than_the_lowest_cdk_is_named(repo_copy: Path):
    set_manifest_version(repo_copy, "6.5.0")
    lines = problems_after(repo_copy)
    assert [line for line in lines if line.startswith(f"manifest.yaml: version is `6.5.0`, expected `{lowest_cdk(repo_copy)}`")], lines


@pytest.mark.parametrize(
    "requirement, named",
    [
        ("airbyte-cdk==7.39.1", "write a range `airbyte-cdk>=X,<N`"),  # a pin, as before the range
        ("airbyte-cdk>=7.39.1", "write a range `airbyte-cdk>=X,<N`"),  # no upper bound
        ("airbyte-cdk>=7.39.1,<9", "use `<8`"),  # lets the next major in
    ],
)
def test_a_cdk_requirement_that_is_not_the_range_is_named(repo_copy: Path, requirement: str, named: str):
    edit(repo_copy / "pyproject.toml", f'"airbyte-cdk>={lowest_cdk(repo_copy)},<8"', f'"{requirement}"')
    lines = problems_after(repo_copy)
    assert [line for line in lines if line.startswith("pyproject.toml: airbyte-cdk") and named in line], lines


# ---------------------------------------------------------------------------------------------
# The root files are the real ones; source_cart/ links to them
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["manifest.yaml", "components.py"])
def test_a_copy_in_the_package_instead_of_a_link_is_named(repo_copy: Path, name: str):
    link = repo_copy / "source_cart" / name
    link.unlink()
    shutil.copyfile(repo_copy / name, link)  # even an identical copy drifts at the next edit
    lines = problems_after(repo_copy)
    assert f"source_cart/{name}: is a copy; it must be a symlink to the root {name} (ln -sf ../{name} source_cart/{name})" in lines


@pytest.mark.parametrize("name", ["manifest.yaml", "components.py"])
def test_a_missing_link_is_named(repo_copy: Path, name: str):
    (repo_copy / "source_cart" / name).unlink()
    lines = problems_after(repo_copy)
    assert f"source_cart/{name}: missing; it must be a symlink to the root {name} (ln -sf ../{name} source_cart/{name})" in lines


def test_a_link_to_another_file_is_named(repo_copy: Path):
    (repo_copy / "source_cart" / "old-manifest.yaml").write_text("version: 6.0.0\n")
    link = repo_copy / "source_cart" / "manifest.yaml"
    link.unlink()
    link.symlink_to("old-manifest.yaml")
    lines = problems_after(repo_copy)
    assert [line for line in lines if line.startswith("source_cart/manifest.yaml: links to `old-manifest.yaml`")], lines


def test_the_real_file_inside_the_package_is_named(repo_copy: Path):
    # The layout before: the package held the file and the root a link.
    (repo_copy / "source_cart" / "manifest.yaml").unlink()
    shutil.move(repo_copy / "manifest.yaml", repo_copy / "source_cart" / "manifest.yaml")
    (repo_copy / "manifest.yaml").symlink_to("source_cart/manifest.yaml")
    lines = problems_after(repo_copy)
    assert [line for line in lines if line.startswith("manifest.yaml: is a symlink")], lines
    assert [line for line in lines if line.startswith("source_cart/manifest.yaml: is a copy")], lines


# ---------------------------------------------------------------------------------------------
# components.py: loadable as injected code, and never patching the CDK
# ---------------------------------------------------------------------------------------------


def add_to_components(repo: Path, code: str) -> None:
    path = repo / "components.py"
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + code + "\n", encoding="utf-8")


def components_problems(repo: Path) -> List[str]:
    """The script's lines about components.py (its check alone: the manifest takes longer)."""
    problems = CHECK_CONVENTIONS.Problems()
    CHECK_CONVENTIONS.check_components(repo, problems)
    assert all(line.startswith("components.py:") for line in problems.lines), problems.lines
    return problems.lines


def test_future_annotations_in_components_are_named(repo_copy: Path):
    path = repo_copy / "components.py"
    path.write_text("from __future__ import annotations\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    lines = problems_after(repo_copy)
    assert [line for line in lines if line.startswith("components.py:1:") and "__future__" in line], lines


def test_the_repo_components_patch_nothing_of_the_cdk():
    assert components_problems(ROOT) == []


@pytest.mark.parametrize(
    "code, named",
    [
        ("from airbyte_cdk.sources.declarative.declarative_stream import _private_helper", "_private_helper"),
        ("from airbyte_cdk.cli.source_declarative_manifest._run import handle_command", "_run.handle_command"),
        ("import airbyte_cdk.cli.source_declarative_manifest._run", "_run"),
    ],
)
def test_a_private_cdk_import_is_named(repo_copy: Path, code: str, named: str):
    add_to_components(repo_copy, code)
    problems = components_problems(repo_copy)
    assert len(problems) == 1 and "private to airbyte_cdk" in problems[0] and named in problems[0], problems


@pytest.mark.parametrize(
    "code, named",
    [
        (
            "from airbyte_cdk.sources.declarative.datetime.datetime_parser import DatetimeParser\n"
            "DatetimeParser.parse = lambda self, value, fmt: value",
            "DatetimeParser.parse",
        ),
        (
            "from airbyte_cdk.sources.types import StreamSlice as Slice\n"
            "def install():\n    Slice.__hash__ = lambda self: 0",
            "Slice.__hash__",
        ),
        (
            "import airbyte_cdk.sources.types as cdk_types\n"
            "cdk_types.StreamSlice.__hash__ = None",
            "cdk_types.StreamSlice.__hash__",
        ),
        (
            "from airbyte_cdk.sources.declarative.extractors.record_selector import RecordSelector\n"
            "def install():\n    setattr(RecordSelector, '_normalize_by_schema', lambda *a: a)",
            "setattr(RecordSelector, ...)",
        ),
        (
            "from airbyte_cdk.sources.declarative.extractors.record_selector import RecordSelector\n"
            "Selector = RecordSelector\n"
            "Selector.select_records = None",
            "Selector.select_records",
        ),
        (
            "from airbyte_cdk.sources.declarative.extractors import record_selector\n"
            "record_selector.RecordSelector.__dict__['x'] = 1",
            "record_selector.RecordSelector.__dict__['x']",
        ),
    ],
)
def test_a_patch_of_the_cdk_in_components_is_named(repo_copy: Path, code: str, named: str):
    add_to_components(repo_copy, code)
    problems = components_problems(repo_copy)
    assert len(problems) == 1 and f"`{named}" in problems[0], problems
    assert all("never patch the CDK" in p for p in problems), problems


def test_assignments_to_our_own_objects_are_not_patches(repo_copy: Path):
    add_to_components(
        repo_copy,
        "from airbyte_cdk.models import FailureType\n"
        "class Ours:\n    kind = FailureType.config_error\n"
        "Ours.limit = 5\n"
        "setattr(Ours, 'other', 6)\n"
        "def f(request):\n    request.headers['X'] = '1'\n    request.hooks = {}\n",
    )
    assert components_problems(repo_copy) == []
