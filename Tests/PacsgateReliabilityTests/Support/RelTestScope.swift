import PacsgateTestSupport

/// Runs `body` with a fresh ``TestScope`` of the reliability tests (scratch directory `pacsgate-rel-…`) and always
/// tears it down.
func withTestScope<T: Sendable>(_ body: (TestScope) async throws -> T) async throws -> T {
    try await withTestScope(
        directoryPrefix: "pacsgate-rel",
        missingPeerAdvice: "the reliability tests need real peers "
            + "(apt-get install dcmtk; pip install hl7 pynetdicom==3.0.4 pydicom)",
        body
    )
}
