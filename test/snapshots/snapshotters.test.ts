import { NativeSnapshotter, OverlayfsSnapshotter } from '../../src/snapshots/index.js';
import { snapshotterConformance } from './conformance.js';
import { durabilityConformance } from './durability.js';

snapshotterConformance('overlayfs', (root, opts) => OverlayfsSnapshotter.open(root, opts));
snapshotterConformance('native', (root, opts) => NativeSnapshotter.open(root, opts));
durabilityConformance('overlayfs', (root, opts) => OverlayfsSnapshotter.open(root, opts));
durabilityConformance('native', (root, opts) => NativeSnapshotter.open(root, opts));
