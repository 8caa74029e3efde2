// libFuzzer target: the TLS ClientHello parser (record reassembly, SNI, ALPN, supported_versions).
//
// Checks beyond "no crash": a parse that needs more bytes never sees `maximumBytes` or more, and a ClientHello
// parsed from a prefix of the input is also what the whole input yields (more bytes never change the answer).
import NIOCore
import PacsgateTLS

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClientHello(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let parser = ClientHelloParser()
    let buffer = ByteBuffer(bytes: input)
    let whole: ClientHello?
    do {
        whole = try parser.parse(buffer)
        if whole == nil && buffer.readableBytes >= parser.maximumBytes {
            fatalError("needs more bytes beyond maximumBytes (\(buffer.readableBytes))")
        }
    } catch {
        whole = nil
    }
    if let whole {
        _ = whole.serverName
        _ = whole.alpnProtocols
    }
    let prefix = ByteBuffer(bytes: input.prefix(count / 2))
    if let early = try? parser.parse(prefix), let whole, early != whole {
        fatalError("a prefix parsed to a different ClientHello")
    }
    return 0
}
