"""Batch mode: one command per line from a pipe or file, plain output."""
import subprocess

from stf.commands.registry import ExitRequested
from stf.commands.results import Message


def run_batch(app, lines, renderer, stop_on_error=False):
    """Run every command; the exit status is 0 only if all succeeded."""
    failures = 0
    for number, line in enumerate(lines, 1):
        line = line.strip().lstrip('\ufeff')  # a byte order mark before the first command
        if not line or line.startswith('#'):
            continue
        try:
            succeeded = run_line(app, renderer, number, line)
        except ExitRequested:
            break
        if not succeeded:
            failures += 1
            if stop_on_error:
                break
    return 0 if failures == 0 else 1


def run_line(app, renderer, number, line):
    if line.startswith('!'):
        status = subprocess.run(line[1:], shell=True).returncode
        if status:
            renderer.show([Message(f'line {number}: the shell command exited with status '
                                   f'{status}', 'error')])
        return status == 0
    reply = app.execute(line)
    renderer.show([numbered(item, number) for item in reply.items])
    return reply.ok


def numbered(item, number):
    """Errors name their input line, so a failing script is easy to fix."""
    if isinstance(item, Message) and item.level == 'error':
        return Message(f'line {number}: {item.text}', 'error')
    return item
