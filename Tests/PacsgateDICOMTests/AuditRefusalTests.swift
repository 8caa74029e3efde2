import Foundation
import NIOCore
import PacsgateCore
import Testing

@testable import PacsgateDICOM

/// `audit.on_failure: refuse`: while the audit log cannot be written, a complete A-ASSOCIATE-RQ is answered with a
/// transient A-ASSOCIATE-RJ (2/3/1) and recorded as refused by the gateway; otherwise it is forwarded as usual.
@Suite struct AuditRefusalTests {
    private func machine() throws -> AssociationStateMachine {
        AssociationStateMachine(
            AssociationStateMachine.Connection(
                service: "DICOM",
                client: try SocketAddress(ipAddress: "10.1.2.7", port: 40123),
                acceptedAt: WallClock.Instant(millisecondsSinceEpoch: 1_764_100_000_123),
                settings: DICOMServiceSettings(),
                persistsByCallingAE: false
            )
        )
    }

    @Test func refusedWhileTheAuditLogFails() throws {
        var machine = try self.machine()
        let request = try Fixture.pdu("echoscu-storescp.client")
        guard case .reject(let rejection) = machine.peek(request, refuseForAudit: true) else {
            Issue.record("expected a rejection")
            return
        }
        #expect(rejection.answer.map { Array($0.readableBytesView) } == Wire.reject(2, 3, 1))
        #expect(rejection.reason == "the audit log cannot be written (audit.on_failure: refuse)")
        #expect(machine.request?.callingAETitle.auditText == "MODALITY1", "the record still names the requestor")
    }

    @Test func incompleteRequestStillWaits() throws {
        var machine = try self.machine()
        let request = try Fixture.pdu("echoscu-storescp.client")
        let head = try #require(request.getSlice(at: request.readerIndex, length: 20))
        guard case .needMore = machine.peek(head, refuseForAudit: true) else {
            Issue.record("an incomplete request is not answered yet")
            return
        }
    }

    @Test func forwardedWhenTheLogIsHealthy() throws {
        var machine = try self.machine()
        guard case .forward = machine.peek(try Fixture.pdu("echoscu-storescp.client"), refuseForAudit: false) else {
            Issue.record("expected forwarding")
            return
        }
    }
}
