import { NativeSnapshotter, OverlayfsSnapshotter } from '../../src/snapshots/index.js';
import { snapshotterConformance } from './conformance.js';

snapshotterConformance('overlayfs', (root) => OverlayfsSnapshotter.open(root));
snapshotterConformance('native', (root) => NativeSnapshotter.open(root));
