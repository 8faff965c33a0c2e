// Node-API addon: mount(2) and umount2(2) on libuv's thread pool.
// Node has neither call, and running mount(8) or umount(8) for each container rootfs costs about
// 12 ms of process start on this class of machine against about 1 ms for the system call itself.
// Exports mount(source, target, fstype, flags, data) and unmount(target, flags), each returning a
// promise; a refusal rejects with an Error whose `code` is the errno name (EINVAL, EBUSY, ...).
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

enum op { OP_MOUNT, OP_UNMOUNT };

struct call {
  enum op op;
  char *source, *target, *fstype, *data;
  unsigned long flags;
  int err;
  napi_deferred deferred;
  napi_async_work work;
};

static void free_call(struct call *c) {
  free(c->source);
  free(c->target);
  free(c->fstype);
  free(c->data);
  free(c);
}

// A JS string argument copied to the heap; NULL (with a TypeError thrown) when it is not a string.
static char *string_arg(napi_env env, napi_value value, const char *name) {
  size_t len;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) {
    char message[96];
    snprintf(message, sizeof message, "%s must be a string", name);
    napi_throw_type_error(env, NULL, message);
    return NULL;
  }
  char *out = malloc(len + 1);
  if (!out) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, value, out, len + 1, &len);
  return out;
}

static void execute(napi_env env, void *data) {
  (void)env;
  struct call *c = data;
  int rc = c->op == OP_MOUNT
               ? mount(c->source, c->target, c->fstype, c->flags, c->data[0] ? c->data : NULL)
               : umount2(c->target, (int)c->flags);
  c->err = rc == 0 ? 0 : errno;
}

static void complete(napi_env env, napi_status status, void *data) {
  struct call *c = data;
  napi_value result;
  if (status == napi_ok && c->err == 0) {
    napi_get_undefined(env, &result);
    napi_resolve_deferred(env, c->deferred, result);
  } else {
    int err = status == napi_ok ? c->err : ECANCELED;
    char message[4096 + 256];
    if (c->op == OP_MOUNT && c->fstype[0])
      snprintf(message, sizeof message, "mount %s on %s (type %s): %s", c->source, c->target, c->fstype,
               strerror(err));
    else if (c->op == OP_MOUNT)  // a bind, a remount or a propagation change: the flags say which
      snprintf(message, sizeof message, "mount %s%son %s (flags 0x%lx): %s", c->source, c->source[0] ? " " : "",
               c->target, c->flags, strerror(err));
    else
      snprintf(message, sizeof message, "umount %s: %s", c->target, strerror(err));
    napi_value msg, code;
    napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
    const char *name = strerrorname_np(err);
    napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &result);
    napi_reject_deferred(env, c->deferred, result);
  }
  napi_delete_async_work(env, c->work);
  free_call(c);
}

static napi_value queue(napi_env env, struct call *c) {
  napi_value promise, name;
  if (napi_create_promise(env, &c->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "berth-mount", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, c, &c->work) != napi_ok ||
      napi_queue_async_work(env, c->work) != napi_ok) {
    free_call(c);
    napi_throw_error(env, NULL, "cannot queue the mount call");
    return NULL;
  }
  return promise;
}

static int flags_arg(napi_env env, napi_value value, unsigned long *out) {
  double flags;
  if (napi_get_value_double(env, value, &flags) != napi_ok || flags < 0) {
    napi_throw_type_error(env, NULL, "flags must be a non-negative number");
    return 0;
  }
  *out = (unsigned long)flags;
  return 1;
}

static napi_value do_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "mount(source, target, fstype, flags, data)");
    return NULL;
  }
  struct call *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->op = OP_MOUNT;
  if (!(c->source = string_arg(env, argv[0], "source")) || !(c->target = string_arg(env, argv[1], "target")) ||
      !(c->fstype = string_arg(env, argv[2], "fstype")) || !flags_arg(env, argv[3], &c->flags) ||
      !(c->data = string_arg(env, argv[4], "data"))) {
    free_call(c);
    return NULL;
  }
  return queue(env, c);
}

static napi_value do_unmount(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "unmount(target, flags)");
    return NULL;
  }
  struct call *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->op = OP_UNMOUNT;
  if (!(c->target = string_arg(env, argv[0], "target")) || !flags_arg(env, argv[1], &c->flags)) {
    free_call(c);
    return NULL;
  }
  return queue(env, c);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "mount", NAPI_AUTO_LENGTH, do_mount, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "mount", fn) != napi_ok)
    return NULL;
  if (napi_create_function(env, "unmount", NAPI_AUTO_LENGTH, do_unmount, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "unmount", fn) != napi_ok)
    return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
