#!/usr/bin/env python3
"""Check the connector against Airbyte's QA conventions for manifest-only connectors.

The checks follow what airbyte-ci's connector QA checks and the manifest-only layout ask for:
registry metadata consistent with pyproject.toml, the base image pinned to the CDK version the
package is tested with, the user docs in Airbyte's template, the manifest-only files at the root,
components.py loadable as injected code, `url` (not `url_base`/`path`) in requesters, and a
documented spec.

Usage: python scripts/check_conventions.py [--root CONNECTOR_DIR]

Prints one line per problem and exits 1, or prints one OK line and exits 0.
Needs only the standard library and PyYAML.
"""

import argparse
import ast
import copy
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
MANIFEST_ONLY_FILES = [("manifest.yaml", "source_cart/manifest.yaml"), ("components.py", "source_cart/components.py")]
COMPONENTS_FILES = ["source_cart/components.py", "components.py"]
SPEC_KEYS = ("title", "description", "order")


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
        return yaml.safe_load(path.read_text(encoding="utf-8"))
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


def pinned_cdk_version(project: Mapping[str, Any]) -> Optional[str]:
    for requirement in project.get("dependencies", []):
        match = re.match(r"^\s*airbyte-cdk\s*(?:\[[^\]]*\])?\s*==\s*([0-9][^\s;,]*)\s*(?:;.*)?$", requirement)
        if match:
            return match.group(1)
    return None


def project_license(project: Mapping[str, Any]) -> Optional[str]:
    value = project.get("license")
    if isinstance(value, Mapping):
        return value.get("text")
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------------------------------------
# metadata.yaml
# ---------------------------------------------------------------------------------------------


def check_metadata(root: Path, project: Optional[Mapping[str, Any]], problems: Problems) -> None:
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
    cdk_version = pinned_cdk_version(project) if project is not None else None
    if project is not None and cdk_version is None:
        problems.add("pyproject.toml: airbyte-cdk is not pinned with `==` in [project] dependencies")
    if not base_image:
        problems.add("metadata.yaml: connectorBuildOptions.baseImage is missing")
    elif cdk_version is not None:
        pattern = re.escape(f"{BASE_IMAGE}:{cdk_version}") + r"(@sha256:[0-9a-f]{64})?"
        if not re.fullmatch(pattern, str(base_image)):
            problems.add(
                f"metadata.yaml: connectorBuildOptions.baseImage is `{base_image}`, expected "
                f"`{BASE_IMAGE}:{cdk_version}` (the airbyte-cdk pinned in pyproject.toml), "
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
    if isinstance(node, Mapping):
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


def check_manifest_only_copies(root: Path, problems: Problems) -> None:
    for copy_name, source_name in MANIFEST_ONLY_FILES:
        copy_path, source_path = root / copy_name, root / source_name
        if not source_path.is_file():
            problems.add(f"{source_name}: file not found")
        elif copy_path.is_symlink():
            problems.add(f"{copy_name}: is a symlink; it must be a copy of {source_name} (run `make sync-manifest`)")
        elif not copy_path.is_file():
            problems.add(f"{copy_name}: missing at the connector root (run `make sync-manifest`)")
        elif copy_path.read_bytes() != source_path.read_bytes():
            problems.add(f"{copy_name}: differs from {source_name} (run `make sync-manifest`)")


def check_components(root: Path, problems: Problems) -> None:
    for name in COMPONENTS_FILES:
        path = root / name
        if not path.is_file() or path.is_symlink():
            continue  # reported by check_manifest_only_copies
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=name)
        except SyntaxError as error:
            problems.add(f"{name}: syntax error at line {error.lineno}: {error.msg}")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.module == "__future__" and any(alias.name == "annotations" for alias in node.names):
                    problems.add(
                        f"{name}:{node.lineno}: `from __future__ import annotations` breaks injected components"
                    )
                if node.level:
                    problems.add(f"{name}:{node.lineno}: relative import (not loadable as injected code)")


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
        if isinstance(node, Mapping):
            if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
                base = resolve(copy.deepcopy(target(node["$ref"])), depth + 1)
                merged = dict(base) if isinstance(base, Mapping) else {}
                if not isinstance(base, Mapping):
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


def check_manifest(root: Path, problems: Problems) -> List[str]:
    """Checks the manifest and returns the names of its streams."""
    manifest = load_yaml(root, "source_cart/manifest.yaml", problems)
    if not isinstance(manifest, Mapping):
        if manifest is not None:
            problems.add("source_cart/manifest.yaml: not a mapping")
        return []
    try:
        resolved = resolve_refs(manifest)
    except (KeyError, IndexError, ValueError, TypeError) as error:
        problems.add(f"source_cart/manifest.yaml: unresolvable $ref ({error!r})")
        return []

    seen = set()
    for key, node in walk_items({"root": resolved}):
        if isinstance(node, Mapping) and node.get("type") == "HttpRequester":
            for deprecated in ("url_base", "path"):
                if deprecated in node and deprecated not in seen:
                    seen.add(deprecated)
                    problems.add(
                        f"source_cart/manifest.yaml: a requester uses `{deprecated}`; use `url` instead"
                    )
            if "url" not in node and "url" not in seen:
                seen.add("url")
                problems.add("source_cart/manifest.yaml: a requester has no `url`")

    if "url_base" not in seen and any(key == "url_base" for key, _ in walk_items(manifest)):
        problems.add("source_cart/manifest.yaml: uses `url_base` (deprecated); use `url` in requesters")

    check_spec(resolved.get("spec") or {}, problems)
    streams = []
    for stream in resolved.get("streams") or []:
        name = stream.get("name") or (stream.get("$parameters") or {}).get("name")
        if name:
            streams.append(str(name))
    if not streams:
        problems.add("source_cart/manifest.yaml: no streams")
    return streams


def check_spec(spec: Mapping[str, Any], problems: Problems) -> None:
    properties = (spec.get("connection_specification") or {}).get("properties")
    if not isinstance(properties, Mapping):
        problems.add("source_cart/manifest.yaml: spec.connection_specification.properties is missing")
        return
    for path, field in spec_fields(properties, "spec"):
        missing = [key for key in SPEC_KEYS if key not in field]
        if not path.endswith(".credentials") and not field.get("examples"):
            missing.append("examples")
        if missing:
            problems.add(f"source_cart/manifest.yaml: {path} has no {', '.join(missing)}")


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
    check_metadata(root, project, problems)
    check_acceptance_test_config(root, problems)
    streams = check_manifest(root, problems)
    check_docs(root, project, streams, problems)
    check_manifest_only_copies(root, problems)
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
