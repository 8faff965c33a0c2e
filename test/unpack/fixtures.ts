/**
 * The layers of the faithfulness image: whiteouts (file and directory), an opaque directory,
 * hardlinks (within a layer, within the top layer, and to lower layers' files), absolute and relative symlinks that
 * later entries write through, setuid/setgid/sticky modes, owners, a file with
 * security.capability, user xattrs, a FIFO and character/block devices. The base layer is large
 * enough to be decoded on the decoding thread, the others in-process.
 */
import { randomBytesSeeded } from '../helpers/oci-images.js';
import type { LayerEntry } from './layers.js';

/** vfs_cap_data revision 2, effective, permitted = CAP_NET_RAW | CAP_SETFCAP (bytes above 0x7f on purpose). */
export const CAPABILITY = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

export const BASE_LAYER: LayerEntry[] = [
  { name: './', type: 'directory', mode: 0o755 },
  { name: 'etc/', type: 'directory' },
  { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\n' },
  { name: 'etc/shadow', data: 'root:*:19000::::::\n', mode: 0o640, gid: 42 },
  { name: 'etc/hostname', data: 'base\n' },
  // Modes the umask would cut (a file is created with its mode when nothing clears it later).
  { name: 'etc/motd', data: 'hello\n', mode: 0o666 },
  { name: 'etc/locked', data: 'secret\n', mode: 0o000 },
  { name: 'usr/', type: 'directory' },
  { name: 'usr/bin/', type: 'directory' },
  { name: 'usr/bin/ping', data: 'ping-binary', mode: 0o755, xattrs: { 'security.capability': CAPABILITY } },
  { name: 'usr/bin/su', data: 'su-binary', mode: 0o4755 },
  { name: 'usr/bin/anyone', data: 'tool', mode: 0o777 },
  { name: 'usr/bin/wall', data: 'wall-binary', mode: 0o2755, gid: 5 },
  { name: 'usr/bin/write', type: 'link', linkname: 'usr/bin/wall' },
  { name: 'usr/lib/', type: 'directory' },
  { name: 'usr/lib/libc.so', data: 'libc' },
  // Incompressible and over decode.ts's WORKER_MIN_BYTES: this layer is decoded on the decoding thread.
  { name: 'usr/lib/libbig.so', data: randomBytesSeeded(1536 * 1024, 11) },
  { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
  { name: 'lib', type: 'symlink', linkname: '/usr/lib' },
  { name: 'tmp/', type: 'directory', mode: 0o1777 },
  { name: 'dev/', type: 'directory' },
  { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
  { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
  { name: 'run/', type: 'directory', mode: 0o700 },
  { name: 'run/initctl', type: 'fifo', mode: 0o600 },
  { name: 'data/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 },
  { name: 'data/a.txt', data: 'shared content' },
  { name: 'data/hard', type: 'link', linkname: 'data/a.txt' },
  { name: 'data/owned', data: 'mine', uid: 1000, gid: 1000, mode: 0o600 },
  {
    name: 'data/tagged',
    data: 'x',
    xattrs: { 'user.berth.note': 'hello', 'user.berth.bin': Buffer.from([0, 0xff, 0x10]) },
  },
  { name: 'opq/', type: 'directory' },
  { name: 'opq/old1', data: '1' },
  { name: 'opq/sub/', type: 'directory' },
  { name: 'opq/sub/deep', data: 'd' },
  { name: 'rm/', type: 'directory' },
  { name: 'rm/victim', data: 'v' },
  { name: 'rm/keep', data: 'k' },
  { name: 'rmdir/', type: 'directory' },
  { name: 'rmdir/x', data: 'x' },
];

export const MIDDLE_LAYER: LayerEntry[] = [
  { name: 'rm/', type: 'directory' },
  { name: 'rm/.wh.victim' },
  { name: '.wh.rmdir' },
  { name: 'opq/', type: 'directory', mode: 0o711 },
  { name: 'opq/.wh..wh..opq' },
  { name: 'opq/new', data: 'n' },
  { name: 'etc/', type: 'directory' },
  { name: 'etc/hostname', data: 'middle\n' },
  { name: 'data/hard2', type: 'link', linkname: 'data/a.txt' },
  // Written through symlinks planted by the base layer: relative (bin) and absolute (lib).
  { name: 'bin/newtool', data: 'tool', mode: 0o755 },
  { name: 'lib/libnew.so', data: 'new lib' },
];

export const TOP_LAYER: LayerEntry[] = [
  { name: 'opq/', type: 'directory', mode: 0o711 },
  { name: 'opq/.wh.new' },
  { name: 'data/owned', type: 'directory', mode: 0o700, uid: 1000, gid: 1000 },
  { name: 'data/owned/inner', data: 'inner' },
  { name: 'rmdir/', type: 'directory', mode: 0o755 },
  { name: 'rmdir/fresh', data: 'fresh' },
  { name: 'rmdir/fresh.link', type: 'link', linkname: 'rmdir/fresh' },
  // A link to a base-layer file that has no other name.
  { name: 'etc/passwd-', type: 'link', linkname: 'etc/passwd' },
  { name: '.wh.tmp' },
];
