public import PacsgateCore
public import SwiftASN1
public import X509

/// An X.509 certificate revocation list (RFC 5280 §5), as `crl_file` holds it: who issued it, when it is due to be
/// replaced, and the serial numbers it revokes.
///
/// Written here because neither swift-certificates nor swift-nio-ssl reads CRLs; the DER tree is parsed with
/// SwiftASN1 and the signature checked with swift-certificates' public-key code. Delta CRLs, indirect CRLs and
/// any other critical extension are refused (RFC 5280 §5.2/§5.3: a CRL with an unrecognised critical extension must
/// not be used), with the extension's name in the error.
public struct CertificateRevocationList: Sendable {
    /// The CRL's issuer (must be a CA of `client_ca_file`).
    public let issuer: DistinguishedName
    public let thisUpdate: WallClock.Instant
    /// When a newer CRL is due; a CRL past it is stale and fails every check that needs it.
    public let nextUpdate: WallClock.Instant?
    /// Revoked serial numbers (magnitude bytes, no leading zeros) and when they were revoked.
    let revoked: [[UInt8]: WallClock.Instant]
    /// The signed part (`tbsCertList`), its signature algorithm and signature.
    let signedBytes: ArraySlice<UInt8>
    let signatureAlgorithm: Certificate.SignatureAlgorithm
    let signature: ArraySlice<UInt8>

    /// When `serial` was revoked, or `nil` if this list does not revoke it.
    public func revocation(of serial: Certificate.SerialNumber) -> WallClock.Instant? {
        self.revoked[Self.magnitude(serial.bytes)]
    }

    /// Whether `certificate` (the CA named as issuer) signed this list.
    public func isSigned(by certificate: Certificate) -> Bool {
        certificate.subject == self.issuer
            && certificate.publicKey.isValidSignature(
                self.signature,
                for: self.signedBytes,
                signatureAlgorithm: self.signatureAlgorithm
            )
    }

    // MARK: reading

    /// The CRLs of a `crl_file`: one or more PEM blocks `-----BEGIN X509 CRL-----`, or one DER CRL.
    public static func load(contents: [UInt8]) throws(CRLParseError) -> [CertificateRevocationList] {
        guard !contents.isEmpty else { throw .empty }
        guard contents.first == 0x30 else {
            let text = String(decoding: contents, as: UTF8.self)
            let documents: [PEMDocument]
            do {
                documents = try PEMDocument.parseMultiple(pemString: text)
            } catch {
                throw .pem("no PEM block could be read")
            }
            let lists = documents.filter { $0.discriminator == "X509 CRL" }
            guard !lists.isEmpty else {
                let found = documents.map(\.discriminator).joined(separator: ", ")
                throw .pem("holds no 'X509 CRL' block" + (found.isEmpty ? "" : " (found: \(found))"))
            }
            var result: [CertificateRevocationList] = []
            for document in lists { result.append(try Self.parse(der: document.derBytes)) }
            return result
        }
        return [try Self.parse(der: contents)]
    }

    /// One DER-encoded CertificateList.
    public static func parse(der: [UInt8]) throws(CRLParseError) -> CertificateRevocationList {
        let root: ASN1Node
        do {
            root = try DER.parse(der)
        } catch let error as ASN1Error {
            throw .notDER("\(error.code)")
        } catch {
            throw .notDER("\(error)")
        }
        // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
        let outer = try Self.children(of: root, named: "CertificateList")
        guard outer.count == 3 else { throw .structure("CertificateList has \(outer.count) elements, expected 3") }
        let tbs = try Self.children(of: outer[0], named: "tbsCertList")
        let outerAlgorithm = try Self.algorithm(outer[1], named: "signatureAlgorithm")
        guard outer[2].identifier == .bitString, let bits = try? ASN1BitString(derEncoded: outer[2]),
            bits.paddingBits == 0
        else { throw .structure("signatureValue is not a BIT STRING") }

        // TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature, issuer, thisUpdate, nextUpdate OPTIONAL,
        //                            revokedCertificates SEQUENCE OF … OPTIONAL, crlExtensions [0] EXPLICIT OPTIONAL }
        var index = 0
        if index < tbs.count, tbs[index].identifier == .integer {
            let version = (try? Int(derEncoded: tbs[index])) ?? -1
            guard version == 1 else { throw .unsupportedVersion(version) }
            index += 1
        }
        guard index < tbs.count else { throw .structure("tbsCertList ends before its signature algorithm") }
        let innerAlgorithm = try Self.algorithm(tbs[index], named: "tbsCertList signature")
        index += 1
        guard innerAlgorithm == outerAlgorithm else { throw .signatureAlgorithmMismatch }
        guard let algorithm = Self.signatureAlgorithms[outerAlgorithm] else {
            throw .unsupportedSignatureAlgorithm(outerAlgorithm)
        }
        guard index < tbs.count, let issuer = try? DistinguishedName(derEncoded: tbs[index]) else {
            throw .structure("tbsCertList has no issuer name")
        }
        index += 1
        guard index < tbs.count, let thisUpdate = try Self.time(tbs[index], named: "thisUpdate") else {
            throw .structure("tbsCertList has no thisUpdate time")
        }
        index += 1
        var nextUpdate: WallClock.Instant?
        if index < tbs.count, let time = try Self.time(tbs[index], named: "nextUpdate") {
            nextUpdate = time
            index += 1
        }
        var revoked: [[UInt8]: WallClock.Instant] = [:]
        if index < tbs.count, tbs[index].identifier == .sequence {
            for entry in try Self.children(of: tbs[index], named: "revokedCertificates") {
                let (serial, date) = try Self.revokedEntry(entry)
                revoked[serial] = date
            }
            index += 1
        }
        if index < tbs.count, tbs[index].identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) {
            let wrapper = try Self.children(of: tbs[index], named: "crlExtensions")
            guard wrapper.count == 1 else { throw .structure("crlExtensions must hold one SEQUENCE") }
            try Self.checkExtensions(wrapper[0], allowed: Self.knownListExtensions, where: "the CRL")
            index += 1
        }
        guard index == tbs.count else { throw .structure("tbsCertList has \(tbs.count - index) unexpected elements") }
        return CertificateRevocationList(
            issuer: issuer,
            thisUpdate: thisUpdate,
            nextUpdate: nextUpdate,
            revoked: revoked,
            signedBytes: outer[0].encodedBytes,
            signatureAlgorithm: algorithm,
            signature: bits.bytes
        )
    }

    /// One revokedCertificates entry: `SEQUENCE { userCertificate INTEGER, revocationDate Time, extensions OPTIONAL }`.
    private static func revokedEntry(_ node: ASN1Node) throws(CRLParseError) -> ([UInt8], WallClock.Instant) {
        let fields = try Self.children(of: node, named: "revoked certificate entry")
        guard fields.count == 2 || fields.count == 3, fields[0].identifier == .integer,
            case .primitive(let serial) = fields[0].content, !serial.isEmpty
        else { throw .structure("a revoked certificate entry is not { serial, date [, extensions] }") }
        guard let date = try Self.time(fields[1], named: "revocationDate") else {
            throw .structure("a revoked certificate entry has no revocation date")
        }
        if fields.count == 3 {
            try Self.checkExtensions(
                fields[2],
                allowed: Self.knownEntryExtensions,
                where: "a revoked certificate entry"
            )
        }
        return (Self.magnitude(serial), date)
    }

    /// Refuses a critical extension not in `allowed` (RFC 5280 §5.2, §5.3).
    private static func checkExtensions(
        _ node: ASN1Node,
        allowed: [ASN1ObjectIdentifier: String],
        where place: String
    ) throws(CRLParseError) {
        for item in try Self.children(of: node, named: "extensions of \(place)") {
            guard let parsed = try? Certificate.Extension(derEncoded: item) else {
                throw .structure("an extension of \(place) cannot be read")
            }
            if parsed.critical, allowed[parsed.oid] == nil {
                throw .unsupportedCriticalExtension(
                    Self.extensionNames[parsed.oid].map { "\($0) (\(parsed.oid))" } ?? "\(parsed.oid)",
                    place: place
                )
            }
        }
    }

    private static func children(of node: ASN1Node, named name: String) throws(CRLParseError) -> [ASN1Node] {
        guard case .constructed(let collection) = node.content else { throw .structure("\(name) is not a SEQUENCE") }
        return Array(collection)
    }

    /// An AlgorithmIdentifier's OID.
    private static func algorithm(_ node: ASN1Node, named name: String) throws(CRLParseError) -> ASN1ObjectIdentifier {
        let fields = try Self.children(of: node, named: name)
        guard let first = fields.first, let oid = try? ASN1ObjectIdentifier(derEncoded: first) else {
            throw .structure("\(name) is not an AlgorithmIdentifier")
        }
        return oid
    }

    /// A `Time` (UTCTime or GeneralizedTime); `nil` when the node is neither.
    private static func time(_ node: ASN1Node, named name: String) throws(CRLParseError) -> WallClock.Instant? {
        let fields: (Int, Int, Int, Int, Int, Int)?
        switch node.identifier {
        case .utcTime:
            fields = (try? UTCTime(derEncoded: node)).map { ($0.year, $0.month, $0.day, $0.hours, $0.minutes, $0.seconds) }
        case .generalizedTime:
            fields = (try? GeneralizedTime(derEncoded: node)).map {
                ($0.year, $0.month, $0.day, $0.hours, $0.minutes, $0.seconds)
            }
        default:
            return nil
        }
        guard let (year, month, day, hour, minute, second) = fields else { throw .invalidTime(name) }
        return WallClock.Instant(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    static func magnitude(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        let trimmed = Array(bytes.drop { $0 == 0 })
        return trimmed.isEmpty ? [0] : trimmed
    }

    static let signatureAlgorithms: [ASN1ObjectIdentifier: Certificate.SignatureAlgorithm] = [
        [1, 2, 840, 10045, 4, 3, 2]: .ecdsaWithSHA256,
        [1, 2, 840, 10045, 4, 3, 3]: .ecdsaWithSHA384,
        [1, 2, 840, 10045, 4, 3, 4]: .ecdsaWithSHA512,
        [1, 2, 840, 113_549, 1, 1, 11]: .sha256WithRSAEncryption,
        [1, 2, 840, 113_549, 1, 1, 12]: .sha384WithRSAEncryption,
        [1, 2, 840, 113_549, 1, 1, 13]: .sha512WithRSAEncryption,
        [1, 3, 101, 112]: .ed25519,
    ]

    /// CRL extensions this reader understands (none changes which serials are revoked).
    static let knownListExtensions: [ASN1ObjectIdentifier: String] = [
        [2, 5, 29, 35]: "authorityKeyIdentifier",
        [2, 5, 29, 20]: "cRLNumber",
    ]
    /// Entry extensions this reader understands.
    static let knownEntryExtensions: [ASN1ObjectIdentifier: String] = [
        [2, 5, 29, 21]: "reasonCode",
        [2, 5, 29, 24]: "invalidityDate",
    ]
    /// Names of the extensions an error may name.
    static let extensionNames: [ASN1ObjectIdentifier: String] = [
        [2, 5, 29, 27]: "deltaCRLIndicator",
        [2, 5, 29, 28]: "issuingDistributionPoint",
        [2, 5, 29, 29]: "certificateIssuer",
        [2, 5, 29, 46]: "freshestCRL",
    ].merging(knownListExtensions) { first, _ in first }.merging(knownEntryExtensions) { first, _ in first }
}

/// Why a `crl_file` cannot be used.
public enum CRLParseError: Error, Equatable, CustomStringConvertible {
    case empty
    case pem(String)
    case notDER(String)
    case structure(String)
    case unsupportedVersion(Int)
    case signatureAlgorithmMismatch
    case unsupportedSignatureAlgorithm(ASN1ObjectIdentifier)
    case unsupportedCriticalExtension(String, place: String)
    case invalidTime(String)

    public var description: String {
        switch self {
        case .empty: "is empty"
        case .pem(let why): "is not a PEM CRL file: \(why)"
        case .notDER(let code): "is not a DER CRL (\(code))"
        case .structure(let what): "is not a CRL: \(what)"
        case .unsupportedVersion(let version): "is a CRL of version \(version + 1); only version 2 is read"
        case .signatureAlgorithmMismatch: "is not a CRL: its two signature algorithm fields differ"
        case .unsupportedSignatureAlgorithm(let oid):
            "is signed with algorithm \(oid), which is not supported (ECDSA or RSA with SHA-256/384/512, Ed25519)"
        case .unsupportedCriticalExtension(let name, let place):
            "has a critical extension \(name) in \(place), which is not supported (delta and indirect CRLs are not read)"
        case .invalidTime(let field): "is not a CRL: its \(field) is not a valid time"
        }
    }
}
