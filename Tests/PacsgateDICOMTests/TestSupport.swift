import Foundation
import NIOCore
import PacsgateDICOM
import Testing

/// Captured fixtures (see Fixtures/capture/capture.py).
enum Fixture {
    /// The bytes of `Fixtures/<name>.bin`.
    static func bytes(_ name: String) throws -> ByteBuffer {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: "bin", subdirectory: "Fixtures"),
            "missing fixture \(name).bin"
        )
        return ByteBuffer(bytes: try Data(contentsOf: url))
    }

    /// The complete PDU starting at `offset` of a captured stream.
    static func pdu(_ name: String, at offset: Int = 0) throws -> ByteBuffer {
        let stream = try bytes(name)
        let length = try #require(stream.getInteger(at: offset + 2, as: UInt32.self))
        return try #require(stream.getSlice(at: offset, length: 6 + Int(length)))
    }
}

/// Feeds `bytes` to a streaming parser one byte at a time, as a socket trickling them would.
/// Expects `nil` until the value is complete and returns it with the number of bytes fed.
func parseOneByteAtATime<Value>(
    _ bytes: ByteBuffer,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ parse: (inout ByteBuffer) throws -> Value?
) throws -> (value: Value, bytesFed: Int) {
    var received = ByteBuffer()
    for (index, byte) in bytes.readableBytesView.enumerated() {
        received.writeInteger(byte)
        let readerIndexBefore = received.readerIndex
        if let value = try parse(&received) {
            return (value, index + 1)
        }
        #expect(received.readerIndex == readerIndexBefore, "nil must not consume", sourceLocation: sourceLocation)
    }
    Issue.record("no value after \(bytes.readableBytes) bytes", sourceLocation: sourceLocation)
    throw IncompleteInput()
}

/// Splits `bytes` into chunks of the given sizes, cycling through them.
func chunks(of bytes: ByteBuffer, sizes: [Int]) -> [ByteBuffer] {
    var remaining = bytes
    var result: [ByteBuffer] = []
    var index = 0
    while remaining.readableBytes > 0 {
        let size = min(sizes[index % sizes.count], remaining.readableBytes)
        result.append(remaining.readSlice(length: size)!)
        index += 1
    }
    return result
}

extension ByteBuffer {
    /// A buffer from a hex string that may contain spaces (test vectors as written in the docs).
    init(hex: String) {
        self = try! ByteBuffer(plainHexEncodedBytes: hex.filter { !$0.isWhitespace })
    }

    /// Encodes a value with an `encode(into:)` method.
    static func encoding(_ encode: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(&buffer)
        return buffer
    }

    /// Overwrites one byte (for corrupting fixtures).
    func patching(_ value: UInt8, at index: Int) -> ByteBuffer {
        var copy = self
        copy.setInteger(value, at: self.readerIndex + index)
        return copy
    }

    /// Overwrites a big-endian UInt16 (item lengths).
    func patching(_ value: UInt16, at index: Int) -> ByteBuffer {
        var copy = self
        copy.setInteger(value, at: self.readerIndex + index)
        return copy
    }

    /// Overwrites a big-endian UInt32 (PDU lengths).
    func patching(_ value: UInt32, at index: Int) -> ByteBuffer {
        var copy = self
        copy.setInteger(value, at: self.readerIndex + index)
        return copy
    }
}

/// Builds raw A-ASSOCIATE-RQ/-AC PDUs from hand-written items, for malformed inputs.
enum RawPDU {
    /// An item: type, reserved, 16-bit length, body.
    static func item(_ type: UInt8, _ body: [UInt8]) -> [UInt8] {
        [type, 0, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }

    /// An item whose body is ASCII text.
    static func item(_ type: UInt8, _ text: String) -> [UInt8] {
        item(type, Array(text.utf8))
    }

    static let applicationContext = item(0x10, "1.2.840.10008.3.1.1.1")
    static let userInformation = item(0x50, item(0x51, [0, 0, 0x40, 0]) + item(0x52, "1.2.3.4"))

    /// A proposed context with `id`, Verification and Implicit VR LE.
    static func proposal(id: UInt8 = 1) -> [UInt8] {
        item(0x20, [id, 0, 0, 0] + item(0x30, "1.2.840.10008.1.1") + item(0x40, "1.2.840.10008.1.2"))
    }

    /// A PDU of `type` (0x01 or 0x02) with the fixed part and `items`.
    static func associate(type: UInt8 = 0x01, version: UInt16 = 1, items: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeMultipleIntegers(type, UInt8(0), UInt32(68 + items.count), version, UInt16(0))
        buffer.writeString("MACH7           ")
        buffer.writeString("MODALITY1       ")
        buffer.writeRepeatingByte(0, count: 32)
        buffer.writeBytes(items)
        return buffer
    }
}

/// Thrown by ``parseOneByteAtATime(_:sourceLocation:_:)`` when no value ever completes.
struct IncompleteInput: Error {}

/// Every PDU in `bytes`, which must end on a PDU boundary.
func allPDUs(_ bytes: ByteBuffer, sourceLocation: SourceLocation = #_sourceLocation) throws -> [PDU] {
    var input = bytes
    var pdus: [PDU] = []
    while let pdu = try PDU.parse(&input, maxLength: .max) {
        pdus.append(pdu)
    }
    #expect(input.readableBytes == 0, "trailing partial PDU", sourceLocation: sourceLocation)
    return pdus
}

/// The PDVs of a P-DATA-TF PDU, or none for other PDUs.
func values(_ pdu: PDU) -> [PresentationDataValue] {
    if case .dataTransfer(let data) = pdu { return Array(data) }
    return []
}

/// A P-DATA-TF carrying one complete DIMSE command.
func commandPDU(_ command: DIMSECommand, context: UInt8 = 1) -> ByteBuffer {
    let commandSet = ByteBuffer.encoding(command.encode(into:))
    let pdv = PresentationDataValue(
        presentationContextID: context,
        isCommand: true,
        isLastFragment: true,
        fragment: commandSet
    )
    return ByteBuffer.encoding(PDataTransfer([pdv]).encode(into:))
}
