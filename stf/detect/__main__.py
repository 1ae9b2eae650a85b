"""python -m stf.detect SUBCOMMAND ...: train and evaluate detectors.

    python -m stf.detect train --letters TRAIN.tsv --out DIR [--name NAME]
    python -m stf.detect evaluate --models DIR --letters TEST.tsv [--json]
        [--prefix N] [--max-fpr 0.02] [--sweep]
    python -m stf.detect experiment [--models DIR] --flows FILE [--slot 300]
        [--rule evidence|any|majority] [--alpha 0.01] [--json]
    python -m stf.detect crossvalidate --letters TRAIN.tsv [--folds 5] [--out FILE]
    python -m stf.detect keygen --out KEYDIR
    python -m stf.detect sign DIR --key KEYDIR/stf-detector.key

Each subcommand is a module with HELP, add_arguments(parser) and run(args)
(returning the exit status), named in SUBCOMMANDS. Bad input is one line on
stderr and exit status 1 (2 for a wrong command line), never a traceback.
"""
import argparse
import importlib
import os
import sys

from stf.core.errors import UserError

PROG = 'python -m stf.detect'
# subcommand -> the module that implements it
SUBCOMMANDS = {
    'train': 'stf.detect.train_cli',
    'evaluate': 'stf.detect.evaluate_cli',
    'experiment': 'stf.detect.experiment_cli',
    'crossvalidate': 'stf.detect.crossvalidate_cli',
    'keygen': 'stf.detect.keygen_cli',
    'sign': 'stf.detect.sign_cli',
}


class Parser(argparse.ArgumentParser):
    """A wrong command line is one line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f'{self.prog}: {message} (see {PROG} --help)\n')


def parser():
    top = Parser(prog=PROG, description='Train and evaluate behavioral detectors.')
    commands = top.add_subparsers(dest='command', required=True, metavar='SUBCOMMAND',
                                  parser_class=Parser)
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as error:
        print(f'{PROG} {args.command}: {error}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'{PROG} {args.command}: interrupted', file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader left (| head): what it read is what was wanted.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == '__main__':
    sys.exit(main())
