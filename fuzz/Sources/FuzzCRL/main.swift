// libFuzzer target: the CRL reader of `crl_file` (PEM or DER, RFC 5280 §5).
//
// Checks beyond "no crash": a DER input that reads as one CRL reads the same way again (no hidden state), and the
// PEM path agrees with the DER path on a CRL it wraps.
import PacsgateTLS

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCRL(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = [UInt8](UnsafeRawBufferPointer(start: start, count: count))
    guard let lists = try? CertificateRevocationList.load(contents: bytes) else { return 0 }
    for list in lists {
        _ = list.issuer.description
        _ = list.nextUpdate
    }
    if bytes.first == 0x30, let again = try? CertificateRevocationList.parse(der: bytes) {
        guard lists.count == 1, lists[0].issuer == again.issuer, lists[0].thisUpdate == again.thisUpdate,
            lists[0].nextUpdate == again.nextUpdate
        else { fatalError("the same DER read differently") }
        let pem = "-----BEGIN X509 CRL-----\n" + Base64Lines.encode(bytes) + "-----END X509 CRL-----\n"
        guard let wrapped = try? CertificateRevocationList.load(contents: Array(pem.utf8)), wrapped.count == 1,
            wrapped[0].issuer == again.issuer
        else { fatalError("a DER CRL wrapped in PEM read differently") }
    }
    return 0
}

/// Base64 in 64-character lines (PEM).
enum Base64Lines {
    static func encode(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var text = ""
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
            let value = (UInt32(chunk[0]) << 16) | (UInt32(chunk.count > 1 ? chunk[1] : 0) << 8)
                | UInt32(chunk.count > 2 ? chunk[2] : 0)
            for position in 0..<4 {
                text.append(position <= chunk.count ? alphabet[Int((value >> (18 - 6 * position)) & 0x3F)] : "=")
            }
            index += 3
        }
        var lines = ""
        var line = Substring(text)
        while !line.isEmpty {
            lines += line.prefix(64) + "\n"
            line = line.dropFirst(64)
        }
        return lines
    }
}
