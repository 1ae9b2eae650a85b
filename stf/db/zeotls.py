"""TLS with client certificates between stf's ZEO clients and server.

The server accepts only clients whose certificate its CA signed (for client
authentication); clients accept only a server whose certificate the same CA
signed for the host name or address they connect to. See docs/zeo-tls.md.

ZEO reports a refused TLS handshake only as "timed out waiting for
connection", so the files are checked here before connecting (each problem
is one line saying what to do), and after a timeout a short probe of the
server tells what went wrong.
"""
import os
import socket
import ssl
import time
from typing import NamedTuple, Optional

from stf.core.errors import UserError

DOC = 'docs/zeo-tls.md'

# The option that gives each file, for the messages.
OPTIONS = {'certificate': '--tls-cert', 'key': '--tls-key', 'CA certificate': '--tls-ca'}


class TLSFiles(NamedTuple):
    """PEM files: this side's certificate and its key, and the CA that signed both sides."""
    cert: str
    key: str
    ca: str


def check_files(cert, key, ca, server=False, options=OPTIONS):
    """Raise a one-line UserError for the first problem with the TLS files.

    Each file must exist and be readable; the certificate and the CA must be
    valid now; the key must match the certificate and must not need a
    passphrase. A server certificate must name its host (subjectAltName).
    options: how the user gives each file (role -> text), for the messages.
    """
    for role, path in (('certificate', cert), ('key', key), ('CA certificate', ca)):
        _readable(role, path, options)
    decoded = _decode('certificate', cert, options)
    _valid_now('certificate', cert, decoded)
    if server and 'subjectAltName' not in decoded:
        raise UserError(f'TLS certificate {cert} names no host (it has no subjectAltName), so '
                        'clients will refuse this server; make it with the server commands of '
                        f'{DOC}')
    _valid_now('CA certificate', ca, _decode('CA certificate', ca, options))
    _key_matches(cert, key, options['key'])
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(ca)
    except ssl.SSLError as error:
        raise UserError(f'TLS CA file {ca} holds no usable certificate ({_reason(error)}); '
                        'give the CA certificate (ca.pem) with '
                        f"{options['CA certificate']}") from None


def config_options(conf_path):
    """How each file is given in a ZConfig client file, for the messages."""
    where = f'in the <ssl> section of {conf_path}'
    return {'certificate': f"'certificate' {where}", 'key': f"'key' {where}",
            'CA certificate': f"'authenticate' {where}"}


def client_context(cert, key, ca):
    """An SSLContext for a ZEO client: presents cert, and accepts only a server
    certificate signed by ca for the host it connects to."""
    check_files(cert, key, ca)
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    return _finish(context, cert, key, check_hostname=True)


def server_context(cert, key, ca):
    """An SSLContext for the ZEO server: presents cert, and requires every
    client to present a certificate signed by ca."""
    check_files(cert, key, ca, server=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
    return _finish(context, cert, key, check_hostname=False)


def _finish(context, cert, key, check_hostname):
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    # As ZEO's own <ssl> section does: certificates must be well formed, and a
    # CRL in the CA file (a CA run with 'openssl ca') is honoured.
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    if context.cert_store_stats()['crl']:
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context


def tcp_only(address):
    """TLS needs HOST:PORT; refuse a unix socket path in one line."""
    if isinstance(address, str):
        raise UserError(f'TLS needs a HOST:PORT address, not the unix socket {address}; '
                        'a unix socket is protected by its file permissions: drop the --tls '
                        'options or use HOST:PORT')


class Verdict(NamedTuple):
    """What a probe of a ZEO server found. works: True when ZEO answered,
    False when the server will not take this client, None when it could not
    tell (a slow server)."""
    works: Optional[bool]
    why: str


def unreachable(text, address, error, tls=None, conf_path=None):
    """The one-line message for a ZEO server that did not answer in time.

    A refused TLS handshake looks like any other timeout, so the server is
    probed (a plain or TLS connection, two seconds at most) to say why.
    """
    what = f'{type(error).__name__}: {error}'
    from stf.db.errors import ClientDisconnected
    if not isinstance(error, ClientDisconnected):
        why = start_hint(text, tls)
    else:
        why = probe(text, address, tls, conf_path).why
    return f'cannot reach the ZEO server at {text}{over_tls(tls)} ({what}): {why}'


def refusal(text, address, tls=None, conf_path=None):
    """Checked before connecting: the one-line message when the server will
    certainly not take this client (nothing listens, TLS on one side only, a
    refused certificate), or None. ZEO's client would wait its whole
    wait-timeout instead, reconnecting in a loop when its handshake is refused."""
    verdict = probe(text, address, tls, conf_path)
    if verdict.works is False:
        return f'cannot reach the ZEO server at {text}{over_tls(tls)}: {verdict.why}'
    return None


def over_tls(tls):
    return ' over TLS' if tls else ''


def start_hint(text, tls=None):
    if tls:
        return (f"start it with 'python stf.py --serve {text}' and the --tls options "
                "(or 'runzeo -C confs/zeo-tls.conf'), or check the address")
    return (f"start it with 'python stf.py --serve {text}' (or 'runzeo -C confs/zeo.conf'), "
            'or check the address')


def give_tls(conf_path=None):
    if conf_path:
        return (f'add an <ssl> section (certificate, key, authenticate) to the '
                f'<clientstorage> of {conf_path} (see {DOC})')
    return f'connect with --tls-cert, --tls-key and --tls-ca (see {DOC})'


STOPPED = ('the server there accepts connections but answers nothing, plain or TLS: it may be '
           'stopped or overloaded; check it, or try again')


def probe(text, address, tls=None, conf_path=None, timeout=2.0):
    """A Verdict on the server at address, for this client."""
    deadline = time.monotonic() + timeout
    try:
        if tls is not None:
            with _connect(address, timeout) as sock:
                return _tls_probe(sock, address, tls, deadline, conf_path)
        # A ZEO server announces its protocol as soon as a client connects; a
        # TLS one waits for the client's hello.
        data = greeting(address, 1.0, connect_timeout=timeout)
    except OSError as error:
        return Verdict(False, f'nothing accepts connections there ({error.strerror or error}); '
                              f'{start_hint(text, tls)}')
    if data == b'':
        return Verdict(None, 'the server there closed the connection at once; check the '
                             'address and that it is a ZEO server')
    if data:
        return Verdict(True, 'the server there answers now: it was only slow to start; '
                             'try again')
    answer = _tls_answer(address, deadline)
    if answer == 'tls':
        return Verdict(False, 'the server there requires TLS with client certificates; '
                              + give_tls(conf_path))
    if answer == 'other':
        return Verdict(None, 'the server there says nothing to a ZEO client and does not speak '
                             'TLS: it is probably not a ZEO server; check the address')
    return Verdict(None, STOPPED)


def greeting(address, timeout, connect_timeout=None):
    """What a server at address sends first on a plain connection: bytes,
    b'' when it hangs up, None when it says nothing within timeout. OSError
    when nothing accepts the connection. Reading it also spares a ZEO server
    a reset connection, which it would log as an error."""
    with _connect(address, connect_timeout or timeout) as sock:
        sock.settimeout(timeout)
        try:
            return sock.recv(64)
        except OSError:
            return None


def answers(address, context=None, server_hostname=None, timeout=2.0):
    """True when a ZEO server at address announces itself on a new connection
    (through TLS with context) within timeout."""
    if context is not None and server_hostname is None and not isinstance(address, str):
        server_hostname = address[0]  # what the client's own connections check
    try:
        if context is None:
            return bool(greeting(address, timeout))
        with _connect(address, timeout) as sock:
            with context.wrap_socket(sock, server_hostname=server_hostname) as tls_sock:
                return bool(tls_sock.recv(64))
    except OSError:  # ssl.SSLError and timeouts included
        return False
    except Exception:  # cannot tell: the request keeps waiting
        return True


def _connect(address, timeout):
    if not isinstance(address, str):
        return socket.create_connection(address, timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def _plain_zeo(address, deadline):
    """True when the server announces a ZEO protocol (a sized message of
    'Z' or 'M' and a version) on a plain connection."""
    try:
        data = greeting(address, max(0.5, deadline - time.monotonic()))
    except OSError:
        return False
    return data is not None and len(data) > 5 and data[4:5] in (b'Z', b'M')


def _tls_answer(address, deadline):
    """How the server answers a TLS hello: 'tls', 'other' (bytes that are not
    TLS, e.g. an HTTP server's error), or None (nothing in time)."""
    if isinstance(address, str):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with _connect(address, max(0.1, deadline - time.monotonic())) as sock:
            with context.wrap_socket(sock):
                return 'tls'
    except ssl.SSLError as error:
        # Any TLS alert is an answer in TLS.
        return 'tls' if 'ALERT' in _reason(error).upper() else 'other'
    except OSError:
        return None


def _tls_probe(sock, address, tls, deadline, conf_path=None):
    host = address[0]
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca)
    context = _finish(context, tls.cert, tls.key, check_hostname=True)
    try:
        tls_sock = context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as error:
        reason = (error.verify_message or _reason(error)).rstrip('.')
        if 'hostname' in reason.lower() or 'ip address mismatch' in reason.lower():
            return Verdict(False, f"the server's certificate is not made for {host} ({reason}); "
                                  'connect with a host name or address its certificate names, '
                                  f'or have it remade with that name (see {DOC})')
        return Verdict(False, f"the server's certificate was refused ({reason}): {tls.ca} must "
                              f'be the CA that signed it (see {DOC})')
    except ssl.SSLError as error:
        reason = _reason(error)
        if 'WRONG_VERSION_NUMBER' in reason.upper() or 'RECORD_LAYER' in reason.upper() \
                or 'PACKET_LENGTH' in reason.upper():
            if not _plain_zeo(address, deadline):
                return Verdict(False, 'the server there does not speak TLS and is not a ZEO '
                                      'server; check the address')
            drop = (f'remove the <ssl> section of {conf_path}' if conf_path
                    else 'drop the --tls options')
            return Verdict(False, 'the server there does not use TLS (it answers in plain ZEO); '
                                  f'{drop} or start the server with TLS')
        if 'ALERT' in reason.upper():
            return Verdict(False, _refused(tls, reason))
        return Verdict(False, f'the TLS handshake failed ({reason}); see {DOC}')
    except TimeoutError:
        return Verdict(None, STOPPED)
    except OSError:
        return Verdict(False, _refused(tls, 'it closed the connection during the handshake'))
    try:
        # With TLS 1.3 the server checks the client's certificate after the
        # client's side of the handshake is done: its verdict comes here.
        tls_sock.settimeout(max(0.1, deadline - time.monotonic()))
        data = tls_sock.recv(64)
    except ssl.SSLError as error:
        return Verdict(False, _refused(tls, _reason(error)))
    except TimeoutError:
        return Verdict(None, 'the TLS connection works but the server sent nothing; check that '
                             'it is a ZEO server')
    except OSError:
        return Verdict(False, _refused(tls, 'it closed the connection after the handshake'))
    finally:
        tls_sock.close()
    if not data:
        return Verdict(False, _refused(tls, 'it closed the connection after the handshake'))
    return Verdict(True, 'the TLS connection works now: the server was only slow to start; '
                         'try again')


def _refused(tls, how):
    """The server refused the client's certificate: say what to look at."""
    start = f'the server refused your certificate {tls.cert} ({how})'
    try:
        issuer = _name(ssl._ssl._test_decode_cert(tls.cert)['issuer'])
        ca = _name(ssl._ssl._test_decode_cert(tls.ca)['subject'])
    except Exception:
        issuer = ca = None
    if issuer != ca:
        # The server's certificate passed with tls.ca: that is the server's CA.
        return (f"{start}: it was signed by '{issuer}', not by the server's CA '{ca}' "
                f'({tls.ca}); ask for a certificate signed by that CA (see {DOC})')
    return (f'{start}: it must be signed by the server\'s CA, for client authentication '
            f"(clientAuth), and valid; see what is wrong with 'openssl verify -CAfile "
            f"{tls.ca} -purpose sslclient {tls.cert}' and ask for a new one (see {DOC})")


def _name(rdns):
    """'CN=alice, O=lab' from the subject or issuer of a decoded certificate."""
    short = {'commonName': 'CN', 'organizationName': 'O', 'organizationalUnitName': 'OU',
             'countryName': 'C', 'localityName': 'L', 'stateOrProvinceName': 'ST'}
    return ', '.join(f'{short.get(key, key)}={value}' for rdn in rdns for key, value in rdn)


def _readable(role, path, options):
    option = options[role]
    if not os.path.exists(path):
        raise UserError(f'TLS {role} {path} does not exist; give its PEM file with {option} '
                        f'(see {DOC})')
    if os.path.isdir(path):
        raise UserError(f'TLS {role} {path} is a folder; give its PEM file with {option}')
    try:
        with open(path, 'rb'):
            pass
    except OSError as error:
        raise UserError(f'cannot read TLS {role} {path}: {error.strerror}; it must be a file '
                        'you can read (chmod 600 for a key, 644 for a certificate)') from None


def _decode(role, path, options):
    """The certificate's fields (dates, subjectAltName), read without a handshake."""
    try:
        return ssl._ssl._test_decode_cert(path)
    except AttributeError:  # a Python without this helper: the handshake checks instead
        return {}
    except (ssl.SSLError, ValueError):
        raise UserError(f'TLS {role} {path} is not a PEM certificate; give the certificate '
                        f'file (BEGIN CERTIFICATE) with {options[role]}') from None


def _valid_now(role, path, decoded):
    now = time.time()
    try:
        not_before = ssl.cert_time_to_seconds(decoded['notBefore'])
        not_after = ssl.cert_time_to_seconds(decoded['notAfter'])
    except (KeyError, ValueError):
        return
    if not_after < now:
        renew = ('ask the CA for a new one' if role == 'certificate' else
                 "get the CA's current certificate, or make a new CA")
        raise UserError(f'TLS {role} {path} expired on {_date(not_after)}; {renew} '
                        f'(see {DOC})')
    if not_before > now:
        raise UserError(f'TLS {role} {path} is not valid before {_date(not_before)}; check '
                        "this machine's clock")


def _key_matches(cert, key, option='--tls-key'):
    class NeedsPassphrase(Exception):
        pass

    def no_passphrase():
        raise NeedsPassphrase
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key, no_passphrase)
    except NeedsPassphrase:
        raise UserError(f'TLS key {key} is protected by a passphrase, which stf cannot ask '
                        f'for; write it unprotected (openssl pkey -in {key} -out NEW.key), '
                        f'chmod 600, and give that with {option}') from None
    except ssl.SSLError as error:
        if error.reason == 'KEY_VALUES_MISMATCH':
            raise UserError(f'TLS key {key} does not match certificate {cert}; give the key '
                            f'the certificate was made for with {option}') from None
        raise UserError(f'TLS key {key} is not a PEM private key ({_reason(error)}); give the '
                        f'key file (BEGIN PRIVATE KEY) with {option}') from None


def _reason(error):
    text = str(error)
    if text.startswith('[') and '(_ssl.c' in text:
        text = text[:text.rindex('(_ssl.c')].strip()
    return text


def _date(seconds):
    return time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(seconds))
