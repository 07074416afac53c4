"""A local certificate authority and server certificate, so HTTPS works from the first start.

The LangCache examples address the server as ``https://$HOST``. When no certificate is
given, ``semcache serve`` makes a private CA and a certificate for this machine's names in
``<data dir>/tls`` and tells clients to trust that CA through the usual variables
(``SSL_CERT_FILE``, ``NODE_EXTRA_CA_CERTS``, ``CURL_CA_BUNDLE``).
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from semcache._files import write_private

__all__ = ["LocalTLS", "ensure_local_tls"]

_SYSTEM_BUNDLES = (
    Path("/etc/ssl/certs/ca-certificates.crt"),
    Path("/etc/pki/tls/certs/ca-bundle.crt"),
    Path("/etc/ssl/cert.pem"),
)
_VALIDITY = datetime.timedelta(days=825)
_RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class LocalTLS:
    """Paths of the files made by `ensure_local_tls`."""

    ca_cert: Path
    cert: Path
    key: Path
    trust_bundle: Path
    """The system's CAs plus the local CA, for ``SSL_CERT_FILE`` and ``CURL_CA_BUNDLE``."""

    def client_env(self) -> dict[str, str]:
        return {
            "SSL_CERT_FILE": str(self.trust_bundle),
            "CURL_CA_BUNDLE": str(self.trust_bundle),
            "NODE_EXTRA_CA_CERTS": str(self.ca_cert),
        }


def ensure_local_tls(directory: Path, host: str) -> LocalTLS:
    """Make (or reuse) a CA and a certificate valid for localhost, this machine and ``host``."""
    directory.mkdir(parents=True, exist_ok=True)
    tls = LocalTLS(
        ca_cert=directory / "ca.pem",
        cert=directory / "server.pem",
        key=directory / "server-key.pem",
        trust_bundle=directory / "trust-bundle.pem",
    )
    ca_key_path = directory / "ca-key.pem"
    if not (tls.ca_cert.exists() and ca_key_path.exists()):
        _write_ca(tls.ca_cert, ca_key_path)
    names = _names_for(host)
    if not _certificate_covers(tls.cert, names):
        _write_server_cert(tls, ca_key_path, names)
    _write_trust_bundle(tls)
    return tls


def _names_for(host: str) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    if host not in ("", "0.0.0.0", "::") and host not in names:
        names.append(host)
    return names


def _write_ca(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "semcache local CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + 4 * _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_server_cert(tls: LocalTLS, ca_key_path: Path, names: list[str]) -> None:
    ca_cert = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca_key_path} is not the key this server made")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(tls.key, _key_pem(key))
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _general_names(names: list[str]) -> list[x509.GeneralName]:
    general: list[x509.GeneralName] = []
    for name in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            general.append(x509.DNSName(name))
    return general


def _certificate_covers(path: Path, names: list[str]) -> bool:
    if not path.exists():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    if cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) < _RENEW_BEFORE:
        return False
    alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    present = {str(value) for value in alternative.get_values_for_type(x509.DNSName)}
    present |= {str(value) for value in alternative.get_values_for_type(x509.IPAddress)}
    return all(str(name) in present for name in names)


def _write_trust_bundle(tls: LocalTLS) -> None:
    system = next((path for path in _SYSTEM_BUNDLES if path.exists()), None)
    parts = [system.read_bytes()] if system else []
    parts.append(tls.ca_cert.read_bytes())
    tls.trust_bundle.write_bytes(b"\n".join(parts))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
