// pacsgate-load: the benchmark suite's load generator and request/response backend, in C on epoll so that the
// client is never what limits a proxy on a 2-core machine (the Swift/NIO client could not saturate HAProxy).
//
//   pacsgate-load client --port P --script FILE [--host 127.0.0.1] [--concurrency 50] [--threads 1]
//                        [--warmup 1] [--duration 5] [--persistent] [--operations N]
//       Closed loop: each of `concurrency` clients connects, runs the script's exchanges in order (send the bytes,
//       wait for the reply's framing), closes, and starts again, until warm-up + duration (or N operations in all,
//       for system-call counts). `--persistent`: one connection per client, the exchanges repeated on it.
//       Prints one JSON object: operations in the measurement window, all operations, errors, the window's length
//       and latency quantiles (ms) of the operations in the window.
//   pacsgate-load serve --port P [--request 200] [--response 100] [--threads 1]
//       For every `request` bytes a connection sends, answers `response` bytes; closes when the client does.
//   pacsgate-load exec PROGRAM [ARGUMENTS...]
//       Runs PROGRAM with every signal unblocked and at its default action (a program started from a thread of the
//       Swift bench tool inherits that thread's blocked signals; strace must be stoppable with SIGINT).
//
// Script file: one exchange per line, `FRAMING HEX`, where FRAMING is `pdu:T` (one DICOM PDU of type T: 6-byte
// header, big-endian length at offset 2), `mllp` (ends with FS CR) or `bytes:N`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define MAX_EXCHANGES 8
#define MAX_EVENTS 256

enum framing { FRAME_PDU, FRAME_MLLP, FRAME_BYTES };

struct exchange {
    unsigned char *bytes;
    size_t length;
    enum framing framing;
    size_t expected;  // FRAME_BYTES: byte count; FRAME_PDU: the PDU type
};

struct options {
    const char *host;
    int port;
    int concurrency;
    int threads;
    double warmup;
    double duration;
    int persistent;
    long operations;  // 0: time-bound
    int request;
    int response;
};

static struct options options = {"127.0.0.1", 0, 50, 1, 1.0, 5.0, 0, 0, 200, 100};
static struct exchange script[MAX_EXCHANGES];
static int exchanges = 0;
static struct sockaddr_in target;
static uint64_t window_start, window_end;
static long operations_left = 0;
static pthread_mutex_t operations_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "pacsgate-load: %s: %s\n", what, strerror(errno));
    exit(1);
}

// --- script ---------------------------------------------------------------------------------------------------

static int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void read_script(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) die(path);
    char *line = NULL;
    size_t capacity = 0;
    while (getline(&line, &capacity, file) > 0) {
        if (line[0] == '\n' || line[0] == '#') continue;
        if (exchanges == MAX_EXCHANGES) { fprintf(stderr, "pacsgate-load: too many exchanges\n"); exit(2); }
        struct exchange *exchange = &script[exchanges++];
        char *space = strchr(line, ' ');
        if (!space) { fprintf(stderr, "pacsgate-load: bad script line: %s", line); exit(2); }
        *space = 0;
        if (strncmp(line, "pdu:", 4) == 0) {
            exchange->framing = FRAME_PDU;
            exchange->expected = strtoul(line + 4, NULL, 10);
        } else if (strcmp(line, "mllp") == 0) {
            exchange->framing = FRAME_MLLP;
        } else if (strncmp(line, "bytes:", 6) == 0) {
            exchange->framing = FRAME_BYTES;
            exchange->expected = strtoul(line + 6, NULL, 10);
        } else {
            fprintf(stderr, "pacsgate-load: unknown framing %s\n", line);
            exit(2);
        }
        const char *hex = space + 1;
        size_t digits = strspn(hex, "0123456789abcdefABCDEF");
        exchange->length = digits / 2;
        exchange->bytes = malloc(exchange->length);
        for (size_t i = 0; i < exchange->length; i++) {
            exchange->bytes[i] = (unsigned char)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
        }
    }
    free(line);
    fclose(file);
    if (exchanges == 0) { fprintf(stderr, "pacsgate-load: empty script\n"); exit(2); }
}

// --- client ---------------------------------------------------------------------------------------------------

struct client {
    int fd;
    int connected;
    int step;          // current exchange
    size_t sent;       // bytes of the current request sent
    size_t received;   // bytes of the current reply received
    size_t reply_size; // FRAME_PDU: known once the header is in
    unsigned char header[6];
    unsigned char last[2];
    uint64_t started;
};

struct worker {
    int epoll;
    int clients;
    struct client *slots;
    long operations;      // in the window
    long all_operations;
    long errors;
    uint32_t *latencies;  // microseconds, operations in the window
    size_t latency_count, latency_capacity;
    pthread_t thread;
};

static int take_operation(void) {
    if (options.operations == 0) return 1;
    pthread_mutex_lock(&operations_lock);
    int ok = operations_left > 0;
    if (ok) operations_left--;
    pthread_mutex_unlock(&operations_lock);
    return ok;
}

static void record(struct worker *worker, struct client *client, uint64_t now) {
    worker->all_operations++;
    if (now >= window_start && now <= window_end) {
        worker->operations++;
        if (worker->latency_count == worker->latency_capacity) {
            worker->latency_capacity = worker->latency_capacity ? worker->latency_capacity * 2 : 65536;
            worker->latencies = realloc(worker->latencies, worker->latency_capacity * sizeof(uint32_t));
        }
        uint64_t micros = (now - client->started) / 1000;
        worker->latencies[worker->latency_count++] = micros > UINT32_MAX ? UINT32_MAX : (uint32_t)micros;
    }
}

static int finished(void) {
    if (options.operations > 0) {
        pthread_mutex_lock(&operations_lock);
        int done = operations_left <= 0;
        pthread_mutex_unlock(&operations_lock);
        return done;
    }
    return now_ns() >= window_end;
}

static void start_client(struct worker *worker, struct client *client) {
    client->fd = -1;
    if (finished() || !take_operation()) return;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    client->fd = fd;
    client->connected = 0;
    client->step = 0;
    client->sent = 0;
    client->received = 0;
    client->reply_size = 0;
    client->started = now_ns();
    if (connect(fd, (struct sockaddr *)&target, sizeof(target)) < 0 && errno != EINPROGRESS) {
        worker->errors++;
        close(fd);
        client->fd = -1;
        return;
    }
    struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                .data.u64 = (uint64_t)(client - worker->slots)};
    if (epoll_ctl(worker->epoll, EPOLL_CTL_ADD, fd, &event) < 0) die("epoll_ctl");
}

static void fail(struct worker *worker, struct client *client) {
    worker->errors++;
    close(client->fd);
    start_client(worker, client);
}

// The reply of the current exchange is complete.
static int reply_complete(struct client *client) {
    struct exchange *exchange = &script[client->step];
    switch (exchange->framing) {
    case FRAME_BYTES: return client->received >= exchange->expected;
    case FRAME_MLLP: return client->received >= 2 && client->last[0] == 0x1c && client->last[1] == 0x0d;
    case FRAME_PDU: return client->reply_size > 0 && client->received >= client->reply_size;
    }
    return 0;
}

// Sends, receives and advances as far as the socket allows.
static void drive(struct worker *worker, struct client *client) {
    unsigned char buffer[65536];
    for (;;) {
        struct exchange *exchange = &script[client->step];
        if (client->sent < exchange->length) {
            ssize_t n = send(client->fd, exchange->bytes + client->sent, exchange->length - client->sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == ENOTCONN) return;
                fail(worker, client);
                return;
            }
            client->connected = 1;
            client->sent += (size_t)n;
            if (client->sent < exchange->length) return;
        }
        ssize_t n = recv(client->fd, buffer, sizeof(buffer), 0);
        if (n < 0) {
            if (errno == EAGAIN) return;
            fail(worker, client);
            return;
        }
        if (n == 0) {
            fail(worker, client);
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (exchange->framing == FRAME_PDU && client->received + (size_t)i < 6) {
                client->header[client->received + (size_t)i] = buffer[i];
            }
        }
        client->received += (size_t)n;
        if (n >= 2) {
            client->last[0] = buffer[n - 2];
            client->last[1] = buffer[n - 1];
        } else {
            client->last[0] = client->last[1];
            client->last[1] = buffer[0];
        }
        if (exchange->framing == FRAME_PDU && client->reply_size == 0 && client->received >= 6) {
            if (client->header[0] != exchange->expected) {
                fail(worker, client);
                return;
            }
            uint32_t length = (uint32_t)client->header[2] << 24 | (uint32_t)client->header[3] << 16
                              | (uint32_t)client->header[4] << 8 | (uint32_t)client->header[5];
            client->reply_size = 6 + (size_t)length;
        }
        if (!reply_complete(client)) continue;
        // Exchange done.
        client->step++;
        client->sent = 0;
        client->received = 0;
        client->reply_size = 0;
        if (client->step < exchanges) continue;
        uint64_t now = now_ns();
        record(worker, client, now);
        if (options.persistent && !finished() && take_operation()) {
            client->step = 0;
            client->started = now;
            continue;
        }
        close(client->fd);
        start_client(worker, client);
        return;
    }
}

static void *client_thread(void *argument) {
    struct worker *worker = argument;
    worker->epoll = epoll_create1(EPOLL_CLOEXEC);
    if (worker->epoll < 0) die("epoll_create1");
    for (int i = 0; i < worker->clients; i++) start_client(worker, &worker->slots[i]);
    struct epoll_event events[MAX_EVENTS];
    uint64_t give_up = window_end + 5000000000ull;
    for (;;) {
        int open = 0;
        for (int i = 0; i < worker->clients; i++) open += worker->slots[i].fd >= 0;
        if (!open) break;
        if (options.operations == 0 && now_ns() > give_up) {
            // Still busy five seconds after the end: count as errors.
            for (int i = 0; i < worker->clients; i++) {
                if (worker->slots[i].fd >= 0) {
                    worker->errors++;
                    close(worker->slots[i].fd);
                    worker->slots[i].fd = -1;
                }
            }
            break;
        }
        int count = epoll_wait(worker->epoll, events, MAX_EVENTS, 100);
        for (int i = 0; i < count; i++) {
            struct client *client = &worker->slots[events[i].data.u64];
            if (client->fd < 0) continue;
            if ((events[i].events & (EPOLLERR | EPOLLHUP)) && !(events[i].events & EPOLLIN)) {
                fail(worker, client);
                continue;
            }
            drive(worker, client);
        }
    }
    close(worker->epoll);
    return NULL;
}

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

// Nearest-rank quantile, as PacsgateBenchKit's Statistics.quantile.
static double quantile_ms(uint32_t *sorted, size_t count, double q) {
    if (count == 0) return 0;
    size_t rank = (size_t)(q * (double)count + 0.999999999);
    if (rank < 1) rank = 1;
    if (rank > count) rank = count;
    return sorted[rank - 1] / 1000.0;
}

static int run_client(void) {
    struct worker *workers = calloc((size_t)options.threads, sizeof(struct worker));
    uint64_t start = now_ns();
    window_start = start + (uint64_t)(options.warmup * 1e9);
    window_end = window_start + (uint64_t)(options.duration * 1e9);
    if (options.operations > 0) {
        operations_left = options.operations;
        window_start = start;
        window_end = UINT64_MAX - 10000000000ull;
    }
    for (int t = 0; t < options.threads; t++) {
        struct worker *worker = &workers[t];
        worker->clients = options.concurrency / options.threads + (t < options.concurrency % options.threads);
        worker->slots = calloc((size_t)worker->clients, sizeof(struct client));
        if (pthread_create(&worker->thread, NULL, client_thread, worker) != 0) die("pthread_create");
    }
    long operations = 0, all = 0, errors = 0;
    size_t total = 0;
    for (int t = 0; t < options.threads; t++) {
        pthread_join(workers[t].thread, NULL);
        operations += workers[t].operations;
        all += workers[t].all_operations;
        errors += workers[t].errors;
        total += workers[t].latency_count;
    }
    uint32_t *latencies = malloc((total ? total : 1) * sizeof(uint32_t));
    size_t offset = 0;
    for (int t = 0; t < options.threads; t++) {
        if (workers[t].latency_count) {
            memcpy(latencies + offset, workers[t].latencies, workers[t].latency_count * sizeof(uint32_t));
        }
        offset += workers[t].latency_count;
    }
    qsort(latencies, total, sizeof(uint32_t), compare_u32);
    double window = options.operations > 0 ? (now_ns() - start) / 1e9 : options.duration;
    printf("{\"operations\":%ld,\"all_operations\":%ld,\"errors\":%ld,\"window\":%.6f,"
           "\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"p999_ms\":%.4f}\n",
           operations, all, errors, window, quantile_ms(latencies, total, 0.5), quantile_ms(latencies, total, 0.99),
           quantile_ms(latencies, total, 0.999));
    return 0;
}

// --- server ---------------------------------------------------------------------------------------------------

struct peer {
    int fd;
    long pending;  // request bytes received towards the next answer
    long owed;     // answer bytes not yet written
};

static unsigned char answer_bytes[65536];

static void serve_peer(struct peer *peer) {
    unsigned char buffer[65536];
    for (;;) {
        while (peer->owed > 0) {
            size_t chunk = peer->owed > (long)sizeof(answer_bytes) ? sizeof(answer_bytes) : (size_t)peer->owed;
            ssize_t n = send(peer->fd, answer_bytes, chunk, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN) return;
                goto closed;
            }
            peer->owed -= n;
        }
        ssize_t n = recv(peer->fd, buffer, sizeof(buffer), 0);
        if (n < 0) {
            if (errno == EAGAIN) return;
            goto closed;
        }
        if (n == 0) goto closed;
        peer->pending += n;
        while (peer->pending >= options.request) {
            peer->pending -= options.request;
            peer->owed += options.response;
        }
    }
closed:
    close(peer->fd);
    free(peer);
}

static void *server_thread(void *argument) {
    (void)argument;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(listener, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    struct sockaddr_in address = target;
    if (bind(listener, (struct sockaddr *)&address, sizeof(address)) < 0) die("bind");
    if (listen(listener, 4096) < 0) die("listen");
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int count = epoll_wait(epoll, events, MAX_EVENTS, -1);
        for (int i = 0; i < count; i++) {
            if (events[i].data.ptr == NULL) {
                for (;;) {
                    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct peer *peer = calloc(1, sizeof(struct peer));
                    peer->fd = fd;
                    struct epoll_event added = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = peer};
                    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &added);
                }
            } else {
                serve_peer(events[i].data.ptr);
            }
        }
    }
    return NULL;
}

static int run_server(void) {
    memset(answer_bytes, 'A', sizeof(answer_bytes));
    pthread_t threads[64];
    int count = options.threads > 64 ? 64 : options.threads;
    for (int t = 0; t < count; t++) pthread_create(&threads[t], NULL, server_thread, NULL);
    for (int t = 0; t < count; t++) pthread_join(threads[t], NULL);
    return 0;
}

// --- main -----------------------------------------------------------------------------------------------------

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execvp(argv[2], argv + 2);
        die(argv[2]);
    }
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || (strcmp(argv[1], "client") != 0 && strcmp(argv[1], "serve") != 0)) {
        fprintf(stderr, "usage: pacsgate-load client|serve|exec [options] (see the comment at the top of main.c)\n");
        return 2;
    }
    const char *script_path = NULL;
    for (int i = 2; i < argc; i++) {
        const char *flag = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "--persistent") == 0) { options.persistent = 1; continue; }
        if (!value) { fprintf(stderr, "pacsgate-load: %s needs a value\n", flag); return 2; }
        i++;
        if (strcmp(flag, "--host") == 0) options.host = value;
        else if (strcmp(flag, "--port") == 0) options.port = atoi(value);
        else if (strcmp(flag, "--script") == 0) script_path = value;
        else if (strcmp(flag, "--concurrency") == 0) options.concurrency = atoi(value);
        else if (strcmp(flag, "--threads") == 0) options.threads = atoi(value);
        else if (strcmp(flag, "--warmup") == 0) options.warmup = atof(value);
        else if (strcmp(flag, "--duration") == 0) options.duration = atof(value);
        else if (strcmp(flag, "--operations") == 0) options.operations = atol(value);
        else if (strcmp(flag, "--request") == 0) options.request = atoi(value);
        else if (strcmp(flag, "--response") == 0) options.response = atoi(value);
        else { fprintf(stderr, "pacsgate-load: unknown option %s\n", flag); return 2; }
    }
    if (options.threads < 1) options.threads = 1;
    if (options.concurrency < 1) options.concurrency = 1;
    if (options.request < 1) options.request = 1;
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)options.port);
    if (inet_pton(AF_INET, options.host, &target.sin_addr) != 1) { fprintf(stderr, "pacsgate-load: bad host\n"); return 2; }
    if (strcmp(argv[1], "serve") == 0) return run_server();
    if (!script_path) { fprintf(stderr, "pacsgate-load: client needs --script\n"); return 2; }
    read_script(script_path);
    return run_client();
}
