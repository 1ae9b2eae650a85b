"""python -m stf.detect sign DIR --key KEY"""
from stf.core import signing
from stf.core.detect.storage import check_folder

HELP = 'sign an exported detector folder (writes manifest.sig over manifest.json)'


def add_arguments(parser):
    parser.add_argument('folder', metavar='DIR', help='a detector folder (detectors -x, train)')
    parser.add_argument('--key', required=True, metavar='KEY',
                        help=f'the private key ({signing.PRIVATE_NAME} from keygen)')


def run(args):
    check_folder(args.folder)   # only a folder whose files match its manifest is signed
    path = signing.sign(args.folder, args.key)
    print(f'signed {args.folder}: {path}')
    return 0
