#!/usr/bin/env python3
"""stf: a research console for network-security analysts."""
import os
import sys
from pathlib import Path

VENV_PYTHON = Path(__file__).resolve().parent / '.venv' / 'bin' / 'python'

if __name__ == '__main__':
    # `./stf.py` with the system Python: use the project's environment
    # (made by `make run`) when there is one.
    try:
        use_venv = (VENV_PYTHON.exists() and Path(sys.prefix).resolve()
                    != VENV_PYTHON.parent.parent.resolve())
    except OSError:
        use_venv = False  # an environment this user cannot read: run as we are
    if use_venv:
        try:
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
        except OSError:
            pass  # not runnable for this user: try with the Python we have
    try:
        from stf.console.main import main
    except ImportError as error:   # a Python without the project's packages
        sys.exit(f"stf: this Python ({sys.executable}) lacks {error.name or 'a package'} of "
                 f"stf: run 'make setup' in {Path(__file__).resolve().parent}, or make "
                 f'{VENV_PYTHON} readable by this user')
    sys.exit(main())
