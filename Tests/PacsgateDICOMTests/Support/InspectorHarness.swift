import Foundation
import Logging
import NIOCore
import NIOPosix
import PacsgateCore
import Testing

@testable import PacsgateDICOM

/// Drives a real ``DICOMInspector`` the way the core does, without sockets: peeked bytes in, verdict out, observed
/// streams, closing words, and the audit record from an in-memory ``AuditLog``.
final class InspectorHarness {
    let audit: AuditLog
    let inspector: DICOMInspector
    let acceptedAt = WallClock.Instant(millisecondsSinceEpoch: 1_764_100_000_123)
    private var buffered = ByteBuffer()

    init(
        settings: DICOMServiceSettings = DICOMServiceSettings(),
        persistence: PersistenceKind = .none,
        client: String = "10.1.2.7",
        clientPort: Int = 40123
    ) throws {
        let logger = Logger(label: "inspector-test") { _ in SwiftLogNoOpLogHandler() }
        self.audit = AuditLog(configuration: AuditConfiguration(path: nil), logger: logger)
        try self.audit.start()
        let context = ConnectionContext(
            service: "DICOM",
            client: try SocketAddress(ipAddress: client, port: clientPort),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next(),
            audit: self.audit,
            logger: logger,
            acceptedAt: self.acceptedAt,
            persistenceType: persistence
        )
        self.inspector = DICOMInspector(context: context, settings: settings)
    }

    /// Offers `bytes` appended to what was peeked so far.
    func peek(_ bytes: ByteBuffer) -> InspectionVerdict {
        self.buffered.writeImmutableBuffer(bytes)
        return self.inspector.inspect(self.buffered)
    }

    /// Offers `bytes` one at a time; returns the first verdict that is not `needMore` and how many bytes it took.
    func peekOneByteAtATime(_ bytes: ByteBuffer) -> (verdict: InspectionVerdict, bytes: Int)? {
        for (index, byte) in bytes.readableBytesView.enumerated() {
            let verdict = self.peek(ByteBuffer(bytes: [byte]))
            if case .needMore = verdict { continue }
            return (verdict, index + 1)
        }
        return nil
    }

    /// The forward verdict after the core connected `server`, the peeked bytes replayed upstream.
    func forward(to server: ServerIdentity = InspectorHarness.server) {
        self.inspector.forwarding(to: server)
        self.inspector.upstream(self.buffered)
    }

    static let server = ServerIdentity(label: "DICOM1", endpoint: Endpoint(host: "192.0.2.10", port: 11112))

    /// Ends the connection and returns the `dicom.association` record, if one was written.
    func finish(
        bytesUp: Int = 0,
        bytesDown: Int = 0,
        end: String = "closed by both sides"
    ) async throws
        -> AuditRecord?
    {
        let summary = ConnectionSummary(
            service: "DICOM",
            client: "10.1.2.7:40123",
            server: nil,
            bytesUp: bytesUp,
            bytesDown: bytesDown,
            duration: .milliseconds(1234),
            endReason: end,
            refused: false
        )
        let future = self.inspector.finished(summary)
        try await future?.get()
        await self.audit.shutdown()
        let lines = self.audit.recent(limit: 10, event: AssociationRecord.event)
        #expect(lines.count <= 1, "more than one association record: \(lines)")
        guard let line = lines.first else { return nil }
        #expect(future != nil, "a record was written but finished() returned no future to wait on")
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return AuditRecord(fields: try #require(object as? [String: Any]))
    }

    /// The `dicom.association.start` lines written so far.
    var startLines: [String] { self.audit.recent(limit: 10, event: AssociationRecord.startEvent) }
}

extension InspectionVerdict {
    /// The rejection, if the verdict is one.
    var rejection: Rejection? {
        if case .reject(let rejection) = self { return rejection }
        return nil
    }

    /// The routing, if the verdict is to forward.
    var routing: Routing? {
        if case .forward(let routing) = self { return routing }
        return nil
    }
}

extension Rejection {
    /// The answer's bytes (empty when the gateway closes without answering).
    var bytes: [UInt8] { self.answer.map { Array($0.readableBytesView) } ?? [] }
}

extension ByteBuffer {
    /// The buffer's readable bytes as an array.
    var bytes: [UInt8] { Array(self.readableBytesView) }
}

/// Gateway answers as they must appear on the wire (PS3.8 Tables 9-21, 9-26).
enum Wire {
    static func abort(source: UInt8 = 2, reason: UInt8) -> [UInt8] { [0x07, 0, 0, 0, 0, 4, 0, 0, source, reason] }
    static func reject(_ result: UInt8, _ source: UInt8, _ reason: UInt8) -> [UInt8] {
        [0x03, 0, 0, 0, 0, 4, 0, result, source, reason]
    }
}
