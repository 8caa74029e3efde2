import Foundation
import PacsgateTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `kill -9` of the pacsgate process in the middle of a study (storescu → pacsgate → storescp).
@Suite("Faults: kill -9 during a study", .timeLimit(.minutes(3)))
struct CrashRecoveryTests {
    /// Writes `count` CT images of `bytes` pixel bytes each (pydicom), for storescu to send as one study.
    static let makeStudy = #"""
        import sys
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.uid import ExplicitVRLittleEndian, generate_uid
        directory, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        study = generate_uid()
        for index in range(count):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID = meta.MediaStorageSOPClassUID
            ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
            ds.StudyInstanceUID = study
            ds.SeriesInstanceUID = study + ".1"
            ds.PatientName = "DEMO^PATIENT"
            ds.PatientID = "DEMO-0001"
            ds.Modality = "CT"
            ds.Rows = 512
            ds.Columns = size // 1024
            ds.BitsAllocated = 16
            ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = 0
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.PixelData = bytes(512 * (size // 1024) * 2)
            ds.save_as(f"{directory}/ct{index:03d}.dcm", enforce_file_format=True)
        print("OK")
        """#

    @Test("kill -9 mid-study: the audit log is whole JSON lines with the start record; a torn tail is cut on restart")
    func killNineDuringAStudy() async throws {
        try await withTestScope { scope in
            let scp = try await RealSCP.storescp("storescp", scope: scope)
            let study = try scope.makeDirectory("study")
            try await Peers.python(Self.makeStudy, [study, "20", "524288"], name: "make-study", scope: scope)
            let port = try Ports.free()
            let audit = "\(scope.directory)/audit.jsonl"
            let config = "\(scope.directory)/pacsgate.yaml"
            try (TestEngine.configurationLine + """
            services:
              - label: DICOM
                listen: "127.0.0.1:\(port)"
                protocol: dicom
                servers:
                  - \(scp.server("DICOM1"))
            audit: { path: "\(audit)", fsync: every }
            """).write(toFile: config, atomically: true, encoding: .utf8)
            chmod(config, 0o600)

            let first = try await GatewayUnderTest.process(config: config, name: "pacsgate-1", scope: scope)
            #expect(
                await Ports.waitListening(port, while: { first.isRunning }), "pacsgate did not start: \(first.output)")
            let files = try FileManager.default.contentsOfDirectory(atPath: study).sorted().map { "\(study)/\($0)" }
            let storescu = try await ChildProcess.start(
                Peers.storescu, ["-v", "-aet", "STUDYSCU", "-aec", "MACH7", "127.0.0.1", String(port)] + files,
                name: "storescu", directory: scope.directory, scope: scope)
            // Mid-study: the association is forwarded (its start record is durable) and images are flowing; the
            // archive is frozen so the study cannot finish before the kill.
            #expect(
                await eventually(timeout: .seconds(30)) {
                    ((try? AuditRecord.read(audit, event: "dicom.association.start")) ?? []).count == 1
                        && scp.process.output.contains("Received Store Request")
                },
                "the study never started: \(storescu.output)"
            )
            scp.process.signal(SIGSTOP)
            kill(first.pid, SIGKILL)
            #expect(await first.waitForExit(timeout: .seconds(10)) != nil)
            #expect(await storescu.waitForExit(timeout: .seconds(30)) != 0, "the study must have been cut off")
            scp.process.signal(SIGCONT)

            let afterKill = try String(contentsOfFile: audit, encoding: .utf8)
            #expect(afterKill.hasSuffix("\n"), "the last record is whole")
            let startRecords = try AuditRecord.read(audit, event: "dicom.association.start")
            #expect(startRecords.count == 1)
            #expect(startRecords.first?.string("calling_ae") == "STUDYSCU")
            #expect(try AuditRecord.read(audit, event: "dicom.association").isEmpty, "the end was never reached")

            // A record is one write(), so kill -9 cannot tear it; a full disk can. Emulate that torn tail too.
            let torn = FileHandle(forWritingAtPath: audit)
            try torn?.seekToEnd()
            try torn?.write(contentsOf: Data(#"{"time":"2026-01-01T00:00:00.000Z","event":"dicom.assoc"#.utf8))
            try torn?.close()

            let second = try await GatewayUnderTest.process(config: config, name: "pacsgate-2", scope: scope)
            #expect(await Ports.waitListening(port, while: { second.isRunning }), "pacsgate did not restart")
            let echo = try await Peers.run(
                Peers.echoscu, ["-aet", "AFTERCRASH", "-aec", "MACH7", "127.0.0.1", String(port)],
                name: "echoscu", scope: scope)
            #expect(echo.status == 0, "\(echo.output)")
            #expect(
                await eventually(timeout: .seconds(20)) {
                    ((try? AuditRecord.read(audit, event: "dicom.association")) ?? []).count == 1
                }
            )
            kill(second.pid, SIGTERM)
            #expect(await second.waitForExit(timeout: .seconds(30)) != nil)

            let records = try AuditRecord.read(audit)  // every line must parse
            #expect(
                records.map { "\($0.string("event") ?? "") \($0.string("calling_ae") ?? "")" } == [
                    "dicom.association.start STUDYSCU", "dicom.association.start AFTERCRASH",
                    "dicom.association AFTERCRASH",
                ]
            )
            let text = try String(contentsOfFile: audit, encoding: .utf8)
            #expect(!text.contains("dicom.assoc\"") && !text.contains("\"dicom.assoc{"), "the torn tail was cut")
        }
    }
}
