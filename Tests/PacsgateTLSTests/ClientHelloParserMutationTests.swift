import NIOCore
import PacsgateTLS
import Testing

/// Every single-byte corruption of a captured hello: the parser must not trap, must give the same outcome
/// whole and fed one byte at a time, and must never ask for more bytes beyond its bound.
@Suite("ClientHelloParser on corrupted hellos")
struct ClientHelloParserMutationTests {
    @Test(
        "single-byte corruptions: no trap, same outcome whole and incrementally, nil only below the bound",
        arguments: [Fixture.opensslSNIALPN, .opensslTwoRecords]
    )
    func corruptions(_ fixture: Fixture) throws {
        let original = try fixture.bytes()
        let parser = ClientHelloParser(maximumBytes: 400)
        var outcomes: [String: Int] = [:]
        for position in original.indices {
            for replacement in Set([0x00, 0xFF, original[position] ^ 0x01, original[position] &+ 1]) {
                var bytes = original
                bytes[position] = replacement
                let whole: Result<ClientHello, TLSParseError>?
                do {
                    whole = try parser.parse(bytes).map { .success($0) }
                } catch {
                    whole = .failure(error)
                }
                let incremental = parser.parseOneByteAtATime(bytes)?.result
                #expect(whole == incremental, "byte \(position) = \(replacement)")
                if whole == nil {
                    #expect(bytes.count < parser.maximumBytes)
                }
                switch whole {
                case .success: outcomes["parsed", default: 0] += 1
                case .failure: outcomes["error", default: 0] += 1
                case nil: outcomes["need more", default: 0] += 1
                }
            }
        }
        // All three outcomes occur, so the checks above were exercised.
        #expect(outcomes.count == 3, "\(outcomes)")
    }
}
