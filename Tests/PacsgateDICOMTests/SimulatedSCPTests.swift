import NIOCore
import PacsgateDICOM
import PacsgateDemo
import Testing

@Suite struct SimulatedSCPTests {
    static let abortUnexpectedPDU = ByteBuffer(hex: "07 00 00000004 00 00 02 02")
    static let abortInvalidValue = ByteBuffer(hex: "07 00 00000004 00 00 02 06")

    private func respond(
        to bytes: ByteBuffer,
        configuration: SimulatedSCP.Configuration = .init()
    )
        -> SimulatedSCP.Output
    {
        var scp = SimulatedSCP(configuration: configuration)
        return scp.receive(bytes)
    }

    private func accept(in pdus: [PDU]) throws -> AssociateAccept {
        guard case .associateAccept(let accept) = pdus.first else {
            Issue.record("first PDU is not an AC: \(String(describing: pdus.first))")
            throw IncompleteInput()
        }
        return accept
    }

    private func request(
        _ contexts: [PresentationContextProposal],
        maximumLength: UInt32 = 16384
    ) throws -> ByteBuffer {
        let request = AssociateRequest(
            calledAETitle: try AETitle("MACH7"),
            callingAETitle: try AETitle("MODALITY1"),
            presentationContexts: contexts,
            userInformation: UserInformation(maximumLength: maximumLength, implementationClassUID: "1.2.3")
        )
        return ByteBuffer.encoding(request.encode(into:))
    }

    private static let verification = PresentationContextProposal(
        id: 1,
        abstractSyntax: DICOMUID.verification,
        transferSyntaxes: [DICOMUID.implicitVRLittleEndian]
    )
    private static let ct = PresentationContextProposal(
        id: 3,
        abstractSyntax: "1.2.840.10008.5.1.4.1.1.2",
        transferSyntaxes: [DICOMUID.explicitVRLittleEndian]
    )
    private static let worklist = PresentationContextProposal(
        id: 5,
        abstractSyntax: DICOMUID.modalityWorklistFind,
        transferSyntaxes: [DICOMUID.implicitVRLittleEndian]
    )

    // MARK: Real clients

    @Test func echoscuSession() throws {
        let output = self.respond(to: try Fixture.bytes("echoscu-storescp.client"))
        #expect(output.closeConnection)
        #expect(output.error == nil)
        let pdus = try allPDUs(output.bytes)
        let accept = try self.accept(in: pdus)
        #expect(accept.calledAETitle.title == "MACH7")
        #expect(accept.callingAETitle.title == "MODALITY1")
        #expect(
            accept.presentationContexts == [
                .init(id: 1, result: .acceptance, transferSyntax: DICOMUID.implicitVRLittleEndian)
            ]
        )
        #expect(
            accept.userInformation
                == UserInformation(
                    maximumLength: 16384,
                    implementationClassUID: DICOMUID.pacsgateImplementationClass,
                    implementationVersionName: DICOMUID.pacsgateImplementationVersion
                )
        )
        // After the AC, the C-ECHO-RSP and A-RELEASE-RP are byte for byte what storescp sent.
        var afterAccept = output.bytes
        afterAccept.moveReaderIndex(forwardBy: 6 + Int(afterAccept.getInteger(at: 2, as: UInt32.self)!))
        let storescp = try Fixture.bytes("echoscu-storescp.server")
        #expect(afterAccept == storescp.getSlice(at: 190, length: 100))
    }

    @Test(arguments: [
        "echoscu-storescp.client", "storescu-storescp.client", "findscu-wlmscpfs.client",
        "pynetdicom-identity-storescp.client",
    ])
    func oneByteAtATimeEqualsWhole(fixture: String) throws {
        let stream = try Fixture.bytes(fixture)
        let whole = self.respond(to: stream)
        var scp = SimulatedSCP()
        var bytes = ByteBuffer()
        let pieces = chunks(of: stream, sizes: [1])
        for (index, piece) in pieces.enumerated() {
            var output = scp.receive(piece)
            #expect(output.closeConnection == (index == pieces.count - 1))
            bytes.writeBuffer(&output.bytes)
        }
        #expect(bytes == whole.bytes)
        #expect(whole.closeConnection)
    }

    @Test func storescuSession() throws {
        var stream = try Fixture.bytes("storescu-storescp.client")
        let request = try #require(try AssociateRequest.parse(&stream, maxLength: 65536))
        let output = self.respond(to: try Fixture.bytes("storescu-storescp.client"))
        #expect(output.closeConnection)
        let pdus = try allPDUs(output.bytes)
        #expect(pdus.count == 3)
        let accept = try self.accept(in: pdus)
        #expect(accept.presentationContexts == request.presentationContexts.map(SimulatedSCP.negotiate))
        #expect(accept.acceptedContextCount == 128)  // all storage, all offering Explicit or Implicit VR LE
        // The C-STORE-RSP and A-RELEASE-RP equal storescp's.
        let storescp = try Fixture.bytes("storescu-storescp.server")
        #expect(pdus[1] == (try allPDUs(storescp.getSlice(at: 4129, length: 140)!)).first)
        #expect(pdus[2] == .releaseResponse)
    }

    @Test func findscuSession() throws {
        let output = self.respond(to: try Fixture.bytes("findscu-wlmscpfs.client"))
        #expect(output.closeConnection)
        let pdus = try allPDUs(output.bytes)
        #expect(pdus.count == 5)
        let accept = try self.accept(in: pdus)
        #expect(
            accept.presentationContexts == [
                .init(id: 1, result: .acceptance, transferSyntax: DICOMUID.explicitVRLittleEndian)
            ]
        )
        let wlmscpfs = try allPDUs(try Fixture.bytes("findscu-wlmscpfs.server"))
        #expect(pdus[1] == wlmscpfs[1])  // pending C-FIND-RSP command, byte for byte
        let item = try #require(values(pdus[2]).first)
        #expect(!item.isCommand && item.isLastFragment)
        #expect(item.fragment == (try Fixture.bytes("worklist-item.explicit")))
        #expect(pdus[3] == wlmscpfs[3])  // final C-FIND-RSP, success
        #expect(pdus[4] == .releaseResponse)
    }

    @Test func pynetdicomSession() throws {
        let output = self.respond(to: try Fixture.bytes("pynetdicom-identity-storescp.client"))
        let pdus = try allPDUs(output.bytes)
        let accept = try self.accept(in: pdus)
        let byID = Dictionary(uniqueKeysWithValues: accept.presentationContexts.map { ($0.id, $0) })
        #expect(byID[1] == .init(id: 1, result: .acceptance, transferSyntax: DICOMUID.implicitVRLittleEndian))
        #expect(byID[9] == .init(id: 9, result: .acceptance, transferSyntax: DICOMUID.explicitVRLittleEndian))
        #expect(byID[43] == .init(id: 43, result: .acceptance, transferSyntax: DICOMUID.implicitVRLittleEndian))
        #expect(byID[45] == .init(id: 45, result: .abstractSyntaxNotSupported, transferSyntax: nil))
        #expect(byID[47] == .init(id: 47, result: .abstractSyntaxNotSupported, transferSyntax: nil))
        #expect(accept.acceptedContextCount == 22)
        let response = try #require(values(pdus[1]).first)
        #expect(try DIMSECommand.decode(response.fragment) == .echoResponse(to: .echoRequest(messageID: 1)))
        #expect(pdus[2] == .releaseResponse)
        #expect(output.closeConnection)
    }

    // MARK: Negotiation

    @Test func negotiation() {
        let cases: [(String, [String], PresentationContextResult.Result, String?)] = [
            (DICOMUID.verification, [DICOMUID.implicitVRLittleEndian], .acceptance, DICOMUID.implicitVRLittleEndian),
            (
                "1.2.840.10008.5.1.4.1.1.4",
                ["1.2.840.10008.1.2.4.50", DICOMUID.explicitVRLittleEndian, DICOMUID.implicitVRLittleEndian],
                .acceptance, DICOMUID.explicitVRLittleEndian
            ),
            (DICOMUID.modalityWorklistFind, ["1.2.840.10008.1.2.2"], .transferSyntaxesNotSupported, nil),
            ("1.2.840.10008.5.1.4.1.2.2.1", [DICOMUID.implicitVRLittleEndian], .abstractSyntaxNotSupported, nil),
            ("1.2.840.10008.5.1.4.1.1", [DICOMUID.implicitVRLittleEndian], .abstractSyntaxNotSupported, nil),
        ]
        for (abstractSyntax, transferSyntaxes, result, chosen) in cases {
            let proposal = PresentationContextProposal(
                id: 7,
                abstractSyntax: abstractSyntax,
                transferSyntaxes: transferSyntaxes
            )
            #expect(SimulatedSCP.negotiate(proposal) == .init(id: 7, result: result, transferSyntax: chosen))
        }
    }

    @Test func worklistOnlyWhereServed() throws {
        #expect(SimulatedSCP.negotiate(Self.worklist, servesWorklist: false).result == .abstractSyntaxNotSupported)
        #expect(SimulatedSCP.negotiate(Self.worklist, servesWorklist: true).result == .acceptance)
        var configuration = SimulatedSCP.Configuration()
        configuration.servesWorklist = false
        let output = self.respond(
            to: try self.request([Self.verification, Self.worklist]),
            configuration: configuration
        )
        let accept = try self.accept(in: try allPDUs(output.bytes))
        #expect(accept.presentationContexts.map(\.result) == [.acceptance, .abstractSyntaxNotSupported])
    }

    // MARK: Streaming and fragmentation

    @Test func twentyMegabyteStoreIsStreamed() throws {
        var scp = SimulatedSCP()
        var output = scp.receive(try self.request([Self.ct]))
        #expect(try allPDUs(output.bytes).count == 1)
        let store = DIMSECommand(
            commandField: .cStoreRequest,
            affectedSOPClassUID: Self.ct.abstractSyntax,
            messageID: 7,
            priority: 0,
            commandDataSetType: 0x0000,
            affectedSOPInstanceUID: "1.2.3.4.5"
        )
        output = scp.receive(commandPDU(store, context: 3))
        #expect(output.bytes.readableBytes == 0)

        let total = 20 * 1024 * 1024
        let fragmentSize = 16384 - 6
        var sent = 0
        let fragment = ByteBuffer(repeating: 0x5A, count: fragmentSize)
        while sent < total {
            let size = min(fragmentSize, total - sent)
            sent += size
            let pdv = PresentationDataValue(
                presentationContextID: 3,
                isCommand: false,
                isLastFragment: sent == total,
                fragment: fragment.getSlice(at: 0, length: size)!
            )
            let pdu = ByteBuffer.encoding(PDataTransfer([pdv]).encode(into:))
            for piece in chunks(of: pdu, sizes: [7000]) {
                output = scp.receive(piece)
                if sent < total { #expect(output.bytes.readableBytes == 0) }
            }
        }
        let response = try #require(try allPDUs(output.bytes).first.flatMap { values($0).first })
        #expect(try DIMSECommand.decode(response.fragment) == .storeResponse(to: store))
        #expect(!output.closeConnection)
        output = scp.receive(ByteBuffer.encoding(PDU.releaseRequest.encode(into:)))
        #expect(try allPDUs(output.bytes) == [.releaseResponse])
        #expect(output.closeConnection)
    }

    @Test func responsesRespectTheClientsMaximumLength() throws {
        var scp = SimulatedSCP()
        _ = scp.receive(try self.request([Self.worklist], maximumLength: 32))
        let find = DIMSECommand(
            commandField: .cFindRequest,
            affectedSOPClassUID: DICOMUID.modalityWorklistFind,
            messageID: 3,
            priority: 0,
            commandDataSetType: 0x0000
        )
        var input = commandPDU(find, context: 5)
        input.writeBytes([0x04, 0, 0, 0, 0, 6, 0, 0, 0, 2, 5, 0x02])  // empty identifier, last fragment
        let output = scp.receive(input)
        var reassembler = CommandSetReassembler()
        var commands: [DIMSECommand] = []
        var dataSet = ByteBuffer()
        for pdu in try allPDUs(output.bytes) {
            guard case .dataTransfer(let data) = pdu else { continue }
            #expect(data.items.readableBytes <= 32)
            for value in data {
                if value.isCommand {
                    if let command = try reassembler.append(value) { commands.append(command) }
                } else {
                    var fragment = value.fragment
                    dataSet.writeBuffer(&fragment)
                }
            }
        }
        #expect(commands == [.findResponse(to: find, status: .pending), .findResponse(to: find, status: .success)])
        #expect(dataSet == (try Fixture.bytes("worklist-item.implicit")))
    }

    // MARK: Other requests

    @Test func unsupportedOperations() throws {
        var scp = SimulatedSCP()
        _ = scp.receive(try self.request([Self.verification, Self.ct]))
        let move = DIMSECommand(commandField: .cMoveRequest, affectedSOPClassUID: Self.ct.abstractSyntax, messageID: 4)
        var output = scp.receive(commandPDU(move, context: 3))
        var response = try #require(try allPDUs(output.bytes).first.flatMap { values($0).first })
        #expect(
            try DIMSECommand.decode(response.fragment)
                == DIMSECommand(
                    commandField: DIMSECommand.CommandField(rawValue: 0x8021),
                    affectedSOPClassUID: Self.ct.abstractSyntax,
                    messageIDBeingRespondedTo: 4,
                    status: .unrecognizedOperation
                )
        )
        output = scp.receive(commandPDU(.echoRequest(messageID: 5), context: 3))
        response = try #require(try allPDUs(output.bytes).first.flatMap { values($0).first })
        #expect(try DIMSECommand.decode(response.fragment).status == .unrecognizedOperation)
        output = scp.receive(
            commandPDU(DIMSECommand(commandField: .cCancelRequest, messageIDBeingRespondedTo: 4), context: 3)
        )
        #expect(output.bytes.readableBytes == 0)
        output = scp.receive(commandPDU(.echoResponse(to: .echoRequest(messageID: 1)), context: 1))
        #expect(output.bytes.readableBytes == 0)
        #expect(!output.closeConnection)
    }

    @Test func clientAbortCloses() throws {
        var scp = SimulatedSCP()
        _ = scp.receive(try self.request([Self.verification]))
        let output = scp.receive(ByteBuffer(hex: "07 00 00000004 00 00 00 00"))
        #expect(output == SimulatedSCP.Output(bytes: ByteBuffer(), closeConnection: true, error: nil))
        #expect(
            scp.receive(ByteBuffer(hex: "05 00 00000004 00000000"))
                == SimulatedSCP.Output(bytes: ByteBuffer(), closeConnection: true, error: nil)
        )
    }

    // MARK: Bad input

    @Test func firstPDUNotARequest() {
        let output = self.respond(to: ByteBuffer(hex: "06 00 00000004 00000000"))
        #expect(
            output
                == SimulatedSCP.Output(
                    bytes: Self.abortUnexpectedPDU,
                    closeConnection: true,
                    error: .unexpectedPDU(.releaseResponse, offset: 0)
                )
        )
    }

    @Test func garbage() {
        let output = self.respond(to: ByteBuffer(string: "\u{16}\u{03}\u{01}"))
        #expect(output.bytes == ByteBuffer(hex: "07 00 00000004 00 00 02 01"))
        #expect(output.error == .unrecognizedPDUType(0x16, offset: 0))
        #expect(output.closeConnection)
    }

    @Test func wrongProtocolVersionIsRejected() throws {
        let output = self.respond(to: try Fixture.pdu("echoscu-storescp.client").patching(UInt16(2), at: 6))
        #expect(
            output
                == SimulatedSCP.Output(
                    bytes: ByteBuffer(hex: "03 00 00000004 00 01 02 02"),
                    closeConnection: true,
                    error: .unsupportedProtocolVersion(2, offset: 6)
                )
        )
    }

    @Test func oversizedRequest() throws {
        let output = self.respond(
            to: try Fixture.bytes("storescu-storescp.client"),
            configuration: .init(maxRequestLength: 4096)
        )
        #expect(
            output
                == SimulatedSCP.Output(
                    bytes: Self.abortInvalidValue,
                    closeConnection: true,
                    error: .pduTooLarge(.associateRequest, length: 9609, limit: 4096, offset: 2)
                )
        )
    }

    @Test func protocolErrorsAfterAccepting() throws {
        let cases: [(ByteBuffer, ByteBuffer, DICOMParseError)] = [
            (
                commandPDU(.echoRequest(messageID: 1), context: 9), Self.abortInvalidValue,
                .unknownPresentationContext(9)
            ),
            (
                ByteBuffer(hex: "04 00 00000007 00000003 01 02 00"), ByteBuffer(hex: "07 00 00000004 00 00 02 00"),
                .unexpectedPDV(contextID: 1, isCommand: false)
            ),
            (
                ByteBuffer(hex: "04 00 00004001"), Self.abortInvalidValue,
                .pduTooLarge(.dataTransfer, length: 16385, limit: 16384, offset: 2)
            ),
            (
                try self.request([Self.verification]), Self.abortUnexpectedPDU,
                .unexpectedPDU(.associateRequest, offset: 0)
            ),
            (
                ByteBuffer(hex: "04 00 00000008 00000004 01 03 0800"), ByteBuffer(hex: "07 00 00000004 00 00 02 00"),
                .truncatedCommandSet(offset: 0)
            ),
        ]
        for (input, abort, error) in cases {
            var scp = SimulatedSCP()
            _ = scp.receive(try self.request([Self.verification]))
            #expect(scp.receive(input) == SimulatedSCP.Output(bytes: abort, closeConnection: true, error: error))
        }
    }

    @Test func commandWhileDataSetPending() throws {
        var scp = SimulatedSCP()
        _ = scp.receive(try self.request([Self.ct]))
        let store = DIMSECommand(
            commandField: .cStoreRequest,
            affectedSOPClassUID: Self.ct.abstractSyntax,
            messageID: 1,
            priority: 0,
            commandDataSetType: 0x0000,
            affectedSOPInstanceUID: "1.2.3"
        )
        _ = scp.receive(commandPDU(store, context: 3))
        let output = scp.receive(commandPDU(store, context: 3))
        #expect(output.error == .unexpectedPDV(contextID: 3, isCommand: true))
        #expect(output.closeConnection)
    }
}
