import PacsgateDICOM
import Testing

@Suite struct DICOMUIDTests {
    @Test(arguments: [
        ("1.2.840.10008.1.1", "Verification SOP Class"),
        ("1.2.840.10008.5.1.4.1.1.2", "CT Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.4", "MR Image Storage"),
        ("1.2.840.10008.5.1.4.1.1.1.1", "Digital X-Ray Image Storage - For Presentation"),
        ("1.2.840.10008.5.1.4.31", "Modality Worklist Information Model - FIND"),
        ("1.2.840.10008.5.1.4.1.2.2.2", "Study Root Query/Retrieve Information Model - MOVE"),
        ("1.2.840.10008.1.20.1", "Storage Commitment Push Model SOP Class"),
        ("1.2.840.10008.1.2", "Implicit VR Little Endian"),
        ("1.2.840.10008.5.1.4.1.1.7.3", "Multi-frame Grayscale Word Secondary Capture Image Storage"),
    ])
    func knownNames(uid: String, name: String) {
        #expect(DICOMUID.name(for: uid) == name)
    }

    @Test func unknownUIDs() {
        #expect(DICOMUID.name(for: "1.2.3.4") == nil)
        #expect(DICOMUID.name(for: "1.2.840.10008.5.1.4.1.1.2\0") == nil)
        #expect(DICOMUID.name(for: "") == nil)
    }

    @Test func everyContextOfTheRealClientsThatStorescpAcceptedHasAName() throws {
        var stream = try Fixture.bytes("pynetdicom-identity-storescp.client")
        let request = try #require(try AssociateRequest.parse(&stream, maxLength: 65536))
        for context in request.presentationContexts {
            #expect(DICOMUID.name(for: context.abstractSyntax) != nil, "\(context.abstractSyntax)")
        }
    }

    @Test func implementationIdentity() throws {
        #expect(DICOMUID.pacsgateImplementationClass.utf8.count <= 64)
        #expect(DICOMUID.pacsgateImplementationClass.allSatisfy { $0.isNumber || $0 == "." })
        #expect(DICOMUID.pacsgateImplementationVersion.utf8.count <= 16)
    }
}
