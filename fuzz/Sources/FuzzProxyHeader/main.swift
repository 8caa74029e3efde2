// libFuzzer target: the PROXY protocol header parser (v1 text, v2 binary with TLVs and CRC32C).
//
// Checks beyond "no crash": `needMore` is never the answer for more bytes than the largest header; a prefix of the
// input that already holds a complete header gives the same header as the whole input (bytes after a header never
// change it); a prefix never turns a refusal into a header; and every header parsed is re-encoded by the encoder and
// parses back to the same addresses.
import PacsgateCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProxyHeader(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = Array(UnsafeRawBufferPointer(start: start, count: count))
    let parser = ProxyHeaderParser()
    let whole = parser.parse(input)
    switch whole {
    case .needMore:
        if input.count >= parser.maximumSize { fatalError("needMore after \(input.count) bytes") }
    case .header(let header, let length):
        if length > input.count || length > parser.maximumSize { fatalError("header length \(length) out of range") }
        if parser.parse(input[0..<length]) != whole { fatalError("the header alone parses differently") }
        let addresses = (header.clientAddress, header.destinationAddress)
        if let source = addresses.0, let destination = addresses.1 {
            let v1 = ProxyHeaderEncoder.v1(source: source, destination: destination)
            guard case .header(let again, _) = parser.parse(v1), again.clientAddress?.host == source.host,
                again.clientAddress?.port == source.port
            else { fatalError("v1 re-encoding of \(source) does not parse back") }
            guard let v2 = try? ProxyHeaderEncoder.v2(source: source, destination: destination, tlvs: header.tlvs.filter { $0.type != 0x03 }),
                case .header(let back, _) = parser.parse(v2), back.clientAddress == source || back.clientAddress == source.mappedToIPv6
            else { fatalError("v2 re-encoding of \(source) does not parse back") }
        }
        _ = header.authority
        _ = header.ssl
    case .invalid(let error):
        _ = error.description
    }
    let prefix = parser.parse(input.prefix(count / 2))
    switch (prefix, whole) {
    case (.header, _) where prefix != whole:
        fatalError("a prefix parsed to a different header")
    case (.invalid, .header):
        fatalError("a prefix was refused but the whole input parsed")
    default:
        break
    }
    return 0
}
