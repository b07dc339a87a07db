"""The public API of each package matches its ``__all__``, so the two cannot drift apart.

For every package under ``src/tailguard`` whose ``__init__.py`` declares ``__all__``: each
listed name can be imported from the package, the list has no repeats, and each public name
the ``__init__.py`` itself binds (a class, function or constant it defines, or a name it
imports from one of the package's own modules) is listed. Submodules, and names imported from
elsewhere (other tailguard packages, third-party or standard library) to be used inside the
``__init__.py``, are helpers, not API, and are not required in ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import pytest

import tailguard

SRC = Path(tailguard.__file__).resolve().parent


def _package_name(init: Path) -> str:
    parts = init.parent.relative_to(SRC.parent).parts
    return ".".join(parts)


def _declares_all(tree: ast.Module) -> bool:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return True
    return False


def _own_bindings(statements: list[ast.stmt], package: str) -> set[str]:
    """Names the statements bind that belong to ``package``: its definitions and re-exports.

    A re-export is a name imported from the package's own modules (for ``tailguard`` itself,
    any tailguard module).
    """
    names: set[str] = set()
    for node in statements:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level > 0 or module.startswith(package + "."):
                names.update(a.asname or a.name for a in node.names if a.name != "*")
        elif isinstance(node, ast.Try):
            names |= _own_bindings(node.body, package)
    return {n for n in names if not n.startswith("_")}


PACKAGES = sorted(
    (_package_name(init), init)
    for init in SRC.rglob("__init__.py")
    if _declares_all(ast.parse(init.read_text(encoding="utf-8")))
)


def test_the_top_level_package_declares_its_public_api() -> None:
    """``tailguard`` itself has a hand-picked ``__all__``, so it is checked below."""
    assert "tailguard" in [name for name, _ in PACKAGES]
    assert tailguard.__all__


@pytest.mark.parametrize(("package", "init"), PACKAGES, ids=[name for name, _ in PACKAGES])
def test_every_name_in_all_is_importable(package: str, init: Path) -> None:
    """Each name a package lists in ``__all__`` can be imported from it, once."""
    module = importlib.import_module(package)
    exported = list(module.__all__)
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ lists names it does not have: {missing}"
    repeated = sorted({name for name in exported if exported.count(name) > 1})
    assert not repeated, f"{package}.__all__ lists names twice: {repeated}"


@pytest.mark.parametrize(("package", "init"), PACKAGES, ids=[name for name, _ in PACKAGES])
def test_every_public_name_of_the_init_is_in_all(package: str, init: Path) -> None:
    """A public name the package's ``__init__.py`` defines or re-exports is listed in ``__all__``."""
    module = importlib.import_module(package)
    bound = _own_bindings(ast.parse(init.read_text(encoding="utf-8")).body, package)
    bound = {name for name in bound if not isinstance(getattr(module, name), ModuleType)}
    unlisted = sorted(bound - set(module.__all__))
    assert not unlisted, f"{package} binds public names missing from __all__: {unlisted}"


def test_importing_the_service_does_not_load_the_mcp_sdk() -> None:
    """The HTTP service shares the gateway and the tool registry with MCP, not the MCP SDK
    (issue 16: the service starts without it; MCP is a shell of its own)."""
    import subprocess
    import sys

    code = "import sys, tailguard.service.app; print('mcp' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False"
