import NIOCore
import Testing

@testable import PacsgateCore

@Suite struct EventLoopSizingTests {
    @Test func countsKernelCPULists() {
        #expect(EventLoopSizing.countCPUs(inList: "\t0-1") == 2)
        #expect(EventLoopSizing.countCPUs(inList: "1") == 1)
        #expect(EventLoopSizing.countCPUs(inList: "0-3,8,10-11") == 7)
        #expect(EventLoopSizing.countCPUs(inList: "") == nil)
        #expect(EventLoopSizing.countCPUs(inList: "3-1") == nil)
        #expect(EventLoopSizing.countCPUs(inList: "a-b") == nil)
    }

    @Test func readsTheAffinityLineOfProcStatus() {
        let status = "Name:\tpacsgate\nCpus_allowed:\t2\nCpus_allowed_list:\t1\nMems_allowed_list:\t0\n"
        #expect(EventLoopSizing.allowedCPUCount(status: status) == 1)
        #expect(EventLoopSizing.allowedCPUCount(status: "Name:\tx\n") == nil)
        #expect(EventLoopSizing.allowedCPUCount(status: nil) == nil)
    }

    @Test func threadCountIsAtLeastOneAndAtMostTheCores() {
        let count = EventLoopSizing.threadCount
        #expect(count >= 1)
        #expect(count <= System.coreCount)
    }
}
