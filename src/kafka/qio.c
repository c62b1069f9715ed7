/* librdkafka queue wake-ups on the libuv loop.
 *
 * librdkafka can write a byte to a file descriptor when one of its queues
 * becomes non-empty (rd_kafka_queue_io_event_enable); it writes at most once
 * until the queue is served again. A non-blocking pipe carries that byte to a
 * uv_poll_t, whose callback drains the pipe and tells the stage. So the loop
 * never blocks on Kafka, and a stage serves its queue only when there is
 * something in it. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "kafka/internal.h"

struct rv__kqio {
    uv_poll_t poll;
    int fds[2];
    rd_kafka_queue_t *q;
    void (*cb)(void *opaque);
    void *opaque;
    rv_graph_t *g;
    bool closing;
};

static void drain_pipe(int fd)
{
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    rv__kqio_t *io = h->data;
    drain_pipe(io->fds[0]);
    if (!io->closing) io->cb(io->opaque);
}

rv__kqio_t *rv__kqio_new(uv_loop_t *loop, rd_kafka_queue_t *q, void (*cb)(void *opaque),
                         void *opaque, rv_error_t **errp)
{
    rv__kqio_t *io = calloc(1, sizeof(*io));
    if (!io) {
        rv_error_set(errp, RV_ERR_NOMEM, true, "kafka: out of memory");
        return NULL;
    }
    if (pipe2(io->fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        int e = errno;
        free(io);
        rv_error_set(errp, RV_ERR_FROM_ERRNO(e), true, "kafka: pipe for queue wake-ups: %s",
                     rv_err_str(RV_ERR_FROM_ERRNO(e)));
        return NULL;
    }
    int rc = uv_poll_init(loop, &io->poll, io->fds[0]);
    if (rc == 0) rc = uv_poll_start(&io->poll, UV_READABLE, poll_cb);
    if (rc != 0) {
        close(io->fds[0]);
        close(io->fds[1]);
        free(io);
        rv_error_set(errp, RV_ERR_FROM_UV(rc), true, "kafka: polling the wake-up pipe: %s",
                     uv_strerror(rc));
        return NULL;
    }
    io->poll.data = io;
    io->q = q;
    io->cb = cb;
    io->opaque = opaque;
    rd_kafka_queue_io_event_enable(q, io->fds[1], "1", 1);
    return io;
}

static void closed_cb(uv_handle_t *h)
{
    rv__kqio_t *io = h->data;
    close(io->fds[0]);
    close(io->fds[1]);
    rv_graph_t *g = io->g;
    free(io);
    if (g) rv_graph_unhold(g);
}

void rv__kqio_close(rv__kqio_t *io, rv_graph_t *g)
{
    if (!io) return;
    /* No wake-up may be written into a pipe that is about to close. */
    rd_kafka_queue_io_event_enable(io->q, -1, NULL, 0);
    io->closing = true;
    io->g = g;
    if (g) rv_graph_hold(g);
    uv_close((uv_handle_t *)&io->poll, closed_cb);
}
