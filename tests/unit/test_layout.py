"""The house rules of the package's layout (issue #9), read from the source with ``ast``.

No module over 300 lines, no function over 50 (def line to last line of the body, decorators excluded),
and no import from a stage to a later one (the pipeline order below; ``testing`` stands in for the
stages up to attribution, and only the CLI may import it).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "neuronllm_tl"
STAGES = [
    ("version", "checks", "installed", "display", "tables", "registry"),
    ("models",),
    ("tasks",),
    ("scoring",),
    ("attribution",),
    ("neurons",),
    ("methods",),
    ("steering",),
    ("evaluation",),
    ("explanation",),
    ("comparison",),
    ("reporting",),
    ("cli",),
]
STAGE = {name: i for i, names in enumerate(STAGES) for name in names}
TESTING_MAY_IMPORT = STAGE["attribution"]
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 50

MODULES = sorted(PACKAGE.rglob("*.py"))


def _rel(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def _part(module: str) -> str | None:
    """The top-level part of the package a dotted module belongs to (None: not ours, "": the package)."""
    parts = module.split(".")
    if parts[0] != "neuronllm_tl":
        return None
    return parts[1] if len(parts) > 1 else ""


def _imports(tree: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
    return out


def _stage_violation(me: str, target: str) -> bool:
    if me == "":
        return False  # the top-level package re-exports every stage
    if target == "":
        return True  # importing the whole package from inside it would be a circle
    if me == "testing":
        return target != "testing" and STAGE[target] > TESTING_MAY_IMPORT
    if target == "testing":
        return me != "cli"
    return STAGE[target] > STAGE[me]


def test_every_part_of_the_package_has_a_stage():
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in MODULES}
    assert parts - {"__init__", "testing"} <= set(STAGE)


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_module_and_function_sizes(path):
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_no_import_from_a_later_stage(path):
    me = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    me = "" if me == "__init__" else me
    targets = [t for t in _imports(ast.parse(path.read_text())) if _part(t) is not None]
    assert not [t for t in targets if _stage_violation(me, _part(t))]
