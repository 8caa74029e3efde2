import NIOCore
import PacsgateDICOM
import Testing

@Suite struct AssociateRequestTests {
    static let dcmtkImplementationUID = "1.2.276.0.7230010.3.0.3.6.7"
    static let passcode = "NOT-A-REAL-PASSCODE-7f3a"

    // MARK: Real requests

    @Test func echoscu() throws {
        var stream = try Fixture.bytes("echoscu-storescp.client")
        let request = try #require(try AssociateRequest.parse(&stream, maxLength: 65536))
        #expect(stream.readerIndex == 211)
        #expect(request.protocolVersion == 1)
        #expect(request.calledAETitle.title == "MACH7")
        #expect(request.calledAETitle.rawBytes == Array("MACH7           ".utf8))
        #expect(request.callingAETitle == (try AETitle("MODALITY1")))
        #expect(request.applicationContextName == DICOMUID.applicationContext)
        #expect(
            request.presentationContexts == [
                PresentationContextProposal(
                    id: 1,
                    abstractSyntax: DICOMUID.verification,
                    transferSyntaxes: [DICOMUID.implicitVRLittleEndian]
                )
            ]
        )
        #expect(
            request.userInformation
                == UserInformation(
                    maximumLength: 16384,
                    implementationClassUID: Self.dcmtkImplementationUID,
                    implementationVersionName: "OFFIS_DCMTK_367"
                )
        )
    }

    @Test(arguments: [
        "echoscu-storescp.client", "storescu-storescp.client", "findscu-wlmscpfs.client",
        "pynetdicom-identity-storescp.client", "echoscu-rejected-pynetdicom.client",
    ])
    func oneByteAtATimeEqualsWhole(fixture: String) throws {
        let stream = try Fixture.bytes(fixture)
        var whole = stream
        let expected = try #require(try AssociateRequest.parse(&whole, maxLength: 65536))
        let (request, fed) = try parseOneByteAtATime(stream) { try AssociateRequest.parse(&$0, maxLength: 65536) }
        #expect(request == expected)
        #expect(fed == whole.readerIndex)
    }

    /// dcmtk puts 0xFF in the reserved byte after each proposed context ID; the encoder sends
    /// reserved bytes as zero (PS3.8 §9.3.1), everything else must match.
    @Test(arguments: ["echoscu-storescp.client", "storescu-storescp.client", "findscu-wlmscpfs.client"])
    func reencodingDcmtkRequestsIsByteExact(fixture: String) throws {
        var original = try Fixture.pdu(fixture)
        var input = original
        let request = try #require(try AssociateRequest.parse(&input, maxLength: 65536))
        var offset = 74
        while let type = original.getInteger(at: offset, as: UInt8.self),
            let length = original.getInteger(at: offset + 2, as: UInt16.self)
        {
            if type == 0x20 {
                #expect(original.getInteger(at: offset + 6, as: UInt8.self) == 0xFF)
                original.setInteger(UInt8(0), at: offset + 6)
            }
            offset += 4 + Int(length)
        }
        #expect(ByteBuffer.encoding(request.encode(into:)) == original)
    }

    @Test func storescuProposes128Contexts() throws {
        var stream = try Fixture.bytes("storescu-storescp.client")
        let request = try #require(try AssociateRequest.parse(&stream, maxLength: 65536))
        #expect(stream.readerIndex == 9615)
        #expect(request.presentationContexts.count == 128)
        #expect(request.presentationContexts.map(\.id) == Array(stride(from: UInt8(1), through: 255, by: 2)))
        #expect(request.presentationContexts[0].abstractSyntax == "1.2.840.10008.5.1.4.1.1.9.1.3")
        #expect(request.presentationContexts.contains { $0.abstractSyntax == "1.2.840.10008.5.1.4.1.1.2" })
    }

    @Test func storescuRequestExceedsASmallLimitFromItsHeader() throws {
        var header = try Fixture.bytes("storescu-storescp.client").getSlice(at: 0, length: 6)!
        #expect(throws: DICOMParseError.pduTooLarge(.associateRequest, length: 9609, limit: 8192, offset: 2)) {
            try AssociateRequest.parse(&header, maxLength: 8192)
        }
    }

    @Test func findscuWorklist() throws {
        var stream = try Fixture.bytes("findscu-wlmscpfs.client")
        let request = try #require(try AssociateRequest.parse(&stream, maxLength: 65536))
        #expect(
            request.presentationContexts == [
                PresentationContextProposal(
                    id: 1,
                    abstractSyntax: DICOMUID.modalityWorklistFind,
                    transferSyntaxes: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2"]
                )
            ]
        )
    }

    @Test func pynetdicomWithIdentityRolesAndExtendedNegotiation() throws {
        var stream = try Fixture.bytes("pynetdicom-identity-storescp.client")
        let request = try #require(try AssociateRequest.parse(&stream, maxLength: 65536))
        #expect(request.callingAETitle.title == "PYMODALITY")
        #expect(request.presentationContexts.count == 24)
        #expect(request.presentationContexts[0].transferSyntaxes.count == 4)
        let info = request.userInformation
        #expect(info.maximumLength == 16382)
        #expect(info.implementationClassUID == "1.2.826.0.1.3680043.9.3811.3.0.4")
        #expect(info.implementationVersionName == "PYNETDICOM_304")
        #expect(info.asynchronousOperationsWindow == .init(maximumInvoked: 3, maximumPerformed: 2))
        #expect(info.roleSelections == [.init(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", scuRole: true, scpRole: true)])
        #expect(
            info.userIdentity
                == UserIdentity(
                    type: .usernameAndPasscode,
                    positiveResponseRequested: true,
                    username: "demo-user",
                    primaryFieldLength: 9,
                    hasSecondaryField: true
                )
        )
        #expect(
            info.extendedNegotiations == [
                .init(kind: .sopClass, sopClassUID: "1.2.840.10008.5.1.4.1.1.4"),
                .init(kind: .sopClassCommon, sopClassUID: "1.2.840.10008.5.1.4.1.1.88.22"),
            ]
        )
        #expect(!info.hasUserIdentityResponse)
        #expect(
            info.userIdentity?.description
                == "type 2 (username and passcode), username demo-user, secondary field present"
        )
    }

    @Test func passcodeNeverAppearsInAnyDescription() throws {
        let stream = try Fixture.bytes("pynetdicom-identity-storescp.client")
        #expect(String(decoding: stream.readableBytesView, as: UTF8.self).contains(Self.passcode))  // it is on the wire
        var input = stream
        let request = try #require(try AssociateRequest.parse(&input, maxLength: 65536))
        var dumped = ""
        dump(request, to: &dumped)
        let renderings = [
            String(describing: request), String(reflecting: request), dumped,
            String(describing: request.userInformation), String(describing: request.userInformation.userIdentity),
        ]
        for text in renderings {
            #expect(text.contains("demo-user"))  // proves the renderings include the identity
            #expect(!text.contains(Self.passcode))
        }
    }

    @Test func tokenIdentityKeepsNoPrimaryValue() throws {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"
        let identity = RawPDU.item(0x58, [5, 0, 0, UInt8(jwt.utf8.count)] + Array(jwt.utf8) + [0, 0])
        var input = RawPDU.associate(
            items: RawPDU.applicationContext + RawPDU.proposal() + RawPDU.item(0x50, identity)
        )
        let request = try #require(try AssociateRequest.parse(&input, maxLength: 65536))
        #expect(
            request.userInformation.userIdentity
                == UserIdentity(
                    type: .jwt,
                    positiveResponseRequested: false,
                    username: nil,
                    primaryFieldLength: jwt.utf8.count,
                    hasSecondaryField: false
                )
        )
        var dumped = ""
        dump(request, to: &dumped)
        #expect(!dumped.contains("eyJ"))
    }

    // MARK: Encoder

    /// The verified 215-byte layout of protocols.md §1.3.
    @Test func encoderMatchesVerifiedLayout() throws {
        let request = AssociateRequest(
            calledAETitle: try AETitle("ANY-SCP"),
            callingAETitle: try AETitle("ECHOSCU"),
            presentationContexts: [
                .init(id: 1, abstractSyntax: DICOMUID.verification, transferSyntaxes: [DICOMUID.implicitVRLittleEndian])
            ],
            userInformation: UserInformation(
                maximumLength: 16384,
                implementationClassUID: "1.2.826.0.1.3680043.9.3811.3.0.4",
                implementationVersionName: "PYNETDICOM_304"
            )
        )
        let bytes = ByteBuffer.encoding(request.encode(into:))
        #expect(bytes.readableBytes == 215)
        #expect(bytes.getSlice(at: 0, length: 8) == ByteBuffer(hex: "01 00 000000d1 0001"))
        #expect(bytes.getString(at: 10, length: 16) == "ANY-SCP         ")
        #expect(bytes.getString(at: 26, length: 16) == "ECHOSCU         ")
        #expect(bytes.getBytes(at: 42, length: 32) == [UInt8](repeating: 0, count: 32))
        #expect(bytes.getSlice(at: 74, length: 4) == ByteBuffer(hex: "10 00 0015"))
        #expect(bytes.getSlice(at: 99, length: 5) == ByteBuffer(hex: "20 00 002e 01"))
        #expect(bytes.getSlice(at: 107, length: 4) == ByteBuffer(hex: "30 00 0011"))
        #expect(bytes.getSlice(at: 128, length: 4) == ByteBuffer(hex: "40 00 0011"))
        #expect(bytes.getSlice(at: 149, length: 4) == ByteBuffer(hex: "50 00 003e"))
        #expect(bytes.getSlice(at: 153, length: 8) == ByteBuffer(hex: "51 00 0004 00004000"))
        #expect(bytes.getSlice(at: 161, length: 4) == ByteBuffer(hex: "52 00 0020"))
        #expect(bytes.getSlice(at: 197, length: 4) == ByteBuffer(hex: "55 00 000e"))
    }

    @Test func roundTrip() throws {
        let request = AssociateRequest(
            calledAETitle: try AETitle("MACH7"),
            callingAETitle: try AETitle("GW-HEALTH"),
            presentationContexts: [
                .init(
                    id: 1,
                    abstractSyntax: DICOMUID.verification,
                    transferSyntaxes: [DICOMUID.implicitVRLittleEndian]
                ),
                .init(
                    id: 3,
                    abstractSyntax: "1.2.840.10008.5.1.4.1.1.2",
                    transferSyntaxes: [DICOMUID.explicitVRLittleEndian, DICOMUID.implicitVRLittleEndian]
                ),
                .init(
                    id: 255,
                    abstractSyntax: DICOMUID.modalityWorklistFind,
                    transferSyntaxes: ["1.2.840.10008.1.2.2"]
                ),
            ],
            userInformation: UserInformation(
                maximumLength: 0,
                implementationClassUID: DICOMUID.pacsgateImplementationClass,
                implementationVersionName: DICOMUID.pacsgateImplementationVersion,
                asynchronousOperationsWindow: .init(maximumInvoked: 1, maximumPerformed: 1),
                roleSelections: [.init(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", scuRole: false, scpRole: true)]
            )
        )
        var bytes = ByteBuffer.encoding(request.encode(into:))
        #expect(try AssociateRequest.parse(&bytes, maxLength: 65536) == request)
        #expect(bytes.readableBytes == 0)
    }

    @Test func uidPaddingIsStrippedAndUnknownItemsAreSkipped() throws {
        let items =
            RawPDU.item(0x10, "1.2.840.10008.3.1.1.1\0")
            + RawPDU.item(
                0x20,
                [1, 0, 0, 0] + RawPDU.item(0x30, "1.2.840.10008.1.1\0") + RawPDU.item(0x7F, [1, 2])
                    + RawPDU.item(0x40, "1.2.840.10008.1.2 ")
            )
            + RawPDU.item(0x99, [0xde, 0xad])
            + RawPDU.item(0x50, RawPDU.item(0x5F, [1]) + RawPDU.item(0x51, [0, 0, 0x40, 0]))
        var input = RawPDU.associate(items: items)
        let request = try #require(try AssociateRequest.parse(&input, maxLength: 65536))
        #expect(request.applicationContextName == DICOMUID.applicationContext)
        #expect(
            request.presentationContexts == [
                .init(id: 1, abstractSyntax: DICOMUID.verification, transferSyntaxes: [DICOMUID.implicitVRLittleEndian])
            ]
        )
        #expect(request.userInformation == UserInformation(maximumLength: 16384))
    }

    @Test func nulPaddedAETitlesAreTrimmedAndFlagged() throws {
        var input = RawPDU.associate(items: RawPDU.applicationContext + RawPDU.proposal() + RawPDU.userInformation)
        input.setBytes(Array("MACH7\0\0\0\0\0\0\0\0\0\0\0".utf8), at: 10)
        let request = try #require(try AssociateRequest.parse(&input, maxLength: 65536))
        #expect(request.calledAETitle.title == "MACH7")
        #expect(request.calledAETitle.validation == .nulPadded)
        #expect(request.callingAETitle.validation == .valid)
    }

    // MARK: Bad input

    @Test func firstPDUNotARequest() throws {
        var accept = try Fixture.bytes("echoscu-storescp.server")
        #expect(throws: DICOMParseError.unexpectedPDU(.associateAccept, offset: 0)) {
            try AssociateRequest.parse(&accept, maxLength: 65536)
        }
        #expect(accept.readerIndex == 0)
        var oneByte = ByteBuffer(bytes: [0x04])
        #expect(throws: DICOMParseError.unexpectedPDU(.dataTransfer, offset: 0)) {
            try AssociateRequest.parse(&oneByte, maxLength: 65536)
        }
    }

    @Test func garbageFailsOnItsFirstByte() {
        var http = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: pacs\r\n\r\n")
        #expect(throws: DICOMParseError.unrecognizedPDUType(0x47, offset: 0)) {
            try AssociateRequest.parse(&http, maxLength: 65536)
        }
        var tls = ByteBuffer(hex: "16 03 01 02 00 01")
        #expect(throws: DICOMParseError.unrecognizedPDUType(0x16, offset: 0)) {
            try AssociateRequest.parse(&tls, maxLength: 65536)
        }
    }

    @Test func oversizedFailsBeforeTheBodyArrives() {
        var header = ByteBuffer(hex: "01 00 00010001")
        #expect(throws: DICOMParseError.pduTooLarge(.associateRequest, length: 65537, limit: 65536, offset: 2)) {
            try AssociateRequest.parse(&header, maxLength: 65536)
        }
        var huge = ByteBuffer(hex: "01 00 ffffffff")
        #expect(throws: DICOMParseError.pduTooLarge(.associateRequest, length: 0xFFFF_FFFF, limit: 65536, offset: 2)) {
            try AssociateRequest.parse(&huge, maxLength: 65536)
        }
    }

    @Test func truncatedNeedsMoreBytes() throws {
        let whole = try Fixture.pdu("echoscu-storescp.client")
        for length in [0, 1, 5, 6, 74, 210] {
            var partial = whole.getSlice(at: 0, length: length)!
            #expect(try AssociateRequest.parse(&partial, maxLength: 65536) == nil)
            #expect(partial.readerIndex == 0)
        }
        var declaredLonger = whole.patching(UInt32(206), at: 2)
        #expect(try AssociateRequest.parse(&declaredLonger, maxLength: 65536) == nil)
    }

    @Test func tooShortForTheFixedPart() {
        var input = ByteBuffer(hex: "01 00 00000043")
        input.writeRepeatingByte(0, count: 0x43)
        #expect(throws: DICOMParseError.invalidPDULength(.associateRequest, length: 67, offset: 2)) {
            try AssociateRequest.parse(&input, maxLength: 65536)
        }
    }

    @Test(arguments: [UInt16(0x0000), 0x0002, 0x0100, 0xFFFE])
    func wrongProtocolVersion(version: UInt16) throws {
        var input = try Fixture.pdu("echoscu-storescp.client").patching(version, at: 6)
        #expect(throws: DICOMParseError.unsupportedProtocolVersion(version, offset: 6)) {
            try AssociateRequest.parse(&input, maxLength: 65536)
        }
        #expect(
            DICOMParseError.unsupportedProtocolVersion(version, offset: 6).associateReject
                == .protocolVersionNotSupported
        )
    }

    @Test func otherVersionsWithBitZeroAreAccepted() throws {
        var input = try Fixture.pdu("echoscu-storescp.client").patching(UInt16(0x0003), at: 6)
        #expect(try AssociateRequest.parse(&input, maxLength: 65536)?.protocolVersion == 3)
    }

    /// Offsets in the echoscu request: 0x10 at 74, 0x20 at 99 (ID at 103), 0x30 at 107,
    /// 0x40 at 128, 0x50 at 149 (ends 211), 0x51 at 153, 0x52 at 161, 0x55 at 192.
    @Test(arguments: [
        (76, UInt16(200), DICOMParseError.itemOverrunsParent(itemType: 0x10, offset: 74, end: 278, parentEnd: 211)),
        (101, 200, .itemOverrunsParent(itemType: 0x20, offset: 99, end: 303, parentEnd: 211)),
        (109, 50, .itemOverrunsParent(itemType: 0x30, offset: 107, end: 161, parentEnd: 149)),
        (130, 18, .itemOverrunsParent(itemType: 0x40, offset: 128, end: 150, parentEnd: 149)),
        (151, 59, .itemOverrunsParent(itemType: 0x50, offset: 149, end: 212, parentEnd: 211)),
        (155, 60, .itemOverrunsParent(itemType: 0x51, offset: 153, end: 217, parentEnd: 211)),
        (194, 0xFFFF, .itemOverrunsParent(itemType: 0x55, offset: 192, end: 65731, parentEnd: 211)),
    ])
    func itemOverrunningItsParent(lengthOffset: Int, length: UInt16, error: DICOMParseError) throws {
        var input = try Fixture.pdu("echoscu-storescp.client").patching(length, at: lengthOffset)
        #expect(throws: error) { try AssociateRequest.parse(&input, maxLength: 65536) }
        #expect(input.readerIndex == 0)
    }

    @Test func pduLengthCuttingTheLastItem() throws {
        var input = try Fixture.pdu("echoscu-storescp.client").patching(UInt32(204), at: 2)
        #expect(throws: DICOMParseError.itemOverrunsParent(itemType: 0x50, offset: 149, end: 211, parentEnd: 210)) {
            try AssociateRequest.parse(&input, maxLength: 65536)
        }
    }

    @Test func partialItemHeaderAtTheEnd() {
        var input = RawPDU.associate(
            items: RawPDU.applicationContext + RawPDU.proposal() + RawPDU.userInformation + [0x60, 0x00]
        )
        let end = input.readableBytes
        #expect(
            throws: DICOMParseError.itemOverrunsParent(itemType: 0x60, offset: end - 2, end: end + 2, parentEnd: end)
        ) {
            try AssociateRequest.parse(&input, maxLength: 65536)
        }
    }

    @Test func evenOrDuplicateContextID() throws {
        var even = try Fixture.pdu("echoscu-storescp.client").patching(UInt8(2), at: 103)
        #expect(throws: DICOMParseError.invalidPresentationContextID(2, offset: 103)) {
            try AssociateRequest.parse(&even, maxLength: 65536)
        }
        var zero = try Fixture.pdu("echoscu-storescp.client").patching(UInt8(0), at: 103)
        #expect(throws: DICOMParseError.invalidPresentationContextID(0, offset: 103)) {
            try AssociateRequest.parse(&zero, maxLength: 65536)
        }
        let second = 99 + RawPDU.proposal().count
        var duplicate = RawPDU.associate(
            items: RawPDU.applicationContext + RawPDU.proposal(id: 1) + RawPDU.proposal(id: 1) + RawPDU.userInformation
        )
        #expect(throws: DICOMParseError.duplicatePresentationContextID(1, offset: second + 4)) {
            try AssociateRequest.parse(&duplicate, maxLength: 65536)
        }
    }

    @Test func missingMandatoryItems() {
        let context = RawPDU.proposal()
        let cases: [([UInt8], DICOMParseError)] = [
            (context + RawPDU.userInformation, .missingItem(itemType: 0x10, offset: 0)),
            (RawPDU.applicationContext + RawPDU.userInformation, .missingItem(itemType: 0x20, offset: 0)),
            (RawPDU.applicationContext + context, .missingItem(itemType: 0x50, offset: 0)),
            (
                RawPDU.applicationContext + RawPDU.item(0x20, [1, 0, 0, 0] + RawPDU.item(0x40, "1.2.840.10008.1.2"))
                    + RawPDU.userInformation,
                .missingItem(itemType: 0x30, offset: 99)
            ),
            (
                RawPDU.applicationContext + RawPDU.item(0x20, [1, 0, 0, 0] + RawPDU.item(0x30, "1.2.840.10008.1.1"))
                    + RawPDU.userInformation,
                .missingItem(itemType: 0x40, offset: 99)
            ),
        ]
        for (items, error) in cases {
            var input = RawPDU.associate(items: items)
            #expect(throws: error) { try AssociateRequest.parse(&input, maxLength: 65536) }
        }
    }

    @Test func duplicatedSingleItems() {
        let context = RawPDU.proposal()
        let abstract = RawPDU.item(0x30, "1.2.840.10008.1.1")
        let cases: [([UInt8], DICOMParseError)] = [
            (
                RawPDU.applicationContext + RawPDU.applicationContext + context + RawPDU.userInformation,
                .duplicateItem(itemType: 0x10, offset: 99)
            ),
            (
                RawPDU.applicationContext + context + RawPDU.userInformation + RawPDU.userInformation,
                .duplicateItem(itemType: 0x50, offset: 99 + context.count + RawPDU.userInformation.count)
            ),
            (
                RawPDU.applicationContext + RawPDU.item(0x20, [1, 0, 0, 0] + abstract + abstract)
                    + RawPDU.userInformation,
                .duplicateItem(itemType: 0x30, offset: 99 + 8 + abstract.count)
            ),
            (
                RawPDU.applicationContext + context
                    + RawPDU.item(0x50, RawPDU.item(0x51, [0, 0, 1, 0]) + RawPDU.item(0x51, [0, 0, 1, 0])),
                .duplicateItem(itemType: 0x51, offset: 99 + context.count + 4 + 8)
            ),
        ]
        for (items, error) in cases {
            var input = RawPDU.associate(items: items)
            #expect(throws: error) { try AssociateRequest.parse(&input, maxLength: 65536) }
        }
    }

    @Test func subItemsWithWrongLengths() {
        let prefix = RawPDU.applicationContext + RawPDU.proposal()
        let userInfoBody = 99 + RawPDU.proposal().count + 4
        let uid = Array("1.2.840.10008.5.1.4.1.1.2".utf8)
        let cases: [([UInt8], DICOMParseError)] = [
            ([0x51, 0, 0, 2, 0x40, 0], .invalidItemLength(itemType: 0x51, length: 2, offset: userInfoBody)),
            ([0x53, 0, 0, 2, 0, 1], .invalidItemLength(itemType: 0x53, length: 2, offset: userInfoBody)),
            (
                RawPDU.item(0x54, [0, UInt8(uid.count + 1)] + uid + [1, 1]),
                .invalidItemLength(itemType: 0x54, length: uid.count + 4, offset: userInfoBody)
            ),
            (RawPDU.item(0x54, [0]), .invalidItemLength(itemType: 0x54, length: 1, offset: userInfoBody)),
            (
                RawPDU.item(0x56, [0, 50] + uid),
                .invalidItemLength(itemType: 0x56, length: uid.count + 2, offset: userInfoBody)
            ),
            (
                RawPDU.item(0x58, [2, 0, 0, 9] + Array("demo-user".utf8) + [0, 8] + Array("secret".utf8)),
                .invalidItemLength(itemType: 0x58, length: 4 + 9 + 2 + 6, offset: userInfoBody)
            ),
            (
                RawPDU.item(0x58, [1, 0, 0, 20] + Array("demo-user".utf8)),
                .invalidItemLength(itemType: 0x58, length: 13, offset: userInfoBody)
            ),
            (RawPDU.item(0x58, [1, 0]), .invalidItemLength(itemType: 0x58, length: 2, offset: userInfoBody)),
        ]
        for (subItem, error) in cases {
            var input = RawPDU.associate(items: prefix + RawPDU.item(0x50, subItem))
            #expect(throws: error) { try AssociateRequest.parse(&input, maxLength: 65536) }
        }
    }

    @Test func presentationContextItemTooShort() {
        var input = RawPDU.associate(
            items: RawPDU.applicationContext + RawPDU.item(0x20, [1, 0]) + RawPDU.userInformation
        )
        #expect(throws: DICOMParseError.invalidItemLength(itemType: 0x20, length: 2, offset: 99)) {
            try AssociateRequest.parse(&input, maxLength: 65536)
        }
    }

    @Test func errorsDoNotMoveTheReaderIndex() throws {
        var input = try Fixture.pdu("echoscu-storescp.client").patching(UInt8(2), at: 103)
        _ = try? AssociateRequest.parse(&input, maxLength: 65536)
        #expect(input.readerIndex == 0)
    }
}
