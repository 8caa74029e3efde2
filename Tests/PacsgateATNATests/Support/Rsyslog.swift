import Foundation
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
import PacsgateTestSupport
#endif

/// Certificates made with the openssl CLI for one test: a CA, the repository's server certificate
/// (localhost/127.0.0.1), the gateway's client certificate, and a second, unrelated CA with its own server certificate.
struct TestCertificates {
    let directory: String
    var ca: String { "\(self.directory)/ca.pem" }
    var server: String { "\(self.directory)/server.pem" }
    var serverKey: String { "\(self.directory)/server.key" }
    var client: String { "\(self.directory)/client.pem" }
    var clientKey: String { "\(self.directory)/client.key" }
    var otherCA: String { "\(self.directory)/other-ca.pem" }
    var otherServer: String { "\(self.directory)/other-server.pem" }
    var otherServerKey: String { "\(self.directory)/other-server.key" }

    static func make(in directory: String) async throws -> TestCertificates {
        let certificates = TestCertificates(directory: directory)
        let openssl = "/usr/bin/openssl"
        func run(_ arguments: [String]) async throws {
            let result = try await Tools.run(openssl, arguments)
            guard result.status == 0 else { throw ToolFailure("openssl \(arguments.prefix(2)): \(result.standardError)") }
        }
        for (name, subject) in [("ca", "/CN=pacsgate test ARR CA"), ("other-ca", "/CN=someone else's CA")] {
            try await run([
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", subject, "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).pem",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        }
        let leaves: [(String, String, String, String)] = [
            ("server", "ca", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth"),
            ("client", "ca", "/CN=pacsgate-audit", "subjectAltName=DNS:pacsgate-audit\nextendedKeyUsage=clientAuth,serverAuth"),
            ("other-server", "other-ca", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth"),
        ]
        for (name, issuer, subject, extensions) in leaves {
            try extensions.write(toFile: "\(directory)/\(name).ext", atomically: true, encoding: .utf8)
            try await run([
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", subject,
                "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).csr",
            ])
            try await run([
                "x509", "-req", "-in", "\(directory)/\(name).csr", "-CA", "\(directory)/\(issuer).pem", "-CAkey",
                "\(directory)/\(issuer).key", "-CAcreateserial", "-days", "2", "-out", "\(directory)/\(name).pem",
                "-extfile", "\(directory)/\(name).ext",
            ])
        }
        return certificates
    }
}

/// A real rsyslogd (Debian `rsyslog` + `rsyslog-gnutls`) with an imtcp listener on 127.0.0.1 — TLS via the gtls
/// driver with mutual authentication (`x509/certvalid`: the gateway must present a certificate from the CA), or plain
/// TCP — writing each received message (`%rawmsg%`) as one line of `received.log`.
final class Rsyslog: Sendable {
    let directory: String
    let port: Int
    let tls: Bool
    let serverCertificate: (ca: String, certificate: String, key: String)?
    private let process = NIOLockedValueBox<Process?>(nil)

    var receivedPath: String { "\(self.directory)/received.log" }

    static let binary = "/usr/sbin/rsyslogd"
    static let gtlsModule = "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so"

    init(directory: String, port: Int, tls: (ca: String, certificate: String, key: String)?) {
        self.directory = directory
        self.port = port
        self.tls = tls != nil
        self.serverCertificate = tls
    }

    /// Starts rsyslogd and waits until it accepts connections. Fails (does not skip) when rsyslog is missing.
    func start() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw ToolFailure("\(Self.binary) missing: apt-get install rsyslog rsyslog-gnutls (scripts/install-test-deps.sh)")
        }
        if self.tls {
            let modules = ["/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog", "/usr/lib/rsyslog"]
            guard modules.contains(where: { FileManager.default.fileExists(atPath: "\($0)/lmnsd_gtls.so") }) else {
                throw ToolFailure("rsyslog's gtls driver (lmnsd_gtls.so) missing: apt-get install rsyslog-gnutls")
            }
        }
        try FileManager.default.createDirectory(atPath: "\(self.directory)/work", withIntermediateDirectories: true)
        var configuration = #"global(workDirectory="\#(self.directory)/work" maxMessageSize="256k""#
        if let tls = self.serverCertificate {
            configuration += #" defaultNetstreamDriverCAFile="\#(tls.ca)" defaultNetstreamDriverCertFile="\#(tls.certificate)" defaultNetstreamDriverKeyFile="\#(tls.key)""#
        }
        configuration += ")\n"
        if self.tls {
            configuration += #"module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/certvalid" maxFrameSize="262144")"# + "\n"
        } else {
            configuration += #"module(load="imtcp" maxFrameSize="262144")"# + "\n"
        }
        configuration += """
            input(type="imtcp" address="127.0.0.1" port="\(self.port)")
            template(name="raw" type="string" string="%rawmsg%\\n")
            action(type="omfile" file="\(self.receivedPath)" template="raw")

            """
        let configPath = "\(self.directory)/rsyslog.conf"
        try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["-n", "-f", configPath, "-i", "\(self.directory)/rsyslogd.pid"]
        let log = "\(self.directory)/rsyslogd.stderr"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = process.standardError
        try process.run()
        self.process.withLockedValue { $0 = process }
        let up = await eventually(timeout: .seconds(20)) { process.isRunning && canConnect(port: self.port) }
        guard up else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            self.stop()
            throw ToolFailure("rsyslogd did not listen on 127.0.0.1:\(self.port): \(output)")
        }
    }

    /// SIGTERM and wait.
    func stop() {
        guard let process = self.process.withLockedValue({ process -> Process? in
            defer { process = nil }
            return process
        }) else { return }
        terminate(process)
    }

    /// Every message received so far (one per line).
    var received: [String] {
        guard let text = try? String(contentsOfFile: self.receivedPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init)
    }

    var diagnostics: String { (try? String(contentsOfFile: "\(self.directory)/rsyslogd.stderr", encoding: .utf8)) ?? "" }

    deinit {
        self.stop()
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` (a bare connect, closed at once).
func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// The XML of a received syslog line, after checking its RFC 5424 header (PRI 85, version 1, MSGID IHE+RFC-3881).
func auditXML(ofSyslog line: String) -> String? {
    guard line.hasPrefix("<85>1 "), let start = line.range(of: " IHE+RFC-3881 - <?xml") else { return nil }
    return String(line[line.index(start.upperBound, offsetBy: -5)...])
}

/// SIGTERM, then SIGKILL after `grace` seconds: a child started from a thread that blocks SIGTERM inherits the blocked mask
/// (rsyslogd and storescp then never see the SIGTERM).
func terminate(_ process: Process, grace: TimeInterval = 3) {
    guard process.isRunning else { return }
    process.terminate()
    let deadline = Date().addingTimeInterval(grace)
    while process.isRunning, Date() < deadline { usleep(50_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
}
