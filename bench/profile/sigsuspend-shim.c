// Lets valgrind 3.19 (Debian 12) run pacsgate: its rt_sigsuspend wrapper writes into the signal mask it is given,
// and libdispatch's main thread passes a mask in read-only memory, so valgrind itself takes a SIGSEGV at start-up.
// Preloaded, this sigsuspend hands the kernel a copy on the stack. Used only by instructions.sh.
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, sizeof(unsigned long));
}
