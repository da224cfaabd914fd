import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { HeapTrimmer, trimHeapWhileRunning } from '../../src/cli/heap-trim.js';

const MB = 1024 * 1024;

describe('HeapTrimmer', () => {
  it('collects only once the heap has grown by the headroom above what was live', () => {
    let used = 30 * MB;
    let collections = 0;
    const trimmer = new HeapTrimmer(() => used, () => { collections += 1; used = 26 * MB; }, 32 * MB);
    trimmer.check(); // first look: 30 MB is the floor
    used = 61 * MB;
    trimmer.check();
    expect(collections).toBe(0);
    used = 62 * MB;
    trimmer.check();
    expect(collections).toBe(1);
    // The floor is now what survived (26 MB): 57 MB is not yet enough, 58 MB is.
    used = 57 * MB;
    trimmer.check();
    expect(collections).toBe(1);
    used = 58 * MB;
    trimmer.check();
    expect(collections).toBe(2);
  });

  it("counts V8's own collections: a lower reading moves the floor down", () => {
    let used = 80 * MB;
    let collections = 0;
    const trimmer = new HeapTrimmer(() => used, () => { collections += 1; }, 32 * MB);
    trimmer.check();
    used = 20 * MB; // V8 collected by itself
    trimmer.check();
    used = 51 * MB;
    trimmer.check();
    expect(collections).toBe(0);
    used = 52 * MB;
    trimmer.check();
    expect(collections).toBe(1);
  });

  it('does not collect again and again when live data itself grew', () => {
    let used = 20 * MB;
    let collections = 0;
    // Every collection finds 100 MB live: nothing to gain until another 32 MB piles up.
    const trimmer = new HeapTrimmer(() => used, () => { collections += 1; used = 100 * MB; }, 32 * MB);
    trimmer.check();
    used = 120 * MB;
    trimmer.check();
    expect(collections).toBe(1);
    for (const mb of [110, 120, 131]) {
      used = mb * MB;
      trimmer.check();
    }
    expect(collections).toBe(1);
    used = 132 * MB;
    trimmer.check();
    expect(collections).toBe(2);
  });
});

describe('trimHeapWhileRunning', () => {
  it("runs V8's full collection once one is due, and returns the garbage", async () => {
    const used = () => v8.getHeapStatistics().used_heap_size;
    // About 60 MB of objects that live long enough to reach the old generation, then are dropped.
    let garbage: { i: number; s: string }[][] | undefined = [];
    for (let k = 0; k < 30; k++) {
      garbage.push(Array.from({ length: 20_000 }, (_, i) => ({ i, s: `row ${k}-${i}` })));
      await new Promise((r) => setImmediate(r));
    }
    garbage = undefined;
    const before = used();
    let readings = 0;
    // The first reading sets the floor; the second pretends the headroom is used up.
    const stop = trimHeapWhileRunning({ checkMs: 10, headroomBytes: 1, heapUsed: () => (readings++ === 1 ? Number.MAX_SAFE_INTEGER : 0) });
    await new Promise((r) => setTimeout(r, 200));
    stop();
    expect(readings).toBeGreaterThan(1);
    expect(before - used()).toBeGreaterThan(30 * MB);
  });
});
