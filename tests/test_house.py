"""The house plan, checked: every module's imports (read with ast, imports
inside functions included) follow the rooms' rules, and no modules import
each other in a circle.

Rooms, from the ground up (README, "Layout"): stf/core is the pure domain
(flows, captures) that the IPS imports alone; stf/models the persistent
classes; stf/db the database and ZEO; stf/commands the commands; stf/console
the terminal. A room imports only the rooms below it.
"""
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# room -> the rooms of stf it may import ('stf' is the package's face: its version).
MAY_IMPORT = {
    'stf.core': {'stf.core'},
    'stf.models': {'stf.models', 'stf.core'},
    'stf.db': {'stf.db', 'stf.models', 'stf.core'},
    'stf.ops': {'stf.ops', 'stf.models', 'stf.core'},
    'stf.commands': {'stf.commands', 'stf.plots', 'stf.ops', 'stf.db', 'stf.models',
                     'stf.core', 'stf'},
    'stf.console': {'stf.console', 'stf.plugins', 'stf.commands', 'stf.plots', 'stf.ops',
                    'stf.db', 'stf.models', 'stf.core', 'stf'},
    # figures as data, drawn in the terminal and (matplotlib) into PNG files
    'stf.plots': {'stf.plots', 'stf.core'},
    # what a plugin uses of stf (the command record, results, errors, figures,
    # its storage and allowed classes: stf.db.classes) and the loader
    'stf.plugins': {'stf.plugins', 'stf.commands', 'stf.plots', 'stf.db', 'stf.core'},
    'stf.ips': {'stf.ips', 'stf.core'},
    'stf.detect': {'stf.detect', 'stf.core'},
}
# room -> libraries it must not import: the core knows no database and no
# terminal; only the console knows the terminal.
DATABASE = {'ZODB', 'persistent', 'BTrees', 'transaction', 'ZEO', 'ZConfig', 'zc'}
TERMINAL = {'prompt_toolkit', 'pexpect'}
MUST_NOT_IMPORT = {
    'stf.db': TERMINAL,
    'stf.commands': {'ZEO', 'ZConfig', 'zc'} | TERMINAL,
    'stf.plugins': {'ZEO', 'ZConfig', 'zc'} | TERMINAL,
}
# room -> the only libraries besides Python's own that it may import.
ONLY_LIBRARIES = {
    # cryptography: the signatures of detector updates (stf.core.signing);
    # pefile: the details of Windows executables (stf.core.captures.peinfo)
    'stf.core': {'numpy', 'dpkt', 'cryptography', 'pefile'},
    'stf.ips': {'numpy', 'dpkt', 'cryptography'},
    'stf.detect': {'numpy', 'cryptography'},
    'stf.models': {'numpy', 'persistent', 'BTrees'},
    'stf.ops': {'numpy', 'persistent', 'BTrees'},
    # matplotlib: only inside stf.plots.png's functions, when a PNG is asked for
    'stf.plots': {'numpy', 'matplotlib'},
}


def module_name(path, top):
    parts = list(path.relative_to(top).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def project_modules(top):
    """module name -> path, for every .py file under top/stf."""
    return {module_name(path, top): path for path in sorted((top / 'stf').rglob('*.py'))}


def imports_of(path, name, modules):
    """The modules a file imports (project modules resolved to the deepest
    one that exists; others by their top name), with line numbers."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[:len(package.split('.')) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            for alias in node.names:
                child = f'{base}.{alias.name}'
                found.append((child if child in modules else base, node.lineno))
    return [(_known(target, modules), line) for target, line in found]


def _known(target, modules):
    """A project module for target (the deepest existing prefix), or the
    library's top name."""
    parts = target.split('.')
    if parts[0] != 'stf':
        return parts[0]
    while parts and '.'.join(parts) not in modules:
        parts.pop()
    return '.'.join(parts)


def allowed_library(name, room):
    return name in sys.stdlib_module_names or name in ONLY_LIBRARIES[room]


def room_of(name):
    return next((room for room in sorted(MAY_IMPORT, key=len, reverse=True)
                 if name == room or name.startswith(room + '.')), None)


def plan_breaks(top):
    """Lines 'file:line: module imports target (why)' for every forbidden edge."""
    modules = project_modules(top)
    breaks = []
    for name, path in modules.items():
        room = room_of(name)
        for target, line in imports_of(path, name, modules):
            where = f'{path.relative_to(top)}:{line}: {name} imports {target}'
            if target.startswith('stf'):
                if room and target != 'stf' and room_of(target) not in MAY_IMPORT[room]:
                    breaks.append(f'{where} ({room} may import only '
                                  f'{", ".join(sorted(MAY_IMPORT[room]))})')
                if room and target == 'stf' and 'stf' not in MAY_IMPORT[room]:
                    breaks.append(f'{where} ({room} may not import the package face)')
            elif target in MUST_NOT_IMPORT.get(room, ()):
                breaks.append(f'{where} ({room} must not import {target})')
            elif room in ONLY_LIBRARIES and not allowed_library(target, room):
                breaks.append(f'{where} ({room} imports only Python\'s own modules and '
                              f'{", ".join(sorted(ONLY_LIBRARIES[room]))})')
    return breaks


def circles(top):
    """Every group of project modules that import each other in a loop."""
    modules = project_modules(top)
    edges = {name: {target for target, _ in imports_of(path, name, modules)
                    if target in modules and target != name}
             for name, path in modules.items()}
    return [sorted(group) for group in strongly_connected(edges) if len(group) > 1]


def strongly_connected(edges):
    """Tarjan's algorithm, iteratively (no recursion limit)."""
    index, low, stack, on_stack, groups, counter = {}, {}, [], set(), [], [0]
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    groups.append(group)
            elif child not in index:
                index[child] = low[child] = counter[0]
                counter[0] += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(edges.get(child, ()))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def test_every_import_follows_the_plan():
    assert plan_breaks(ROOT) == []


def test_no_modules_import_each_other_in_a_circle():
    assert circles(ROOT) == []


def test_every_module_lives_in_a_room():
    homeless = [name for name in project_modules(ROOT) if name != 'stf' and not room_of(name)]
    assert homeless == []


def write(top, relative, text):
    path = top / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_checks_find_what_breaks_the_plan(tmp_path):
    """The checker itself: a core module reaching the database, the terminal
    and the console, a circle through a function-level import."""
    write(tmp_path, 'stf/__init__.py', '')
    for package in ('core', 'core/flows', 'db', 'console'):
        write(tmp_path, f'stf/{package}/__init__.py', '')
    write(tmp_path, 'stf/core/flows/reader.py',
          'import ZODB\nfrom stf.db import session\n\n\ndef f():\n'
          '    from prompt_toolkit import PromptSession\n    from . import letters\n')
    write(tmp_path, 'stf/core/flows/letters.py', 'def g():\n    from .reader import f\n')
    write(tmp_path, 'stf/db/session.py', 'import transaction\nfrom stf.console import app\n')
    write(tmp_path, 'stf/console/app.py', 'import prompt_toolkit\nfrom stf.db import session\n')
    assert plan_breaks(tmp_path) == [
        "stf/core/flows/reader.py:1: stf.core.flows.reader imports ZODB "
        "(stf.core imports only Python's own modules and cryptography, dpkt, numpy, pefile)",
        'stf/core/flows/reader.py:2: stf.core.flows.reader imports stf.db.session '
        '(stf.core may import only stf.core)',
        "stf/core/flows/reader.py:6: stf.core.flows.reader imports prompt_toolkit "
        "(stf.core imports only Python's own modules and cryptography, dpkt, numpy, pefile)",
        'stf/db/session.py:2: stf.db.session imports stf.console.app '
        '(stf.db may import only stf.core, stf.db, stf.models)',
    ]
    assert sorted(circles(tmp_path)) == [
        ['stf.console.app', 'stf.db.session'],
        ['stf.core.flows.letters', 'stf.core.flows.reader'],
    ]
