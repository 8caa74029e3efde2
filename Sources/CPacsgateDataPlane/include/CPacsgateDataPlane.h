// The Linux system interfaces the native data plane (PacsgateDataPlane) calls and that Swift's Glibc module does not
// export: epoll, eventfd, accept4, splice, pipe2, pipe sizes, thread names. The header declares plain C functions
// over the types Glibc's module already has; shim.c defines them with _GNU_SOURCE (the same split as SwiftNIO's
// CNIOLinux), so no system type is defined twice. Only one-line forwarders live here; the logic is in Swift.
#ifndef C_PACSGATE_DATA_PLANE_H
#define C_PACSGATE_DATA_PLANE_H

#ifdef __linux__
#include <pthread.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/types.h>

int pacsgate_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

/// splice(2) without offsets, SPLICE_F_MOVE | SPLICE_F_NONBLOCK.
ssize_t pacsgate_splice(int from, int to, size_t length);

int pacsgate_pipe2_nonblocking(int descriptors[2]);

/// Sets a pipe's capacity (F_SETPIPE_SZ) and returns the capacity it has afterwards, or -1.
int pacsgate_set_pipe_size(int descriptor, int size);

int pacsgate_set_thread_name(pthread_t thread, const char *name);
#endif

#endif
