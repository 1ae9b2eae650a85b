"""Ed25519 signatures over a detector folder's manifest.

A detector folder's manifest.json lists the sha256 of every file in it
(stf.core.detect.storage); signing the manifest therefore signs the whole
set. `manifest.sig` holds the signature in base64 on one line. The keys are
PEM files: the private one (PKCS#8, written readable by its owner only) stays
with whoever publishes detectors, the public one is pinned in the IPS's
config (`public_key`).
"""
import base64
import binascii
import os
from pathlib import Path

from stf.core.errors import UserError

SIGNATURE = 'manifest.sig'
MANIFEST = 'manifest.json'
PRIVATE_NAME = 'stf-detector.key'
PUBLIC_NAME = 'stf-detector.pub'
KEYGEN = 'python -m stf.detect keygen'


def make_keys(folder):
    """Write a new key pair into folder: (private path, public path)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    folder = Path(folder)
    private_path, public_path = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise UserError(f'{path} exists; keys are never overwritten (move it away or '
                            'choose another folder)')
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, 'wb') as out:
            out.write(private)
        public_path.write_bytes(public)
    except OSError as error:
        raise UserError(f'cannot write the keys into {folder}: {error.strerror}') from None
    return private_path, public_path


def sign(folder, private_key_path):
    """Write folder/manifest.sig: the signature of folder/manifest.json."""
    folder = Path(folder)
    manifest = _read(folder / MANIFEST, 'the manifest (export the detector first)')
    key = _private_key(private_key_path)
    signature = base64.b64encode(key.sign(manifest)).decode() + '\n'
    try:
        (folder / SIGNATURE).write_text(signature, encoding='ascii')
    except OSError as error:
        raise UserError(f'cannot write {folder / SIGNATURE}: {error.strerror}') from None
    return folder / SIGNATURE


def verify(folder, public_key_path):
    """A UserError (one line) unless folder/manifest.sig is the signature of
    folder/manifest.json by the key in public_key_path."""
    from cryptography.exceptions import InvalidSignature
    folder = Path(folder)
    key = public_key(public_key_path)
    manifest = _read(folder / MANIFEST, 'the manifest')
    text = _read(folder / SIGNATURE, 'the signature (the update is not signed)')
    try:
        signature = base64.b64decode(text.strip(), validate=True)
        key.verify(signature, manifest)
    except (binascii.Error, ValueError, InvalidSignature):
        raise UserError(f'{folder / SIGNATURE} is not a signature of {MANIFEST} by the key '
                        f'{public_key_path}; refused') from None


def public_key(path):
    """The Ed25519 public key in a PEM file; a UserError when it is not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    data = _read(Path(path), 'the public key')
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise UserError(f'{path} is not an Ed25519 public key (PEM); give the '
                        f'{PUBLIC_NAME} that {KEYGEN} made')
    return key


def _private_key(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    data = _read(Path(path), 'the private key')
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError(f'{path} is not an Ed25519 private key (PEM, not encrypted); give '
                        f'the {PRIVATE_NAME} that {KEYGEN} made')
    return key


def _read(path, what):
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise UserError(f'{path} is missing: {what}') from None
    except OSError as error:
        raise UserError(f'cannot read {path} ({what}): {error.strerror}') from None
