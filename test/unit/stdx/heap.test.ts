/**
 * Goal: the simulator's event queue pops in (key, insertion) order, so equal-time events run in
 * the order they were scheduled. Method: compare against a stable sort on random inputs with many
 * ties, and against a reference list under interleaved pushes and pops. Seeds are in messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MinHeap, Random } from '../../../services/stdx/index.js';

test('pops in (key, insertion) order on random input, against a sort', () => {
  for (let seed = 0; seed < 50; seed++) {
    const r = new Random(seed, 'heap/sort');
    const size = r.range(0, 400);
    const keyRange = r.pick([1, 5, 50, 1_000_000]); // small ranges force ties
    const heap = new MinHeap<number>();
    const items: { key: number; id: number }[] = [];
    for (let id = 0; id < size; id++) {
      const key = r.int(keyRange) - (keyRange >> 1) + (r.chance(0.1) ? 0.5 : 0);
      items.push({ key, id });
      heap.push(key, id);
    }
    assert.equal(heap.size, size);
    const expected = [...items].sort((a, b) => a.key - b.key || a.id - b.id).map((x) => x.id);
    const popped: number[] = [];
    for (;;) {
      const key = heap.peekKey();
      const id = heap.pop();
      if (id === undefined) break;
      assert.equal(key, items[id]!.key, `seed ${seed}: peekKey disagrees with pop`);
      popped.push(id);
    }
    assert.deepEqual(popped, expected, `seed ${seed}`);
    assert.equal(heap.size, 0);
  }
});

test('interleaved pushes and pops match a reference queue', () => {
  for (let seed = 0; seed < 20; seed++) {
    const r = new Random(seed, 'heap/interleaved');
    const heap = new MinHeap<number>();
    const reference: { key: number; id: number }[] = [];
    let nextId = 0;
    for (let step = 0; step < 2000; step++) {
      if (r.chance(0.55)) {
        const key = r.int(20);
        heap.push(key, nextId);
        reference.push({ key, id: nextId });
        nextId++;
      } else {
        reference.sort((a, b) => a.key - b.key || a.id - b.id);
        const want = reference.shift();
        assert.equal(heap.peek(), want?.id, `seed ${seed} step ${step}: peek`);
        assert.equal(heap.pop(), want?.id, `seed ${seed} step ${step}: pop`);
      }
      assert.equal(heap.size, reference.length, `seed ${seed} step ${step}: size`);
    }
  }
});

test('empty heap: pop and peek give undefined, peekKey Infinity; clear empties', () => {
  const heap = new MinHeap<string>();
  assert.equal(heap.pop(), undefined);
  assert.equal(heap.peek(), undefined);
  assert.equal(heap.peekKey(), Infinity);
  heap.push(2, 'b');
  heap.push(1, 'a');
  heap.clear();
  assert.equal(heap.size, 0);
  assert.equal(heap.pop(), undefined);
  heap.push(3, 'c');
  heap.push(3, 'd');
  assert.deepEqual([heap.pop(), heap.pop()], ['c', 'd']);
});
