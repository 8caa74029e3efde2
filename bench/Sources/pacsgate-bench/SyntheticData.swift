import Foundation

/// Test data made by the tool itself: no downloads, no patient data.
enum SyntheticData {
    /// Writes a DICOM Part 10 file (Secondary Capture, Explicit VR Little Endian) whose pixel data is
    /// `pixelBytes` bytes (rounded down to whole 16-bit rows of 4096 columns), for `storescu`.
    static func writeDICOMFile(at path: String, pixelBytes: Int) throws {
        let columns = 4096
        let rows = max(1, pixelBytes / (columns * 2))
        let sopClass = "1.2.840.10008.5.1.4.1.1.7"
        let sopInstance = "2.25.1234567890123456789012345678901"
        let transferSyntax = "1.2.840.10008.1.2.1"

        var meta = Data()
        meta.element(0x0002, 0x0001, "OB", Data([0x00, 0x01]))
        meta.element(0x0002, 0x0002, "UI", uid(sopClass))
        meta.element(0x0002, 0x0003, "UI", uid(sopInstance))
        meta.element(0x0002, 0x0010, "UI", uid(transferSyntax))
        meta.element(0x0002, 0x0012, "UI", uid("2.25.59227587469042146470390545433579392280"))

        var file = Data(count: 128)
        file.append(contentsOf: Array("DICM".utf8))
        var groupLength = Data()
        groupLength.append(littleEndian: UInt32(meta.count))
        file.element(0x0002, 0x0000, "UL", groupLength)
        file.append(meta)

        file.element(0x0008, 0x0016, "UI", uid(sopClass))
        file.element(0x0008, 0x0018, "UI", uid(sopInstance))
        file.element(0x0008, 0x0060, "CS", text("OT"))
        file.element(0x0010, 0x0010, "PN", text("BENCH^SYNTHETIC"))
        file.element(0x0010, 0x0020, "LO", text("BENCH0001"))
        file.element(0x0020, 0x000D, "UI", uid("2.25.1234567890123456789012345678902"))
        file.element(0x0020, 0x000E, "UI", uid("2.25.1234567890123456789012345678903"))
        file.element(0x0028, 0x0002, "US", Data(littleEndian: UInt16(1)))
        file.element(0x0028, 0x0004, "CS", text("MONOCHROME2"))
        file.element(0x0028, 0x0010, "US", Data(littleEndian: UInt16(rows)))
        file.element(0x0028, 0x0011, "US", Data(littleEndian: UInt16(columns)))
        file.element(0x0028, 0x0100, "US", Data(littleEndian: UInt16(16)))
        file.element(0x0028, 0x0101, "US", Data(littleEndian: UInt16(12)))
        file.element(0x0028, 0x0102, "US", Data(littleEndian: UInt16(11)))
        file.element(0x0028, 0x0103, "US", Data(littleEndian: UInt16(0)))
        var pixels = Data(count: rows * columns * 2)
        pixels.withUnsafeMutableBytes { bytes in
            for index in stride(from: 0, to: bytes.count, by: 2) { bytes[index] = UInt8(truncatingIfNeeded: index >> 7) }
        }
        file.element(0x7FE0, 0x0010, "OW", pixels)
        try file.write(to: URL(fileURLWithPath: path))
    }

    private static func uid(_ value: String) -> Data {
        var bytes = Array(value.utf8)
        if bytes.count % 2 == 1 { bytes.append(0) }
        return Data(bytes)
    }

    private static func text(_ value: String) -> Data {
        var bytes = Array(value.utf8)
        if bytes.count % 2 == 1 { bytes.append(0x20) }
        return Data(bytes)
    }

    /// An HL7 v2.5.1 ORM^O01 message of about 1 KiB (synthetic values), MLLP-framed.
    static func hl7Message(controlID: String) -> [UInt8] {
        var segments = [
            "MSH|^~\\&|RIS|HOSP|PACS|MACH7|20250101120000||ORM^O01|\(controlID)|P|2.5.1",
            "PID|1||BENCH0001^^^HOSP^MR||SYNTHETIC^PATIENT||19700101|O",
            "PV1|1|O|RAD^^^HOSP",
            "ORC|NW|ORD0001|FIL0001||SC",
            "OBR|1|ORD0001|FIL0001|CTCHEST^CT CHEST^L|||20250101115500",
        ]
        while segments.joined(separator: "\r").utf8.count < 1000 {
            segments.append("NTE|\(segments.count)||synthetic benchmark note, no patient data")
        }
        return [0x0B] + Array((segments.joined(separator: "\r") + "\r").utf8) + [0x1C, 0x0D]
    }
}

extension Data {
    init<T: FixedWidthInteger>(littleEndian value: T) {
        self.init()
        self.append(littleEndian: value)
    }

    mutating func append<T: FixedWidthInteger>(littleEndian value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { self.append(contentsOf: $0) }
    }

    /// Appends an Explicit VR Little Endian element.
    mutating func element(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: Data) {
        self.append(littleEndian: group)
        self.append(littleEndian: element)
        self.append(contentsOf: Array(vr.utf8))
        if ["OB", "OW", "SQ", "UN", "UT"].contains(vr) {
            self.append(contentsOf: [0, 0])
            self.append(littleEndian: UInt32(value.count))
        } else {
            self.append(littleEndian: UInt16(value.count))
        }
        self.append(value)
    }
}
