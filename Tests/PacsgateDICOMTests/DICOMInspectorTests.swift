import Foundation
import NIOCore
import PacsgateCore
import Testing

@testable import PacsgateDICOM

/// The inspector without sockets: the verdict on every kind of first bytes (exact answer bytes), what it observes
/// afterwards, its last words, and the audit record it leaves.
@Suite struct DICOMInspectorTests {
    private func request(_ fixture: String = "echoscu-storescp.client") throws -> ByteBuffer {
        try Fixture.pdu(fixture)
    }

    // MARK: peek

    @Test(arguments: ["echoscu-storescp.client", "storescu-storescp.client", "pynetdicom-identity-storescp.client"])
    func holdsUntilTheWholeRequestHasArrived(fixture: String) throws {
        let harness = try InspectorHarness()
        let request = try self.request(fixture)
        let (verdict, fed) = try #require(harness.peekOneByteAtATime(request))
        #expect(fed == request.readableBytes, "decided after \(fed) of \(request.readableBytes) bytes")
        let routing = try #require(verdict.routing)
        #expect(routing.servers == nil)
        #expect(routing.stickKey == nil)
    }

    @Test func callingAEIsThePersistenceKeyWhenConfigured() throws {
        let harness = try InspectorHarness(persistence: "calling-ae")
        let routing = try #require(harness.peek(try self.request()).routing)
        #expect(routing.stickKey == StickKey(text: "MODALITY1"))
        let bySource = try InspectorHarness(persistence: "source-ip")
        #expect(try #require(bySource.peek(try self.request()).routing).stickKey == nil, "source-ip is the core's")
    }

    @Test func routesRestrictTheServers() throws {
        let settings = DICOMServiceSettings(
            policy: AEPolicy(routes: [AssociationRoute(calledAE: try AEPattern("MACH*"), servers: ["DICOM2"])])
        )
        let routing = try #require(try InspectorHarness(settings: settings).peek(try self.request()).routing)
        #expect(routing.servers == ["DICOM2"])
        #expect(routing.note == "calling MODALITY1 called MACH7 route MACH*")
    }

    @Test func refusedCallingAEGetsRJ113AndARecord() async throws {
        let settings = DICOMServiceSettings(
            policy: AEPolicy(callingAllow: AEAllowList([AEAllowRule(pattern: try AEPattern("CT*"))]))
        )
        let harness = try InspectorHarness(settings: settings)
        let rejection = try #require(harness.peek(try self.request()).rejection)
        #expect(rejection.bytes == Wire.reject(1, 1, 3))
        #expect(rejection.waitForClientClose, "after A-ASSOCIATE-RJ the requestor closes (PS3.8 AE-8)")
        let record = try #require(try await harness.finish(bytesUp: 0, bytesDown: 0, end: rejection.reason))
        #expect(record.string("outcome") == "rejected-by-gateway")
        #expect(record.int("bytes_up") == 211)
        #expect(record.int("bytes_down") == 10, "the gateway's own RJ counts as sent to the client")
        #expect(record.string("calling_ae") == "MODALITY1")
        #expect(record.string("called_ae") == "MACH7")
        #expect(record.isNull("server"))
        let reject = try #require(record.object("reject"))
        #expect(reject.int("result") == 1)
        #expect(reject.int("source") == 1)
        #expect(reject.int("reason") == 3)
        #expect(reject.string("description") == "calling AE title not recognized")
        #expect(record.string("error") == "calling AE title not on calling_ae_allow")
        #expect(harness.startLines.isEmpty, "nothing was forwarded")
    }

    @Test func refusedCalledAEGetsRJ117() throws {
        let settings = DICOMServiceSettings(
            policy: AEPolicy(calledAllow: AEAllowList([AEAllowRule(pattern: try AEPattern("ARCHIVE"))]))
        )
        let rejection = try #require(try InspectorHarness(settings: settings).peek(try self.request()).rejection)
        #expect(rejection.bytes == Wire.reject(1, 1, 7))
    }

    /// Every kind of bad first bytes, the exact answer, whether it waits for the client's close, and the outcome.
    struct BadInput: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var answer: [UInt8]
        var outcome: String
        var error: String
        var testDescription: String { self.name }
    }

    static let badInputs: [BadInput] = {
        let rq = (try? Fixture.pdu("echoscu-storescp.client").bytes) ?? []
        var version = rq
        version[7] = 0x02  // protocol version 0x0002: bit 0 clear
        var overrun = rq
        overrun[76] = 0x01  // application context item length 0x0115: past the end of the PDU
        return [
            BadInput(
                name: "garbage",
                bytes: Array("GET / HTTP/1.1\r\n".utf8),
                answer: Wire.abort(reason: 1),
                outcome: "protocol-error",
                error: "unrecognized PDU type 0x47 at offset 0"
            ),
            BadInput(
                name: "A-RELEASE-RQ first",
                bytes: [0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0],
                answer: Wire.abort(reason: 2),
                outcome: "protocol-error",
                error: "unexpected A-RELEASE-RQ (type 0x05) at offset 0"
            ),
            BadInput(
                name: "P-DATA-TF first",
                bytes: [0x04, 0, 0, 0, 0, 6, 0, 0, 0, 2, 1, 3],
                answer: Wire.abort(reason: 2),
                outcome: "protocol-error",
                error: "unexpected P-DATA-TF (type 0x04) at offset 0"
            ),
            BadInput(
                name: "length over max_pdu_peek",
                bytes: [0x01, 0, 0x7F, 0xFF, 0xFF, 0xFF],
                answer: Wire.abort(reason: 6),
                outcome: "protocol-error",
                error: "A-ASSOCIATE-RQ length 2147483647 at offset 2 exceeds the limit of 65530"
            ),
            BadInput(
                name: "wrong protocol version",
                bytes: version,
                answer: Wire.reject(1, 2, 2),
                outcome: "protocol-error",
                error: "protocol version 0x0002 at offset 6 is not supported (bit 0 clear)"
            ),
            BadInput(
                name: "item overruns its parent",
                bytes: overrun,
                answer: Wire.abort(reason: 6),
                outcome: "protocol-error",
                error: "item 0x10 at offset 74 ends at 355, past its parent's end at 211"
            ),
            BadInput(
                name: "RQ length below the fixed part",
                bytes: [0x01, 0, 0, 0, 0, 10],
                answer: Wire.abort(reason: 6),
                outcome: "protocol-error",
                error: "A-ASSOCIATE-RQ length 10 at offset 2 is invalid for this PDU type"
            ),
        ]
    }()

    @Test(arguments: badInputs)
    func badFirstBytesAreAnsweredAsPS38Prescribes(input: BadInput) async throws {
        let harness = try InspectorHarness()
        let rejection = try #require(harness.peek(ByteBuffer(bytes: input.bytes)).rejection)
        #expect(rejection.bytes == input.answer)
        #expect(rejection.waitForClientClose, "after the gateway's A-ABORT/RJ the requestor closes (ARTIM)")
        let record = try #require(try await harness.finish(bytesUp: 0, end: rejection.reason))
        #expect(record.string("outcome") == input.outcome)
        #expect(record.string("error") == input.error)
        #expect(record.isNull("server"))
    }

    @Test func aTooLongLengthIsRefusedFromTheHeaderAlone() throws {
        let harness = try InspectorHarness(settings: DICOMServiceSettings(maxPDUPeek: 4096))
        let header: [UInt8] = [0x01, 0, 0, 0, 0x10, 0x00]  // 4096 + 6 > 4096
        var verdict: InspectionVerdict = .needMore
        for (index, byte) in header.enumerated() {
            verdict = harness.peek(ByteBuffer(bytes: [byte]))
            if index < 5 {
                guard case .needMore = verdict else {
                    Issue.record("decided after \(index + 1) bytes")
                    return
                }
            }
        }
        #expect(verdict.rejection?.bytes == Wire.abort(reason: 6))
    }

    @Test func abortAsFirstPDUIsNotAnsweredWithAnAbort() async throws {
        let harness = try InspectorHarness()
        let rejection = try #require(harness.peek(ByteBuffer(bytes: Wire.abort(source: 0, reason: 0))).rejection)
        #expect(rejection.answer == nil, "A-ABORT in Sta2 (AA-2): close without answering")
        let record = try #require(try await harness.finish(bytesUp: 0, end: rejection.reason))
        #expect(record.string("outcome") == "aborted-by-client")
    }

    @Test func artimExpiryClosesWithoutAnAbortAndRecordsATimeout() async throws {
        let harness = try InspectorHarness()
        #expect(harness.peek(ByteBuffer(bytes: try self.request().bytes.prefix(3))).rejection == nil)
        let rejection = harness.inspector.peekFailed(.timeout)
        #expect(rejection.answer == nil, "ARTIM expiry in Sta2 is AA-2: close the transport, send nothing")
        // The core counts forwarded bytes only; the record adds what was held.
        let record = try #require(try await harness.finish(bytesUp: 0, end: rejection.reason))
        #expect(record.string("outcome") == "timeout")
        #expect(record.string("error") == "no complete A-ASSOCIATE-RQ within peek_timeout (ARTIM); 3 bytes received")
        #expect(record.int("bytes_up") == 3)
    }

    @Test func truncatedRequestThenCloseIsAProtocolError() async throws {
        let harness = try InspectorHarness()
        _ = harness.peek(ByteBuffer(bytes: try self.request().bytes.prefix(100)))
        let rejection = harness.inspector.peekFailed(.clientClosed)
        #expect(rejection.answer == nil, "transport closed in Sta2 (AA-5): nothing to answer")
        let record = try #require(try await harness.finish(bytesUp: 0, end: rejection.reason))
        #expect(record.string("outcome") == "protocol-error")
        #expect(record.string("error") == "connection closed after 100 bytes of an incomplete A-ASSOCIATE-RQ")
    }

    @Test func aConnectionThatSentNothingIsNotAnAssociation() async throws {
        let harness = try InspectorHarness()
        let rejection = harness.inspector.peekFailed(.clientClosed)
        #expect(rejection.answer == nil)
        #expect(try await harness.finish(end: rejection.reason) == nil)
    }

    @Test(arguments: [
        (UnavailableReason.noServer, [UInt8](Wire.reject(2, 3, 1))),
        (.connectFailed("all 2 tried servers failed"), Wire.reject(2, 3, 1)),
        (.maxConnections, Wire.reject(2, 3, 2)),
        (.perClientLimit, Wire.reject(2, 3, 2)),
    ])
    func unavailableIsATransientRejection(reason: UnavailableReason, answer: [UInt8]) async throws {
        let harness = try InspectorHarness()
        _ = harness.peek(try self.request())
        let rejection = harness.inspector.unavailable(reason)
        #expect(rejection.bytes == answer)
        #expect(rejection.waitForClientClose)
        let record = try #require(try await harness.finish(end: rejection.reason))
        #expect(record.string("outcome") == "rejected-by-gateway")
        #expect(record.string("calling_ae") == "MODALITY1")
        #expect(record.string("error") == reason.description)
    }

    // MARK: observing a forwarded association

    @Test func aWholeEchoSessionFromCapturedBytes() async throws {
        let harness = try InspectorHarness()
        let client = try Fixture.bytes("echoscu-storescp.client")
        let server = try Fixture.bytes("echoscu-storescp.server")
        let rq = try self.request()
        _ = try #require(harness.peek(rq).routing)
        harness.forward()
        #expect(harness.startLines.count == 1)
        // The rest of the session PDU by PDU in conversation order, each in odd chunks.
        let up = pduSlices(client)
        let down = pduSlices(server)
        #expect(up.count == 3 && down.count == 3)
        for (index, answer) in down.enumerated() {
            for chunk in chunks(of: answer, sizes: [7, 100, 3]) { harness.inspector.downstream(chunk) }
            if index + 1 < up.count {
                for chunk in chunks(of: up[index + 1], sizes: [1, 50]) { harness.inspector.upstream(chunk) }
            }
        }

        let record = try #require(
            try await harness.finish(bytesUp: client.readableBytes, bytesDown: server.readableBytes)
        )
        #expect(record.string("event") == "dicom.association")
        #expect(record.string("time") == "2025-11-25T19:46:40.123Z")
        #expect(record.string("service") == "DICOM")
        #expect(record.string("client") == "10.1.2.7:40123")
        #expect(record.object("server")?.string("label") == "DICOM1")
        #expect(record.object("server")?.string("address") == "192.0.2.10:11112")
        #expect(record.string("calling_ae") == "MODALITY1")
        #expect(record.string("called_ae") == "MACH7")
        let contexts = record.objects("contexts")
        #expect(contexts.count == 1)
        #expect(contexts.first?.int("id") == 1)
        #expect(contexts.first?.string("uid") == "1.2.840.10008.1.1")
        #expect(contexts.first?.string("name") == "Verification SOP Class")
        #expect(contexts.first?.bool("accepted") == true)
        #expect(record.int("accepted_contexts") == 1)
        #expect(record.string("implementation_class_uid") == "1.2.276.0.7230010.3.0.3.6.7")
        #expect(record.string("implementation_version") == "OFFIS_DCMTK_367")
        #expect(record.int("max_pdu") == 16384)
        #expect(record.string("outcome") == "released")
        #expect(record.isNull("reject"))
        #expect(!record.has("abort"))
        #expect(record.int("bytes_up") == 301)
        #expect(record.int("bytes_down") == 290)
        #expect(record.int("pdata_pdus") == 2)
        #expect(record.int("pdata_pdus_up") == 1)
        #expect(record.int("pdata_pdus_down") == 1)
        #expect(record.int("duration_ms") == 1234)
        #expect(record.string("end") == "closed by both sides")
    }

    @Test func recordKeysComeInTheDocumentedOrder() async throws {
        let harness = try InspectorHarness()
        _ = harness.peek(try self.request())
        harness.forward()
        harness.inspector.downstream(try Fixture.bytes("echoscu-storescp.server"))
        _ = harness.inspector.finished(
            ConnectionSummary(
                service: "DICOM",
                client: "-",
                server: nil,
                bytesUp: 1,
                bytesDown: 2,
                duration: .zero,
                endReason: "x",
                refused: false
            )
        )
        let line = try #require(harness.audit.recent(limit: 1, event: AssociationRecord.event).first)
        let keys = [
            "time", "event", "service", "client", "server", "calling_ae", "called_ae", "contexts",
            "implementation_class_uid", "implementation_version", "max_pdu", "accepted_contexts", "outcome", "reject",
            "bytes_up", "bytes_down", "pdata_pdus", "pdata_pdus_up", "pdata_pdus_down", "duration_ms", "end",
        ]
        var position = line.startIndex
        for key in keys {
            let range = try #require(
                line.range(of: "\"\(key)\":", range: position..<line.endIndex),
                "\(key) out of order"
            )
            position = range.upperBound
        }
        await harness.audit.shutdown()
    }

    @Test func rejectionByTheServerFromCapturedBytes() async throws {
        let harness = try InspectorHarness()
        _ = harness.peek(try Fixture.pdu("echoscu-rejected-pynetdicom.client"))
        harness.forward()
        harness.inspector.downstream(try Fixture.bytes("echoscu-rejected-pynetdicom.server"))
        // The requestor has nothing to abort: the association never existed.
        #expect(harness.inspector.closing(.serverFailed("server went away")).toClient == nil)
        let record = try #require(try await harness.finish())
        #expect(record.string("outcome") == "rejected-by-server")
        #expect(record.string("calling_ae") == "INTRUDER")
        #expect(record.object("reject")?.int("reason") == 3)
        #expect(record.isNull("accepted_contexts"))
    }

    @Test func twentyFourContextsWithNamesAndResults() async throws {
        let harness = try InspectorHarness()
        _ = harness.peek(try Fixture.pdu("pynetdicom-identity-storescp.client"))
        harness.forward()
        harness.inspector.downstream(try Fixture.bytes("pynetdicom-identity-storescp.server"))
        let record = try #require(try await harness.finish())
        let contexts = record.objects("contexts")
        #expect(contexts.count == 24)
        #expect(record.int("accepted_contexts") == 21)
        #expect(
            contexts.filter { $0.bool("accepted") == false }.map { $0.string("name") ?? "?" } == [
                "Modality Worklist Information Model - FIND", "Study Root Query/Retrieve Information Model - FIND",
                "Storage Commitment Push Model SOP Class",
            ]
        )
        #expect(contexts.allSatisfy { $0.string("name") != nil })
        // User identity: type and user name, never the passcode.
        #expect(record.object("user_identity")?.int("type") == 2)
        #expect(record.object("user_identity")?.string("username") == "demo-user")
        let line = try #require(harness.audit.recent(limit: 1, event: AssociationRecord.event).first)
        #expect(!line.contains("NOT-A-REAL-PASSCODE"))
    }

    @Test(arguments: [(AssociationSide.client, "aborted-by-client"), (.server, "aborted-by-server")])
    func abortsAreAttributedToTheirSender(side: AssociationSide, outcome: String) async throws {
        let harness = try InspectorHarness()
        _ = harness.peek(try self.request())
        harness.forward()
        harness.inspector.downstream(try Fixture.pdu("echoscu-storescp.server"))
        let abort = ByteBuffer(bytes: Wire.abort(source: side == .client ? 0 : 2, reason: 0))
        if side == .client { harness.inspector.upstream(abort) } else { harness.inspector.downstream(abort) }
        #expect(harness.inspector.closing(.clientFailed("x")).toServer == nil, "the association is over already")
        let record = try #require(try await harness.finish())
        #expect(record.string("outcome") == outcome)
        #expect(record.object("abort")?.string("by") == side.rawValue)
        #expect(record.object("abort")?.int("source") == (side == .client ? 0 : 2))
    }

    @Test func aProtocolErrorMidAssociationIsRecordedButNotActedOn() async throws {
        let harness = try InspectorHarness()
        _ = harness.peek(try self.request())
        harness.forward()
        harness.inspector.downstream(try Fixture.pdu("echoscu-storescp.server"))
        harness.inspector.upstream(ByteBuffer(bytes: [0x09, 0, 0, 0, 0, 4]))
        let record = try #require(try await harness.finish())
        #expect(record.string("outcome") == "protocol-error")
        #expect(record.string("error") == "unrecognized PDU type 0x09 at offset 0 (stream offset 211)")
    }

    // MARK: the gateway's last words

    private func establishedHarness() throws -> InspectorHarness {
        let harness = try InspectorHarness()
        _ = harness.peek(try self.request())
        harness.forward()
        harness.inspector.downstream(try Fixture.pdu("echoscu-storescp.server"))
        return harness
    }

    @Test func serverFailureAbortsTheClient() async throws {
        let harness = try self.establishedHarness()
        let words = harness.inspector.closing(.serverFailed("server went away"))
        #expect(words.toClient?.bytes == Wire.abort(reason: 0))
        #expect(words.toServer == nil)
        let record = try #require(try await harness.finish(bytesDown: 200, end: "server went away"))
        #expect(record.string("outcome") == "aborted-by-server")
        #expect(record.int("bytes_down") == 210, "relayed bytes plus the gateway's A-ABORT")
        #expect(record.object("abort")?.string("by") == "gateway")
        #expect(record.string("end") == "server went away")
    }

    @Test func vanishedClientAbortsTheServer() async throws {
        let harness = try self.establishedHarness()
        let words = harness.inspector.closing(.clientFailed("client went away"))
        #expect(words.toServer?.bytes == Wire.abort(reason: 0))
        #expect(words.toClient == nil)
        let record = try #require(try await harness.finish(end: "client went away"))
        #expect(record.string("outcome") == "aborted-by-client")
    }

    @Test(arguments: [CloseReason.idleTimeout, .shutdown])
    func idleTimeoutAndShutdownAbortBothSides(reason: CloseReason) async throws {
        let harness = try self.establishedHarness()
        let words = harness.inspector.closing(reason)
        #expect(words.toClient?.bytes == Wire.abort(reason: 0))
        #expect(words.toServer?.bytes == Wire.abort(reason: 0))
        let record = try #require(try await harness.finish(end: reason.description))
        #expect(record.string("outcome") == (reason == .idleTimeout ? "timeout" : "aborted-by-server"))
    }

    @Test func aFINMidAssociationEndsItButAFINAfterTheReleaseIsPassedOn() throws {
        let harness = try self.establishedHarness()
        #expect(harness.inspector.halfClosed(by: .server) == .terminate)
        #expect(harness.inspector.halfClosed(by: .client) == .terminate)
        harness.inspector.upstream(ByteBuffer(bytes: [0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0]))
        #expect(harness.inspector.halfClosed(by: .client) == .propagate, "a release is under way")
        harness.inspector.downstream(ByteBuffer(bytes: [0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0]))
        #expect(harness.inspector.halfClosed(by: .server) == .propagate)

        let rejected = try InspectorHarness()
        _ = rejected.peek(try Fixture.pdu("echoscu-rejected-pynetdicom.client"))
        rejected.forward()
        rejected.inspector.downstream(try Fixture.bytes("echoscu-rejected-pynetdicom.server"))
        #expect(rejected.inspector.halfClosed(by: .server) == .propagate, "no association after an RJ")
    }

    @Test func nothingToAbortAfterARelease() throws {
        let harness = try self.establishedHarness()
        harness.inspector.upstream(ByteBuffer(bytes: [0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0]))
        harness.inspector.downstream(ByteBuffer(bytes: [0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0]))
        let words = harness.inspector.closing(.idleTimeout)
        #expect(words.toClient == nil)
        #expect(words.toServer == nil)
    }

    @Test func transportClosedWithoutReleaseIsBlamedOnWhoseTurnItWas() async throws {
        // The server answered last (the AC): the client closed without releasing.
        let clientClosed = try self.establishedHarness()
        #expect(try await clientClosed.finish()?.string("outcome") == "aborted-by-client")
        // The client spoke last (a request): the server closed instead of answering.
        let serverClosed = try self.establishedHarness()
        serverClosed.inspector.upstream(
            ByteBuffer(bytes: Array(try Fixture.bytes("echoscu-storescp.client").bytes[211..<291]))
        )
        let record = try #require(try await serverClosed.finish())
        #expect(record.string("outcome") == "aborted-by-server")
        #expect(record.string("error") == "transport closed without A-RELEASE")
    }

    @Test func hostileAETitlesCannotForgeALine() async throws {
        var rq = try self.request().bytes
        let evil = Array("A\"}\n{\"x\\".utf8)  // quote, brace, newline, backslash
        rq.replaceSubrange(26..<(26 + evil.count), with: evil)
        let harness = try InspectorHarness()
        _ = harness.peek(ByteBuffer(bytes: rq))
        harness.forward()
        _ = harness.inspector.finished(
            ConnectionSummary(
                service: "DICOM",
                client: "-",
                server: nil,
                bytesUp: 1,
                bytesDown: 0,
                duration: .zero,
                endReason: "x",
                refused: false
            )
        )
        let line = try #require(harness.audit.recent(limit: 1, event: AssociationRecord.event).first)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["calling_ae"] as? String == "A\"}\\x0A{\"x\\x5C1")
        #expect((object["warnings"] as? [String])?.first == "calling AE title has forbidden byte 0x0A at offset 3")
        await harness.audit.shutdown()
    }
}

/// The PDUs of a captured stream, each as its own buffer.
func pduSlices(_ stream: ByteBuffer) -> [ByteBuffer] {
    var rest = stream
    var slices: [ByteBuffer] = []
    while let length = rest.getInteger(at: rest.readerIndex + 2, as: UInt32.self),
        let pdu = rest.readSlice(length: 6 + Int(length))
    {
        slices.append(pdu)
    }
    return slices
}
