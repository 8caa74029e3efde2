public import NIOCore

/// One PDV item of a P-DATA-TF (PS3.8 §9.3.5, Annex E): a fragment of a DIMSE command or data
/// set on one presentation context. The fragment is a view into the received buffer, not a copy.
/// Its description names context, kind and size only: data set bytes may be patient data.
public struct PresentationDataValue: Sendable, Hashable, CustomStringConvertible {
    /// Bytes of a PDV item before the fragment: `uint32 item-length`, context ID, control header.
    public static let headerSize = 6

    /// Presentation context ID.
    public var presentationContextID: UInt8
    /// Message control header: bit 0 command (1) / data set (0), bit 1 last fragment.
    public var messageControlHeader: UInt8
    /// The fragment bytes (dataset bytes are not decoded here).
    public var fragment: ByteBuffer

    /// Creates a PDV.
    public init(presentationContextID: UInt8, isCommand: Bool, isLastFragment: Bool, fragment: ByteBuffer) {
        self.presentationContextID = presentationContextID
        self.messageControlHeader = (isCommand ? 0x01 : 0x00) | (isLastFragment ? 0x02 : 0x00)
        self.fragment = fragment
    }

    /// Creates a PDV with a raw message control header (reserved bits are kept, not tested).
    public init(presentationContextID: UInt8, messageControlHeader: UInt8, fragment: ByteBuffer) {
        self.presentationContextID = presentationContextID
        self.messageControlHeader = messageControlHeader
        self.fragment = fragment
    }

    /// Whether the fragment belongs to a command set (else a data set).
    public var isCommand: Bool { self.messageControlHeader & 0x01 != 0 }

    /// Whether this is the last fragment of its command set or data set.
    public var isLastFragment: Bool { self.messageControlHeader & 0x02 != 0 }

    /// The PDV item-length field: context ID + control header + fragment.
    public var itemLength: Int { 2 + self.fragment.readableBytes }

    /// E.g. `PDV context 1 command last 68 bytes`; never the fragment's content.
    public var description: String {
        let kind = self.isCommand ? "command" : "data set"
        let last = self.isLastFragment ? " last" : ""
        return "PDV context \(self.presentationContextID) \(kind)\(last) \(self.fragment.readableBytes) bytes"
    }
}
