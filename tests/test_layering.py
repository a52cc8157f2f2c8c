"""The packages depend one way: crypto ← platform ← clients ← app, and no module imports itself
back through others.

Every import statement of every module is read with :mod:`ast`, those inside functions and
``if TYPE_CHECKING:`` blocks included, and resolved to the module it names (``from a.b import
c`` names ``a.b.c`` when that is a module of ours, else ``a.b``). A cycle counts every import
that runs: one deferred into a function closes a circle as surely as one at the top of the
module; only ``if TYPE_CHECKING:`` imports, which never run, are left out of cycles. A participant
(``fedledger_clients``) may use only the platform pieces it runs with, listed in
:data:`PARTICIPANT_PLATFORM`: the aggregator's HTTP client, the ledger and protocol surfaces, the
model file format, the errors and the heap tuning — never the aggregator service, storage or the
auditor.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_ROOTS = {
    "fedledger_crypto": ROOT / "crypto",
    "fedledger_platform": ROOT / "platform",
    "fedledger_clients": ROOT / "clients",
    "fedledger_app": ROOT / "app",
}

#: The platform modules (or package surfaces) a participant uses; nothing else of the platform.
PARTICIPANT_PLATFORM = frozenset(
    {
        "fedledger_platform.api_client",  # the aggregator's REST API, as its client
        "fedledger_platform.errors",
        "fedledger_platform.heap",  # the daemon's process tuning, as `fedledger serve` does
        "fedledger_platform.ledger",  # the typed ledger facade, through the package surface
        "fedledger_platform.modelfile",
        "fedledger_platform.protocol",  # the round lifecycle and the participant rule
    }
)

#: Which of our modules each package may import, besides its own.
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "fedledger_crypto": (),
    "fedledger_platform": ("fedledger_crypto",),
    "fedledger_clients": ("fedledger_crypto", *sorted(PARTICIPANT_PLATFORM)),
    "fedledger_app": ("fedledger_crypto", "fedledger_platform", "fedledger_clients"),
}


@dataclass(frozen=True)
class Import:
    """One import statement's target, where it is and whether it runs when the module loads."""

    where: str  # file:line, the file relative to the repository
    target: str
    runs: bool  # False inside `if TYPE_CHECKING:`

    def __str__(self) -> str:
        return f"{self.where} imports {self.target}"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    shown: str  # the path relative to the repository


def module_files(roots: dict[str, Path] = SOURCE_ROOTS) -> dict[str, Module]:
    """Every module of our packages by dotted name (a package by its ``__init__.py``)."""
    modules: dict[str, Module] = {}
    for package, root in roots.items():
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join(parts)
            modules[name] = Module(name, path, str(path.relative_to(root.parent)))
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(
    body: list[ast.stmt], *, runs: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Import statements in ``body`` at any depth (functions included), with whether they can
    run at all."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, runs
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.body, runs=False)
            yield from _statements(node.orelse, runs=runs)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    nested = [c for c in children if isinstance(c, ast.stmt)]
                    for child in children:  # except handlers and match cases hold bodies
                        if isinstance(child, ast.excepthandler | ast.match_case):
                            nested.extend(child.body)
                    yield from _statements(nested, runs=runs)


def imports_of(module: Module, ours: set[str]) -> list[Import]:
    """The imports of ``module`` that name one of our packages."""
    tree = ast.parse(module.path.read_text(), filename=str(module.path))
    name = module.name
    package = name if module.path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node, runs in _statements(tree.body, runs=True):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:  # relative: from the importing module's package upwards
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in ours else base
                for alias in node.names
            ]
        found.extend(
            Import(f"{module.shown}:{node.lineno}", target, runs)
            for target in dict.fromkeys(targets)
            if target.split(".")[0] in SOURCE_ROOTS
        )
    return found


def _allowed(importer: str, target: str) -> bool:
    package = importer.split(".", maxsplit=1)[0]
    if target.split(".", maxsplit=1)[0] == package:
        return True
    for allowed in MAY_IMPORT[package]:
        if allowed in SOURCE_ROOTS:  # a whole package
            if target.split(".", maxsplit=1)[0] == allowed:
                return True
        elif target == allowed:  # one module or package surface
            return True
    return False


def upward_imports(modules: dict[str, Module]) -> list[str]:
    """Every import that breaks :data:`MAY_IMPORT`, as ``file:line imports target (why)``."""
    ours = set(modules)
    problems = []
    for name, module in modules.items():
        package = name.split(".")[0]
        for found in imports_of(module, ours):
            if not _allowed(name, found.target):
                allowed = ", ".join(MAY_IMPORT[package]) or "none of our packages"
                problems.append(f"{found} ({package} may import only: {allowed})")
    return problems


def import_cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Cycles of imports that run, between our modules; each as the modules around it."""
    ours = set(modules)
    graph = {
        name: sorted({i.target for i in imports_of(module, ours) if i.runs})
        for name, module in modules.items()
    }
    # Tarjan's strongly connected components: every component of two or more modules (or a
    # module importing itself) is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, []):
            if nxt not in graph:
                continue  # a name that is not a module of ours (caught by the import itself)
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


# ---------------------------------------------------------------------- the rules


def test_every_source_root_is_read() -> None:
    modules = module_files()
    for package in SOURCE_ROOTS:
        assert package in modules, f"{package} has no __init__.py"
    assert len(modules) > 50, sorted(modules)


def test_no_package_imports_upward() -> None:
    problems = upward_imports(module_files())
    assert not problems, "imports against the layering:\n" + "\n".join(problems)


def test_no_import_cycles() -> None:
    cycles = import_cycles(module_files())
    assert not cycles, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in cycles)


#: What only the aggregator and the auditor run; a participant process must not even load it.
SERVICE_SIDE = (
    "fedledger_platform.aggregator.",
    "fedledger_platform.storage",
    "fedledger_platform.audit",
)


def test_a_participant_process_loads_no_service_code() -> None:
    """The participant imports only what it may (above), but importing a module also runs its
    packages' ``__init__.py``: check what a participant process really loads."""
    probe = (
        "import sys\n"
        "import fedledger_clients.config, fedledger_clients.daemon\n"
        "import fedledger_clients.keydealer, fedledger_clients.participant\n"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    service = [
        name
        for name in loaded
        if name.startswith(SERVICE_SIDE) and name not in PARTICIPANT_PLATFORM
    ]
    assert not service, "a participant process loads service code:\n" + "\n".join(service)


# ---------------------------------------------------------------------- the checker itself


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    """A throwaway copy of the four source roots holding ``files`` (module name → source)."""
    roots = {package: tmp_path / package.removeprefix("fedledger_") for package in SOURCE_ROOTS}
    for package, root in roots.items():
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    for name, text in files.items():
        path = roots[name.split(".")[0]].joinpath(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(roots[name.split(".")[0]]).parents[:-1]:
            (roots[name.split(".")[0]] / parent / "__init__.py").touch()
        path.write_text(text)
    return module_files(roots)


@pytest.mark.parametrize(
    ("module", "text", "expected"),
    [
        ("fedledger_crypto.x", "import fedledger_platform.ledger\n", "fedledger_platform.ledger"),
        (
            "fedledger_platform.x",
            "def f() -> None:\n    from fedledger_clients import daemon\n",
            "fedledger_clients.daemon",
        ),
        (
            "fedledger_platform.x",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import fedledger_app\n",
            "fedledger_app",
        ),
        (
            "fedledger_clients.x",
            "try:\n    pass\nexcept ImportError:\n"
            "    from fedledger_platform.aggregator import service\n",
            "fedledger_platform.aggregator.service",
        ),
        (
            "fedledger_clients.x",
            "from fedledger_platform.ledger.devnet import free_port\n",
            "fedledger_platform.ledger.devnet",
        ),
        ("fedledger_clients.x", "from fedledger_app.cli import main\n", "fedledger_app.cli"),
    ],
)
def test_upward_imports_are_found_wherever_they_are(
    tmp_path: Path, module: str, text: str, expected: str
) -> None:
    modules = _tree(
        tmp_path,
        {module: text, "fedledger_platform.aggregator.service": "", "fedledger_clients.daemon": ""},
    )
    (problem,) = upward_imports(modules)
    assert problem.startswith(f"{modules[module].shown}:"), problem
    assert f" imports {expected} (" in problem, problem


def test_allowed_imports_pass(tmp_path: Path) -> None:
    modules = _tree(
        tmp_path,
        {
            "fedledger_clients.x": "import os\nimport fedledger_crypto as fc\n"
            "from fedledger_platform.ledger import Ledger\n"
            "from fedledger_platform.api_client import AggregatorClient\n"
            "from . import y\n",
            "fedledger_clients.y": "",
            "fedledger_app.x": "from fedledger_platform.aggregator import service\n",
            "fedledger_platform.aggregator.service": "",
        },
    )
    assert upward_imports(modules) == []


def test_cycles_count_every_import_that_runs(tmp_path: Path) -> None:
    modules = _tree(
        tmp_path,
        {
            "fedledger_app.a": "from fedledger_app import b\n",
            "fedledger_app.b": "from fedledger_app.c import thing\n",
            "fedledger_app.c": "import fedledger_app.a\n",
            # deferred into a function: still a circle (platform/cli.py ↔ audit/cli.py was one)
            "fedledger_app.d": "from fedledger_app import e\n",
            "fedledger_app.e": "def f() -> None:\n    from fedledger_app import d\n",
            # for the type checker only: never runs, no circle
            "fedledger_app.f": "from fedledger_app import g\n",
            "fedledger_app.g": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from fedledger_app.f import F\n",
        },
    )
    cycles = import_cycles(modules)
    assert cycles == [
        ["fedledger_app.a", "fedledger_app.b", "fedledger_app.c"],
        ["fedledger_app.d", "fedledger_app.e"],
    ]
