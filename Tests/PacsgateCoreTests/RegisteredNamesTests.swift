import Testing

@testable import PacsgateCore

/// The protocols and the other modules' sections a configuration may name are the registry's: the core names none.
@Suite struct RegisteredNamesTests {
    @Test("a section key is a top-level key or a key of one of the core's mappings")
    func sectionKeys() {
        let syslog = ConfigSectionKey("syslog", under: "audit")
        #expect(syslog == "audit.syslog")
        #expect(syslog.parent == "audit")
        #expect(syslog.name == "syslog")
        let admin: ConfigSectionKey = "admin"
        #expect(admin == ConfigSectionKey("admin"))
        #expect(admin.parent == nil)
        #expect(admin.name == "admin")
    }

    /// ```
    ///  1 services:
    ///  2   - label: PACS
    ///      …
    ///  7 reports:
    ///  8   every: 1d
    ///  9 audit:
    /// 10   export:
    /// 11     to: x
    /// ```
    @Test("the registered sections are kept for their modules; an unregistered one is an unknown key")
    func sectionsAreTheRegistrys() throws {
        let root = document(
            service(2, "PACS"),
            extra: [
                entry("reports", 7, mapping(entry("every", 8, "1d"))),
                entry("audit", 9, mapping(entry("export", 10, mapping(entry("to", 11, "x"))))),
            ])
        let registered = ConfigurationDecoder(
            registry: ProtocolRegistry(sections: [ConfigSection("reports"), ConfigSection("audit.export")]))
        let (configuration, warnings) = try registered.decode(root).get()
        #expect(warnings.isEmpty)
        #expect(configuration.sections.keys.sorted() == ["audit.export", "reports"])
        #expect(configuration.sections["reports"]?.line == 8)
        #expect(configuration.sections["audit.export"]?.line == 11)

        let bare = ConfigurationDecoder(registry: ProtocolRegistry(sections: []))
        guard case .failure(let errors) = bare.decode(root) else {
            Issue.record("sections nobody registered were accepted")
            return
        }
        #expect(
            errors.problems == [
                ConfigProblem(
                    line: 7,
                    "configuration: unknown key 'reports' (known keys: audit, engine, logging, services, shutdown_grace, state_dir)"
                ),
                ConfigProblem(
                    line: 10,
                    "audit: unknown key 'export' (known keys: buffer_records, fsync, fsync_interval, keep, max_bytes, "
                        + "on_failure, path, refused_interval, refused_records, required)"
                ),
            ]
        )
    }

    @Test("the protocols are tcp, the modules' and the product's that are not built in")
    func protocolsAreTheRegistrys() throws {
        let registry = ProtocolRegistry([FakeProtocolModule()], sections: [], notBuilt: ["dicom", "mllp-tls"])
        #expect(registry.definedProtocols == [.tcp, "dicom", "mllp-tls"])
        #expect(registry.notBuilt == ["mllp-tls"], "a module that is built is not 'not built'")
        let decoder = ConfigurationDecoder(registry: registry)

        let (configuration, warnings) = try decoder.decode(document(service(2, "PACS", entry("protocol", 4, "mllp-tls")))).get()
        #expect(
            warnings == [
                ConfigProblem(
                    line: 4, "service 'PACS': protocol 'mllp-tls' is not built into this gateway; forwarding as plain TCP")
            ])
        #expect(configuration.services.first?.protocolName == "mllp-tls")
        #expect(configuration.services.first?.protocolHandler == nil)

        guard case .failure(let errors) = decoder.decode(document(service(2, "PACS", entry("protocol", 4, "hl7")))) else {
            Issue.record("a protocol nobody registered was accepted")
            return
        }
        #expect(
            errors.problems == [
                ConfigProblem(line: 4, "service 'PACS': 'protocol' must be one of dicom | mllp-tls | tcp, found 'hl7'")
            ])
    }

    /// ```
    ///  1 services:
    ///  2   - label: PACS
    ///  3     listen: 0.0.0.0:11112
    ///  4     source: 192.0.2.77
    ///      …
    ///  8 ha:
    ///  9   peer: x
    /// ```
    @Test("a `source:` this host does not hold is allowed only with a section that binds before it holds")
    func unheldSourceNeedsTheRegisteredSection() throws {
        let service = service(2, "PACS", entry("source", 4, "192.0.2.77"))
        let decoder = ConfigurationDecoder(
            registry: ProtocolRegistry(sections: [ConfigSection("ha", allowsUnheldSource: true)]))
        let with = document(service, extra: [entry("ha", 8, mapping(entry("peer", 9, "x")))])
        #expect(try decoder.decode(with).get().0.sections["ha"]?.line == 9)

        guard case .failure(let errors) = decoder.decode(document(service)) else {
            Issue.record("an address this host does not have was accepted without the section")
            return
        }
        #expect(
            errors.problems == [
                ConfigProblem(
                    line: 4,
                    "service 'PACS': 'source' 192.0.2.77 is not an address of this host (only an HA unit, with an 'ha' section, may name the VIP before it holds it)"
                )
            ])
    }
}
