import NIOCore
import PacsgateDICOM
import PacsgateDemo
import Testing

@Suite struct WorklistItemTests {
    @Test(arguments: [
        (DataSetEncoding.implicitVRLittleEndian, "worklist-item.implicit"),
        (.explicitVRLittleEndian, "worklist-item.explicit"),
    ])
    func demoItemMatchesPydicom(encoding: DataSetEncoding, fixture: String) throws {
        let bytes = ByteBuffer.encoding { WorklistItem.demo.encode(into: &$0, encoding: encoding) }
        #expect(bytes == (try Fixture.bytes(fixture)))
    }

    @Test func oddLengthsArePaddedWithSpaces() {
        var item = WorklistItem.demo
        item.accessionNumber = "ACC"
        let bytes = ByteBuffer.encoding { item.encode(into: &$0, encoding: .implicitVRLittleEndian) }
        #expect(bytes.getSlice(at: 0, length: 12) == ByteBuffer(hex: "0800 5000 04000000 41434320"))
    }

    @Test func encodingForTransferSyntax() {
        #expect(DataSetEncoding(transferSyntax: "1.2.840.10008.1.2") == .implicitVRLittleEndian)
        #expect(DataSetEncoding(transferSyntax: "1.2.840.10008.1.2.1") == .explicitVRLittleEndian)
        #expect(DataSetEncoding(transferSyntax: "1.2.840.10008.1.2.2") == nil)
        #expect(DataSetEncoding(transferSyntax: "1.2.840.10008.1.2.1.99") == nil)
    }
}
