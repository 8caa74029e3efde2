import NIOCore

/// Joins the command fragments of one DIMSE message, which may arrive in several PDVs spread
/// over several P-DATA-TF PDUs (PS3.8 Annex E), and decodes the command set when the last
/// fragment arrives. A single-fragment command (the usual case) is decoded without copying.
public struct CommandSetReassembler: Sendable {
    /// Largest command set accepted, in bytes.
    public let maxLength: Int

    private var buffer = ByteBuffer()
    private var contextID: UInt8?

    /// Creates a reassembler.
    /// - Parameter maxLength: cap on the joined command set (real ones are under 1 KiB).
    public init(maxLength: Int = 16384) {
        self.maxLength = maxLength
    }

    /// Whether fragments of an unfinished command set are held.
    public var isInProgress: Bool { self.contextID != nil }

    /// Feeds one command PDV.
    /// - Returns: the decoded command when `pdv` is the last fragment, else `nil`.
    /// - Throws: ``DICOMParseError/unexpectedPDV(contextID:isCommand:)`` for a data-set PDV or
    ///   a context switch mid-command, ``DICOMParseError/commandSetTooLarge(limit:)``, or a
    ///   decoding error from ``DIMSECommand/decode(_:)``.
    public mutating func append(_ pdv: PresentationDataValue) throws(DICOMParseError) -> DIMSECommand? {
        guard pdv.isCommand, self.contextID == nil || self.contextID == pdv.presentationContextID else {
            throw .unexpectedPDV(contextID: pdv.presentationContextID, isCommand: pdv.isCommand)
        }
        guard self.buffer.readableBytes + pdv.fragment.readableBytes <= self.maxLength else {
            throw .commandSetTooLarge(limit: self.maxLength)
        }
        if pdv.isLastFragment && self.contextID == nil {
            return try DIMSECommand.decode(pdv.fragment)
        }
        self.buffer.writeImmutableBuffer(pdv.fragment)
        guard pdv.isLastFragment else {
            self.contextID = pdv.presentationContextID
            return nil
        }
        defer {
            self.buffer.clear()
            self.contextID = nil
        }
        return try DIMSECommand.decode(self.buffer)
    }
}
