import NIOCore
import PacsgateDICOM
import Testing

@Suite struct AssociateAcceptTests {
    static let dcmtkUserInformation = UserInformation(
        maximumLength: 16384,
        implementationClassUID: "1.2.276.0.7230010.3.0.3.6.7",
        implementationVersionName: "OFFIS_DCMTK_367"
    )

    private func accept(_ fixture: String) throws -> AssociateAccept {
        var stream = try Fixture.bytes(fixture)
        let pdu = try PDU.parse(&stream, maxLength: 65536)
        guard case .associateAccept(let accept) = pdu else {
            Issue.record("expected an A-ASSOCIATE-AC, got \(String(describing: pdu))")
            throw IncompleteInput()
        }
        return accept
    }

    @Test func storescpAcceptsEcho() throws {
        let accept = try self.accept("echoscu-storescp.server")
        #expect(accept.protocolVersion == 1)
        #expect(accept.calledAETitle.title == "MACH7")
        #expect(accept.callingAETitle.title == "MODALITY1")
        #expect(accept.applicationContextName == DICOMUID.applicationContext)
        #expect(
            accept.presentationContexts == [
                PresentationContextResult(id: 1, result: .acceptance, transferSyntax: DICOMUID.implicitVRLittleEndian)
            ]
        )
        #expect(accept.acceptedContextCount == 1)
        #expect(accept.userInformation == Self.dcmtkUserInformation)
    }

    @Test func storescpRejectsNonStorageContextsOfPynetdicom() throws {
        let accept = try self.accept("pynetdicom-identity-storescp.server")
        #expect(accept.presentationContexts.count == 24)
        #expect(accept.acceptedContextCount == 21)
        let rejected = accept.presentationContexts.filter { $0.result != .acceptance }
        #expect(
            rejected
                == [43, 45, 47].map {
                    PresentationContextResult(id: $0, result: .abstractSyntaxNotSupported, transferSyntax: nil)
                }
        )
        #expect(
            accept.presentationContexts.filter { $0.result == .acceptance }.allSatisfy {
                $0.transferSyntax == DICOMUID.explicitVRLittleEndian
            }
        )
        #expect(!accept.userInformation.hasUserIdentityResponse)
    }

    @Test func storescpAcceptsAll128StorescuContexts() throws {
        let accept = try self.accept("storescu-storescp.server")
        #expect(accept.presentationContexts.count == 128)
        #expect(accept.acceptedContextCount == 128)
    }

    @Test func wlmscpfsAcceptsExplicitLittleEndian() throws {
        let accept = try self.accept("findscu-wlmscpfs.server")
        #expect(
            accept.presentationContexts == [
                PresentationContextResult(id: 1, result: .acceptance, transferSyntax: DICOMUID.explicitVRLittleEndian)
            ]
        )
    }

    @Test(arguments: [
        "echoscu-storescp.server", "pynetdicom-identity-storescp.server", "storescu-storescp.server",
        "findscu-wlmscpfs.server",
    ])
    func oneByteAtATimeEqualsWhole(fixture: String) throws {
        let stream = try Fixture.bytes(fixture)
        var whole = stream
        let expected = try #require(try PDU.parse(&whole, maxLength: 65536))
        let (pdu, fed) = try parseOneByteAtATime(stream) { try PDU.parse(&$0, maxLength: 65536) }
        #expect(pdu == expected)
        #expect(fed == whole.readerIndex)
    }

    @Test(arguments: ["echoscu-storescp.server", "findscu-wlmscpfs.server", "storescu-storescp.server"])
    func reencodingDcmtkAcceptsIsByteExact(fixture: String) throws {
        let original = try Fixture.pdu(fixture)
        var input = original
        let pdu = try #require(try PDU.parse(&input, maxLength: 65536))
        #expect(ByteBuffer.encoding(pdu.encode(into:)) == original)
    }

    @Test func answeringARequestRebuildsStorescpsAccept() throws {
        var stream = try Fixture.bytes("echoscu-storescp.client")
        let request = try #require(try AssociateRequest.parse(&stream, maxLength: 65536))
        let accept = AssociateAccept(answering: request, userInformation: Self.dcmtkUserInformation) {
            PresentationContextResult(id: $0.id, result: .acceptance, transferSyntax: $0.transferSyntaxes[0])
        }
        #expect(accept == (try self.accept("echoscu-storescp.server")))
        #expect(ByteBuffer.encoding(accept.encode(into:)) == (try Fixture.pdu("echoscu-storescp.server")))
    }

    @Test func roundTripWithRejectionsAndRoles() throws {
        let accept = AssociateAccept(
            calledAETitle: try AETitle("MACH7"),
            callingAETitle: try AETitle("MODALITY1"),
            presentationContexts: [
                .init(id: 1, result: .acceptance, transferSyntax: DICOMUID.implicitVRLittleEndian),
                .init(id: 3, result: .userRejection, transferSyntax: nil),
                .init(id: 5, result: .providerRejection, transferSyntax: nil),
                .init(id: 7, result: .abstractSyntaxNotSupported, transferSyntax: nil),
                .init(id: 9, result: .transferSyntaxesNotSupported, transferSyntax: nil),
            ],
            userInformation: UserInformation(
                maximumLength: 32768,
                implementationClassUID: DICOMUID.pacsgateImplementationClass,
                roleSelections: [.init(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", scuRole: true, scpRole: false)]
            )
        )
        var bytes = ByteBuffer.encoding(accept.encode(into:))
        #expect(try PDU.parse(&bytes, maxLength: 65536) == .associateAccept(accept))
        #expect(accept.acceptedContextCount == 1)
    }

    @Test func resultNames() {
        let results: [PresentationContextResult.Result] = [
            .acceptance, .userRejection, .providerRejection, .abstractSyntaxNotSupported,
            .transferSyntaxesNotSupported, .init(rawValue: 7),
        ]
        #expect(
            results.map(\.description) == [
                "acceptance", "user rejection", "no reason (provider rejection)", "abstract syntax not supported",
                "transfer syntaxes not supported", "unknown result 7",
            ]
        )
    }

    @Test func userIdentityServerResponseIsOnlyFlagged() throws {
        let token = Array("server-token".utf8)
        let userInformation = RawPDU.item(0x50, RawPDU.item(0x59, [0, UInt8(token.count)] + token))
        var input = RawPDU.associate(
            type: 0x02,
            items: RawPDU.applicationContext + RawPDU.item(0x21, [1, 0, 0, 0] + RawPDU.item(0x40, "1.2.840.10008.1.2"))
                + userInformation
        )
        guard case .associateAccept(let accept) = try PDU.parse(&input, maxLength: 65536) else {
            Issue.record("not an AC")
            return
        }
        #expect(accept.userInformation.hasUserIdentityResponse)
        var dumped = ""
        dump(accept, to: &dumped)
        #expect(!dumped.contains("server-token"))
    }

    // MARK: Bad input

    @Test func acceptedContextWithoutTransferSyntax() {
        var input = RawPDU.associate(
            type: 0x02,
            items: RawPDU.applicationContext + RawPDU.item(0x21, [1, 0, 0, 0]) + RawPDU.userInformation
        )
        #expect(throws: DICOMParseError.missingItem(itemType: 0x40, offset: 99)) {
            try PDU.parse(&input, maxLength: 65536)
        }
    }

    @Test func rejectedContextWithoutTransferSyntaxIsFine() throws {
        var input = RawPDU.associate(
            type: 0x02,
            items: RawPDU.applicationContext + RawPDU.item(0x21, [1, 0, 3, 0]) + RawPDU.userInformation
        )
        guard case .associateAccept(let accept) = try PDU.parse(&input, maxLength: 65536) else {
            Issue.record("not an AC")
            return
        }
        #expect(accept.presentationContexts == [.init(id: 1, result: .abstractSyntaxNotSupported, transferSyntax: nil)])
    }

    @Test func malformedAccepts() {
        let ts = RawPDU.item(0x40, "1.2.840.10008.1.2")
        let good = RawPDU.item(0x21, [1, 0, 0, 0] + ts)
        let cases: [([UInt8], UInt16, DICOMParseError)] = [
            (
                RawPDU.applicationContext + RawPDU.item(0x21, [1, 0, 0]) + RawPDU.userInformation, 1,
                .invalidItemLength(itemType: 0x21, length: 3, offset: 99)
            ),
            (
                RawPDU.applicationContext + RawPDU.item(0x21, [1, 0, 0, 0] + ts + ts) + RawPDU.userInformation, 1,
                .duplicateItem(itemType: 0x40, offset: 99 + 8 + ts.count)
            ),
            (
                RawPDU.applicationContext + RawPDU.item(0x21, [4, 0, 0, 0] + ts) + RawPDU.userInformation, 1,
                .invalidPresentationContextID(4, offset: 103)
            ),
            (
                RawPDU.applicationContext + good + good + RawPDU.userInformation, 1,
                .duplicatePresentationContextID(1, offset: 99 + good.count + 4)
            ),
            (RawPDU.applicationContext + RawPDU.userInformation, 1, .missingItem(itemType: 0x21, offset: 0)),
            (good + RawPDU.userInformation, 1, .missingItem(itemType: 0x10, offset: 0)),
            (RawPDU.applicationContext + good, 1, .missingItem(itemType: 0x50, offset: 0)),
            (
                RawPDU.applicationContext + good + RawPDU.userInformation, 0,
                .unsupportedProtocolVersion(0, offset: 6)
            ),
            (
                RawPDU.applicationContext + [0x21, 0, 0, 10] + Array(good.dropFirst(4)) + RawPDU.userInformation, 1,
                .itemOverrunsParent(itemType: 0x40, offset: 107, end: 128, parentEnd: 113)
            ),
        ]
        for (items, version, error) in cases {
            var input = RawPDU.associate(type: 0x02, version: version, items: items)
            #expect(throws: error) { try PDU.parse(&input, maxLength: 65536) }
        }
    }

    @Test func oversizedAccept() {
        var header = ByteBuffer(hex: "02 00 00100000")
        #expect(throws: DICOMParseError.pduTooLarge(.associateAccept, length: 0x10_0000, limit: 65536, offset: 2)) {
            try PDU.parse(&header, maxLength: 65536)
        }
    }
}
