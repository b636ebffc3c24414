#!/usr/bin/env python3
"""Writes the Unity package's .meta files (engine_clients/unity), one per file and folder Unity
imports, each with a GUID derived from the package name and the path: the same on every run and
every machine, so an install from a git URL gets the GUIDs that scenes and prefabs refer to.

    python3 scripts/unity_meta.py            # write missing or stale .meta files, remove orphans
    python3 scripts/unity_meta.py --check    # exit 1 and list what writing would change

Unity skips names ending in `~` (Tests~, Samples~, Documentation~) and hidden names; so does this.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "engine_clients" / "unity"
PACKAGE_NAME = "com.artem.stylizer"

IMPORTERS = {  # suffix: the importer Unity assigns to such a file
    ".cs": "MonoImporter",
    ".asmdef": "AssemblyDefinitionImporter",
    ".md": "TextScriptImporter",
    ".json": "TextScriptImporter",
    ".so": "PluginImporter",
    ".dll": "PluginImporter",
}
# Which editor and player a native plugin loads in, by suffix: (Editor OS, standalone platform).
PLUGIN_PLATFORMS = {".so": ("Linux", "Linux64"), ".dll": ("Windows", "Win64")}
IMPORTER_FIELDS = {
    "MonoImporter": [
        "serializedVersion: 2",
        "defaultReferences: []",
        "executionOrder: 0",
        "icon: {instanceID: 0}",
    ],
}


def plugin_fields(suffix: str) -> list[str]:
    """PluginImporter settings as Unity writes them: an x86-64 plugin for one editor OS and the
    standalone player of that OS, excluded everywhere else."""
    editor_os, player = PLUGIN_PLATFORMS[suffix]
    others = [p for p in ("Linux64", "OSXUniversal", "Win", "Win64") if p != player]
    lines = [
        "serializedVersion: 2",
        "iconMap: {}",
        "executionOrder: {}",
        "defineConstraints: []",
        "isPreloaded: 0",
        "isOverridable: 0",
        "isExplicitlyReferenced: 0",
        "validateReferences: 1",
        "platformData:",
        "- first:",
        "    : Any",
        "  second:",
        "    enabled: 0",
        "    settings:",
        "      Exclude Editor: 0",
        f"      Exclude {player}: 0",
        *(f"      Exclude {p}: 1" for p in others),
        "- first:",
        "    Editor: Editor",
        "  second:",
        "    enabled: 1",
        "    settings:",
        "      CPU: x86_64",
        "      DefaultValueInitialized: true",
        f"      OS: {editor_os}",
        "- first:",
        f"    Standalone: {player}",
        "  second:",
        "    enabled: 1",
        "    settings:",
        "      CPU: x86_64",
    ]
    for p in others:
        lines += [
            "- first:",
            f"    Standalone: {p}",
            "  second:",
            "    enabled: 0",
            "    settings:",
            "      CPU: None",
        ]
    return lines


def guid(relative: str) -> str:
    """32 hex digits from the package name and the asset's path inside the package."""
    return hashlib.md5(f"{PACKAGE_NAME}/{relative}".encode()).hexdigest()


def imported(root: Path) -> list[Path]:
    """Every file and folder under `root` that Unity imports (not the .meta files themselves)."""
    found = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.name.endswith("~") or path.suffix == ".meta":
            continue
        found.append(path)
        if path.is_dir():
            found.extend(imported(path))
    return found


def meta_text(path: Path, relative: str) -> str:
    if path.is_dir():
        importer, extra = "DefaultImporter", []
        head = ["folderAsset: yes"]
    else:
        importer = (
            "PackageManifestImporter" if relative == "package.json" else IMPORTERS.get(path.suffix)
        )
        if importer is None:
            raise SystemExit(
                f"{relative}: no importer known for '{path.suffix}' files; add one to IMPORTERS"
            )
        extra, head = IMPORTER_FIELDS.get(importer, []), []
        if importer == "PluginImporter":
            extra = plugin_fields(path.suffix)
    lines = [
        "fileFormatVersion: 2",
        f"guid: {guid(relative)}",
        *head,
        f"{importer}:",
        "  externalObjects: {}",
        *(f"  {f}" for f in extra),
        "  userData:",
        "  assetBundleName:",
        "  assetBundleVariant:",
    ]
    return "\n".join(lines) + "\n"


def plan(root: Path = PACKAGE) -> tuple[dict[Path, str], list[Path]]:
    """The .meta files that should exist (path: text) and the orphans that should not."""
    wanted = {
        p.with_name(p.name + ".meta"): meta_text(p, p.relative_to(root).as_posix())
        for p in imported(root)
    }
    orphans = [
        m
        for m in sorted(root.rglob("*.meta"))
        if m not in wanted and not any(part.endswith("~") for part in m.relative_to(root).parts)
    ]
    return wanted, orphans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if anything would change"
    )
    args = parser.parse_args(argv)
    wanted, orphans = plan()
    stale = [m for m, text in wanted.items() if not m.exists() or m.read_text() != text]
    if args.check:
        for m in stale:
            print(f"missing or stale: {m.relative_to(PACKAGE)}")
        for m in orphans:
            print(f"orphan: {m.relative_to(PACKAGE)}")
        return 1 if stale or orphans else 0
    for m in stale:
        m.write_text(wanted[m])
    for m in orphans:
        m.unlink()
    print(f"{len(stale)} written, {len(orphans)} removed, {len(wanted)} in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
