import NIOCore
import PacsgateDICOM
import Testing

@Suite struct CommandSetReassemblerTests {
    static let echo = ByteBuffer.encoding(DIMSECommand.echoRequest(messageID: 5).encode(into:))

    private func command(_ bytes: ByteBuffer, context: UInt8 = 1, last: Bool) -> PresentationDataValue {
        PresentationDataValue(presentationContextID: context, isCommand: true, isLastFragment: last, fragment: bytes)
    }

    @Test func singleFragment() throws {
        var reassembler = CommandSetReassembler()
        #expect(try reassembler.append(self.command(Self.echo, last: true)) == .echoRequest(messageID: 5))
        #expect(!reassembler.isInProgress)
    }

    @Test func everySplitPoint() throws {
        var reassembler = CommandSetReassembler()
        for split in 0...Self.echo.readableBytes {
            let head = Self.echo.getSlice(at: 0, length: split)!
            let tail = Self.echo.getSlice(at: split, length: Self.echo.readableBytes - split)!
            #expect(try reassembler.append(self.command(head, last: false)) == nil)
            #expect(reassembler.isInProgress)
            #expect(try reassembler.append(self.command(tail, last: true)) == .echoRequest(messageID: 5))
            #expect(!reassembler.isInProgress)
        }
    }

    @Test func oneByteFragments() throws {
        var reassembler = CommandSetReassembler()
        let bytes = Array(Self.echo.readableBytesView)
        for byte in bytes.dropLast() {
            #expect(try reassembler.append(self.command(ByteBuffer(bytes: [byte]), last: false)) == nil)
        }
        #expect(
            try reassembler.append(self.command(ByteBuffer(bytes: [bytes.last!]), last: true))
                == .echoRequest(messageID: 5)
        )
    }

    @Test func dataFragmentIsUnexpected() {
        var reassembler = CommandSetReassembler()
        let data = PresentationDataValue(
            presentationContextID: 3,
            isCommand: false,
            isLastFragment: true,
            fragment: ByteBuffer()
        )
        #expect(throws: DICOMParseError.unexpectedPDV(contextID: 3, isCommand: false)) { try reassembler.append(data) }
    }

    @Test func contextSwitchMidCommand() throws {
        var reassembler = CommandSetReassembler()
        #expect(
            try reassembler.append(self.command(Self.echo.getSlice(at: 0, length: 10)!, context: 1, last: false)) == nil
        )
        #expect(throws: DICOMParseError.unexpectedPDV(contextID: 3, isCommand: true)) {
            try reassembler.append(self.command(ByteBuffer(), context: 3, last: true))
        }
    }

    @Test func tooLarge() throws {
        var reassembler = CommandSetReassembler(maxLength: 64)
        #expect(try reassembler.append(self.command(Self.echo.getSlice(at: 0, length: 60)!, last: false)) == nil)
        #expect(throws: DICOMParseError.commandSetTooLarge(limit: 64)) {
            try reassembler.append(self.command(Self.echo.getSlice(at: 60, length: 8)!, last: true))
        }
        var single = CommandSetReassembler(maxLength: 67)
        #expect(throws: DICOMParseError.commandSetTooLarge(limit: 67)) {
            try single.append(self.command(Self.echo, last: true))
        }
    }

    @Test func malformedJoinedCommandResetsForTheNext() throws {
        var reassembler = CommandSetReassembler()
        #expect(try reassembler.append(self.command(ByteBuffer(hex: "0800"), last: false)) == nil)
        #expect(throws: DICOMParseError.truncatedCommandSet(offset: 0)) {
            try reassembler.append(self.command(ByteBuffer(hex: "00"), last: true))
        }
        #expect(!reassembler.isInProgress)
        #expect(try reassembler.append(self.command(Self.echo, last: true)) == .echoRequest(messageID: 5))
    }
}
