/*
 * hotspare-prober.node: the monitor's probe loop in a native thread.
 *
 * One thread per Prober sends an ICMP echo request to the target every interval (absolute
 * CLOCK_MONOTONIC deadlines, 1 ns timer slack), reads the echo replies, and times out the
 * probes that got none. JS hears of it in batches, through a thread-safe function:
 *   - answered probes are counted and handed over every `batch` answers,
 *   - a miss (no reply within the timeout) is handed over at once, after the answers
 *     counted before it (so the order of events is kept),
 *   - the first answer of the run, and the first after a miss, are handed over at once too
 *     (the monitor learns at once who holds the address, or that the primary recovered).
 * So at a 10 ms interval with batch 50 the event loop wakes twice a second, not twice per
 * probe, while a miss still reaches the role machine within microseconds of its deadline.
 *
 * The socket is its own: socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), ICMP_FILTER to echo
 * replies only, and a classic BPF filter that lets in only echo replies from the target with
 * the run's identifier: every raw ICMP socket gets a copy of every ICMP datagram, and without
 * it the thread would wake for other probers' traffic. Replies are still checked like
 * hal/icmp/packet.ts does (IHL, protocol, length, type/code, checksum, source, identifier, an
 * outstanding sequence); anything else is dropped and counted, never fatal. Sequences count
 * from 1: each run has an identifier of its own (hal/icmp/identifiers.ts hands them out).
 *
 * Exports (N-API 8, built by `make` without node-gyp):
 *   new Prober(options, callback)
 *     options: { target, identifier 0..65535, intervalUs, timeoutUs,
 *                startUs (CLOCK_MONOTONIC µs of the first probe),
 *                batch (answers per hand-over), priority (0: the normal scheduler; 1..99:
 *                the thread runs SCHED_FIFO at it, and creating it fails without CAP_SYS_NICE) }
 *     callback(batch): batch = { answered, lastSequence, lastReplyUs, lastRttUs,
 *                                missed (sequence or -1), missedSentUs, lateUs (array of
 *                                send lateness in µs, one per probe sent since the last batch),
 *                                dropped (packets that were not ours), error (string or null) }
 *                      After a batch with `error`, the thread has stopped.
 *   prober.stop()      stops the thread and waits for it; idempotent. Batches queued before
 *                      may still be called back afterwards: the JS side ignores them.
 *   prober.stats()     { sent, answered, missed, dropped } so far
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/icmp.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <node_api.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../base/napi-helpers.h"

#define MAX_OUTSTANDING 64
#define MAX_LATE 4096
#define PAYLOAD "hotspare"
#define PAYLOAD_LEN 8

typedef struct {
  bool used;
  uint16_t sequence;
  uint64_t sent_ns;
  uint64_t deadline_ns;
} outstanding_probe;

typedef struct {
  uint32_t answered;
  int32_t last_sequence;
  double last_reply_us;
  double last_rtt_us;
  int32_t missed;
  double missed_sent_us;
  uint32_t late_count;
  double late_us[MAX_LATE];
  uint32_t dropped;
  char error[160];
} batch_msg;

typedef struct {
  napi_threadsafe_function tsfn;
  pthread_t thread;
  bool started;
  bool stopped;
  int sock;
  int stop_fd;
  struct in_addr target;
  uint16_t identifier;
  uint16_t sequence;
  uint64_t interval_ns;
  uint64_t timeout_ns;
  uint64_t start_ns;
  uint32_t batch;
  outstanding_probe out[MAX_OUTSTANDING];
  batch_msg *pending; /* owned by the thread until handed over */
  bool recovering;    /* no answer yet, or the last event was a miss: hand the next answer over at once */
  _Atomic uint64_t sent, answered, missed, dropped;
} prober;

static uint64_t mono_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}

static uint16_t checksum(const uint8_t *data, size_t len) {
  uint32_t sum = 0;
  size_t i = 0;
  for (; i + 1 < len; i += 2) sum += (uint32_t)(data[i] << 8 | data[i + 1]);
  if (i < len) sum += (uint32_t)(data[i] << 8);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)(~sum & 0xffff);
}

static batch_msg *fresh_batch(void) {
  batch_msg *b = calloc(1, sizeof *b);
  if (b != NULL) {
    b->last_sequence = -1;
    b->missed = -1;
  }
  return b;
}

/* Hands the pending batch to JS (if it says anything) and starts a new one. */
static void flush(prober *p) {
  batch_msg *b = p->pending;
  if (b == NULL) return;
  if (b->answered == 0 && b->missed < 0 && b->error[0] == '\0' && b->late_count < MAX_LATE) return;
  p->pending = fresh_batch();
  if (napi_call_threadsafe_function(p->tsfn, b, napi_tsfn_nonblocking) != napi_ok) free(b);
}

static void fail(prober *p, const char *what, int err) {
  if (p->pending == NULL) p->pending = fresh_batch();
  if (p->pending == NULL) return;
  snprintf(p->pending->error, sizeof p->pending->error, "%s: %s", what, strerror(err));
  flush(p);
}

static void send_probe(prober *p, uint64_t now, uint64_t due) {
  uint8_t packet[8 + PAYLOAD_LEN];
  memset(packet, 0, sizeof packet);
  packet[0] = ICMP_ECHO;
  packet[4] = (uint8_t)(p->identifier >> 8);
  packet[5] = (uint8_t)(p->identifier & 0xff);
  packet[6] = (uint8_t)(p->sequence >> 8);
  packet[7] = (uint8_t)(p->sequence & 0xff);
  memcpy(packet + 8, PAYLOAD, PAYLOAD_LEN);
  uint16_t sum = checksum(packet, sizeof packet);
  packet[2] = (uint8_t)(sum >> 8);
  packet[3] = (uint8_t)(sum & 0xff);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = p->target};
  /* An unreachable target is not an error here: the probe gets no reply and times out. */
  (void)sendto(p->sock, packet, sizeof packet, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
  atomic_fetch_add(&p->sent, 1);
  /* The slot of the oldest probe is reused if all are taken (timeout/interval > 64 is refused). */
  int slot = 0;
  for (int i = 0; i < MAX_OUTSTANDING; i++) {
    if (!p->out[i].used) {
      slot = i;
      break;
    }
    if (p->out[i].sent_ns < p->out[slot].sent_ns) slot = i;
  }
  p->out[slot] = (outstanding_probe){.used = true, .sequence = p->sequence, .sent_ns = now, .deadline_ns = now + p->timeout_ns};
  if (p->pending != NULL) {
    if (p->pending->late_count == MAX_LATE) flush(p);
    if (p->pending != NULL) p->pending->late_us[p->pending->late_count++] = (double)(now - due) / 1000.0;
  }
  p->sequence = (uint16_t)(p->sequence % 0xffff + 1);
}

/* One datagram from the raw socket: IP header, then ICMP. Ours only if all checks pass. */
static void on_datagram(prober *p, const uint8_t *buf, ssize_t len, uint64_t at) {
  if (len < 20 || (buf[0] >> 4) != 4) goto foreign;
  size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
  size_t total = (size_t)(buf[2] << 8 | buf[3]);
  if (ihl < 20 || total < ihl + 8 || total > (size_t)len || buf[9] != IPPROTO_ICMP) goto foreign;
  if (memcmp(buf + 12, &p->target.s_addr, 4) != 0) goto foreign;
  const uint8_t *icmp = buf + ihl;
  size_t icmp_len = total - ihl;
  if (icmp[0] != ICMP_ECHOREPLY || icmp[1] != 0 || checksum(icmp, icmp_len) != 0) goto foreign;
  uint16_t identifier = (uint16_t)(icmp[4] << 8 | icmp[5]);
  uint16_t sequence = (uint16_t)(icmp[6] << 8 | icmp[7]);
  if (identifier != p->identifier) goto foreign;
  for (int i = 0; i < MAX_OUTSTANDING; i++) {
    outstanding_probe *o = &p->out[i];
    if (!o->used || o->sequence != sequence) continue;
    o->used = false;
    atomic_fetch_add(&p->answered, 1);
    if (p->pending == NULL) return;
    p->pending->answered++;
    p->pending->last_sequence = sequence;
    p->pending->last_reply_us = (double)at / 1000.0;
    p->pending->last_rtt_us = (double)(at - o->sent_ns) / 1000.0;
    if (p->recovering || p->pending->answered >= p->batch) {
      p->recovering = false;
      flush(p);
    }
    return;
  }
  /* A late or duplicate answer: proves nothing about now. */
foreign:
  atomic_fetch_add(&p->dropped, 1);
  if (p->pending != NULL) p->pending->dropped++;
}

static void drain(prober *p) {
  uint8_t buf[1500];
  for (;;) {
    ssize_t n = recv(p->sock, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) return; /* EAGAIN: drained (other errors: the next poll reports them) */
    on_datagram(p, buf, n, mono_ns());
  }
}

static void expire(prober *p, uint64_t now) {
  for (;;) {
    int oldest = -1;
    for (int i = 0; i < MAX_OUTSTANDING; i++) {
      if (p->out[i].used && p->out[i].deadline_ns <= now && (oldest < 0 || p->out[i].sent_ns < p->out[oldest].sent_ns)) oldest = i;
    }
    if (oldest < 0) return;
    p->out[oldest].used = false;
    atomic_fetch_add(&p->missed, 1);
    if (p->pending == NULL) continue;
    p->pending->missed = p->out[oldest].sequence;
    p->pending->missed_sent_us = (double)p->out[oldest].sent_ns / 1000.0;
    p->recovering = true;
    flush(p);
  }
}

static void *run(void *arg) {
  prober *p = arg;
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  uint64_t due = p->start_ns;
  for (;;) {
    /* Replies first: one that is already here counts even if its deadline just passed. */
    drain(p);
    uint64_t now = mono_ns();
    if (now >= due) {
      send_probe(p, now, due);
      due += p->interval_ns;
      /* Fell behind by more than one interval: skip the missed slots, send no burst. */
      if (due <= now) due += ((now - due) / p->interval_ns + 1) * p->interval_ns;
    }
    expire(p, now);
    uint64_t wake = due;
    for (int i = 0; i < MAX_OUTSTANDING; i++)
      if (p->out[i].used && p->out[i].deadline_ns < wake) wake = p->out[i].deadline_ns;
    now = mono_ns();
    uint64_t wait = wake > now ? wake - now : 0;
    struct timespec timeout = {.tv_sec = (time_t)(wait / 1000000000ULL), .tv_nsec = (long)(wait % 1000000000ULL)};
    struct pollfd fds[2] = {{.fd = p->sock, .events = POLLIN, .revents = 0}, {.fd = p->stop_fd, .events = POLLIN, .revents = 0}};
    int n = ppoll(fds, 2, &timeout, NULL);
    if (n < 0 && errno != EINTR) {
      fail(p, "ppoll", errno);
      break;
    }
    if (fds[1].revents != 0) break;
    if (fds[0].revents & (POLLERR | POLLNVAL)) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(p->sock, SOL_SOCKET, SO_ERROR, &err, &len);
      /* ICMP errors queued on a raw socket (host unreachable) are not fatal: read and go on. */
      if (fds[0].revents & POLLNVAL) {
        fail(p, "socket", EBADF);
        break;
      }
    }
  }
  flush(p);
  free(p->pending);
  p->pending = NULL;
  return NULL;
}

/* Runs on the JS thread: one batch becomes one callback(batch). */
static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  batch_msg *b = data;
  if (env == NULL || callback == NULL) {
    free(b);
    return;
  }
  napi_value obj, value, late, undefined;
  napi_create_object(env, &obj);
  hs_set_number(env, obj, "answered", b->answered);
  hs_set_number(env, obj, "lastSequence", b->last_sequence);
  hs_set_number(env, obj, "lastReplyUs", b->last_reply_us);
  hs_set_number(env, obj, "lastRttUs", b->last_rtt_us);
  hs_set_number(env, obj, "missed", b->missed);
  hs_set_number(env, obj, "missedSentUs", b->missed_sent_us);
  hs_set_number(env, obj, "dropped", b->dropped);
  napi_create_array_with_length(env, b->late_count, &late);
  for (uint32_t i = 0; i < b->late_count; i++) {
    napi_create_double(env, b->late_us[i], &value);
    napi_set_element(env, late, i, value);
  }
  napi_set_named_property(env, obj, "lateUs", late);
  if (b->error[0] != '\0') {
    napi_create_string_utf8(env, b->error, NAPI_AUTO_LENGTH, &value);
  } else {
    napi_get_null(env, &value);
  }
  napi_set_named_property(env, obj, "error", value);
  free(b);
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, callback, 1, &obj, NULL);
}

static void stop_prober(prober *p) {
  if (p->stopped) return;
  p->stopped = true;
  if (p->started) {
    uint64_t one = 1;
    (void)write(p->stop_fd, &one, sizeof one);
    pthread_join(p->thread, NULL);
    p->started = false;
  }
  if (p->sock >= 0) close(p->sock);
  if (p->stop_fd >= 0) close(p->stop_fd);
  p->sock = -1;
  p->stop_fd = -1;
  napi_release_threadsafe_function(p->tsfn, napi_tsfn_release);
}

static void finalize_prober(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  prober *p = data;
  stop_prober(p);
  free(p);
}

#define PROBER_ERR "ERR_HOTSPARE_PROBER"

static napi_value throw_errno(napi_env env, const char *what, int err) {
  return hs_throw_errno(env, PROBER_ERR, what, err, err == EPERM || err == EACCES ? " (root or CAP_NET_RAW needed)" : "");
}

/* options[name] as a number in [min, max]; false (and a thrown TypeError) otherwise. */
static bool number_option(napi_env env, napi_value options, const char *name, double min, double max, double *out) {
  napi_value value;
  double v = NAN;
  if (napi_get_named_property(env, options, name, &value) != napi_ok || napi_get_value_double(env, value, &v) != napi_ok || isnan(v) || v < min ||
      v > max) {
    char message[160];
    snprintf(message, sizeof message, "Prober options.%s must be a number in %.0f..%.0f", name, min, max);
    hs_throw_error(env, PROBER_ERR, message);
    return false;
  }
  *out = v;
  return true;
}

/* options[name] as an IPv4 address. */
static bool address_option(napi_env env, napi_value options, const char *name, struct in_addr *out) {
  napi_value value;
  napi_valuetype type = napi_undefined;
  if (napi_get_named_property(env, options, name, &value) != napi_ok || napi_typeof(env, value, &type) != napi_ok) return false;
  char text[64] = {0};
  size_t len = 0;
  if (type != napi_string || napi_get_value_string_utf8(env, value, text, sizeof text, &len) != napi_ok || inet_pton(AF_INET, text, out) != 1) {
    char message[160];
    snprintf(message, sizeof message, "Prober options.%s must be an IPv4 address", name);
    hs_throw_error(env, PROBER_ERR, message);
    return false;
  }
  return true;
}

/* Releases what prober_new made before the prober was handed to JS (fds are -1 when unopened). */
static void discard(prober *p) {
  if (p->sock >= 0) close(p->sock);
  if (p->stop_fd >= 0) close(p->stop_fd);
  free(p->pending);
  free(p);
}

static napi_value prober_new(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self, new_target;
  if (napi_get_new_target(env, info, &new_target) != napi_ok || new_target == NULL)
    return hs_throw_error(env, PROBER_ERR, "Prober must be called with new");
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc < 2 || napi_typeof(env, argv[0], &t0) != napi_ok || t0 != napi_object || napi_typeof(env, argv[1], &t1) != napi_ok || t1 != napi_function)
    return hs_throw_error(env, PROBER_ERR, "Prober(options, callback): options must be an object, callback a function");
  struct in_addr target;
  double identifier, interval, timeout, start, batch, priority;
  if (!address_option(env, argv[0], "target", &target) || !number_option(env, argv[0], "identifier", 0, 65535, &identifier) ||
      !number_option(env, argv[0], "intervalUs", 100, 3600e6, &interval) || !number_option(env, argv[0], "timeoutUs", 100, 3600e6, &timeout) ||
      !number_option(env, argv[0], "startUs", 0, 9007199254740992.0, &start) || !number_option(env, argv[0], "batch", 1, 100000, &batch) ||
      !number_option(env, argv[0], "priority", 0, 99, &priority))
    return NULL;
  if (timeout / interval > MAX_OUTSTANDING - 2)
    return hs_throw_error(env, PROBER_ERR, "Prober: timeoutUs may be at most 62 intervals");

  prober *p = calloc(1, sizeof *p);
  if (p == NULL) return throw_errno(env, "Prober", ENOMEM);
  p->sock = -1;
  p->stop_fd = -1;
  p->target = target;
  p->identifier = (uint16_t)identifier;
  p->sequence = 1;
  p->interval_ns = (uint64_t)(interval * 1000.0);
  p->timeout_ns = (uint64_t)(timeout * 1000.0);
  p->start_ns = (uint64_t)(ceil(start) * 1000.0);
  p->batch = (uint32_t)batch;
  p->recovering = true;
  p->sock = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP);
  if (p->sock < 0) {
    int err = errno;
    discard(p);
    return throw_errno(env, "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)", err);
  }
  struct icmp_filter filter = {.data = ~(1U << ICMP_ECHOREPLY)};
  if (setsockopt(p->sock, SOL_RAW, ICMP_FILTER, &filter, sizeof filter) != 0) {
    int err = errno;
    discard(p);
    return throw_errno(env, "setsockopt", err);
  }
  /* In the kernel: IP source == target, ICMP type == echo reply, identifier == ours. Loads
   * past the end of a short packet make the filter drop it. */
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 12),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohl(target.s_addr), 0, 6),
      BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
      BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP_ECHOREPLY, 0, 3),
      BPF_STMT(BPF_LD | BPF_H | BPF_IND, 4),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)identifier, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog program = {.len = sizeof code / sizeof code[0], .filter = code};
  if (setsockopt(p->sock, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0) {
    int err = errno;
    discard(p);
    return throw_errno(env, "setsockopt(SO_ATTACH_FILTER)", err);
  }
  p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  p->pending = fresh_batch();
  if (p->stop_fd < 0 || p->pending == NULL) {
    int err = p->stop_fd < 0 ? errno : ENOMEM;
    discard(p);
    return throw_errno(env, "eventfd", err);
  }
  napi_value name;
  napi_create_string_utf8(env, "hotspare:prober", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &p->tsfn) != napi_ok) {
    discard(p);
    return NULL;
  }
  if (napi_wrap(env, self, p, finalize_prober, NULL, NULL) != napi_ok) {
    p->stopped = true;
    napi_release_threadsafe_function(p->tsfn, napi_tsfn_release);
    discard(p);
    return NULL;
  }
  /* The agent's main thread may run SCHED_FIFO with SCHED_RESET_ON_FORK, which new threads
   * do not inherit: the priority is asked for explicitly. */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (priority >= 1) {
    struct sched_param param = {.sched_priority = (int)priority};
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
    pthread_attr_setschedparam(&attr, &param);
  }
  int rc = pthread_create(&p->thread, &attr, run, p);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    stop_prober(p);
    return throw_errno(env, rc == EPERM ? "pthread_create at SCHED_FIFO (needs CAP_SYS_NICE)" : "pthread_create", rc);
  }
  p->started = true;
  return self;
}

static prober *unwrap_this(napi_env env, napi_callback_info info) {
  return hs_unwrap_this(env, info, NULL, NULL, PROBER_ERR, "not a Prober");
}

static napi_value prober_stop(napi_env env, napi_callback_info info) {
  prober *p = unwrap_this(env, info);
  if (p != NULL) stop_prober(p);
  return NULL;
}

static napi_value prober_stats(napi_env env, napi_callback_info info) {
  prober *p = unwrap_this(env, info);
  if (p == NULL) return NULL;
  napi_value obj, value;
  napi_create_object(env, &obj);
  napi_create_double(env, (double)atomic_load(&p->sent), &value);
  napi_set_named_property(env, obj, "sent", value);
  napi_create_double(env, (double)atomic_load(&p->answered), &value);
  napi_set_named_property(env, obj, "answered", value);
  napi_create_double(env, (double)atomic_load(&p->missed), &value);
  napi_set_named_property(env, obj, "missed", value);
  napi_create_double(env, (double)atomic_load(&p->dropped), &value);
  napi_set_named_property(env, obj, "dropped", value);
  return obj;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"stop", NULL, prober_stop, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, prober_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value prober_class;
  if (napi_define_class(env, "Prober", NAPI_AUTO_LENGTH, prober_new, NULL, sizeof methods / sizeof methods[0], methods, &prober_class) != napi_ok)
    return NULL;
  napi_property_descriptor functions[] = {
      {"Prober", NULL, NULL, NULL, NULL, prober_class, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, 1, functions) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(hotspare_prober, init)
