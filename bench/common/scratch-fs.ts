/**
 * A fresh ext4 filesystem on a loop device, for benchmarks that write many files: both runtimes
 * put their roots on it, so they compare on equal ground.
 *
 * Why: on an aged filesystem the cost of creating a file depends on where its directory sits.
 * On the development VM's root ext4, creating 2,000 empty files took 0.07 s in one directory
 * and 2.4 s in another (about 1 ms of kernel time per new inode, by block group), and two
 * `mkdtemp` directories of one run landed in either. A fresh filesystem takes that luck out.
 * `BERTH_BENCH_FS=host` keeps the host's filesystem (the old behaviour) for comparison.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from '../../src/common/exec.js';

export class ScratchFs {
  private constructor(
    /** The mounted filesystem: the parent for everything the benchmark writes. */
    readonly dir: string,
    private readonly backing: string | undefined,
  ) {}

  /** Makes, formats and mounts a sparse image of `sizeGiB` (default 16) under the host's temp dir. */
  static async create(sizeGiB = 16): Promise<ScratchFs> {
    const base = await mkdtemp(join(tmpdir(), 'berth-bench-fs-'));
    if (process.env.BERTH_BENCH_FS === 'host') return new ScratchFs(base, undefined);
    const image = join(base, 'fs.img');
    const dir = join(base, 'mnt');
    try {
      await execFile('truncate', ['-s', `${sizeGiB}G`, image]);
      // Inode tables and journal are written now, so no lazy-init thread runs during the benchmark.
      await execFile('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image]);
      await mkdir(dir);
      await execFile('mount', ['-o', 'loop', image, dir]);
    } catch (err) {
      await rm(base, { recursive: true, force: true });
      throw new Error(`cannot make a scratch ext4 filesystem for the benchmark: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return new ScratchFs(dir, base);
  }

  /** What to print under the results. */
  describe(): string {
    return this.backing === undefined
      ? `filesystem: the host's (${this.dir}), as BERTH_BENCH_FS=host asked`
      : "filesystem: a fresh ext4 on a loop device for this run (BERTH_BENCH_FS=host to use the host's)";
  }

  /** Unmounts (which detaches the loop device) and removes the image. Call after everything on it stopped. */
  async remove(): Promise<void> {
    if (this.backing === undefined) return void (await rm(this.dir, { recursive: true, force: true }));
    await execFile('umount', [this.dir]).catch(() => execFile('umount', ['-l', this.dir]));
    await rm(this.backing, { recursive: true, force: true });
  }
}
