import Foundation
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Certificates reloaded on SIGHUP without dropping an open connection: the real `pacsgate run`, an association held
/// open by pynetdicom over TLS across the reload, and new connections that get the renewed certificate.
@Suite("Certificate reload on SIGHUP", .timeLimit(.minutes(5)))
struct CertificateReloadTests {
    /// Holds one association open over TLS (pynetdicom), prints `ASSOCIATED <serial of the gateway's certificate>`,
    /// waits for the flag file, then echoes on the same association and releases it.
    static let heldAssociation = #"""
        import os, ssl, sys, time
        from pynetdicom import AE
        port, ca, cert, key, flag = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
        context.load_cert_chain(cert, key)
        ae = AE(ae_title="CT_SCANNER1")
        ae.add_requested_context("1.2.840.10008.1.1")
        assoc = ae.associate("127.0.0.1", port, ae_title="MACH7", tls_args=(context, "pacsgate.test"))
        if not assoc.is_established:
            print("NOT ASSOCIATED", flush=True)
            sys.exit(1)
        print("ASSOCIATED", assoc.dul.socket.socket.getpeercert()["serialNumber"], flush=True)
        while not os.path.exists(flag):
            time.sleep(0.05)
        status = assoc.send_c_echo()
        print("ECHO", "0x%04X" % status.Status if status else "none", flush=True)
        assoc.release()
        print("RELEASED", flush=True)
        """#

    @Test("a renewed certificate is used by new connections after SIGHUP; an open association continues on the old one")
    func reload() async throws {
        try await withSecureScope { scope in
            let site = try await SecureSite.make(in: scope)
            // storescp serves one association at a time: the held one takes DICOM1, the next goes round-robin to DICOM2.
            let node = try await RealSCP.storescp("storescp", scope: scope)
            let spare = try await RealSCP.storescp("storescp-spare", scope: scope)
            // The gateway's files at fixed paths, as an operator installs them.
            let certificate = "\(scope.directory)/gateway.crt"
            let key = "\(scope.directory)/gateway.key"
            try FileManager.default.copyItem(atPath: site.gateway.certificate, toPath: certificate)
            try FileManager.default.copyItem(atPath: site.gateway.key, toPath: key)
            let port = try Ports.free()
            let config = "\(scope.directory)/pacsgate.yaml"
            try """
                services:
                  - label: DICOM-TLS
                    listen: "127.0.0.1:\(port)"
                    protocol: dicom
                    tls:
                      certificate: \(certificate)
                      key: \(key)
                      client_auth: required
                      client_ca_file: \(site.ca.certificate)
                    servers:
                      - \(node.server("DICOM1"))
                      - \(spare.server("DICOM2"))
                audit: { path: "\(scope.directory)/audit.jsonl" }

                """.write(toFile: config, atomically: true, encoding: .utf8)
            let gateway = try await GatewayUnderTest.process(config: config, scope: scope)
            try #require(await Ports.waitListening(port, while: { gateway.isRunning }), "pacsgate: \(gateway.output)")

            let flag = "\(scope.directory)/continue"
            let scriptPath = "\(scope.directory)/held.py"
            try Self.heldAssociation.write(toFile: scriptPath, atomically: true, encoding: .utf8)
            let held = try await ChildProcess.start(
                Peers.env,
                ["python3", scriptPath, String(port), site.ca.certificate, site.ct1.certificate, site.ct1.key, flag],
                name: "held-association", directory: scope.directory, scope: scope)
            try #require(await eventually { held.output.contains("ASSOCIATED") }, "\(held.output)")
            let oldSerial = try await Self.serial(site.gateway.certificate)
            #expect(held.output.contains("ASSOCIATED \(oldSerial)"), "\(held.output)")

            // Renew: a new certificate for the same names, installed over the old files, then SIGHUP.
            let renewed = try await site.ca.issue(
                "gateway-renewed", commonName: "pacsgate.test", alternativeNames: ["DNS:pacsgate.test", "IP:127.0.0.1"])
            let newSerial = try await Self.serial(renewed.certificate)
            #expect(newSerial != oldSerial)
            for (from, to) in [(renewed.certificate, certificate), (renewed.key, key)] {
                try FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: from, toPath: to)
            }
            gateway.signal(SIGHUP)
            #expect(await eventually { gateway.output.contains("configuration reloaded") }, "\(gateway.output)")

            // A new connection is handed the renewed certificate and works.
            let hello = try await ToolRunner.run(
                "/usr/bin/openssl",
                [
                    "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", site.ca.certificate, "-cert", site.ct1.certificate,
                    "-key", site.ct1.key, "-showcerts",
                ],
                input: "")
            let presented = "\(scope.directory)/presented.pem"
            try Self.firstCertificate(in: hello.standardOutput).write(toFile: presented, atomically: true, encoding: .utf8)
            #expect(try await Self.serial(presented) == newSerial, "\(hello.standardOutput)")
            let echo = try await Peers.run(
                Peers.echoscu,
                site.dcmtkClient(site.ct1) + ["-aet", "CT_SCANNER1", "-aec", "MACH7", "127.0.0.1", String(port)],
                name: "echoscu-after-reload", scope: scope)
            #expect(echo.status == 0, "\(echo.output)")

            // The association opened before the reload is still up: it echoes and releases.
            _ = FileManager.default.createFile(atPath: flag, contents: nil)
            #expect(await held.waitForExit(timeout: .seconds(30)) == 0, "\(held.output)")
            #expect(held.output.contains("ECHO 0x0000"), "\(held.output)")
            #expect(held.output.contains("RELEASED"), "\(held.output)")
            #expect(node.associationsReceived == 1)
            #expect(spare.associationsReceived == 1)
        }
    }

    /// A certificate's serial number in upper-case hex, as openssl prints it.
    static func serial(_ certificate: String) async throws -> String {
        let output = try await TestCA.openssl(["x509", "-noout", "-serial", "-in", certificate])
        return output.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "serial=", with: "")
    }

    static func firstCertificate(in output: String) throws -> String {
        guard let start = output.range(of: "-----BEGIN CERTIFICATE-----"),
            let end = output.range(of: "-----END CERTIFICATE-----", range: start.upperBound..<output.endIndex)
        else { throw Peers.Missing(description: "no certificate in s_client's output: \(output)") }
        return String(output[start.lowerBound..<end.upperBound]) + "\n"
    }
}
