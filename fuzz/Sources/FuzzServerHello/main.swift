// libFuzzer target: the cipher suite read from a ServerHello (the terminating services' wire observer).
//
// Checks beyond "no crash": a cipher suite read from a prefix is the one the whole input gives (more bytes never
// change the answer), and an input long enough to hold the cipher suite never asks for more.
import NIOCore
import PacsgateTLS

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServerHello(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let whole = Result { () throws(ServerHelloParseError) in try ServerHelloParser.cipherSuite(ByteBuffer(bytes: input)) }
    if case .success(nil) = whole, count >= 5 + 4 + 2 + 32 + 1 + 32 + 2 {
        fatalError("needs more bytes although the longest ServerHello prefix is in")
    }
    let prefix = Result { () throws(ServerHelloParseError) in
        try ServerHelloParser.cipherSuite(ByteBuffer(bytes: input.prefix(count / 2)))
    }
    if case .success(let early?) = prefix, case .success(let late) = whole, late != early {
        fatalError("a prefix gave another cipher suite")
    }
    return 0
}
