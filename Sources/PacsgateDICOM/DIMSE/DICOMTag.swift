/// A data element tag (group, element), as in PS3.5 §7.1.
public struct DICOMTag: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The group number.
    public var group: UInt16
    /// The element number.
    public var element: UInt16

    /// Creates a tag.
    public init(_ group: UInt16, _ element: UInt16) {
        self.group = group
        self.element = element
    }

    /// Orders tags as data sets must be encoded: by group, then element.
    public static func < (lhs: DICOMTag, rhs: DICOMTag) -> Bool {
        (lhs.group, lhs.element) < (rhs.group, rhs.element)
    }

    /// The usual `(gggg,eeee)` spelling in upper-case hex.
    public var description: String {
        "(\(hexWord(self.group)),\(hexWord(self.element)))"
    }
}

/// Four upper-case hex digits, zero padded.
func hexWord(_ value: UInt16) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: 4 - digits.count) + digits
}

/// Two upper-case hex digits, zero padded, with a `0x` prefix.
func hexByte(_ value: UInt8) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return (digits.count == 1 ? "0x0" : "0x") + digits
}
