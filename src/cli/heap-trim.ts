import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Full garbage collections while a command works, when the heap has grown well past what was
 * live at the last one. Sending leaves ~150 KB of garbage per message (rendered HTML, the
 * serialised and signed request), and V8 lets the old generation grow to ~110 MB of mostly
 * garbage before collecting it, while live data stays near 25 MB: peak RSS of a send was
 * 190–211 MB without collections of our own and 140–150 MB with one every 2 seconds. A fixed
 * interval pays for a collection (30–100 ms of CPU for 25–30 MB live) whether or not much
 * garbage is there; this collects only once `headroomBytes` have piled up above the last live
 * size, checked every `checkMs`, so memory stays as flat for a fraction of the collections.
 * Returns a function that stops it.
 */
export function trimHeapWhileRunning(options: TrimOptions = {}): () => void {
  const trimmer = new HeapTrimmer(options.heapUsed ?? usedHeap, options.collect ?? fullCollection(), options.headroomBytes ?? DEFAULT_HEADROOM);
  const timer = setInterval(() => trimmer.check(), options.checkMs ?? 500);
  timer.unref();
  return () => clearInterval(timer);
}

export interface TrimOptions {
  checkMs?: number;
  headroomBytes?: number;
  /** Bytes in use on the JavaScript heap (default: V8's heap statistics). */
  heapUsed?: () => number;
  /** A full collection (default: V8's, made available on first use). */
  collect?: () => void;
}

const DEFAULT_HEADROOM = 32 * 1024 * 1024;

/** The decision, apart from timers and V8, so that it can be tested as it is. */
export class HeapTrimmer {
  /** Lowest use seen since the last collection of ours: what was live, as far as we know. */
  private floor: number | undefined;
  collections = 0;

  constructor(
    private readonly heapUsed: () => number,
    private readonly collect: () => void,
    private readonly headroomBytes: number,
  ) {}

  /** Collects if use is `headroomBytes` above the floor; V8's own collections lower the floor. */
  check(): void {
    const used = this.heapUsed();
    if (this.floor === undefined || used < this.floor) {
      this.floor = used;
      return;
    }
    if (used - this.floor < this.headroomBytes) return;
    this.collect();
    this.collections += 1;
    // What survived is live: the next collection waits for headroom above that.
    this.floor = this.heapUsed();
  }
}

function usedHeap(): number {
  return v8.getHeapStatistics().used_heap_size;
}

/**
 * V8's full collection. Nothing is collected, and no context is made for the collector, until
 * the first time one is due: a command that is done before then pays nothing.
 */
function fullCollection(): () => void {
  let gc: (() => void) | null | undefined;
  return () => {
    if (gc === undefined) {
      try {
        v8.setFlagsFromString('--expose-gc');
        gc = vm.runInNewContext('gc') as () => void;
      } catch {
        gc = null;
      }
    }
    gc?.();
  };
}
