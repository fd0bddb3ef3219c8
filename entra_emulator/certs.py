"""Key material for the emulator: a local CA, the HTTPS server certificate, JWT signing keys, app certificates."""
import base64
import datetime
import hashlib
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

ONE_DAY = datetime.timedelta(days=1)


def b64url(data: bytes) -> str:
    """Base64url without padding, as JOSE headers and client_info use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_pem(key) -> bytes:
    """PKCS#8 PEM of a private key, unencrypted."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert) -> bytes:
    """PEM of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _self_signed(key, common_name: str, *, ca: bool, years: int = 10):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - ONE_DAY)
        .not_valid_after(now + datetime.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    return builder.sign(key, hashes.SHA256())


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """Load a PEM private key from path, creating and saving one if the file is missing."""
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = new_key()
    path.write_bytes(key_pem(key))
    path.chmod(0o600)
    return key


def load_or_create_ca(data_dir: Path):
    """The emulator's CA (ca.pem, ca-key.pem in data_dir), created at first start and reused afterwards."""
    cert_path, key_path = data_dir / "ca.pem", data_dir / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = load_or_create_key(key_path)
    cert = _self_signed(key, "Entra Emulator Local CA", ca=True)
    cert_path.write_bytes(cert_pem(cert))
    return cert, key


def issue_server_cert(data_dir: Path, ca_cert, ca_key, hosts: list[str]) -> tuple[Path, Path]:
    """Write server.pem / server-key.pem for the given host names and IPs, signed by the CA; return both paths."""
    key = load_or_create_key(data_dir / "server-key.pem")
    names = []
    for host in dict.fromkeys(hosts + ["127.0.0.1", "localhost"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Entra Emulator"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - ONE_DAY)
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path = data_dir / "server.pem"
    cert_path.write_bytes(cert_pem(cert))
    return cert_path, data_dir / "server-key.pem"


class AppCertificate:
    """A self-signed certificate credential of an app registration (what an admin uploads in the portal)."""

    def __init__(self, key, cert):
        self.key = key
        self.cert = cert
        der = cert.public_bytes(serialization.Encoding.DER)
        self.thumbprint_sha1 = hashlib.sha1(der).hexdigest().upper()
        self.x5t = b64url(hashlib.sha1(der).digest())
        self.x5t_s256 = b64url(hashlib.sha256(der).digest())
        self.private_key_pem = key_pem(key).decode()
        self.certificate_pem = cert_pem(cert).decode()

    @classmethod
    def load_or_create(cls, data_dir: Path, name: str, common_name: str) -> "AppCertificate":
        """Load <name>.pem / <name>-key.pem from data_dir, creating them at first use."""
        key = load_or_create_key(data_dir / f"{name}-key.pem")
        cert_path = data_dir / f"{name}.pem"
        if cert_path.exists():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        else:
            cert = _self_signed(key, common_name, ca=False, years=2)
            cert_path.write_bytes(cert_pem(cert))
        return cls(key, cert)

    def pfx_bytes(self, passphrase: str | None = None) -> bytes:
        """The key and certificate as a PKCS#12 (.pfx) blob, optionally passphrase-protected."""
        encryption = (
            serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
            else serialization.NoEncryption()
        )
        return pkcs12.serialize_key_and_certificates(b"app", self.key, self.cert, None, encryption)

    def write_pfx(self, path, passphrase: str | None = None) -> Path:
        """Write the PFX to path and return it (for msal's private_key_pfx_path credential)."""
        path = Path(path)
        path.write_bytes(self.pfx_bytes(passphrase))
        return path


def jwk(key, kid: str) -> dict:
    """The public half of an RSA key as a JWKS entry."""
    numbers = key.public_key().public_numbers()

    def encode(value: int) -> str:
        return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {"kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": encode(numbers.n), "e": encode(numbers.e)}


def key_id(key) -> str:
    """A stable key id: the base64url SHA-1 of the DER public key, shaped like Entra's kid/x5t values."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64url(hashlib.sha1(der).digest())
