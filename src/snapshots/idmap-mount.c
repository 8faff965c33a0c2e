/*
 * berth-idmap-mount USERNS_FILE SRC DST [SRC DST ...]
 *
 * Makes an idmapped bind mount of each SRC on DST, mapped through the user namespace that
 * USERNS_FILE (a pinned nsfs file, or /proc/<pid>/ns/user) holds: a file owned by uid U on disk is
 * seen through DST as owned by the host id U maps to in that namespace.
 *
 * Node.js cannot make the new mount API's system calls (open_tree, mount_setattr, move_mount), and
 * util-linux 2.38's mount(8) has no X-mount.idmap, so this part of Berth is a program written in
 * C. Berth uses it for the lower layers of a user-namespaced container's overlay rootfs
 * (overlayfs itself cannot be idmapped; layers on ext4 or xfs can). On any failure it undoes the
 * mounts it made, names the pair and the system call, and exits 1; bad usage exits 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

struct idmap_attr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};

static int idmap_one(int userns, const char *src, const char *dst) {
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) {
    fprintf(stderr, "berth-idmap-mount: open_tree %s: %s\n", src, strerror(errno));
    return -1;
  }
  struct idmap_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    fprintf(stderr, "berth-idmap-mount: mount_setattr (idmap) %s: %s\n", src, strerror(errno));
    close(tree);
    return -1;
  }
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    fprintf(stderr, "berth-idmap-mount: move_mount %s -> %s: %s\n", src, dst, strerror(errno));
    close(tree);
    return -1;
  }
  close(tree);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4 || (argc - 2) % 2 != 0) {
    fprintf(stderr, "usage: berth-idmap-mount USERNS_FILE SRC DST [SRC DST ...]\n");
    return 2;
  }
  int userns = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (userns < 0) {
    fprintf(stderr, "berth-idmap-mount: open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  for (int i = 2; i < argc; i += 2) {
    if (idmap_one(userns, argv[i], argv[i + 1]) == 0) continue;
    for (int j = i - 2; j >= 2; j -= 2) umount2(argv[j + 1], MNT_DETACH);
    return 1;
  }
  return 0;
}
