/// A DIMSE status (0000,0900), PS3.7 Annex C.
public struct DIMSEStatus: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The wire value.
    public var rawValue: UInt16
    /// Creates a status from its wire value.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// 0x0000 success.
    public static let success = DIMSEStatus(rawValue: 0x0000)
    /// 0xFF00 pending (C-FIND: a match follows).
    public static let pending = DIMSEStatus(rawValue: 0xFF00)
    /// 0x0211 unrecognized operation.
    public static let unrecognizedOperation = DIMSEStatus(rawValue: 0x0211)

    /// E.g. `0x0110`.
    public var description: String { "0x\(hexWord(self.rawValue))" }
}
