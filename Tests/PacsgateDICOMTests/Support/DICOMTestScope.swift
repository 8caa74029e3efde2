import PacsgateTestSupport

/// Runs `body` with a fresh ``TestScope`` of the DICOM tests (scratch directory `pacsgate-dicom-…`) and always
/// tears it down.
func withTestScope<T: Sendable>(_ body: (TestScope) async throws -> T) async throws -> T {
    try await withTestScope(
        directoryPrefix: "pacsgate-dicom",
        missingPeerAdvice: "the DICOM integration tests need real peers "
            + "(apt-get install dcmtk; pip install pynetdicom==3.0.4 pydicom)",
        body
    )
}
