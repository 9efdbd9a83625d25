"""Every MiniStack symbol the local cloud uses, with a hash of its source (``ministack_manifest.json``).

The patches reach into MiniStack's private functions, so a MiniStack change to any of them may
silently undo a fix. The cloud refuses to start when one changed or vanished (:func:`check`,
called by :func:`localcloud.patches.apply_all`), naming each and the files that use it. After
re-checking those files against the new MiniStack::

    python -m localcloud.manifest --update     # rescan localcloud/, rehash, rewrite the manifest
    python -m localcloud.manifest              # check only (exit 1 and the list when stale)

>>> symbol_hash("ministack.services.sqs", "_act_send_message").startswith("sha256:")
True
"""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import importlib
import importlib.metadata
import inspect
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parent
MANIFEST_PATH = PACKAGE_ROOT / "ministack_manifest.json"
VANISHED = "vanished"
# Calls whose second argument names an attribute of their first (``wrap(sqs, "_dispatch", ...)``).
_NAMING_CALLS = {"wrap", "getattr", "hasattr", "setattr"}


@dataclass(frozen=True, order=True)
class Symbol:
    module: str  # e.g. ministack.services.sqs
    name: str  # e.g. _dispatch, or Worker.invoke for a class attribute

    @property
    def key(self) -> str:
        return f"{self.module}:{self.name}"

    @classmethod
    def from_key(cls, key: str) -> Symbol:
        module, name = key.split(":", 1)
        return cls(module, name)


class ManifestError(RuntimeError):
    """MiniStack symbols the local cloud relies on changed or vanished."""


# ---------------------------------------------------------------------------
# Hashing
# ---------------------------------------------------------------------------


def resolve(symbol: Symbol) -> Any:
    """The object ``symbol`` names; AttributeError / ImportError when it is gone."""
    value: Any = importlib.import_module(symbol.module)
    for part in symbol.name.split("."):
        value = getattr(value, part)
    return value


def module_file_hash(module: str) -> str:
    """``sha256:<hex>`` of a MiniStack module's whole file: when it is as recorded, so is every symbol in it."""
    try:
        source_file = inspect.getsourcefile(importlib.import_module(module))
    except ImportError:
        return VANISHED
    if source_file is None:
        return VANISHED
    return "sha256:" + hashlib.sha256(Path(source_file).read_bytes()).hexdigest()


@functools.cache
def _module_source(module: str) -> tuple[list[str], ast.Module] | None:
    source_file = inspect.getsourcefile(importlib.import_module(module))
    if source_file is None:
        return None
    text = Path(source_file).read_text(encoding="utf-8")
    return text.splitlines(keepends=True), ast.parse(text)


def _definition(module: str, name: str) -> str | None:
    """The source text that defines ``name`` in ``module``'s file (a def, a class, an assignment);
    read from the file, so it is the same before and after the patches edit the live objects."""
    parsed = _module_source(module)
    if parsed is None:
        return None
    lines, tree = parsed
    body: list[ast.stmt] = tree.body
    found: ast.stmt | None = None
    for part in name.split("."):
        found = None
        for node in body:
            if (
                (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == part)
                or (
                    isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == part for t in node.targets)
                )
                or (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == part)
            ):
                found = node
        if found is None:
            return None
        body = found.body if isinstance(found, ast.ClassDef) else []
    if found is None:
        return None
    start = min([found.lineno] + [d.lineno for d in getattr(found, "decorator_list", [])])
    return "".join(lines[start - 1 : found.end_lineno])


def defined_in(module: str, name: str) -> tuple[str, str] | None:
    """(module, qualified name) whose file defines the symbol: its own module's, or for a name MiniStack
    imports from another of its modules, that one's; None when no MiniStack file defines it."""
    if _definition(module, name) is not None:
        return module, name
    try:
        value = inspect.unwrap(resolve(Symbol(module, name)))
    except (ImportError, AttributeError, ValueError):
        return None
    home, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if (
        isinstance(home, str)
        and home.startswith("ministack")
        and isinstance(qualname, str)
        and _definition(home, qualname) is not None
    ):
        return home, qualname
    return None


def symbol_hash(module: str, name: str) -> str:
    """``sha256:<hex>`` of the source that defines the symbol in MiniStack (else of its type, e.g. an
    Event MiniStack creates elsewhere); :data:`VANISHED` when the module no longer has it."""
    try:
        value = resolve(Symbol(module, name))
    except (ImportError, AttributeError):
        return VANISHED
    home = defined_in(module, name)
    text = _definition(*home) if home is not None else None
    if text is None:
        text = f"{type(value).__module__}.{type(value).__qualname__}"
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# Finding what localcloud/ uses
# ---------------------------------------------------------------------------


def _module_aliases(tree: ast.AST) -> dict[str, str]:
    """Names bound to a MiniStack module anywhere in a file (imports, and ``_sqs = sqs`` rebindings)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ministack") and alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ministack"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                try:
                    importlib.import_module(full)
                except ImportError:
                    continue
                aliases[alias.asname or alias.name] = full
    for node in ast.walk(tree):  # def _cw(): from ministack.services import cloudwatch; return cloudwatch
        if (
            isinstance(node, ast.FunctionDef)
            and not node.args.args
            and node.body
            and isinstance(node.body[-1], ast.Return)
            and isinstance(node.body[-1].value, ast.Name)
            and node.body[-1].value.id in aliases
        ):
            aliases[node.name + "()"] = aliases[node.body[-1].value.id]
    changed = True
    while changed:  # rebindings may chain
        changed = False
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                pairs = (
                    zip(target.elts, node.value.elts, strict=False)
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                    else [(target, node.value)]
                )
                for left, right in pairs:
                    if (
                        isinstance(left, ast.Name)
                        and isinstance(right, ast.Name)
                        and right.id in aliases
                        and aliases.get(left.id) != aliases[right.id]
                    ):
                        aliases[left.id] = aliases[right.id]
                        changed = True
    return aliases


def _alias_of(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The MiniStack module an expression names: ``sqs``, or ``_cw()`` for a function returning one."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args:
        return aliases.get(node.func.id + "()")
    return None


def _symbols_in(tree: ast.AST, aliases: dict[str, str]) -> Iterator[Symbol]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ministack"):
            for alias in node.names:
                if f"{node.module}.{alias.name}" not in aliases.values():
                    yield Symbol(node.module or "", alias.name)
        elif isinstance(node, ast.Attribute) and _alias_of(node.value, aliases):
            yield Symbol(_alias_of(node.value, aliases) or "", node.attr)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and _alias_of(node.value.value, aliases)
        ):
            yield Symbol(_alias_of(node.value.value, aliases) or "", f"{node.value.attr}.{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _NAMING_CALLS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            owner = node.args[0]
            if _alias_of(owner, aliases):
                yield Symbol(_alias_of(owner, aliases) or "", node.args[1].value)
            elif isinstance(owner, ast.Attribute) and _alias_of(owner.value, aliases):
                yield Symbol(_alias_of(owner.value, aliases) or "", f"{owner.attr}.{node.args[1].value}")


def _kept(symbol: Symbol) -> Symbol | None:
    """The symbol as recorded: a class attribute stays ``Class.attr`` only when the class is MiniStack's
    and the attribute its own; non-existent names (a local that shadows a module name) are dropped."""
    try:
        value = resolve(symbol)
    except (ImportError, AttributeError):
        if "." in symbol.name:
            return _kept(Symbol(symbol.module, symbol.name.split(".", 1)[0]))
        return None
    if inspect.ismodule(value) or symbol.name.startswith("__"):
        return None
    if "." in symbol.name:
        owner = resolve(Symbol(symbol.module, symbol.name.split(".", 1)[0]))
        if not inspect.isclass(owner) or not (owner.__module__ or "").startswith("ministack"):
            return _kept(Symbol(symbol.module, symbol.name.split(".", 1)[0]))
    return symbol


def scan(root: Path = PACKAGE_ROOT) -> dict[Symbol, list[str]]:
    """Every MiniStack symbol the Python files under ``root`` use -> the files (relative to the repo)."""
    used: dict[Symbol, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        aliases = _module_aliases(tree)
        for found in _symbols_in(tree, aliases):
            symbol = _kept(found)
            if symbol is not None:
                used.setdefault(symbol, set()).add(path.relative_to(root.parent).as_posix())
    return {symbol: sorted(files) for symbol, files in sorted(used.items())}


# ---------------------------------------------------------------------------
# The manifest file
# ---------------------------------------------------------------------------


def build(used: dict[Symbol, list[str]]) -> dict[str, Any]:
    symbols: dict[str, dict[str, Any]] = {}
    for symbol, files in used.items():
        home = defined_in(symbol.module, symbol.name)
        # defined_in: the module whose file holds the definition, so whose file hash covers it
        symbols[symbol.key] = {
            "sha256": symbol_hash(symbol.module, symbol.name),
            "used_in": files,
            "defined_in": home[0] if home is not None else None,
        }
    modules = {symbol.module for symbol in used} | {e["defined_in"] for e in symbols.values() if e["defined_in"]}
    return {
        "ministack": importlib.metadata.version("ministack"),
        "module_files": {module: module_file_hash(module) for module in sorted(modules)},
        "symbols": symbols,
    }


def load(path: Path = MANIFEST_PATH) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest


def write(manifest: dict[str, Any], path: Path = MANIFEST_PATH) -> None:
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def differences(manifest: dict[str, Any]) -> list[str]:
    """One line per recorded symbol whose source changed or that vanished, naming its users."""
    files = manifest.get("module_files", {})
    unchanged = {module for module, digest in files.items() if module_file_hash(module) == digest}
    lines = []
    for key, entry in sorted(manifest["symbols"].items()):
        symbol = Symbol.from_key(key)
        if symbol.module in unchanged and entry.get("defined_in") in unchanged:  # the fast path: a hash per file
            continue
        now = symbol_hash(symbol.module, symbol.name)
        if now != entry["sha256"]:
            what = "vanished" if now == VANISHED else "changed"
            lines.append(f"{symbol.module}.{symbol.name} {what} (used in {', '.join(entry['used_in'])})")
    return lines


def check(manifest: dict[str, Any] | None = None) -> None:
    """Raise :class:`ManifestError` naming every MiniStack symbol that is not as recorded."""
    manifest = load() if manifest is None else manifest
    stale = differences(manifest)
    if stale:
        raise ManifestError(
            f"{len(stale)} MiniStack symbol(s) the local cloud patches differ from the ones it was written for "
            f"(MiniStack {manifest['ministack']}):\n  "
            + "\n  ".join(stale)
            + "\nRe-check the files named, then run: python -m localcloud.manifest --update"
        )


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.manifest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="rescan localcloud/ and rewrite the manifest")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.update:
        manifest = build(scan())
        write(manifest)
        print(f"{MANIFEST_PATH.name}: {len(manifest['symbols'])} MiniStack symbols, MiniStack {manifest['ministack']}")
        return 0
    try:
        check()
    except ManifestError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{MANIFEST_PATH.name}: every recorded MiniStack symbol is unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
