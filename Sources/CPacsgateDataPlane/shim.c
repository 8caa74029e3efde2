// Definitions of the forwarders declared in include/CPacsgateDataPlane.h, compiled with _GNU_SOURCE.
#ifdef __linux__
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "CPacsgateDataPlane.h"

int pacsgate_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

ssize_t pacsgate_splice(int from, int to, size_t length) {
    return splice(from, NULL, to, NULL, length, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

int pacsgate_pipe2_nonblocking(int descriptors[2]) {
    return pipe2(descriptors, O_NONBLOCK | O_CLOEXEC);
}

int pacsgate_set_pipe_size(int descriptor, int size) {
    (void)fcntl(descriptor, F_SETPIPE_SZ, size);
    return fcntl(descriptor, F_GETPIPE_SZ);
}

int pacsgate_set_thread_name(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}
#endif
