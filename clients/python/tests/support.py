"""Test support: a live ``ledger serve`` (the jar the build makes, started by the test), a cluster of them, keys, a
self-signed certificate, and a TCP proxy that can drop answers or cut connections (timeouts, retries, reconnects)."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
from pathlib import Path

CLIENT_ROOT = Path(__file__).resolve().parents[1]
REPO = CLIENT_ROOT.parents[1]
sys.path.insert(0, str(CLIENT_ROOT))

from quotaledger._wire import hello_frame  # noqa: E402

# scripts/ledger's jar; the one the Maven build leaves before scripts/ledger renames it will do
JAR = next((jar for jar in (REPO / "ledger-server" / "target" / name for name in ("ledger.jar", "ledger-build.jar"))
            if jar.exists()), REPO / "ledger-server" / "target" / "ledger.jar")
JVM_OPTIONS = REPO / "scripts" / "jvm.options"
# How the Maven build runs these tests (``mvn test`` packages no jar): the ledger's classes and the java to run them
CLASSPATH = os.environ.get("LEDGER_CLASSPATH", "")
JAVA = os.environ.get("LEDGER_JAVA", "java")

NOT_BUILT = (f"the ledger is not built ({JAR} missing): run `mvn -q -B -pl ledger-server -am package "
             "-Dmaven.test.skip=true` in the project root, or `scripts/ledger --help` once")


def require_jar() -> None:
    """Skips the calling test class when there is no jar to start (the only reason a live test skips)."""
    if CLASSPATH:
        return
    if not JAR.exists():
        raise unittest.SkipTest(NOT_BUILT)
    if shutil.which("java") is None:
        raise unittest.SkipTest("no java on PATH to start the ledger")


class LedgerServer:
    """``ledger serve`` in a child process: a fresh data directory, free ports, no projector, a small heap."""

    def __init__(self, *, tls_cert: Path | None = None, tls_key: Path | None = None,
                 extra: tuple[str, ...] = ()) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="quotaledger-py-"))
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.extra = extra
        self.port = 0
        self.metrics_port = 0
        self.process: subprocess.Popen | None = None
        self._log = self.data / "serve.log"

    def start(self, port: int = 0) -> LedgerServer:
        program = ["-cp", CLASSPATH, "io.quotaledger.cli.LedgerCli"] if CLASSPATH else ["-jar", str(JAR)]
        command = [JAVA, f"@{JVM_OPTIONS}", "-Xmx384m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", *program,
                   "serve", "--data", str(self.data / "ledger"), "--port", str(port), "--metrics-port", "0",
                   "--no-projector", "--dedupe-window", "65536", *self.extra]
        if self.tls_cert is not None:
            command += ["--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key)]
        log = open(self._log, "ab")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 90
        line = b""
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            if line.startswith(b"ledger serving "):
                address = line.split()[2].decode()
                self.port = int(address.rsplit(":", 1)[1])
                metrics = line.split(b"http://", 1)[1].split(b"/", 1)[0].decode()
                self.metrics_port = int(metrics.rsplit(":", 1)[1])
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        self.stop()
        raise RuntimeError(f"ledger serve did not start: {line!r}; log:\n{self._log.read_text(errors='replace')}")

    def _drain(self) -> None:
        for _ in self.process.stdout:  # type: ignore[union-attr]
            pass

    @property
    def admin_key_file(self) -> Path:
        return self.data / "ledger" / "admin.key"

    @property
    def admin_key(self) -> str:
        return self.admin_key_file.read_text().strip()

    def add_key(self, role: str) -> str:
        """A new key of the role, appended to the keys file as docs/protocol.md shows; waits until it works."""
        key = "qlk_test_" + secrets.token_urlsafe(24)
        digest = hashlib.sha256(key.encode()).hexdigest()
        with open(self.data / "ledger" / "keys", "a") as keys:
            keys.write(f"{role} {digest} py-test-{role}\n")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if hello(self.port, key) == 0:
                return key
            time.sleep(0.2)
        raise RuntimeError("the ledger did not take the new key")

    def kill(self) -> None:
        """SIGKILL: a crash, nothing drained or closed."""
        if self.process is not None:
            self.process.kill()
        self.stop()

    def role(self) -> str | None:
        """The cluster role its /health reports ("leader", "follower", ...), None when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/health", timeout=2) as response:
                return json.load(response).get("cluster", {}).get("role")
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


PORTS_PER_MEMBER = 5  # consecutive UDP ports a cluster member uses from its base port (docs/cluster.md)


class LedgerCluster:
    """The members of a replicated ledger (``ledger serve --cluster-members ... --cluster-member-id N``) on
    loopback, started at once, sharing one admin key."""

    def __init__(self, members: int = 3) -> None:
        self.admin_key = "qlk_test_" + secrets.token_urlsafe(24)
        base = free_udp_ports(members * PORTS_PER_MEMBER)
        spec = ",".join(f"localhost:{base + i * PORTS_PER_MEMBER}" for i in range(members))
        self.members = [LedgerServer(extra=("--cluster-members", spec, "--cluster-member-id", str(i)))
                        for i in range(members)]
        digest = hashlib.sha256(self.admin_key.encode()).hexdigest()
        for member in self.members:
            member.extra += ("--aeron-dir", str(member.data / "aeron"))
            (member.data / "ledger").mkdir()
            (member.data / "ledger" / "keys").write_text(f"admin {digest} py-test-cluster\n")
            member.admin_key_file.write_text(self.admin_key + "\n")
        errors: list[BaseException] = []

        def start(member: LedgerServer) -> None:
            try:
                member.start()
            except BaseException as ex:  # raised below, on the caller's thread
                errors.append(ex)

        threads = [threading.Thread(target=start, args=(member,)) for member in self.members]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            self.close()
            raise errors[0]
        self.leader()

    def leader(self, timeout: float = 60.0) -> int:
        """The index of the member that says it leads, once one does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, member in enumerate(self.members):
                if member.process is not None and member.role() == "leader":
                    return i
            time.sleep(0.05)
        raise RuntimeError(f"no cluster member leads within {timeout:g} s")

    def close(self) -> None:
        for member in self.members:
            member.close()


def free_udp_ports(count: int) -> int:
    """A base port with ``count`` free UDP ports on loopback from it."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            for port in range(base, base + count):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
                    taken.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free range of UDP ports")


def hello(port: int, key: str) -> int:
    """The code a plain Hello with the key gets (255: no answer)."""
    frame = hello_frame(key)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(frame)
        answer = b""
        try:
            while len(answer) < 24:
                chunk = sock.recv(64)
                if not chunk:
                    break
                answer += chunk
        except socket.timeout:
            return 255
    return answer[12 + 8] if len(answer) >= 24 else 255


_shared: dict[str, object] = {}


def shared_server() -> LedgerServer:
    """One plain server for every test module of the run (a JVM start is seconds on a busy machine)."""
    require_jar()
    if "plain" not in _shared:
        server = LedgerServer().start()
        atexit.register(server.close)
        _shared["plain"] = server
        _shared["gateway"] = server.add_key("gateway")
    return _shared["plain"]  # type: ignore[return-value]


def gateway_key() -> str:
    shared_server()
    return _shared["gateway"]  # type: ignore[return-value]


def fresh_user() -> int:
    """A user id no other test (or earlier run on the same server) has used."""
    return secrets.randbelow(1 << 40) + 1


def self_signed_certificate(directory: Path, name: str = "localhost") -> tuple[Path, Path, str]:
    """A self-signed certificate for ``name`` and 127.0.0.1 (PEM) and its PKCS#8 key, as ``ledger serve
    --tls-cert --tls-key`` takes them. The standard library cannot make one: openssl when present, else the JDK's
    keytool (and a few lines of Java to write the key as PKCS#8 PEM). Returns the paths and the tool used."""
    cert = directory / "cert.pem"
    key = directory / "key.pem"
    if shutil.which("openssl"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "2", "-subj", f"/CN={name}", "-addext",
                        f"subjectAltName=DNS:{name},IP:127.0.0.1"],
                       check=True, capture_output=True)
        return cert, key, "openssl"
    store = directory / "store.p12"
    subprocess.run(["keytool", "-genkeypair", "-keyalg", "RSA", "-keysize", "2048", "-alias", "ledger", "-dname",
                    f"CN={name}", "-ext", f"SAN=dns:{name},ip:127.0.0.1", "-validity", "2", "-storetype", "PKCS12",
                    "-keystore", str(store), "-storepass", "test-only", "-keypass", "test-only"],
                   check=True, capture_output=True)
    exporter = directory / "Export.java"
    exporter.write_text("""
import java.io.FileInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.Base64;
public class Export {
    public static void main(String[] args) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(new FileInputStream(args[0]), "test-only".toCharArray());
        Base64.Encoder pem = Base64.getMimeEncoder(64, "\\n".getBytes());
        Files.writeString(Path.of(args[1]), "-----BEGIN CERTIFICATE-----\\n" +
            pem.encodeToString(store.getCertificate("ledger").getEncoded()) + "\\n-----END CERTIFICATE-----\\n");
        Files.writeString(Path.of(args[2]), "-----BEGIN PRIVATE KEY-----\\n" +
            pem.encodeToString(store.getKey("ledger", "test-only".toCharArray()).getEncoded()) +
            "\\n-----END PRIVATE KEY-----\\n");
    }
}
""")
    subprocess.run(["java", str(exporter), str(store), str(cert), str(key)], check=True, capture_output=True)
    return cert, key, "keytool"


class Proxy:
    """A TCP proxy in front of the ledger for failure tests: it can drop the next N answers (whole Result frames,
    so the stream stays in step), hold every answer back, cut every connection, or close for good (a cluster member
    that dies: connecting to it is refused from then on)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.drop_results = 0
        self.swallow = False
        self.connections: list[socket.socket] = []
        self.accepted = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self.accepted += 1
                self.connections += [client, server]
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._answers, args=(server, client), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _answers(self, source: socket.socket, sink: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                buffer += data
                out = []
                while len(buffer) >= 4:
                    length = struct.unpack_from("<I", buffer)[0]
                    if len(buffer) < 4 + length:
                        break
                    frame, buffer = buffer[:4 + length], buffer[4 + length:]
                    template = struct.unpack_from("<H", frame, 6)[0]
                    with self._lock:
                        if template == 30 and self.swallow:
                            continue
                        if template == 30 and self.drop_results > 0:
                            self.drop_results -= 1
                            continue
                    out.append(frame)
                if out:
                    sink.sendall(b"".join(out))
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Closes every connection through the proxy (the ledger and the client each see theirs end)."""
        with self._lock:
            connections, self.connections = self.connections, []
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused (an endpoint that is down)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return listener.getsockname()[1]


def wait_until(condition, timeout: float = 10.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {message}")


__all__ = ["LedgerServer", "LedgerCluster", "Proxy", "shared_server", "gateway_key", "fresh_user",
           "self_signed_certificate", "require_jar", "wait_until", "closed_port", "REPO", "CLIENT_ROOT", "JAR"]
