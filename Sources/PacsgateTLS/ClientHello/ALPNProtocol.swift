public import NIOCore

/// One ALPN protocol identifier (RFC 7301 §3.1): an opaque, non-empty byte string such as `h2`.
///
/// The bytes are a view into the parsed buffer, not a copy.
public struct ALPNProtocol: Hashable, Sendable, CustomStringConvertible {
    /// The identifier's bytes.
    public let bytes: ByteBuffer

    public init(bytes: ByteBuffer) {
        self.bytes = bytes
    }

    /// An identifier from its usual spelling, e.g. `ALPNProtocol("http/1.1")`.
    public init(_ string: String) {
        self.bytes = ByteBuffer(string: string)
    }

    /// The identifier for a log line: printable ASCII as is; space, `,`, `\`, control and non-ASCII bytes as
    /// `\xNN`, so a list joined with commas stays unambiguous and a peer cannot inject line breaks.
    public var description: String {
        var result = ""
        result.reserveCapacity(self.bytes.readableBytes)
        for byte in self.bytes.readableBytesView {
            switch byte {
            case 0x21...0x7E where byte != UInt8(ascii: ",") && byte != UInt8(ascii: "\\"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "\\x" + hex(byte)
            }
        }
        return result
    }
}
