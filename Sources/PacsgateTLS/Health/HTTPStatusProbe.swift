public import NIOCore
public import PacsgateCore

/// The HTTP part of the `tls` health check, as a pure state machine: sends `GET path` and checks the status line.
///
/// Runs inside the TLS session that ``TLSHealthCheck`` opens (it sees decrypted bytes). Only the status line is
/// read; the body is ignored and the connection closed.
public struct HTTPStatusProbe: HealthProbe, Sendable {
    /// The request path, e.g. `/` or `/health`.
    public let path: String
    /// The `Host` header.
    public let host: String
    /// The status the server must answer.
    public let expectedStatus: Int

    /// Longest status line accepted before the probe gives up.
    static let maximumStatusLine = 8 * 1024

    public init(path: String, host: String, expectedStatus: Int) {
        self.path = path
        self.host = host
        self.expectedStatus = expectedStatus
    }

    public mutating func start() -> ProbeStep {
        let request =
            "GET \(self.path) HTTP/1.1\r\nHost: \(self.host)\r\nUser-Agent: pacsgate-health-check\r\n"
            + "Accept: */*\r\nConnection: close\r\n\r\n"
        return .send(ByteBuffer(string: request))
    }

    public mutating func receive(_ data: inout ByteBuffer) -> ProbeStep {
        let view = data.readableBytesView
        guard let end = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if data.readableBytes > Self.maximumStatusLine {
                return .done(.failure("GET \(self.path): no HTTP status line in \(data.readableBytes) bytes"))
            }
            return .needMore
        }
        let line = String(decoding: view[view.startIndex..<end], as: UTF8.self)
        data.moveReaderIndex(to: data.readerIndex + data.readableBytes)
        return .done(self.evaluate(statusLine: line))
    }

    public mutating func serverClosed() -> HealthCheckResult {
        .failure("GET \(self.path): the server closed the connection without answering")
    }

    /// `HTTP/1.1 200 OK` → the status compared with the expected one.
    func evaluate(statusLine: String) -> HealthCheckResult {
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), parts[1].count == 3, let status = Int(parts[1]) else {
            return .failure("GET \(self.path): not an HTTP status line")
        }
        if status == self.expectedStatus {
            return .success("GET \(self.path) → \(status)")
        }
        return .failure("GET \(self.path) → \(status), expected \(self.expectedStatus)")
    }
}
