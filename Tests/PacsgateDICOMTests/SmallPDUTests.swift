import NIOCore
import PacsgateDICOM
import Testing

/// A-ASSOCIATE-RJ, A-ABORT, A-RELEASE-RQ/-RP.
@Suite struct SmallPDUTests {
    @Test func rejectFromPynetdicom() throws {
        var stream = try Fixture.bytes("echoscu-rejected-pynetdicom.server")
        let pdu = try PDU.parse(&stream, maxLength: 65536)
        #expect(pdu == .associateReject(.callingAETitleNotRecognized))
        #expect(stream.readableBytes == 0)
        guard case .associateReject(let reject) = pdu else { return }
        #expect(reject.result == .permanent)
        #expect(reject.source == .serviceUser)
        #expect(reject.reason == 3)
        #expect(reject.description == "result 1 source 1 reason 3 (calling AE title not recognized)")
    }

    @Test func rejectFromPynetdicomOneByteAtATime() throws {
        let stream = try Fixture.bytes("echoscu-rejected-pynetdicom.server")
        let (pdu, fed) = try parseOneByteAtATime(stream) { try PDU.parse(&$0, maxLength: 65536) }
        #expect(pdu == .associateReject(.callingAETitleNotRecognized))
        #expect(fed == 10)
    }

    @Test(arguments: [
        (AssociateReject.callingAETitleNotRecognized, "03 00 00000004 00 01 01 03"),
        (.calledAETitleNotRecognized, "03 00 00000004 00 01 01 07"),
        (.applicationContextNotSupported, "03 00 00000004 00 01 01 02"),
        (.protocolVersionNotSupported, "03 00 00000004 00 01 02 02"),
        (.temporaryCongestion, "03 00 00000004 00 02 03 01"),
        (.localLimitExceeded, "03 00 00000004 00 02 03 02"),
    ])
    func rejectVectors(reject: AssociateReject, hex: String) throws {
        let bytes = ByteBuffer.encoding(reject.encode(into:))
        #expect(bytes == ByteBuffer(hex: hex))
        var input = bytes
        #expect(try PDU.parse(&input, maxLength: 0) == .associateReject(reject))
    }

    @Test func rejectDescriptions() {
        #expect(
            AssociateReject.calledAETitleNotRecognized.description
                == "result 1 source 1 reason 7 (called AE title not recognized)"
        )
        #expect(AssociateReject.temporaryCongestion.description == "result 2 source 3 reason 1 (temporary congestion)")
        #expect(AssociateReject.protocolVersionNotSupported.reasonDescription == "protocol version not supported")
        #expect(
            AssociateReject(result: .transient, source: .serviceProviderACSE, reason: 1).reasonDescription
                == "no reason given"
        )
        #expect(AssociateReject.localLimitExceeded.result.description == "rejected-transient")
        #expect(AssociateReject.localLimitExceeded.source.description == "service-provider (presentation)")
    }

    @Test func rejectKeepsUnknownValues() throws {
        var input = ByteBuffer(hex: "03 00 00000004 ff 09 08 63")
        let pdu = try PDU.parse(&input, maxLength: 0)
        let reject = AssociateReject(result: .init(rawValue: 9), source: .init(rawValue: 8), reason: 0x63)
        #expect(pdu == .associateReject(reject))
        #expect(reject.description == "result 9 source 8 reason 99 (reserved reason)")
        #expect(reject.result.description == "unknown result 9")
        #expect(reject.source.description == "unknown source 8")
    }

    @Test func abortVector() throws {
        let abort = AssociationAbort(source: .serviceProvider, reason: .invalidPDUParameterValue)
        let bytes = ByteBuffer.encoding(abort.encode(into:))
        #expect(bytes == ByteBuffer(hex: "07 00 00000004 00 00 02 06"))
        let (parsed, fed) = try parseOneByteAtATime(bytes) { try PDU.parse(&$0, maxLength: 0) }
        #expect(parsed == .abort(abort))
        #expect(fed == 10)
        #expect(abort.description == "source 2 (service-provider) reason 6 (invalid PDU parameter value)")
    }

    @Test func abortReservedBytesAreNotTested() throws {
        var input = ByteBuffer(hex: "07 55 00000004 aa bb 00 00")
        #expect(
            try PDU.parse(&input, maxLength: 0) == .abort(AssociationAbort(source: .serviceUser, reason: .notSpecified))
        )
    }

    @Test func abortNames() {
        let reasons: [AssociationAbort.Reason] = [
            .notSpecified, .unrecognizedPDU, .unexpectedPDU, .unrecognizedPDUParameter, .unexpectedPDUParameter,
            .invalidPDUParameterValue, .init(rawValue: 3),
        ]
        #expect(
            reasons.map(\.description) == [
                "reason not specified", "unrecognized PDU", "unexpected PDU", "unrecognized PDU parameter",
                "unexpected PDU parameter", "invalid PDU parameter value", "reserved reason 3",
            ]
        )
        #expect(AssociationAbort.Source(rawValue: 1).description == "reserved source 1")
        #expect(AssociationAbort.Source.serviceUser.description == "service-user")
    }

    @Test func releaseVectors() throws {
        let request = ByteBuffer.encoding(PDU.releaseRequest.encode(into:))
        let response = ByteBuffer.encoding(PDU.releaseResponse.encode(into:))
        #expect(request == ByteBuffer(hex: "05 00 00000004 00000000"))
        #expect(response == ByteBuffer(hex: "06 00 00000004 00000000"))
        #expect(try parseOneByteAtATime(request) { try PDU.parse(&$0, maxLength: 0) }.value == .releaseRequest)
        #expect(try parseOneByteAtATime(response) { try PDU.parse(&$0, maxLength: 0) }.value == .releaseResponse)
    }

    @Test(arguments: [
        ("03 00 00000005 00 01 01 03 00", PDUType.associateReject, UInt32(5)),
        ("03 00 00000003 00 01 01", .associateReject, 3),
        ("07 00 00000000", .abort, 0),
        ("07 00 ffffffff", .abort, 0xFFFF_FFFF),
        ("05 00 00000008 00000000 00000000", .releaseRequest, 8),
        ("06 00 00000002 0000", .releaseResponse, 2),
    ])
    func wrongLengthFailsFromTheHeader(hex: String, type: PDUType, length: UInt32) {
        var input = ByteBuffer(hex: hex).getSlice(at: 0, length: 6)!
        #expect(throws: DICOMParseError.invalidPDULength(type, length: length, offset: 2)) {
            try PDU.parse(&input, maxLength: 65536)
        }
        #expect(input.readerIndex == 0)
    }

    @Test func truncatedReturnsNil() throws {
        var input = ByteBuffer(hex: "07 00 00000004 00 00 02")
        #expect(try PDU.parse(&input, maxLength: 0) == nil)
        #expect(input.readableBytes == 9)
    }
}
