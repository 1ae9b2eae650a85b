"""python -m stf.detect keygen --out KEYDIR"""
from stf.core import signing

HELP = 'make an Ed25519 key pair for signing detectors (the .pub goes to the IPS)'


def add_arguments(parser):
    parser.add_argument('--out', required=True, metavar='KEYDIR',
                        help=f'the folder that gets {signing.PRIVATE_NAME} (keep it secret) '
                             f'and {signing.PUBLIC_NAME}')


def run(args):
    private, public = signing.make_keys(args.out)
    print(f'made {private} (secret: it signs detectors) and {public} (give it to the IPS as '
          'public_key)')
    return 0
