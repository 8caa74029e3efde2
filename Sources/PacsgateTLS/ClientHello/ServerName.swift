/// A TLS server name (SNI host name) in the form used for matching: validated, lower-cased ASCII, without a
/// trailing dot.
///
/// The host name holds only letters, digits, `-`, `_` and `.` (see `HostNameViolation` for the rules), so
/// it is safe to put in a log line as is.
public struct ServerName: Hashable, Sendable, CustomStringConvertible {
    /// The lower-cased host name, without a trailing dot.
    public let hostName: String
    /// Whether the name as sent ended with one trailing dot (`pacs.example.org.`), which was removed.
    /// Worth logging: RFC 6066 says the name is sent without one.
    public let hadTrailingDot: Bool

    /// Validates and normalises `hostName` with the same rules the ClientHello parser applies to SNI.
    public init(_ hostName: String) throws(HostNameViolation) {
        var hostName = hostName
        let result = hostName.withUTF8 { HostNameValidator.normalize(UnsafeRawBufferPointer($0)) }
        switch result {
        case .success(let serverName):
            self = serverName
        case .failure(let failure):
            throw failure.violation
        }
    }

    /// Wraps a name `HostNameValidator` has already normalised.
    init(normalizedHostName: String, hadTrailingDot: Bool) {
        self.hostName = normalizedHostName
        self.hadTrailingDot = hadTrailingDot
    }

    public var description: String {
        self.hostName
    }
}
