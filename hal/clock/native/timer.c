/*
 * hotspare-timer.node: a one-shot CLOCK_MONOTONIC timer on the Node event loop, with
 * microsecond wake-ups (libuv timers are whole milliseconds).
 *
 * A timerfd (TFD_NONBLOCK | TFD_CLOEXEC) armed with TFD_TIMER_ABSTIME, watched by a
 * uv_poll_t on the loop of the calling thread. When it expires, the poll callback (the
 * loop's poll phase, next to socket I/O) calls the JS callback once, telling it whether
 * other I/O is waiting, so that it can let that I/O go first.
 * The JS side (hal/clock/native.ts) keeps the timer heap; this file only sleeps until the
 * earliest deadline.
 *
 * Exports (N-API 8, built by `make` without node-gyp; napi_* and uv_* resolve from the
 * node process at load time):
 *   new Timer(callback)        one timerfd; on every expiry, callback(ioPending): true
 *                              when other fds of the loop are ready (I/O not yet handled)
 *   timer.arm(deadlineUs)      (re)arms for CLOCK_MONOTONIC microseconds (fractions round
 *                              up, so the wake is never before the deadline); a deadline
 *                              at or before now expires at once. Keeps the loop alive.
 *   timer.disarm()             no expiry until armed again; stops keeping the loop alive
 *   timer.close()              releases the fd; idempotent; other calls then throw
 *   monotonicNs()              clock_gettime(CLOCK_MONOTONIC) as a bigint (for tests)
 *   setRealtime(priority)      SCHED_FIFO (with SCHED_RESET_ON_FORK) at 1..99 for the
 *                              calling thread; 0: back to SCHED_OTHER
 *   pinCpu(index)              pins the calling thread to the index-th CPU (from 0) of its
 *                              current affinity mask; returns that CPU's number
 *   allowedCpus()              how many CPUs the calling thread may run on
 *   channelOpen()              a lease enforcer's command channel (`lease.thread: twins`):
 *                              returns its id. Its write end is one fd number for the life
 *                              of the channel, so every worker thread of the process can
 *                              write to it through the id (a Node stream is its own thread's)
 *   channelReader(id)          a new pipe behind the channel: the write end takes the same
 *                              fd number (dup3), the last command of each slot is written
 *                              into it again, and the read end (O_CLOEXEC) is returned, to
 *                              be the enforcer's stdin and then closed here
 *   channelSend(id, slot, line) writes `line\n` (non-blocking, one write below PIPE_BUF, so
 *                              two threads' lines never interleave; outside the lock) and
 *                              keeps it as the slot's last command; returns false when no
 *                              enforcer was started on the channel yet (the line is kept,
 *                              and the first channelReader writes it in), true when written;
 *                              throws with the errno's code (EPIPE: no reader, EAGAIN: the
 *                              enforcer reads nothing)
 *   channelClose(id)           ends the write end (the enforcer reads end of input) by putting
 *                              a dead pipe under its number; later sends throw
 * No mlockall: tried, and V8 (Node 20) aborts ("Check failed: 0 == ret" in
 * OS::SetPermissions) when it discards pages of a locked heap.
 * Errors thrown carry `code` (the errno name, or ERR_HOTSPARE_TIMER for misuse).
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <node_api.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../../base/napi-helpers.h"

/* 2^53 µs is about 285 years of uptime; later deadlines are clamped (ns then fit int64). */
#define MAX_DEADLINE_US 9007199254740992.0

typedef struct {
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  uv_loop_t *loop;
  uv_poll_t poll;
  int fd;
  bool polling;
  bool closing;      /* close() ran (or the finalizer did it) */
  bool handle_closed; /* libuv released the handle */
  bool finalized;     /* the JS object is gone */
} native_timer;

#define TIMER_ERR "ERR_HOTSPARE_TIMER"

static napi_value throw_errno(napi_env env, const char *what, int err, const char *hint) {
  return hs_throw_errno(env, TIMER_ERR, what, err, hint);
}

static void maybe_free(native_timer *t) {
  if (t->handle_closed && t->finalized) free(t);
}

static void on_handle_closed(uv_handle_t *handle) {
  native_timer *t = handle->data;
  close(t->fd);
  t->fd = -1;
  t->handle_closed = true;
  maybe_free(t);
}

static void close_timer(native_timer *t) {
  if (t->closing) return;
  t->closing = true;
  uv_poll_stop(&t->poll);
  t->polling = false;
  uv_close((uv_handle_t *)&t->poll, on_handle_closed);
  napi_delete_reference(t->env, t->callback);
  napi_async_destroy(t->env, t->context);
}

static void finalize_timer(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  native_timer *t = data;
  close_timer(t);
  t->finalized = true;
  maybe_free(t);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  native_timer *t = handle->data;
  if (t->closing) return;
  uint64_t expirations = 0;
  if (status == 0) {
    ssize_t n = read(t->fd, &expirations, sizeof expirations);
    /* EAGAIN: re-armed or disarmed since epoll reported it; not an expiry. */
    if (n != (ssize_t)sizeof expirations) return;
  }
  /* status < 0 (a poll error): call back anyway, the JS side re-checks time and re-arms. */
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  /* Other I/O pending? Level-triggered fds still ready (sockets not yet read in this poll
   * phase, or data arrived since) leave the loop's epoll fd readable; this timerfd was just
   * read, so it does not count. */
  struct pollfd backend = {.fd = uv_backend_fd(t->loop), .events = POLLIN, .revents = 0};
  bool io_pending = poll(&backend, 1, 0) > 0;
  napi_value fn, recv, result, argv[1];
  /* make_callback (receiver must be an object: the global one) runs process.nextTick and
   * microtasks after, like any I/O callback. A throw goes to 'uncaughtException'. */
  if (napi_get_reference_value(env, t->callback, &fn) == napi_ok && fn != NULL && napi_get_global(env, &recv) == napi_ok &&
      napi_get_boolean(env, io_pending, &argv[0]) == napi_ok)
    napi_make_callback(env, t->context, recv, fn, 1, argv, &result);
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

static native_timer *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  return hs_unwrap_this(env, info, argc, argv, TIMER_ERR, "not a Timer");
}

static napi_value timer_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self, target;
  if (napi_get_new_target(env, info, &target) != napi_ok || target == NULL)
    return hs_throw_error(env, TIMER_ERR, "Timer must be called with new");
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  napi_valuetype type = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function)
    return hs_throw_error(env, TIMER_ERR, "Timer(callback): callback must be a function");
  struct uv_loop_s *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL)
    return hs_throw_error(env, TIMER_ERR, "no libuv event loop");

  native_timer *t = calloc(1, sizeof *t);
  if (t == NULL) return throw_errno(env, "Timer", ENOMEM, "");
  t->env = env;
  t->loop = loop;
  t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (t->fd < 0) {
    int err = errno;
    free(t);
    return throw_errno(env, "timerfd_create", err, "");
  }
  int rc = uv_poll_init(loop, &t->poll, t->fd);
  if (rc != 0) {
    close(t->fd);
    free(t);
    char message[128];
    snprintf(message, sizeof message, "uv_poll_init: %s", uv_strerror(rc));
    return hs_throw_error(env, TIMER_ERR, message);
  }
  t->poll.data = t;
  napi_value name;
  napi_create_string_utf8(env, "hotspare:timer", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[0], 1, &t->callback) != napi_ok || napi_async_init(env, NULL, name, &t->context) != napi_ok ||
      napi_wrap(env, self, t, finalize_timer, NULL, NULL) != napi_ok) {
    /* Unreachable in practice; release what exists and let the pending exception speak. */
    t->finalized = true;
    close_timer(t);
    return NULL;
  }
  return self;
}

static napi_value timer_arm(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  native_timer *t = unwrap_this(env, info, &argc, argv);
  if (t == NULL) return NULL;
  if (t->closing) return hs_throw_error(env, TIMER_ERR, "arm: timer is closed");
  double us = NAN;
  if (argc < 1 || napi_get_value_double(env, argv[0], &us) != napi_ok || isnan(us))
    return hs_throw_error(env, TIMER_ERR, "arm(deadlineUs): deadlineUs must be a number");
  /* An all-zero it_value would disarm: a past deadline becomes 1 ns, which expires at once. */
  us = ceil(us);
  if (us > MAX_DEADLINE_US) us = MAX_DEADLINE_US;
  int64_t ns = us < 1.0 ? 1 : (int64_t)us * 1000;
  struct itimerspec spec = {.it_interval = {0, 0}, .it_value = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000}};
  if (timerfd_settime(t->fd, TFD_TIMER_ABSTIME, &spec, NULL) != 0) return throw_errno(env, "timerfd_settime", errno, "");
  if (!t->polling) {
    int rc = uv_poll_start(&t->poll, UV_READABLE, on_poll);
    if (rc != 0) {
      char message[128];
      snprintf(message, sizeof message, "uv_poll_start: %s", uv_strerror(rc));
      return hs_throw_error(env, TIMER_ERR, message);
    }
    t->polling = true;
  }
  return NULL;
}

static napi_value timer_disarm(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  native_timer *t = unwrap_this(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  if (t->closing) return NULL;
  struct itimerspec zero = {{0, 0}, {0, 0}};
  /* Setting the time also clears an expiry not yet read, so no stale wake follows. */
  if (timerfd_settime(t->fd, 0, &zero, NULL) != 0) return throw_errno(env, "timerfd_settime", errno, "");
  if (t->polling) {
    uv_poll_stop(&t->poll);
    t->polling = false;
  }
  return NULL;
}

static napi_value timer_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  native_timer *t = unwrap_this(env, info, &argc, NULL);
  if (t == NULL) return NULL;
  close_timer(t);
  return NULL;
}

static napi_value monotonic_ns(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  napi_value result;
  napi_create_bigint_uint64(env, (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec, &result);
  return result;
}

static napi_value set_realtime(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  int32_t priority = -1;
  double raw = NAN;
  if (argc >= 1 && napi_get_value_double(env, argv[0], &raw) == napi_ok && raw == floor(raw) && raw >= 0 && raw <= 99) priority = (int32_t)raw;
  int max = sched_get_priority_max(SCHED_FIFO);
  if (priority < 0 || priority > max) {
    char message[128];
    snprintf(message, sizeof message, "setRealtime(priority): priority must be an integer 1..%d (0: back to SCHED_OTHER)", max);
    return hs_throw_error(env, TIMER_ERR, message);
  }
  struct sched_param param = {.sched_priority = priority};
  /* pid 0 is the calling thread (the JS thread), not the libuv and V8 worker threads.
   * RESET_ON_FORK: threads and processes it creates later (the libuv pool, ipmitool, ip)
   * start as SCHED_OTHER instead of inheriting real-time priority. */
  if (sched_setscheduler(0, priority == 0 ? SCHED_OTHER : SCHED_FIFO | SCHED_RESET_ON_FORK, &param) != 0) {
    int err = errno;
    return throw_errno(env, priority == 0 ? "sched_setscheduler(SCHED_OTHER)" : "sched_setscheduler(SCHED_FIFO)", err,
                       err == EPERM ? " (needs CAP_SYS_NICE, or RLIMIT_RTPRIO at least the priority)" : "");
  }
  return NULL;
}

static napi_value pin_cpu(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  double raw = NAN;
  if (argc < 1 || napi_get_value_double(env, argv[0], &raw) != napi_ok || raw != floor(raw) || raw < 0 || raw >= CPU_SETSIZE)
    return hs_throw_error(env, TIMER_ERR, "pinCpu(index): index must be a whole number from 0");
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return throw_errno(env, "sched_getaffinity", errno, "");
  int wanted = (int)raw;
  int seen = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (seen++ != wanted) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    /* pid 0: the calling thread only. */
    if (sched_setaffinity(0, sizeof one, &one) != 0) return throw_errno(env, "sched_setaffinity", errno, "");
    napi_value result;
    napi_create_int32(env, cpu, &result);
    return result;
  }
  char message[128];
  snprintf(message, sizeof message, "pinCpu(%d): this thread may run on %d CPUs", wanted, CPU_COUNT(&allowed));
  return hs_throw_error(env, TIMER_ERR, message);
}

static napi_value allowed_cpus(napi_env env, napi_callback_info info) {
  (void)info;
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return throw_errno(env, "sched_getaffinity", errno, "");
  napi_value result;
  napi_create_int32(env, CPU_COUNT(&allowed), &result);
  return result;
}

/* Enforcer command channels: process-wide, so that every worker thread reaches the same one. */
#define CHANNELS 16
#define CHANNEL_SLOTS 2
#define CHANNEL_LINE 64
struct channel {
  int used;
  int fd; /* the write end, one number for the channel's life; -1 closed or not opened yet */
  char last[CHANNEL_SLOTS][CHANNEL_LINE];
};
static struct channel channels[CHANNELS];
static pthread_mutex_t channel_lock = PTHREAD_MUTEX_INITIALIZER;

static int channel_arg(napi_env env, napi_value value, int *id) {
  double raw = NAN;
  if (napi_get_value_double(env, value, &raw) != napi_ok || raw != floor(raw) || raw < 0 || raw >= CHANNELS) return -1;
  *id = (int)raw;
  return channels[*id].used ? 0 : -1;
}

static napi_value channel_open(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_mutex_lock(&channel_lock);
  int id = -1;
  for (int i = 0; i < CHANNELS && id < 0; i++)
    if (!channels[i].used) id = i;
  if (id >= 0) {
    memset(&channels[id], 0, sizeof channels[id]);
    channels[id].used = 1;
    channels[id].fd = -1;
  }
  pthread_mutex_unlock(&channel_lock);
  if (id < 0) return hs_throw_error(env, TIMER_ERR, "channelOpen(): all enforcer channels are in use");
  napi_value result;
  napi_create_int32(env, id, &result);
  return result;
}

static napi_value channel_reader(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int id;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  pthread_mutex_lock(&channel_lock);
  if (argc < 1 || channel_arg(env, argv[0], &id) != 0) {
    pthread_mutex_unlock(&channel_lock);
    return hs_throw_error(env, TIMER_ERR, "channelReader(id): not an open channel");
  }
  struct channel *c = &channels[id];
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    int err = errno;
    pthread_mutex_unlock(&channel_lock);
    return throw_errno(env, "pipe2", err, "");
  }
  /* The read end blocks (the enforcer polls it); the write end never does. */
  fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) & ~O_NONBLOCK);
  if (c->fd < 0) {
    c->fd = p[1];
  } else {
    if (dup3(p[1], c->fd, O_CLOEXEC) < 0) {
      int err = errno;
      close(p[0]);
      close(p[1]);
      pthread_mutex_unlock(&channel_lock);
      return throw_errno(env, "dup3", err, "");
    }
    close(p[1]);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  }
  for (int slot = 0; slot < CHANNEL_SLOTS; slot++)
    if (c->last[slot][0] != '\0' && write(c->fd, c->last[slot], strlen(c->last[slot])) < 0) {
      /* A fresh pipe holds 64 KiB: a failure here is no full pipe. */
    }
  pthread_mutex_unlock(&channel_lock);
  napi_value result;
  napi_create_int32(env, p[0], &result);
  return result;
}

static napi_value channel_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int id;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  double slot_raw = NAN;
  char line[CHANNEL_LINE];
  size_t length = 0;
  if (argc < 3 || napi_get_value_double(env, argv[1], &slot_raw) != napi_ok || slot_raw != floor(slot_raw) ||
      slot_raw < 0 || slot_raw >= CHANNEL_SLOTS ||
      napi_get_value_string_utf8(env, argv[2], line, sizeof line - 1, &length) != napi_ok || length == 0 ||
      length >= sizeof line - 2)
    return hs_throw_error(env, TIMER_ERR, "channelSend(id, slot, line): slot 0 or 1 and a line of at most 60 bytes");
  line[length] = '\n';
  line[length + 1] = '\0';
  pthread_mutex_lock(&channel_lock);
  if (channel_arg(env, argv[0], &id) != 0) {
    pthread_mutex_unlock(&channel_lock);
    return hs_throw_error(env, TIMER_ERR, "channelSend(id, slot, line): not an open channel");
  }
  struct channel *c = &channels[id];
  int slot = (int)slot_raw;
  memcpy(c->last[slot], line, length + 2);
  int fd = c->fd;
  pthread_mutex_unlock(&channel_lock);
  /* The write goes out after the lock: it wakes the enforcer (an interrupt to another CPU,
   * where a virtual machine's host may stop this CPU), and the other twin must not wait for
   * the lock meanwhile. One write below PIPE_BUF is atomic, so the twins' lines never mix.
   * The fd number stays valid: a restart swaps a new pipe in under it (dup3), and a close
   * leaves a dead pipe there (writes fail with EPIPE), never a free number. */
  napi_value written;
  /* No enforcer yet (the twin that starts it is still starting): the line is the slot's last
   * command, which the first channelReader writes into the enforcer's pipe. */
  if (fd < 0) {
    napi_get_boolean(env, false, &written);
    return written;
  }
  if (write(fd, line, length + 1) < 0) return throw_errno(env, "write to the enforcer", errno, "");
  napi_get_boolean(env, true, &written);
  return written;
}

static napi_value channel_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int id;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  pthread_mutex_lock(&channel_lock);
  if (argc >= 1 && channel_arg(env, argv[0], &id) == 0) {
    int fd = channels[id].fd;
    if (fd >= 0) {
      /* A dead pipe takes the number (the enforcer reads end of input: its write end is gone),
       * so a twin's write already past the lock fails with EPIPE instead of reaching whatever
       * file would reuse a freed number. The number stays taken for the process's life. */
      int dead[2];
      if (pipe2(dead, O_CLOEXEC | O_NONBLOCK) == 0) {
        close(dead[0]);
        if (dup3(dead[1], fd, O_CLOEXEC) < 0) close(fd);
        close(dead[1]);
      } else {
        close(fd);
      }
    }
    channels[id].fd = -1;
    channels[id].used = 0;
  }
  pthread_mutex_unlock(&channel_lock);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"arm", NULL, timer_arm, NULL, NULL, NULL, napi_default, NULL},
      {"disarm", NULL, timer_disarm, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, timer_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value timer_class;
  if (napi_define_class(env, "Timer", NAPI_AUTO_LENGTH, timer_new, NULL, sizeof methods / sizeof methods[0], methods, &timer_class) != napi_ok)
    return NULL;
  napi_property_descriptor functions[] = {
      {"Timer", NULL, NULL, NULL, NULL, timer_class, napi_enumerable, NULL},
      {"monotonicNs", NULL, monotonic_ns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setRealtime", NULL, set_realtime, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pinCpu", NULL, pin_cpu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"allowedCpus", NULL, allowed_cpus, NULL, NULL, NULL, napi_enumerable, NULL},
      {"channelOpen", NULL, channel_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"channelReader", NULL, channel_reader, NULL, NULL, NULL, napi_enumerable, NULL},
      {"channelSend", NULL, channel_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"channelClose", NULL, channel_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(hotspare_timer, init)
