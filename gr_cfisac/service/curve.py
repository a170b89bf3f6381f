"""ZeroMQ CURVE keys for the service: key files, the server's allowed clients, and the ZAP
handler that enforces them.

Key files are ZeroMQ certificates as ``zmq.auth.create_certificates`` writes them:
``NAME.key`` holds the public key (give it to the peers), ``NAME.key_secret`` the public and the
secret key (keep it private). The server runs with its ``.key_secret`` and a folder (or one
file) of the ``.key`` files of the clients it admits; a client runs with the server's ``.key``
and its own ``.key_secret``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator


def keygen(directory: str | Path, name: str = "server") -> tuple[Path, Path]:
    """Write the key pair ``NAME.key`` / ``NAME.key_secret`` in ``directory`` (created if
    needed); never overwrites a key. Returns (public file, secret file)."""
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ValueError(f"key name must be a plain file name, got {name!r}")
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--keygen {folder}: exists and is not a folder")
    existing = [p for p in (folder / f"{name}.key", folder / f"{name}.key_secret") if p.exists()]
    if existing:
        raise ValueError(f"{existing[0]} exists; choose another --key-name or folder")
    folder.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(folder, name)
    Path(secret).chmod(0o600)
    return Path(public), Path(secret)


def _load(path: str | Path, what: str) -> tuple[bytes, bytes | None]:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what} {p}: no such key file (cfisac serve --keygen DIR writes one)")
    try:
        public, secret = zmq.auth.load_certificate(p)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {p}: not a ZeroMQ key file ({exc})") from None
    if len(public) != 40 or (secret is not None and len(secret) != 40):
        raise ValueError(f"{what} {p}: keys must be 40 Z85 characters")
    return public, secret


def load_public_key(path: str | Path, what: str = "key") -> bytes:
    """The Z85 public key in a ``.key`` (or ``.key_secret``) file."""
    return _load(path, what)[0]


def load_key_pair(path: str | Path, what: str = "secret key") -> tuple[bytes, bytes]:
    """(public, secret) from a ``.key_secret`` file; ValueError naming the file otherwise."""
    public, secret = _load(path, what)
    if secret is None:
        raise ValueError(f"{what} {path}: holds no secret key (give the .key_secret file)")
    return public, secret


def allowed_client_keys(path: str | Path) -> frozenset[bytes]:
    """The public keys of the clients a server admits: every ``*.key`` file in a folder, or one
    key file."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.key"))
        if not files:
            raise ValueError(f"--curve-clients {p}: no *.key files (the clients' public keys)")
    elif p.is_file():
        files = [p]
    else:
        raise ValueError(f"--curve-clients {p}: no such folder or key file")
    return frozenset(load_public_key(f, "client key") for f in files)


@dataclass(frozen=True)
class ServerCurve:
    """The server's key pair and the client keys it admits (None: any client that knows the
    server's public key; the traffic is still encrypted)."""

    public: bytes
    secret: bytes
    clients: frozenset[bytes] | None

    @classmethod
    def from_files(cls, secret_file: str | Path, clients: str | Path | None) -> ServerCurve:
        public, secret = load_key_pair(secret_file, "--curve-secret")
        return cls(public, secret, None if clients is None else allowed_client_keys(clients))

    def apply(self, socket: zmq.Socket) -> None:
        socket.curve_secretkey = self.secret
        socket.curve_publickey = self.public
        socket.curve_server = True

    def start_authenticator(self, context: zmq.Context) -> ThreadAuthenticator:
        """The ZAP handler of ``context`` that admits exactly :attr:`clients`."""
        auth = ThreadAuthenticator(context)
        auth.start()
        if self.clients is None:
            auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
        else:
            auth.configure_curve_callback(domain="*", credentials_provider=_Admit(self.clients))
        return auth


class _Admit:
    """ZAP credentials provider: admits a client whose (Z85) public key is in ``keys``."""

    def __init__(self, keys: frozenset[bytes]) -> None:
        self.keys = keys

    def callback(self, domain: str, key: bytes) -> bool:
        return key in self.keys


def apply_client_curve(
    socket: zmq.Socket, server_key: str | Path, client_key: str | Path | None
) -> None:
    """Make ``socket`` a CURVE client of the server whose public key file is ``server_key``,
    with the key pair in ``client_key`` (None: a fresh pair, admitted only by a server that
    admits any client)."""
    socket.curve_serverkey = load_public_key(server_key, "server key")
    if client_key is None:
        public, secret = zmq.curve_keypair()
    else:
        public, secret = load_key_pair(client_key, "client key")
    socket.curve_publickey = public
    socket.curve_secretkey = secret
