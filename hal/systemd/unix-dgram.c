/*
 * hotspare-unixdgram.node: sends one datagram to a unix socket path. Node has no
 * AF_UNIX/SOCK_DGRAM sockets, and the two systemd protocols the agent speaks are exactly
 * that: sd_notify (READY=1, WATCHDOG=1, ... to $NOTIFY_SOCKET) and journald's native
 * protocol (KEY=value fields to /run/systemd/journal/socket).
 *
 * Exports (N-API 8, built by `make` without node-gyp like the timer addon):
 *   send(path, buffer) -> 0 on success, else the errno (a number; never throws for a
 *                         failed send, so the caller decides what a lost datagram means)
 * A path starting with '@' names an abstract socket (the '@' becomes a NUL byte), as
 * $NOTIFY_SOCKET may. One socket (SOCK_DGRAM | SOCK_CLOEXEC) is opened per process on first
 * use and kept; sends are non-blocking (MSG_DONTWAIT), so a journald that stalls costs a
 * dropped line (EAGAIN), never a blocked event loop.
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../base/napi-helpers.h"

static int fd = -1;

static napi_value number(napi_env env, int value) {
  napi_value out;
  napi_create_int32(env, value, &out);
  return out;
}

static napi_value send_datagram(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, "ERR_HOTSPARE_UNIXDGRAM", "send(path, buffer) needs two arguments");
    return NULL;
  }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t length = 0;
  if (napi_get_value_string_utf8(env, argv[0], addr.sun_path, sizeof addr.sun_path, &length) != napi_ok ||
      length == 0 || length >= sizeof addr.sun_path - 1) {
    napi_throw_type_error(env, "ERR_HOTSPARE_UNIXDGRAM", "path must be a non-empty string shorter than 107 bytes");
    return NULL;
  }
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  void *data = NULL;
  size_t size = 0;
  bool is_buffer = false;
  if (napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[1], &data, &size) != napi_ok) {
    napi_throw_type_error(env, "ERR_HOTSPARE_UNIXDGRAM", "buffer must be a Buffer");
    return NULL;
  }
  if (fd < 0) {
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return number(env, errno);
  }
  socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);
  if (sendto(fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len) < 0)
    return number(env, errno);
  return number(env, 0);
}

static napi_value init(napi_env env, napi_value exports) {
  hs_export_function(env, exports, "send", send_datagram);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
