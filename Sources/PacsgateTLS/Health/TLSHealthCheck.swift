public import NIOCore
public import NIOSSL
import NIOTLS
public import PacsgateCore

#if canImport(Glibc)
import Glibc
#endif

/// The `tls` health check: a full TLS handshake with the server, optionally followed by `GET path` expecting a
/// status. The result names the negotiated version and when the server's certificate expires, so the overview shows
/// a certificate about to expire before clients notice.
///
/// ```yaml
/// health_check: { type: tls, interval: 5s, timeout: 2s, path: /health, expect_status: 200 }
/// ```
/// Keys: `path` (no request when absent), `expect_status` (200), `server_name` (SNI and `Host`), `verify`
/// (`none` by default: the check is about liveness; `full` also checks the chain against `ca_file` or the system's
/// roots and the name).
public struct TLSHealthCheck: HealthCheck {
    let context: NIOSSLContext
    let serverName: String?
    let request: (path: String, expectedStatus: Int)?

    /// - Parameters:
    ///   - context: the client TLS context (verification settings, roots).
    ///   - serverName: SNI to send and name to verify; also the `Host` header.
    ///   - path: when set, `GET path` must answer `expectedStatus`.
    public init(context: NIOSSLContext, serverName: String?, path: String?, expectedStatus: Int = 200) {
        self.context = context
        self.serverName = serverName
        self.request = path.map { ($0, expectedStatus) }
    }

    public func check(_ server: Endpoint, timeout: Duration, group: any EventLoopGroup) async -> HealthCheckResult {
        let probe = self.request.map {
            HTTPStatusProbe(path: $0.path, host: self.serverName ?? server.host, expectedStatus: $0.expectedStatus)
        }
        let context = self.context
        let serverName = self.serverName
        return await ProbeConnection.run(server: server, timeout: timeout, group: group) { pipeline, promise in
            let tls = try NIOSSLClientHandler(context: context, serverHostname: serverName)
            try pipeline.addHandlers([tls, TLSProbeHandler(probe: probe, promise: promise)])
        }
    }

    /// The factory registered under `type: tls`.
    public struct Factory: HealthCheckFactory {
        public init() {}

        public func makeCheck(_ reader: inout MappingReader, service: ServiceConfiguration) -> (any HealthCheck)? {
            let context = "service '\(service.label)' health_check"
            let path = reader.string("path")
            if let path, !path.hasPrefix("/") || path.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
                reader.problem(
                    reader.entryLine("path") ?? reader.line,
                    "\(context): 'path' must start with / and hold no spaces"
                )
            }
            let status = reader.int("expect_status", in: 100...599) ?? 200
            var serverName: String?
            if let name = reader.string("server_name") {
                do {
                    serverName = try ServerName(name).hostName
                } catch {
                    reader.problem(reader.entryLine("server_name") ?? reader.line, "\(context): 'server_name' \(error)")
                }
            }
            let verify = reader.choice("verify", ServerCertificateVerification.self) ?? .none
            let caFile = reader.string("ca_file")
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            configuration.certificateVerification = verify == .full ? .fullVerification : .none
            if let caFile {
                do {
                    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
                } catch {
                    reader.problem(
                        reader.entryLine("ca_file") ?? reader.line,
                        "\(context): cannot read 'ca_file' '\(caFile)' (\(error))"
                    )
                }
            }
            do {
                let sslContext = try NIOSSLContext(configuration: configuration)
                return TLSHealthCheck(context: sslContext, serverName: serverName, path: path, expectedStatus: status)
            } catch {
                reader.problem(reader.line, "\(context): cannot set up TLS (\(error))")
                return nil
            }
        }
    }
}

/// Drives one `tls` check on its channel: the handshake, then the optional HTTP probe.
private final class TLSProbeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var driver: ProbeDriver<HTTPStatusProbe>?
    private let promise: EventLoopPromise<HealthCheckResult>
    private var handshake: String?
    private var certificateExpiry: WallClock.Instant?

    init(probe: HTTPStatusProbe?, promise: EventLoopPromise<HealthCheckResult>) {
        self.driver = probe.map(ProbeDriver.init)
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? TLSUserEvent, case .handshakeCompleted = event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
        let version = handler?.tlsVersion.map(TLSSessionObserver.describe) ?? "TLS"
        let notValidAfter = handler?.peerCertificate.map { Int($0.notValidAfter) }
        let expiry = notValidAfter.map { CertificateExpiry.describe(notValidAfter: $0) }
        self.certificateExpiry = notValidAfter.map { WallClock.Instant(millisecondsSinceEpoch: Int64($0) * 1000) }
        let summary = "\(version) handshake ok; " + (expiry ?? "no server certificate")
        self.handshake = summary
        guard let step = self.driver?.start() else {
            self.promise.succeed(HealthCheckResult(succeeded: true, detail: summary, certificateExpiry: self.certificateExpiry))
            return
        }
        self.apply(step, context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let step = self.driver?.receive(self.unwrapInboundIn(data)) else { return }
        self.apply(step, context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if self.handshake == nil {
            self.promise.succeed(.failure("the server closed the connection during the TLS handshake"))
        } else if let result = self.driver?.serverClosed() {
            self.promise.succeed(self.joined(result))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let tlsError = error as? NIOSSLError, case .uncleanShutdown = tlsError, self.handshake != nil {
            return  // the HTTP part decides on the close
        }
        self.promise.succeed(.failure(TLSErrorText.describe(error)))
        context.close(promise: nil)
    }

    private func apply(_ step: ProbeStep, context: ChannelHandlerContext) {
        ProbeDriver<HTTPStatusProbe>.perform(step, context: context, promise: self.promise, finish: self.joined)
    }

    /// The handshake summary and the HTTP result in one.
    private func joined(_ result: HealthCheckResult) -> HealthCheckResult {
        let detail = [self.handshake, result.detail].compactMap { $0 }.joined(separator: "; ")
        return HealthCheckResult(succeeded: result.succeeded, detail: detail, certificateExpiry: self.certificateExpiry)
    }
}

@available(*, unavailable)
extension TLSProbeHandler: Sendable {}

/// Words for a certificate's expiry: `certificate expires 2026-07-01 (in 71 days)`.
enum CertificateExpiry {
    static func describe(notValidAfter: Int, now: Int = Int(time(nil))) -> String {
        let date = WallClock.Instant(millisecondsSinceEpoch: Int64(notValidAfter) * 1000).iso8601.prefix(10)
        let seconds = notValidAfter - now
        if seconds < 0 {
            return "certificate EXPIRED on \(date) (\(-seconds / 86_400) days ago)"
        }
        let days = seconds / 86_400
        return "certificate expires \(date) (in \(days) day\(days == 1 ? "" : "s"))"
    }
}
