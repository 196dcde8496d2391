/*
 * hotspare-netlink.node: adds an IPv4 address to an interface with one rtnetlink request
 * from the agent's own thread. `ip -batch` does the same through a pipe to another process
 * and back, on the takeover's path (README "Benchmarks" has what that cost); here it is one
 * system call and the kernel's acknowledgement.
 *
 * Exports (N-API 8, built by `make` without node-gyp like the other addons):
 *   add(iface, address, prefix) -> "" when the interface holds ADDRESS/PREFIX, else the
 *       reason ("ENODEV: No such device", ...). Replace semantics (NLM_F_CREATE |
 *       NLM_F_REPLACE, as `ip address replace`): an address already held is no error.
 *       Never throws for a refusal, so the caller names the interface and the operation;
 *       throws TypeError for arguments of the wrong type.
 * One rtnetlink socket is opened per process on first use and kept (the agent's network
 * namespace never changes under it).
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "../base/napi-helpers.h"
#include "../base/rtnl-address.h"

static int fd = -1;
static unsigned seq = 0;

static napi_value text(napi_env env, const char *value) {
  napi_value out;
  napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* "ENAME: strerror" for the errno (its name when hs_errno_code knows it, else the number). */
static napi_value reason(napi_env env, int err) {
  const char *name = hs_errno_code(err, NULL);
  char message[160];
  if (name != NULL)
    snprintf(message, sizeof message, "%s: %s", name, strerror(err));
  else
    snprintf(message, sizeof message, "errno %d: %s", err, strerror(err));
  return text(env, message);
}

static napi_value add(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char iface[IF_NAMESIZE + 1];
  char ip[INET_ADDRSTRLEN + 1];
  size_t length = 0;
  int32_t prefix = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_string_utf8(env, argv[0], iface, sizeof iface, &length) != napi_ok || length == 0 ||
      length >= IF_NAMESIZE ||
      napi_get_value_string_utf8(env, argv[1], ip, sizeof ip, &length) != napi_ok || length == 0 ||
      length >= INET_ADDRSTRLEN || napi_get_value_int32(env, argv[2], &prefix) != napi_ok || prefix < 0 ||
      prefix > 32) {
    napi_throw_type_error(env, "ERR_HOTSPARE_NETLINK",
                          "add(iface, address, prefix) needs an interface name, an IPv4 address and 0..32");
    return NULL;
  }
  struct in_addr address;
  if (inet_pton(AF_INET, ip, &address) != 1) return reason(env, EINVAL);
  unsigned index = if_nametoindex(iface);
  if (index == 0) return reason(env, errno);
  if (fd < 0) {
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return reason(env, errno);
  }
  seq += 1;
  int error = hs_rtnl_address(fd, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, index, address, prefix, seq);
  return error == 0 ? text(env, "") : reason(env, error);
}

static napi_value init(napi_env env, napi_value exports) {
  hs_export_function(env, exports, "add", add);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
