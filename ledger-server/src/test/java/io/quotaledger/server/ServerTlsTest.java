package io.quotaledger.server;

import io.quotaledger.client.ClientConfig;
import io.quotaledger.client.LedgerClient;
import io.quotaledger.client.LedgerClientException;
import io.quotaledger.client.LedgerResult;
import io.quotaledger.engine.Threading;
import io.quotaledger.protocol.ResultCode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * TLS from the first byte: a self-signed certificate made at test time with the JDK's keytool (no network, no
 * extra dependency), written as the PEM certificate and PKCS#8 key that {@code ledger serve --tls-cert --tls-key}
 * takes.
 */
@ParameterizedClass
@EnumSource(Threading.class)
class ServerTlsTest
{
    private static final char[] PASSWORD = "test-only".toCharArray();

    @TempDir
    static Path pki;

    private static Path certificate;
    private static Path privateKey;
    private static Path otherNameCertificate;
    private static Path otherNameKey;

    @Parameter
    Threading threading;

    @TempDir
    Path dir;

    @BeforeAll
    static void makeCertificates() throws Exception
    {
        certificate = pki.resolve("server.crt");
        privateKey = pki.resolve("server.key");
        makeCertificate("ledger", "SAN=dns:localhost,ip:127.0.0.1", certificate, privateKey);
        // a certificate for some other host: trusted, but not for 127.0.0.1
        otherNameCertificate = pki.resolve("elsewhere.crt");
        otherNameKey = pki.resolve("elsewhere.key");
        makeCertificate("elsewhere", "SAN=dns:elsewhere.example", otherNameCertificate, otherNameKey);
    }

    private static void makeCertificate(final String alias, final String names, final Path pemCertificate,
        final Path pemKey) throws Exception
    {
        final Path keyStore = pki.resolve(alias + ".p12");
        final String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        final Process process = new ProcessBuilder(List.of(keytool, "-genkeypair", "-alias", alias,
            "-keyalg", "RSA", "-keysize", "2048", "-validity", "2", "-dname", "CN=" + alias,
            "-ext", names, "-storetype", "PKCS12", "-keystore", keyStore.toString(),
            "-storepass", new String(PASSWORD), "-keypass", new String(PASSWORD)))
            .redirectErrorStream(true)
            .start();
        final String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "keytool did not finish");
        assertEquals(0, process.exitValue(), output);

        final KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keyStore))
        {
            store.load(in, PASSWORD);
        }
        final Key key = store.getKey(alias, PASSWORD);
        assertInstanceOf(PrivateKey.class, key);
        assertEquals("PKCS#8", key.getFormat());
        Files.writeString(pemCertificate, pem("CERTIFICATE", store.getCertificate(alias).getEncoded()));
        Files.writeString(pemKey, pem("PRIVATE KEY", key.getEncoded()));
    }

    private static String pem(final String type, final byte[] der)
    {
        return "-----BEGIN " + type + "-----\n" +
            Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der) +
            "\n-----END " + type + "-----\n";
    }

    private TestServer tlsServer() throws Exception
    {
        return new TestServer(threading, dir, new ServerConfig().tlsCertificate(certificate).tlsKey(privateKey));
    }

    private static ClientConfig config(final TestServer ledger)
    {
        return new ClientConfig().port(ledger.port()).apiKey(ledger.adminKey).timeout(Duration.ofSeconds(2))
            .connectTimeout(Duration.ofSeconds(2));
    }

    @Test
    void shouldServeATlsClientEndToEnd() throws Exception
    {
        try (TestServer ledger = tlsServer();
            LedgerClient client = LedgerClient.connect(config(ledger).tls(true).trustAnyCertificate(true)))
        {
            assertEquals(ResultCode.OK, client.blocking().credit(UUID.randomUUID(), 1, 500).code());
            final UUID id = UUID.randomUUID();
            assertEquals(380, client.blocking().deduct(id, 1, 1, 120).balance());
            final LedgerResult retry = client.blocking().deduct(id, 1, 1, 120);
            assertTrue(retry.duplicate());
            assertEquals(380, client.blocking().query(1, 0).balance());
        }
    }

    @Test
    void shouldRefuseAPlainClientOnTheTlsPortAndLiveOn() throws Exception
    {
        try (TestServer ledger = tlsServer())
        {
            final LedgerClientException plain = assertThrows(LedgerClientException.class,
                () -> LedgerClient.connect(config(ledger)));
             assertTrue(plain.getMessage().contains("closed") || plain.getMessage().contains("connect"),
                plain.getMessage());

            try (LedgerClient client = LedgerClient.connect(config(ledger).tls(true).trustAnyCertificate(true)))
            {
                assertEquals(ResultCode.OK, client.blocking().credit(UUID.randomUUID(), 2, 10).code());
            }
        }
    }

    @Test
    void shouldRefuseAnUntrustedCertificateByDefault() throws Exception
    {
        try (TestServer ledger = tlsServer())
        {
            // the certificate is self-signed: a client that checks certificates must not talk to it, and says why
            final LedgerClientException untrusted =
                assertThrows(LedgerClientException.class, () -> LedgerClient.connect(config(ledger).tls(true)));
            assertTrue(untrusted.getMessage().startsWith("TLS handshake with 127.0.0.1:" + ledger.port() +
                " failed: ") && untrusted.getMessage().contains("certification path"), untrusted.getMessage());
            try (LedgerClient client = LedgerClient.connect(config(ledger).tls(true).trustAnyCertificate(true)))
            {
                assertEquals(ResultCode.UNKNOWN_ACCOUNT, client.blocking().query(3, 0).code());
            }
        }
    }

    @Test
    void shouldTrustTheGivenCertificateAndCheckTheServerNameAgainstIt() throws Exception
    {
        try (TestServer ledger = tlsServer();
            LedgerClient client = LedgerClient.connect(config(ledger).tls(true).trustCertificates(certificate)))
        {
            assertEquals(ResultCode.UNKNOWN_ACCOUNT, client.blocking().query(3, 0).code());
        }
        try (TestServer ledger = new TestServer(threading, dir.resolve("elsewhere"),
            new ServerConfig().tlsCertificate(otherNameCertificate).tlsKey(otherNameKey)))
        {
            // trusted, but issued to another name: refused, and the message says so
            final LedgerClientException wrongName = assertThrows(LedgerClientException.class,
                () -> LedgerClient.connect(config(ledger).tls(true).trustCertificates(otherNameCertificate)));
            assertTrue(wrongName.getMessage().startsWith("TLS handshake with 127.0.0.1:" + ledger.port() +
                " failed: ") && wrongName.getMessage().contains("127.0.0.1"), wrongName.getMessage());
            assertTrue(wrongName.getMessage().toLowerCase(Locale.ROOT).contains("subject alternative name"),
                wrongName.getMessage());
        }
    }

    @Test
    void shouldRefuseATlsClientOnAPlainPort() throws Exception
    {
        try (TestServer ledger = new TestServer(threading, dir))
        {
            final LedgerClientException notTls = assertThrows(LedgerClientException.class,
                () -> LedgerClient.connect(config(ledger).tls(true).trustAnyCertificate(true)));
            assertTrue(notTls.getMessage().endsWith("failed: the server does not speak TLS"), notTls.getMessage());
            try (LedgerClient client = LedgerClient.connect(config(ledger)))
            {
                assertEquals(ResultCode.UNKNOWN_ACCOUNT, client.blocking().query(3, 0).code());
            }
        }
    }
}
