import NIOCore
import PacsgateDICOM
import Testing

@Suite struct DICOMParseErrorTests {
    @Test(arguments: [
        (DICOMParseError.unrecognizedPDUType(0x09, offset: 0), AssociationAbort.Reason.unrecognizedPDU),
        (.unexpectedPDU(.dataTransfer, offset: 0), .unexpectedPDU),
        (.pduTooLarge(.associateRequest, length: 70000, limit: 65536, offset: 2), .invalidPDUParameterValue),
        (.invalidPDULength(.abort, length: 5, offset: 2), .invalidPDUParameterValue),
        (.unsupportedProtocolVersion(2, offset: 6), .invalidPDUParameterValue),
        (.itemOverrunsParent(itemType: 0x20, offset: 99, end: 300, parentEnd: 211), .invalidPDUParameterValue),
        (.invalidItemLength(itemType: 0x51, length: 2, offset: 153), .invalidPDUParameterValue),
        (.missingItem(itemType: 0x10, offset: 0), .invalidPDUParameterValue),
        (.duplicateItem(itemType: 0x50, offset: 300), .unexpectedPDUParameter),
        (.invalidPresentationContextID(2, offset: 103), .invalidPDUParameterValue),
        (.duplicatePresentationContextID(1, offset: 153), .invalidPDUParameterValue),
        (.invalidPDVLength(1, offset: 6), .invalidPDUParameterValue),
        (.unknownPresentationContext(9), .invalidPDUParameterValue),
        (.unexpectedPDV(contextID: 1, isCommand: false), .notSpecified),
        (.invalidCommandElement(DICOMTag(8, 0), offset: 0), .notSpecified),
        (.truncatedCommandSet(offset: 10), .notSpecified),
        (.missingCommandElement(DICOMTag(0, 0x0100)), .notSpecified),
        (.commandSetTooLarge(limit: 64), .notSpecified),
    ])
    func abortMapping(error: DICOMParseError, reason: AssociationAbort.Reason) {
        #expect(error.abortReason == reason)
        #expect(error.abort == AssociationAbort(source: .serviceProvider, reason: reason))
        #expect(error.associateReject == nil || error == .unsupportedProtocolVersion(2, offset: 6))
    }

    @Test func onlyAWrongVersionIsRejectedInsteadOfAborted() {
        #expect(
            DICOMParseError.unsupportedProtocolVersion(0, offset: 6).associateReject == .protocolVersionNotSupported
        )
        #expect(DICOMParseError.invalidPDULength(.associateRequest, length: 3, offset: 2).associateReject == nil)
    }

    @Test func gatewayAbortForAMalformedRequest() {
        let error = DICOMParseError.itemOverrunsParent(itemType: 0x50, offset: 149, end: 212, parentEnd: 211)
        #expect(ByteBuffer.encoding(error.abort.encode(into:)) == ByteBuffer(hex: "07 00 00000004 00 00 02 06"))
    }

    @Test(arguments: [
        (DICOMParseError.unrecognizedPDUType(0x47, offset: 0), "unrecognized PDU type 0x47 at offset 0"),
        (.unexpectedPDU(.associateAccept, offset: 0), "unexpected A-ASSOCIATE-AC (type 0x02) at offset 0"),
        (
            .pduTooLarge(.associateRequest, length: 70000, limit: 65536, offset: 2),
            "A-ASSOCIATE-RQ length 70000 at offset 2 exceeds the limit of 65536"
        ),
        (.invalidPDULength(.abort, length: 5, offset: 2), "A-ABORT length 5 at offset 2 is invalid for this PDU type"),
        (
            .unsupportedProtocolVersion(2, offset: 6),
            "protocol version 0x0002 at offset 6 is not supported (bit 0 clear)"
        ),
        (
            .itemOverrunsParent(itemType: 0x30, offset: 107, end: 161, parentEnd: 149),
            "item 0x30 at offset 107 ends at 161, past its parent's end at 149"
        ),
        (.invalidItemLength(itemType: 0x51, length: 2, offset: 153), "item 0x51 at offset 153 has invalid length 2"),
        (.missingItem(itemType: 0x40, offset: 99), "mandatory item 0x40 missing from the structure at offset 99"),
        (.duplicateItem(itemType: 0x10, offset: 99), "item 0x10 at offset 99 repeats an item allowed once"),
        (
            .invalidPresentationContextID(2, offset: 103),
            "presentation context ID 2 at offset 103 is not an odd number 1-255"
        ),
        (.duplicatePresentationContextID(1, offset: 153), "presentation context ID 1 at offset 153 is used twice"),
        (.invalidPDVLength(1, offset: 6), "PDV item length 1 at offset 6 is below 2 or overruns the P-DATA-TF"),
        (.unknownPresentationContext(9), "PDV on presentation context 9, which was not accepted"),
        (.unexpectedPDV(contextID: 1, isCommand: false), "unexpected data set fragment on presentation context 1"),
        (
            .invalidCommandElement(DICOMTag(0x0008, 0x0000), offset: 0),
            "command element (0008,0000) at offset 0 is malformed"
        ),
        (.truncatedCommandSet(offset: 10), "command set truncated at offset 10"),
        (.missingCommandElement(DICOMTag(0x0000, 0x0800)), "command set lacks mandatory element (0000,0800)"),
        (.commandSetTooLarge(limit: 64), "command set exceeds the limit of 64 bytes"),
    ])
    func descriptions(error: DICOMParseError, text: String) {
        #expect(error.description == text)
    }

    @Test func tagDescriptionAndOrder() {
        #expect(DICOMTag(0x7FE0, 0x0010).description == "(7FE0,0010)")
        #expect(DICOMTag(0x0008, 0xFFFF) < DICOMTag(0x0010, 0x0000))
        #expect(DICOMTag(0x0010, 0x0010) < DICOMTag(0x0010, 0x0020))
    }
}
