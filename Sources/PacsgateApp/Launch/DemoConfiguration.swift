/// The embedded default configuration `pacsgate demo` runs: a copy of `Samples/local.yaml` (a test keeps the two
/// identical).
enum DemoConfiguration {
    static let yaml = #"""
# pacsgate — the Mach7 site of Samples/mach7.yaml on loopback.
#
# The virtual services listen on 127.0.0.1; the two "Mach7 nodes" are 127.0.0.150 and 127.0.0.151
# (every 127.x address is loopback on Linux), on the same ports as the site — except HTTPS, which uses
# 8443 so no root is needed. `pacsgate demo` runs exactly this file with simulated nodes on those
# addresses; `pacsgate run --config Samples/local.yaml` runs it against whatever listens there.
# Unlike the site file it checks health with the protocols themselves (a C-ECHO association, an MLLP
# test message, a TLS handshake) rather than a bare TCP connect, which PACS logs report as an aborted association.

services:
  - label: DICOM
    listen: "127.0.0.1:11112"
    protocol: dicom
    balance: roundrobin
    persistence: { type: source-ip, timeout: 30m }
    health_check: { type: dicom-echo, called_ae: MACH7, interval: 2s, timeout: 1s, rise: 2, fall: 3 }
    servers:
      - { label: DICOM1, address: "127.0.0.150:11112", weight: 100 }
      - { label: DICOM2, address: "127.0.0.151:11112", weight: 100 }

  - label: HL7
    listen: "127.0.0.1:6667"
    protocol: hl7
    balance: roundrobin
    persistence: { type: source-ip, timeout: 30m }
    health_check: { type: mllp, interval: 2s, timeout: 1s, rise: 2, fall: 3 }
    servers:
      - { label: HL71, address: "127.0.0.150:6667", weight: 100 }
      - { label: HL72, address: "127.0.0.151:6667", weight: 100 }

  - label: DMWL
    listen: "127.0.0.1:5104"
    protocol: dicom
    balance: roundrobin
    persistence: { type: source-ip, timeout: 30m }
    health_check: { type: dicom-echo, called_ae: MACH7, interval: 2s, timeout: 1s, rise: 2, fall: 3 }
    servers:
      - { label: DMWL1, address: "127.0.0.150:5104", weight: 100 }
      - { label: DMWL2, address: "127.0.0.151:5104", weight: 100 }

  - label: HTTPS
    listen: "127.0.0.1:8443"
    protocol: tls
    balance: roundrobin
    persistence: { type: source-ip, timeout: 30m }
    health_check: { type: tls, interval: 2s, timeout: 1s, rise: 2, fall: 3 }
    servers:
      - { label: HTTPS1, address: "127.0.0.150:8443", weight: 100 }
      - { label: HTTPS2, address: "127.0.0.151:8443", weight: 100 }

audit: { path: ".state/local/audit.jsonl" }
admin: { listen: "127.0.0.1:9443" }

"""#
}
