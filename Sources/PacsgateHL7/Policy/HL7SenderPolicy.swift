public import PacsgateAuditRecords
public import PacsgateCore

/// `sender_allow`: which senders (MSH-3 sending application, MSH-4 sending facility) may send on a service, and —
/// on a TLS service with client authentication — with which client certificate.
///
/// ```yaml
/// sender_allow:
///   - { sending_app: RIS, sending_facility: HOSP, certificate: { san: ris.hospital.example } }
///   - { sending_app: "LAB*" }              # sending_facility defaults to *, certificate to any client
/// ```
///
/// A message no entry allows is not forwarded: it gets an AR NAK and an `hl7.rejected` record (`sender_not_allowed`)
/// saying why — not listed, or bound to a certificate the client did not present. Absent: every sender.
public struct HL7SenderPolicy: Sendable, Hashable {
    /// One entry.
    public struct Rule: Sendable, Hashable, CustomStringConvertible {
        /// MSH-3 as sent (wire form, components joined by `^`), or a `*` pattern.
        public var application: HL7FieldPattern
        /// MSH-4, same form; `*` when the entry does not name one.
        public var facility: HL7FieldPattern
        /// The client certificate the sender is bound to.
        public var certificate: CertificateRequirement?

        public init(application: HL7FieldPattern, facility: HL7FieldPattern, certificate: CertificateRequirement? = nil)
        {
            self.application = application
            self.facility = facility
            self.certificate = certificate
        }

        func claims(_ summary: HL7MessageSummary) -> Bool {
            self.application.matches(summary.sendingApplication) && self.facility.matches(summary.sendingFacility)
        }

        public var description: String {
            var text = "\(self.application.text)/\(self.facility.text)"
            if let certificate = self.certificate { text += " with certificate \(certificate)" }
            return text
        }
    }

    /// The entries, in configuration order.
    public var rules: [Rule]

    public init(_ rules: [Rule]) {
        self.rules = rules
    }

    /// `nil` when the message's sender may send from this client (`certificate`: its verified TLS certificate), else
    /// why not, in words for the NAK's ERR-7, the log and the audit record (MSH values escaped by the caller's
    /// rendering; these are MSH-3/MSH-4 only).
    public func refusal(for summary: HL7MessageSummary, certificate: PeerCertificate?) -> String? {
        let claiming = self.rules.filter { $0.claims(summary) }
        if claiming.contains(where: { $0.certificate?.matches(certificate) ?? true }) { return nil }
        let sender = "sending application \(summary.sendingApplication) facility \(summary.sendingFacility)"
        let required = claiming.compactMap(\.certificate)
        guard !required.isEmpty else { return "\(sender) not on sender_allow" }
        let wanted = required.map(\.description).joined(separator: " or ")
        let presented = certificate.map { "the client's certificate is \($0)" } ?? "the client presented no certificate"
        return "\(sender) is bound to a client certificate with \(wanted); \(presented)"
    }

    /// Reads `sender_allow`; problems go into `reader`.
    ///
    /// - Parameter clientCertificates: whether the service's clients can present a verified certificate (`nil`:
    ///   unknown, skip that check).
    static func read(
        _ node: ConfigNode,
        context: String,
        clientCertificates: Bool?,
        _ reader: inout MappingReader
    ) -> HL7SenderPolicy? {
        guard case .sequence(let items) = node.kind, !items.isEmpty else {
            reader.problem(
                node.line,
                "\(context): 'sender_allow' must be a non-empty list of { sending_app, sending_facility, certificate } entries (remove the key to allow every sender)"
            )
            return nil
        }
        var rules: [Rule] = []
        for (index, item) in items.enumerated() {
            let what = "\(context): sender_allow[\(index)]"
            var entry = MappingReader(item, context: what)
            let application = entry.string("sending_app")
            let facility = entry.string("sending_facility")
            let certificateNode = entry.node("certificate")
            entry.finish()
            reader.absorb(entry)
            guard case .mapping = item.kind else { continue }  // reported by the entry's reader
            guard let application else {
                reader.problem(item.line, "\(what): 'sending_app' (MSH-3, or a pattern such as \"LAB*\") is required")
                continue
            }
            let line = item.line
            guard
                let applicationPattern = HL7FieldPattern(
                    application,
                    what: "\(what): 'sending_app'",
                    line: line,
                    &reader
                ),
                let facilityPattern = HL7FieldPattern(
                    facility ?? "*",
                    what: "\(what): 'sending_facility'",
                    line: line,
                    &reader
                )
            else { continue }
            let binding = CertificateRequirement.readBinding(
                certificateNode, context: what, clientCertificates: clientCertificates, &reader)
            if case .invalid = binding { continue }
            rules.append(Rule(application: applicationPattern, facility: facilityPattern, certificate: binding.requirement))
        }
        return HL7SenderPolicy(rules)
    }
}

/// An MSH field value or a `*` pattern from the configuration (`RIS`, `LAB*`, `*`), matched against the field as
/// sent (wire form, case-sensitive); `*` matches any run of characters, including none.
public struct HL7FieldPattern: Sendable, Hashable {
    /// The pattern as written.
    public let text: String
    private let pieces: [Substring]

    /// A pattern; `nil` (with a problem recorded) when it holds a control character or an MLLP framing byte.
    init?(_ text: String, what: String, line: Int, _ reader: inout MappingReader) {
        guard !text.isEmpty, !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            reader.problem(line, "\(what) '\(String(printableASCII: text.utf8))' is empty or holds a control character")
            return nil
        }
        self.init(text)
    }

    /// A pattern from trusted text (tests, code).
    public init(_ text: String) {
        self.text = text
        self.pieces = text.split(separator: "*", omittingEmptySubsequences: false)
    }

    /// Whether `value` matches.
    public func matches(_ value: String) -> Bool {
        guard self.pieces.count > 1 else { return value == self.text }
        var rest = Substring(value)
        guard let first = self.pieces.first, let last = self.pieces.last, rest.hasPrefix(first) else { return false }
        rest = rest.dropFirst(first.count)
        for piece in self.pieces.dropFirst().dropLast() where !piece.isEmpty {
            guard let found = rest.firstRange(of: piece) else { return false }
            rest = rest[found.upperBound...]
        }
        return rest.count >= last.count && rest.hasSuffix(last)
    }
}
