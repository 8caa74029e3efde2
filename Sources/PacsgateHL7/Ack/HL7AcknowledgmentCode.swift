/// MSA-1 acknowledgment code (HL7 table 0008).
public enum HL7AcknowledgmentCode: String, Sendable, Hashable, CaseIterable {
    /// `AA`: original mode / application acknowledgment — accepted.
    case applicationAccept = "AA"
    /// `AE`: application error — the content is at fault; the sender should fix it, not resend it blindly.
    case applicationError = "AE"
    /// `AR`: application reject — bad MSH-9/11/12 or a receiver-side problem; the sender may resend later.
    case applicationReject = "AR"
    /// `CA`: enhanced mode accept acknowledgment — committed.
    case commitAccept = "CA"
    /// `CE`: enhanced mode accept acknowledgment — commit error.
    case commitError = "CE"
    /// `CR`: enhanced mode accept acknowledgment — commit reject.
    case commitReject = "CR"

    /// `true` for AA and CA.
    public var isPositive: Bool { self == .applicationAccept || self == .commitAccept }

    /// Parses the exact two-letter code (no allocation: this runs for every acknowledgment).
    init?<Bytes: Collection<UInt8>>(ascii bytes: Bytes) {
        guard bytes.count == 2, let first = bytes.first, let second = bytes.dropFirst().first else { return nil }
        switch (first, second) {
        case (UInt8(ascii: "A"), UInt8(ascii: "A")): self = .applicationAccept
        case (UInt8(ascii: "A"), UInt8(ascii: "E")): self = .applicationError
        case (UInt8(ascii: "A"), UInt8(ascii: "R")): self = .applicationReject
        case (UInt8(ascii: "C"), UInt8(ascii: "A")): self = .commitAccept
        case (UInt8(ascii: "C"), UInt8(ascii: "E")): self = .commitError
        case (UInt8(ascii: "C"), UInt8(ascii: "R")): self = .commitReject
        default: return nil
        }
    }
}
