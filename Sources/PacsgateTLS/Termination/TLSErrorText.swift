import NIOSSL
import PacsgateCore

/// Short operator words for TLS errors ("certificate verify failed", "tlsv1 alert unknown ca") instead of BoringSSL's
/// error stacks with source paths.
enum TLSErrorText {
    static func describe(_ error: any Error) -> String {
        if let error = error as? ServerTLSError { return error.description }
        if let error = error as? NIOSSLError {
            switch error {
            case .handshakeFailed(let underlying):
                return "TLS handshake failed: \(self.describe(boringSSL: underlying))"
            case .uncleanShutdown:
                return "connection closed without a TLS close_notify"
            default:
                return "TLS error: \(error)"
            }
        }
        if let error = error as? BoringSSLError {
            return "TLS error: \(self.describe(boringSSL: error))"
        }
        if let error = error as? NIOSSLExtraError {
            return "TLS error: \(error)"
        }
        return ErrorText.describe(error)
    }

    static func describe(boringSSL error: BoringSSLError) -> String {
        switch error {
        case .sslError(let stack), .unknownError(let stack), .invalidSNIName(let stack), .failedToSetALPN(let stack):
            let reasons = stack.map { self.reason(from: $0.description) }.filter { !$0.isEmpty }
            return reasons.isEmpty ? "\(error)" : reasons.joined(separator: "; ")
        case .syscallError:
            return "connection closed during the TLS handshake"
        case .zeroReturn:
            return "the peer ended the TLS session"
        default:
            return "\(error)"
        }
    }

    /// `CERTIFICATE_VERIFY_FAILED` → `certificate verify failed`, from a BoringSSL error line such as
    /// `Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /x/y.c:123`.
    static func reason(from line: String) -> String {
        var text = Substring(line)
        if let at = text.firstRange(of: " at ") { text = text[..<at.lowerBound] }
        guard let colon = text.lastIndex(of: ":") else { return "" }
        let code = text[text.index(after: colon)...]
        guard !code.isEmpty, code.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }) else { return "" }
        return String(code.lowercased().map { $0 == "_" ? " " : $0 })
    }
}

/// A TLS handshake with a server that failed; the core treats it as a failed connect and tries the next server.
struct ServerTLSError: Error, CustomStringConvertible {
    var detail: String
    var description: String { "TLS to the server failed: \(self.detail)" }
}
