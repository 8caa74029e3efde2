public import PacsgateDICOM
public import NIOCore

/// The canned Modality Worklist item the simulated SCP returns to C-FIND: demo values only,
/// never real patient data.
public struct WorklistItem: Sendable, Hashable {
    /// Patient's Name (0010,0010), PN.
    public var patientName: String
    /// Patient ID (0010,0020), LO.
    public var patientID: String
    /// Accession Number (0008,0050), SH.
    public var accessionNumber: String
    /// Scheduled Procedure Step Sequence › Modality (0008,0060), CS.
    public var modality: String
    /// Scheduled Procedure Step Sequence › Scheduled Station AE Title (0040,0001), AE.
    public var scheduledStationAETitle: String
    /// Scheduled Procedure Step Sequence › Scheduled Procedure Step Start Date (0040,0002), DA.
    public var scheduledProcedureStepStartDate: String

    /// Creates an item.
    public init(
        patientName: String,
        patientID: String,
        accessionNumber: String,
        modality: String,
        scheduledStationAETitle: String,
        scheduledProcedureStepStartDate: String
    ) {
        self.patientName = patientName
        self.patientID = patientID
        self.accessionNumber = accessionNumber
        self.modality = modality
        self.scheduledStationAETitle = scheduledStationAETitle
        self.scheduledProcedureStepStartDate = scheduledProcedureStepStartDate
    }

    /// The demo item: `DEMO^PATIENT`, `DEMO-0001`, `DEMO-ACC-1`, CT at `CT01` on 20250101.
    public static let demo = WorklistItem(
        patientName: "DEMO^PATIENT",
        patientID: "DEMO-0001",
        accessionNumber: "DEMO-ACC-1",
        modality: "CT",
        scheduledStationAETitle: "CT01",
        scheduledProcedureStepStartDate: "20250101"
    )

    /// Writes the item as a C-FIND identifier data set, elements in tag order, the sequence
    /// with undefined lengths.
    public func encode(into buffer: inout ByteBuffer, encoding: DataSetEncoding) {
        let writer = DataSetWriter(encoding: encoding)
        writer.writeText(DICOMTag(0x0008, 0x0050), vr: "SH", self.accessionNumber, into: &buffer)
        writer.writeText(DICOMTag(0x0010, 0x0010), vr: "PN", self.patientName, into: &buffer)
        writer.writeText(DICOMTag(0x0010, 0x0020), vr: "LO", self.patientID, into: &buffer)
        writer.writeSequence(DICOMTag(0x0040, 0x0100), into: &buffer) { item in
            writer.writeText(DICOMTag(0x0008, 0x0060), vr: "CS", self.modality, into: &item)
            writer.writeText(DICOMTag(0x0040, 0x0001), vr: "AE", self.scheduledStationAETitle, into: &item)
            writer.writeText(DICOMTag(0x0040, 0x0002), vr: "DA", self.scheduledProcedureStepStartDate, into: &item)
        }
    }
}
