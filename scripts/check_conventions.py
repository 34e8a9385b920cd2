#!/usr/bin/env python3
"""Check the connector against Airbyte's QA conventions for manifest-only connectors.

The checks follow what airbyte-ci's connector QA checks and the manifest-only layout ask for:
registry metadata consistent with pyproject.toml; airbyte-cdk required as a range `>=X,<N`
(N the next major) whose lowest version X is the base image's tag and the manifest's `version`
(the release the connector is tested against); the user docs in Airbyte's template; the
manifest-only files at the root as the only copies, with source_cart/ linking to them;
components.py loadable as injected code and touching nothing of the CDK (no private names, no
assignments to CDK objects); `url` (not `url_base`/`path`) in requesters; and a documented spec.

Usage: python scripts/check_conventions.py [--root CONNECTOR_DIR]

Prints one line per problem and exits 1, or prints one OK line and exits 0.
Needs only the standard library and PyYAML.
"""

import argparse
import ast
import copy
import os
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import yaml

DOCS = "docs/integrations/sources/cart.md"
DOC_SECTIONS = [
    "Prerequisites",
    "Setup guide",
    "Supported sync modes",
    "Supported Streams",
    "Performance considerations",
    "Data type map",
    "Limitations & Troubleshooting",
    "Changelog",
]
REQUIRED_TAGS = ["language:manifest-only", "cdk:low-code"]
REQUIRED_HOSTS = ["${credentials.store_name}", "public.americommerce.com"]
BASE_IMAGE = "docker.io/airbyte/source-declarative-manifest"
MANIFEST = "manifest.yaml"
COMPONENTS = "components.py"
# (the real file at the root, the symlink to it in the package)
MANIFEST_ONLY_FILES = [(MANIFEST, "source_cart/manifest.yaml"), (COMPONENTS, "source_cart/components.py")]
SPEC_KEYS = ("title", "description", "order")
# PyYAML's C parser where it was built with libyaml: ten times faster on the manifest.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Problems:
    def __init__(self) -> None:
        self.lines: List[str] = []

    def add(self, message: str) -> None:
        self.lines.append(message)


# ---------------------------------------------------------------------------------------------
# Reading the files
# ---------------------------------------------------------------------------------------------


def load_yaml(root: Path, name: str, problems: Problems) -> Optional[Any]:
    path = root / name
    if not path.is_file():
        problems.add(f"{name}: file not found")
        return None
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except yaml.YAMLError as error:
        problems.add(f"{name}: not valid YAML ({str(error).splitlines()[0]})")
        return None


def load_pyproject(root: Path, problems: Problems) -> Optional[Dict[str, Any]]:
    path = root / "pyproject.toml"
    if not path.is_file():
        problems.add("pyproject.toml: file not found")
        return None
    text = path.read_text(encoding="utf-8")
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # Python 3.10: read the few [project] keys needed here
        return _project_table_without_tomllib(text)
    try:
        return tomllib.loads(text).get("project", {})
    except tomllib.TOMLDecodeError as error:
        problems.add(f"pyproject.toml: not valid TOML ({error})")
        return None


def _project_table_without_tomllib(text: str) -> Dict[str, Any]:
    match = re.search(r"^\[project\]\s*$(.*?)(?=^\[)", text + "\n[", re.S | re.M)
    body = match.group(1) if match else ""
    project: Dict[str, Any] = {}
    for key in ("name", "version"):
        found = re.search(rf'^{key}\s*=\s*"([^"]*)"', body, re.M)
        if found:
            project[key] = found.group(1)
    license_text = re.search(r'^license\s*=\s*\{\s*text\s*=\s*"([^"]*)"', body, re.M)
    license_plain = re.search(r'^license\s*=\s*"([^"]*)"', body, re.M)
    if license_text:
        project["license"] = {"text": license_text.group(1)}
    elif license_plain:
        project["license"] = license_plain.group(1)
    dependencies = re.search(r"^dependencies\s*=\s*\[(.*?)\]", body, re.S | re.M)
    if dependencies:
        project["dependencies"] = re.findall(r'"([^"]+)"', dependencies.group(1))
    return project


def cdk_requirement(project: Mapping[str, Any]) -> Optional[str]:
    for requirement in project.get("dependencies", []):
        if re.match(r"^\s*airbyte-cdk\s*(?:\[[^\]]*\])?\s*(?:[<>=!~;]|$)", requirement):
            return requirement
    return None


def lowest_cdk_version(project: Mapping[str, Any], problems: Problems) -> Optional[str]:
    """X of the `airbyte-cdk>=X,<N` requirement (N the major after X's), or None (reported)."""
    requirement = cdk_requirement(project)
    if requirement is None:
        problems.add("pyproject.toml: [project] dependencies lack airbyte-cdk")
        return None
    match = re.match(r"^\s*airbyte-cdk\s*(?:\[[^\]]*\])?\s*([^;]*?)\s*(?:;.*)?$", requirement)
    clauses = [c.strip() for c in (match.group(1) if match else "").split(",") if c.strip()]
    lower = [c[2:].strip() for c in clauses if c.startswith(">=")]
    upper = [c[1:].strip() for c in clauses if c.startswith("<") and not c.startswith("<=")]
    if len(clauses) != 2 or len(lower) != 1 or len(upper) != 1 or not re.fullmatch(r"\d+(\.\d+)*", lower[0]):
        problems.add(
            f"pyproject.toml: airbyte-cdk is required as `{requirement.strip()}`; write a range "
            f"`airbyte-cdk>=X,<N`: X the lowest release the connector is tested with (the base "
            f"image's tag and the manifest's version), N the next major"
        )
        return None
    major = int(lower[0].split(".")[0])
    if upper[0] not in (str(major + 1), f"{major + 1}.0", f"{major + 1}.0.0"):
        problems.add(
            f"pyproject.toml: airbyte-cdk's upper bound is `<{upper[0]}`; use `<{major + 1}`, the "
            f"major after {lower[0]} (a new major may change the manifest's meaning)"
        )
    return lower[0]


def project_license(project: Mapping[str, Any]) -> Optional[str]:
    value = project.get("license")
    if isinstance(value, Mapping):
        return value.get("text")
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------------------------------------
# metadata.yaml
# ---------------------------------------------------------------------------------------------


def check_metadata(
    root: Path, project: Optional[Mapping[str, Any]], cdk_version: Optional[str], problems: Problems
) -> None:
    metadata = load_yaml(root, "metadata.yaml", problems)
    if metadata is None:
        return
    data = metadata.get("data") if isinstance(metadata, Mapping) else None
    if not isinstance(data, Mapping):
        problems.add("metadata.yaml: no `data` mapping")
        return

    tags = data.get("tags") or []
    for tag in REQUIRED_TAGS:
        if tag not in tags:
            problems.add(f"metadata.yaml: tags lack `{tag}` (found: {tags})")

    base_image = (data.get("connectorBuildOptions") or {}).get("baseImage")
    if not base_image:
        problems.add("metadata.yaml: connectorBuildOptions.baseImage is missing")
    elif cdk_version is not None:
        pattern = re.escape(f"{BASE_IMAGE}:{cdk_version}") + r"(@sha256:[0-9a-f]{64})?"
        if not re.fullmatch(pattern, str(base_image)):
            problems.add(
                f"metadata.yaml: connectorBuildOptions.baseImage is `{base_image}`, expected "
                f"`{BASE_IMAGE}:{cdk_version}` (the lowest airbyte-cdk of pyproject.toml's range), "
                f"optionally followed by @sha256:<64 hex digits>"
            )

    if project is not None:
        version = project.get("version")
        if str(data.get("dockerImageTag")) != str(version):
            problems.add(
                f"metadata.yaml: dockerImageTag is `{data.get('dockerImageTag')}` but pyproject.toml "
                f"version is `{version}`"
            )
        license_name = project_license(project)
        if str(data.get("license")) != str(license_name):
            problems.add(
                f"metadata.yaml: license is `{data.get('license')}` but pyproject.toml license is "
                f"`{license_name}`"
            )
        pypi = (data.get("remoteRegistries") or {}).get("pypi") or {}
        if pypi.get("enabled") is not True:
            problems.add("metadata.yaml: remoteRegistries.pypi.enabled is not true")
        if pypi.get("packageName") != project.get("name"):
            problems.add(
                f"metadata.yaml: remoteRegistries.pypi.packageName is `{pypi.get('packageName')}` but "
                f"pyproject.toml name is `{project.get('name')}`"
            )

    hosts = (data.get("allowedHosts") or {}).get("hosts") or []
    for host in REQUIRED_HOSTS:
        if host not in hosts:
            problems.add(f"metadata.yaml: allowedHosts.hosts lacks `{host}`")

    for key in ("releaseStage", "supportLevel", "documentationUrl"):
        if not data.get(key):
            problems.add(f"metadata.yaml: `{key}` is missing")

    icon = data.get("icon")
    if not icon:
        problems.add("metadata.yaml: `icon` is missing")
    else:
        check_icon(root, str(icon), problems)


def check_icon(root: Path, icon: str, problems: Problems) -> None:
    path = root / icon
    if not path.is_file():
        problems.add(f"metadata.yaml: icon `{icon}` does not exist")
        return
    try:
        tag = ElementTree.parse(str(path)).getroot().tag
    except ElementTree.ParseError as error:
        problems.add(f"{icon}: not valid XML/SVG ({error})")
        return
    if tag not in ("svg", "{http://www.w3.org/2000/svg}svg"):
        problems.add(f"{icon}: root element is `{tag}`, not an SVG `<svg>`")


# ---------------------------------------------------------------------------------------------
# acceptance-test-config.yml
# ---------------------------------------------------------------------------------------------


def check_acceptance_test_config(root: Path, problems: Problems) -> None:
    config = load_yaml(root, "acceptance-test-config.yml", problems)
    if config is None:
        return
    for key, value in walk_items(config):
        if key.endswith("_path") and isinstance(value, str) and not (root / value).is_file():
            problems.add(f"acceptance-test-config.yml: {key} `{value}` does not exist")


def walk_items(node: Any) -> Iterator[Tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from walk_items(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_items(item)


# ---------------------------------------------------------------------------------------------
# User docs
# ---------------------------------------------------------------------------------------------


def headings(text: str) -> List[Tuple[int, int, str]]:
    """(line index, level, title) of every Markdown heading outside code fences."""
    result = []
    fenced = False
    for index, line in enumerate(text.splitlines()):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if match and not fenced:
            result.append((index, len(match.group(1)), match.group(2).strip()))
    return result


def section_lines(text: str, title: str) -> List[str]:
    lines = text.splitlines()
    found = headings(text)
    for position, (index, level, name) in enumerate(found):
        if name == title:
            end = next((i for i, lvl, _ in found[position + 1 :] if lvl <= level), len(lines))
            return lines[index + 1 : end]
    return []


def table_first_cells(lines: List[str]) -> List[str]:
    cells = []
    rows = [line.strip() for line in lines if line.strip().startswith("|")]
    for row in rows[2:] if len(rows) >= 2 else []:  # after the header and its |---| line
        first = row.strip("|").split("|")[0].strip().strip("`").strip()
        if first:
            cells.append(first)
    return cells


def check_docs(root: Path, project: Optional[Mapping[str, Any]], streams: List[str], problems: Problems) -> None:
    path = root / DOCS
    if not path.is_file():
        problems.add(f"{DOCS}: file not found")
        return
    text = path.read_text(encoding="utf-8")
    titles = [title for _, _, title in headings(text)]
    positions = []
    for section in DOC_SECTIONS:
        if section not in titles:
            problems.add(f"{DOCS}: no `{section}` heading")
        else:
            positions.append((titles.index(section), section))
    order = [section for _, section in sorted(positions)]
    expected = [section for section in DOC_SECTIONS if section in titles]
    if order != expected:
        problems.add(f"{DOCS}: sections out of order: {order}, expected {expected}")

    if project is not None and "Changelog" in titles:
        versions = table_first_cells(section_lines(text, "Changelog"))
        if str(project.get("version")) not in versions:
            problems.add(f"{DOCS}: the Changelog table has no row for version {project.get('version')}")

    if "Supported Streams" in titles:
        listed = table_first_cells(section_lines(text, "Supported Streams"))
        for stream in streams:
            if stream not in listed:
                problems.add(f"{DOCS}: stream `{stream}` is not in the Supported Streams table")


# ---------------------------------------------------------------------------------------------
# Manifest and components
# ---------------------------------------------------------------------------------------------


def check_layout(root: Path, problems: Problems) -> None:
    """The root files are the real ones (where Airbyte's manifest-only tooling reads them); the
    package's are symlinks to them, so there is one copy to edit and nothing to keep in step."""
    for real_name, link_name in MANIFEST_ONLY_FILES:
        real, link = root / real_name, root / link_name
        fix = f"(ln -sf ../{real_name} {link_name})"
        if real.is_symlink():
            problems.add(f"{real_name}: is a symlink; the root must hold the real file, and {link_name} link to it")
        elif not real.is_file():
            problems.add(f"{real_name}: file not found at the connector root")
        if link.is_symlink():
            if not link.exists() or link.resolve() != real.resolve():
                problems.add(
                    f"{link_name}: links to `{os.readlink(link)}`, not to the root {real_name} {fix}"
                )
        elif link.exists():
            problems.add(f"{link_name}: is a copy; it must be a symlink to the root {real_name} {fix}")
        else:
            problems.add(f"{link_name}: missing; it must be a symlink to the root {real_name} {fix}")


def check_components(root: Path, problems: Problems) -> None:
    """components.py loads as injected code, and changes nothing of the CDK: the Builder loads it
    into a server that other connectors share, and a CDK release may rename any private name."""
    path = root / COMPONENTS
    if not path.is_file():
        return  # reported by check_layout
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=COMPONENTS)
    except SyntaxError as error:
        problems.add(f"{COMPONENTS}: syntax error at line {error.lineno}: {error.msg}")
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.module == "__future__" and any(alias.name == "annotations" for alias in node.names):
                problems.add(
                    f"{COMPONENTS}:{node.lineno}: `from __future__ import annotations` breaks injected components"
                )
            if node.level:
                problems.add(f"{COMPONENTS}:{node.lineno}: relative import (not loadable as injected code)")
    for line, name in private_cdk_imports(tree):
        problems.add(f"{COMPONENTS}:{line}: imports `{name}`, private to airbyte_cdk; use its public API")
    for line, statement, changed in cdk_patches(tree):
        problems.add(f"{COMPONENTS}:{line}: `{statement}` changes airbyte_cdk's `{changed}`; never patch the CDK")


def _is_cdk_module(module: Optional[str]) -> bool:
    return bool(module) and (module == "airbyte_cdk" or str(module).startswith("airbyte_cdk."))


def private_cdk_imports(tree: ast.AST) -> Iterator[Tuple[int, str]]:
    """(line, dotted name) of every name or module imported from airbyte_cdk that starts with `_`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and _is_cdk_module(node.module):
            module_private = any(part.startswith("_") for part in str(node.module).split("."))
            for alias in node.names:
                if module_private or alias.name.startswith("_"):
                    yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_cdk_module(alias.name) and any(part.startswith("_") for part in alias.name.split(".")):
                    yield node.lineno, alias.name


def cdk_names(tree: ast.AST) -> Dict[str, str]:
    """Local name -> what it is, for every name bound to something of airbyte_cdk: imports, and
    plain aliases of them (`X = CdkClass`, `Y = CdkClass.method`), wherever they are bound."""
    names: Dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and _is_cdk_module(node.module):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_cdk_module(alias.name):
                    local = alias.asname or alias.name.split(".")[0]
                    names[local] = alias.name if alias.asname else local
    changed = True
    while changed:  # aliases of aliases
        changed = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                root = _root_name(node.value)
                if root in names:
                    for target in node.targets:
                        if isinstance(target, ast.Name) and target.id not in names:
                            names[target.id] = f"{names[root]}{ast.unparse(node.value)[len(root):]}"
                            changed = True
    return names


def _root_name(node: ast.AST) -> Optional[str]:
    """`a` for `a`, `a.b.c`, `a.b[0]`, `a.__dict__["x"]`; None for anything else."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def cdk_patches(tree: ast.AST) -> Iterator[Tuple[int, str, str]]:
    """(line, statement, what of airbyte_cdk it changes) for every assignment to, or deletion of,
    an attribute or item of something from airbyte_cdk (`CdkClass.attr = ...`,
    `cdk_module.f = ...`, `CdkClass.__dict__[k] = ...`), and every setattr/delattr on one."""
    names = cdk_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            root = _root_name(node.args[0]) if node.args else None
            if root in names:
                yield node.lineno, f"{node.func.id}({ast.unparse(node.args[0])}, ...)", names[root]
            continue
        if isinstance(node, ast.Assign):
            targets, form = list(node.targets), "{} = ..."
        elif isinstance(node, ast.AugAssign):
            targets, form = [node.target], "{} " + ast.unparse(node)[len(ast.unparse(node.target)) :].split()[0] + " ..."
        elif isinstance(node, ast.AnnAssign):
            targets, form = [node.target], "{} = ..."
        elif isinstance(node, ast.Delete):
            targets, form = list(node.targets), "del {}"
        else:
            continue
        for target in targets:
            for element in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
                root = _root_name(element)
                if isinstance(element, (ast.Attribute, ast.Subscript)) and root in names:
                    yield node.lineno, form.format(ast.unparse(element)), names[root]


def resolve_refs(manifest: Any) -> Any:
    """The manifest with `$ref: "#/a/b"` replaced by its target (siblings of $ref override it)."""

    def target(pointer: str) -> Any:
        node: Any = manifest
        for part in pointer.lstrip("#").strip("/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def resolve(node: Any, depth: int = 0) -> Any:
        if depth > 50:
            raise ValueError("$ref nesting too deep (a cycle?)")
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
                base = resolve(copy.deepcopy(target(node["$ref"])), depth + 1)
                merged = dict(base) if isinstance(base, dict) else {}
                if not isinstance(base, dict):
                    return base if len(node) == 1 else node
                for key, value in node.items():
                    if key != "$ref":
                        merged[key] = resolve(value, depth + 1)
                return merged
            return {key: resolve(value, depth + 1) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item, depth + 1) for item in node]
        return node

    return resolve(manifest)


def check_manifest(root: Path, cdk_version: Optional[str], problems: Problems) -> List[str]:
    """Checks the manifest and returns the names of its streams."""
    manifest = load_yaml(root, MANIFEST, problems)
    if not isinstance(manifest, Mapping):
        if manifest is not None:
            problems.add(f"{MANIFEST}: not a mapping")
        return []
    if cdk_version is not None and str(manifest.get("version")) != cdk_version:
        problems.add(
            f"{MANIFEST}: version is `{manifest.get('version')}`, expected `{cdk_version}` (the lowest "
            f"airbyte-cdk of pyproject.toml's range, which the base image runs)"
        )
    try:
        resolved = resolve_refs(manifest)
    except (KeyError, IndexError, ValueError, TypeError) as error:
        problems.add(f"{MANIFEST}: unresolvable $ref ({error!r})")
        return []

    seen = set()
    for key, node in walk_items({"root": resolved}):
        if isinstance(node, dict) and node.get("type") == "HttpRequester":
            for deprecated in ("url_base", "path"):
                if deprecated in node and deprecated not in seen:
                    seen.add(deprecated)
                    problems.add(
                        f"{MANIFEST}: a requester uses `{deprecated}`; use `url` instead"
                    )
            if "url" not in node and "url" not in seen:
                seen.add("url")
                problems.add(f"{MANIFEST}: a requester has no `url`")

    if "url_base" not in seen and any(key == "url_base" for key, _ in walk_items(manifest)):
        problems.add(f"{MANIFEST}: uses `url_base` (deprecated); use `url` in requesters")

    check_spec(resolved.get("spec") or {}, problems)
    streams = []
    for stream in resolved.get("streams") or []:
        name = stream.get("name") or (stream.get("$parameters") or {}).get("name")
        if name:
            streams.append(str(name))
    if not streams:
        problems.add(f"{MANIFEST}: no streams")
    return streams


def check_spec(spec: Mapping[str, Any], problems: Problems) -> None:
    properties = (spec.get("connection_specification") or {}).get("properties")
    if not isinstance(properties, Mapping):
        problems.add(f"{MANIFEST}: spec.connection_specification.properties is missing")
        return
    for path, field in spec_fields(properties, "spec"):
        missing = [key for key in SPEC_KEYS if key not in field]
        if not path.endswith(".credentials") and not field.get("examples"):
            missing.append("examples")
        if missing:
            problems.add(f"{MANIFEST}: {path} has no {', '.join(missing)}")


def spec_fields(properties: Mapping[str, Any], prefix: str) -> Iterator[Tuple[str, Mapping[str, Any]]]:
    for name, field in properties.items():
        if name == "auth_type" or not isinstance(field, Mapping):
            continue
        path = f"{prefix}.{name}"
        yield path, field
        for index, option in enumerate(field.get("oneOf") or []):
            if isinstance(option, Mapping) and isinstance(option.get("properties"), Mapping):
                label = option.get("title") or index
                yield from spec_fields(option["properties"], f"{path}[{label}]")
        if isinstance(field.get("properties"), Mapping):
            yield from spec_fields(field["properties"], path)


# ---------------------------------------------------------------------------------------------


def check(root: Path) -> List[str]:
    problems = Problems()
    project = load_pyproject(root, problems)
    cdk_version = lowest_cdk_version(project, problems) if project is not None else None
    check_metadata(root, project, cdk_version, problems)
    check_acceptance_test_config(root, problems)
    streams = check_manifest(root, cdk_version, problems)
    check_docs(root, project, streams, problems)
    check_layout(root, problems)
    check_components(root, problems)
    return problems.lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, default=Path(__file__).resolve().parent.parent, help="the connector's directory"
    )
    args = parser.parse_args(argv)
    problems = check(args.root)
    for line in problems:
        print(line)
    if problems:
        return 1
    print("OK: metadata, docs, manifest-only layout, components and spec follow Airbyte's conventions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
