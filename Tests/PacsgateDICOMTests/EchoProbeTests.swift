import NIOCore
import PacsgateDICOM
import Testing

@Suite struct EchoProbeTests {
    static let releaseRequest = ByteBuffer(hex: "05 00 00000004 00000000")
    static let releaseResponse = ByteBuffer(hex: "06 00 00000004 00000000")

    private func startedProbe() throws -> (EchoProbe, AssociateRequest) {
        var probe = EchoProbe(
            configuration: .init(callingAETitle: try AETitle("GW-HEALTH"), calledAETitle: try AETitle("MACH7"))
        )
        var bytes = probe.start()
        let request = try #require(try AssociateRequest.parse(&bytes, maxLength: 65536))
        return (probe, request)
    }

    private func acceptBytes(
        for request: AssociateRequest,
        maximumLength: UInt32 = 16384,
        result: PresentationContextResult.Result = .acceptance,
        id: UInt8 = 1
    ) -> ByteBuffer {
        let accept = AssociateAccept(answering: request, userInformation: UserInformation(maximumLength: maximumLength))
        {
            PresentationContextResult(
                id: id,
                result: result,
                transferSyntax: result == .acceptance ? $0.transferSyntaxes[0] : nil
            )
        }
        return ByteBuffer.encoding(accept.encode(into:))
    }

    private func response(status: DIMSEStatus = .success, respondingTo id: UInt16 = 1) -> ByteBuffer {
        var request = DIMSECommand.echoRequest(messageID: id)
        request.messageID = id
        return commandPDU(.echoResponse(to: request, status: status))
    }

    @Test func startSendsAVerificationRequest() throws {
        let (probe, request) = try self.startedProbe()
        #expect(probe.phase == .awaitingAccept)
        #expect(request.callingAETitle.title == "GW-HEALTH")
        #expect(request.calledAETitle.title == "MACH7")
        #expect(
            request.presentationContexts == [
                .init(id: 1, abstractSyntax: DICOMUID.verification, transferSyntaxes: [DICOMUID.implicitVRLittleEndian])
            ]
        )
        #expect(
            request.userInformation
                == UserInformation(
                    maximumLength: 16384,
                    implementationClassUID: DICOMUID.pacsgateImplementationClass,
                    implementationVersionName: DICOMUID.pacsgateImplementationVersion
                )
        )
    }

    @Test func healthyAgainstRealStorescpBytesPDUByPDU() throws {
        var (probe, _) = try self.startedProbe()
        let server = try Fixture.bytes("echoscu-storescp.server")
        #expect(probe.receive(server.getSlice(at: 0, length: 190)!) == .send(PDataTransferTests.echoRequestVector))
        #expect(probe.phase == .awaitingEchoResponse)
        #expect(probe.receive(server.getSlice(at: 190, length: 90)!) == .send(Self.releaseRequest))
        #expect(probe.phase == .awaitingReleaseResponse)
        #expect(probe.receive(server.getSlice(at: 280, length: 10)!) == .finish(.healthy, send: nil))
        #expect(probe.receive(Self.releaseResponse) == .wait)
        #expect(probe.connectionClosed() == nil)
    }

    @Test func healthyOneByteAtATime() throws {
        var (probe, _) = try self.startedProbe()
        var actions: [EchoProbe.Action] = []
        for chunk in chunks(of: try Fixture.bytes("echoscu-storescp.server"), sizes: [1]) {
            let action = probe.receive(chunk)
            if action != .wait { actions.append(action) }
        }
        #expect(
            actions == [
                .send(PDataTransferTests.echoRequestVector), .send(Self.releaseRequest), .finish(.healthy, send: nil),
            ]
        )
    }

    @Test func rejectedByRealPynetdicom() throws {
        var (probe, _) = try self.startedProbe()
        let action = probe.receive(try Fixture.bytes("echoscu-rejected-pynetdicom.server"))
        let failure = EchoProbe.Failure.rejected(.callingAETitleNotRecognized)
        #expect(action == .finish(.unhealthy(failure), send: nil))
        #expect(
            failure.description
                == "association rejected: result 1 source 1 reason 3 (calling AE title not recognized)"
        )
    }

    @Test func contextNotAcceptedReleasesThenReports() throws {
        var (probe, request) = try self.startedProbe()
        #expect(
            probe.receive(self.acceptBytes(for: request, result: .abstractSyntaxNotSupported))
                == .send(Self.releaseRequest)
        )
        let failure = EchoProbe.Failure.contextNotAccepted(.abstractSyntaxNotSupported)
        #expect(probe.receive(Self.releaseResponse) == .finish(.unhealthy(failure), send: nil))
        #expect(failure.description == "Verification context not accepted: abstract syntax not supported (result 3)")

        var (other, otherRequest) = try self.startedProbe()
        #expect(other.receive(self.acceptBytes(for: otherRequest, id: 3)) == .send(Self.releaseRequest))
        #expect(other.receive(Self.releaseResponse) == .finish(.unhealthy(.contextNotAccepted(nil)), send: nil))
        #expect(
            EchoProbe.Failure.contextNotAccepted(nil).description == "Verification context missing from A-ASSOCIATE-AC"
        )
    }

    @Test func failureStatusReleasesThenReports() throws {
        var (probe, request) = try self.startedProbe()
        _ = probe.receive(self.acceptBytes(for: request))
        #expect(probe.receive(self.response(status: DIMSEStatus(rawValue: 0x0110))) == .send(Self.releaseRequest))
        let failure = EchoProbe.Failure.echoStatus(DIMSEStatus(rawValue: 0x0110))
        #expect(probe.receive(Self.releaseResponse) == .finish(.unhealthy(failure), send: nil))
        #expect(failure.description == "C-ECHO status 0x0110")
    }

    @Test func responseToAnotherMessage() throws {
        var (probe, request) = try self.startedProbe()
        _ = probe.receive(self.acceptBytes(for: request))
        #expect(probe.receive(self.response(respondingTo: 2)) == .send(Self.releaseRequest))
        let failure = EchoProbe.Failure.unexpectedResponse(.cEchoResponse, messageID: 2)
        #expect(probe.receive(Self.releaseResponse) == .finish(.unhealthy(failure), send: nil))
        #expect(failure.description == "unexpected C-ECHO-RSP for message ID 2 awaiting C-ECHO-RSP")
    }

    @Test func responseSplitOverTwoPDUs() throws {
        var (probe, request) = try self.startedProbe()
        _ = probe.receive(self.acceptBytes(for: request))
        let commandSet = ByteBuffer.encoding(DIMSECommand.echoResponse(to: .echoRequest(messageID: 1)).encode(into:))
        for (range, last) in [(0..<30, false), (30..<commandSet.readableBytes, true)] {
            let fragment = commandSet.getSlice(at: range.lowerBound, length: range.count)!
            let pdv = PresentationDataValue(
                presentationContextID: 1,
                isCommand: true,
                isLastFragment: last,
                fragment: fragment
            )
            let action = probe.receive(ByteBuffer.encoding(PDataTransfer([pdv]).encode(into:)))
            #expect(action == (last ? .send(Self.releaseRequest) : .wait))
        }
        #expect(probe.receive(Self.releaseResponse) == .finish(.healthy, send: nil))
    }

    @Test func smallPeerMaximumLengthFragmentsTheRequest() throws {
        var (probe, request) = try self.startedProbe()
        guard case .send(let bytes) = probe.receive(self.acceptBytes(for: request, maximumLength: 20)) else {
            Issue.record("expected bytes to send")
            return
        }
        let pdus = try allPDUs(bytes)
        #expect(pdus.count == 5)  // 68 command bytes in fragments of at most 14
        var reassembler = CommandSetReassembler()
        var command: DIMSECommand?
        for pdu in pdus {
            guard case .dataTransfer(let data) = pdu else { continue }
            #expect(data.items.readableBytes <= 20)
            for value in data { command = try reassembler.append(value) }
        }
        #expect(command == .echoRequest(messageID: 1))
    }

    @Test func abortedByServer() throws {
        var (probe, request) = try self.startedProbe()
        _ = probe.receive(self.acceptBytes(for: request))
        let abort = AssociationAbort(source: .serviceProvider, reason: .unexpectedPDU)
        #expect(
            probe.receive(ByteBuffer.encoding(abort.encode(into:))) == .finish(.unhealthy(.aborted(abort)), send: nil)
        )
        #expect(
            EchoProbe.Failure.aborted(abort).description
                == "aborted by server: source 2 (service-provider) reason 2 (unexpected PDU)"
        )
    }

    @Test func unexpectedPDUBeforeAccept() throws {
        var (probe, _) = try self.startedProbe()
        let failure = EchoProbe.Failure.unexpectedPDU(.dataTransfer, phase: .awaitingAccept)
        #expect(
            probe.receive(self.response())
                == .finish(.unhealthy(failure), send: ByteBuffer(hex: "07 00 00000004 00 00 02 02"))
        )
        #expect(failure.description == "unexpected PDU type 0x04 (P-DATA-TF) awaiting A-ASSOCIATE-AC")
    }

    @Test func releaseRequestFromServerIsUnexpected() throws {
        var (probe, request) = try self.startedProbe()
        _ = probe.receive(self.acceptBytes(for: request))
        let failure = EchoProbe.Failure.unexpectedPDU(.releaseRequest, phase: .awaitingEchoResponse)
        #expect(
            probe.receive(Self.releaseRequest)
                == .finish(.unhealthy(failure), send: ByteBuffer(hex: "07 00 00000004 00 00 02 02"))
        )
    }

    @Test func protocolErrors() throws {
        let cases: [(ByteBuffer, Bool, DICOMParseError, String)] = [
            (
                ByteBuffer(string: "HTTP/1.1 400"), false, .unrecognizedPDUType(0x48, offset: 0),
                "07 00 00000004 00 00 02 01"
            ),
            (
                ByteBuffer(hex: "02 00 00100000"), false,
                .pduTooLarge(.associateAccept, length: 0x10_0000, limit: 65536, offset: 2),
                "07 00 00000004 00 00 02 06"
            ),
            (
                commandPDU(.echoResponse(to: .echoRequest(messageID: 1)), context: 3), true,
                .unknownPresentationContext(3),
                "07 00 00000004 00 00 02 06"
            ),
            (
                ByteBuffer(hex: "04 00 00000007 00000003 01 02 00"), true,
                .unexpectedPDV(contextID: 1, isCommand: false),
                "07 00 00000004 00 00 02 00"
            ),
        ]
        for (bytes, afterAccept, error, abort) in cases {
            var (probe, request) = try self.startedProbe()
            if afterAccept { _ = probe.receive(self.acceptBytes(for: request)) }
            let phase: EchoProbe.Phase = afterAccept ? .awaitingEchoResponse : .awaitingAccept
            #expect(
                probe.receive(bytes)
                    == .finish(.unhealthy(.protocolError(error, phase: phase)), send: ByteBuffer(hex: abort))
            )
        }
        #expect(
            EchoProbe.Failure.protocolError(.unrecognizedPDUType(0x48, offset: 0), phase: .awaitingAccept).description
                == "protocol error awaiting A-ASSOCIATE-AC: unrecognized PDU type 0x48 at offset 0"
        )
    }

    @Test func connectionClosed() throws {
        var notStarted = EchoProbe(
            configuration: .init(callingAETitle: try AETitle("A"), calledAETitle: try AETitle("B"))
        )
        #expect(notStarted.connectionClosed() == nil)
        #expect(notStarted.receive(Self.releaseResponse) == .wait)

        var (early, _) = try self.startedProbe()
        #expect(early.connectionClosed() == .unhealthy(.connectionClosed(phase: .awaitingAccept)))
        #expect(early.connectionClosed() == nil)
        #expect(
            EchoProbe.Failure.connectionClosed(phase: .awaitingAccept).description
                == "connection closed by server awaiting A-ASSOCIATE-AC"
        )

        var (releasing, request) = try self.startedProbe()
        _ = releasing.receive(self.acceptBytes(for: request))
        _ = releasing.receive(self.response())
        #expect(releasing.connectionClosed() == .healthy)
    }

    @Test func responseWithoutStatus() throws {
        var (probe, request) = try self.startedProbe()
        _ = probe.receive(self.acceptBytes(for: request))
        var response = DIMSECommand.echoResponse(to: .echoRequest(messageID: 1))
        response.status = nil
        let error = DICOMParseError.missingCommandElement(DICOMTag(0x0000, 0x0900))
        #expect(
            probe.receive(commandPDU(response))
                == .finish(
                    .unhealthy(.protocolError(error, phase: .awaitingEchoResponse)),
                    send: ByteBuffer(hex: "07 00 00000004 00 00 02 00")
                )
        )
    }

    @Test func releaseCollisionKeepsTheResult() throws {
        var (probe, request) = try self.startedProbe()
        _ = probe.receive(self.acceptBytes(for: request))
        #expect(probe.receive(self.response()) == .send(Self.releaseRequest))
        #expect(probe.receive(Self.releaseRequest) == .finish(.healthy, send: Self.releaseResponse))
    }

    @Test func timedOut() throws {
        var (probe, request) = try self.startedProbe()
        _ = probe.receive(self.acceptBytes(for: request))
        let failure = EchoProbe.Failure.timedOut(phase: .awaitingEchoResponse)
        #expect(probe.timedOut() == .finish(.unhealthy(failure), send: ByteBuffer(hex: "07 00 00000004 00 00 00 00")))
        #expect(failure.description == "timed out awaiting C-ECHO-RSP")
        #expect(probe.timedOut() == .wait)
        #expect(probe.phase == .notStarted)
    }
}
