/*
 * N-API helpers shared by hotspare's C addons (hal/clock/native/timer.c, hal/prober/prober.c,
 * hal/nic/netlink-address.c, hal/systemd/unix-dgram.c):
 * errors thrown with the errno's name as `code`, `this` unwrapped, numbers set on objects.
 * Header-only (static inline): each addon is one translation unit built by `make` with gcc.
 */
#ifndef HOTSPARE_NAPI_HELPERS_H
#define HOTSPARE_NAPI_HELPERS_H

#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>

/* The errno's name for an error's `code`; `fallback` for the rest. */
static inline const char *hs_errno_code(int err, const char *fallback) {
  switch (err) {
  case EPERM: return "EPERM";
  case EACCES: return "EACCES";
  case EINVAL: return "EINVAL";
  case ENOMEM: return "ENOMEM";
  case EAGAIN: return "EAGAIN";
  case EMFILE: return "EMFILE";
  case ENFILE: return "ENFILE";
  case ESRCH: return "ESRCH";
  case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
  case ENODEV: return "ENODEV";
  case EEXIST: return "EEXIST";
  case ENOBUFS: return "ENOBUFS";
  case EPROTO: return "EPROTO";
  default: return fallback;
  }
}

/* Throws an Error with `code` and returns NULL, for `return hs_throw_error(...)`. */
static inline napi_value hs_throw_error(napi_env env, const char *code, const char *message) {
  napi_throw_error(env, code, message);
  return NULL;
}

/* Throws "what: strerror(err)hint" with the errno's name as code (else `fallback`). */
static inline napi_value hs_throw_errno(napi_env env, const char *fallback, const char *what, int err, const char *hint) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s%s", what, strerror(err), hint);
  return hs_throw_error(env, hs_errno_code(err, fallback), message);
}

/* The native object wrapped in `this`, and up to *argc arguments; NULL (thrown) when not ours. */
static inline void *hs_unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, const char *code,
                                   const char *what) {
  napi_value self;
  void *data = NULL;
  size_t none = 0;
  if (napi_get_cb_info(env, info, argc == NULL ? &none : argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    hs_throw_error(env, code, what);
    return NULL;
  }
  return data;
}

/* obj[name] = number. */
static inline void hs_set_number(napi_env env, napi_value obj, const char *name, double number) {
  napi_value value;
  napi_create_double(env, number, &value);
  napi_set_named_property(env, obj, name, value);
}

/* exports[name] = a function of this addon, for the module's init. */
static inline void hs_export_function(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value value;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &value);
  napi_set_named_property(env, exports, name, value);
}

#endif
