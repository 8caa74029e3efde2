import Foundation
import Testing

/// DICOM files for tests that send instances through the gateway, shared by the DICOM and secure-transport tests.
package enum DICOMFiles {
    /// Writes a multi-frame Secondary Capture (20 frames of 128×128, 16 bit; synthetic values) with pydicom.
    package static let multiFrameScript = #"""
        import sys
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.uid import ExplicitVRLittleEndian

        path = sys.argv[1]
        frames, rows, columns = 20, 128, 128
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"
        meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.20001.1"
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.20001.2"
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.20001.3"
        ds.Modality = "OT"
        ds.PatientName = "DEMO^MULTIFRAME"
        ds.PatientID = "DEMO-0002"
        ds.NumberOfFrames = frames
        ds.Rows = rows
        ds.Columns = columns
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.PixelData = bytes((i * 7 + i // 251) % 256 for i in range(frames * rows * columns * 2))
        ds.save_as(path, enforce_file_format=True)
        """#

    /// The data set of a Part 10 file: everything after the File Meta Information group.
    package static func dataSet(ofFile path: String) throws -> ArraySlice<UInt8> {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        try #require(bytes.count > 144 && Array(bytes[128..<132]) == Array("DICM".utf8), "\(path) is not Part 10")
        // (0002,0000) UL, explicit VR LE: tag(4) "UL"(2) length(2) value(4)
        try #require(Array(bytes[132..<138]) == [0x02, 0x00, 0x00, 0x00, 0x55, 0x4C], "no group length first")
        let groupLength = Int(bytes[140]) | Int(bytes[141]) << 8 | Int(bytes[142]) << 16 | Int(bytes[143]) << 24
        let start = 144 + groupLength
        try #require(start <= bytes.count)
        return bytes[start...]
    }
}
