#!/usr/bin/env python3
"""Documentation coverage: lists every public symbol of a module that has no doc comment of its own.

    Scripts/doc-coverage.py SYMBOL_GRAPH_DIR MODULE...

SYMBOL_GRAPH_DIR holds one folder per module with MODULE.symbols.json and MODULE@Other.symbols.json (the members
MODULE adds to other modules' types), as `swift package generate-documentation` extracts them
(.build/<triple>/extracted-symbols/<package>/). Scripts/build-docs.sh runs it after the DocC build.

Prints "MODULE: N public symbols, all documented", or each undocumented symbol with its file and line, and exits 1
when any module has one.

The rule: a symbol counts when it is public or open and declared in the module's own source, and it is documented
when it carries a `///` comment written in that module. Not counted, because nobody can write a comment for them:
  - members the compiler synthesizes or inherits from another module's protocol extension: their identifier holds
    "::SYNTHESIZED::" (Equatable's `!=`, Hashable's `hashValue` and `hash(into:)`, ...), or they have no source
    location (the `init(rawValue:)` of an enum with raw values);
  - extension blocks themselves (`extension ByteBuffer`): their members are counted one by one.
A member written in our source that implements another module's protocol (`description`, `==`, `hash(into:)`) does
count: without its own comment the symbol graph shows the protocol's generic text, which says nothing about ours.
"""
import json
import pathlib
import sys

DOCUMENTED_ACCESS = {"public", "open"}


def symbol_files(root: pathlib.Path, module: str) -> list[pathlib.Path]:
    files = sorted(root.glob(f"**/{module}.symbols.json")) + sorted(root.glob(f"**/{module}@*.symbols.json"))
    # Only the module's own folder: another module's graph never names this one as its main module.
    return [path for path in files if path.parent.name == module]


def location_text(symbol: dict) -> str:
    location = symbol.get("location")
    if not location:
        return "(no source location)"
    uri = location.get("uri", "")
    path = uri.removeprefix("file://")
    try:
        path = str(pathlib.Path(path).relative_to(pathlib.Path.cwd()))
    except ValueError:
        pass
    line = location.get("position", {}).get("line", 0) + 1
    return f"{path}:{line}"


def is_counted(symbol: dict) -> bool:
    if symbol.get("accessLevel") not in DOCUMENTED_ACCESS:
        return False
    if symbol["kind"]["identifier"] == "swift.extension":
        return False
    if "::SYNTHESIZED::" in symbol["identifier"]["precise"]:
        return False
    return "location" in symbol


def has_own_doc(symbol: dict, module: str) -> bool:
    comment = symbol.get("docComment")
    if not comment:
        return False
    # An inherited comment names the module it was written in; ours is written in this one.
    if comment.get("module", module) != module:
        return False
    return any(line.get("text", "").strip() for line in comment.get("lines", []))


def check(root: pathlib.Path, module: str) -> bool:
    files = symbol_files(root, module)
    if not files:
        print(f"{module}: no symbol graph under {root} (was the documentation built?)")
        return False
    seen = set()
    counted = 0
    missing = []
    for path in files:
        graph = json.loads(path.read_text())
        for symbol in graph["symbols"]:
            precise = symbol["identifier"]["precise"]
            if precise in seen or not is_counted(symbol):
                continue
            seen.add(precise)
            counted += 1
            if not has_own_doc(symbol, module):
                name = ".".join(symbol["pathComponents"])
                missing.append((location_text(symbol), symbol["kind"]["displayName"], name))
    if not missing:
        print(f"{module}: {counted} public symbols, all documented")
        return True
    print(f"{module}: {len(missing)} of {counted} public symbols have no doc comment:")
    for where, kind, name in sorted(missing):
        print(f"  {where}: {kind} {name}")
    return False


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    root = pathlib.Path(sys.argv[1])
    results = [check(root, module) for module in sys.argv[2:]]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
