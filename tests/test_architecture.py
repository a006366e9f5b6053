"""The package's layout: rooms import only along the data flow, the commands are thin
and nothing else uses them, unknown names fail through the registry, and TensorFlow
loads late."""
import ast
import os
import re
import subprocess
import sys
import textwrap

import pytest

import neural_body_fitting

PACKAGE_DIR = os.path.dirname(neural_body_fitting.__file__)
# The rooms in the order data flows through them: a room may import only from
# rooms before it (and from itself). `serving` is reserved for inference; `detection`
# (people in photographs) needs only `utils`.
ORDER = ("utils", "constants", "registries", "geometry", "body", "render", "data", "detection",
         "networks", "losses", "configs", "training", "evaluation", "porting", "serving",
         "reproduction", "cli")
# A command module reads its flags and calls the library: longer, it holds library logic.
CLI_MODULE_LINES = 120
# The one module that makes "unknown <kind> 'x'" messages (`Registry.check`).
UNKNOWN_NAME_MODULES = ("utils/registry.py",)


def _room(relative_path):
    """'body/smpl.py' -> 'body'; 'constants.py' -> 'constants'; '__init__.py' -> None."""
    first = relative_path.split(os.sep)[0]
    return None if first == "__init__.py" else first.removesuffix(".py")


def _module_name(relative_path):
    parts = relative_path.removesuffix(".py").split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree, package):
    """Dotted names below `package` that a module's syntax tree imports (also inside functions)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    prefix = package + "."
    return {name[len(prefix):] for name in names if name.startswith(prefix)}


def import_graph(package_dir, package="neural_body_fitting"):
    """{module: set of modules it imports}, module names relative to the package."""
    graph = {}
    for folder, _, filenames in os.walk(package_dir):
        for filename in filenames:
            if filename.endswith(".py"):
                path = os.path.join(folder, filename)
                relative = os.path.relpath(path, package_dir)
                with open(path, encoding="utf-8") as stream:
                    tree = ast.parse(stream.read(), path)
                graph[_module_name(relative) or "__init__"] = (
                    relative, imported_modules(tree, package))
    return graph


def violations(package_dir, package="neural_body_fitting"):
    """Imports against the data flow, and import cycles between modules of one room."""
    graph = import_graph(package_dir, package)
    found = []
    for module, (relative, targets) in sorted(graph.items()):
        room = _room(relative)
        if room is None:
            continue  # The package root only re-exports, lazily.
        if room not in ORDER:
            found.append(f"{relative}: room '{room}' is not in the data-flow order")
            continue
        for target in sorted(targets):
            target_room = target.split(".")[0]
            if target_room in ORDER and ORDER.index(target_room) > ORDER.index(room):
                found.append(f"{relative} imports {target}: '{target_room}' comes after "
                             f"'{room}' in the data flow")
    modules = {module for module in graph}
    edges = {module: {t for t in graph[module][1] if t in modules and t != module
                      and t.split(".")[0] == module.split(".")[0]
                      and not graph[t][0].endswith("__init__.py")}
             for module in modules}
    state = {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(edges[module]):
            if state.get(target) == "open":
                found.append("import cycle: " + " -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    return found


def test_rooms_import_only_along_the_data_flow():
    assert violations(PACKAGE_DIR) == []


def test_every_room_is_in_the_order():
    rooms = {entry.removesuffix(".py") for entry in os.listdir(PACKAGE_DIR)
             if not entry.startswith(("_", ".")) and (entry.endswith(".py") or os.path.isdir(
                 os.path.join(PACKAGE_DIR, entry)))}
    assert rooms <= set(ORDER), rooms - set(ORDER)


def _write_package(root, files):
    for relative, text in files.items():
        path = root / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return str(root / "pkg")


def test_the_check_finds_an_import_against_the_flow_and_a_cycle(tmp_path):
    package_dir = _write_package(tmp_path, {
        "__init__.py": "",
        "body/__init__.py": "",
        "body/smpl.py": "def f():\n    from pkg.training import trainer\n",
        "training/__init__.py": "",
        "training/trainer.py": "from pkg.body import smpl\n",
        "data/__init__.py": "",
        "data/a.py": "from pkg.data import b\n",
        "data/b.py": "import pkg.data.a\n",
        "cli/__init__.py": "",
        "cli/train.py": "from pkg import training\n",
        "losses/__init__.py": "",
        "losses/terms.py": "from pkg.cli import train\n",
    })
    found = violations(package_dir, "pkg")
    assert any("body/smpl.py imports training.trainer" in v for v in found), found
    assert any("losses/terms.py imports cli" in v for v in found), found
    assert any(v.startswith("import cycle: data.") for v in found), found
    assert not any(v.startswith(("training/", "cli/")) for v in found), found


def _modules(package_dir):
    """(path relative to the package, syntax tree, line count) of every module."""
    for folder, _, filenames in os.walk(package_dir):
        for filename in sorted(filenames):
            if filename.endswith(".py"):
                path = os.path.join(folder, filename)
                with open(path, encoding="utf-8") as stream:
                    text = stream.read()
                yield os.path.relpath(path, package_dir), ast.parse(text, path), len(
                    text.splitlines())


def _is_cli(relative):
    return _room(relative) == "cli"


def long_cli_modules(package_dir, limit=CLI_MODULE_LINES):
    return [f"{relative}: {lines} lines, over {limit}"
            for relative, _, lines in _modules(package_dir)
            if _is_cli(relative) and lines > limit]


def cli_importers(package_dir, package="neural_body_fitting"):
    """Modules outside `cli/` (the package root included) that import any of it."""
    return [f"{relative} imports {target}"
            for relative, targets in import_graph(package_dir, package).values()
            if not _is_cli(relative)
            for target in sorted(targets) if target.split(".")[0] == "cli"]


def _top_level_names(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _string_texts(tree):
    """The text of every string literal and f-string (its literal parts), docstrings aside."""
    docstrings, inside_fstrings = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.body and isinstance(node.body[0], ast.Expr) and isinstance(
                    node.body[0].value, ast.Constant):
                docstrings.add(id(node.body[0].value))
        elif isinstance(node, ast.JoinedStr):
            inside_fstrings.update(id(part) for part in ast.walk(node) if part is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and id(node) not in inside_fstrings:
            yield "".join(part.value for part in node.values if isinstance(part, ast.Constant))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings | inside_fstrings):
            yield node.value


def cli_names_used(package_dir, package="neural_body_fitting"):
    """Uses outside `cli/` of a name a command module defines: imported by name, or
    named in a "pkg.cli.<module>:<name>" string (a registry entry, an import_module)."""
    modules = list(_modules(package_dir))
    defined = {_module_name(relative): _top_level_names(tree)
               for relative, tree, _ in modules if _is_cli(relative)}
    reference = re.compile(r"(?:^|\.)(cli\.\w+)[.:](\w+)")
    found = []
    for relative, tree, _ in modules:
        if _is_cli(relative):
            continue
        used = {target.rpartition(".")[::2] for target in imported_modules(tree, package)}
        used |= {match.groups() for text in _string_texts(tree)
                 for match in reference.finditer(text)}
        found += [f"{relative} uses {module}.{name}, which a command module defines"
                  for module, name in sorted(used) if name in defined.get(module, ())]
    return found


def unknown_name_messages(package_dir, allowed=UNKNOWN_NAME_MODULES):
    """String literals outside `allowed` that say 'unknown ': a message for a name that
    only `Registry.check` (with its 'did you mean') should make."""
    return [f"{relative}: {text!r}" for relative, tree, _ in _modules(package_dir)
            if relative not in allowed
            for text in _string_texts(tree) if re.search(r"\bunknown ", text, re.IGNORECASE)]


def test_commands_are_thin_and_only_commands_use_them():
    assert long_cli_modules(PACKAGE_DIR) == []
    assert cli_importers(PACKAGE_DIR) == []
    assert cli_names_used(PACKAGE_DIR) == []


def test_unknown_names_fail_only_through_the_registry():
    assert unknown_name_messages(PACKAGE_DIR) == []


def test_the_checks_find_long_commands_their_users_and_unknown_name_messages(tmp_path):
    package_dir = _write_package(tmp_path, {
        "__init__.py": "from pkg.cli import train\n",
        "cli/__init__.py": "",
        "cli/train.py": "def run_training():\n    pass\n",
        "cli/long.py": "x = 1\n" * (CLI_MODULE_LINES + 1),
        "cli/short.py": "x = 1\n" * CLI_MODULE_LINES,
        "data/__init__.py": "",
        "data/registry.py": 'ENTRIES = {"t": f"{__package__}.cli.train:run_training",\n'
                            '           "u": "pkg.cli.train:not_defined_there"}\n',
        "losses/__init__.py": "",
        "losses/terms.py": "def f(name):\n    from pkg.cli.train import run_training\n"
                           "    raise ValueError(f\"unknown term '{name}'\")\n",
        "body/__init__.py": "",
        "body/smpl.py": '"""Sizes unknown statically are checked at run time."""\n'
                        'MESSAGE = "Unknown kind"\n',
        "utils/__init__.py": "",
        "utils/registry.py": 'def check(name):\n    raise ValueError(f"unknown \'{name}\'")\n',
    })
    assert long_cli_modules(package_dir) == [f"cli{os.sep}long.py: 121 lines, over 120"]
    assert sorted(cli_importers(package_dir, "pkg")) == [
        "__init__.py imports cli", "__init__.py imports cli.train",
        f"losses{os.sep}terms.py imports cli.train",
        f"losses{os.sep}terms.py imports cli.train.run_training"]
    assert sorted(cli_names_used(package_dir, "pkg")) == [
        f"data{os.sep}registry.py uses cli.train.run_training, which a command module defines",
        f"losses{os.sep}terms.py uses cli.train.run_training, which a command module defines"]
    assert sorted(unknown_name_messages(package_dir)) == [
        f"body{os.sep}smpl.py: 'Unknown kind'", f"losses{os.sep}terms.py: \"unknown term ''\""]


def test_the_package_and_body_model_io_do_not_import_tensorflow(tmp_path):
    path = tmp_path / "model.npz"
    script = textwrap.dedent(f"""
        import sys
        import neural_body_fitting as nbf
        from neural_body_fitting import constants
        from neural_body_fitting.body import parameter_records, pose_prior
        from neural_body_fitting.data import encodings, layout
        model = nbf.synthetic_body_model()
        nbf.save_body_model(model, {str(path)!r})
        again = nbf.load_body_model({str(path)!r})
        assert nbf.body.fingerprint(again) == nbf.body.fingerprint(model)
        assert nbf.resolve_body_model(model.name) is not None
        assert "SMPL" in dir(nbf) and "body" in dir(nbf)
        print(sorted(name for name in ("tensorflow", "keras") if name in sys.modules))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_lazy_exports_resolve_and_unknown_names_fail():
    import neural_body_fitting as nbf

    assert nbf.SMPL is nbf.body.smpl.SMPL
    assert nbf.NBFModel is nbf.networks.fitting.NBFModel
    for name in nbf.__all__:
        assert getattr(nbf, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'smpl_layer'"):
        nbf.smpl_layer  # noqa: B018
