import NIOCore
import PacsgateDICOM
import Testing

@Suite struct DIMSECommandTests {
    /// The command set inside the P-DATA-TF that starts at `offset` of a captured stream.
    private func commandSet(_ fixture: String, at offset: Int) throws -> ByteBuffer {
        var pdu = try Fixture.pdu(fixture, at: offset)
        guard case .dataTransfer(let data) = try PDU.parse(&pdu, maxLength: 65536) else {
            Issue.record("not a P-DATA-TF")
            throw IncompleteInput()
        }
        let value = try #require(Array(data).first)
        #expect(value.isCommand && value.isLastFragment)
        return value.fragment
    }

    @Test func echoRequestEncodes() {
        let bytes = ByteBuffer.encoding(DIMSECommand.echoRequest(messageID: 1).encode(into:))
        #expect(bytes == PDataTransferTests.echoRequestVector.getSlice(at: 12, length: 68))
    }

    @Test func echoResponseMatchesStorescp() throws {
        let fromStorescp = try self.commandSet("echoscu-storescp.server", at: 190)
        let response = try DIMSECommand.decode(fromStorescp)
        #expect(
            response
                == DIMSECommand(
                    commandField: .cEchoResponse,
                    affectedSOPClassUID: DICOMUID.verification,
                    messageIDBeingRespondedTo: 1,
                    status: .success
                )
        )
        let ours = ByteBuffer.encoding(DIMSECommand.echoResponse(to: .echoRequest(messageID: 1)).encode(into:))
        #expect(ours == fromStorescp)
        #expect(ours.getInteger(at: 8, endianness: .little, as: UInt32.self) == 66)
    }

    @Test func storeRequestFromStorescu() throws {
        let request = try DIMSECommand.decode(try self.commandSet("storescu-storescp.client", at: 9615))
        #expect(
            request
                == DIMSECommand(
                    commandField: .cStoreRequest,
                    affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
                    messageID: 1,
                    priority: 0,
                    commandDataSetType: 0x0001,
                    affectedSOPInstanceUID: "1.2.826.0.1.3680043.8.498.10001.1"
                )
        )
        #expect(request.hasDataSet)
    }

    @Test func storeResponseMatchesStorescp() throws {
        let request = try DIMSECommand.decode(try self.commandSet("storescu-storescp.client", at: 9615))
        let fromStorescp = try self.commandSet("storescu-storescp.server", at: 4129)
        #expect(ByteBuffer.encoding(DIMSECommand.storeResponse(to: request).encode(into:)) == fromStorescp)
    }

    @Test func findResponsesMatchWlmscpfs() throws {
        let request = try DIMSECommand.decode(try self.commandSet("findscu-wlmscpfs.client", at: 262))
        #expect(request.commandField == .cFindRequest)
        #expect(request.affectedSOPClassUID == DICOMUID.modalityWorklistFind)
        #expect(request.priority == 0)
        let pending = try self.commandSet("findscu-wlmscpfs.server", at: 192)
        let success = try self.commandSet("findscu-wlmscpfs.server", at: 412)
        #expect(try DIMSECommand.decode(pending).status == .pending)
        #expect(try DIMSECommand.decode(pending).hasDataSet)
        #expect(try DIMSECommand.decode(success).status == .success)
        #expect(ByteBuffer.encoding(DIMSECommand.findResponse(to: request, status: .pending).encode(into:)) == pending)
        #expect(ByteBuffer.encoding(DIMSECommand.findResponse(to: request, status: .success).encode(into:)) == success)
    }

    @Test func decodesByTagNotPosition() throws {
        // No (0000,0000) or (0000,0002), elements out of order, an unknown element in between.
        var bytes = ByteBuffer()
        bytes.writeMultipleIntegers(UInt16(0), UInt16(0x0900), UInt32(2), UInt16(0x0110), endianness: .little)
        bytes.writeMultipleIntegers(UInt16(0), UInt16(0x0800), UInt32(2), UInt16(0x0101), endianness: .little)
        bytes.writeMultipleIntegers(UInt16(0), UInt16(0x0902), UInt32(4), endianness: .little)
        bytes.writeString("oops")
        bytes.writeMultipleIntegers(UInt16(0), UInt16(0x0120), UInt32(2), UInt16(7), endianness: .little)
        bytes.writeMultipleIntegers(UInt16(0), UInt16(0x0100), UInt32(2), UInt16(0x8030), endianness: .little)
        #expect(
            try DIMSECommand.decode(bytes)
                == DIMSECommand(
                    commandField: .cEchoResponse,
                    messageIDBeingRespondedTo: 7,
                    status: DIMSEStatus(rawValue: 0x0110)
                )
        )
    }

    @Test func respectsTheReaderIndex() throws {
        var bytes = ByteBuffer(bytes: [0xAA, 0xBB])
        DIMSECommand.echoRequest(messageID: 9).encode(into: &bytes)
        bytes.moveReaderIndex(forwardBy: 2)
        #expect(try DIMSECommand.decode(bytes) == .echoRequest(messageID: 9))
    }

    @Test func roundTripAllFields() throws {
        let command = DIMSECommand(
            commandField: .cStoreRequest,
            affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.4",
            messageID: 0xFFFF,
            priority: 2,
            commandDataSetType: 0x0000,
            affectedSOPInstanceUID: "1.2.3.44"
        )
        #expect(try DIMSECommand.decode(ByteBuffer.encoding(command.encode(into:))) == command)
    }

    @Test func names() {
        #expect(DIMSECommand.CommandField.cEchoRequest.description == "C-ECHO-RQ")
        #expect(DIMSECommand.CommandField.cFindResponse.description == "C-FIND-RSP")
        #expect(DIMSECommand.CommandField(rawValue: 0x0140).description == "command 0x0140")
        #expect(DIMSECommand.CommandField.cMoveRequest.response == DIMSECommand.CommandField(rawValue: 0x8021))
        #expect(DIMSECommand.CommandField.cStoreResponse.isResponse)
        #expect(DIMSEStatus(rawValue: 0x0110).description == "0x0110")
        #expect(DIMSEStatus.pending.description == "0xFF00")
    }

    // MARK: Bad input

    @Test(arguments: [
        ("0800 0000 04000000 00000000", DICOMParseError.invalidCommandElement(DICOMTag(0x0008, 0x0000), offset: 0)),
        ("0000 0001 04000000 30000000", .invalidCommandElement(DICOMTag(0x0000, 0x0100), offset: 0)),
        ("0000 0001 01000000 30", .invalidCommandElement(DICOMTag(0x0000, 0x0100), offset: 0)),
        ("0000 0000 02000000 3800", .invalidCommandElement(DICOMTag(0x0000, 0x0000), offset: 0)),
        ("0000 0200 12000000 312e32", .invalidCommandElement(DICOMTag(0x0000, 0x0002), offset: 0)),
        ("0000 0200 ffffffff 312e32", .invalidCommandElement(DICOMTag(0x0000, 0x0002), offset: 0)),
        ("0000 0001 02000000 3000 0000 0008", .truncatedCommandSet(offset: 10)),
        ("0000 0001 02000000 3000", .missingCommandElement(DICOMTag(0x0000, 0x0800))),
        ("0000 0008 02000000 0101", .missingCommandElement(DICOMTag(0x0000, 0x0100))),
        ("", .missingCommandElement(DICOMTag(0x0000, 0x0100))),
    ])
    func malformed(hex: String, error: DICOMParseError) {
        #expect(throws: error) { try DIMSECommand.decode(ByteBuffer(hex: hex)) }
    }

    /// Cut inside an element: typed error. Cut between elements: a shorter command set, valid
    /// once (0000,0100) and (0000,0800) are in.
    @Test func everyTruncationOfARealCommand() throws {
        let whole = try self.commandSet("storescu-storescp.client", at: 9615)
        var boundaries: Set<Int> = [0]
        var offset = 0
        while let length = whole.getInteger(at: offset + 4, endianness: .little, as: UInt32.self) {
            offset += 8 + Int(length)
            boundaries.insert(offset)
        }
        #expect(offset == whole.readableBytes)
        for length in 0..<whole.readableBytes {
            let cut = whole.getSlice(at: 0, length: length)!
            if boundaries.contains(length) {
                if length < 86 {  // (0000,0800), the last mandatory element, ends at 86
                    #expect(throws: DICOMParseError.self) { try DIMSECommand.decode(cut) }
                } else {
                    #expect(try DIMSECommand.decode(cut).affectedSOPInstanceUID == nil)
                }
            } else {
                let element = boundaries.filter { $0 < length }.max()!
                let error =
                    length - element < 8
                    ? DICOMParseError.truncatedCommandSet(offset: element)
                    : .invalidCommandElement(
                        DICOMTag(0, whole.getInteger(at: element + 2, endianness: .little, as: UInt16.self)!),
                        offset: element
                    )
                #expect(throws: error) { try DIMSECommand.decode(cut) }
            }
        }
    }
}
